/**
 * The `rolling` command line: train, rollout, eval, data, vectors and demo. Options are decoded with
 * io-ts into an `Either`; a bad option prints what was wrong and exits non-zero.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { getBackend, getBackendName, key, setBackend, sliceAxis, tidy, dispose } from '../../index.js';
import { setDebugNans } from '../../core/debug.js';
import { LOCAL_TIME_MAPS } from '../../diffusion/index.js';
import { formatHelp, NonNegativeInt, NonNegativeNumber, numberFrom, oneOf, parseCommand, PositiveInt, PositiveNumber, Switch, type OptionTable, type Options } from './args.js';
import { writeFileAtomic } from '../formats/atomicWrite.js';
import { CheckpointError } from '../checkpointMetadata.js';
import { RunLockError } from '../runLock.js';
import { isBairRecordName } from '../data/bair.js';
import { bairDataset, bairNpzDataset, clipTensor, isKolmogorovShardName, kolmogorovDataset, kolmogorovShards, movingDigitsDataset, movingShapesDataset, npyDataset, toBytes, type VideoDataset } from '../data/datasets.js';
import { formatTable, stepMetrics, type StepMetrics } from '../metrics/evaluate.js';
import { isPowerOfTwo } from '../math/fft.js';
import { generate } from '../generate.js';
import { writeGif } from '../formats/gif.js';
import { KOLMOGOROV_DEFAULTS } from '../data/kolmogorov.js';
import { buildKolmogorovCache, CACHE_MANIFEST, CacheError, HELD_OUT_FOLDER, MAX_TRAJECTORIES } from '../data/kolmogorovCache.js';
import { writeNpy } from '../formats/npy.js';
import { frameGrid, lineChart, stackImages, upscaleNearest } from './plot.js';
import { writePng } from '../formats/png.js';
import { REPRODUCE_SCALES, ReproduceError, reproduceKolmogorov, TABLE_8_ROWS } from './reproduce.js';
import { INIT_SCHEDULES, PRESETS, presetDifferences, presetNames, ROLLING_ONLY_SETTINGS, SETTING_DEFAULTS, withSettingDefaults, type FullPreset, type Preset } from '../presets.js';
import { progressBar, type Progress } from './progress.js';
import { CHECKPOINT, loadForSampling, readCheckpointMetadata, train, type TrainMode } from '../trainer.js';

const DATA_FORMATS = `'shapes' (generated), 'mnist' (moving MNIST from the mnist package's digits), 'kolmogorov' (simulated), a folder of kolmogorov-*.npy shards from \`rolling data\`,
a BAIR .tfrecords (or .tfrecord) file, a folder of BAIR traj_*.tfrecords, a BAIR .npz clip laid out as
bair_sample.npz (aux1_image or image, and action), or a .npy of videos [N, T, H, W, C] or [T, H, W, C]`;

/** The top-level help: each command with what it does; `rolling <command> --help` lists its options. */
function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 2;
  return `rolling — Rolling Diffusion Models (Ruhe et al., ICML 2024) in TypeScript

Usage: rolling <command> [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`).join('\n')}

Run \`rolling <command> --help\` (or -h) for a command's options and their defaults; \`rolling --version\` for the version.
Exit status: 0 on success, 2 for a usage or input error (bad options, missing or unreadable files, data
that does not fit the checkpoint), 1 when a command fails while running.

FVD is not reported: it needs the I3D network's weights, which this project cannot download.`;
}

/** A usage or input error: printed without a stack, exit status 2. */
class UsageError extends Error {}

/** Errors thrown while reading what an option names become input errors that name the option. */
async function asInput<T>(option: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${option}: ${fileErrorMessage(e) ?? (e as Error).message}`);
  }
}

/** A Node file-system error said with its path (ENOENT, EISDIR, … alone do not say which file). */
function fileErrorMessage(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof err.code !== 'string' || !/^E[A-Z]+$/.test(err.code)) return undefined;
  const what: Record<string, string> = {
    ENOENT: 'no such file or folder',
    EISDIR: 'is a folder, where a file was expected',
    ENOTDIR: 'a part of the path is a file, not a folder',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EEXIST: 'already exists',
    ENOSPC: 'no space left on the device',
    EROFS: 'the file system is read-only',
  };
  return `${err.path ?? '(unknown path)'}: ${what[err.code] ?? err.code} (${err.code}${err.syscall ? ` from ${err.syscall}` : ''})`;
}

const Backend = oneOf(['cpu', 'webgpu', 'wasm'] as const);
const Mode = oneOf(['rolling', 'standard', 'mse'] as const);
const Sampler = oneOf(['ddpm', 'ddim'] as const);

async function useBackend(name: string | undefined, debugNans = false): Promise<void> {
  if (name) {
    try {
      await setBackend(name);
    } catch (e) {
      throw new UsageError(`--backend ${name}: ${(e as Error).message}`);
    }
  }
  if (debugNans) {
    if (!getBackend().readSync) throw new UsageError(`--debug-nans: reads every op's output synchronously, which the ${getBackendName()} backend cannot; use --backend cpu or wasm`);
    setDebugNans(true);
  }
}

const BACKEND_OPTION = { codec: Backend, value: 'NAME', defaultText: 'wasm (cpu where WebAssembly SIMD is missing)', help: 'cpu, wasm or webgpu' } as const;
const DEBUG_NANS_OPTION = { codec: Switch, kind: 'switch', help: "stop at the first op that makes NaN or Inf, naming it (slow; jax_debug_nans)" } as const;
const SEED_OPTION = { codec: NonNegativeInt, value: 'S', default: 0, help: 'random seed' } as const;

/**
 * What data is read for. Training reads --data or the preset's data set. Sampling (rollout, eval)
 * reads held-out clips of the set the checkpoint was trained on: generated here when it can be, else
 * from the --data given again.
 */
type DataUse =
  | { readonly command: 'train' }
  | { readonly command: 'rollout' | 'eval'; readonly checkpoint: string; readonly trainedOn: string; readonly frameShape: readonly number[] };

const GENERATED_DATA: readonly string[] = ['shapes', 'mnist', 'kolmogorov'];

