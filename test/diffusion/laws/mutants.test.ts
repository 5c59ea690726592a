/**
 * Mutation check of the conformance kit (diffusion/laws/): deliberately broken variants of our own
 * functions, one per schedule bug seen in public implementations (and more), each of which must be
 * killed, i.e. fail at least one law. The kill table (mutant → the laws that caught it) is printed
 * and attached to the test report as markdown; it is pinned in kill-table.md, and what each killing
 * law said in kill-messages.md.
 *
 * Every mutant is our implementation with exactly one thing changed, so a kill is the bug's doing;
 * the sampler mutants re-implement one reverse step (Algorithm 3) and the shift of Algorithm 2, and
 * the unmutated re-implementations (ancestral and DDIM(0)) are checked to pass every law first.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as r from '../../../index.js';
import {
  clipToUnitInterval, cosineSchedule, linearLocalTimes, ddimFromLogSnr, frameCategories, initLocalTimes, lossWeighting, logSnrTensor, posteriorFromLogSnr,
  shiftedCosineSchedule, sigmaFromLogSnr, alphaFromLogSnr, stableSigmoid, resolutionShift, stepCoefficients, vFromXEps, windowLoss, xFromV,
  type PosteriorCoefficients, type Denoiser, type Schedule,
} from '../../../diffusion/index.js';
import {
  checkLaws, embeddingLaws, localTimeLaws, lossLaws, ourLocalTimeImpl, ourProcessImpl, ourScheduleImpl, posteriorLaws, processLaws, samplerLaws,
  scheduleLaws, tensorEmbeddingImpl, weightingLaws, type ElementwiseFn, type Law, type LocalTimeMap, type LossImpl, type PosteriorImpl,
  type SamplerImpl, type WeightingImpl,
} from '../../../diffusion/laws/index.js';
import { fourierFeatures } from '../../../nn/layers/fourierFeatures.js';

/** Fixed so that the kill table is reproducible; set LAWS_SEED to try others. */
const SEED = Number(process.env.LAWS_SEED ?? 20240601);

/**
 * The pinned kill table (kill-table.md, written by the 'kill table' test below): mutant → the laws
 * that killed it at the default seed. Each mutant's own test checks its row, so a law changed so that
 * it stops catching (or starts catching) a bug is seen by the test that runs that bug.
 */
