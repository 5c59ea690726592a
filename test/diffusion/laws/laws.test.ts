/**
 * The conformance kit (diffusion/laws/) run on this package's own implementation: every law of the
 * paper that the kit states must hold here. One source of truth: these are the same properties a port
 * runs on its own code, and test/diffusion/laws/mutants.test.ts proves they catch the known bugs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as r from '../../../index.js';
import {
  cosineSchedule, interpolatedCosineSchedule, linearLogSnrSchedule, posteriorFromLogSnr, shiftedCosineSchedule, stepCoefficients,
  type LossWeightingName,
} from '../../../diffusion/index.js';
import {
  assertLaws, checkLaws, embeddingLaws, lawArbitraries, localTimeLaws, lossLaws, ourLocalTimeImpl, ourLossImpl, ourPosteriorImpl, ourProcessImpl, ourSamplerImpl,
  ourScheduleImpl, ourWeightingImpl, posteriorLaws, processLaws, samplerLaws, scheduleLaws, tensorEmbeddingImpl, weightingLaws, type Law,
} from '../../../diffusion/laws/index.js';
import { fourierFeatures } from '../../../nn/layers/fourierFeatures.js';
import { linear } from '../../../nn/layers/linear.js';

/** One vitest case per law, named by the law (a sentence), run with fast-check's defaults. */
function lawSuite(title: string, laws: readonly Law[]): void {
  describe(title, () => {
    for (const law of laws) {
      it(law.name, async () => {
        await fc.assert(law.property, {
          ...(law.numRuns === undefined ? {} : { numRuns: law.numRuns }),
          ...(law.examples ? { examples: law.examples as unknown[] } : {}),
        });
      });
    }
  });
}

const cosine = cosineSchedule();

lawSuite('local times and frame categories', localTimeLaws(ourLocalTimeImpl));

lawSuite('truncated cosine schedule, with its resolution shift', scheduleLaws(ourScheduleImpl(cosine, (imageSize, referenceSize) => shiftedCosineSchedule({ imageSize, referenceSize }))));
lawSuite(
  'truncated cosine schedule on [−10, 10], with its resolution shift',
  scheduleLaws(ourScheduleImpl(cosineSchedule({ logSnrMin: -10, logSnrMax: 10 }), (imageSize, referenceSize) => shiftedCosineSchedule({ imageSize, referenceSize, logSnrMin: -10, logSnrMax: 10 }))),
);
lawSuite('shifted cosine schedule (128² against 64²) as a schedule', scheduleLaws(ourScheduleImpl(shiftedCosineSchedule({ imageSize: 128 }))));
lawSuite('interpolated cosine schedule', scheduleLaws(ourScheduleImpl(interpolatedCosineSchedule({ imageSize: 512, lowReferenceSize: 32, highReferenceSize: 256 }))));
lawSuite('linear-logSNR schedule', scheduleLaws(ourScheduleImpl(linearLogSnrSchedule())));

lawSuite('posterior, DDIM and per-frame posterior', posteriorLaws(ourPosteriorImpl(cosine)));
lawSuite(
  "the sampler's per-frame step coefficients (ancestral)",
  posteriorLaws({ posterior: posteriorFromLogSnr, framePosterior: { logSnr: cosine.logSnr, coefficients: (s, t) => stepCoefficients(s, t, { schedule: cosine }) } }),
);

lawSuite('forward process and v-parameterization (tensor level, float32)', processLaws(ourProcessImpl));

for (const name of ['x', 'eps', 'v', 'minSnr'] as LossWeightingName[]) lawSuite(`loss weighting '${name}'`, weightingLaws(ourWeightingImpl(name)));
lawSuite("loss weighting 'minSnr' with γ = 1", weightingLaws(ourWeightingImpl('minSnr', 1)));

for (const weighting of ['v', 'minSnr', 'eps', 'x'] as LossWeightingName[]) {
  lawSuite(`window loss (Eq. 26, tensor level) with the '${weighting}' weighting`, lossLaws(ourLossImpl({ schedule: cosine, weighting })));
}

/** The U-ViT's conditioning path (nn/uvit.ts): Fourier features of each frame's logSNR, then an MLP. */
const features = fourierFeatures({ dim: 16 });
const hidden = linear({ inFeatures: 16, outFeatures: 32 });
const out = linear({ inFeatures: 32, outFeatures: 32 });
const embedParams = { hidden: hidden.init(r.key(1)), out: out.init(r.key(2)) };
lawSuite(
  'noise-level embedding (Fourier features and MLP, as in the U-ViT)',
  embeddingLaws(tensorEmbeddingImpl((logSnr) => out.apply(embedParams.out, r.silu(hidden.apply(embedParams.hidden, features.apply({}, logSnr)))))),
);

lawSuite('ancestral sampler (Algorithms 2 and 3)', samplerLaws(ourSamplerImpl({ schedule: cosine, sampler: 'ddpm' })));
lawSuite('DDIM(η = 0) sampler with the rescaled boundary schedule (Eq. 37)', samplerLaws(ourSamplerImpl({ schedule: cosine, sampler: 'ddim', eta: 0, initSchedule: 'rescaled' })));

