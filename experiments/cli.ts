/**
 * The `rolling` command line: train, rollout, eval, data, vectors and demo. Options are decoded with
 * io-ts into an `Either`; a bad option prints what was wrong and exits non-zero.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { getBackendName, key, setBackend, sliceAxis, tidy, dispose } from '../index.js';
import { decodeFlags, NonNegativeInt, NonNegativeNumber, oneOf, parseArgv, PositiveInt, PositiveNumber, Probability, BooleanFromString } from './args.js';
import { writeFileAtomic } from './atomicWrite.js';
import { isBairRecordName } from './bair.js';
import { bairDataset, bairNpzDataset, clipTensor, isKolmogorovShardName, kolmogorovDataset, kolmogorovShards, movingDigitsDataset, movingShapesDataset, npyDataset, toBytes, writeKolmogorovShard, type VideoDataset } from './datasets.js';
import { formatTable, stepMetrics, type StepMetrics } from './evaluate.js';
import { isPowerOfTwo } from './fft.js';
import { generate } from './generate.js';
import { writeGif } from './gif.js';
import { KOLMOGOROV_DEFAULTS, simulateKolmogorov } from './kolmogorov.js';
import { writeNpy } from './npy.js';
import { frameGrid, lineChart, stackImages } from './plot.js';
import { writePng } from './png.js';
import { PRESETS, presetNames, type Preset } from './presets.js';
import { progressBar } from './progress.js';
import { loadForSampling, readCheckpointMetadata, train, type TrainMode } from './trainer.js';

const DATA_FORMATS = `'shapes' (generated), 'mnist' (moving MNIST from the mnist package's digits), 'kolmogorov' (simulated), a folder of kolmogorov-*.npy shards from \`rolling data\`,
a BAIR .tfrecords (or .tfrecord) file, a folder of BAIR traj_*.tfrecords, a BAIR .npz clip laid out as
bair_sample.npz (aux1_image or image, and action), or a .npy of videos [N, T, H, W, C] or [T, H, W, C]`;

const USAGE = `rolling — Rolling Diffusion Models (Ruhe et al., ICML 2024) in TypeScript

Usage:
  rolling demo     --out DIR [--steps N] [--backend cpu|webgpu|wasm]
  rolling train    --out DIR [--preset ${presetNames().join('|')}] [--data shapes|mnist|kolmogorov|PATH] [--mode rolling|standard]
                   [--steps N] [--seed S] [--resume] [--checkpoint-every N] [--backend cpu|webgpu|wasm]
  rolling rollout  --checkpoint FILE --out DIR [--frames N] [--clip I] [--steps-per-frame K] [--sampler ddpm|ddim] [--seed S] [--data ...]
  rolling eval     --rolling FILE --standard FILE --out DIR [--clips N] [--frames N] [--steps-per-frame K] [--seed S] [--data ...]
  rolling data     kolmogorov --out DIR [--clips N] [--shards N] [--frames N] [--size N] [--seed S]
                   [--simulation-size N] [--warmup T] [--frame-interval T]
  rolling vectors  --out FILE

Data (--data): ${DATA_FORMATS}.
FVD is not reported: it needs the I3D network's weights, which this project cannot download.`;

class UsageError extends Error {}

function decode<C extends t.Props>(command: string, props: C, flags: Record<string, string>, required: (keyof C)[] = []) {
  const r = decodeFlags(command, props, flags, required);
  if (isLeft(r)) throw new UsageError(`rolling ${command}: invalid options\n${r.left}\n\nRun \`rolling --help\` for usage.`);
  return r.right;
}

const Backend = oneOf(['cpu', 'webgpu', 'wasm'] as const);
const Mode = oneOf(['rolling', 'standard'] as const);
const Sampler = oneOf(['ddpm', 'ddim'] as const);

async function useBackend(name: string | undefined): Promise<void> {
  if (!name) return;
  try {
    await setBackend(name);
  } catch (e) {
    throw new UsageError(`--backend ${name}: ${(e as Error).message}`);
  }
}

/**
 * What data is read for. Training reads --data or the preset's data set. Sampling (rollout, eval)
 * reads held-out clips of the set the checkpoint was trained on: generated here when it can be, else
 * from the --data given again.
 */
