import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fft, ifft, fft2, ifft2, realFft2, realIfft2 } from '../../experiments/fft';
import {
  filteredInitialVorticity,
  freeFlow,
  integrateVorticity,
  kineticEnergy,
  kolmogorovFlow,
  mulberry32,
  simulateKolmogorov,
  spectralDivergence,
  taylorGreenVelocity,
  taylorGreenVorticity,
  velocityToVorticity,
  vorticityToVelocity,
} from '../../experiments/kolmogorov';

const pow2 = fc.integer({ min: 0, max: 6 }).map((e) => 2 ** e);
const finite = fc.double({ min: -100, max: 100, noNaN: true, noDefaultInfinity: true });

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function naiveDft(re: number[], im: number[]): { re: number[]; im: number[] } {
  const n = re.length;
  const outRe: number[] = [];
  const outIm: number[] = [];
  for (let k = 0; k < n; k++) {
    let sr = 0;
    let si = 0;
    for (let j = 0; j < n; j++) {
      const angle = (-2 * Math.PI * j * k) / n;
      sr += re[j] * Math.cos(angle) - im[j] * Math.sin(angle);
      si += re[j] * Math.sin(angle) + im[j] * Math.cos(angle);
    }
    outRe.push(sr);
    outIm.push(si);
  }
  return { re: outRe, im: outIm };
}

describe('fft', () => {
  it('fft: ifft(fft(x)) = x for every power-of-two length', () => {
    fc.assert(
      fc.property(
        pow2.chain((n) => fc.tuple(fc.array(finite, { minLength: n, maxLength: n }), fc.array(finite, { minLength: n, maxLength: n }))),
        ([re, im]) => {
          const r = Float64Array.from(re);
          const i = Float64Array.from(im);
          fft(r, i);
          ifft(r, i);
          const scale = 1 + maxAbs(re) + maxAbs(im);
          for (let k = 0; k < re.length; k++) {
            expect(Math.abs(r[k] - re[k])).toBeLessThan(1e-12 * scale);
            expect(Math.abs(i[k] - im[k])).toBeLessThan(1e-12 * scale);
          }
        },
      ),
    );
  });

  it('fft: agrees with the O(n²) definition X[k] = Σ x[j] e^{-2πijk/n}', () => {
    fc.assert(
      fc.property(
        pow2.chain((n) => fc.tuple(fc.array(finite, { minLength: n, maxLength: n }), fc.array(finite, { minLength: n, maxLength: n }))),
        ([re, im]) => {
          const r = Float64Array.from(re);
          const i = Float64Array.from(im);
          fft(r, i);
          const ref = naiveDft(re, im);
          const scale = (1 + maxAbs(re) + maxAbs(im)) * re.length;
          for (let k = 0; k < re.length; k++) {
            expect(Math.abs(r[k] - ref.re[k])).toBeLessThan(1e-11 * scale);
            expect(Math.abs(i[k] - ref.im[k])).toBeLessThan(1e-11 * scale);
          }
        },
      ),
    );
  });

  it('fft2: Parseval, Σ|x|² = Σ|X|² / (h w), and the 2-D round trip is the identity', () => {
    fc.assert(
      fc.property(
        pow2,
        pow2,
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (h, w, seed) => {
          const rng = mulberry32(seed);
          const field = Float64Array.from({ length: h * w }, () => rng() * 2 - 1);
          const spectrum = realFft2(field, h, w);
          let energy = 0;
          let spectralEnergy = 0;
          for (let p = 0; p < h * w; p++) {
            energy += field[p] ** 2;
            spectralEnergy += spectrum.re[p] ** 2 + spectrum.im[p] ** 2;
          }
          expect(Math.abs(energy - spectralEnergy / (h * w))).toBeLessThan(1e-12 * (1 + energy));
          const back = realIfft2(spectrum, h, w);
          for (let p = 0; p < h * w; p++) expect(Math.abs(back[p] - field[p])).toBeLessThan(1e-13);
        },
      ),
    );
  });

  it('fft2: equals 1-D transforms along rows then columns', () => {
    const h = 4;
    const w = 8;
    const rng = mulberry32(7);
    const re = Float64Array.from({ length: h * w }, () => rng());
    const im = Float64Array.from({ length: h * w }, () => rng());
    const r2 = Float64Array.from(re);
    const i2 = Float64Array.from(im);
    fft2(r2, i2, h, w);
    const rowsRe = Float64Array.from(re);
    const rowsIm = Float64Array.from(im);
    for (let i = 0; i < h; i++) fft(rowsRe.subarray(i * w, (i + 1) * w), rowsIm.subarray(i * w, (i + 1) * w));
    for (let j = 0; j < w; j++) {
      const cr = Float64Array.from({ length: h }, (_, i) => rowsRe[i * w + j]);
      const ci = Float64Array.from({ length: h }, (_, i) => rowsIm[i * w + j]);
      fft(cr, ci);
      for (let i = 0; i < h; i++) {
        expect(r2[i * w + j]).toBeCloseTo(cr[i], 12);
        expect(i2[i * w + j]).toBeCloseTo(ci[i], 12);
      }
    }
    ifft2(r2, i2, h, w);
    for (let p = 0; p < h * w; p++) expect(r2[p]).toBeCloseTo(re[p], 13);
  });

  it('fft: a length that is not a power of two is refused with a message saying so', () => {
    expect(() => fft(new Float64Array(6), new Float64Array(6))).toThrow(/power of two/);
    expect(() => fft2(new Float64Array(12), new Float64Array(12), 3, 4)).toThrow(/power of two/);
    expect(() => fft(new Float64Array(4), new Float64Array(2))).toThrow(/imaginary part/);
  });
});

