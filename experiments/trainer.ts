/**
 * The training loop of `rolling train`: Algorithm 1 (or the standard-diffusion baseline) with Adam,
 * gradient clipping, an EMA of the weights, atomic checkpoints and exact resume.
 *
 * Exactness of resume: the batch and the noise of step k are functions of (seed, k) alone, and a
 * checkpoint holds the parameters, the optimizer state (its step count included) and the EMA, all
 * float32 stored bit-exactly. So 10 steps + resume + 10 steps equals 20 steps straight.
 */
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { dispose, foldIn, key, keep, mul, reshape, scalar, stack, sum, tidy, treeFlatten, treeLeaves, type Tensor } from '../core/index.js';
import { disposeStale, ema, loadSafetensors, readSafetensorsMetadata, saveSafetensors } from '../nn/index.js';
import { writeFileAtomic } from './formats/atomicWrite.js';
import { CheckpointError, decodeCheckpointMetadata } from './checkpointMetadata.js';
import { lockRunFolder, removeStaleTemporaries } from './runLock.js';
import { sampleBatch, type VideoDataset } from './data/datasets.js';
import { buildModel, type DenoiserNetwork } from './model.js';
import { presetDifferences, withSettingDefaults, type FullPreset, type Preset } from './presets.js';
import { createTrainingStep, optimizerFor, type TrainMode } from './step.js';

// The step itself lives in step.ts (browser-safe: the web page runs it too); its names stay importable from here.
export { createTrainingStep, lossFor, optimizerFor, stepLossFor, type StepLoss, type TrainCarry, type TrainingStep, type TrainMode } from './step.js';

export interface TrainOptions {
  preset: Preset;
  dataset: VideoDataset;
  /** Directory for checkpoint.safetensors and train-log.json. */
  out: string;
  seed: number;
  mode: TrainMode;
  /**
   * Total steps (defaults to the preset's). It is also the horizon of the learning-rate schedule,
   * so a resumed run continues exactly only with the same `steps`.
   */
  steps?: number;
  /** Stop (with a checkpoint) after this step, as an interruption would; the schedule still spans `steps`. */
  stopAt?: number;
  /** Continue from out/checkpoint.safetensors when it exists. */
  resume?: boolean;
  checkpointEvery?: number;
  /** Recompute each U-ViT block in the backward pass (`UViTConfig.checkpointBlocks`): less memory, the same gradients. */
  checkpointBlocks?: boolean;
  /**
   * Compile the step (loss, gradients, clipping, Adam, EMA) with `jit` (default true): traced once,
   * then replayed without a tape, element-wise chains fused; the same values bit for bit (tested).
   * False runs it eagerly, op by op.
   */
  jit?: boolean;
  /** Called after every step with the number of steps done (on resume the first call is the checkpoint's step + 1). */
  onStep?: (step: number, loss: number) => void;
}

export interface TrainState {
  params: unknown;
  opt: unknown;
  ema: { step: Tensor; average: unknown };
  step: number;
}

export interface TrainLog {
  losses: number[];
  seconds: number;
}

export const CHECKPOINT = 'checkpoint.safetensors';
export const LOG = 'train-log.json';

export function checkpointMetadata(o: { preset: Preset; mode: TrainMode; seed: number; step: number; steps: number; dataset: VideoDataset }): Record<string, string> {
  return {
    format: 'rolling-diffusion/checkpoint@1',
    step: String(o.step),
    steps: String(o.steps),
    seed: String(o.seed),
    mode: o.mode,
    preset: JSON.stringify(o.preset),
    data: o.dataset.name,
    frameShape: JSON.stringify(o.dataset.frameShape),
  };
}

/**
 * Trains into `o.out`, holding its lock (`.lock`, the owner's pid) for the whole run: a second run
 * into the same folder is refused with a RunLockError while this one lives. Temporary files a killed
 * run left there are deleted first.
 */
