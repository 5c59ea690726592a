/**
 * This package's own implementation behind the adapters: what test/diffusion/laws/laws.test.ts checks, and
 * the worked example for wrapping another implementation (tensors in, plain arrays out).
 */
import { mul, tensor, tidy, type Tensor } from '../../core/index.js';
import { boundaryLocalTimes, frameCategories, initLocalTimes, linearLocalTimes, rescaledInitLocalTimes } from '../localTime.js';
import { windowLoss, windowLossWeights } from '../loss.js';
import { lossWeighting, type LossWeightingName } from '../lossWeighting.js';
import { ddimFromLogSnr, framePosteriorCoefficients, posteriorFromLogSnr } from '../posteriorCoefficients.js';
import { diffuse, epsFromV, logSnrTensor, vFromXEps, xFromV } from '../process.js';
import { collectFrames, rollout, sampleBoundary, type SamplerConfig } from '../sampling.js';
import type { Schedule } from '../schedule.js';
import type { LocalTimeImpl } from './localTimeLaws.js';
import type { ScheduleImpl } from './scheduleLaws.js';
import type { PosteriorImpl } from './posteriorLaws.js';
import type { ElementwiseFn, ProcessImpl } from './processLaws.js';
import type { WeightingImpl } from './weightingLaws.js';
import type { LossImpl } from './lossLaws.js';
import type { EmbeddingImpl } from './embeddingLaws.js';
import type { SamplerImpl } from './samplerLaws.js';

/** Plain numbers [B][F][P] → a float32 tensor [B, F, P]. */
function framesTensor(frames: readonly (readonly (readonly number[])[])[]): Tensor {
  const b = frames.length;
  const f = frames[0]?.length ?? 0;
  const p = frames[0]?.[0]?.length ?? 0;
  return tensor(Float32Array.from(frames.flatMap((ex) => ex.flatMap((fr) => [...fr]))), [b, f, p]);
}

/** Runs `f` on fresh tensors, reads its result and frees everything. */
async function readNumbers(f: () => Tensor): Promise<number[]> {
  const out = tidy(f);
  const data = await out.toArray();
  out.dispose();
  return Array.from(data);
}

export const ourLocalTimeImpl: LocalTimeImpl = { linearLocalTimes, initLocalTimes, rescaledInitLocalTimes, frameCategories };

/** A schedule with its resolution-shifted variants, for `scheduleLaws`. */
export function ourScheduleImpl(schedule: Schedule, shifted?: (imageSize: number, referenceSize: number) => Schedule): ScheduleImpl {
  return {
    logSnr: schedule.logSnr,
    alpha: schedule.alpha,
    sigma: schedule.sigma,
    logSnrMin: schedule.logSnrMin,
    logSnrMax: schedule.logSnrMax,
    ...(shifted ? { shifted } : {}),
  };
}

/** Eq. 3, DDIM and the per-frame posterior of Eqs. 11-15 under `schedule`. */
export function ourPosteriorImpl(schedule: Schedule): PosteriorImpl {
  return {
    posterior: posteriorFromLogSnr,
    ddim: ddimFromLogSnr,
    framePosterior: { logSnr: schedule.logSnr, coefficients: (s, t) => framePosteriorCoefficients(schedule, s, t) },
  };
}

/** The tensor-level forward process: elements become one row [1, n] with one logSNR per "frame". */
function elementwise(f: (a: Tensor, b: Tensor, logSnr: Tensor) => Tensor): ElementwiseFn {
  return (a, b, l) => {
    const row = (values: readonly number[]) => tensor(Float32Array.from(values), [1, values.length]);
    return readNumbers(() => f(row(a), row(b), row(l)));
  };
}

export const ourProcessImpl: ProcessImpl = {
  diffuse: elementwise((x, eps, l) => diffuse(x, l, eps)),
  vFromXEps: elementwise(vFromXEps),
  xFromV: elementwise(xFromV),
  epsFromV: elementwise(epsFromV),
};

export function ourWeightingImpl(name: LossWeightingName, gamma = 5): WeightingImpl {
  return { ...lossWeighting(name, { gamma }), gamma };
}

/**
 * The window loss of Eq. 26 (`windowLoss` with `windowLossWeights`) run on the whole batch at once, so
 * that anything coupling the examples would show: example b's loss is the batch loss with every other
 * example's weights zeroed, times B (windowLoss averages over the batch).
 */
export function ourLossImpl({ schedule, weighting = 'v', gamma = 5 }: { schedule: Schedule; weighting?: LossWeightingName; gamma?: number }): LossImpl {
  return {
    logSnr: schedule.logSnr,
    weighting,
    gamma,
    perExampleLoss: async ({ window, cleanFrames, localTimes, x, eps, vHat }) => {
      const weights = windowLossWeights(localTimes, { schedule, weighting, gamma });
      const losses: number[] = [];
      for (let b = 0; b < x.length; b++) {
        const only = weights.map((row, i) => row.map((w) => (i === b ? w : 0)));
        const [loss] = await readNumbers(() => {
          const logSnr = logSnrTensor(localTimes.map((row) => row.map((t) => schedule.logSnr(t))));
          const v = vFromXEps(framesTensor(x), framesTensor(eps), logSnr);
          return mul(windowLoss(v, framesTensor(vHat), only, window - cleanFrames), x.length);
        });
        losses.push(loss!);
      }
      return losses;
    },
  };
}

/** A tensor embedding `logSnr [B, F] → [B, F, D]` behind the array adapter. */
export function tensorEmbeddingImpl(embed: (logSnr: Tensor) => Tensor, logSnrRange?: readonly [number, number]): EmbeddingImpl {
  return {
    embed: async (rows) => {
      const b = rows.length;
      const f = rows[0]?.length ?? 0;
      const out = tidy(() => embed(tensor(Float32Array.from(rows.flatMap((r) => [...r])), [b, f])));
      const d = out.shape[2]!;
      const data = await out.toArray();
      out.dispose();
      return Array.from({ length: b }, (_, i) => Array.from({ length: f }, (_, k) => Array.from(data.subarray((i * f + k) * d, (i * f + k + 1) * d))));
    },
    ...(logSnrRange ? { logSnrRange } : {}),
  };
}

export type OurSamplerOptions = SamplerConfig & {
  /** Steps of Algorithm 3 over the whole boundary schedule (default 100). */
  readonly steps?: number;
  /** Steps per generated frame in Algorithm 2 (default 100: with W = 1 that is the whole reverse process). */
  readonly stepsPerFrame?: number;
  readonly initSchedule?: 'init' | 'rescaled';
};

export function ourSamplerImpl(options: OurSamplerOptions): SamplerImpl {
  const { steps = 100, stepsPerFrame = 100, ...config } = options;
  return {
    logSnr: config.schedule.logSnr,
    stepGrid: {
      eta: (config.sampler ?? 'ddpm') === 'ddim' ? (config.eta ?? 0) : 1,
      // The map `sampleBoundary` itself runs, so the grid describes the sampler; the laws check it against the paper.
      boundary: (spec) => ({ localTimes: boundaryLocalTimes({ ...spec, initSchedule: config.initSchedule }), steps }),
      stepsPerFrame,
    },
    sampleBoundary: (denoiser, o) => sampleBoundary(denoiser, { ...config, ...o, steps }),
    rollout: (denoiser, o) => collectFrames(rollout(denoiser, { ...config, ...o, stepsPerFrame })),
  };
}
