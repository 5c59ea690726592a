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
import { add, dispose, foldIn, key, keep, mul, reshape, scalar, stack, sum, tidy, treeLeaves, valueAndGrad, type Key, type Tensor } from '../core/index.js';
import { cosineSchedule, standardTrainStep, trainStep, type Model } from '../diffusion/index.js';
import { adam, applyUpdates, chain, clipByGlobalNorm, disposeStale, ema, loadSafetensors, readSafetensorsMetadata, saveSafetensors, warmupCosineDecaySchedule } from '../nn/index.js';
import { writeFileAtomic } from './atomicWrite.js';
import { sampleBatch, type VideoDataset } from './datasets.js';
import { buildModel, type Denoiser } from './model.js';
import type { Preset } from './presets.js';

export type TrainMode = 'rolling' | 'standard';

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

export function optimizerFor(preset: Preset, steps: number) {
  const schedule = warmupCosineDecaySchedule({ init: 0, peak: preset.learningRate, warmupSteps: Math.min(preset.warmupSteps, steps), decaySteps: Math.max(steps, preset.warmupSteps + 1), end: preset.learningRate * 0.1 });
  return chain(clipByGlobalNorm(1), adam({ learningRate: schedule }));
}

export function lossFor(model: Denoiser, preset: Preset, mode: TrainMode): (params: unknown, k: Key, batch: Tensor) => Tensor {
  const schedule = cosineSchedule();
  const apply: Model<unknown> = (p, z, l) => model.apply(p, z, l);
  return mode === 'rolling'
    ? trainStep(apply, { window: preset.window, cleanFrames: preset.cleanFrames, schedule, linearProbability: preset.linearProbability })
    : standardTrainStep(apply, { window: preset.window, cleanFrames: preset.cleanFrames, schedule });
}

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

export async function train(o: TrainOptions): Promise<{ state: TrainState; log: TrainLog; model: Denoiser }> {
  const steps = o.steps ?? o.preset.steps;
  const every = o.checkpointEvery ?? o.preset.checkpointEvery;
  await mkdir(o.out, { recursive: true });
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
  } else {
    const params = model.init(foldIn(key(o.seed), 0x1417));
    state = keep({ params, opt: optimizer.init(params), ema: averager.init(params), step: 0 });
  }
  const lossFn = lossFor(model, o.preset, o.mode);
  const vg = valueAndGrad(lossFn);
  const stepKeys = foldIn(key(o.seed), 0x57e9);
  const started = Date.now();
  const secondsBefore = log.seconds;
  const last = Math.min(steps, o.stopAt ?? steps);
  for (let step = state.step; step < last; step++) {
    const prev = state;
    const next = tidy(() => {
      const batch = sampleBatch(o.dataset, o.seed, step, o.preset.batch, o.preset.window);
      const [loss, grads] = vg(prev.params, foldIn(stepKeys, step), batch);
      const { updates, state: opt } = optimizer.update(grads, prev.opt as never, prev.params);
      const params = applyUpdates(prev.params, updates);
      return { params, opt, ema: averager.update(params, prev.ema), loss };
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
  return { state, log, model };
}

/** NaN when any float32 leaf of the tree is NaN or ±Inf (0 × ±Inf is NaN), 0 otherwise; one number read per tree. */
function nonFinite(tree: unknown): Tensor {
  const checks = treeLeaves(tree).filter((x) => x.dtype === 'float32').map((x) => sum(mul(x, 0)));
  return checks.reduce((a, b) => add(a, b), scalar(0));
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
  await saveSafetensors(join(out, CHECKPOINT), { params: state.params, opt: state.opt, ema: state.ema }, checkpointMetadata({ ...o, step: state.step }));
  await writeFileAtomic(join(out, LOG), JSON.stringify(log));
}

async function tryLoad(path: string, o: TrainOptions, template: () => { params: unknown; opt: unknown; ema: TrainState['ema'] }): Promise<{ state: TrainState; log: TrainLog } | null> {
  try {
    await access(path);
  } catch {
    return null;
  }
  const like = template();
  let loaded;
  try {
    loaded = await loadSafetensors(path, { like });
  } finally {
    dispose(like);
  }
  const m = loaded.metadata;
  if (m.mode !== o.mode) throw new Error(`train --resume: ${path} was trained in ${m.mode} mode, not ${o.mode}`);
  if (m.preset !== JSON.stringify(o.preset)) throw new Error(`train --resume: ${path} was trained with a different preset (${m.preset}); use the same --preset (and --learning-rate, if it was given)`);
  if (m.seed !== String(o.seed)) throw new Error(`train --resume: ${path} was trained with --seed ${m.seed}, not ${o.seed}`);
  const steps = o.steps ?? o.preset.steps;
  if (m.steps !== String(steps)) {
    process.stderr.write(`train --resume: ${path} was started with --steps ${m.steps}; continuing to ${steps} changes the learning-rate schedule, so this run will not equal an uninterrupted one\n`);
  }
  let log: TrainLog = { losses: [], seconds: 0 };
  try {
    log = JSON.parse(await readFile(path.replace(CHECKPOINT, LOG), 'utf8')) as TrainLog;
  } catch {
    // A checkpoint without its log still resumes exactly; only the loss history before it is lost.
  }
  const step = Number(m.step);
  log.losses = log.losses.slice(0, step);
  const t = loaded.tree;
  return { state: keep({ params: t.params, opt: t.opt, ema: t.ema, step }), log };
}

/** The EMA weights (what sampling uses) and the model of a checkpoint. */
export async function loadForSampling(path: string): Promise<{ params: unknown; model: Denoiser; preset: Preset; mode: TrainMode; frameShape: [number, number, number]; metadata: Record<string, string> }> {
  const loaded = await loadSafetensors<{ params: unknown; ema: { average: unknown } }>(path);
  const m = checkRollingMetadata(loaded.metadata, path);
  const preset = JSON.parse(m.preset) as Preset;
  const frameShape = JSON.parse(m.frameShape) as [number, number, number];
  const tree = loaded.tree as { params: unknown; opt?: unknown; ema: { step?: Tensor; average: unknown } };
  // Sampling uses the EMA weights only; the rest of the checkpoint is freed at once.
  dispose([tree.params, tree.opt, tree.ema.step]);
  return { params: tree.ema.average, model: buildModel(preset, frameShape), preset, mode: m.mode as TrainMode, frameShape, metadata: { ...m } };
}

/** A checkpoint's metadata, or an error when the file is not one `rolling train` wrote. */
function checkRollingMetadata(m: Record<string, string>, path: string): Record<string, string> {
  if (!m.preset || !m.frameShape) throw new Error(`${path}: not a rolling checkpoint (no preset in its metadata); train one with \`rolling train\``);
  return m;
}

/** The metadata of a checkpoint, read from its header alone, without its tensors. */
export async function readCheckpointMetadata(path: string): Promise<Record<string, string>> {
  return checkRollingMetadata(await readSafetensorsMetadata(path), path);
}