export async function train(o: TrainOptions): Promise<{ state: TrainState; log: TrainLog; model: DenoiserNetwork }> {
  await mkdir(o.out, { recursive: true });
  const release = await lockRunFolder(o.out);
  try {
    await removeStaleTemporaries(o.out, [CHECKPOINT, LOG]);
    // Every setting is written out, so the checkpoint records the ones a preset leaves to their defaults.
    return await trainHoldingLock({ ...o, preset: withSettingDefaults(o.preset) });
  } finally {
    await release();
  }
}

async function trainHoldingLock(o: TrainOptions): Promise<{ state: TrainState; log: TrainLog; model: DenoiserNetwork }> {
  const steps = o.steps ?? o.preset.steps;
  const every = o.checkpointEvery ?? o.preset.checkpointEvery;
  const model = buildModel(o.preset, o.dataset.frameShape, o.checkpointBlocks ? { checkpointBlocks: true } : {});
  const optimizer = optimizerFor(o.preset, steps);
  const averager = ema({ decay: o.preset.emaDecay, warmup: true });
  const path = join(o.out, CHECKPOINT);
  let state: TrainState;
  let log: TrainLog = { losses: [], seconds: 0 };
  const resumed = o.resume ? await tryLoad(path, o, () => {
    // The expected structure and shapes, so a checkpoint of another model is refused by name.
    const params = model.init(foldIn(key(o.seed), 0x1417));
    return { params, opt: optimizer.init(params), ema: averager.init(params) };
  }) : null;
  // The step of the checkpoint now in --out that this run wrote or resumed (undefined: none yet).
  let lastSaved: number | undefined;
  if (resumed) {
    state = resumed.state;
    log = resumed.log;
    lastSaved = state.step;
    // A checkpoint holding NaN (edited, or written before steps were checked) cannot be continued.
    const health = tidy(() => stack([nonFinite(state.params), nonFinite(state.opt), nonFinite(state.ema)]));
    const values = Array.from(await health.toArray());
    health.dispose();
    const bad = (['parameters', 'optimizer state', 'EMA weights'] as const).filter((_, i) => !Number.isFinite(values[i]!));
    if (bad.length > 0) {
      dispose([state.params, state.opt, state.ema]);
      throw new CheckpointError(`train --resume: ${join(o.out, CHECKPOINT)} (step ${state.step}) holds NaN or ±Infinity in its ${bad.join(' and ')}, so it cannot be continued; train again with --force (and a smaller --learning-rate if the run diverged)`);
    }
  } else {
    const params = model.init(foldIn(key(o.seed), 0x1417));
    state = keep({ params, opt: optimizer.init(params), ema: averager.init(params), step: 0 });
  }
  const trainingStep = createTrainingStep({ model, preset: o.preset, mode: o.mode, optimizer, averager, jit: o.jit });
  const stepKeys = foldIn(key(o.seed), 0x57e9);
  const started = Date.now();
  const secondsBefore = log.seconds;
  const last = Math.min(steps, o.stopAt ?? steps);
  try {
    for (let step = state.step; step < last; step++) {
      const prev = state;
      const next = tidy(() => {
        const batch = sampleBatch(o.dataset, o.seed, step, o.preset.batch, o.preset.window);
        return trainingStep({ params: prev.params, opt: prev.opt, ema: prev.ema }, batch, foldIn(stepKeys, step));
      });
      // The loss and the whole update are checked before anything of this step is kept or saved: a
      // finite loss can still come with NaN parameters (a NaN in the optimizer state, a huge step).
      const health = tidy(() => stack([reshape(next.loss, []), nonFinite(next.params), nonFinite(next.opt), nonFinite(next.ema)]));
      const [lossValue, params, opt, average] = Array.from(await health.toArray());
      health.dispose();
      next.loss.dispose();
      const updated = [[params, 'parameters'], [opt, 'optimizer state'], [average, 'EMA weights']].filter(([v]) => !Number.isFinite(v)).map(([, name]) => name);
      const bad = !Number.isFinite(lossValue!) ? `the loss is ${lossValue}` : updated.length > 0 ? `the updated ${updated.join(' and ')} hold NaN or ±Infinity` : '';
      if (bad !== '') {
        dispose([next.params, next.opt, next.ema]);
        throw new NonFiniteError(step + 1, bad, lastSaved, o);
      }
      state = { params: next.params, opt: next.opt, ema: next.ema as TrainState['ema'], step: step + 1 };
      disposeStale({ params: prev.params, opt: prev.opt, ema: prev.ema }, { params: state.params, opt: state.opt, ema: state.ema });
      log.losses.push(lossValue!);
      log.seconds = secondsBefore + (Date.now() - started) / 1000;
      o.onStep?.(state.step, lossValue!);
      if (state.step % every === 0 || state.step === last) {
        await saveCheckpoint(o.out, state, log, { ...o, steps });
        lastSaved = state.step;
      }
    }
  } finally {
    trainingStep.clear();
  }
  return { state, log, model };
}