type DataUse =
  | { readonly command: 'train' }
  | { readonly command: 'rollout' | 'eval'; readonly checkpoint: string; readonly trainedOn: string };

const GENERATED_DATA: readonly string[] = ['shapes', 'mnist', 'kolmogorov'];

/**
 * The data set named by --data (or the one `use` implies), `clips` clips when it is generated. A path
 * is read by its extension when it is a file and by its contents when it is a folder; anything else is
 * a usage error that lists what is accepted.
 */
async function loadData(preset: Preset, data: string | undefined, o: { seed: number; clips: number; use: DataUse }): Promise<VideoDataset> {
  const { seed, clips, use } = o;
  const sampling = use.command !== 'train';
  const name = data ?? (sampling ? (GENERATED_DATA.includes(use.trainedOn) ? use.trainedOn : undefined) : preset.data);
  const generated = { clips, frames: preset.clipLength, size: preset.size, seed };
  if (name === 'mnist') return movingDigitsDataset({ ...generated, split: sampling ? 'test' : 'train' });
  if (name === 'shapes') return movingShapesDataset(generated);
  if (name === 'kolmogorov') return kolmogorovDataset(generated);
  if (data === undefined) {
    throw new UsageError(
      sampling
        ? `rolling ${use.command}: ${use.checkpoint} was trained on ${use.trainedOn} data, which cannot be generated: pass --data PATH (for BAIR, the softmotion30_44k test/ folder of traj_*.tfrecords).\nAccepted --data: ${DATA_FORMATS}.`
        : `--preset ${preset.name} trains on ${preset.data} data, which cannot be generated: pass --data PATH (for BAIR, the softmotion30_44k train/ folder of traj_*.tfrecords).\nAccepted --data: ${DATA_FORMATS}.`,
    );
  }
  const path = resolve(data);
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new UsageError(`--data ${data}: no such file or folder (${path}).\nAccepted --data: ${DATA_FORMATS}.`);
  }
  if (info.isDirectory()) {
    const names = await readdir(path);
    if (names.some(isBairRecordName)) return bairDataset(path);
    if (names.some(isKolmogorovShardName)) return kolmogorovShards(path);
    throw new UsageError(`--data ${data}: the folder ${path} holds neither BAIR traj_*.tfrecords files nor kolmogorov-*.npy shards.\nAccepted --data: ${DATA_FORMATS}.`);
  }
  switch (extname(path).toLowerCase()) {
    case '.tfrecords': case '.tfrecord': return bairDataset(path);
    case '.npz': return bairNpzDataset(path);
    case '.npy': return npyDataset(path);
    default:
      throw new UsageError(`--data ${data}: unknown format '${extname(path) || 'no extension'}' (${path}).\nAccepted --data: ${DATA_FORMATS}.`);
  }
}

/** The data set a checkpoint was trained on (its preset's, for a checkpoint that did not record it). */
function trainedOn(metadata: Record<string, string>, preset: Preset): string {
  return metadata['data'] ?? preset.data;
}

function checkDataFits(preset: Preset, d: VideoDataset): void {
  if (d.clipLength < preset.window) throw new UsageError(`--data: clips of ${d.clipLength} frames are shorter than the preset's window of ${preset.window}`);
}

/** A checkpoint's model only takes frames of the shape it was trained on. */
function checkFrameShape(checkpoint: string, frameShape: readonly number[], d: VideoDataset): void {
  if (d.frameShape.join() !== frameShape.join()) {
    throw new UsageError(`--data: frames of ${d.name} are [${d.frameShape}], but ${checkpoint} was trained on [${frameShape}] frames; pass the --data it was trained on`);
  }
}

