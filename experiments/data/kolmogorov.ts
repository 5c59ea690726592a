/**
 * Kolmogorov flow: 2-D incompressible Navier-Stokes on the periodic square [0, 2π]², as in the paper's
 * Section 5.1 and Appendix E (Table 7), on typed arrays and independent of the tensor core.
 *
 * The choice of solver. The paper's data came from JaxCFD's finite-volume DNS at 256² downsampled to 64².
 * Here the same equations are solved with JaxCFD's *spectral* option instead: pseudo-spectral in vorticity
 * form (`jax_cfd.spectral.equations.ForcedNavierStokes2D`), which is an accepted equivalent for periodic
 * 2-D flow and much cheaper at the small sizes a laptop can afford:
 *   ∂ω/∂t + u·∇ω = (ν/ρ) Δω + (c/ρ) ω + curl(f₀)/ρ,   ω = ∂x v − ∂y u,
 * where f = f₀ + c u is JaxCFD's `simple_turbulence_forcing`, f₀ = (A sin(k_f y), 0) with A = 2.5, k_f = 4,
 * and linear coefficient c = −0.1, so curl(f₀) = −A k_f cos(k_f y) = −10 cos(4y). Viscosity and forcing are
 * divided by the density exactly as JaxCFD's `navier_stokes_explicit_terms` does (`diffuse(v, ν/ρ)`,
 * `forcing(v)/ρ`): that is how a random density changes an incompressible flow.
 *
 * Discretisation:
 * - full complex n×n spectra, velocity from the stream function (u = ∂yψ, v = −∂xψ, ψ̂ = ω̂/|k|²), so the
 *   velocity is divergence-free to round-off;
 * - the advection term is formed in physical space and de-aliased with the 2/3 rule (modes with
 *   3|k_x| < n and 3|k_y| < n survive), as JaxCFD's `brick_wall_filter_2d` does;
 * - time stepping is JaxCFD's `crank_nicolson_rk4`: low-storage 5-stage RK4 of Carpenter and Kennedy for the
 *   advection and the forcing, Crank-Nicolson for the linear terms (viscosity and drag);
 * - the step is CFL-limited, Δt = min(maxDt, safety · Δx / max|u|) with safety 0.5 and maxDt 0.05
 *   (Table 7), recomputed every step from the current velocity, and shortened to land on frame times.
 *
 * Layout. A field on an n×n grid is row-major with the row index along y and the column index along x:
 * `field[i * n + j]` lives at (x, y) = (2πj/n, 2πi/n). (JaxCFD stores arrays as [x, y]: transpose to compare.)
 */

import { fft2, ifft2, frequencyIndex, isPowerOfTwo } from '../math/fft.js';
import { gaussian, mulberry32 } from '../math/random.js';

/** The physical parameters of one flow; `linearCoefficient` is JaxCFD's (negative means drag). */
export interface FlowParameters {
  readonly viscosity: number;
  readonly density: number;
  readonly forcingAmplitude: number;
  readonly forcingWavenumber: number;
  readonly linearCoefficient: number;
}

/** Table 7's "simple turbulence" forcing: magnitude 2.5, wavenumber 4, linear coefficient −0.1. */
export function kolmogorovFlow(viscosity: number, density: number): FlowParameters {
  return { viscosity, density, forcingAmplitude: 2.5, forcingWavenumber: 4, linearCoefficient: -0.1 };
}

/** Unforced, undamped flow, for the Taylor-Green check. */
export function freeFlow(viscosity: number, density = 1): FlowParameters {
  return { viscosity, density, forcingAmplitude: 0, forcingWavenumber: 0, linearCoefficient: 0 };
}

function checkGrid(n: number, what: string): void {
  if (!isPowerOfTwo(n) || n < 4) {
    throw new Error(`${what}: grid size ${n} must be a power of two and at least 4 (the solver uses radix-2 FFTs)`);
  }
}

