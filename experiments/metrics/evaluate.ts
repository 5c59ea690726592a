/**
 * Per-step metrics of generated against real continuations: MSE and PSNR per rollout step, SSIM,
 * and the Fréchet Spectral Distance (Eq. 27) across clips at each step (on channel 0, as the paper
 * reports FSD on the horizontal velocity). FVD needs the I3D network's weights, which cannot be had
 * here, so it is not reported at all.
 */
import { fsdFromArrays, mse, psnr, selectChannel, ssim } from './metrics.js';

export interface StepMetrics {
  step: number;
  mse: number;
  psnr: number;
  ssim: number | null;
  fsd: number | null;
}

/**
 * `real` and `generated` are [clips, frames, H, W, C] in [−1, 1] (PSNR and SSIM with data range 2).
 * FSD needs at least two clips and power-of-two sides; otherwise it is null.
 */
export function stepMetrics(real: Float32Array, generated: Float32Array, clips: number, frames: number, h: number, w: number, c: number): StepMetrics[] {
  const fs = h * w * c;
  const out: StepMetrics[] = [];
  const pow2 = (n: number) => (n & (n - 1)) === 0;
  for (let f = 0; f < frames; f++) {
    let m = 0;
    let p = 0;
    let s = 0;
    const realStep = new Float32Array(clips * fs);
    const genStep = new Float32Array(clips * fs);
    for (let b = 0; b < clips; b++) {
      const off = (b * frames + f) * fs;
      const a = real.subarray(off, off + fs);
      const g = generated.subarray(off, off + fs);
      realStep.set(a, b * fs);
      genStep.set(g, b * fs);
      m += mse(a, g);
      p += psnr(a, g, 2);
      if (h >= 11 && w >= 11) s += ssim(a, g, h, w, c, { dataRange: 2 });
    }
    const fsd = clips >= 2 && pow2(h) && pow2(w)
      ? fsdFromArrays(selectChannel(realStep, clips, h, w, c, 0), clips, selectChannel(genStep, clips, h, w, c, 0), clips, h, w)
      : null;
    out.push({ step: f + 1, mse: m / clips, psnr: p / clips, ssim: h >= 11 && w >= 11 ? s / clips : null, fsd });
  }
  return out;
}

export function formatTable(rows: readonly Record<string, number | string | null>[]): string {
  if (rows.length === 0) return '';
  const keys = Object.keys(rows[0]!);
  const cell = (v: number | string | null) => (v === null ? '–' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : v);
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => cell(r[k] ?? null).length)));
  const line = (vals: string[]) => `| ${vals.map((v, i) => v.padStart(widths[i]!)).join(' | ')} |`;
  return [line(keys), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map((r) => line(keys.map((k) => cell(r[k] ?? null))))].join('\n');
}
