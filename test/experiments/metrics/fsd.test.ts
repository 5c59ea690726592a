import { describe, expect, it } from 'vitest';
import * as r from '../../../index.js';
import { fsd, fsdFromArrays } from '../../../experiments/index.js';

describe('fsd(real, generated) on tensors', () => {
  it('equals the array form, is zero on identical sets and rejects bad shapes', async () => {
    const a = r.normal(r.key(1), [6, 8, 8]);
    const b = r.add(r.normal(r.key(2), [5, 8, 8]), 0.5);
    const expected = fsdFromArrays(await a.toArray(), 6, await b.toArray(), 5, 8, 8);
    expect(await fsd(a, b)).toBeCloseTo(expected, 10);
    expect(await fsd(a, a)).toBeLessThan(1e-6 * expected);
    await expect(fsd(a, r.zeros([5, 4, 8]))).rejects.toThrow(/frame sizes differ/);
    await expect(fsd(r.zeros([2, 8]), a)).rejects.toThrow(/\[n, height, width\]/);
  });
});