/**
 * The data set named by --data (or the one `use` implies), `clips` clips when it is generated. A path
 * is read by its extension when it is a file and by its contents when it is a folder; anything else is
 * a usage error that lists what is accepted. For sampling, frames of another shape than the
 * checkpoint's are refused, before a generated set is simulated (Kolmogorov clips take seconds each).
 */
async function loadData(preset: Preset, data: string | undefined, o: { seed: number; clips: number; use: DataUse }): Promise<VideoDataset> {
  const { seed, clips, use } = o;
  const sampling = use.command !== 'train';
  const name = data ?? (sampling ? (GENERATED_DATA.includes(use.trainedOn) ? use.trainedOn : undefined) : preset.data);
  const generator = name === 'mnist' ? movingDigitsDataset : name === 'shapes' ? movingShapesDataset : name === 'kolmogorov' ? kolmogorovDataset : undefined;
  if (generator !== undefined) {
    const settings = { frames: preset.clipLength, size: preset.size, seed, split: sampling ? ('test' as const) : ('train' as const) };
    // Zero clips cost nothing and carry the frame shape.
    if (sampling) checkFrameShape(use.checkpoint, use.frameShape, generator({ ...settings, clips: 0 }));
    const bar = progressBar(`data (${name}, ${clips} clip${clips === 1 ? "" : "s"})`, clips);
    const dataset = generator({ ...settings, clips, onClip: (done: number) => bar.update(done) });
    bar.done();
    return dataset;
  }
  const dataset = await readData(preset, data, use);
  if (sampling) checkFrameShape(use.checkpoint, use.frameShape, dataset);
  return dataset;
}