async function cmdTrain(flags: Record<string, string>): Promise<void> {
  const o = decode('train', { out: t.string, preset: oneOf(presetNames()), data: t.string, mode: Mode, steps: PositiveInt, seed: NonNegativeInt, resume: BooleanFromString, 'checkpoint-every': PositiveInt, backend: Backend }, flags, ['out']);
  await useBackend(o.backend);
  const preset = PRESETS[o.preset ?? 'shapes']!;
  const seed = o.seed ?? 0;
  const dataset = await loadData(preset, o.data, { seed, clips: preset.clips, use: { command: 'train' } });
  checkDataFits(preset, dataset);
  const steps = o.steps ?? preset.steps;
  const bar = progressBar(`train (${o.mode ?? 'rolling'}, ${getBackendName()})`, steps);
  const { log } = await train({ preset, dataset, out: resolve(o.out!), seed, mode: o.mode ?? 'rolling', steps, resume: o.resume ?? false, checkpointEvery: o['checkpoint-every'], onStep: (step, loss) => bar.update(step, { loss }) });
  bar.done(`checkpoint: ${join(resolve(o.out!), 'checkpoint.safetensors')} (${log.losses.length} steps, final loss ${log.losses.at(-1)?.toFixed(4)})`);
}

interface RolloutResult {
  generated: Float32Array;
  truth: Float32Array | null;
  frames: number;
  frameShape: [number, number, number];
}

async function rolloutToFiles(o: { checkpoint: string; out: string; frames: number; clip: number; stepsPerFrame?: number; sampler?: 'ddpm' | 'ddim'; seed: number; data?: string; mode?: TrainMode }): Promise<RolloutResult> {
  const ck = await loadForSampling(resolve(o.checkpoint));
  const { preset, frameShape } = ck;
  const dataset = await loadData(preset, o.data, { seed: 1_000 + o.seed, clips: preset.clips, use: { command: 'rollout', checkpoint: o.checkpoint, trainedOn: trainedOn(ck.metadata, preset) } });
  checkFrameShape(o.checkpoint, frameShape, dataset);
  const [h, w, c] = frameShape;
  const available = dataset.clipLength - preset.cleanFrames;
  const truthFrames = Math.min(o.frames, available);
  const clip = clipTensor(dataset, o.clip, preset.cleanFrames + truthFrames);
  const context = tidy(() => sliceAxis(clip, 1, 0, preset.cleanFrames));
  const bar = progressBar(`rollout (${o.mode ?? ck.mode})`, o.frames);
  const video = await generate({ model: ck.model, params: ck.params, preset, mode: o.mode ?? ck.mode, context, frames: o.frames, stepsPerFrame: o.stepsPerFrame ?? preset.stepsPerFrame, key: key(o.seed), sampler: o.sampler, onFrame: (i) => bar.update(i) });
  bar.done();
  const generated = (await video.toArray()) as Float32Array;
  const truth = truthFrames > 0 ? ((await tidy(() => sliceAxis(clip, 1, preset.cleanFrames, preset.cleanFrames + truthFrames)).toArray()) as Float32Array) : null;
  const ctxData = (await context.toArray()) as Float32Array;
  dispose([video, clip, context]);
  await mkdir(o.out, { recursive: true });
  // GIF: the context frames, then the generated ones (ground truth beside them when it exists).
  const fs = h * w * c;
  const sideBySide = (f: Float32Array, g: Float32Array | null) => {
    const out = new Float32Array(h * (g ? 2 * w + 2 : w) * c).fill(-1);
    for (let y = 0; y < h; y++) {
      out.set(f.subarray(y * w * c, (y + 1) * w * c), y * (g ? 2 * w + 2 : w) * c);
      if (g) out.set(g.subarray(y * w * c, (y + 1) * w * c), (y * (2 * w + 2) + w + 2) * c);
    }
    return out;
  };
  const gifFrames: Uint8Array[] = [];
  const gw = truth ? 2 * w + 2 : w;
  for (let f = 0; f < preset.cleanFrames; f++) {
    const ctx = ctxData.subarray(f * fs, (f + 1) * fs);
    gifFrames.push(toBytes(sideBySide(ctx, truth ? ctx : null), c).data);
  }
  for (let f = 0; f < o.frames; f++) {
    const g = generated.subarray(f * fs, (f + 1) * fs);
    const tr = truth && f < truthFrames ? truth.subarray(f * fs, (f + 1) * fs) : truth ? new Float32Array(fs).fill(-1) : null;
    gifFrames.push(toBytes(sideBySide(g, tr), c).data);
  }
  const outC = c === 1 ? 1 : 3;
  await writeGif(join(o.out, 'rollout.gif'), { width: gw, height: h, channels: outC, frames: gifFrames, delayMs: 150 });
  const rows = truth ? [generated, padFrames(truth, truthFrames, o.frames, fs)] : [generated];
  await writePng(join(o.out, 'rollout.png'), frameGrid(rows, o.frames, h, w, c, h <= 16 ? 4 : h <= 32 ? 2 : 1));
  await writeNpy(join(o.out, 'rollout.npy'), { shape: [o.frames, h, w, c], data: generated });
  return { generated, truth, frames: o.frames, frameShape };
}

