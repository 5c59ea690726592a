/**
 * The U-ViT on the WebGPU backend against the CPU backend (the reference): the loss and every
 * gradient leaf of one `valueAndGrad`, and a few Adam steps on the GPU lowering the loss.
 *
 * Needs a WebGPU adapter. Without a GPU on Linux: `apt-get install -y chromium` and run with
 * `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json` (SwiftShader). Where none starts the
 * suite is skipped with a warning, except under CI, where that is a failure: CI must run it.
 */
import { afterAll, expect, it } from 'vitest';
import * as r from '../../index.js';
import * as nn from '../../nn/index.js';
import { startWebGPU } from '../backends/webgpuAdapter.js';

const { suite } = await startWebGPU();

/** A reduced U-ViT: one convolutional level at 8×8 (8 channels), one axial transformer block of width 16 at 4×4. */
const config: nn.UViTConfig = {
  inChannels: 1,
  patchSize: 2,
  channels: [8],
  blocksPerLevel: 1,
  transformerDim: 16,
  transformerBlocks: 1,
  heads: 2,
  mlpRatio: 2,
  fourierDim: 8,
  condDim: 16,
  groups: 4,
};
/** Two clips of three 16×16×1 frames. */
const SHAPE = [2, 3, 16, 16, 1] as const;
/** Per-frame logSNRs spanning the schedule, so the Fourier features see large angles too. */
const LOG_SNR = [
  [8, 0, -8],
  [3, -2, -6],
];

/** Host copies of the parameters (output layer made live, else every gradient but its own is 0), the batch and its v-target. */
async function hostProblem(): Promise<{ params: [string, readonly number[], Float32Array][]; z: Float32Array; v: Float32Array }> {
  await r.setBackend('cpu');
  const model = nn.uvit(config);
  const made = r.tidy(() => {
    const p = model.init(r.key(0));
    const params = { ...p, outConv: { weight: r.mul(r.normal(r.key(1), p.outConv.weight.shape), 0.5), bias: p.outConv.bias! } };
    return { params, z: r.normal(r.key(2), [...SHAPE]), v: r.normal(r.key(3), [...SHAPE]) };
  });
  const params = await Promise.all(r.treeFlatten(made.params).map(async ([path, t]) => [path, t.shape, Float32Array.from(await t.toArray())] as [string, readonly number[], Float32Array]));
  const host = { params, z: Float32Array.from(await made.z.toArray()), v: Float32Array.from(await made.v.toArray()) };
  r.dispose(made);
  return host;
}

/** The problem's tensors on the current backend, from the host copies (so both backends start from identical bits). */
function upload(host: Awaited<ReturnType<typeof hostProblem>>, like: nn.UViTParams): { params: nn.UViTParams; z: r.Tensor; v: r.Tensor; logSnr: r.Tensor } {
  const byPath = new Map(host.params.map(([path, shape, data]) => [path, r.tensor(data, shape)]));
  return {
    params: r.treeUnflatten(like, (path) => byPath.get(path)!),
    z: r.tensor(host.z, [...SHAPE]),
    v: r.tensor(host.v, [...SHAPE]),
    logSnr: r.tensor(LOG_SNR),
  };
}

/** v-prediction loss: mean squared error of the model's v̂ against v. */
const vLoss = (model: nn.UViT, z: r.Tensor, v: r.Tensor, logSnr: r.Tensor) => (p: nn.UViTParams) => r.mean(r.square(r.sub(model.apply(p, z, logSnr), v)));

async function valueAndGradOn(backend: 'cpu' | 'webgpu', host: Awaited<ReturnType<typeof hostProblem>>, like: nn.UViTParams): Promise<{ loss: number; grads: Map<string, Float64Array> }> {
  await r.setBackend(backend);
  const model = nn.uvit(config);
  const problem = upload(host, like);
  const [loss, grads] = r.valueAndGrad(vLoss(model, problem.z, problem.v, problem.logSnr))(problem.params);
  const out = {
    loss: (await loss.toArray())[0]!,
    grads: new Map(await Promise.all(r.treeFlatten(grads).map(async ([path, g]) => [path, Float64Array.from(await g.toArray())] as const))),
  };
  r.dispose([problem, loss, grads]);
  await r.setBackend('cpu');
  return out;
}

const norm = (xs: Float64Array) => Math.sqrt(xs.reduce((s, x) => s + x * x, 0));