function checkField(field: ArrayLike<number>, n: number, what: string): void {
  if (field.length !== n * n) {
    throw new Error(`${what}: field has length ${field.length} but an ${n}x${n} grid needs ${n * n}`);
  }
}

/** Wavenumbers for derivatives: the Nyquist bin has no derivative that keeps a real field real, so it is 0. */
function derivativeWavenumbers(n: number): Float64Array {
  const k = new Float64Array(n);
  for (let j = 0; j < n; j++) k[j] = j === n / 2 ? 0 : frequencyIndex(j, n);
  return k;
}

function squaredWavenumbers(n: number): Float64Array {
  const k2 = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ky = frequencyIndex(i, n);
    for (let j = 0; j < n; j++) {
      const kx = frequencyIndex(j, n);
      k2[i * n + j] = kx * kx + ky * ky;
    }
  }
  return k2;
}

/** Orszag's 2/3 rule: a product of two fields with |k| < n/3 aliases only onto modes this mask removes. */
function dealiasMask(n: number): Uint8Array {
  const mask = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) {
    const ky = Math.abs(frequencyIndex(i, n));
    for (let j = 0; j < n; j++) {
      const kx = Math.abs(frequencyIndex(j, n));
      mask[i * n + j] = 3 * kx < n && 3 * ky < n ? 1 : 0;
    }
  }
  return mask;
}

/** Velocity from vorticity through the stream function: û = i k_y ω̂/|k|², v̂ = −i k_x ω̂/|k|². */
function velocitySpectrum(
  wRe: Float64Array,
  wIm: Float64Array,
  n: number,
  uRe: Float64Array,
  uIm: Float64Array,
  vRe: Float64Array,
  vIm: Float64Array,
): void {
  const kd = derivativeWavenumbers(n);
  const k2 = squaredWavenumbers(n);
  for (let i = 0; i < n; i++) {
    const ky = kd[i];
    for (let j = 0; j < n; j++) {
      const p = i * n + j;
      const inv = k2[p] > 0 ? 1 / k2[p] : 0;
      const kx = kd[j];
      uRe[p] = -ky * wIm[p] * inv;
      uIm[p] = ky * wRe[p] * inv;
      vRe[p] = kx * wIm[p] * inv;
      vIm[p] = -kx * wRe[p] * inv;
    }
  }
}

export interface VelocityField {
  readonly u: Float64Array;
  readonly v: Float64Array;
}

/** The zero-mean, divergence-free velocity whose vorticity is `omega` (n×n, row = y, column = x). */
export function vorticityToVelocity(omega: ArrayLike<number>, n: number): VelocityField {
  checkGrid(n, 'vorticityToVelocity');
  checkField(omega, n, 'vorticityToVelocity');
  const wRe = Float64Array.from(omega);
  const wIm = new Float64Array(n * n);
  fft2(wRe, wIm, n, n);
  const uRe = new Float64Array(n * n);
  const uIm = new Float64Array(n * n);
  const vRe = new Float64Array(n * n);
  const vIm = new Float64Array(n * n);
  velocitySpectrum(wRe, wIm, n, uRe, uIm, vRe, vIm);
  ifft2(uRe, uIm, n, n);
  ifft2(vRe, vIm, n, n);
  return { u: uRe, v: vRe };
}

/** ∂x a + ∂y b (divergence) or ∂x b − ∂y a (curl) of two real periodic fields, spectrally. */
function spectralCombination(a: ArrayLike<number>, b: ArrayLike<number>, n: number, curl: boolean): Float64Array {
  const aRe = Float64Array.from(a);
  const aIm = new Float64Array(n * n);
  const bRe = Float64Array.from(b);
  const bIm = new Float64Array(n * n);
  fft2(aRe, aIm, n, n);
  fft2(bRe, bIm, n, n);
  const kd = derivativeWavenumbers(n);
  const outRe = new Float64Array(n * n);
  const outIm = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const p = i * n + j;
      // The result is i (ca â + cb b̂): div has (ca, cb) = (k_x, k_y), curl has (−k_y, k_x).
      const ca = curl ? -kd[i] : kd[j];
      const cb = curl ? kd[j] : kd[i];
      outRe[p] = -(ca * aIm[p] + cb * bIm[p]);
      outIm[p] = ca * aRe[p] + cb * bRe[p];
    }
  }
  ifft2(outRe, outIm, n, n);
  return outRe;
}