function padFrames(a: Float32Array, have: number, want: number, fs: number): Float32Array {
  if (have >= want) return a;
  const out = new Float32Array(want * fs).fill(-1);
  out.set(a.subarray(0, have * fs));
  return out;
}

async function cmdRollout(flags: Record<string, string>): Promise<void> {
  const o = decode('rollout', { checkpoint: t.string, out: t.string, frames: PositiveInt, clip: NonNegativeInt, 'steps-per-frame': PositiveInt, sampler: Sampler, seed: NonNegativeInt, data: t.string, mode: Mode, backend: Backend }, flags, ['checkpoint', 'out']);
  await useBackend(o.backend);
  const out = resolve(o.out!);
  const r = await rolloutToFiles({ checkpoint: o.checkpoint!, out, frames: o.frames ?? 16, clip: o.clip ?? 0, stepsPerFrame: o['steps-per-frame'], sampler: o.sampler, seed: o.seed ?? 0, data: o.data, mode: o.mode });
  console.log(`wrote ${join(out, 'rollout.gif')}, ${join(out, 'rollout.png')} (generated above ground truth) and ${join(out, 'rollout.npy')} [${[r.frames, ...r.frameShape].join(', ')}] (frames, height, width, channels)`);
}

/** Roll out the first `clips` clips of the held-out `dataset` with a checkpoint; returns generated and real [clips, frames, …]. */
async function rolloutMany(checkpoint: string, dataset: VideoDataset, clips: number, frames: number, stepsPerFrame: number | undefined, seed: number, label: string) {
  const ck = await loadForSampling(resolve(checkpoint));
  const { preset, frameShape } = ck;
  const [h, w, c] = frameShape;
  const fs = h * w * c;
  const gen = new Float32Array(clips * frames * fs);
  const real = new Float32Array(clips * frames * fs);
  const bar = progressBar(label, clips * frames);
  for (let i = 0; i < clips; i++) {
    const clip = clipTensor(dataset, i, preset.cleanFrames + frames);
    const context = tidy(() => sliceAxis(clip, 1, 0, preset.cleanFrames));
    const video = await generate({ model: ck.model, params: ck.params, preset, mode: ck.mode, context, frames, stepsPerFrame: stepsPerFrame ?? preset.stepsPerFrame, key: key(seed * 7919 + i), onFrame: (f) => bar.update(i * frames + f) });
    gen.set(await video.toArray(), i * frames * fs);
    real.set(await tidy(() => sliceAxis(clip, 1, preset.cleanFrames, preset.cleanFrames + frames)).toArray(), i * frames * fs);
    dispose([clip, context, video]);
  }
  bar.done();
  return { gen, real, preset, frameShape, mode: ck.mode };
}

/**
 * eval compares two models on the same clips: they must share the preset (window, clean frames, …),
 * the frame shape and the data set. Returns the rolling checkpoint's metadata.
 */
