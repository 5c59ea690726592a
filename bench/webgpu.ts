/**
 * Our WebGPU backend against TF.js's (`@tensorflow/tfjs-backend-webgpu`), side by side in one process
 * on the same Dawn adapter: matmul 256–2048, a conv2d layer, an MLP training step (valueAndGrad).
 *
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json npx tsx bench/webgpu.ts [--quick] [--fusion-only]
 *
 * First, the before/after of element-wise fusion (backends/webgpu/fusion.ts): the same workloads on
 * our backend with fusion on and off (`--fusion-only` stops there).
 *
 * Each figure is the median over 3 timed runs of the time per iteration (one run when an iteration
 * takes over 20 s), every run ending with the backend's queue submitted and drained
 * (`onSubmittedWorkDone`), after a warm-up that compiles the pipelines. Ratio = ours / tfjs (below 1:
 * we are faster).
 */
import { globals } from 'webgpu';
import { conv2d as ourConv2d, dispose, gelu, getBackend, key, logSoftmax, matmul as ourMatmul, mean, mul, neg, normal, relu, setBackend, split, sum, tidy, valueAndGrad, add, type Tensor, oneHot, tensor } from '../index.js';
import { createWebGPUBackend, dawnGpu, describeAdapter, type WebGPUBackend } from '../backends/webgpu/index.js';

interface TfBackendInternals {
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  device: GPUDevice;
}

const quick = process.argv.includes('--quick');
const fusionOnly = process.argv.includes('--fusion-only');

Object.assign(globalThis, globals);
const gpu = await dawnGpu();
Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });

const ours = (await createWebGPUBackend()) as WebGPUBackend;
const { registerBackend } = await import('../index.js');
registerBackend('webgpu-bench', () => ours);
await setBackend('webgpu-bench');

// ---------------------------------------------------------------- fusion on/off

/** The MLP of the training-step row below: 784→256→256→10 with relu, softmax cross-entropy. */
const MLP_SIZES = [784, 256, 256, 10];
function mlpData(batch: number): { params: Tensor[]; x: Tensor; labels: Tensor; y: Tensor } {
  const keys = split(key(3), 4);
  const params: Tensor[] = [];
  for (let l = 0; l < 3; l++) {
    params.push(mul(normal(keys[l]!, [MLP_SIZES[l]!, MLP_SIZES[l + 1]!]), 1 / Math.sqrt(MLP_SIZES[l]!)));
    params.push(tensor(new Float32Array(MLP_SIZES[l + 1]!)));
  }
  const x = normal(keys[3]!, [batch, 784]);
  const labels = tensor(Int32Array.from({ length: batch }, (_, i) => (i * 7) % 10), [batch]);
  return { params, x, labels, y: oneHot(labels, 10) };
}
function mlpLoss(p: Tensor[], xb: Tensor, yb: Tensor): Tensor {
  let h = xb;
  for (let l = 0; l < 3; l++) {
    h = add(ourMatmul(h, p[2 * l]!), p[2 * l + 1]!);
    if (l < 2) h = relu(h);
  }
  return neg(mean(sum(mul(yb, logSoftmax(h, -1)), -1)));
}