const KILL_TABLE = new URL('./kill-table.md', import.meta.url);
/** The three cells (still escaped) of each row of a pinned table; none when LAWS_SEED is set or the file is absent. */
function pinnedRows(file: URL): string[][] {
  if (process.env.LAWS_SEED !== undefined || !existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .slice(2)
    .map((line) => line.slice(2, -2).split(/ (?<!\\)\| /))
    .filter((cells) => cells.length === 3);
}
const unescapeCell = (cell: string) => cell.replace(/\\\|/g, '|');
const pinned = new Map(pinnedRows(KILL_TABLE).map((cells) => [unescapeCell(cells[0]!), cells[2]!.split('<br>').map(unescapeCell)]));
/**
 * The pinned failure messages (kill-messages.md, written by the same test): what each killing law
 * said, with every non-integer number masked as `#` (the numbers are rounding results; the words and
 * the quantities named are what a port's author reads, so a law whose message names the wrong
 * quantity or says nothing fails here).
 */
const KILL_MESSAGES = new URL('./kill-messages.md', import.meta.url);
const pinnedMessages = new Map<string, string[]>();
for (const [mutant, law, message] of pinnedRows(KILL_MESSAGES)) pinnedMessages.set(mutant!, [...(pinnedMessages.get(mutant!) ?? []), `${law} | ${message}`]);
/** A failure message with its non-integer numbers (1.5, -2e-7, 3e+21) and tensor ids masked, on one line, table-escaped. */
function maskMessage(message: string): string {
  return message
    .replace(/-?(\d+\.\d*|\.\d+|\d+(?=e))(e[-+]?\d+)?/gi, '#')
    .replace(/#\d+/g, '#') // tensor ids ("tensor #1234 was disposed") count every tensor made before
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
}
const cosine = cosineSchedule();

// ------------------------------------------------------------------------------------------------
// Helpers to build mutants from our pieces
// ------------------------------------------------------------------------------------------------

/** A local-time map from a per-frame rule (w, t, W, n_cln) → local time, with no checks. */
const mapOf =
  (rule: (w: number, t: number, window: number, cleanFrames: number) => number): LocalTimeMap =>
  ({ window, cleanFrames }) =>
  (t) =>
    Array.from({ length: window }, (_, w) => rule(w, t, window, cleanFrames));

const withShift = (schedule: Schedule) => ourScheduleImpl(schedule, (imageSize, referenceSize) => shiftedCosineSchedule({ imageSize, referenceSize }));

/** Eqs. 11-15 around a given Eq. 3. */
function posteriorImplFrom(
  posterior: PosteriorImpl['posterior'],
  ddim: PosteriorImpl['ddim'] = ddimFromLogSnr,
  { clean = { zCoef: 1, xCoef: 0, variance: 0 }, noise = { zCoef: 0, xCoef: 0, variance: 1 } }: { clean?: PosteriorCoefficients; noise?: PosteriorCoefficients } = {},
): PosteriorImpl {
  return {
    posterior,
    ddim,
    framePosterior: {
      logSnr: cosine.logSnr,
      coefficients: (s, t) => {
        const categories = frameCategories(s, t);
        return t.map((tk, k) =>
          categories.clean.includes(k) ? clean : categories.noise.includes(k) ? noise : posterior(cosine.logSnr(s[k]!), cosine.logSnr(tk)),
        );
      },
    },
  };
}

function elementwise(f: (a: r.Tensor, b: r.Tensor, logSnr: r.Tensor) => r.Tensor): ElementwiseFn {
  return async (a, b, l) => {
    const row = (values: readonly number[]) => r.tensor(Float32Array.from(values), [1, values.length]);
    const out = r.tidy(() => f(row(a), row(b), row(l)));
    const data = Array.from(await out.toArray());
    out.dispose();
    return data;
  };
}

function weightingFrom(name: WeightingImpl['name'], xWeight: (l: number) => number): WeightingImpl {
  return { name, xWeight, epsWeight: (l) => xWeight(l) * Math.exp(-l), vWeight: (l) => xWeight(l) * stableSigmoid(-l) };
}

/**
 * A tensor loss built like ours (`windowLoss` on the whole batch) but with the frame weights, the
 * regression target or the normalisation swapped for a broken one.
 */
function brokenLoss(options: {
  weight?: (t: number, logSnr: number) => number;
  target?: 'v' | 'eps';
  normaliseOverBatch?: boolean;
}): LossImpl {
  const good = lossWeighting('v');
  const weight = options.weight ?? ((t, l) => (t > 0 && t < 1 ? good.vWeight(l) : 0));
  return {
    logSnr: cosine.logSnr,
    weighting: 'v',
    perExampleLoss: async ({ window, cleanFrames, localTimes, x, eps, vHat }) => {
      const frames = (a: readonly (readonly (readonly number[])[])[]) =>
        r.tensor(Float32Array.from(a.flat(2)), [a.length, a[0]!.length, a[0]![0]!.length]);
      const weights = localTimes.map((row) => row.map((t) => weight(t, cosine.logSnr(t))));
      const total = weights.flat().reduce((s, w) => s + w, 0);
      const losses: number[] = [];
      for (let b = 0; b < x.length; b++) {
        const only = weights.map((row, i) => row.map((w) => (i === b ? w : 0)));
        const out = r.tidy(() => {
          const logSnr = logSnrTensor(localTimes.map((row) => row.map((t) => cosine.logSnr(t))));
          const target = options.target === 'eps' ? frames(eps) : vFromXEps(frames(x), frames(eps), logSnr);
          const perExample = r.mul(windowLoss(target, frames(vHat), only, window - cleanFrames), x.length);
          // A "weighted mean over the batch": divided by the whole batch's weight instead of the example's frames.
          return options.normaliseOverBatch ? r.mul(perExample, (window - cleanFrames) / Math.max(total, 1e-12)) : perExample;
        });
        losses.push((await out.toArray())[0]!);
        out.dispose();
      }
      return losses;
    },
  };
}

/** The U-ViT's conditioning features of each frame's logSNR, optionally with a broken normalisation. */
const features = fourierFeatures({ dim: 16 });

/**
 * Algorithm 3 re-implemented from our parts with one reverse step open to mutation: `coefficients`
 * may change the per-frame (zCoef, xCoef, variance) and `readX` how x̂ is read off v̂.
 */
function boundarySampler(
  mutate: {
    coefficients?: (c: PosteriorCoefficients, s: number, t: number) => PosteriorCoefficients;
    readX?: (z: r.Tensor, vHat: r.Tensor, logSnr: r.Tensor) => r.Tensor;
    /** DDIM(η) steps instead of the ancestral ones (η = 1, the default). */
    eta?: number;
    /** The noise the boundary sampler starts from: every frame of the window, or only the generated ones (default). */
    noiseEveryFrame?: boolean;
    /** Where a call's randomness comes from (default: the key it is given). */
    keyOf?: (key: r.Key) => r.Key;
    /** Algorithm 2: the frame a shift emits (default n_cln, the one that reached local time 0) and the frame it appends. */
    emitted?: (window: number, cleanFrames: number) => number;
    newFrame?: (k: r.Key, shape: readonly number[]) => r.Tensor;
  } = {},
  steps = 100,
): SamplerImpl {
  const coefficients = mutate.coefficients ?? ((c) => c);
  const readX = mutate.readX ?? xFromV;
  const keyOf = mutate.keyOf ?? ((k) => k);
  const emitted = mutate.emitted ?? ((_window, cleanFrames) => cleanFrames);
  const newFrame = mutate.newFrame ?? ((k, shape) => r.normal(k, shape));
  const eta = mutate.eta ?? 1;
  const config = eta === 1 ? { schedule: cosine } : { schedule: cosine, sampler: 'ddim' as const, eta };
  const step = (model: Denoiser, z: r.Tensor, s: readonly number[], t: readonly number[], k: r.Key): r.Tensor => {
    const logSnr = logSnrTensor(Array.from({ length: z.shape[0]! }, () => t.map((tk) => cosine.logSnr(tk))));
    const cs = stepCoefficients(s, t, config).map((c, i) => coefficients(c, s[i]!, t[i]!));
    const column = (values: number[]) => r.reshape(r.tensor(Float32Array.from(values), [1, values.length]), [1, values.length, ...new Array<number>(z.rank - 2).fill(1)]);
    const xHat = readX(z, model(z, logSnr), logSnr);
    return r.add(
      r.add(r.mul(column(cs.map((c) => c.zCoef)), z), r.mul(column(cs.map((c) => c.xCoef)), xHat)),
      r.mul(column(cs.map((c) => Math.sqrt(c.variance))), r.normal(k, z.shape)),
    );
  };
  /** `steps` uniform steps of a local-time map from t = 1 to t = 0, each freeing the window before it. */
  const denoise = (model: Denoiser, z: r.Tensor, local: (t: number) => readonly number[], key: r.Key): r.Tensor => {
    const keys = r.split(key, steps);
    for (let i = steps; i >= 1; i--) {
      const prev = z;
      z = r.tidy(() => step(model, prev, local((i - 1) / steps), local(i / steps), keys[steps - i]!));
      prev.dispose();
    }
    return z;
  };
  return {
    logSnr: cosine.logSnr,
    // The laws hold the samples to the exact recursion of this grid: DDIM(η) steps (η = 1: ancestral) on Eq. 23's grid and, per shift, `steps` steps of Eq. 22's.
    stepGrid: { eta, boundary: (spec) => ({ localTimes: initLocalTimes(spec), steps }), stepsPerFrame: steps },
    sampleBoundary: (model, { window, cleanFrames, context, batch, frameShape, key }) => {
      const local = initLocalTimes({ window, cleanFrames });
      const [kn, kd] = r.split(keyOf(key), 2) as [r.Key, r.Key];
      const z = r.tidy(() => {
        if (mutate.noiseEveryFrame) return r.normal(kn, [batch, window, ...frameShape]);
        const noise = r.normal(kn, [batch, window - cleanFrames, ...frameShape]);
        return context ? r.concat([context, noise], 1) : noise;
      });
      return denoise(model, z, local, kd);
    },
    // Algorithm 2 as diffusion/sampling.ts's rollout runs it: emit frame n_cln, shift, append noise, denoise linear(1) → linear(0).
    rollout: (model, { window, cleanFrames, state, frames, key }) => {
      const linear = linearLocalTimes({ window, cleanFrames });
      const at = emitted(window, cleanFrames);
      const out: r.Tensor[] = [];
      let z = state;
      for (let f = 0; f < frames; f++) {
        if (f > 0) {
          const [kn, kd] = r.split(r.foldIn(keyOf(key), f), 2) as [r.Key, r.Key];
          const prev = z;
          const shifted = r.tidy(() => r.concat([r.sliceAxis(prev, 1, 1, window), newFrame(kn, [prev.shape[0]!, 1, ...prev.shape.slice(2)])], 1));
          // A slice of the whole window (W = 1) is the window itself: free only what nothing else holds.
          if (prev !== state && !out.includes(prev)) prev.dispose();
          z = denoise(model, shifted, linear, kd);
        }
        const current = z;
        out.push(r.tidy(() => r.sliceAxis(current, 1, at, at + 1)));
      }
      if (z !== state && !out.includes(z)) z.dispose();
      const video = r.tidy(() => r.concat(out, 1));
      r.dispose(out.filter((frame) => frame !== state));
      return video;
    },
  };
}

// ------------------------------------------------------------------------------------------------
// The mutants
// ------------------------------------------------------------------------------------------------

interface Mutant {
  readonly name: string;
  /** Which part of the kit is expected to catch it. */
  readonly family: string;
  readonly laws: () => Law[];
}

const mutants: Mutant[] = [
  // Local times and frame categories.
  {
    name: 'linear local times shifted by one frame (1-based w in Eq. 22)',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, linearLocalTimes: mapOf((w, t, W, n) => clipToUnitInterval((w - n + 1 + t) / (W - n))) }),
  },
  {
    name: 'clip missing in Eq. 22',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, linearLocalTimes: mapOf((w, t, W, n) => (w - n + t) / (W - n)) }),
  },
  {
    name: 't and 1 − t swapped in Eq. 22',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, linearLocalTimes: mapOf((w, t, W, n) => clipToUnitInterval((w - n + 1 - t) / (W - n))) }),
  },
  {
    name: 'init local times: clean frames not held at 0 (clip only)',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, initLocalTimes: mapOf((w, t, W, n) => clipToUnitInterval((w - n) / (W - n) + t)) }),
  },
  {
    name: 'init local times on the whole window (W instead of W − n_cln)',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, initLocalTimes: mapOf((w, t, W, n) => (w < n ? 0 : clipToUnitInterval(w / W + t))) }),
  },
  {
    name: 'frame categories: a frame at t_k = 1 counted as noise even when it leaves it',
    family: 'localTimeLaws',
    laws: () =>
      localTimeLaws({
        ...ourLocalTimeImpl,
        frameCategories: (s, t) => ({
          clean: t.flatMap((tk, k) => (tk === 0 ? [k] : [])),
          noise: t.flatMap((tk, k) => (tk === 1 ? [k] : [])),
          window: t.flatMap((tk, k) => (tk !== 0 && tk !== 1 ? [k] : [])),
        }),
      }),
  },
  {
    name: 'linear local times in reverse frame order (the newest frame the cleanest)',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, linearLocalTimes: mapOf((w, t, W, n) => (w < n ? 0 : clipToUnitInterval((W - 1 - w + t) / (W - n)))) }),
  },
  {
    name: 'init local times not clipped (a frame past local time 1)',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, initLocalTimes: mapOf((w, t, W, n) => (w < n ? 0 : (w - n) / (W - n) + t)) }),
  },
  {
    name: 'init local times in reverse frame order',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, initLocalTimes: mapOf((w, t, W, n) => (w < n ? 0 : clipToUnitInterval((W - 1 - w) / (W - n) + t))) }),
  },
  {
    name: 'init local times wrapped around 1 instead of clipped',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, initLocalTimes: mapOf((w, t, W, n) => (w < n ? 0 : ((w - n) / (W - n) + t) % 1)) }),
  },
  {
    name: 'rescaled init local times without the rescaling (Eq. 23 for Eq. 37)',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, rescaledInitLocalTimes: initLocalTimes }),
  },
  {
    name: 'rescaled init local times as t + m/M (no product, past 1)',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, rescaledInitLocalTimes: mapOf((w, t, W, n) => (w < n ? 0 : t + (w - n) / (W - n))) }),
  },
  {
    name: 'rescaled init local times in reverse frame order',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, rescaledInitLocalTimes: mapOf((w, t, W, n) => (w < n ? 0 : 1 - (1 - t) * (1 - (W - 1 - w) / (W - n)))) }),
  },
  {
    name: 'rescaled init local times on every frame (the conditioning frames not held at 0)',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, rescaledInitLocalTimes: mapOf((w, t, W) => 1 - (1 - t) * (1 - w / W)) }),
  },
  {
    name: 'rescaled init local times falling again after t = 1/2 (|1 − 2t| for 1 − t)',
    family: 'localTimeLaws',
    laws: () => localTimeLaws({ ...ourLocalTimeImpl, rescaledInitLocalTimes: mapOf((w, t, W, n) => (w < n ? 0 : 1 - Math.abs(1 - 2 * t) * (1 - (w - n) / (W - n)))) }),
  },
  {
    name: 'frame categories: the clean frames also counted in the window',
    family: 'localTimeLaws',
    laws: () =>
      localTimeLaws({
        ...ourLocalTimeImpl,
        frameCategories: (s, t) => {
          const { clean, noise } = frameCategories(s, t);
          return { clean, noise, window: t.flatMap((_, k) => (noise.includes(k) ? [] : [k])) };
        },
      }),
  },
  {
    name: 'frame categories: a frame with s_k = 0 counted clean whatever t_k',
    family: 'localTimeLaws',
    laws: () =>
      localTimeLaws({
        ...ourLocalTimeImpl,
        frameCategories: (s, t) => {
          const clean = s.flatMap((sk, k) => (sk === 0 ? [k] : []));
          const noise = t.flatMap((tk, k) => (tk === 1 && s[k] === 1 ? [k] : []));
          return { clean, noise, window: t.flatMap((_, k) => (clean.includes(k) || noise.includes(k) ? [] : [k])) };
        },
      }),
  },
  // Schedules.
  {
    name: 'schedule evaluated at 1 − t',
    family: 'scheduleLaws',
    laws: () => {
      const flipped = { ...cosine, logSnr: (t: number) => cosine.logSnr(1 - t), alpha: (t: number) => cosine.alpha(1 - t), sigma: (t: number) => cosine.sigma(1 - t) };
      return scheduleLaws(ourScheduleImpl(flipped, (d, ref) => {
        const s = shiftedCosineSchedule({ imageSize: d, referenceSize: ref });
        return { ...s, logSnr: (t: number) => s.logSnr(1 - t) };
      }));
    },
  },
  {
    name: 'resolution shift applied twice',
    family: 'scheduleLaws',
    laws: () =>
      scheduleLaws(ourScheduleImpl(cosine, (d, ref) => {
        const s = shiftedCosineSchedule({ imageSize: d, referenceSize: ref });
        return { ...s, logSnr: (t: number) => s.logSnr(t) + resolutionShift(d, ref) };
      })),
  },
  {
    name: 'resolution shift with the wrong sign (2 log(d / d_ref))',
    family: 'scheduleLaws',
    laws: () => scheduleLaws(ourScheduleImpl(cosine, (d, ref) => shiftedCosineSchedule({ imageSize: ref, referenceSize: d }))),
  },
  {
    name: 'α = sigmoid(λ) without the square root (not variance preserving)',
    family: 'scheduleLaws',
    laws: () => scheduleLaws({ ...withShift(cosine), alpha: (t) => stableSigmoid(cosine.logSnr(t)), sigma: (t) => stableSigmoid(-cosine.logSnr(t)) }),
  },
  {
    name: 'α and σ swapped (α = √sigmoid(−λ))',
    family: 'scheduleLaws',
    laws: () => scheduleLaws({ ...withShift(cosine), alpha: cosine.sigma, sigma: cosine.alpha }),
  },
  {
    name: 'a shifted schedule that reports the unshifted range as its λ(0) and λ(1)',
    family: 'scheduleLaws',
    laws: () => scheduleLaws({ ...ourScheduleImpl(shiftedCosineSchedule({ imageSize: 128 })), logSnrMin: cosine.logSnrMin, logSnrMax: cosine.logSnrMax }),
  },
  // Posterior and DDIM.
  {
    name: 'posterior variance without the σ_s² factor',
    family: 'posteriorLaws',
    laws: () =>
      posteriorLaws(posteriorImplFrom((ls, lt) => {
        const c = posteriorFromLogSnr(ls, lt);
        return { ...c, variance: c.variance / sigmaFromLogSnr(ls) ** 2 };
      })),
  },
  {
    name: 'posterior mean with c and 1 − c swapped',
    family: 'posteriorLaws',
    laws: () =>
      posteriorLaws(posteriorImplFrom((ls, lt) => {
        const c = -Math.expm1(lt - ls);
        const alphaS = alphaFromLogSnr(ls);
        return { zCoef: (alphaS * c) / alphaFromLogSnr(lt), xCoef: alphaS * (1 - c), variance: c * sigmaFromLogSnr(ls) ** 2 };
      })),
  },
  {
    name: 'DDIM variance not scaled by η²',
    family: 'posteriorLaws',
    laws: () => posteriorLaws(posteriorImplFrom(posteriorFromLogSnr, (ls, lt, eta) => ({ ...ddimFromLogSnr(ls, lt, eta), variance: posteriorFromLogSnr(ls, lt).variance }))),
  },
  {
    // Eq. 3 at s = t = 1 is the identity, so an implementation without Eq. 13's category keeps the old noise.
    name: 'per-frame posterior: pure-noise frames copied (Eq. 3 at s = t = 1) instead of drawn fresh',
    family: 'posteriorLaws',
    laws: () => posteriorLaws(posteriorImplFrom(posteriorFromLogSnr, ddimFromLogSnr, { noise: { zCoef: 1, xCoef: 0, variance: 0 } })),
  },
  {
    name: 'per-frame posterior: clean frames replaced by the prediction x̂ instead of copied',
    family: 'posteriorLaws',
    laws: () => posteriorLaws(posteriorImplFrom(posteriorFromLogSnr, ddimFromLogSnr, { clean: { zCoef: 0, xCoef: 1, variance: 0 } })),
  },
  // Forward process.
  {
    name: 'wrong sign in v (v = σ x − α ε)',
    family: 'processLaws',
    laws: () => processLaws({ ...ourProcessImpl, vFromXEps: elementwise((x, eps, l) => r.neg(vFromXEps(x, eps, l))) }),
  },
  {
    name: 'forward process with 1 − α for σ (z = α x + (1 − α) ε)',
    family: 'processLaws',
    laws: () =>
      processLaws({
        ...ourProcessImpl,
        diffuse: elementwise((x, eps, l) => {
          const alpha = r.sqrt(r.sigmoid(l));
          return r.add(r.mul(alpha, x), r.mul(r.sub(1, alpha), eps));
        }),
      }),
  },
  // Loss weightings.
  {
    name: 'SNR weighting inverted (ε-loss weighted by 1/SNR)',
    family: 'weightingLaws',
    laws: () => weightingLaws(weightingFrom('eps', (l) => Math.exp(-l))),
  },
  {
    name: 'min-SNR written as a max (max(SNR, γ))',
    family: 'weightingLaws',
    laws: () => weightingLaws({ ...weightingFrom('minSnr', (l) => Math.max(Math.exp(l), 5)), gamma: 5 }),
  },
  {
    name: 'min-SNR as the harmonic mean 2·SNR·γ/(SNR + γ) (above min(SNR, γ))',
    family: 'weightingLaws',
    laws: () => weightingLaws({ ...weightingFrom('minSnr', (l) => (2 * Math.exp(l) * 5) / (Math.exp(l) + 5)), gamma: 5 }),
  },
  {
    name: "'x' weighting written as σ² = sigmoid(−λ) (falls as the noise falls)",
    family: 'weightingLaws',
    laws: () => weightingLaws(weightingFrom('x', (l) => stableSigmoid(-l))),
  },
  // The window loss.
  {
    name: 'clean conditioning frames included in the loss',
    family: 'lossLaws',
    laws: () => lossLaws(brokenLoss({ weight: (t, l) => (t < 1 ? lossWeighting('v').vWeight(l) : 0) })),
  },
  {
    name: 'ε-loss and v-loss confused (v̂ regressed onto ε)',
    family: 'lossLaws',
    laws: () => lossLaws(brokenLoss({ target: 'eps' })),
  },
  {
    name: 'ε-loss and v-loss confused (the ε-form weight on the v-error)',
    family: 'lossLaws',
    laws: () => lossLaws(brokenLoss({ weight: (t, l) => (t > 0 && t < 1 ? lossWeighting('v').epsWeight(l) : 0) })),
  },
  {
    name: 'loss normalised by the whole batch\'s weight',
    family: 'lossLaws',
    laws: () => lossLaws(brokenLoss({ normaliseOverBatch: true })),
  },
  {
    name: 'pure-noise frames (t_k = 1) included in the loss',
    family: 'lossLaws',
    laws: () => lossLaws(brokenLoss({ weight: (t, l) => (t > 0 ? lossWeighting('v').vWeight(l) : 0) })),
  },
  // Conditioning.
  {
    name: 'time embedding normalised by the batch maximum',
    family: 'embeddingLaws',
    laws: () => embeddingLaws(tensorEmbeddingImpl((logSnr) => features.apply({}, r.div(r.mul(logSnr, 15), r.max(r.abs(logSnr)))))),
  },
  {
    name: 'time embedding of the logSNR rounded down (an integer-timestep embedding fed λ)',
    family: 'embeddingLaws',
    laws: () => embeddingLaws(tensorEmbeddingImpl((logSnr) => features.apply({}, r.floor(logSnr)))),
  },
  // Samplers.
  {
    name: 'sampler: posterior variance without the σ_s² factor',
    family: 'samplerLaws',
    laws: () =>
      samplerLaws(boundarySampler({ coefficients: (c, s, t) => (s === t ? c : { ...c, variance: c.variance / sigmaFromLogSnr(cosine.logSnr(s)) ** 2 }) })),
  },
  {
    name: 'sampler: x̂ read off v̂ with the wrong sign (x̂ = α z + σ v̂)',
    family: 'samplerLaws',
    laws: () => samplerLaws(boundarySampler({ readX: (z, vHat, l) => xFromV(z, r.neg(vHat), l) })),
  },
  {
    name: 'sampler: the conditioning frames started from noise too (the context dropped)',
    family: 'samplerLaws',
    laws: () => samplerLaws(boundarySampler({ noiseEveryFrame: true })),
  },
  {
    name: 'sampler: randomness not drawn from the key passed in (a fresh seed per call)',
    family: 'samplerLaws',
    laws: () => {
      let calls = 0;
      return samplerLaws(boundarySampler({ keyOf: (k) => r.foldIn(k, ++calls) }));
    },
  },
  {
    name: 'rollout (Algorithm 2): emits the newest frame of the window instead of the one at local time 0',
    family: 'samplerLaws',
    laws: () => samplerLaws(boundarySampler({ emitted: (window) => window - 1 })),
  },
  {
    // With ancestral steps the start is forgotten (the product of the zCoefs from t = 1 to 0 is ~α(1)), so this bug shows with DDIM(0).
    name: 'rollout (Algorithm 2) with DDIM(0): the appended frame starts at zero instead of N(0, I)',
    family: 'samplerLaws',
    laws: () => samplerLaws(boundarySampler({ eta: 0, newFrame: (_k, shape) => r.zeros(shape) })),
  },
];