/** The spectral divergence ∂x u + ∂y v of a periodic velocity field on an n×n grid. */
export function spectralDivergence(u: ArrayLike<number>, v: ArrayLike<number>, n: number): Float64Array {
  checkGrid(n, 'spectralDivergence');
  checkField(u, n, 'spectralDivergence');
  checkField(v, n, 'spectralDivergence');
  return spectralCombination(u, v, n, false);
}

/** The spectral vorticity ω = ∂x v − ∂y u of a periodic velocity field on an n×n grid. */
export function velocityToVorticity(u: ArrayLike<number>, v: ArrayLike<number>, n: number): Float64Array {
  checkGrid(n, 'velocityToVorticity');
  checkField(u, n, 'velocityToVorticity');
  checkField(v, n, 'velocityToVorticity');
  return spectralCombination(u, v, n, true);
}

/** The Taylor-Green vortex u = A sin x cos y, v = −A cos x sin y has vorticity 2A sin x sin y. */
export function taylorGreenVorticity(n: number, amplitude = 1): Float64Array {
  checkGrid(n, 'taylorGreenVorticity');
  const omega = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const y = (2 * Math.PI * i) / n;
    for (let j = 0; j < n; j++) {
      const x = (2 * Math.PI * j) / n;
      omega[i * n + j] = 2 * amplitude * Math.sin(x) * Math.sin(y);
    }
  }
  return omega;
}

/**
 * The exact Taylor-Green solution at time t: its advection term vanishes identically, so without forcing
 * and drag it only decays, by exp(−2 (ν/ρ) t) since |k|² = 2.
 */
export function taylorGreenVelocity(
  n: number,
  opts: { readonly time: number; readonly viscosity: number; readonly density?: number; readonly amplitude?: number },
): VelocityField {
  checkGrid(n, 'taylorGreenVelocity');
  const decay = (opts.amplitude ?? 1) * Math.exp((-2 * opts.viscosity * opts.time) / (opts.density ?? 1));
  const u = new Float64Array(n * n);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const y = (2 * Math.PI * i) / n;
    for (let j = 0; j < n; j++) {
      const x = (2 * Math.PI * j) / n;
      u[i * n + j] = decay * Math.sin(x) * Math.cos(y);
      v[i * n + j] = -decay * Math.cos(x) * Math.sin(y);
    }
  }
  return { u, v };
}

/** Kinetic energy per unit area, ½ ⟨u² + v²⟩. */
export function kineticEnergy(velocity: VelocityField): number {
  let sum = 0;
  for (let p = 0; p < velocity.u.length; p++) sum += velocity.u[p] * velocity.u[p] + velocity.v[p] * velocity.v[p];
  return (0.5 * sum) / velocity.u.length;
}

// Carpenter-Kennedy low-storage RK4 with Crank-Nicolson, as in JaxCFD's `crank_nicolson_rk4`.
const RK_ALPHAS = [0, 0.1496590219993, 0.3704009573644, 0.6222557631345, 0.9582821306748, 1];
const RK_BETAS = [0, -0.4178904745, -1.192151694643, -1.697784692471, -1.514183444257];
const RK_GAMMAS = [0.1496590219993, 0.3792103129999, 0.8229550293869, 0.6994504559488, 0.1530572479681];

export interface StepControl {
  /** A fixed step; without it the step is CFL-limited. The last step of an interval is shortened. */
  readonly dt?: number;
  /** Upper bound of the CFL-limited step (Table 7: 0.05). */
  readonly maxDt?: number;
  /** Courant number of the CFL-limited step (Table 7: 0.5). */
  readonly cflSafety?: number;
}

