// Plain Node ESM, no TypeScript, no loader: the package's main entry and one gradient step, and the
// optional webgpu peer's error when it is not installed.
import { tensor, valueAndGrad, matmul, mean, square, sub, mul, key, normal, setBackend, getBackendName } from 'rolling-diffusion';

const w = normal(key(0), [3, 1]);
const x = tensor([[0, 1, 2], [1, 0, -1]]);
const y = tensor([[1], [-1]]);
const loss = (p) => mean(square(sub(matmul(x, p), y)));
const [before, g] = valueAndGrad(loss)(w);
const after = loss(sub(w, mul(g, 0.05)));
const [[l0], [l1]] = [await before.toArray(), await after.toArray()];
console.log(`backend ${getBackendName()}: loss ${l0.toFixed(4)} -> ${l1.toFixed(4)} after one gradient step`);
if (!(l1 < l0)) throw new Error('one gradient step did not lower the loss');

if (process.env.EXPECT_NO_WEBGPU) {
  const message = await setBackend('webgpu').then(() => 'no error', (e) => e.message);
  if (!message.includes('npm install webgpu')) throw new Error(`setBackend('webgpu') without the webgpu package should say how to install it, said: ${message}`);
  console.log('webgpu not installed: setBackend says how to install it');
}
