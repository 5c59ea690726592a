/**
 * One preset's training step exactly as `rolling train` runs it (experiments/trainer.ts's
 * createTrainingStep: Algorithm 1 on the preset's U-ViT, clipping + Adam with the warm-up/cosine
 * schedule, EMA, compiled with jit unless --eager; the loss read back), timed on synthetic data of the
 * preset's frame shape. Prints one JSON line:
 * `{ preset, backend, threads, jit, batch, msPerStep[], medianMs, cpuMsPerStep, peakTensorBytes, peakRssBytes, parameters }`
 * (`cpuMsPerStep`: this process's CPU time, all threads; `peakTensorBytes`: the backend's live bytes
 * where it counts them, else the live tensors'; `peakRssBytes` is sampled between steps and
 * under-reads: trainVsTorch.ts reads the kernel's VmHWM instead).
 *
 *   npx tsx bench/trainStep.ts --preset demo [--batch 8] [--steps 10] [--backend wasm] [--threads 2] [--eager]
 *
 * `bench/trainVsTorch.ts` runs this and the PyTorch replica alternately in separate processes.
 */
import { parseArgs } from 'node:util';
import { enableRelaxedSimd } from '../backends/wasm/index.js';
import { dispose, foldIn, getBackend, key, memoryStats, registerBackend, setBackend, setConvAlgorithm, tidy, type ConvAlgorithm } from '../index.js';
import { countParameters, disposeStale, ema } from '../nn/index.js';
import { createTrainingStep, optimizerFor } from '../experiments/trainer.js';
import { buildModel } from '../experiments/model.js';
import { PRESETS, type Preset } from '../experiments/presets.js';
import { sampleBatch, type VideoDataset } from '../experiments/data/datasets.js';

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'demo' },
    batch: { type: 'string' },
    steps: { type: 'string', default: '10' },
    // 3: a jitted step traces on its first two calls (the initial state's leaves share buffers, a later state's do not) and compiles its fused kernels on the third.
    warmup: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string' },
    /** JSON of a wasm MatmulConfig override (tuning experiments), e.g. '{"mr":4,"nr":8}'. */
    matmul: { type: 'string' },
    /** The wasm backend's parallelThreshold (tuning experiments): work below it stays on the calling thread. */
    'parallel-threshold': { type: 'string' },
    'checkpoint-blocks': { type: 'boolean', default: false },
    /** As the `rolling` command: relaxed SIMD (FMA) on unless ROLLING_RELAXED_SIMD=0 or --plain-simd. */
    'plain-simd': { type: 'boolean', default: false },
    /** conv2d's default algorithm (setConvAlgorithm): auto (Winograd for wide 3×3 convolutions), im2col or winograd. */
    'conv-algorithm': { type: 'string', default: 'auto' },
    /** Run the step eagerly, op by op (`rolling train` compiles it with jit: TrainOptions.jit). */
    eager: { type: 'boolean', default: false },
  },
});
setConvAlgorithm(values['conv-algorithm'] as ConvAlgorithm);
const relaxedSimd = !values['plain-simd'] && process.env.ROLLING_RELAXED_SIMD !== '0' ? await enableRelaxedSimd() : false;

const base = PRESETS[values.preset as keyof typeof PRESETS] as Preset | undefined;
if (!base) throw new Error(`trainStep: unknown preset ${values.preset}`);
const preset: Preset = values.batch ? { ...base, batch: Number(values.batch) } : base;
const frameShape: [number, number, number] = preset.data === 'bair' ? [64, 64, 3] : [preset.size, preset.size, 1];

if (values.threads !== undefined || values.matmul !== undefined || values['parallel-threshold'] !== undefined) {
  if (values.backend !== 'wasm') throw new Error('trainStep: --threads, --matmul and --parallel-threshold are for the wasm backend');
  const { createWasmBackendSync } = await import('../backends/wasm/index.js');
  const matmul = values.matmul ? (JSON.parse(values.matmul) as Record<string, number>) : undefined;
  const parallelThreshold = values['parallel-threshold'] !== undefined ? Number(values['parallel-threshold']) : undefined;
  registerBackend('wasm-bench', () => createWasmBackendSync({ ...(values.threads ? { threads: Number(values.threads) } : {}), ...(matmul ? { matmul } : {}), ...(parallelThreshold !== undefined ? { parallelThreshold } : {}) }));
  const b = (await setBackend('wasm-bench')) as unknown as { ready(): Promise<unknown> };
  await b.ready();
} else {
  const b = await setBackend(values.backend!);
  await (b as unknown as { ready?: () => Promise<unknown> }).ready?.();
}
const threads = (getBackend() as unknown as { threads?: number }).threads ?? 1;