/**
 * The solver's working memory for one grid and one flow. Its state is private to `integrateVorticity` and
 * `simulateKolmogorov`; allocating it once per run matters because fresh memory is slow to touch here.
 */
interface Integrator {
  readonly n: number;
  /** ω̂, the state. */
  readonly wRe: Float64Array;
  readonly wIm: Float64Array;
  /** Advances the state by `duration`; returns the number of steps and the largest speed seen. */
  advance(duration: number, control: StepControl): { steps: number; maxSpeed: number };
  /** The explicit right-hand side at the current state, as a spectrum (see `explicitTendency`). */
  tendency(): { re: Float64Array; im: Float64Array };
}

function createIntegrator(n: number, flow: FlowParameters): Integrator {
  const size = n * n;
  const kd = derivativeWavenumbers(n);
  const k2 = squaredWavenumbers(n);
  const mask = dealiasMask(n);
  const invK2 = new Float64Array(size);
  const linear = new Float64Array(size);
  for (let p = 0; p < size; p++) {
    invK2[p] = k2[p] > 0 ? 1 / k2[p] : 0;
    linear[p] = (-flow.viscosity * k2[p] + flow.linearCoefficient) / flow.density;
  }
  const forceRe = new Float64Array(size);
  const forceIm = new Float64Array(size);
  if (flow.forcingAmplitude !== 0) {
    const kf = flow.forcingWavenumber;
    for (let i = 0; i < n; i++) {
      const curl = (-flow.forcingAmplitude * kf * Math.cos((kf * 2 * Math.PI * i) / n)) / flow.density;
      for (let j = 0; j < n; j++) forceRe[i * n + j] = curl;
    }
    fft2(forceRe, forceIm, n, n);
    for (let p = 0; p < size; p++) {
      if (mask[p] === 0) {
        forceRe[p] = 0;
        forceIm[p] = 0;
      }
    }
  }
  const wRe = new Float64Array(size);
  const wIm = new Float64Array(size);
  const hRe = new Float64Array(size);
  const hIm = new Float64Array(size);
  const fRe = new Float64Array(size);
  const fIm = new Float64Array(size);
  // a = u + i v and b = ∂xω + i ∂yω: each real pair shares one complex inverse FFT, since both spectra are Hermitian.
  const aRe = new Float64Array(size);
  const aIm = new Float64Array(size);
  const bRe = new Float64Array(size);
  const bIm = new Float64Array(size);
  const dx = (2 * Math.PI) / n;

  /** F(ω̂) = −mask · FFT(u·∇ω) + curl(f₀)/ρ into (fRe, fIm); returns max |u| on the grid. */
  function explicitTerms(): number {
    for (let i = 0; i < n; i++) {
      const ky = kd[i];
      for (let j = 0; j < n; j++) {
        const p = i * n + j;
        const kx = kd[j];
        const wr = wRe[p];
        const wi = wIm[p];
        const inv = invK2[p];
        const ur = -ky * wi * inv;
        const ui = ky * wr * inv;
        const vr = kx * wi * inv;
        const vi = -kx * wr * inv;
        aRe[p] = ur - vi;
        aIm[p] = ui + vr;
        bRe[p] = -kx * wi - ky * wr;
        bIm[p] = kx * wr - ky * wi;
      }
    }
    ifft2(aRe, aIm, n, n);
    ifft2(bRe, bIm, n, n);
    let maxSpeed2 = 0;
    for (let p = 0; p < size; p++) {
      const u = aRe[p];
      const v = aIm[p];
      const speed2 = u * u + v * v;
      if (speed2 > maxSpeed2) maxSpeed2 = speed2;
      fRe[p] = u * bRe[p] + v * bIm[p];
      fIm[p] = 0;
    }
    fft2(fRe, fIm, n, n);
    for (let p = 0; p < size; p++) {
      if (mask[p] === 0) {
        fRe[p] = 0;
        fIm[p] = 0;
      } else {
        fRe[p] = forceRe[p] - fRe[p];
        fIm[p] = forceIm[p] - fIm[p];
      }
    }
    return Math.sqrt(maxSpeed2);
  }

  function advance(duration: number, control: StepControl): { steps: number; maxSpeed: number } {
    const maxDt = control.maxDt ?? 0.05;
    const safety = control.cflSafety ?? 0.5;
    let time = 0;
    let steps = 0;
    let maxSpeed = 0;
    // Stop within a relative hair of the end so that round-off in `time` cannot add a tiny extra step.
    const end = duration * (1 - 1e-12);
    while (time < end) {
      const speed = explicitTerms();
      if (!Number.isFinite(speed)) {
        throw new Error(`Kolmogorov solver: the velocity became ${speed} after ${steps} steps (time ${time}); lower maxDt or cflSafety`);
      }
      if (speed > maxSpeed) maxSpeed = speed;
      let dt = control.dt ?? Math.min(maxDt, speed > 0 ? (safety * dx) / speed : maxDt);
      if (time + dt > duration) dt = duration - time;
      for (let stage = 0; stage < RK_BETAS.length; stage++) {
        if (stage > 0) explicitTerms();
        const beta = RK_BETAS[stage];
        const gammaDt = RK_GAMMAS[stage] * dt;
        const mu = 0.5 * dt * (RK_ALPHAS[stage + 1] - RK_ALPHAS[stage]);
        for (let p = 0; p < size; p++) {
          const hr = fRe[p] + beta * hRe[p];
          const hi = fIm[p] + beta * hIm[p];
          hRe[p] = hr;
          hIm[p] = hi;
          const muL = mu * linear[p];
          const scale = 1 / (1 - muL);
          wRe[p] = (wRe[p] * (1 + muL) + gammaDt * hr) * scale;
          wIm[p] = (wIm[p] * (1 + muL) + gammaDt * hi) * scale;
        }
      }
      time += dt;
      steps++;
    }
    return { steps, maxSpeed };
  }

  function tendency(): { re: Float64Array; im: Float64Array } {
    explicitTerms();
    return { re: Float64Array.from(fRe), im: Float64Array.from(fIm) };
  }

  return { n, wRe, wIm, advance, tendency };
}

