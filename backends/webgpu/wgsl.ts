/**
 * WGSL building blocks shared by the kernels: the binding layout every kernel uses, the parameter
 * accessor, the linear invocation index, and a small math library.
 *
 * Every storage buffer is declared `array<u32>` and values are `bitcast` on load and store, so data
 * movement kernels are dtype-agnostic (one pipeline serves every dtype) and bits travel untouched
 * (NaN payloads, −0). Bool is stored as one u32 per element.
 *
 * WGSL lets a compiler assume NaN and infinity never occur, so NaN is tested on the bits
 * (`isnan_`), never with `x != x`, and NaN/∞ constants come from private variables (a NaN
 * const-expression is a shader-creation error).
 */
import type { DType } from '../../core/index.js';

/** The WGSL scalar type a dtype computes in. */
export function wgslType(dtype: DType): 'f32' | 'i32' | 'u32' {
  return dtype === 'float32' ? 'f32' : dtype === 'int32' ? 'i32' : 'u32';
}

/** Load expression: the raw u32 word `w` as the dtype's WGSL type. */
export function fromBits(dtype: DType, w: string): string {
  const t = wgslType(dtype);
  return t === 'u32' ? w : `bitcast<${t}>(${w})`;
}

/** Store expression: a value of the dtype's WGSL type as a raw u32 word. */
export function toBits(dtype: DType, v: string): string {
  return wgslType(dtype) === 'u32' ? v : `bitcast<u32>(${v})`;
}

/** Words of uniform parameters a kernel declares: a power of two ≥ 16, so few pipeline variants. */
export function uniformWords(n: number): number {
  let w = 16;
  while (w < n) w *= 2;
  return w;
}

/**
 * The bindings: inputs `in0..in{k-1}` (read-only; element type `inputElems[k]`, else `elem`), `out`
 * (read-write), then the uniform parameters, read with `p(i)` as u32 words.
 */
export function bindings(inputs: number, words: number, elem = 'u32', inputElems: readonly string[] = []): string {
  const lines: string[] = [];
  for (let k = 0; k < inputs; k++) lines.push(`@group(0) @binding(${k}) var<storage, read> in${k}: array<${inputElems[k] ?? elem}>;`);
  lines.push(`@group(0) @binding(${inputs}) var<storage, read_write> out: array<${elem}>;`);
  lines.push(`struct Params { d: array<vec4<u32>, ${words / 4}> }`);
  lines.push(`@group(0) @binding(${inputs + 1}) var<uniform> params: Params;`);
  lines.push('fn p(i: u32) -> u32 { return params.d[i >> 2u][i & 3u]; }');
  return lines.join('\n');
}

export const WORKGROUP = 256;

/** The entry point of a 1-D kernel over `count` invocations (default `p(0u)`); `i` is the invocation index. */
export function linearMain(body: string, count = 'p(0u)'): string {
  return `@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * ${WORKGROUP}u + lid;
  if (i >= ${count}) { return; }
${body}
}`;
}

/** The workgroup grid for `n` invocations of a 1-D kernel: x up to the per-dimension limit, then y. */
export function linearGroups(n: number, maxPerDim: number, wg = WORKGROUP): [number, number, number] {
  const groups = Math.ceil(n / wg);
  if (groups <= maxPerDim) return [Math.max(groups, 1), 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y, 1];
}

// ---------------------------------------------------------------- math library

interface Helper {
  readonly deps: readonly string[];
  readonly code: string;
}

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24];

/** Threefry-2x32, 20 rounds, unrolled from the schedule of `threefry2x32Block` in core/random.ts (the tests check the bits). */
function threefrySource(): string {
  const lines = ['fn threefry(k0: u32, k1: u32, x0: u32, x1: u32) -> vec2<u32> {', '  let k2 = 0x1bd11bdau ^ k0 ^ k1;', '  var a = x0 + k0;', '  var b = x1 + k1;'];
  const ks = ['k0', 'k1', 'k2'];
  for (let i = 0; i < 5; i++) {
    const rot = i % 2 === 0 ? 0 : 4;
    for (let j = 0; j < 4; j++) {
      const r = ROTATIONS[rot + j]!;
      lines.push(`  a = a + b; b = (b << ${r}u) | (b >> ${32 - r}u); b = b ^ a;`);
    }
    lines.push(`  a = a + ${ks[(i + 1) % 3]}; b = b + ${ks[(i + 2) % 3]} + ${i + 1}u;`);
  }
  lines.push('  return vec2<u32>(a, b);', '}');
  return lines.join('\n');
}

