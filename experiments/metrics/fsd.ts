/** The tensor-level Fréchet Spectral Distance of DESIGN.md's contract: `fsd(real, generated)`. */
import type { Tensor } from '../../core/index.js';
import { fsdFromArrays } from './metrics.js';

/**
 * Eq. 27 between two sets of single-channel frames `[n, height, width]` (power-of-two sides), on the
 * magnitudes of their 2-D DFTs; the trace term is computed exactly in low-rank form, so it works
 * with fewer samples than frequencies.
 */
export async function fsd(real: Tensor, generated: Tensor): Promise<number> {
  if (real.rank !== 3 || generated.rank !== 3) throw new Error(`fsd: expected [n, height, width] tensors, got [${real.shape}] and [${generated.shape}]`);
  const [n1, h, w] = real.shape as [number, number, number];
  const [n2, h2, w2] = generated.shape as [number, number, number];
  if (h !== h2 || w !== w2) throw new Error(`fsd: frame sizes differ: ${h}×${w} and ${h2}×${w2}`);
  if (n1 < 2 || n2 < 2) throw new Error(`fsd: needs at least 2 frames in each set (covariances), got ${n1} and ${n2}`);
  const [a, b] = await Promise.all([real.toArray(), generated.toArray()]);
  return fsdFromArrays(a, n1, b, n2, h, w);
}