{
  console.log(`adapter: ${describeAdapter(ours.adapter)}; fusion on vs off`);
  const unfused = await createWebGPUBackend({ fusion: false, registeredAs: null });
  registerBackend('webgpu-bench-unfused', () => unfused);
  const backends = [['webgpu-bench', ours], ['webgpu-bench-unfused', unfused]] as const;
  /** Dispose results once computed: a fused value freed unread would never be computed at all. */
  const computed = (t: Tensor | Tensor[] | [Tensor, Tensor[]]): void => {
    getBackend().flush?.();
    dispose(t);
  };
  /**
   * ms per iteration (median of 3 rounds, the two backends alternating first, as other jobs share
   * the machine) and dispatches per iteration of `make()`'s workload on each backend.
   */
  const ab = async (workload: string, make: () => { run: () => void; free: () => void }) => {
    const made = [];
    for (const [name, b] of backends) {
      await setBackend(name);
      const w = make();
      w.run();
      await b.sync();
      const d0 = b.counters.dispatches;
      w.run();
      await b.sync();
      made.push({ name, b, w, dispatches: b.counters.dispatches - d0, times: [] as number[] });
    }
    for (let round = 0; round < 3; round++) {
      for (const m of round % 2 ? [...made].reverse() : made) {
        await setBackend(m.name);
        const p0 = m.b.counters.pipelines;
        m.times.push(await timeIt(m.w.run, () => m.b.sync(), quick ? 200 : 1000));
        if (m.b.counters.pipelines !== p0) console.log(`  (${m.name}: ${m.b.counters.pipelines - p0} pipelines compiled while timing)`);
      }
    }
    for (const m of made) {
      await setBackend(m.name);
      m.w.free();
    }
    const [fused, unfusedRow] = made.map((m) => ({ ms: m.times.sort((a, b) => a - b)[1]!, dispatches: m.dispatches }));
    console.log(`${workload.padEnd(44)} fused ${fused!.ms.toFixed(2).padStart(9)} ms   unfused ${unfusedRow!.ms.toFixed(2).padStart(9)} ms   ratio ${(fused!.ms / unfusedRow!.ms).toFixed(2).padStart(5)}   dispatches ${fused!.dispatches} vs ${unfusedRow!.dispatches}`);
  };
  await ab('bias + gelu on 512×512 (element-wise only)', () => {
    const [ka, kc] = split(key(9), 2);
    const [a, bias] = tidy(() => [normal(ka!, [512, 512]), normal(kc!, [512])]);
    return { run: () => computed(tidy(() => gelu(add(a!, bias!)))), free: () => dispose([a!, bias!]) };
  });
  for (const n of quick ? [256] : [256, 512]) {
    await ab(`matmul ${n}×${n} + bias + gelu`, () => {
      const [ka, kb, kc] = split(key(n), 3);
      const [a, w, bias] = tidy(() => [normal(ka!, [n, n]), normal(kb!, [n, n]), normal(kc!, [n])]);
      return { run: () => computed(tidy(() => gelu(add(ourMatmul(a!, w!), bias!)))), free: () => dispose([a!, w!, bias!]) };
    });
  }
  await ab('MLP valueAndGrad 64×784→256→256→10', () => {
    const { params, x, labels, y } = tidy(() => mlpData(64));
    const step = valueAndGrad(mlpLoss);
    return { run: () => computed(tidy(() => step(params, x, y))), free: () => dispose([params, x, labels, y]) };
  });
  await setBackend('webgpu-bench');
  unfused.dispose();
  console.log('');
}
if (fusionOnly) {
  ours.dispose();
  process.exit(0);
}

const tf = await import('@tensorflow/tfjs-core');
await registerTfGradients();
await import('@tensorflow/tfjs-backend-webgpu');
await tf.setBackend('webgpu');
await tf.ready();
const tfBackend = tf.backend() as unknown as TfBackendInternals;

/**
 * TF.js's Node bundle registers no gradients (the `@tensorflow/tfjs` umbrella package does), and its
 * ESM `register_all_gradients` does not load under Node's ESM resolver. Bundle it with esbuild (which
 * tsx brings) and run it: the gradient registry is global, so the registrations reach the engine in use.
 */
async function registerTfGradients(): Promise<void> {
  const { build } = await import('esbuild');
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  const out = await build({ entryPoints: [entry], bundle: true, format: 'cjs', platform: 'node', write: false, logLevel: 'silent' });
  const module = { exports: {} };
  new Function('module', 'exports', 'require', out.outputFiles[0]!.text)(module, module.exports, require);
}

const syncOurs = () => ours.sync();
const syncTf = async () => {
  tfBackend.ensureCommandEncoderReady();
  tfBackend.endComputePassEncoder();
  tfBackend.submitQueue();
  await tfBackend.device.queue.onSubmittedWorkDone();
};

/**
 * Median ms per iteration of `run` over 3 timed runs, each of enough iterations to last `minMs`; an
 * iteration slower than 20 s (2048³ on a CPU-emulated adapter) is timed once after the warm-up.
 */
async function timeIt(run: () => void, sync: () => Promise<void>, minMs: number): Promise<number> {
  const w0 = performance.now();
  run();
  await sync();
  const warm = performance.now() - w0;
  const reps = warm > 20_000 ? 1 : 3;
  let n = 1;
  if (reps > 1) {
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) run();
      await sync();
      const dt = performance.now() - t0;
      if (dt >= minMs || n >= 1024) break;
      n = Math.min(1024, Math.max(n * 2, Math.ceil((n * minMs) / Math.max(dt, 1e-3))));
    }
  }
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) run();
    await sync();
    times.push((performance.now() - t0) / n);
  }
  return times.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
}

interface Row {
  workload: string;
  ours: number;
  tfjs: number;
  note: string;
}

const rows: Row[] = [];
const minMs = quick ? 200 : 1000;

function report(row: Row): void {
  rows.push(row);
  console.log(`${row.workload.padEnd(44)} ours ${row.ours.toFixed(2).padStart(9)} ms   tfjs ${row.tfjs.toFixed(2).padStart(9)} ms   ratio ${(row.ours / row.tfjs).toFixed(2).padStart(5)}   ${row.note}`);
}

console.log(`adapter: ${describeAdapter(ours.adapter)}`);
console.log(`node ${process.version}, tfjs-core ${tf.version_core}\n`);

// ---------------------------------------------------------------- matmul

