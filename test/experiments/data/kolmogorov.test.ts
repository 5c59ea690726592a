import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fft, ifft, fft2, ifft2, realFft2, realIfft2 } from '../../../experiments/math/fft.js';
import {
  explicitTendency,
  filteredInitialVorticity,
  freeFlow,
  integrateVorticity,
  kineticEnergy,
  kolmogorovFlow,
  simulateKolmogorov,
  spectralDivergence,
  taylorGreenVelocity,
  taylorGreenVorticity,
  velocityToVorticity,
  vorticityToVelocity,
} from '../../../experiments/data/kolmogorov.js';
import { mulberry32 } from '../../../experiments/math/random.js';

/** ψ = Σ a cos(k_x x + k_y y + φ): a band-limited stream function whose derivatives are known in closed form. */
interface StreamMode {
  readonly a: number;
  readonly kx: number;
  readonly ky: number;
  readonly phase: number;
}

/**
 * u = ∂yψ, v = −∂xψ, ω = ∂x v − ∂y u = −Δψ and ∇ω of a sum of stream-function modes, on the solver's grid
 * (row i at y = 2πi/n, column j at x = 2πj/n), evaluated pointwise with Math.sin and Math.cos: no FFT involved.
 */
function streamFunctionFields(modes: readonly StreamMode[], n: number) {
  const size = n * n;
  const fields = {
    u: new Float64Array(size),
    v: new Float64Array(size),
    omega: new Float64Array(size),
    omegaX: new Float64Array(size),
    omegaY: new Float64Array(size),
  };
  for (let i = 0; i < n; i++) {
    const y = (2 * Math.PI * i) / n;
    for (let j = 0; j < n; j++) {
      const x = (2 * Math.PI * j) / n;
      const p = i * n + j;
      for (const { a, kx, ky, phase } of modes) {
        const theta = kx * x + ky * y + phase;
        const k2 = kx * kx + ky * ky;
        const s = Math.sin(theta);
        const c = Math.cos(theta);
        fields.u[p] -= a * ky * s;
        fields.v[p] += a * kx * s;
        fields.omega[p] += a * k2 * c;
        fields.omegaX[p] -= a * k2 * kx * s;
        fields.omegaY[p] -= a * k2 * ky * s;
      }
    }
  }
  return fields;
}