// ------------------------------------------------------------------------------------------------
// Run them
// ------------------------------------------------------------------------------------------------

interface Kill {
  readonly mutant: string;
  readonly family: string;
  readonly laws: number;
  readonly killedBy: string[];
  /** One per killing law: `law | its masked failure message`, two table cells (each escaped). */
  readonly messages: string[];
  readonly example?: string;
}
const escapeCell = (s: string) => s.replace(/\|/g, '\\|');
const kills: Kill[] = [];

/** Runs one mutant's laws and records its row of the kill table. */
async function runMutant(mutant: Mutant): Promise<Kill> {
  const laws = mutant.laws();
  const results = await checkLaws(laws, { seed: SEED });
  const failed = results.filter((res) => !res.ok);
  const kill: Kill = {
    mutant: mutant.name,
    family: mutant.family,
    laws: laws.length,
    killedBy: failed.map((f) => f.name),
    messages: failed.map((f) => `${escapeCell(f.name)} | ${maskMessage(f.error ?? '')}`),
    example: failed[0]?.error,
  };
  kills.push(kill);
  return kill;
}

function killTable(rows: readonly Kill[]): string {
  return [
    '| mutant | laws run | killed by |',
    '|---|---|---|',
    ...rows.map((k) => `| ${escapeCell(k.mutant)} | ${k.family} (${k.laws}) | ${k.killedBy.length ? k.killedBy.map(escapeCell).join('<br>') : '**SURVIVED**'} |`),
  ].join('\n');
}

