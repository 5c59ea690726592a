/**
 * The FSD section of the golden vectors (Eq. 27 on fixed frames). It lives in experiments because
 * FSD does (experiments/metrics/metrics.ts) and diffusion must not import experiments; goldenVectors.ts
 * merges it with the diffusion package's sections.
 */
import type { GoldenFsdCase, GoldenFsdSection } from '../../diffusion/golden.js';
import { fsdFromArrays } from './metrics.js';

/** Deterministic frame values k/16 ∈ [−1.25, 1.25], exact in float32. */
function pattern(count: number, salt: number): number[] {
  return Array.from({ length: count }, (_, i) => ((((i + 1) * 29 + salt * 53) % 41) - 20) / 16);
}

/** Every [h, w] frame of a flat [n, h, w] array rolled by (dy, dx) with wrap-around. */
function rolled(frames: readonly number[], n: number, h: number, w: number, dy: number, dx: number): number[] {
  const out = new Array<number>(frames.length);
  for (let f = 0; f < n; f++) {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[f * h * w + ((y + dy) % h) * w + ((x + dx) % w)] = frames[f * h * w + y * w + x]!;
  }
  return out;
}

function fsdCase(name: string, height: number, width: number, nReal: number, nGenerated: number, real: number[], generated: number[]): GoldenFsdCase {
  return { name, height, width, nReal, nGenerated, real, generated, fsd: fsdFromArrays(real, nReal, generated, nGenerated, height, width) };
}

export function fsdGoldenSection(): GoldenFsdSection {
  const base = pattern(3 * 16, 1);
  return {
    description:
      'FSD (Eq. 27) between fixed sets of frames, by experiments/metrics/metrics.ts fsdFromArrays: features are |DFT| of each frame over the full grid (NumPy: np.abs(np.fft.fft2(x)).reshape(n, -1)), Fréchet distance with 1/(n − 1) covariances, clamped at 0.',
    cases: [
      fsdCase('4×4, 3 real vs 4 generated (fewer samples than features)', 4, 4, 3, 4, base, pattern(4 * 16, 2)),
      fsdCase('2×2, 6 real vs 5 generated (more samples than features)', 2, 2, 6, 5, pattern(6 * 4, 3), pattern(5 * 4, 4)),
      fsdCase('8×8, 5 real vs 5 generated', 8, 8, 5, 5, pattern(5 * 64, 5), pattern(5 * 64, 6)),
      fsdCase('4×8 frames (not square), 4 vs 3', 4, 8, 4, 3, pattern(4 * 32, 7), pattern(3 * 32, 8)),
      fsdCase('identical sets: 0 up to round-off', 4, 4, 3, 3, base, base),
      fsdCase('every frame circularly shifted by (1, 2): 0 up to round-off, as |DFT| ignores shifts', 4, 4, 3, 3, base, rolled(base, 3, 4, 4, 1, 2)),
    ],
  };
}
