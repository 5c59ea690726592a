/**
 * An MLP fitted to y = sin(3x) with Adam, one leak-free `minimizeStep` per iteration.
 *
 *   npx tsx examples/mlp-adam.ts        (in a checkout, after `npm install`, which builds dist/)
 *
 * Parameters are a plain pytree of tensors; `minimizeStep` computes the loss and gradients, applies
 * Adam's update and frees every tensor of the old state, so `memoryStats().tensors` stays flat.
 */
import { key, linspace, memoryStats, mean, reshape, sin, mul, square, sub, tanh, type Tensor } from 'rolling-diffusion';
import { adam, minimizeStep, mlp, type MlpParams, type MinimizeState } from 'rolling-diffusion/nn';

/** A one-element tensor's value. */
const scalar = async (t: Tensor): Promise<number> => (await t.toArray())[0]!;

const x = reshape(linspace(-1, 1, 64), [64, 1]);
const y = sin(mul(x, 3));

const model = mlp({ inFeatures: 1, hiddenFeatures: 32, outFeatures: 1, activation: tanh });
const lossFn = (params: MlpParams): Tensor => mean(square(sub(model.apply(params, x), y)));

const optimizer = adam({ learningRate: 0.02 });
const params = model.init(key(0));
let state: MinimizeState<MlpParams, ReturnType<typeof optimizer.init>> = { params, opt: optimizer.init(params) };

const live: number[] = [];
for (let step = 1; step <= 300; step++) {
  state = minimizeStep(lossFn, optimizer, state);
  live.push(memoryStats().tensors);
  if (step % 100 === 0) console.log(`step ${step}: loss ${(await scalar(state.loss!)).toFixed(5)}`);
}
const last = await scalar(state.loss!);
console.log(`live tensors after step 1: ${live[0]}, after step 300: ${live[299]}`);
if (!(last < 0.01)) throw new Error(`the MLP did not fit sin(3x): loss ${last}`);
if (live[299] !== live[0]) throw new Error('the training loop leaks tensors');