/** kill-messages.md: one row per (mutant, killing law) with what the law said. */
function messageTable(rows: readonly Kill[]): string {
  return [
    '| mutant | law | its failure message (non-integers masked as #) |',
    '|---|---|---|',
    ...rows.flatMap((k) => k.messages.map((m) => `| ${escapeCell(k.mutant)} | ${m} |`)),
  ].join('\n');
}

describe('the laws catch the known bugs (mutation check)', () => {
  it('our unmutated pieces pass the laws the mutants are built from (controls)', async () => {
    const controls: Law[] = [
      ...lossLaws(brokenLoss({})),
      ...samplerLaws(boundarySampler()),
      ...samplerLaws(boundarySampler({ eta: 0 })),
      ...posteriorLaws(posteriorImplFrom(posteriorFromLogSnr)),
      ...embeddingLaws(tensorEmbeddingImpl((logSnr) => features.apply({}, logSnr))),
      ...weightingLaws(weightingFrom('minSnr', (l) => Math.min(Math.exp(l), 5))),
      ...weightingLaws(weightingFrom('eps', (l) => Math.exp(l))),
    ];
    const failed = (await checkLaws(controls, { seed: SEED })).filter((res) => !res.ok);
    expect(failed).toEqual([]);
  });

  it('there are at least ten mutants, one per bug in the issue', () => {
    expect(mutants.length).toBeGreaterThanOrEqual(10);
  });

  for (const mutant of mutants) {
    it(`kills: ${mutant.name}`, async () => {
      const kill = await runMutant(mutant);
      expect(kill.killedBy.length, `${mutant.name} survived all ${kill.laws} laws of ${mutant.family}`).toBeGreaterThan(0);
      if (process.env.LAWS_SEED === undefined) {
        // After an intended change: `npx vitest run -u` rewrites kill-table.md; the next run checks against it.
        expect(kill.killedBy, `the laws that kill "${mutant.name}" differ from kill-table.md`).toEqual(pinned.get(mutant.name));
        expect(kill.messages, `what the laws say about "${mutant.name}" differs from kill-messages.md`).toEqual(pinnedMessages.get(escapeCell(mutant.name)));
      }
    });
  }

  it('kill table', async ({ annotate }) => {
    // Run alone (-t 'kill table'), the kills tests above were skipped: run their mutants here, so the
    // table always has one row per mutant and this test can never pass on an empty table.
    for (const mutant of mutants) if (!kills.some((k) => k.mutant === mutant.name)) await runMutant(mutant);
    expect(kills.map((k) => k.mutant).sort()).toEqual(mutants.map((m) => m.name).sort());
    const table = killTable(kills);
    console.log(`\nKill table (${kills.filter((k) => k.killedBy.length).length} of ${kills.length} mutants killed):\n\n${table}\n`);
    await annotate('kill table', { contentType: 'text/markdown', body: table });
    expect(kills.every((k) => k.killedBy.length > 0)).toBe(true);
    // The whole table is pinned (at the default seed): a law changed so that it no longer catches a
    // bug it caught, or catches one it did not, shows here even when another law still kills that
    // mutant. After an intended change, look at the diff and update it with `npx vitest run -u`.
    if (process.env.LAWS_SEED === undefined) {
      const rows = [...kills].sort((a, b) => mutants.findIndex((m) => m.name === a.mutant) - mutants.findIndex((m) => m.name === b.mutant));
      await expect(`${killTable(rows)}\n`).toMatchFileSnapshot('./kill-table.md');
      await expect(`${messageTable(rows)}\n`).toMatchFileSnapshot('./kill-messages.md');
    }
  });
});
