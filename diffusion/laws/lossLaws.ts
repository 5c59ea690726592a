/**
 * Laws of the window loss (Eq. 26).
 */
import fc from 'fast-check';
import type { LossWeightingName } from '../lossWeighting.js';
import { interiorTime, pixel, windowSpec } from './arbitraries.js';
import type { Law } from './law.js';
import { alphaOf, expectNear, fail, referenceVWeight, sigmaOf } from './reference.js';

/** One training example batch as plain arrays: B examples of W frames of P pixels. */
export interface LossInput {
  readonly window: number;
  readonly cleanFrames: number;
  /** Local time of every frame, [B][W]; the first n_cln are 0. */
  readonly localTimes: readonly (readonly number[])[];
  /** Data, noise and the model's v-prediction, [B][W][P]. */
  readonly x: readonly (readonly (readonly number[])[])[];
  readonly eps: readonly (readonly (readonly number[])[])[];
  readonly vHat: readonly (readonly (readonly number[])[])[];
}

export interface LossImpl {
  /** λ(t) of the schedule the loss evaluates at each local time. */
  readonly logSnr: (t: number) => number;
  /** The weighting a(t_k) the loss claims to use, and its γ for Min-SNR. */
  readonly weighting: LossWeightingName;
  readonly gamma?: number;
  /**
   * Eq. 26 for a v-predicting model: from x, ε (so z = α x + σ ε and v = α ε − σ x at each frame's
   * local time) and v̂, the loss of each example, [B]. Any positive normalisation is allowed.
   */
  readonly perExampleLoss: (input: LossInput) => readonly number[] | Promise<readonly number[]>;
}

type Frames = number[][][];

interface LossCase {
  readonly window: number;
  readonly cleanFrames: number;
  readonly localTimes: number[][];
  readonly x: Frames;
  readonly eps: Frames;
  readonly noise: Frames;
}

/** Local times of generated frames: clean (0), pure noise (1) and interior ones all drawn on purpose. */
const generatedLocalTime = fc.oneof(fc.constant(0), fc.constant(1), interiorTime, interiorTime);

function lossCase(maxBatch: number): fc.Arbitrary<LossCase> {
  return fc
    .tuple(windowSpec(6), fc.integer({ min: 1, max: maxBatch }), fc.integer({ min: 1, max: 4 }))
    .chain(([spec, batch, pixels]) => {
      const frames = (): fc.Arbitrary<Frames> =>
        fc.array(fc.array(fc.array(pixel, { minLength: pixels, maxLength: pixels }), { minLength: spec.window, maxLength: spec.window }), {
          minLength: batch,
          maxLength: batch,
        });
      const times = fc.array(
        fc.array(generatedLocalTime, { minLength: spec.window - spec.cleanFrames, maxLength: spec.window - spec.cleanFrames }).map((g) => [
          ...new Array<number>(spec.cleanFrames).fill(0),
          ...g,
        ]),
        { minLength: batch, maxLength: batch },
      );
      return fc.record({ localTimes: times, x: frames(), eps: frames(), noise: frames() }).map((r) => ({ ...spec, ...r }));
    });
}