/**
 * NaN when any float32 value of the tree is NaN or ±Inf (0 × ±Inf is NaN), 0 otherwise, exactly: huge
 * finite values do not overflow it as a plain sum would. One number read per tree; about 6 ms, 3% of
 * a demo step on wasm.
 */
function nonFinite(tree: unknown): Tensor {
  const sums = treeLeaves(tree).filter((x) => x.dtype === 'float32').map((x) => sum(mul(x, 0)));
  return sums.length === 0 ? scalar(0) : sum(stack(sums));
}

/**
 * A training step whose loss or update is NaN or ±Inf: nothing of it was applied or written. Steps are
 * counted as checkpoints count them (the step that makes checkpoint step N is step N).
 */
export class NonFiniteError extends Error {
  constructor(readonly step: number, what: string, lastSaved: number | undefined, o: { out: string; preset: Preset }) {
    const kept = lastSaved === undefined ? `no checkpoint of this run was written to ${o.out}` : `the checkpoint of step ${lastSaved} in ${o.out} is kept`;
    super(
      `train: at step ${step} ${what}, so the step was neither applied nor saved; ${kept}. ` +
        `Find the op that makes it with --debug-nans${lastSaved === undefined ? '' : ' (add --resume to start from that checkpoint)'}, ` +
        `or train again with --force and a smaller --learning-rate (the preset's is ${o.preset.learningRate}); check the data too`,
    );
  }
}

export async function saveCheckpoint(out: string, state: TrainState, log: TrainLog, o: { preset: Preset; mode: TrainMode; seed: number; steps: number; dataset: VideoDataset }): Promise<void> {
  // The log goes into the checkpoint too, so the two are committed by one rename: a resume never pairs
  // a checkpoint with a log of another step (train-log.json, written after, is the copy to read).
  await saveSafetensors(join(out, CHECKPOINT), { params: state.params, opt: state.opt, ema: state.ema }, { ...checkpointMetadata({ ...o, step: state.step }), log: JSON.stringify(log) });
  await writeFileAtomic(join(out, LOG), JSON.stringify(log));
}

