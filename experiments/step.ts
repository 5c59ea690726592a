/**
 * The training step of `rolling train`, of the web page's experiment and of bench/trainStep.ts:
 * the step's draws (eager), then nn's `minimizer` (the loss, its gradients, the optimizer's update,
 * the EMA of the weights), compiled with `jit` unless told otherwise. Browser-safe: nothing here
 * reads files (the loop that checkpoints is trainer.ts).
 */
import { key, type JitStats, type Key, type Tensor, type TensorTree } from '../core/index.js';
import { lossFromDraws, standardTrainingDraws, trainingDraws, type Model, type RollingConfig, type TrainingDraws } from '../diffusion/index.js';
import { adam, chain, clipByGlobalNorm, minimizer, warmupCosineDecaySchedule, type Ema, type EmaState, type GradientTransformation } from '../nn/index.js';
import type { DenoiserNetwork } from './model.js';
import { mseLoss } from './mseBaseline.js';
import { diffusionInitSchedule, noiseSchedule, type Preset } from './presets.js';

/** Rolling diffusion (Algorithm 1), standard diffusion, or the deterministic MSE baseline of Table 8. */
export type TrainMode = 'rolling' | 'standard' | 'mse';

/** `rolling train`'s optimizer: clipping to global norm 1, then Adam with the preset's warm-up and cosine decay to a tenth over `steps`. */
export function optimizerFor(preset: Preset, steps: number): GradientTransformation<TensorTree[]> {
  const schedule = warmupCosineDecaySchedule({ init: 0, peak: preset.learningRate, warmupSteps: Math.min(preset.warmupSteps, steps), decaySteps: Math.max(steps, preset.warmupSteps + 1), end: preset.learningRate * 0.1 });
  return chain(clipByGlobalNorm(1), adam({ learningRate: schedule }));
}

/**
 * A training step's loss in the two halves `jit` needs: `draws(key, batch)`, the step's random
 * tensors (drawn eagerly: the key changes every step and a key is a static argument of `jit`), and
 * `loss(params, batch, draws)`, a function of tensors only. The MSE baseline draws nothing (null).
 */
export interface StepLoss<P = unknown> {
  draws(k: Key, batch: Tensor): TrainingDraws | null;
  loss(params: P, batch: Tensor, draws: TrainingDraws | null): Tensor;
}

/** Algorithm 1's loss (`rolling`) or the standard baseline's (`standard`) of any model and config, in `StepLoss`'s halves. */
export function diffusionStepLoss<P>(model: Model<P>, config: RollingConfig, mode: 'rolling' | 'standard'): StepLoss<P> {
  const draw = mode === 'rolling' ? trainingDraws : standardTrainingDraws;
  return {
    draws: (k, batch) => draw(k, batch, config),
    loss: (params, batch, draws) => {
      if (draws === null) throw new Error(`training loss: the ${mode} loss needs the step's draws`);
      return lossFromDraws(model, params, batch, draws, config);
    },
  };
}

/**
 * A preset's loss: Algorithm 1 or the standard baseline's with the preset's window, clean frames,
 * Bernoulli rate, boundary map and noise schedule, or the MSE baseline's.
 */
export function stepLossFor(model: DenoiserNetwork, preset: Preset, mode: TrainMode): StepLoss {
  if (mode === 'mse') {
    const mse = mseLoss(model, preset);
    const unused = key(0);
    return { draws: () => null, loss: (params, batch) => mse(params, unused, batch) };
  }
  const apply: Model<unknown> = (p, z, l) => model.apply(p, z, l);
  const config = { window: preset.window, cleanFrames: preset.cleanFrames, schedule: noiseSchedule(preset), linearProbability: preset.linearProbability, initSchedule: diffusionInitSchedule(preset) };
  return diffusionStepLoss(apply, config, mode);
}

/** Algorithm 1 (or the standard baseline's loss, or the MSE baseline's) as one function of (params, key, batch): `stepLossFor`'s halves composed. */
export function lossFor(model: DenoiserNetwork, preset: Preset, mode: TrainMode): (params: unknown, k: Key, batch: Tensor) => Tensor {
  const s = stepLossFor(model, preset, mode);
  return (params, k, batch) => s.loss(params, batch, s.draws(k, batch));
}

/** What a training step carries to the next: parameters, optimizer state, the EMA of the weights (with an averager). */
export interface TrainCarry<P = unknown, S = unknown> {
  readonly params: P;
  readonly opt: S;
  readonly ema?: EmaState<P>;
}

/** One training step (bench/trainStep.ts times the CLI's; the web page runs its own configuration of it). */
export interface TrainingStep<P = unknown, S = unknown> {
  /** The loss at `prev.params` on `batch` with the draws of `k`, and the state after the optimizer's update and the EMA's. */
  (prev: TrainCarry<P, S>, batch: Tensor, k: Key): TrainCarry<P, S> & { readonly loss: Tensor };
  /** Free the compiled program's constants (the tensors the step makes from host values); the step traces again if called after. */
  clear(): void;
  /** The compiled step's counters (traces, cache hits, primitives and kernels per step); null when eager. */
  stats(): JitStats | null;
}

interface StepOptions<S extends TensorTree> {
  optimizer: GradientTransformation<S>;
  /** The EMA of the weights, updated after each step; the carry then holds `ema`. */
  averager?: Ema;
  /** Compile with `jit` (default true); false runs the step eagerly, op by op, with the same bits. */
  jit?: boolean;
}

/**
 * The training step: the step's draws (eager), then nn's `minimizer` (the loss, its gradients, the
 * optimizer's update, the EMA), compiled with `jit` unless `jit` is false. Compiled, the step is traced
 * on its first call and replayed after: no tape, no per-op bookkeeping, element-wise chains fused,
 * each intermediate freed after its last reader; the values are the eager step's bit for bit. Pure:
 * the caller scopes it (`tidy`) and frees the previous carry (`disposeStale`) when it is done with it.
 * Either a preset's loss (`model`, `preset`, `mode`) or any `StepLoss`.
 */
export function createTrainingStep(o: StepOptions<TensorTree[]> & { model: DenoiserNetwork; preset: Preset; mode: TrainMode }): TrainingStep;
export function createTrainingStep<P, S extends TensorTree>(o: StepOptions<S> & { loss: StepLoss<P> }): TrainingStep<P, S>;
export function createTrainingStep<P, S extends TensorTree>(o: StepOptions<S> & ({ loss: StepLoss<P> } | { model: DenoiserNetwork; preset: Preset; mode: TrainMode })): TrainingStep<P, S> {
  const stepLoss = ('loss' in o ? o.loss : stepLossFor(o.model, o.preset, o.mode)) as StepLoss<P>;
  const step = minimizer((params: P, batch: Tensor, draws: TrainingDraws | null) => stepLoss.loss(params, batch, draws), o.optimizer, { ema: o.averager, jit: o.jit !== false });
  return Object.assign((prev: TrainCarry<P, S>, batch: Tensor, k: Key) => step(prev, batch, stepLoss.draws(k, batch)), { clear: () => step.clear(), stats: () => step.stats() });
}