function loadVorticity(integrator: Integrator, omega: ArrayLike<number>): void {
  const { n, wRe, wIm } = integrator;
  for (let p = 0; p < n * n; p++) {
    wRe[p] = omega[p];
    wIm[p] = 0;
  }
  fft2(wRe, wIm, n, n);
  const mask = dealiasMask(n);
  for (let p = 0; p < n * n; p++) {
    if (mask[p] === 0) {
      wRe[p] = 0;
      wIm[p] = 0;
    }
  }
}

function stateVorticity(integrator: Integrator): Float64Array {
  const re = Float64Array.from(integrator.wRe);
  const im = Float64Array.from(integrator.wIm);
  ifft2(re, im, integrator.n, integrator.n);
  return re;
}

/**
 * Integrates the vorticity equation for `duration` time units from `omega` (n×n, not changed). The initial
 * field is de-aliased (2/3 rule) first. Returns the final vorticity and the number of steps taken.
 */
export function integrateVorticity(
  omega: ArrayLike<number>,
  n: number,
  flow: FlowParameters,
  opts: StepControl & { readonly duration: number },
): { omega: Float64Array; steps: number; maxSpeed: number } {
  checkGrid(n, 'integrateVorticity');
  checkField(omega, n, 'integrateVorticity');
  const integrator = createIntegrator(n, flow);
  loadVorticity(integrator, omega);
  const { steps, maxSpeed } = integrator.advance(opts.duration, opts);
  return { omega: stateVorticity(integrator), steps, maxSpeed };
}