async function tryLoad(path: string, o: TrainOptions, template: () => { params: unknown; opt: unknown; ema: TrainState['ema'] }): Promise<{ state: TrainState; log: TrainLog } | null> {
  try {
    await access(path);
  } catch {
    return null;
  }
  const m = decodeCheckpointMetadata(await readSafetensorsMetadata(path).catch((e: Error) => Promise.reject(new CheckpointError(`train --resume: ${e.message}`))), path);
  if (m.mode !== o.mode) throw new CheckpointError(`train --resume: ${path} was trained in ${m.mode} mode, not ${o.mode}`);
  const differences = presetDifferences(m.preset, o.preset);
  if (differences.length > 0) {
    throw new CheckpointError(`train --resume: ${path} was trained with other settings than this run's: ${differences.join(', ')} (the checkpoint's value first); resume with the --preset and the setting options (--learning-rate, --window, --clean-frames, --linear-probability, --init-schedule, --logsnr-min, --logsnr-max, --logsnr-shift) it was trained with`);
  }
  if (m.raw.seed !== String(o.seed)) throw new CheckpointError(`train --resume: ${path} was trained with --seed ${m.raw.seed}, not ${o.seed}`);
  const steps = o.steps ?? o.preset.steps;
  if (m.steps !== steps) {
    process.stderr.write(`train --resume: ${path} was started with --steps ${m.steps}; continuing to ${steps} changes the learning-rate schedule, so this run will not equal an uninterrupted one\n`);
  }
  const like = template();
  let loaded;
  try {
    loaded = await loadSafetensors(path, { like });
  } catch (e) {
    throw new CheckpointError(`train --resume: ${(e as Error).message}`);
  } finally {
    dispose(like);
  }
  const step = m.step;
  if (step === undefined) throw new CheckpointError(`train --resume: ${path} records no step in its metadata, so it cannot be resumed; sample from it, or train again with --force`);
  const log = m.raw.log !== undefined ? logOfCheckpoint(m.raw.log, path, step) : await readLog(path.replace(CHECKPOINT, LOG), step);
  const t = loaded.tree;
  return { state: keep({ params: t.params, opt: t.opt, ema: t.ema, step }), log };
}

const LogCodec = t.type({ losses: t.array(t.union([t.number, t.null])), seconds: t.number });

/** A training log from its JSON text (null losses, unknown steps, read as NaN), or null when it is not one. */
function decodeLog(text: string): TrainLog | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const decoded = LogCodec.decode(json);
  return isLeft(decoded) ? null : { losses: decoded.right.losses.map((v) => v ?? NaN), seconds: decoded.right.seconds };
}

/** The log a checkpoint carries in its metadata (written by the same rename): exactly `step` losses. */
function logOfCheckpoint(text: string, path: string, step: number): TrainLog {
  const log = decodeLog(text);
  if (log === null || log.losses.length !== step) {
    throw new CheckpointError(`train --resume: ${path}: the training log in its metadata is not one of ${step} losses; the file was edited or is corrupt: restore it, or train again with --force`);
  }
  return log;
}

/**
 * The loss history that goes with a checkpoint of `step` steps that carries no log of its own (one
 * written before checkpoints held their log): the first `step` losses of train-log.json. A log shorter
 * than that (a crash between the checkpoint's rename and the log's, or a lost log) is padded with NaN
 * (null in the JSON) and said so, so that every later loss stays at its own step. A longer one is cut
 * to `step` losses with a warning (not an error: the resume itself is exact whatever the log holds).
 */
async function readLog(path: string, step: number): Promise<TrainLog> {
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    // A checkpoint without its log still resumes exactly; only the loss history before it is lost.
  }
  let log: TrainLog = { losses: [], seconds: 0 };
  if (text !== undefined) {
    const decoded = decodeLog(text);
    if (decoded === null) process.stderr.write(`train --resume: ${path} is not a training log ({ losses: number[], seconds: number }); its losses are recorded as unknown (NaN)\n`);
    else log = decoded;
  }
  if (text !== undefined && log.losses.length < step) {
    process.stderr.write(`train --resume: ${path} holds ${log.losses.length} losses but the checkpoint is at step ${step} (the run stopped between writing the two); the missing losses are recorded as NaN so later ones keep their steps\n`);
  }
  // Longer than the checkpoint: the checkpoint was put back from an earlier point, or the log is of
  // another run. Resume is still exact, so this warns rather than refuses; the steps past the
  // checkpoint are trained again and their losses recorded anew.
  if (log.losses.length > step) {
    process.stderr.write(`train --resume: ${path} holds ${log.losses.length} losses but the checkpoint is at step ${step} (an older checkpoint put back, or a log of another run); losses ${step + 1}–${log.losses.length} are dropped, and each step trained from here records its own. If the log is of another run, its first ${step} losses are not this checkpoint's either: delete ${path} to record them as unknown (NaN)\n`);
  }
  const losses = log.losses.slice(0, step);
  while (losses.length < step) losses.push(NaN);
  return { losses, seconds: log.seconds };
}