async function checkComparable(rolling: string, standard: string): Promise<Record<string, string>> {
  const read = async (flag: string, path: string) => {
    try {
      return await readCheckpointMetadata(resolve(path));
    } catch (e) {
      throw new UsageError(`--${flag} ${path}: ${(e as Error).message}`);
    }
  };
  const a = await read('rolling', rolling);
  const b = await read('standard', standard);
  const differences: string[] = [];
  const pa = JSON.parse(a.preset!) as Preset & Record<string, unknown>;
  const pb = JSON.parse(b.preset!) as Preset & Record<string, unknown>;
  const dataA = trainedOn(a, pa);
  const dataB = trainedOn(b, pb);
  if (dataA !== dataB) differences.push(`data '${dataA}' against '${dataB}'`);
  if (a.frameShape !== b.frameShape) differences.push(`frame shape [${JSON.parse(a.frameShape!)}] against [${JSON.parse(b.frameShape!)}]`);
  if (a.preset !== b.preset) {
    const keys = [...new Set([...Object.keys(pa), ...Object.keys(pb)])].filter((k) => JSON.stringify(pa[k]) !== JSON.stringify(pb[k]));
    differences.push(`preset ${keys.map((k) => `${k} ${JSON.stringify(pa[k])} against ${JSON.stringify(pb[k])}`).join(', ')}`);
  }
  if (differences.length > 0) {
    throw new UsageError(`rolling eval: --rolling ${rolling} and --standard ${standard} are not comparable: ${differences.join('; ')}. Train both with the same --preset and --data.`);
  }
  return a;
}

async function cmdEval(flags: Record<string, string>): Promise<void> {
  const o = decode('eval', { rolling: t.string, standard: t.string, out: t.string, clips: PositiveInt, frames: PositiveInt, 'steps-per-frame': PositiveInt, seed: NonNegativeInt, data: t.string, backend: Backend }, flags, ['rolling', 'standard', 'out']);
  await useBackend(o.backend);
  const clips = o.clips ?? 8;
  const frames = o.frames ?? 16;
  const seed = o.seed ?? 0;
  const metadata = await checkComparable(o.rolling!, o.standard!);
  const preset = JSON.parse(metadata.preset!) as Preset;
  // One held-out set for both models, so both are scored on the same clips.
  const dataset = await loadData(preset, o.data, { seed: 1_000 + seed, clips, use: { command: 'eval', checkpoint: o.rolling!, trainedOn: trainedOn(metadata, preset) } });
  checkFrameShape(o.rolling!, JSON.parse(metadata.frameShape!) as number[], dataset);
  if (dataset.clipLength < preset.cleanFrames + frames) throw new UsageError(`--frames ${frames}: held-out clips have ${dataset.clipLength} frames, so at most ${dataset.clipLength - preset.cleanFrames} can be compared`);
  const results: Record<string, StepMetrics[]> = {};
  let shape: [number, number, number] = [0, 0, 0];
  for (const [label, path] of [['rolling', o.rolling!], ['standard', o.standard!]] as const) {
    const r = await rolloutMany(path, dataset, clips, frames, o['steps-per-frame'], seed, `eval ${label}`);
    shape = r.frameShape;
    results[label] = stepMetrics(r.real, r.gen, clips, frames, ...r.frameShape);
  }
  const rows = results.rolling!.map((m, i) => ({ step: m.step, 'MSE rolling': m.mse, 'MSE standard': results.standard![i]!.mse, 'FSD rolling': m.fsd, 'FSD standard': results.standard![i]!.fsd }));
  const out = resolve(o.out!);
  await mkdir(out, { recursive: true });
  await writeFileAtomic(join(out, 'eval.json'), JSON.stringify({ clips, frames, frameShape: shape, stepsPerFrame: o['steps-per-frame'] ?? null, note: 'FVD is not reported: it needs I3D weights that cannot be downloaded here.', results }, null, 2));
  const chart = stackImages([
    lineChart('MSE PER STEP', [{ label: 'ROLLING', values: results.rolling!.map((m) => m.mse) }, { label: 'STANDARD', values: results.standard!.map((m) => m.mse) }]),
    lineChart('FSD PER STEP', [{ label: 'ROLLING', values: results.rolling!.map((m) => m.fsd ?? NaN) }, { label: 'STANDARD', values: results.standard!.map((m) => m.fsd ?? NaN) }]),
  ]);
  await writePng(join(out, 'eval.png'), chart);
  console.log(formatTable(rows));
  console.log(`\nwrote ${join(out, 'eval.json')} and ${join(out, 'eval.png')}`);
}