/**
 * The explicit part of the right-hand side of the vorticity equation at `omega` (n×n, not changed), in
 * physical space: −P(u·∇ω) + curl(f₀)/ρ, with P the 2/3-rule projection and ω de-aliased first. It is exactly
 * what every Runge-Kutta stage of `integrateVorticity` adds; viscosity and drag are absent because they are
 * the Crank-Nicolson part. Exported so that tests can check the advection term against u·∇ω computed
 * directly, which no exact solution of the full equation exercises (Taylor-Green's u·∇ω is zero).
 */
export function explicitTendency(omega: ArrayLike<number>, n: number, flow: FlowParameters): Float64Array {
  checkGrid(n, 'explicitTendency');
  checkField(omega, n, 'explicitTendency');
  const integrator = createIntegrator(n, flow);
  loadVorticity(integrator, omega);
  const { re, im } = integrator.tendency();
  ifft2(re, im, n, n);
  return re;
}

/**
 * JaxCFD's `filtered_velocity_field`: white noise per component, filtered by a log-normal spectral density
 * peaked at `peakWavenumber` (divided by |k| for the ring of modes at each |k|), projected onto divergence-free
 * fields and scaled to the given maximum speed. JaxCFD repeats projection and scaling 3 times because its
 * finite-difference projection is inexact in float32; the spectral projection here is exact, so once suffices.
 * The field is also restricted to the de-aliased modes so that its maximum speed is the one the solver sees.
 * Returns the vorticity of that field.
 */
export function filteredInitialVorticity(
  n: number,
  rng: () => number,
  opts: { readonly maxVelocity?: number; readonly peakWavenumber?: number } = {},
): Float64Array {
  checkGrid(n, 'filteredInitialVorticity');
  const maxVelocity = opts.maxVelocity ?? 7;
  const peak = opts.peakWavenumber ?? 3;
  const variance = 0.25;
  const logMean = Math.log(peak) + variance;
  const size = n * n;
  const k2 = squaredWavenumbers(n);
  const kd = derivativeWavenumbers(n);
  const mask = dealiasMask(n);
  const uRe = new Float64Array(size);
  const uIm = new Float64Array(size);
  const vRe = new Float64Array(size);
  const vIm = new Float64Array(size);
  for (let p = 0; p < size; p++) uRe[p] = gaussian(rng);
  for (let p = 0; p < size; p++) vRe[p] = gaussian(rng);
  fft2(uRe, uIm, n, n);
  fft2(vRe, vIm, n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const p = i * n + j;
      const k = Math.sqrt(k2[p]);
      // JaxCFD's `_log_normal_pdf(k, peak) / k`: the log-normal density over the 1-sphere of radius k.
      const logK = Math.log(k);
      const filter =
        k > 0 && mask[p] === 1 ? Math.exp(-((logMean - logK) ** 2) / (2 * variance) - logK) / k : 0;
      uRe[p] *= filter;
      uIm[p] *= filter;
      vRe[p] *= filter;
      vIm[p] *= filter;
      // Leray projection û ← û − k (k·û)/|k|².
      const kx = kd[j];
      const ky = kd[i];
      const kk = kx * kx + ky * ky;
      if (kk > 0) {
        const dotRe = (kx * uRe[p] + ky * vRe[p]) / kk;
        const dotIm = (kx * uIm[p] + ky * vIm[p]) / kk;
        uRe[p] -= kx * dotRe;
        uIm[p] -= kx * dotIm;
        vRe[p] -= ky * dotRe;
        vIm[p] -= ky * dotIm;
      }
    }
  }
  // Vorticity ω̂ = i k_x v̂ − i k_y û; the velocity is kept only to find its maximum speed.
  const wRe = new Float64Array(size);
  const wIm = new Float64Array(size);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const p = i * n + j;
      const kx = kd[j];
      const ky = kd[i];
      wRe[p] = -kx * vIm[p] + ky * uIm[p];
      wIm[p] = kx * vRe[p] - ky * uRe[p];
    }
  }
  ifft2(uRe, uIm, n, n);
  ifft2(vRe, vIm, n, n);
  ifft2(wRe, wIm, n, n);
  let maxSpeed = 0;
  for (let p = 0; p < size; p++) maxSpeed = Math.max(maxSpeed, Math.hypot(uRe[p], vRe[p]));
  const scale = maxSpeed > 0 ? maxVelocity / maxSpeed : 0;
  for (let p = 0; p < size; p++) wRe[p] *= scale;
  return wRe;
}