suite('U-ViT on WebGPU', () => {
  afterAll(async () => {
    await r.setBackend('cpu');
  });

  it('valueAndGrad of the v-loss: webgpu equals cpu to float32 rounding, loss and every gradient leaf', async () => {
    const host = await hostProblem();
    // A tree of the right shape to rebuild parameters into; its leaves are never read.
    const like = r.tidy(() => nn.uvit(config).init(r.key(0)));
    const cpu = await valueAndGradOn('cpu', host, like);
    const webgpu = await valueAndGradOn('webgpu', host, like);
    r.dispose(like);

    // The tolerance. Both backends run the same float32 graph; they differ in the order of every
    // reduction (tiled matmuls and tree reductions against sequential loops) and in their exp, sin,
    // cos and tanh (the WGSL ones are the backend's own, a few ulp from V8's). Reordering a sum of
    // K terms moves it by about √K·u relative (u = 2⁻²⁴ ≈ 6e-8; rounding errors of random sign),
    // and the longest sum here is the loss's mean over K = 2·3·16·16 = 1536 terms: ≈ 2.4e-6. The
    // forward pass is about 8 such reductions deep (stem, two convs, downsample, two attentions,
    // MLP, the up path's convs), so the loss gets 2e-5 (it measured 4e-7 on SwiftShader). The
    // backward pass is twice as deep, and GroupNorm's and softmax's backward subtract nearly equal
    // terms (relative error grows with the cancellation), so each gradient leaf gets 1e-4 of its
    // norm (measured ≤ 3e-6). A wrong kernel is off by O(1); half precision anywhere, by ~1e-3.
    expect(Math.abs(webgpu.loss - cpu.loss)).toBeLessThanOrEqual(2e-5 * Math.abs(cpu.loss));

    const total = Math.sqrt([...cpu.grads.values()].reduce((s, g) => s + norm(g) ** 2, 0));
    expect(total).toBeGreaterThan(0);
    expect([...webgpu.grads.keys()]).toEqual([...cpu.grads.keys()]);
    for (const [path, want] of cpu.grads) {
      const got = webgpu.grads.get(path)!;
      if (path.endsWith('.key.bias')) {
        // Exactly 0 in exact arithmetic: a key bias adds q·b to every score of a query's row, and
        // softmax ignores a constant added to its row. What is left is rounding, ~u of the scale.
        expect(norm(want), `${path} on cpu`).toBeLessThanOrEqual(1e-5 * total);
        expect(norm(got), `${path} on webgpu`).toBeLessThanOrEqual(1e-5 * total);
        continue;
      }
      // Every other leaf carries gradient, so comparing it relative to its norm means something.
      expect(norm(want), `${path}: gradient norm on cpu`).toBeGreaterThan(1e-4 * total);
      const difference = norm(want.map((w, i) => w - got[i]!));
      expect(difference, `${path}: |webgpu − cpu| against |cpu| = ${norm(want)}`).toBeLessThanOrEqual(1e-4 * norm(want));
    }
  }, 60_000);

  it('Adam on webgpu: each of five steps lowers the v-loss on a fixed batch, leaking no tensors', async () => {
    const host = await hostProblem();
    await r.setBackend('webgpu');
    const model = nn.uvit(config);
    const like = r.tidy(() => model.init(r.key(0)));
    const problem = upload(host, like);
    r.dispose(like);
    const lossFn = vLoss(model, problem.z, problem.v, problem.logSnr);
    const optimizer = nn.adam({ learningRate: 3e-3 });
    let state = { params: problem.params, opt: optimizer.init(problem.params), loss: r.scalar(0) };
    const losses: number[] = [];
    const liveTensors: number[] = [];
    for (let step = 0; step < 5; step++) {
      state = nn.minimizeStep(lossFn, optimizer, state);
      // The loss of the parameters before this step's update.
      losses.push((await state.loss.toArray())[0]!);
      liveTensors.push(r.memoryStats().tensors);
    }
    const after = r.tidy(() => lossFn(state.params));
    losses.push((await after.toArray())[0]!);
    expect(losses.every(Number.isFinite)).toBe(true);
    for (let i = 1; i < losses.length; i++) expect(losses[i], `loss after step ${i}: ${losses.join(', ')}`).toBeLessThan(losses[i - 1]!);
    expect(new Set(liveTensors).size).toBe(1);
    r.dispose([state, after, problem.z, problem.v, problem.logSnr]);
    await r.setBackend('cpu');
  }, 60_000);
});