describe('the kit itself', () => {
  it('frees every tensor it creates (sampler, loss, process and embedding laws)', async () => {
    const embedding = tensorEmbeddingImpl((logSnr) => features.apply({}, logSnr));
    const laws = [
      ...samplerLaws(ourSamplerImpl({ schedule: cosine, steps: 20, stepsPerFrame: 20 }), { numRuns: 1, batch: 2, frameShape: [2, 2, 1], discretisation: 10 }),
      ...lossLaws(ourLossImpl({ schedule: cosine })),
      ...processLaws(ourProcessImpl),
      ...embeddingLaws(embedding),
    ];
    const before = r.memoryStats().tensors;
    const results = await checkLaws(laws, { numRuns: 5, seed: 3 });
    expect(results.filter((res) => !res.ok)).toEqual([]);
    expect(r.memoryStats().tensors).toBe(before);
  });

  it("allows for the N(0, I) start's bias on the mean under any λ_min: with λ_min = −5 (α(1) ≈ 0.08) the Gaussian-oracle sampler laws hold for ancestral and DDIM(η = 0) sampling", async () => {
    const schedule = cosineSchedule({ logSnrMin: -5 });
    for (const config of [{ sampler: 'ddpm' as const }, { sampler: 'ddim' as const, eta: 0, initSchedule: 'rescaled' as const }]) {
      const laws = samplerLaws(ourSamplerImpl({ schedule, ...config }), { batch: 8 }).filter((law) => law.name.includes('Gaussian oracle'));
      expect(laws).toHaveLength(2);
      const results = await checkLaws(laws, { seed: 5 });
      expect(results.filter((res) => !res.ok)).toEqual([]);
    }
  });

  it('its generators reach the boundaries: t = 0 and 1, W = 1, n_cln = 0 and W − 1, s = t', () => {
    const times = fc.sample(lawArbitraries.time, { numRuns: 500, seed: 1 });
    expect(times).toContain(0);
    expect(times).toContain(1);
    const specs = fc.sample(lawArbitraries.windowSpec(16), { numRuns: 500, seed: 2 });
    expect(specs.some((s) => s.window === 1)).toBe(true);
    expect(specs.some((s) => s.window > 2 && s.cleanFrames === 0)).toBe(true);
    expect(specs.some((s) => s.window > 2 && s.cleanFrames === s.window - 1)).toBe(true);
    const steps = fc.sample(lawArbitraries.logSnrStep, { numRuns: 500, seed: 3 });
    expect(steps.some((p) => p.logSnrS === p.logSnrT)).toBe(true);
    expect(steps.some((p) => p.logSnrS === 20 || p.logSnrT === -20)).toBe(true);
  });

  it('checkLaws reports each law, with a counterexample and the reason when one fails', async () => {
    const results = await checkLaws(
      [
        { name: 'holds', property: fc.property(fc.integer(), (n) => n + 0 === n) },
        { name: 'fails', property: fc.property(fc.integer({ min: 0, max: 100 }), (n) => { if (n > 10) throw new Error(`too big: ${n}`); }) },
      ],
      { seed: 7 },
    );
    expect(results[0]).toEqual({ name: 'holds', ok: true });
    expect(results[1]).toMatchObject({ name: 'fails', ok: false, counterexample: '[11]', error: 'too big: 11' });
  });

  it('assertLaws resolves when every law holds and otherwise throws one error listing each failed law, its counterexample and its reason', async () => {
    const holds = { name: 'holds', property: fc.property(fc.integer(), (n) => n + 0 === n) };
    const tooBig = { name: 'fails', property: fc.property(fc.integer({ min: 0, max: 100 }), (n) => { if (n > 10) throw new Error(`too big: ${n}`); }) };
    const odd = { name: 'also fails', property: fc.property(fc.integer({ min: 0, max: 100 }), (n) => { if (n % 2 === 1) throw new Error(`odd: ${n}\nmore`); }) };
    await expect(assertLaws([holds], { seed: 7 })).resolves.toBeUndefined();
    await expect(assertLaws([holds, tooBig, odd], { seed: 7 })).rejects.toThrow(
      '2 law(s) failed:\n- fails\n    counterexample: [11]\n    too big: 11\n- also fails\n    counterexample: [21]\n    odd: 21',
    );
    // The seed is passed on: the same seed finds the same first failure; the examples run first.
    const withExample = { ...tooBig, examples: [[50]] };
    const [first] = await checkLaws([withExample], { seed: 7 });
    expect(first).toMatchObject({ ok: false, counterexample: '[11]' });
    const [once] = await checkLaws([{ ...withExample, numRuns: 1 }], { seed: 7 });
    // One run, and that run is the example 50 (shrunk to 11).
    expect(once).toMatchObject({ ok: false, counterexample: '[11]' });
    const [none] = await checkLaws([{ ...tooBig, numRuns: 1, examples: [[3]] }], { seed: 7 });
    expect(none).toEqual({ name: 'fails', ok: true });
  });
});