/** The frame interval and warm-up `simulateKolmogorov` uses when not told (the paper's 1.5; none). */
export const KOLMOGOROV_DEFAULTS = { frameInterval: 1.5, warmup: 0 } as const;

export interface KolmogorovOptions {
  /** Number of frames (default 32). */
  readonly frames?: number;
  /** Output side in grid points (default 32). */
  readonly size?: number;
  /** Simulation side (default `size`); must be a power of two at least `size`. */
  readonly simulationSize?: number;
  /** How the simulation grid is reduced to the output grid: Fourier truncation (default) or block means. */
  readonly downsample?: 'spectral' | 'mean';
  /** Seed of the default mulberry32 generator (default 0); ignored when `rng` is given. */
  readonly seed?: number;
  readonly rng?: () => number;
  /** Fix ν instead of drawing it from U[5e-4, 5e-3]. */
  readonly viscosity?: number;
  /** Fix ρ instead of drawing it from U[0.5, 2]. */
  readonly density?: number;
  /** Time between frames (default 1.5, as in the paper). */
  readonly frameInterval?: number;
  /** Time simulated and discarded before the first frame (default 0: the first frame is the initial state). */
  readonly warmup?: number;
  /** Maximum speed of the initial field (default 7.0, Table 7). */
  readonly maxVelocity?: number;
  /** Peak wavenumber of the initial field's spectrum (default 3, JaxCFD's default). */
  readonly peakWavenumber?: number;
  readonly cflSafety?: number;
  readonly maxDt?: number;
}

export interface KolmogorovClip {
  /** `[frames, size, size, 2]`: (u, v) per grid point, row = y, column = x. */
  readonly frames: Float32Array;
  readonly shape: readonly [number, number, number, number];
  /** Viscosity ν and density ρ of this clip. */
  readonly nu: number;
  readonly rho: number;
  /** Simulation time of each frame. */
  readonly times: Float64Array;
  readonly simulationSize: number;
  /** Solver steps taken, and the largest speed seen (for checking the CFL bound). */
  readonly steps: number;
  readonly maxSpeed: number;
}

/** Writes the velocity of the integrator's state, reduced to `size`, into `out` at `offset` as (u, v) pairs. */
function writeFrame(
  integrator: Integrator,
  size: number,
  mode: 'spectral' | 'mean',
  out: Float32Array,
  offset: number,
): void {
  const n = integrator.n;
  const total = n * n;
  const uRe = new Float64Array(total);
  const uIm = new Float64Array(total);
  const vRe = new Float64Array(total);
  const vIm = new Float64Array(total);
  velocitySpectrum(integrator.wRe, integrator.wIm, n, uRe, uIm, vRe, vIm);
  if (mode === 'spectral' || size === n) {
    const m = size;
    const cuRe = new Float64Array(m * m);
    const cuIm = new Float64Array(m * m);
    const cvRe = new Float64Array(m * m);
    const cvIm = new Float64Array(m * m);
    // Unnormalised DFTs of the same band-limited function on grids of m² and n² points differ by m²/n².
    const ratio = (m * m) / total;
    for (let i = 0; i < m; i++) {
      const ky = frequencyIndex(i, m);
      if (size < n && 2 * Math.abs(ky) >= m) continue;
      const fi = ky < 0 ? ky + n : ky;
      for (let j = 0; j < m; j++) {
        const kx = frequencyIndex(j, m);
        if (size < n && 2 * Math.abs(kx) >= m) continue;
        const fj = kx < 0 ? kx + n : kx;
        const q = fi * n + fj;
        const p = i * m + j;
        cuRe[p] = uRe[q] * ratio;
        cuIm[p] = uIm[q] * ratio;
        cvRe[p] = vRe[q] * ratio;
        cvIm[p] = vIm[q] * ratio;
      }
    }
    ifft2(cuRe, cuIm, m, m);
    ifft2(cvRe, cvIm, m, m);
    for (let p = 0; p < m * m; p++) {
      out[offset + 2 * p] = cuRe[p];
      out[offset + 2 * p + 1] = cvRe[p];
    }
    return;
  }
  ifft2(uRe, uIm, n, n);
  ifft2(vRe, vIm, n, n);
  const factor = n / size;
  const norm = 1 / (factor * factor);
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      let su = 0;
      let sv = 0;
      for (let a = 0; a < factor; a++) {
        for (let b = 0; b < factor; b++) {
          const q = (i * factor + a) * n + (j * factor + b);
          su += uRe[q];
          sv += vRe[q];
        }
      }
      const p = i * size + j;
      out[offset + 2 * p] = su * norm;
      out[offset + 2 * p + 1] = sv * norm;
    }
  }
}