for (const n of quick ? [256, 512] : [256, 512, 1024, 2048]) {
  const [ka, kb] = split(key(n), 2);
  const a = normal(ka!, [n, n]);
  const b = normal(kb!, [n, n]);
  const ta = tf.randomNormal([n, n]);
  const tb = tf.randomNormal([n, n]);
  const tOurs = await timeIt(() => dispose(ourMatmul(a, b)), syncOurs, minMs);
  const tTf = await timeIt(() => tf.matMul(ta, tb).dispose(), syncTf, minMs);
  const gflop = (2 * n ** 3) / 1e9;
  report({ workload: `matmul ${n}×${n} @ ${n}×${n}`, ours: tOurs, tfjs: tTf, note: `${(gflop / (tOurs / 1e3)).toFixed(2)} vs ${(gflop / (tTf / 1e3)).toFixed(2)} GFLOP/s` });
  dispose([a, b]);
  tf.dispose([ta, tb]);
}

// ---------------------------------------------------------------- conv2d

{
  const [kx, kw] = split(key(1), 2);
  const x = normal(kx!, [8, 32, 32, 64]);
  const w = mul(normal(kw!, [3, 3, 64, 64]), 0.05);
  const tx = tf.randomNormal([8, 32, 32, 64]) as import('@tensorflow/tfjs-core').Tensor4D;
  const tw = tf.mul(tf.randomNormal([3, 3, 64, 64]), 0.05) as import('@tensorflow/tfjs-core').Tensor4D;
  const tOurs = await timeIt(() => dispose(ourConv2d(x, w, { padding: 'same' })), syncOurs, minMs);
  const tTf = await timeIt(() => tf.conv2d(tx, tw, 1, 'same').dispose(), syncTf, minMs);
  const gflop = (2 * 8 * 32 * 32 * 64 * 64 * 9) / 1e9;
  report({ workload: 'conv2d NHWC 8×32×32×64, 3×3, 64→64, same', ours: tOurs, tfjs: tTf, note: `${(gflop / (tOurs / 1e3)).toFixed(2)} vs ${(gflop / (tTf / 1e3)).toFixed(2)} GFLOP/s` });
  dispose([x, w]);
  tf.dispose([tx, tw]);
}

// ---------------------------------------------------------------- MLP training step

{
  const sizes = [784, 256, 256, 10];
  const batch = 64;
  const keys = split(key(3), 4);
  const params: Tensor[] = [];
  for (let l = 0; l < 3; l++) {
    params.push(mul(normal(keys[l]!, [sizes[l]!, sizes[l + 1]!]), 1 / Math.sqrt(sizes[l]!)));
    params.push(tensor(new Float32Array(sizes[l + 1]!)));
  }
  const x = normal(keys[3]!, [batch, 784]);
  const labels = tensor(Int32Array.from({ length: batch }, (_, i) => (i * 7) % 10), [batch]);
  const y = oneHot(labels, 10);
  const loss = (p: Tensor[], xb: Tensor, yb: Tensor): Tensor => {
    let h = xb;
    for (let l = 0; l < 3; l++) {
      h = add(ourMatmul(h, p[2 * l]!), p[2 * l + 1]!);
      if (l < 2) h = relu(h);
    }
    return neg(mean(sum(mul(yb, logSoftmax(h, -1)), -1)));
  };
  const step = valueAndGrad(loss);
  const before = ours.counters.dispatches;
  dispose(tidy(() => step(params, x, y)));
  const dispatchesPerStep = ours.counters.dispatches - before;
  const tOurs = await timeIt(() => dispose(tidy(() => step(params, x, y))), syncOurs, minMs);

  const tfParams = params.map((_, i) => (i % 2 === 0 ? tf.mul(tf.randomNormal([sizes[i / 2]!, sizes[i / 2 + 1]!]), 1 / Math.sqrt(sizes[i / 2]!)) : tf.zeros([sizes[(i - 1) / 2 + 1]!])));
  const tx = tf.randomNormal([batch, 784]);
  const ty = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => (i * 7) % 10), 'int32'), 10);
  const tfLoss = (...p: import('@tensorflow/tfjs-core').Tensor[]) => {
    let h = tx;
    for (let l = 0; l < 3; l++) {
      h = tf.add(tf.matMul(h, p[2 * l]!), p[2 * l + 1]!);
      if (l < 2) h = tf.relu(h);
    }
    return tf.neg(tf.mean(tf.sum(tf.mul(ty, tf.logSoftmax(h, -1)), -1))) as import('@tensorflow/tfjs-core').Scalar;
  };
  const tfStep = tf.valueAndGrads(tfLoss);
  const tTf = await timeIt(
    () => {
      const r = tfStep(tfParams);
      tf.dispose([r.value, ...r.grads]);
    },
    syncTf,
    minMs,
  );
  report({ workload: 'MLP valueAndGrad 64×784→256→256→10', ours: tOurs, tfjs: tTf, note: `${dispatchesPerStep} dispatches per step (ours)` });
  dispose([params, x, labels, y]);
  tf.dispose([...tfParams, tx, ty]);
}

console.log('\nJSON', JSON.stringify({ adapter: ours.adapter, rows }));
ours.dispose();
process.exit(0);