async function readData(preset: Preset, data: string | undefined, use: DataUse): Promise<VideoDataset> {
  const sampling = use.command !== 'train';
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
  const option = `--data ${data}`;
  if (info.isDirectory()) {
    const names = await asInput(option, () => readdir(path));
    if (names.some(isBairRecordName)) return asInput(option, () => bairDataset(path));
    if (names.some(isKolmogorovShardName)) return asInput(option, () => kolmogorovShards(path));
    throw new UsageError(`--data ${data}: the folder ${path} holds neither BAIR traj_*.tfrecords files nor kolmogorov-*.npy shards.\nAccepted --data: ${DATA_FORMATS}.`);
  }
  switch (extname(path).toLowerCase()) {
    case '.tfrecords': case '.tfrecord': return asInput(option, () => bairDataset(path));
    case '.npz': return asInput(option, () => bairNpzDataset(path));
    case '.npy': return asInput(option, () => npyDataset(path));
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

/**
 * Training into a folder that holds a checkpoint continues it (--resume) or replaces it (--force),
 * never silently overwrites it.
 */
async function checkRunFolder(out: string, o: { resume: boolean; force: boolean }): Promise<void> {
  if (o.resume && o.force) throw new UsageError('--resume and --force contradict each other: --resume continues the checkpoint in --out, --force trains over it');
  if (o.resume || o.force) return;
  const path = join(resolve(out), CHECKPOINT);
  if (!(await stat(path).then((s) => s.isFile(), () => false))) return;
  const m = await readCheckpointMetadata(path).catch(() => ({}) as Record<string, string>);
  const progress = m.step !== undefined && m.steps !== undefined ? ` (step ${m.step} of ${m.steps})` : '';
  throw new UsageError(`--out ${out}: ${path} already holds a checkpoint${progress}; pass --resume to continue it, or --force to train over it`);
}

/** A checkpoint file, or the run folder `rolling train --out` wrote one to; a missing path is an input error naming it. */
async function checkpointPath(option: string, given: string): Promise<string> {
  const path = resolve(given);
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new UsageError(`--${option} ${given}: no such file or folder (${path})`);
  if (!info.isDirectory()) return path;
  const inside = join(path, CHECKPOINT);
  if (!(await stat(inside).then((s) => s.isFile(), () => false))) {
    throw new UsageError(`--${option} ${given}: the folder ${path} holds no ${CHECKPOINT}; pass a checkpoint file, or a folder \`rolling train --out\` trained into`);
  }
  return inside;
}

/**
 * The settings of Algorithm 1 and of sampling (issue 16): `train` takes them over the preset's and
 * stores them all in the checkpoint; `rollout` takes them only to check them against the checkpoint,
 * so a script can pass the same flags to both and a contradiction is an error, never a silent choice.
 */
function settingOptions(role: 'train' | 'rollout') {
  // train: the preset's value, or the default of a setting presets do not name; rollout: the checkpoint's, checked.
  const fallback = (settingDefault = "the preset's") => (role === 'train' ? settingDefault : "the checkpoint's");
  const note = role === 'train' ? '' : "; must equal the checkpoint's (checked)";
  return {
    window: { codec: numberFrom('a positive integer', true, 1, 1024), value: 'W', defaultText: fallback(), help: `frames in the sliding window, W${note}` },
    'clean-frames': { codec: numberFrom('a non-negative integer', true, 0, 1023), value: 'N', defaultText: fallback(), help: `clean conditioning frames, n_cln < W${note}` },
    'linear-probability': { codec: numberFrom('a number in [0, 1]', false, 0, 1), value: 'P', defaultText: fallback(), help: `probability of the linear local times (Eq. 22) in Algorithm 1; the boundary map gets the rest${note}` },
    'init-schedule': { codec: oneOf(INIT_SCHEDULES), value: 'NAME', defaultText: fallback(SETTING_DEFAULTS.initSchedule), help: `boundary local times of training and of Algorithm 3: ${INIT_SCHEDULES.map((n) => `${n} (${LOCAL_TIME_MAPS[n === 'clip' ? 'init' : n].equation})`).join(' or ')}${note}` },
    'logsnr-min': { codec: numberFrom('a number in [-100, 100]', false, -100, 100), value: 'L', defaultText: fallback(String(SETTING_DEFAULTS.logSnrMin)), help: `λ(1) of the truncated cosine noise schedule (a negative value is written --logsnr-min=-15)${note}` },
    'logsnr-max': { codec: numberFrom('a number in [-100, 100]', false, -100, 100), value: 'L', defaultText: fallback(String(SETTING_DEFAULTS.logSnrMax)), help: `λ(0) of the truncated cosine noise schedule${note}` },
    'logsnr-shift': { codec: numberFrom('a number in [-100, 100]', false, -100, 100), value: 'S', defaultText: fallback(String(SETTING_DEFAULTS.logSnrShift)), help: `added to λ(t) everywhere: simple diffusion's resolution shift 2 log(d_ref / d), e.g. 1.386 for 32-pixel frames against d_ref = 64${note}` },
  } as const;
}

const TRAIN_SETTINGS = settingOptions('train');
const ROLLOUT_SETTINGS = settingOptions('rollout');

type SettingFlags = Partial<Options<typeof TRAIN_SETTINGS>>;

/** Each setting option given, as [flag, the preset field it sets, its value]. */
function givenSettings(o: SettingFlags): [string, keyof FullPreset, string | number][] {
  const fields: [keyof SettingFlags, keyof FullPreset][] = [['window', 'window'], ['clean-frames', 'cleanFrames'], ['linear-probability', 'linearProbability'], ['init-schedule', 'initSchedule'], ['logsnr-min', 'logSnrMin'], ['logsnr-max', 'logSnrMax'], ['logsnr-shift', 'logSnrShift']];
  return fields.flatMap(([flag, field]) => (o[flag] === undefined ? [] : [[`--${flag}`, field, o[flag]!] as [string, keyof FullPreset, string | number]]));
}

/** The preset with the setting options given on the command line, every setting written out; a combination that cannot train is a usage error. */
function presetWithSettings(base: Preset, o: SettingFlags): FullPreset {
  const preset = withSettingDefaults({ ...base, ...Object.fromEntries(givenSettings(o).map(([, field, value]) => [field, value])) });
  if (preset.cleanFrames >= preset.window) {
    throw new UsageError(`--clean-frames ${preset.cleanFrames} with --window ${preset.window}: the clean frames must be fewer than the window's frames (the preset ${base.name} has ${base.cleanFrames} of ${base.window})`);
  }
  // A checkpoint whose window is longer than its preset's clips is refused when loaded (checkpointMetadata.ts).
  if (preset.window > preset.clipLength) {
    throw new UsageError(`--window ${preset.window}: longer than the ${preset.clipLength}-frame clips of the preset ${base.name}; pass a window of at most ${preset.clipLength}, or a preset with longer clips`);
  }
  if (preset.logSnrMin >= preset.logSnrMax) throw new UsageError(`--logsnr-min ${preset.logSnrMin} and --logsnr-max ${preset.logSnrMax}: the minimum must be below the maximum`);
  return preset;
}

/**
 * Sampling uses the settings a checkpoint was trained with; a setting option (or --mode) that says
 * otherwise is a usage error naming both values, not a quiet override.
 */
function checkSettingsAgree(checkpoint: string, preset: FullPreset, mode: TrainMode, o: SettingFlags & { mode?: TrainMode }): void {
  const given: [string, string | number, string | number][] = givenSettings(o).map(([flag, field, value]) => [flag, value, preset[field] as string | number]);
  if (o.mode !== undefined) given.unshift(['--mode', o.mode, mode]);
  const contradictions = given.filter(([, value, trained]) => value !== trained);
  if (contradictions.length > 0) {
    throw new UsageError(`rolling rollout: ${checkpoint} was trained with ${contradictions.map(([flag, , trained]) => `${flag} ${trained}`).join(', ')}, but ${contradictions.map(([flag, value]) => `${flag} ${value}`).join(', ')} was given; a model samples with the settings it was trained with: drop ${contradictions.length === 1 ? 'that option' : 'those options'}, or pass the checkpoint's values`);
  }
}

const TRAIN_OPTIONS = {
  out: { codec: t.string, value: 'DIR', required: true, help: 'run folder: checkpoint.safetensors and train-log.json are written there' },
  preset: { codec: oneOf(presetNames()), value: 'NAME', default: 'shapes', help: `model, data and training settings: ${presetNames().join(', ')}` },
  data: { codec: t.string, value: 'DATA', defaultText: "the preset's data set", help: 'shapes, mnist, kolmogorov or a PATH (see Data below)' },
  mode: { codec: Mode, value: 'MODE', default: 'rolling', help: 'rolling, standard (block-autoregressive) diffusion, or mse (the deterministic baseline of Table 8: the same U-ViT predicts the W − n_cln frames after n_cln with an MSE loss)' },
  steps: { codec: PositiveInt, value: 'N', defaultText: "the preset's", help: 'training steps' },
  'learning-rate': { codec: PositiveNumber, value: 'LR', defaultText: "the preset's", help: 'peak learning rate of the warmup-cosine schedule (a resumed run must keep it)' },
  ...TRAIN_SETTINGS,
  seed: SEED_OPTION,
  resume: { codec: Switch, kind: 'switch', help: 'continue the checkpoint in --out (bit for bit as an uninterrupted run)' },
  force: { codec: Switch, kind: 'switch', help: 'train over a checkpoint already in --out' },
  'checkpoint-every': { codec: PositiveInt, value: 'N', defaultText: "the preset's", help: 'steps between checkpoints' },
  'checkpoint-blocks': { codec: Switch, kind: 'switch', help: 'recompute each U-ViT block in the backward pass instead of keeping its values: about half the memory, a third more time (same gradients)' },
  eager: { codec: Switch, kind: 'switch', help: 'run each step op by op instead of compiled with jit (the same values, slower; --debug-nans implies it)' },
  backend: BACKEND_OPTION,
  'debug-nans': DEBUG_NANS_OPTION,
} as const satisfies OptionTable;

async function cmdTrain(o: Options<typeof TRAIN_OPTIONS>): Promise<void> {
  await useBackend(o.backend, o['debug-nans']);
  const lr = o['learning-rate'];
  const preset = presetWithSettings(lr === undefined ? PRESETS[o.preset]! : { ...PRESETS[o.preset]!, learningRate: lr }, o);
  if (o.mode === 'mse' && preset.cleanFrames < 1) throw new UsageError(`--mode mse needs at least one clean frame to predict from: pass --clean-frames 1 or more (the paper's MSE rows use 2)`);
  await checkRunFolder(o.out, o);
  const dataset = await loadData(preset, o.data, { seed: o.seed, clips: preset.clips, use: { command: 'train' } });
  checkDataFits(preset, dataset);
  const steps = o.steps ?? preset.steps;
  const bar = progressBar(`train (${o.mode}, ${getBackendName()})`, steps);
  const { log } = await train({ preset, dataset, out: resolve(o.out), seed: o.seed, mode: o.mode, steps, resume: o.resume, checkpointEvery: o['checkpoint-every'], checkpointBlocks: o['checkpoint-blocks'], jit: !o.eager, onStep: (step, loss) => bar.update(step, { loss }) });
  bar.done(`checkpoint: ${join(resolve(o.out), CHECKPOINT)} (${log.losses.length} steps, final loss ${log.losses.at(-1)?.toFixed(4)}, peak memory ${peakMemory()})`);
}

/** The process's peak resident memory (the kernel's high-water mark: wasm heap, JS heap and all). */
function peakMemory(): string {
  const bytes = process.resourceUsage().maxRSS * 1024;
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

interface RolloutResult {
  generated: Float32Array;
  truth: Float32Array | null;
  frames: number;
  frameShape: [number, number, number];
}

async function rolloutToFiles(o: { checkpoint: string; out: string; frames: number; clip: number; stepsPerFrame?: number; sampler?: 'ddpm' | 'ddim'; seed: number; data?: string; mode?: TrainMode; settings?: SettingFlags }): Promise<RolloutResult> {
  const ck = await asInput(`--checkpoint ${o.checkpoint}`, () => loadForSampling(resolve(o.checkpoint)));
  const { preset, frameShape } = ck;
  try {
    checkSettingsAgree(o.checkpoint, preset, ck.mode, { ...o.settings, mode: o.mode });
  } catch (e) {
    dispose(ck.params);
    throw e;
  }
  // A generated held-out set needs only clips 0 … --clip (each clip is seeded by its index alone).
  const use = { command: 'rollout', checkpoint: o.checkpoint, trainedOn: trainedOn(ck.metadata, preset), frameShape } as const;
  const dataset = await loadData(preset, o.data, { seed: 1_000 + o.seed, clips: o.clip + 1, use });
  const [h, w, c] = frameShape;
  const available = dataset.clipLength - preset.cleanFrames;
  const truthFrames = Math.min(o.frames, available);
  const clip = clipTensor(dataset, o.clip, preset.cleanFrames + truthFrames);
  const context = tidy(() => sliceAxis(clip, 1, 0, preset.cleanFrames));
  const bar = progressBar(`rollout (${ck.mode})`, o.frames);
  const video = await generate({ model: ck.model, params: ck.params, preset, mode: ck.mode, context, frames: o.frames, stepsPerFrame: o.stepsPerFrame ?? preset.stepsPerFrame, key: key(o.seed), sampler: o.sampler, onFrame: (i) => bar.update(i) });
  bar.done();
  const generated = (await video.toArray()) as Float32Array;
  checkGenerated(generated, o.checkpoint);
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
  // The GIF is enlarged as the PNG is: a 16-pixel frame shown at its own size is too small to see.
  const scale = h <= 16 ? 4 : h <= 32 ? 2 : 1;
  await writeGif(join(o.out, 'rollout.gif'), { width: gw * scale, height: h * scale, channels: outC, frames: gifFrames.map((f) => upscaleNearest(f, gw, h, outC, scale)), delayMs: 150 });
  const rows = truth ? [generated, padFrames(truth, truthFrames, o.frames, fs)] : [generated];
  await writePng(join(o.out, 'rollout.png'), frameGrid(rows, o.frames, h, w, c, scale));
  await writeNpy(join(o.out, 'rollout.npy'), { shape: [o.frames, h, w, c], data: generated });
  return { generated, truth, frames: o.frames, frameShape };
}

/**
 * Generated frames must be finite: NaN frames written as pictures look black and score as numbers.
 * The checkpoint's weights were checked finite when it was loaded, so an op overflowed while sampling.
 */
function checkGenerated(values: Float32Array, checkpoint: string): void {
  let bad = 0;
  for (const v of values) if (!Number.isFinite(v)) bad++;
  if (bad > 0) {
    throw new Error(`${bad} of ${values.length} generated values are NaN or ±Infinity${bad === values.length ? ' (all of them)' : ''}, so nothing was written. The weights of ${checkpoint} are finite, so an op overflowed while sampling (weights too large: the training diverged?); rerun with --debug-nans to name the op, or sample from an earlier checkpoint`);
  }
}

function padFrames(a: Float32Array, have: number, want: number, fs: number): Float32Array {
  if (have >= want) return a;
  const out = new Float32Array(want * fs).fill(-1);
  out.set(a.subarray(0, have * fs));
  return out;
}

const DATA_OPTION = { codec: t.string, value: 'DATA', defaultText: 'held-out clips of the data set the checkpoint was trained on', help: 'where the context frames and ground truth come from (see Data below)' } as const;
const STEPS_PER_FRAME_OPTION = { codec: PositiveInt, value: 'K', defaultText: "the checkpoint's preset's", help: 'denoising steps per generated frame' } as const;

const ROLLOUT_OPTIONS = {
  checkpoint: { codec: t.string, value: 'PATH', required: true, help: 'a checkpoint.safetensors, or the run folder `rolling train --out` wrote it to' },
  out: { codec: t.string, value: 'DIR', required: true, help: 'folder for rollout.gif, rollout.png and rollout.npy' },
  frames: { codec: PositiveInt, value: 'N', default: 16, help: 'frames to generate after the clean context frames' },
  clip: { codec: NonNegativeInt, value: 'I', default: 0, help: 'the held-out clip whose first frames are the context' },
  'steps-per-frame': STEPS_PER_FRAME_OPTION,
  sampler: { codec: Sampler, value: 'NAME', default: 'ddpm', help: 'ddpm or ddim' },
  seed: SEED_OPTION,
  data: DATA_OPTION,
  mode: { codec: Mode, value: 'MODE', defaultText: "the checkpoint's", help: "rolling, standard or mse; must equal the mode the checkpoint was trained in (checked)" },
  ...ROLLOUT_SETTINGS,
  backend: BACKEND_OPTION,
  'debug-nans': DEBUG_NANS_OPTION,
} as const satisfies OptionTable;

async function cmdRollout(o: Options<typeof ROLLOUT_OPTIONS>): Promise<void> {
  await useBackend(o.backend, o['debug-nans']);
  const checkpoint = await checkpointPath('checkpoint', o.checkpoint);
  const out = resolve(o.out);
  const r = await rolloutToFiles({ checkpoint, out, frames: o.frames, clip: o.clip, stepsPerFrame: o['steps-per-frame'], sampler: o.sampler, seed: o.seed, data: o.data, mode: o.mode, settings: o });
  console.log(`wrote ${join(out, 'rollout.gif')}, ${join(out, 'rollout.png')} (generated above ground truth) and ${join(out, 'rollout.npy')} [${[r.frames, ...r.frameShape].join(', ')}] (frames, height, width, channels)`);
}

/** Roll out the first `clips` clips of the held-out `dataset` with a checkpoint; returns generated and real [clips, frames, …]. */
async function rolloutMany(checkpoint: string, dataset: VideoDataset, clips: number, frames: number, stepsPerFrame: number | undefined, seed: number, label: string) {
  const ck = await asInput(`--${label.replace('eval ', '')} ${checkpoint}`, () => loadForSampling(resolve(checkpoint)));
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
    const frameValues = (await video.toArray()) as Float32Array;
    checkGenerated(frameValues, checkpoint);
    gen.set(frameValues, i * frames * fs);
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
async function checkComparable(rolling: string, standard: string, mse?: string): Promise<Record<string, string>> {
  const read = async (flag: string, path: string) => {
    try {
      return await readCheckpointMetadata(resolve(path));
    } catch (e) {
      throw new UsageError(`--${flag} ${path}: ${(e as Error).message}`);
    }
  };
  const a = await read('rolling', rolling);
  const b = await read('standard', standard);
  if (mse !== undefined) {
    const m = await read('mse', mse);
    if (m.mode !== 'mse') throw new UsageError(`rolling eval: --mse ${mse} was trained in ${m.mode} mode, not mse; pass a checkpoint trained with --mode mse`);
    // The MSE model needs the same data, frames and clean frames; its window (how many frames it predicts at once) may differ.
    const pm = JSON.parse(m.preset!) as Preset;
    const pa0 = JSON.parse(a.preset!) as Preset;
    const problems = [
      trainedOn(m, pm) !== trainedOn(a, pa0) ? `data '${trainedOn(a, pa0)}' against '${trainedOn(m, pm)}'` : '',
      m.frameShape !== a.frameShape ? `frame shape [${JSON.parse(a.frameShape!)}] against [${JSON.parse(m.frameShape!)}]` : '',
      pm.cleanFrames !== pa0.cleanFrames ? `clean frames ${pa0.cleanFrames} against ${pm.cleanFrames}` : '',
    ].filter((x) => x !== '');
    if (problems.length > 0) throw new UsageError(`rolling eval: --rolling ${rolling} and --mse ${mse} are not comparable: ${problems.join('; ')}. Train the MSE model on the same --data with the same --clean-frames.`);
  }
  const differences: string[] = [];
  const pa = JSON.parse(a.preset!) as Preset;
  const pb = JSON.parse(b.preset!) as Preset;
  const dataA = trainedOn(a, pa);
  const dataB = trainedOn(b, pb);
  if (dataA !== dataB) differences.push(`data '${dataA}' against '${dataB}'`);
  if (a.frameShape !== b.frameShape) differences.push(`frame shape [${JSON.parse(a.frameShape!)}] against [${JSON.parse(b.frameShape!)}]`);
  // The Bernoulli rate and the boundary map shape rolling training only; the rest must agree (settings a checkpoint predates count as their defaults).
  const presets = presetDifferences(pa, pb, ROLLING_ONLY_SETTINGS);
  if (presets.length > 0) differences.push(`preset ${presets.join(', ')}`);
  for (const [flag, path, m, want] of [['rolling', rolling, a, 'rolling'], ['standard', standard, b, 'standard']] as const) {
    if (m.mode !== want) throw new UsageError(`rolling eval: --${flag} ${path} was trained in ${m.mode} mode, not ${want}; eval compares a rolling checkpoint (--rolling) with a standard one (--standard)`);
  }
  if (differences.length > 0) {
    throw new UsageError(`rolling eval: --rolling ${rolling} and --standard ${standard} are not comparable: ${differences.join('; ')}. Train both with the same --preset and --data.`);
  }
  return a;
}

const EVAL_OPTIONS = {
  rolling: { codec: t.string, value: 'PATH', required: true, help: 'checkpoint (or run folder) of the rolling model' },
  standard: { codec: t.string, value: 'PATH', required: true, help: 'checkpoint (or run folder) of the standard model, same --preset and --data' },
  mse: { codec: t.string, value: 'PATH', defaultText: 'none', help: 'checkpoint (or run folder) of an MSE baseline (--mode mse) to score beside them: same --data and --clean-frames' },
  out: { codec: t.string, value: 'DIR', required: true, help: 'folder for eval.json and eval.png' },
  clips: { codec: PositiveInt, value: 'N', default: 8, help: 'held-out clips to roll out with each model' },
  frames: { codec: PositiveInt, value: 'N', default: 16, help: 'frames to generate per clip' },
  'steps-per-frame': STEPS_PER_FRAME_OPTION,
  seed: SEED_OPTION,
  data: DATA_OPTION,
  backend: BACKEND_OPTION,
  'debug-nans': DEBUG_NANS_OPTION,
} as const satisfies OptionTable;

async function cmdEval(o: Options<typeof EVAL_OPTIONS>): Promise<void> {
  await useBackend(o.backend, o['debug-nans']);
  const { clips, frames, seed } = o;
  const rolling = await checkpointPath('rolling', o.rolling);
  const standard = await checkpointPath('standard', o.standard);
  const mse = o.mse === undefined ? undefined : await checkpointPath('mse', o.mse);
  const metadata = await checkComparable(rolling, standard, mse);
  const preset = JSON.parse(metadata.preset!) as Preset;
  // One held-out set for both models, so both are scored on the same clips.
  const use = { command: 'eval', checkpoint: rolling, trainedOn: trainedOn(metadata, preset), frameShape: JSON.parse(metadata.frameShape!) as number[] } as const;
  const dataset = await loadData(preset, o.data, { seed: 1_000 + seed, clips, use });
  if (dataset.clipLength < preset.cleanFrames + frames) throw new UsageError(`--frames ${frames}: held-out clips have ${dataset.clipLength} frames, so at most ${dataset.clipLength - preset.cleanFrames} can be compared`);
  const results: Record<string, StepMetrics[]> = {};
  let shape: [number, number, number] = [0, 0, 0];
  for (const [label, path] of [['rolling', rolling], ['standard', standard], ...(mse === undefined ? [] : [['mse', mse] as const])] as const) {
    const r = await rolloutMany(path, dataset, clips, frames, o['steps-per-frame'], seed, `eval ${label}`);
    shape = r.frameShape;
    results[label] = stepMetrics(r.real, r.gen, clips, frames, ...r.frameShape);
  }
  const rows = results.rolling!.map((m, i) => ({
    step: m.step,
    'MSE rolling': m.mse,
    'MSE standard': results.standard![i]!.mse,
    ...(results.mse ? { 'MSE mse': results.mse[i]!.mse } : {}),
    'FSD rolling': m.fsd,
    'FSD standard': results.standard![i]!.fsd,
    ...(results.mse ? { 'FSD mse': results.mse[i]!.fsd } : {}),
  }));
  const out = resolve(o.out!);
  await mkdir(out, { recursive: true });
  await writeFileAtomic(join(out, 'eval.json'), JSON.stringify({ clips, frames, frameShape: shape, stepsPerFrame: o['steps-per-frame'] ?? null, note: 'FVD is not reported: it needs I3D weights that cannot be downloaded here.', results }, null, 2));
  const chart = stackImages([
    lineChart('MSE PER STEP', Object.entries(results).map(([label, r]) => ({ label: label.toUpperCase(), values: r.map((m) => m.mse) }))),
    lineChart('FSD PER STEP', Object.entries(results).map(([label, r]) => ({ label: label.toUpperCase(), values: r.map((m) => m.fsd ?? NaN) }))),
  ]);
  await writePng(join(out, 'eval.png'), chart);
  console.log(formatTable(rows));
  console.log(`\nwrote ${join(out, 'eval.json')} and ${join(out, 'eval.png')}`);
}

/** `K/N` with 1 ≤ K ≤ N: one of N processes filling a cache. */
const PartCodec = new t.Type<string, string, unknown>(
  'K/N',
  (u): u is string => typeof u === 'string',
  (u, c) => {
    const m = typeof u === 'string' ? /^([1-9][0-9]*)\/([1-9][0-9]*)$/.exec(u) : null;
    return m !== null && Number(m[1]) <= Number(m[2]) ? t.success(u as string) : t.failure(u, c, `expected K/N with 1 ≤ K ≤ N (e.g. 1/2 and 2/2 in two shells), got ${JSON.stringify(u)}`);
  },
  (v) => v,
);

const DATA_COMMAND_OPTIONS = {
  out: { codec: t.string, value: 'DIR', required: true, help: `folder for the kolmogorov-NNNN.npy shards and ${CACHE_MANIFEST}; a stopped run resumes at the first missing shard` },
  clips: { codec: PositiveInt, value: 'N', default: 8, help: 'clips per shard' },
  shards: { codec: PositiveInt, value: 'N', default: 1, help: 'shards (files) to write' },
  frames: { codec: PositiveInt, value: 'N', default: 32, help: 'frames per clip' },
  size: { codec: PositiveInt, value: 'N', default: 32, help: 'frame height and width (a power of two)' },
  seed: SEED_OPTION,
  'simulation-size': { codec: PositiveInt, value: 'N', defaultText: '--size', help: 'solver grid (a power of two ≥ --size; Fourier-truncated to --size)' },
  warmup: { codec: NonNegativeNumber, value: 'T', default: KOLMOGOROV_DEFAULTS.warmup, help: 'simulated time discarded before frame 0' },
  'frame-interval': { codec: PositiveNumber, value: 'T', default: KOLMOGOROV_DEFAULTS.frameInterval, help: 'simulated time between frames' },
  part: { codec: PartCodec, value: 'K/N', default: '1/1', help: 'simulate only every N-th shard, starting with the K-th: run K = 1 … N in N shells to use N cores on one cache' },
  'held-out': { codec: NonNegativeInt, value: 'N', default: 0, help: `held-out trajectories for evaluation, written to DIR/${HELD_OUT_FOLDER} (seeded apart from the training ones)` },
} as const satisfies OptionTable;

async function cmdData(positional: string[], o: Options<typeof DATA_COMMAND_OPTIONS>): Promise<void> {
  if (positional[0] !== 'kolmogorov') throw new UsageError(`rolling data: the only generated data set is 'kolmogorov' (shapes are generated on the fly); got ${positional[0] ?? 'nothing'}`);
  const { clips, shards, frames, size } = o;
  const simulationSize = o['simulation-size'] ?? size;
  if (!isPowerOfTwo(size)) throw new UsageError(`--size ${size}: the spectral solver needs a power of two`);
  if (!isPowerOfTwo(simulationSize) || simulationSize < size) {
    throw new UsageError(`--simulation-size ${simulationSize}: must be a power of two at least --size ${size} (frames are Fourier-truncated to --size)`);
  }
  if (clips * shards > MAX_TRAJECTORIES || o['held-out'] > MAX_TRAJECTORIES) throw new UsageError(`--clips × --shards (${clips * shards}) and --held-out (${o['held-out']}) must each be at most ${MAX_TRAJECTORIES}`);
  const spec = { size, simulationSize, frames, warmup: o.warmup, frameInterval: o['frame-interval'], trajectories: clips * shards, heldOut: o['held-out'], perShard: clips, seed: o.seed };
  const out = resolve(o.out!);
  const [index, count] = o.part.split('/').map(Number) as [number, number];
  // The bar counts this part's trajectories, which the cache knows.
  let bar: Progress | undefined;
  const r = await buildKolmogorovCache(out, spec, { onTrajectory: (done, total) => (bar ??= progressBar(count > 1 ? `kolmogorov (part ${o.part})` : 'kolmogorov', total)).update(done), part: { index, count } });
  const heldOut = spec.heldOut > 0 ? ` and ${spec.heldOut} held-out trajectories to ${r.heldOut}` : '';
  const resumed = r.cached > 0 ? ` (${r.cached} were cached, ${r.simulated} simulated now)` : '';
  const share = count > 1 ? `part ${o.part} of ` : '';
  const message = `wrote ${share}${shards} shard(s) of ${clips} clips [${frames}, ${size}, ${size}, 2] to ${out}${heldOut}${resumed} (simulated on ${simulationSize}², ${spec.warmup} time units discarded, a frame every ${spec.frameInterval})`;
  if (bar) bar.done(message);
  else process.stderr.write(`${message}\n`);
}

const REPRODUCE_OPTIONS = {
  out: { codec: t.string, value: 'DIR', required: true, help: 'folder for the data cache, every run (checkpoint and result.json), table.md, results.json and figure4.png; run the same command again to resume' },
  scale: { codec: oneOf(['tiny', 'small', 'paper'] as const), value: 'NAME', default: 'small', help: `tiny (${REPRODUCE_SCALES.tiny.description}), small (${REPRODUCE_SCALES.small.description}) or paper (${REPRODUCE_SCALES.paper.description})` },
  seeds: { codec: numberFrom('an integer in [1, 20]', true, 1, 20), value: 'N', defaultText: "the scale's (2 for tiny and small)", help: 'training seeds per row; the table shows their mean ± sample sd' },
  data: { codec: t.string, value: 'DIR', defaultText: 'DIR/data', help: 'the Kolmogorov cache to use or fill (as `rolling data kolmogorov` writes it, with held-out/)' },
  backend: BACKEND_OPTION,
} as const satisfies OptionTable;

async function cmdReproduce(positional: string[], o: Options<typeof REPRODUCE_OPTIONS>): Promise<void> {
  if (positional[0] !== 'kolmogorov') throw new UsageError(`rolling reproduce: the only experiment is 'kolmogorov' (Table 8 and Figure 4); got ${positional[0] === undefined ? 'nothing' : `'${positional[0]}'`}: run \`rolling reproduce kolmogorov --out DIR\``);
  await useBackend(o.backend);
  const scale = REPRODUCE_SCALES[o.scale];
  const out = resolve(o.out);
  console.log(`reproduce kolmogorov at scale '${scale.name}': ${scale.description}; ${TABLE_8_ROWS.length} rows × ${o.seeds ?? scale.seeds} seeds on ${getBackendName()}`);
  const r = await reproduceKolmogorov({ out, scale, seeds: o.seeds, data: o.data === undefined ? undefined : resolve(o.data) });
  console.log(`\n${r.table}\n`);
  console.log(`trained ${r.trained} run(s), evaluated ${r.evaluated}, skipped ${r.skipped} finished; wrote ${r.files.table}, ${r.files.json} and ${r.files.figure}`);
}

/** How to fill a scale's data cache on its own (e.g. on another machine) with `rolling data`: the same settings, so reproduce reads it. */
function reproduceNotes(): string {
  const lines = (['small', 'paper'] as const).map((name) => {
    const d = REPRODUCE_SCALES[name].data;
    return `  --scale ${name}: rolling data kolmogorov --out DIR/data --clips ${d.perShard} --shards ${d.trajectories / d.perShard} --frames ${d.frames} --size ${d.size} --simulation-size ${d.simulationSize} --warmup ${d.warmup} --frame-interval ${d.frameInterval} --held-out ${d.heldOut}`;
  });
  return `The data cache can be filled beforehand with the same settings (add --part 1/2 and --part 2/2 in two shells to use two cores):\n${lines.join('\n')}\nFSD and MSE are reported on the stored scale (velocity / 7); multiply by 49 for physical units.`;
}

const VECTORS_OPTIONS = {
  out: { codec: t.string, value: 'FILE', required: true, help: 'the JSON file to write, e.g. test/fixtures/golden.json' },
} as const satisfies OptionTable;

async function cmdVectors(o: Options<typeof VECTORS_OPTIONS>): Promise<void> {
  const { writeGoldenVectors } = await import('./goldenVectors.js');
  await writeGoldenVectors(resolve(o.out!));
  console.log(`wrote ${resolve(o.out!)}`);
}

/** The README's main job: train a tiny rolling model, roll out twice the window, write pictures and metrics. */
const DEMO_OPTIONS = {
  out: { codec: t.string, value: 'DIR', required: true, help: 'folder for the checkpoint, rollout.gif/png/npy, metrics.json and losses.csv' },
  steps: { codec: PositiveInt, value: 'N', default: PRESETS.demo!.steps, help: 'training steps' },
  seed: SEED_OPTION,
  resume: TRAIN_OPTIONS.resume,
  force: TRAIN_OPTIONS.force,
  backend: BACKEND_OPTION,
  'debug-nans': DEBUG_NANS_OPTION,
} as const satisfies OptionTable;

async function cmdDemo(o: Options<typeof DEMO_OPTIONS>): Promise<void> {
  await useBackend(o.backend, o['debug-nans']);
  const preset = PRESETS.demo!;
  await checkRunFolder(o.out, o);
  const seed = o.seed;
  const out = resolve(o.out!);
  const steps = o.steps;
  const patch = preset.patchSize ?? 4;
  const layout = `${patch === 1 ? 'pixel level' : `${patch}×${patch} patches`}${preset.channels ? `, conv widths ${preset.channels.join('/')}` : ''}`;
  console.log(`demo: training the tiny U-ViT (${layout}) with rolling diffusion on ${preset.data === 'mnist' ? 'moving MNIST' : `moving ${preset.data}`} (${preset.size}×${preset.size}, window ${preset.window}, ${preset.cleanFrames} clean frames) for ${steps} steps on ${getBackendName()}`);
  const dataset = await loadData(preset, undefined, { seed, clips: preset.clips, use: { command: 'train' } });
  const bar = progressBar('train', steps);
  const started = Date.now();
  const { log } = await train({ preset, dataset, out, seed, mode: 'rolling', steps, resume: o.resume, onStep: (step, loss) => bar.update(step, { loss }) });
  bar.done();
  const frames = 2 * preset.window;
  const r = await rolloutToFiles({ checkpoint: join(out, CHECKPOINT), out, frames, clip: 0, seed, stepsPerFrame: preset.stepsPerFrame });
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

/** The mean of the known values (a resumed log records losses it lost as NaN). */
function mean(all: readonly number[]): number {
  const a = all.filter(Number.isFinite);
  return a.reduce((s, v) => s + v, 0) / Math.max(a.length, 1);
}

interface Command<T extends OptionTable> {
  readonly summary: string;
  readonly usage: string;
  /** How many positional words it takes; more are refused. */
  readonly positional: number;
  readonly options: T;
  readonly notes?: string;
  readonly run: (positional: string[], options: Options<T>) => Promise<void>;
}

const command = <T extends OptionTable>(c: Command<T>): Command<OptionTable> => c as unknown as Command<OptionTable>;
const DATA_NOTES = `Data (--data): ${DATA_FORMATS}.`;

/** The commands: what each does, its options, how many positional words it takes, and what runs it. */
const COMMANDS: Readonly<Record<string, Command<OptionTable>>> = {
  train: command({ summary: 'train a rolling (or standard) diffusion model, or the MSE baseline; writes checkpoint.safetensors', usage: 'rolling train --out DIR [options]', positional: 0, options: TRAIN_OPTIONS, notes: DATA_NOTES, run: (_, o) => cmdTrain(o) }),
  rollout: command({ summary: 'generate frames from a checkpoint after held-out context frames; writes rollout.gif/png/npy', usage: 'rolling rollout --checkpoint PATH --out DIR [options]', positional: 0, options: ROLLOUT_OPTIONS, notes: DATA_NOTES, run: (_, o) => cmdRollout(o) }),
  eval: command({ summary: 'compare a rolling and a standard checkpoint (and an MSE baseline) on held-out clips (MSE and FSD per step)', usage: 'rolling eval --rolling PATH --standard PATH [--mse PATH] --out DIR [options]', positional: 0, options: EVAL_OPTIONS, notes: DATA_NOTES, run: (_, o) => cmdEval(o) }),
  data: command({ summary: 'simulate Kolmogorov flow clips into .npy shards for --data', usage: 'rolling data kolmogorov --out DIR [options]', positional: 1, options: DATA_COMMAND_OPTIONS, run: cmdData }),
  reproduce: command({ summary: "train and score Table 8's Kolmogorov rows (MSE, standard, rolling; several seeds); writes table.md, results.json and figure4.png", usage: 'rolling reproduce kolmogorov --out DIR [--scale tiny|small|paper] [options]', positional: 1, options: REPRODUCE_OPTIONS, notes: reproduceNotes(), run: cmdReproduce }),
  vectors: command({ summary: 'write the golden test vectors (JSON) other implementations can check against', usage: 'rolling vectors --out FILE', positional: 0, options: VECTORS_OPTIONS, run: (_, o) => cmdVectors(o) }),
  demo: command({ summary: 'train the tiny demo model, roll out twice its window, write pictures and metrics', usage: 'rolling demo --out DIR [options]', positional: 0, options: DEMO_OPTIONS, run: (_, o) => cmdDemo(o) }),
};

function helpOf(name: string): string {
  const c = COMMANDS[name]!;
  return formatHelp(name, c.summary, c.usage, c.options, c.notes);
}

/** The package's version, from the package.json above this module (in the source tree or in dist/). */
async function packageVersion(): Promise<string> {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const text = await readFile(join(dir, 'package.json'), 'utf8').catch(() => undefined);
    if (text !== undefined) {
      const pkg = JSON.parse(text) as { name?: string; version?: string };
      if (pkg.name === 'rolling-diffusion' && pkg.version) return pkg.version;
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/**
 * Runs `rolling <argv>` and returns the exit status: 0 on success, 2 for a usage or input error
 * (printed without a stack: bad options, missing or unreadable files named by their path, data that
 * does not fit), 1 when a command fails while running.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === '--version' || name === '-v' || name === '-V') {
      console.log(`rolling ${await packageVersion()}`);
      return 0;
    }
    if (name === undefined) {
      console.error(usage());
      return 2;
    }
    if (name === 'help' || name === '--help' || name === '-h') {
      const topic = rest[0];
      if (topic !== undefined && !Object.hasOwn(COMMANDS, topic)) throw new UsageError(`rolling help: unknown command '${topic}'\n\n${usage()}`);
      console.log(topic === undefined ? usage() : helpOf(topic));
      return 0;
    }
    const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name]! : undefined;
    if (!cmd) throw new UsageError(`rolling: unknown command '${name}'\n\n${usage()}`);
    const parsed = parseCommand(name, cmd.options, rest);
    if (isLeft(parsed)) throw new UsageError(`rolling ${name}: invalid options\n${parsed.left}\n\nRun \`rolling ${name} --help\` for its options.`);
    if (parsed.right.help) {
      console.log(helpOf(name));
      return 0;
    }
    const { positional, options } = parsed.right;
    const stray = positional.slice(cmd.positional);
    if (stray.length > 0) {
      throw new UsageError(`rolling ${name}: unexpected argument${stray.length > 1 ? 's' : ''} ${stray.map((a) => `'${a}'`).join(' ')}; options are written --name value (run \`rolling ${name} --help\` for its options)`);
    }
    await cmd.run(positional, options);
    return 0;
  } catch (e) {
    const file = fileErrorMessage(e);
    if (e instanceof UsageError || e instanceof CheckpointError || e instanceof RunLockError || e instanceof CacheError || e instanceof ReproduceError || file !== undefined) {
      console.error(e instanceof UsageError ? e.message : e instanceof CheckpointError || e instanceof RunLockError || e instanceof CacheError || e instanceof ReproduceError ? `rolling ${name}: ${e.message}` : `rolling ${name}: ${file}`);
      return 2;
    }
    console.error(`rolling ${name}: ${(e as Error).message}`);
    return 1;
  } finally {
    setDebugNans(false);
  }
}

const invokedDirectly = process.argv[1] !== undefined && /experiments[\\/]cli[\\/]cli\.ts$/.test(process.argv[1]);
if (invokedDirectly) main(process.argv.slice(2)).then((code) => process.exit(code));