/**
 * One Kolmogorov-flow clip as in the paper (Table 7): ν ~ U[5e-4, 5e-3] and ρ ~ U[0.5, 2] drawn from the
 * generator (in that order, then the initial noise), a filtered random initial velocity with maximum speed
 * 7.0, and frames of (u, v) every 1.5 time units. Deterministic for a given seed.
 */
export function simulateKolmogorov(opts: KolmogorovOptions = {}): KolmogorovClip {
  const frames = opts.frames ?? 32;
  const size = opts.size ?? 32;
  const simulationSize = opts.simulationSize ?? size;
  const mode = opts.downsample ?? 'spectral';
  if (!Number.isInteger(frames) || frames < 1) throw new Error(`simulateKolmogorov: frames must be a positive integer, got ${frames}`);
  checkGrid(size, 'simulateKolmogorov (size)');
  checkGrid(simulationSize, 'simulateKolmogorov (simulationSize)');
  if (simulationSize < size) {
    throw new Error(`simulateKolmogorov: simulationSize ${simulationSize} is smaller than the output size ${size}`);
  }
  const rng = opts.rng ?? mulberry32(opts.seed ?? 0);
  const drawnNu = 5e-4 + (5e-3 - 5e-4) * rng();
  const drawnRho = 0.5 + 1.5 * rng();
  const nu = opts.viscosity ?? drawnNu;
  const rho = opts.density ?? drawnRho;
  const frameInterval = opts.frameInterval ?? KOLMOGOROV_DEFAULTS.frameInterval;
  const control: StepControl = { maxDt: opts.maxDt ?? 0.05, cflSafety: opts.cflSafety ?? 0.5 };

  const omega0 = filteredInitialVorticity(simulationSize, rng, {
    maxVelocity: opts.maxVelocity ?? 7,
    peakWavenumber: opts.peakWavenumber ?? 3,
  });
  const integrator = createIntegrator(simulationSize, kolmogorovFlow(nu, rho));
  loadVorticity(integrator, omega0);

  let steps = 0;
  let maxSpeed = 0;
  const record = (r: { steps: number; maxSpeed: number }): void => {
    steps += r.steps;
    maxSpeed = Math.max(maxSpeed, r.maxSpeed);
  };
  const warmup = opts.warmup ?? KOLMOGOROV_DEFAULTS.warmup;
  if (warmup > 0) record(integrator.advance(warmup, control));

  const out = new Float32Array(frames * size * size * 2);
  const times = new Float64Array(frames);
  for (let t = 0; t < frames; t++) {
    if (t > 0) record(integrator.advance(frameInterval, control));
    times[t] = warmup + t * frameInterval;
    writeFrame(integrator, size, mode, out, t * size * size * 2);
  }
  return { frames: out, shape: [frames, size, size, 2], nu, rho, times, simulationSize, steps, maxSpeed };
}
