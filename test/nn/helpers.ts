/** Shared checks for the nn tests: host reads and the finite-difference gradient check. */
import * as r from '../../index.js';

/** A safetensors file with a given header object (or raw header text) and data bytes, the header padded to 8 as the format says. */
export function fileWith(header: unknown, data: Uint8Array | number[] = [], rawHeader?: string): Uint8Array {
  const json = new TextEncoder().encode(rawHeader ?? JSON.stringify(header));
  const size = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + size + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(size), true);
  out.fill(0x20, 8, 8 + size);
  out.set(json, 8);
  out.set(data, 8 + size);
  return out;
}

export async function values(t: r.Tensor): Promise<number[]> {
  return Array.from(await t.toArray());
}

/** Host copies of every leaf, in float64. */
export async function hostLeaves(tree: unknown): Promise<Float64Array[]> {
  return Promise.all(r.treeLeaves(tree).map(async (t) => Float64Array.from(await t.toArray())));
}

/** A deterministic direction shaped like `tree`, of unit global norm. */
function direction<T>(tree: T, seed: number): { dir: T; host: Float64Array[] } {
  const raw = r.treeLeaves(tree).map((leaf, i) => Float64Array.from(r.tidy(() => r.normal(r.foldIn(r.key(seed), i), leaf.shape)).toArraySync()));
  const norm = Math.sqrt(raw.reduce((s, a) => s + a.reduce((t, v) => t + v * v, 0), 0)) || 1;
  const host = raw.map((a) => a.map((v) => v / norm));
  let i = 0;
  const dir = r.treeMap(tree, (leaf) => r.tensor(Float32Array.from(host[i++]!), leaf.shape));
  return { dir, host };
}

export interface GradientCheck {
  analytic: number;
  numeric: number;
  scale: number;
}

/**
 * JAX's `check_grads` in one direction: ⟨∇f(p), d⟩ from `grad` against the central difference
 * (f(p + εd) − f(p − εd)) / 2ε, with f evaluated in float32 and the quotient formed in float64 on
 * the host. `f` must return a scalar.
 */
export async function directionalCheck<T>(f: (p: T) => r.Tensor, params: T, seed: number, eps = 3e-3): Promise<GradientCheck> {
  const { dir, host } = direction(params, seed);
  const grads = r.grad(f)(params);
  const g = await hostLeaves(grads);
  const analytic = g.reduce((s, a, i) => s + a.reduce((t, v, j) => t + v * host[i]![j]!, 0), 0);
  const at = async (sign: number) => {
    const shifted = r.tidy(() => r.treeZipMap([params, dir], ([p, d]) => r.add(p!, r.mul(d!, sign * eps))));
    const y = r.tidy(() => f(shifted));
    const v = (await y.toArray())[0]!;
    r.dispose([shifted, y]);
    return v;
  };
  const plus = await at(1);
  const minus = await at(-1);
  const center = r.tidy(() => f(params));
  const scale = Math.abs((await center.toArray())[0]!);
  r.dispose([dir, grads, center]);
  return { analytic, numeric: (plus - minus) / (2 * eps), scale };
}

/** The two derivatives agree to a relative 2% (float32 evaluations limit the difference quotient). */
export function expectClose(c: GradientCheck, rtol = 2e-2, atol = 2e-3): void {
  const err = Math.abs(c.analytic - c.numeric);
  const bound = atol * (1 + c.scale) + rtol * Math.max(Math.abs(c.analytic), Math.abs(c.numeric));
  if (!(err <= bound)) throw new Error(`gradient check failed: analytic ${c.analytic}, numeric ${c.numeric} (|diff| ${err} > ${bound})`);
}

/** A fixed random linear functional: f(y) = Σ y ⊙ w, with w drawn once per shape. */
export function probe(shape: readonly number[], seed = 99): r.Tensor {
  return r.normal(r.key(seed), shape);
}
