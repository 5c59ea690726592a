/**
 * Run the property suite under other random draws: a vitest setup file that does nothing unless one of
 * these environment variables is set.
 *
 *   FC_SEED=123 npx vitest run test/core          every fc.assert draws from seed 123 (fast-check
 *                                                  otherwise takes a fresh seed per property per run)
 *   FC_RUNS_SCALE=4 npx vitest run test/core       every property runs 4× its numRuns (its explicit
 *                                                  one, or fast-check's default 100), rounded up
 *
 * The two combine. With FC_SEED set, every property in every file starts from that one seed, so a
 * failure replays with the same FC_SEED (and FC_RUNS_SCALE) on the same file; fast-check's own report
 * also prints the property's seed and path, which `fc.assert(…, { seed, path })` replays directly.
 * test/MUTATION.md ("Seeds: the suite under many seeds") records a sweep made with it.
 *
 * Most properties pass an explicit `numRuns`, which fast-check lets override the global one, so the
 * scale is applied by wrapping `fc.assert` (a module mock of fast-check, installed only when
 * FC_RUNS_SCALE is set).
 */
import fc from 'fast-check';
import { vi } from 'vitest';

const seed = process.env.FC_SEED;
if (seed !== undefined && seed !== '') {
  const n = Number(seed);
  if (!Number.isInteger(n)) throw new Error(`FC_SEED must be an integer, got '${seed}'`);
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: n | 0 });
}

const scale = process.env.FC_RUNS_SCALE;
if (scale !== undefined && scale !== '') {
  const k = Number(scale);
  if (!(k > 0)) throw new Error(`FC_RUNS_SCALE must be a positive number, got '${scale}'`);
  vi.doMock('fast-check', async (importOriginal) => {
    const original = await importOriginal<typeof import('fast-check')>();
    const scaled = <P extends { numRuns?: number }>(params: P | undefined): P =>
      ({ ...params, numRuns: Math.ceil(k * (params?.numRuns ?? fc.readConfigureGlobal().numRuns ?? 100)) }) as P;
    const assert: typeof original.assert = ((property: Parameters<typeof original.assert>[0], params?: Parameters<typeof original.assert>[1]) =>
      original.assert(property, scaled(params))) as typeof original.assert;
    return { ...original, assert, default: { ...original, assert } };
  });
}