function rms(a: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * a[i];
  return Math.sqrt(sum / a.length);
}

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

  it('advection: the explicit tendency is −u·∇ω + curl(f₀)/ρ, with u·∇ω computed pointwise from a closed-form stream function', () => {
    // Wavenumbers up to 5 on a 32² grid: the products in u·∇ω reach 10, and 3·10 < 32, so the 2/3 rule removes
    // none of them and the de-aliased tendency must equal the pointwise one to round-off.
    const n = 32;
    const wavenumber = fc.integer({ min: -5, max: 5 });
    const mode = fc
      .record({
        a: fc.double({ min: -1, max: 1, noNaN: true }),
        kx: wavenumber,
        ky: wavenumber,
        phase: fc.double({ min: 0, max: 2 * Math.PI, noNaN: true }),
      })
      .filter(({ kx, ky }) => kx !== 0 || ky !== 0);
    fc.assert(
      fc.property(
        fc.array(mode, { minLength: 2, maxLength: 5 }),
        fc.boolean(),
        fc.double({ min: 0.5, max: 2, noNaN: true }),
        (modes, forced, density) => {
          const fields = streamFunctionFields(modes, n);
          // ∑|a||k| bounds |u| and ∑|a||k|³ bounds |∇ω|: the scale of u·∇ω, and of its round-off.
          let speedScale = 0;
          let gradientScale = 0;
          for (const { a, kx, ky } of modes) {
            const k = Math.hypot(kx, ky);
            speedScale += Math.abs(a) * k;
            gradientScale += Math.abs(a) * k ** 3;
          }
          const scale = speedScale * gradientScale;
          const advection = fields.u.map((u, p) => u * fields.omegaX[p] + fields.v[p] * fields.omegaY[p]);
          // Modes with parallel wavevectors make u·∇ω vanish (each is a steady Euler flow): such draws test nothing.
          fc.pre(maxAbs(advection) > 1e-3 * scale);
          const flow = forced ? kolmogorovFlow(1e-3, density) : freeFlow(0);
          const tendency = explicitTendency(fields.omega, n, flow);
          for (let i = 0; i < n; i++) {
            const y = (2 * Math.PI * i) / n;
            // curl(f₀) = ∂x 0 − ∂y (A sin k_f y) = −A k_f cos(k_f y); drag and viscosity are not explicit terms.
            const forcing = forced ? (-2.5 * 4 * Math.cos(4 * y)) / density : 0;
            for (let j = 0; j < n; j++) {
              const p = i * n + j;
              // Measured round-off: at most 4e-15 of the scale (FFTs of 32² points); the forcing adds up to 20 (ρ = 0.5).
              expect(Math.abs(tendency[p] - (forcing - advection[p]))).toBeLessThan(2e-14 * (scale + 20));
            }
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it('advection: inviscid, unforced, the de-aliased flow conserves energy and enstrophy up to the O(Δt⁴) error of RK4', () => {
    // The 2/3-rule Galerkin truncation of 2-D Euler conserves E = ½⟨|u|²⟩ and Z = ½⟨ω²⟩ exactly in continuous
    // time (the truncated triad interactions conserve both, as the full ones do), so all drift comes from the
    // time stepping: with ν = 0 and no drag the Crank-Nicolson part is the identity and the scheme is the
    // 4th-order Carpenter-Kennedy RK4, whose error e = ω_Δt − ω(T) is O(Δt⁴). With Z(T) = Z(0) exactly,
    // |Z_Δt − Z(0)| = |⟨ω e⟩ + ½⟨e²⟩| ≤ ‖ω‖ ‖e‖ + ½‖e‖² (rms norms, Cauchy-Schwarz), and likewise for E with the
    // velocity error. e is estimated by Richardson extrapolation, (ω_Δt − ω_{Δt/2}) · 16/15, and given a factor 2
    // for being an estimate. A wrong advection term that does not conserve them (u or ∇ω components swapped, u's
    // sign flipped) drifts by 3-30% of E here, thousands of times the bound. An overall sign flip of u·∇ω is time-reversed
    // Euler, which conserves both: only the pointwise test above catches that one.
    const n = 32;
    const flow = freeFlow(0);
    const duration = 2;
    const omega0 = integrateVorticity(filteredInitialVorticity(n, mulberry32(21), { maxVelocity: 1 }), n, flow, { duration: 0 }).omega;
    const coarse = integrateVorticity(omega0, n, flow, { duration, dt: 0.025 });
    const fine = integrateVorticity(omega0, n, flow, { duration, dt: 0.0125 });
    expect(coarse.steps).toBe(80);
    const error = coarse.omega.map((w, p) => ((w - fine.omega[p]) * 16) / 15);
    const velocityError = vorticityToVelocity(error, n);
    const velocityErrorRms = Math.sqrt(2 * kineticEnergy(velocityError));
    const energy0 = kineticEnergy(vorticityToVelocity(omega0, n));
    const enstrophy0 = 0.5 * rms(omega0) ** 2;
    const energyBound = 2 * (Math.sqrt(2 * energy0) * velocityErrorRms + 0.5 * velocityErrorRms ** 2);
    const enstrophyBound = 2 * (rms(omega0) * rms(error) + 0.5 * rms(error) ** 2);
    expect(Math.abs(kineticEnergy(vorticityToVelocity(coarse.omega, n)) - energy0)).toBeLessThan(energyBound);
    expect(Math.abs(0.5 * rms(coarse.omega) ** 2 - enstrophy0)).toBeLessThan(enstrophyBound);
    // The bounds are themselves small while the flow moves by O(1) in this time (max|Δω| ≈ 5), so the check is tight.
    expect(energyBound).toBeLessThan(1e-6 * energy0);
    expect(enstrophyBound).toBeLessThan(1e-6 * enstrophy0);
    expect(maxAbs(coarse.omega.map((w, p) => w - omega0[p]))).toBeGreaterThan(1);
  });

  it('advection: inviscid, the time stepping converges at 4th order and the invariants\' drift vanishes at least as fast', () => {
    // Halving Δt divides an order-p error by 2^p: successive differences ω_Δt − ω_{Δt/2} shrink by 16 for RK4
    // (measured 16.04); 3rd or 5th order would give 8 or 32.
    // The drift of E and Z is O(Δt⁴) or better (measured ratios ≈ 20-35); a non-conservative advection term
    // instead gives an O(1) drift that does not shrink with Δt.
    const n = 32;
    const flow = freeFlow(0);
    const duration = 2;
    const omega0 = integrateVorticity(filteredInitialVorticity(n, mulberry32(21), { maxVelocity: 1 }), n, flow, { duration: 0 }).omega;
    const runs = [20, 40, 80].map((steps) => integrateVorticity(omega0, n, flow, { duration, dt: duration / steps }).omega);
    const difference = (a: Float64Array, b: Float64Array): Float64Array => a.map((x, p) => x - b[p]);
    const ratio = rms(difference(runs[0], runs[1])) / rms(difference(runs[1], runs[2]));
    expect(ratio).toBeGreaterThan(14);
    expect(ratio).toBeLessThan(18);
    const energy0 = kineticEnergy(vorticityToVelocity(omega0, n));
    const enstrophy0 = 0.5 * rms(omega0) ** 2;
    const energyDrift = runs.map((w) => Math.abs(kineticEnergy(vorticityToVelocity(w, n)) - energy0));
    const enstrophyDrift = runs.map((w) => Math.abs(0.5 * rms(w) ** 2 - enstrophy0));
    for (const drift of [energyDrift, enstrophyDrift]) {
      expect(drift[0] / drift[1]).toBeGreaterThan(0.8 * 16);
      expect(drift[1] / drift[2]).toBeGreaterThan(0.8 * 16);
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