// Synthetic clips with the preset's frame shape (the step's cost does not depend on the values).
const fs = frameShape[0] * frameShape[1] * frameShape[2];
const clipLength = Math.max(preset.window, preset.clipLength);
const clips = Array.from({ length: 4 }, (_, c) => Uint8Array.from({ length: clipLength * fs }, (_, i) => (i * 7 + c * 13) % 256));
const dataset: VideoDataset = { name: 'bench', frameShape, clips, clipLength, describe: 'synthetic' };

const steps = Number(values.steps);
const model = buildModel(preset, frameShape, values['checkpoint-blocks'] ? { checkpointBlocks: true } : {});
const optimizer = optimizerFor(preset, preset.steps);
const averager = ema({ decay: preset.emaDecay, warmup: true });
const trainingStep = createTrainingStep({ model, preset, mode: 'rolling', optimizer, averager, jit: !values.eager });
const stepKeys = foldIn(key(0), 0x57e9);

let state = tidy(() => {
  const params = model.init(foldIn(key(0), 0x1417));
  return { params, opt: optimizer.init(params), ema: averager.init(params) };
});
const parameters = countParameters(state.params as never);

// Peak memory: the backend's live bytes where it counts them (a jitted step's intermediates are
// buffers, not tensors), else the live tensors' bytes; sampled after every kernel.
let peakTensorBytes = 0;
let peakRss = 0;
const backend = getBackend();
const live = (): number => backend.stats?.().bytes ?? memoryStats().bytes;
/** `f` with the peak sampled after each call. */
function sampled<F extends (...args: never[]) => unknown>(f: F): F {
  return ((...args: Parameters<F>) => {
    const out = f.apply(backend, args);
    peakTensorBytes = Math.max(peakTensorBytes, live());
    return out;
  }) as F;
}
const run = backend.run;
backend.run = sampled(run);
const runExpression = backend.runExpression;
if (runExpression) backend.runExpression = sampled(runExpression);
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 5);

async function step(i: number): Promise<number> {
  const prev = state;
  const next = tidy(() => trainingStep(prev, sampleBatch(dataset, 0, i, preset.batch, preset.window), foldIn(stepKeys, i)));
  const loss = (await next.loss.toArray())[0]!;
  next.loss.dispose();
  const { loss: _, ...rest } = next;
  state = rest as typeof state;
  disposeStale(prev, state);
  return loss;
}

const ms: number[] = [];
const cpuMs: number[] = [];
let lastLoss = 0;
for (let i = 0; i < Number(values.warmup) + steps; i++) {
  (globalThis as { __profOn?: (on: boolean) => void }).__profOn?.(i >= Number(values.warmup));
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  lastLoss = await step(i);
  const c = process.cpuUsage(c0);
  if (i >= Number(values.warmup)) {
    ms.push(performance.now() - t0);
    cpuMs.push((c.user + c.system) / 1000);
  }
}
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage.rss());
backend.run = run;
if (runExpression) backend.runExpression = runExpression;
const jitStats = trainingStep.stats();
trainingStep.clear();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
dispose(state);
console.log(
  JSON.stringify({
    preset: preset.name,
    backend: values.backend,
    threads,
    relaxedSimd,
    checkpointBlocks: values['checkpoint-blocks'],
    convAlgorithm: values['conv-algorithm'],
    jit: jitStats,
    batch: preset.batch,
    parameters,
    msPerStep: ms.map((v) => Math.round(v * 10) / 10),
    medianMs: median(ms),
    cpuMsPerStep: median(cpuMs),
    peakTensorBytes,
    peakRssBytes: peakRss,
    lastLoss,
  }),
);