/**
 * The EMA weights (what sampling uses) and the model of a checkpoint. The metadata is decoded and
 * bounded before the model is built; the weights must have the model's structure and shapes and be
 * finite (NaN weights would sample NaN frames, a CheckpointError names the first such tensor).
 */
export async function loadForSampling(path: string): Promise<{ params: unknown; model: DenoiserNetwork; preset: FullPreset; mode: TrainMode; frameShape: [number, number, number]; metadata: Record<string, string> }> {
  const m = decodeCheckpointMetadata(await readSafetensorsMetadata(path), path);
  const { preset, frameShape } = m;
  const model = buildModel(preset, frameShape);
  const loaded = await loadSafetensors<{ params?: unknown; opt?: unknown; ema?: { step?: Tensor; average?: unknown } }>(path);
  const tree = loaded.tree;
  // Sampling uses the EMA weights only; the rest of the checkpoint is freed at once.
  dispose([tree.params, tree.opt, tree.ema?.step]);
  const average = tree.ema?.average;
  try {
    await checkWeights(average, model, path);
  } catch (e) {
    dispose(average);
    throw e;
  }
  return { params: average, model, preset, mode: m.mode, frameShape, metadata: m.raw };
}

/** The EMA weights of a checkpoint have the model's tensors, shapes and dtypes, and hold finite values only. */
async function checkWeights(average: unknown, model: DenoiserNetwork, path: string): Promise<void> {
  const template = model.init(key(0));
  const want = new Map(treeFlatten(template).map(([p, x]) => [p, x]));
  const have = average === undefined || average === null ? [] : treeFlatten(average);
  try {
    if (have.length === 0) throw new CheckpointError(`${path}: the checkpoint holds no EMA weights (no tensors under 'ema.average'), which sampling uses; it was not written by \`rolling train\` or was edited`);
    const haveNames = new Set(have.map(([p]) => p));
    for (const [p, x] of want) {
      if (!haveNames.has(p)) throw new CheckpointError(`${path}: tensor 'ema.average.${p}' (${x.dtype} [${x.shape}]) of the model is missing from the checkpoint`);
    }
    for (const [p, x] of have) {
      const w = want.get(p);
      if (w === undefined) throw new CheckpointError(`${path}: tensor 'ema.average.${p}' is not a tensor of the model its preset builds`);
      if (w.dtype !== x.dtype || w.shape.join() !== x.shape.join()) throw new CheckpointError(`${path}: tensor 'ema.average.${p}' is ${x.dtype} [${x.shape}], but the model expects ${w.dtype} [${w.shape}]`);
    }
    const bad: string[] = [];
    for (const [p, x] of have) {
      if (x.dtype === 'float32' && (await x.toArray()).some((v) => !Number.isFinite(v))) bad.push(`ema.average.${p}`);
    }
    if (bad.length > 0) {
      throw new CheckpointError(`${path}: ${bad.length} of ${have.length} weight tensors hold NaN or ±Infinity (first: '${bad[0]}'), so every sampled frame would be NaN; sample from an earlier checkpoint, or train again (train --debug-nans finds the op that made them)`);
    }
  } finally {
    dispose(template);
  }
}

/** A checkpoint's metadata, or an error when the file is not one `rolling train` wrote. */
function checkRollingMetadata(m: Record<string, string>, path: string): Record<string, string> {
  return decodeCheckpointMetadata(m, path).raw;
}

/** The metadata of a checkpoint, read from its header alone, without its tensors. */
export async function readCheckpointMetadata(path: string): Promise<Record<string, string>> {
  return checkRollingMetadata(await readSafetensorsMetadata(path), path);
}
