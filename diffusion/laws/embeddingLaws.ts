/**
 * Laws of the noise-level embeddings (the model's conditioning, Eq. 6: each frame is told its own
 * noise level).
 */
import fc from 'fast-check';
import { spreadDouble } from './arbitraries.js';
import type { Law } from './law.js';
import { expectArrayNear, fail } from './reference.js';

export type EmbeddingVectors = readonly (readonly (readonly number[])[])[];

export interface EmbeddingImpl {
  /** logSNR per frame [B][F] → a conditioning vector per frame [B][F][D]. */
  readonly embed: (logSnr: readonly (readonly number[])[]) => EmbeddingVectors | Promise<EmbeddingVectors>;
  /** The logSNR range the laws draw from (default the truncated cosine's [−15, 15]). */
  readonly logSnrRange?: readonly [number, number];
}

function expectVectorsNear(what: string, a: EmbeddingVectors, b: EmbeddingVectors, tol: number): void {
  if (a.length !== b.length) fail(`${what}: ${a.length} vs ${b.length} examples`);
  a.forEach((ex, i) => ex.forEach((vec, k) => expectArrayNear(`${what}, example ${i}, frame ${k}`, vec, b[i]![k]!, tol)));
}

export function embeddingLaws(impl: EmbeddingImpl, options: { readonly tolerance?: number } = {}): Law[] {
  const tol = options.tolerance ?? 1e-5;
  const [lo, hi] = impl.logSnrRange ?? [-15, 15];
  const level = fc.oneof(fc.constant(lo), fc.constant(hi), spreadDouble(lo, hi));
  const batch = (minB: number) =>
    fc.integer({ min: 1, max: 6 }).chain((frames) => fc.array(fc.array(level, { minLength: frames, maxLength: frames }), { minLength: minB, maxLength: 4 }));
  return [
    {
      name: 'embedding: each example\'s conditioning ignores the rest of the batch',
      property: fc.asyncProperty(batch(2), async (rows) => {
        const together = await impl.embed(rows);
        for (let b = 0; b < rows.length; b++) expectVectorsNear(`example ${b} in the batch vs alone`, [together[b]!], await impl.embed([rows[b]!]), tol);
      }),
    },
    {
      name: 'embedding: each frame\'s conditioning depends on its own noise level alone',
      property: fc.asyncProperty(batch(1), async (rows) => {
        const together = await impl.embed(rows);
        for (let k = 0; k < rows[0]!.length; k++) {
          expectVectorsNear(`frame ${k} in the window vs alone`, [[together[0]![k]!]], await impl.embed([[rows[0]![k]!]]), tol);
        }
      }),
    },
    {
      name: 'embedding: distinct noise levels get distinct conditioning',
      property: fc.asyncProperty(level, fc.double({ min: 0.05, max: hi - lo, noNaN: true }), async (a, gap) => {
        const b = a + gap <= hi ? a + gap : a - gap;
        if (b < lo) return;
        const e = await impl.embed([[a], [b]]);
        const ea = e[0]![0]!;
        const eb = e[1]![0]!;
        const distance = Math.max(...ea.map((x, i) => Math.abs(x - eb[i]!)));
        if (!(distance > 10 * tol)) fail(`λ = ${a} and λ = ${b} are embedded ${distance} apart`);
      }),
    },
  ];
}