async function cmdData(positional: string[], flags: Record<string, string>): Promise<void> {
  if (positional[0] !== 'kolmogorov') throw new UsageError(`rolling data: the only generated data set is 'kolmogorov' (shapes are generated on the fly); got ${positional[0] ?? 'nothing'}`);
  const o = decode(
    'data',
    { out: t.string, clips: PositiveInt, shards: PositiveInt, frames: PositiveInt, size: PositiveInt, seed: NonNegativeInt, 'simulation-size': PositiveInt, warmup: NonNegativeNumber, 'frame-interval': PositiveNumber },
    flags,
    ['out'],
  );
  const clips = o.clips ?? 8;
  const shards = o.shards ?? 1;
  const frames = o.frames ?? 32;
  const size = o.size ?? 32;
  const simulationSize = o['simulation-size'] ?? size;
  if (!isPowerOfTwo(size)) throw new UsageError(`--size ${size}: the spectral solver needs a power of two`);
  if (!isPowerOfTwo(simulationSize) || simulationSize < size) {
    throw new UsageError(`--simulation-size ${simulationSize}: must be a power of two at least --size ${size} (frames are Fourier-truncated to --size)`);
  }
  const physics = { simulationSize, warmup: o.warmup ?? KOLMOGOROV_DEFAULTS.warmup, frameInterval: o['frame-interval'] ?? KOLMOGOROV_DEFAULTS.frameInterval };
  const out = resolve(o.out!);
  await mkdir(out, { recursive: true });
  const bar = progressBar('kolmogorov', clips * shards);
  for (let s = 0; s < shards; s++) {
    const list: Float32Array[] = [];
    for (let i = 0; i < clips; i++) {
      list.push(simulateKolmogorov({ frames, size, ...physics, seed: (o.seed ?? 0) * 100_003 + s * clips + i }).frames);
      bar.update(s * clips + i + 1);
    }
    await writeKolmogorovShard(join(out, `kolmogorov-${String(s).padStart(4, '0')}.npy`), list, frames, size);
  }
  bar.done(`wrote ${shards} shard(s) of ${clips} clips [${frames}, ${size}, ${size}, 2] to ${out} (simulated on ${simulationSize}², ${physics.warmup} time units discarded, a frame every ${physics.frameInterval})`);
}

async function cmdVectors(flags: Record<string, string>): Promise<void> {
  const o = decode('vectors', { out: t.string }, flags, ['out']);
  const { writeGoldenVectors } = await import('./goldenVectors.js');
  await writeGoldenVectors(resolve(o.out!));
  console.log(`wrote ${resolve(o.out!)}`);
}