describe('seeded generator', () => {
  it('mulberry32: pinned stream, values in [0, 1), adjacent seeds unrelated', () => {
    // Pinned so that datasets generated from a seed stay the same across refactors.
    const r = mulberry32(42);
    expect([r(), r(), r()].map((x) => x * 2 ** 32)).toEqual([2091601267, 2169168056, 306405048]);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 2 }), (seed) => {
        const a = mulberry32(seed);
        const b = mulberry32(seed + 1);
        const xs = [a(), a(), a(), a()];
        const ys = [b(), b(), b(), b()];
        for (const x of [...xs, ...ys]) {
          expect(x).toBeGreaterThanOrEqual(0);
          expect(x).toBeLessThan(1);
        }
        expect(xs).not.toEqual(ys);
      }),
    );
  });
});

describe('kolmogorov solver', () => {
  it('Taylor-Green vortex: without forcing or drag the amplitude decays as exp(-2νt/ρ) (100 steps, 1e-4 relative)', () => {
    const n = 32;
    for (const [viscosity, density] of [
      [0.05, 1],
      [0.02, 0.5],
    ]) {
      const flow = freeFlow(viscosity, density);
      const result = integrateVorticity(taylorGreenVorticity(n), n, flow, { duration: 5, dt: 0.05 });
      expect(result.steps).toBe(100);
      const velocity = vorticityToVelocity(result.omega, n);
      const exact = taylorGreenVelocity(n, { time: 5, viscosity, density });
      let error = 0;
      for (let p = 0; p < n * n; p++) {
        error = Math.max(error, Math.abs(velocity.u[p] - exact.u[p]), Math.abs(velocity.v[p] - exact.v[p]));
      }
      expect(error / maxAbs(exact.u)).toBeLessThan(1e-4);
      expect(maxAbs(exact.u)).toBeCloseTo(Math.exp((-2 * viscosity * 5) / density), 2);
    }
  });

  it('Taylor-Green vortex: the CFL-limited step gives the same decay', () => {
    const n = 16;
    const result = integrateVorticity(taylorGreenVorticity(n, 3), n, freeFlow(0.01), { duration: 2 });
    // Δt = 0.5 Δx / max|u| = 0.5 (2π/16) / 3 ≈ 0.065, capped at 0.05: 40 steps.
    expect(result.steps).toBe(40);
    const exact = taylorGreenVelocity(n, { time: 2, viscosity: 0.01, amplitude: 3 });
    const velocity = vorticityToVelocity(result.omega, n);
    for (let p = 0; p < n * n; p++) expect(Math.abs(velocity.u[p] - exact.u[p])).toBeLessThan(1e-6);
  });

  it('velocity from vorticity is divergence-free to round-off and has the given curl', () => {
    const n = 32;
    const omega = filteredInitialVorticity(n, mulberry32(3));
    const { u, v } = vorticityToVelocity(omega, n);
    expect(maxAbs(spectralDivergence(u, v, n))).toBeLessThan(1e-12 * maxAbs(omega));
    const curl = velocityToVorticity(u, v, n);
    for (let p = 0; p < n * n; p++) expect(Math.abs(curl[p] - omega[p])).toBeLessThan(1e-12 * maxAbs(omega));
  });

  it('filtered initial field: maximum speed 7 and divergence-free', () => {
    const n = 32;
    const { u, v } = vorticityToVelocity(filteredInitialVorticity(n, mulberry32(11)), n);
    let maxSpeed = 0;
    for (let p = 0; p < n * n; p++) maxSpeed = Math.max(maxSpeed, Math.hypot(u[p], v[p]));
    expect(maxSpeed).toBeCloseTo(7, 10);
    expect(maxAbs(spectralDivergence(u, v, n))).toBeLessThan(1e-11);
  });

  it('forced flow: energy stays below the forcing-drag balance A²/(4c²) and the velocity stays divergence-free', () => {
    // With ⟨f₀·u⟩ ≤ A ⟨sin² 4y⟩^½ ⟨u²⟩^½ = A √E and viscosity only dissipating, dE/dt ≤ (A √E + 2cE)/ρ
    // for c = −0.1, so E ≤ max(E₀, A²/(4c²)) = max(E₀, 156.25).
    const n = 16;
    const flow = kolmogorovFlow(1e-3, 0.5);
    let omega = filteredInitialVorticity(n, mulberry32(5));
    const e0 = kineticEnergy(vorticityToVelocity(omega, n));
    const bound = Math.max(e0, 2.5 ** 2 / (4 * 0.1 ** 2));
    for (let k = 0; k < 10; k++) {
      const result = integrateVorticity(omega, n, flow, { duration: 3 });
      omega = result.omega;
      const velocity = vorticityToVelocity(omega, n);
      const energy = kineticEnergy(velocity);
      expect(Number.isFinite(energy)).toBe(true);
      expect(energy).toBeLessThan(bound);
      expect(energy).toBeGreaterThan(0);
      expect(maxAbs(spectralDivergence(velocity.u, velocity.v, n))).toBeLessThan(1e-10 * (1 + maxAbs(omega)));
    }
  });

  it('forcing: from rest, the flow first accelerates as f/ρ = (2.5 sin 4y / ρ, 0)', () => {
    const n = 16;
    const density = 2;
    const result = integrateVorticity(new Float64Array(n * n), n, kolmogorovFlow(1e-3, density), { duration: 0.01, dt: 0.01 });
    const { u, v } = vorticityToVelocity(result.omega, n);
    for (let i = 0; i < n; i++) {
      const y = (2 * Math.PI * i) / n;
      for (let j = 0; j < n; j++) {
        expect(u[i * n + j]).toBeCloseTo((0.01 * 2.5 * Math.sin(4 * y)) / density, 5);
        expect(v[i * n + j]).toBeCloseTo(0, 12);
      }
    }
  });

  it('simulateKolmogorov: shape, deterministic per seed, ν and ρ in the paper ranges, frames 1.5 apart', () => {
    const options = { frames: 3, size: 16, seed: 42 };
    const a = simulateKolmogorov(options);
    const b = simulateKolmogorov(options);
    const c = simulateKolmogorov({ ...options, seed: 43 });
    expect(a.shape).toEqual([3, 16, 16, 2]);
    expect(a.frames.length).toBe(3 * 16 * 16 * 2);
    expect(Array.from(a.frames)).toEqual(Array.from(b.frames));
    expect(Array.from(a.frames)).not.toEqual(Array.from(c.frames));
    expect(a.nu).toBeGreaterThanOrEqual(5e-4);
    expect(a.nu).toBeLessThanOrEqual(5e-3);
    expect(a.rho).toBeGreaterThanOrEqual(0.5);
    expect(a.rho).toBeLessThanOrEqual(2);
    expect(Array.from(a.times)).toEqual([0, 1.5, 3]);
    let maxSpeed = 0;
    for (let p = 0; p < 16 * 16; p++) maxSpeed = Math.max(maxSpeed, Math.hypot(a.frames[2 * p], a.frames[2 * p + 1]));
    expect(maxSpeed).toBeCloseTo(7, 4);
    for (const value of a.frames) expect(Number.isFinite(value)).toBe(true);
  });

  it('simulateKolmogorov: spectral downsampling keeps the output divergence-free; mean downsampling is close to it', () => {
    const spectral = simulateKolmogorov({ frames: 2, size: 16, simulationSize: 32, seed: 9 });
    const mean = simulateKolmogorov({ frames: 2, size: 16, simulationSize: 32, seed: 9, downsample: 'mean' });
    expect(spectral.simulationSize).toBe(32);
    const n = 16;
    const offset = n * n * 2;
    const u = Float64Array.from({ length: n * n }, (_, p) => spectral.frames[offset + 2 * p]);
    const v = Float64Array.from({ length: n * n }, (_, p) => spectral.frames[offset + 2 * p + 1]);
    // Float32 storage limits this to single-precision round-off, amplified by the derivative (|k| ≤ 8).
    expect(maxAbs(spectralDivergence(u, v, n))).toBeLessThan(1e-4 * maxAbs(u));
    let diff = 0;
    for (let p = 0; p < spectral.frames.length; p++) diff = Math.max(diff, Math.abs(spectral.frames[p] - mean.frames[p]));
    expect(diff).toBeLessThan(0.5 * maxAbs(spectral.frames));
  });

  it('simulateKolmogorov: bad sizes are refused with a clear message', () => {
    expect(() => simulateKolmogorov({ frames: 1, size: 24 })).toThrow(/power of two/);
    expect(() => simulateKolmogorov({ frames: 1, size: 32, simulationSize: 16 })).toThrow(/smaller than the output size/);
  });
});