export const HELPERS: Record<string, Helper> = {
  isnan_: { deps: [], code: 'fn isnan_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }' },
  isinf_: { deps: [], code: 'fn isinf_(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }' },
  nan_: { deps: [], code: 'var<private> NAN_BITS: u32 = 0x7fc00000u;\nfn nan_() -> f32 { return bitcast<f32>(NAN_BITS); }' },
  inf_: { deps: [], code: 'var<private> INF_BITS: u32 = 0x7f800000u;\nfn inf_() -> f32 { return bitcast<f32>(INF_BITS); }' },
  maxf_: { deps: ['isnan_', 'nan_'], code: 'fn maxf_(a: f32, b: f32) -> f32 { if (isnan_(a) || isnan_(b)) { return nan_(); } return select(b, a, a > b); }' },
  minf_: { deps: ['isnan_', 'nan_'], code: 'fn minf_(a: f32, b: f32) -> f32 { if (isnan_(a) || isnan_(b)) { return nan_(); } return select(b, a, a < b); }' },
  sqrt_: { deps: ['nan_'], code: 'fn sqrt_(x: f32) -> f32 { if (x < 0.0) { return nan_(); } return sqrt(x); }' },
  log_: {
    deps: ['nan_', 'inf_', 'isnan_'],
    code: 'fn log_(x: f32) -> f32 { if (isnan_(x) || x < 0.0) { return nan_(); } if (x == 0.0) { return -inf_(); } return log(x); }',
  },
  sign_: { deps: ['isnan_'], code: 'fn sign_(x: f32) -> f32 { if (isnan_(x)) { return x; } return sign(x); }' },
  // WGSL leaves exp(NaN) unspecified (SwiftShader gives +Inf); NaN propagates, as on the CPU.
  exp_: { deps: ['isnan_'], code: 'fn exp_(x: f32) -> f32 { if (isnan_(x)) { return x; } return exp(x); }' },
  // exp(x) − 1: a Taylor polynomial where exp(x) − 1 would cancel, exp elsewhere.
  expm1_: {
    deps: ['exp_'],
    code: `fn expm1_(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    return x * (1.0 + x / 2.0 * (1.0 + x / 3.0 * (1.0 + x / 4.0 * (1.0 + x / 5.0 * (1.0 + x / 6.0 * (1.0 + x / 7.0 * (1.0 + x / 8.0 * (1.0 + x / 9.0))))))));
  }
  return exp_(x) - 1.0;
}`,
  },
  // log(1 + x) = 2 atanh(s), s = x / (2 + x): a series where log(1 + x) would lose x's low bits.
  log1p_: {
    deps: ['log_'],
    code: `fn log1p_(x: f32) -> f32 {
  if (x > -0.5 && x < 1.0) {
    let s = x / (2.0 + x);
    let z = s * s;
    return 2.0 * s * (1.0 + z * (1.0 / 3.0 + z * (1.0 / 5.0 + z * (1.0 / 7.0 + z * (1.0 / 9.0 + z * (1.0 / 11.0 + z * (1.0 / 13.0 + z * (1.0 / 15.0 + z / 17.0))))))));
  }
  return log_(1.0 + x);
}`,
  },
  // tanh from expm1, so it neither overflows for large |x| nor cancels near 0.
  tanh_: {
    deps: ['expm1_', 'isnan_'],
    code: `fn tanh_(x: f32) -> f32 {
  if (isnan_(x)) { return x; }
  let e = expm1_(-2.0 * abs(x));
  let t = -e / (2.0 + e);
  return select(t, -t, x < 0.0);
}`,
  },
  // sin and cos with Cody–Waite reduction by π/2 (three parts) and Cephes' minimax polynomials:
  // accurate to a few ulp for |x| up to ~1e5, where hardware sin is often only good to 2⁻¹¹.
  sincos_: {
    deps: [],
    code: `fn sincos_(x: f32) -> vec2<f32> {
  let k = round(x * 0.636619772367581343);
  let r = ((x - k * 1.5703125) - k * 4.837512969970703125e-4) - k * 7.54978995489188216e-8;
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  let q = u32(i32(k) & 3);
  var sv = s; var cv = c;
  if (q == 1u) { sv = c; cv = -s; } else if (q == 2u) { sv = -s; cv = -c; } else if (q == 3u) { sv = -c; cv = s; }
  return vec2<f32>(sv, cv);
}`,
  },
  sin_: { deps: ['sincos_'], code: 'fn sin_(x: f32) -> f32 { return sincos_(x).x; }' },
  cos_: { deps: ['sincos_'], code: 'fn cos_(x: f32) -> f32 { return sincos_(x).y; }' },
  // Math.pow semantics: integer exponents by squaring (exact for small ones, and defined for a < 0).
  powf_: {
    deps: ['nan_', 'isnan_', 'inf_'],
    code: `fn powf_(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (isnan_(a) || isnan_(b)) { return nan_(); }
  if (b == floor(b) && abs(b) <= 64.0) {
    var e = u32(abs(b));
    var base = a;
    var r = 1.0;
    loop {
      if ((e & 1u) == 1u) { r = r * base; }
      e = e >> 1u;
      if (e == 0u) { break; }
      base = base * base;
    }
    return select(r, 1.0 / r, b < 0.0);
  }
  if (a < 0.0) {
    if (b != floor(b)) { return nan_(); }
    let odd = abs(b) < 16777216.0 && (u32(abs(b)) & 1u) == 1u;
    let m = exp2(b * log2(-a));
    return select(m, -m, odd);
  }
  if (a == 0.0) { return select(0.0, inf_(), b < 0.0); }
  return exp2(b * log2(a));
}`,
  },
  // Integer division and modulo with JavaScript's results: truncation, floored modulo, 0 for ÷0.
  idiv_: { deps: [], code: 'fn idiv_(a: i32, b: i32) -> i32 { if (b == 0) { return 0; } if (b == -1) { return -a; } return a / b; }' },
  imod_: {
    deps: [],
    code: `fn imod_(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  if (b == -1) { return 0; }
  var r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) { r = r + b; }
  return r;
}`,
  },
  ipow_: {
    deps: [],
    code: `fn ipow_(a: i32, b: i32) -> i32 {
  if (b < 0) { if (a == 1) { return 1; } if (a == -1) { return select(1, -1, (b & 1) == 1); } return 0; }
  var e = u32(b);
  var base = a;
  var r = 1;
  loop {
    if ((e & 1u) == 1u) { r = r * base; }
    e = e >> 1u;
    if (e == 0u) { break; }
    base = base * base;
  }
  return r;
}`,
  },
  upow_: {
    deps: [],
    code: `fn upow_(a: u32, b: u32) -> u32 {
  var e = b;
  var base = a;
  var r = 1u;
  loop {
    if ((e & 1u) == 1u) { r = r * base; }
    e = e >> 1u;
    if (e == 0u) { break; }
    base = base * base;
  }
  return r;
}`,
  },
  // float → int32/uint32 bits as JavaScript's typed arrays store them: truncate, wrap modulo 2³², NaN/∞ → 0.
  f2bits_: {
    deps: ['isnan_', 'isinf_'],
    code: `fn f2bits_(a: f32) -> u32 {
  if (isnan_(a) || isinf_(a)) { return 0u; }
  let t = trunc(a);
  if (abs(t) < 2147483648.0) { return bitcast<u32>(i32(t)); }
  return u32(t - 4294967296.0 * floor(t / 4294967296.0));
}`,
  },
  // int → float rounded to nearest-even, as the CPU's typed-array stores do (a GPU conversion may
  // truncate): the two 16-bit halves convert exactly, and one IEEE addition rounds.
  u2f_: { deps: [], code: 'fn u2f_(a: u32) -> f32 { return f32(a >> 16u) * 65536.0 + f32(a & 0xffffu); }' },
  i2f_: { deps: ['u2f_'], code: 'fn i2f_(a: i32) -> f32 { let m = u2f_(bitcast<u32>(select(a, -a, a < 0))); return select(m, -m, a < 0); }' },
  threefry: { deps: [], code: threefrySource() },
};

/** The helper functions an expression calls, with their dependencies, in dependency order. */
export function helpersFor(...sources: string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const h = HELPERS[name]!;
    for (const d of h.deps) visit(d);
    out.push(h.code);
  };
  const text = sources.join('\n');
  for (const name of Object.keys(HELPERS)) if (new RegExp(`\\b${name}\\(`).test(text)) visit(name);
  return out.join('\n');
}