export function lossLaws(impl: LossImpl, options: { readonly tolerance?: number } = {}): Law[] {
  const tol = options.tolerance ?? 1e-5;
  const gamma = impl.gamma ?? 5;
  /** v = α ε − σ x per frame, in float64. */
  const target = (c: LossCase): Frames =>
    c.x.map((ex, b) =>
      ex.map((frame, k) => {
        const l = impl.logSnr(c.localTimes[b]![k]!);
        return frame.map((xi, p) => alphaOf(l) * c.eps[b]![k]![p]! - sigmaOf(l) * xi);
      }),
    );
  const lossOf = async (c: LossCase, vHat: Frames): Promise<number[]> => {
    const out = await impl.perExampleLoss({ window: c.window, cleanFrames: c.cleanFrames, localTimes: c.localTimes, x: c.x, eps: c.eps, vHat });
    if (out.length !== c.x.length) fail(`${out.length} losses for a batch of ${c.x.length}`);
    return [...out];
  };
  /** v̂ = v, except on the frames `which` selects, where v̂ = v + noise (+ `shift`). */
  const perturbed = (c: LossCase, v: Frames, which: (b: number, k: number) => boolean, shift = 0): Frames =>
    v.map((ex, b) => ex.map((frame, k) => (which(b, k) ? frame.map((vi, p) => vi + c.noise[b]![k]![p]! + shift) : frame)));
  const unchangedWhen = (frameTime: number, what: string): Law['property'] =>
    fc.asyncProperty(lossCase(3), async (c) => {
      const v = target(c);
      const base = await lossOf(c, perturbed(c, v, () => true));
      const moved = await lossOf(c, perturbed(c, v, (b, k) => c.localTimes[b]![k] !== frameTime, 0));
      // Only the frames at `frameTime` differ between the two predictions (they are exact in `moved`).
      base.forEach((l, b) => expectNear(`example ${b}: loss with ${what} predicted wrongly vs exactly`, l, moved[b]!, tol, tol));
    });

  return [
    {
      name: 'loss (Eq. 26): a perfect v-prediction (v̂ = α ε − σ x) has zero loss',
      property: fc.asyncProperty(lossCase(3), async (c) => {
        (await lossOf(c, target(c))).forEach((l, b) => expectNear(`example ${b}: loss`, l, 0, 0, tol));
      }),
    },
    {
      name: 'loss (Eq. 26): the loss is non-negative and grows with the error',
      property: fc.asyncProperty(lossCase(3), async (c) => {
        const v = target(c);
        const one = await lossOf(c, perturbed(c, v, () => true));
        const two = await lossOf(c, v.map((ex, b) => ex.map((frame, k) => frame.map((vi, p) => vi + 2 * c.noise[b]![k]![p]!))));
        one.forEach((l, b) => {
          if (!(l >= -tol)) fail(`example ${b}: loss ${l} < 0`);
          if (!(two[b]! >= l - tol)) fail(`example ${b}: doubling the error lowered the loss from ${l} to ${two[b]}`);
        });
      }),
    },
    {
      name: 'loss (Eq. 26, App. A): clean frames, conditioning frames included, carry no loss',
      property: unchangedWhen(0, 'the clean frames (t_k = 0)'),
    },
    {
      name: 'loss (Eq. 26, App. A): pure-noise frames (t_k = 1) carry no loss',
      property: unchangedWhen(1, 'the pure-noise frames (t_k = 1)'),
    },
    {
      name: `loss (Eq. 26): a window frame's v-error is weighted by a(t_k)/(1 + SNR) for the '${impl.weighting}' weighting`,
      property: fc.asyncProperty(lossCase(3), async (c) => {
        const v = target(c);
        const base = await lossOf(c, v);
        for (let b = 0; b < c.x.length; b++) {
          const window = c.localTimes[b]!.flatMap((t, k) => (t > 0 && t < 1 ? [k] : []));
          // The cost of a unit v-error on frame k alone, divided by the weight the paper gives it, must
          // be the same for every window frame (the normalisation is free, the ratios are not).
          let ratio: number | null = null;
          for (const k of window) {
            const loss = (await lossOf(c, perturbed(c, v, (bb, kk) => bb === b && kk === k, 1)))[b]! - base[b]!;
            const weight = referenceVWeight(impl.weighting, gamma, impl.logSnr(c.localTimes[b]![k]!));
            const perPixelError = c.noise[b]![k]!.reduce((s, n) => s + (n + 1) ** 2, 0) / c.noise[b]![k]!.length;
            if (perPixelError === 0) continue;
            const r = loss / (weight * perPixelError);
            if (!(r > 0 && Number.isFinite(r))) fail(`example ${b}, frame ${k} (t=${c.localTimes[b]![k]}): an error there costs ${loss}, expected a positive multiple of a weight ${weight}`);
            if (ratio === null) ratio = r;
            else expectNear(`example ${b}, frame ${k} (t=${c.localTimes[b]![k]}): cost / (weight · error) relative to the first window frame`, r, ratio, 100 * tol, 0);
          }
        }
      }),
    },
    {
      name: 'loss: each example\'s loss depends on that example alone, not on the rest of the batch',
      property: fc.asyncProperty(lossCase(4), async (c) => {
        const v = target(c);
        const vHat = perturbed(c, v, () => true);
        const together = await lossOf(c, vHat);
        for (let b = 0; b < c.x.length; b++) {
          const alone = await impl.perExampleLoss({
            window: c.window,
            cleanFrames: c.cleanFrames,
            localTimes: [c.localTimes[b]!],
            x: [c.x[b]!],
            eps: [c.eps[b]!],
            vHat: [vHat[b]!],
          });
          expectNear(`example ${b}: loss in the batch vs alone`, together[b]!, alone[0]!, tol, tol);
        }
      }),
    },
  ];
}