/** The README's main job: train a tiny rolling model, roll out twice the window, write pictures and metrics. */
async function cmdDemo(flags: Record<string, string>): Promise<void> {
  const o = decode('demo', { out: t.string, steps: PositiveInt, backend: Backend, seed: NonNegativeInt, resume: BooleanFromString }, flags, ['out']);
  await useBackend(o.backend);
  const preset = PRESETS.demo!;
  const seed = o.seed ?? 0;
  const out = resolve(o.out!);
  const steps = o.steps ?? preset.steps;
  const patch = preset.patchSize ?? 4;
  const layout = `${patch === 1 ? 'pixel level' : `${patch}×${patch} patches`}${preset.channels ? `, conv widths ${preset.channels.join('/')}` : ''}`;
  console.log(`demo: training the tiny U-ViT (${layout}) with rolling diffusion on ${preset.data === 'mnist' ? 'moving MNIST' : `moving ${preset.data}`} (${preset.size}×${preset.size}, window ${preset.window}, ${preset.cleanFrames} clean frames) for ${steps} steps on ${getBackendName()}`);
  const dataset = await loadData(preset, undefined, { seed, clips: preset.clips, use: { command: 'train' } });
  const bar = progressBar('train', steps);
  const started = Date.now();
  const { log } = await train({ preset, dataset, out, seed, mode: 'rolling', steps, resume: o.resume ?? false, onStep: (step, loss) => bar.update(step, { loss }) });
  bar.done();
  const frames = 2 * preset.window;
  const r = await rolloutToFiles({ checkpoint: join(out, 'checkpoint.safetensors'), out, frames, clip: 0, seed, stepsPerFrame: preset.stepsPerFrame });
  const [h, w, c] = r.frameShape;
  const truthFrames = r.truth ? r.truth.length / (h * w * c) : 0;
  const perStep = r.truth ? stepMetrics(r.truth, r.generated.subarray(0, r.truth.length), 1, truthFrames, h, w, c) : [];
  const metrics = {
    preset: preset.name,
    backend: getBackendName(),
    trainSteps: log.losses.length,
    trainSeconds: log.seconds,
    firstLoss: log.losses[0],
    finalLoss: mean(log.losses.slice(-20)),
    framesGenerated: frames,
    window: preset.window,
    cleanFrames: preset.cleanFrames,
    stepsPerFrame: preset.stepsPerFrame,
    perStep,
    note: 'MSE/PSNR/SSIM of one rollout against its ground truth; FVD is not reported (needs I3D weights).',
    wallSeconds: (Date.now() - started) / 1000,
  };
  await writeFileAtomic(join(out, 'metrics.json'), JSON.stringify(metrics, null, 2));
  await writeFileAtomic(join(out, 'losses.csv'), log.losses.map((l, i) => `${i + 1},${l}`).join('\n') + '\n');
  console.log(`demo: loss ${metrics.firstLoss?.toFixed(3)} → ${metrics.finalLoss.toFixed(3)}; wrote rollout.gif, rollout.png (generated above ground truth), rollout.npy and metrics.json to ${out}`);
}

function mean(a: readonly number[]): number {
  return a.reduce((s, v) => s + v, 0) / Math.max(a.length, 1);
}

/** The commands: how many positional words each takes (the rest are refused), and what runs it. */
const COMMANDS: Readonly<Record<string, { readonly positional: number; readonly run: (positional: string[], flags: Record<string, string>) => Promise<void> }>> = {
  train: { positional: 0, run: (_, flags) => cmdTrain(flags) },
  rollout: { positional: 0, run: (_, flags) => cmdRollout(flags) },
  eval: { positional: 0, run: (_, flags) => cmdEval(flags) },
  data: { positional: 1, run: cmdData },
  vectors: { positional: 0, run: (_, flags) => cmdVectors(flags) },
  demo: { positional: 0, run: (_, flags) => cmdDemo(flags) },
};

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { positional, flags } = parseArgv(rest);
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      console.log(USAGE);
      return command === undefined ? 1 : 0;
    }
    const cmd = Object.hasOwn(COMMANDS, command) ? COMMANDS[command]! : undefined;
    if (!cmd) throw new UsageError(`rolling: unknown command '${command}'\n\n${USAGE}`);
    const stray = positional.slice(cmd.positional);
    if (stray.length > 0) {
      throw new UsageError(`rolling ${command}: unexpected argument${stray.length > 1 ? 's' : ''} ${stray.map((a) => `'${a}'`).join(' ')}; options are written --name value (run \`rolling --help\` for usage)`);
    }
    await cmd.run(positional, flags);
    return 0;
  } catch (e) {
    console.error(e instanceof UsageError ? e.message : `rolling ${command}: ${(e as Error).message}`);
    return e instanceof UsageError ? 2 : 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && /experiments[\\/]cli\.ts$/.test(process.argv[1]);
if (invokedDirectly) main(process.argv.slice(2)).then((code) => process.exit(code));

