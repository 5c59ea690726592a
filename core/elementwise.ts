/**
 * The element-wise primitives as scalar expressions (`expr.ts`), each defined once; the special
 * functions (sigmoid, erf, erfinv) as decompositions into basic nodes, written once for every
 * backend; and the reference evaluator that says what an expression means.
 *
 * To add an element-wise primitive: its name in `primitives.ts` (with its VJP in `rules.ts` and its
 * op in `ops.ts`), and a row in `EXPRESSIONS` here. If it needs a node the IR lacks, add the node in
 * `expr.ts` and either a decomposition in `DECOMPOSITIONS` (then no backend changes) or a rendering
 * in each backend that should have it natively.
 */
import type { DType } from './dtype.js';
import {
  abs, add, bitcast, cast, compare, constant, div, exp, ge, gt, horner, input, le, log, lower, lt, mul, neg, select, sqrt, sub, topological,
  type CompositeOp, type Expr, type Op, COMPOSITE_OPS, binary, unary,
} from './expr.js';
import { BINARY_PRIMS, BITWISE_PRIMS, COMPARE_PRIMS, UNARY_PRIMS, type BackendPrim, type PrimParams } from './primitives.js';

export const ELEMENTWISE_PRIMS = [...UNARY_PRIMS, ...BINARY_PRIMS, ...BITWISE_PRIMS, ...COMPARE_PRIMS, 'where', 'cast', 'bitcast'] as const;
export type ElementwisePrim = (typeof ELEMENTWISE_PRIMS)[number];

/** A primitive's expression over inputs `input(k, inputs[k])`, producing `out`. */
export type ExpressionRule<P extends ElementwisePrim> = (inputs: readonly DType[], params: PrimParams[P], out: DType) => Expr;

const unaryRule = <P extends ElementwisePrim>(op: Parameters<typeof unary>[0]): ExpressionRule<P> => ([t]) => unary(op, input(0, t!));
const binaryRule = <P extends ElementwisePrim>(op: Parameters<typeof binary>[0]): ExpressionRule<P> => ([a, b]) => binary(op, input(0, a!), input(1, b!));
const compareRule = <P extends ElementwisePrim>(op: Parameters<typeof compare>[0]): ExpressionRule<P> => ([a, b]) => compare(op, input(0, a!), input(1, b!));

export const EXPRESSIONS: { [P in ElementwisePrim]: ExpressionRule<P> } = {
  neg: unaryRule('neg'), exp: unaryRule('exp'), log: unaryRule('log'), expm1: unaryRule('expm1'), log1p: unaryRule('log1p'),
  sin: unaryRule('sin'), cos: unaryRule('cos'), tanh: unaryRule('tanh'), sqrt: unaryRule('sqrt'), erf: unaryRule('erf'),
  erfinv: unaryRule('erfinv'), floor: unaryRule('floor'), abs: unaryRule('abs'), sign: unaryRule('sign'), sigmoid: unaryRule('sigmoid'),
  add: binaryRule('add'), sub: binaryRule('sub'), mul: binaryRule('mul'), div: binaryRule('div'), max: binaryRule('max'),
  min: binaryRule('min'), pow: binaryRule('pow'), mod: binaryRule('mod'),
  bitand: binaryRule('bitand'), bitor: binaryRule('bitor'), bitxor: binaryRule('bitxor'), shl: binaryRule('shl'), shr: binaryRule('shr'),
  eq: compareRule('eq'), ne: compareRule('ne'), lt: compareRule('lt'), le: compareRule('le'), gt: compareRule('gt'), ge: compareRule('ge'),
  where: ([c, a, b]) => select(input(0, c!), input(1, a!), input(2, b!)),
  cast: ([t], { dtype }) => cast(input(0, t!), dtype),
  bitcast: ([t], { dtype }) => bitcast(input(0, t!), dtype),
};

export const isElementwise = (prim: string): prim is ElementwisePrim => Object.hasOwn(EXPRESSIONS, prim);

/** The primitives that are not one expression per element: what each backend's kernel table holds. */
export type StructuralPrim = Exclude<BackendPrim, ElementwisePrim>;

const DTYPE_CODE: Record<DType, number> = { float32: 0, int32: 1, uint32: 2, bool: 3 };

/** A number for a primitive's dtype signature (the output's dtype and each input's, base 4): a cache key made without allocating. */
export function signatureCode(inputs: readonly { readonly dtype: DType }[], out: DType): number {
  let code = DTYPE_CODE[out];
  for (let k = 0; k < inputs.length; k++) code = code * 4 + DTYPE_CODE[inputs[k]!.dtype];
  return code;
}

const made: Partial<Record<ElementwisePrim, Map<number, Expr>>> = {};

/**
 * The expression of primitive `prim` on inputs of these dtypes, made once per signature (the same
 * object each time, so backends cache their renderings by it; looked up without allocating, since
 * the backends ask on every call). Every element-wise primitive's parameters are determined by its
 * output dtype, so the signature is the dtypes.
 */
export function primitiveExpression<P extends ElementwisePrim>(prim: P, inputs: readonly { readonly dtype: DType }[], params: PrimParams[P], out: DType): Expr {
  const cache = (made[prim] ??= new Map<number, Expr>());
  const code = signatureCode(inputs, out);
  let e = cache.get(code);
  if (!e) cache.set(code, (e = (EXPRESSIONS[prim] as ExpressionRule<P>)(inputs.map((x) => x.dtype), params, out)));
  return e;
}

/** `primitiveExpression` with the inputs' dtypes given as a list. */
export function expressionOf<P extends ElementwisePrim>(prim: P, inputs: readonly DType[], params: PrimParams[P], out: DType): Expr {
  return primitiveExpression(prim, inputs.map((dtype) => ({ dtype })), params, out);
}

// ---------------------------------------------------------------- special functions, written once

/**
 * sigmoid(x) = 1 / (1 + e) for x ≥ 0 and e / (1 + e) for x < 0, with e = exp(−|x|) ≤ 1: nothing
 * overflows in float32 (1 / (1 + exp(−x)) does for x < −88 and returns 0 where the true value is a
 * subnormal), and large negative x come out as exp(x) does. A NaN stays NaN on both branches.
 * wasm computed exactly this before (the same bits now); WebGPU computed 1 / (1 + exp(−x)) and now
 * gets the tail right; the CPU keeps 1 / (1 + exp(−x)) natively, exact in float64 (backends/cpu/render.ts).
 */
function sigmoid(x: Expr): Expr {
  const e = exp(neg(abs(x)));
  const s = div(1, add(1, e));
  return select(lt(x, 0), mul(e, s), s);
}

/** 2/√π · (−1)ⁿ / (n! (2n + 1)) for n = 8 … 0: erf(x) = x · Σ cₙ x²ⁿ, highest power first. */
const ERF_SERIES = Array.from({ length: 9 }, (_, n) => {
  let f = 1;
  for (let k = 2; k <= n; k++) f *= k;
  return ((n % 2 ? -1 : 1) / (f * (2 * n + 1))) * 1.1283791670955126;
}).reverse();

/** The Chebyshev-fitted exponent of Numerical Recipes' erfc (fractional error < 1.2e-7), highest power first, without its constant −1.26551223. */
const ERFC_POLY = [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368];

/**
 * erf: near 0 (|x| < 0.5) the Taylor series, nine terms, no cancellation for tiny x; elsewhere
 * ±(1 − erfc(|x|)) with Numerical Recipes' erfc(z) = t·exp(−z² − 1.26551223 + t·P(t)),
 * t = 1 / (1 + z/2). ±Inf give ±1 (t = 0), NaN stays NaN.
 *
 * Rounding, against the three versions this replaces: the CPU summed the series term by term
 * (term ·= −x²/n; sum += term/(2n + 1), 16 divisions); here it is Horner's scheme on precomputed
 * coefficients, in float64 the same float32 results (no difference over 8M points, and a test pins
 * it). wasm had seven terms and P(t) − z² in another order: its results move by at most 2 ulp on
 * 2.6% of points, as far from the CPU's as before (at most 1.8e-7). WebGPU had the CPU's loop in
 * float32: now Horner too, within its tolerance of the CPU.
 */
function erf(x: Expr): Expr {
  const z = abs(x);
  const series = mul(horner(mul(x, x), ERF_SERIES), x);
  const t = div(1, add(1, mul(0.5, z)));
  const erfc = mul(t, exp(add(sub(mul(neg(z), z), 1.26551223), mul(t, horner(t, ERFC_POLY)))));
  return select(lt(z, 0.5), series, select(gt(x, 0), sub(1, erfc), sub(erfc, 1)));
}

/** Giles (2010), "Approximating the erfinv function", single precision (as XLA uses for float32), highest power first. */
const ERFINV_CENTRAL = [2.81022636e-8, 3.43273939e-7, -3.5233877e-6, -4.39150654e-6, 0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941];
const ERFINV_TAIL = [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682];

/** erfinv(x) = x·P(w), w = −log((1 − x)(1 + x)): ±1 give ±Inf, |x| > 1 and NaN give NaN. */
function erfinv(x: Expr): Expr {
  const w = neg(log(mul(sub(1, x), add(1, x))));
  const central = horner(sub(w, 2.5), ERFINV_CENTRAL);
  const tail = horner(sub(sqrt(w), 3), ERFINV_TAIL);
  const inside = mul(select(lt(w, 5), central, tail), x);
  const nan = constant(NaN, x.dtype);
  return select(le(x, -1), select(compare('eq', x, -1), -Infinity, nan), select(ge(x, 1), select(compare('eq', x, 1), Infinity, nan), inside));
}

export const DECOMPOSITIONS: Record<CompositeOp, (x: Expr) => Expr> = { sigmoid, erf, erfinv };

/** The expression in basic nodes only (every composite decomposed). */
export const decompose = (e: Expr): Expr => lower(e, (op) => !(COMPOSITE_OPS as readonly Op[]).includes(op), DECOMPOSITIONS)!;

// ---------------------------------------------------------------- the reference evaluator

/** A value stored as `dtype` (JavaScript's typed-array conversion). */
export function storeAs(dtype: DType, v: number): number {
  switch (dtype) {
    case 'float32': return Math.fround(v);
    case 'int32': return v | 0;
    case 'uint32': return v >>> 0;
    case 'bool': return v !== 0 && v === v ? 1 : 0;
  }
}

const f32Bits = new Float32Array(1);
const u32Bits = new Uint32Array(f32Bits.buffer);
const i32Bits = new Int32Array(f32Bits.buffer);

/**
 * What `root` computes from `inputs` (as their dtypes hold them): every node with JavaScript's
 * semantics in float64 (`precision: 'float64'`, the CPU backend's order of rounding), or with each
 * float32 node rounded to float32 (`'float32'`, wasm's and WebGPU's). The result is stored as the
 * root's dtype. Transcendental nodes use `Math`'s functions: a backend's own approximations of them
 * agree with this to a few ulp, the basic nodes bit for bit.
 */
export function evaluate(root: Expr, inputs: readonly number[], precision: 'float32' | 'float64' = 'float64'): number {
  return evaluator(root, precision)(inputs);
}

/**
 * `evaluate` with the expression's preparation (decomposition, order of nodes) done once: the
 * returned function computes `root` for one set of input values. The CPU backend runs it per element
 * where it cannot generate code (a page whose Content-Security-Policy forbids `new Function`).
 */
export function evaluator(root: Expr, precision: 'float32' | 'float64' = 'float64'): (inputs: readonly number[]) => number {
  const order = topological(decompose(root));
  const position = new Map(order.map((e, i) => [e, i] as const));
  const argPositions = order.map((e) => e.args.map((x) => position.get(x)!));
  const values = new Float64Array(order.length);
  return (inputs) => {
    for (let i = 0; i < order.length; i++) {
      const e = order[i]!;
      const args = argPositions[i]!;
      values[i] = rounded(e, node(e, args.length > 0 ? values[args[0]!]! : 0, args.length > 1 ? values[args[1]!]! : 0, args.length > 2 ? values[args[2]!]! : 0, inputs), precision);
    }
    return storeAs(root.dtype, values[order.length - 1]!);
  };
}

function rounded(e: Expr, v: number, precision: 'float32' | 'float64'): number {
  return e.dtype === 'float32' ? (precision === 'float32' ? Math.fround(v) : v) : storeAs(e.dtype, v);
}

/** One node's value from its arguments' (a, b, c) under JavaScript's semantics for its dtype. */
function node(e: Expr, a: number, b: number, c: number, inputs: readonly number[]): number {
  const int = e.dtype !== 'float32';
  let v: number;
  switch (e.op) {
    case 'input': v = inputs[e.value]!; break;
    case 'const': v = e.value; break;
    case 'neg': v = -a; break;
    case 'abs': v = Math.abs(a); break;
    case 'sign': v = Math.sign(a); break;
    case 'floor': v = Math.floor(a); break;
    case 'sqrt': v = Math.sqrt(a); break;
    case 'exp': v = Math.exp(a); break;
    case 'log': v = Math.log(a); break;
    case 'expm1': v = Math.expm1(a); break;
    case 'log1p': v = Math.log1p(a); break;
    case 'sin': v = Math.sin(a); break;
    case 'cos': v = Math.cos(a); break;
    case 'tanh': v = Math.tanh(a); break;
    case 'add': v = a + b; break;
    case 'sub': v = a - b; break;
    case 'mul': v = int ? Math.imul(a, b) : a * b; break;
    case 'div': v = int ? Math.trunc(a / b) || 0 : a / b; break;
    case 'max': v = int ? (a > b ? a : b) : Math.max(a, b); break;
    case 'min': v = int ? (a < b ? a : b) : Math.min(a, b); break;
    case 'pow': v = Math.pow(a, b); break;
    case 'mod': v = int ? ((a % b) + b) % b || 0 : a - b * Math.floor(a / b); break;
    case 'bitand': v = a & b; break;
    case 'bitor': v = a | b; break;
    case 'bitxor': v = a ^ b; break;
    case 'shl': v = a << b; break;
    case 'shr': v = e.dtype === 'uint32' ? a >>> b : a >> b; break;
    case 'eq': v = a === b ? 1 : 0; break;
    case 'ne': v = a !== b ? 1 : 0; break;
    case 'lt': v = a < b ? 1 : 0; break;
    case 'le': v = a <= b ? 1 : 0; break;
    case 'gt': v = a > b ? 1 : 0; break;
    case 'ge': v = a >= b ? 1 : 0; break;
    case 'select': v = a ? b : c; break;
    case 'cast': v = e.dtype === 'float32' ? a : e.dtype === 'bool' ? (a !== 0 ? 1 : 0) : Math.trunc(a) || 0; break;
    case 'bitcast':
      if (e.args[0]!.dtype === 'float32') f32Bits[0] = a;
      else u32Bits[0] = a >>> 0;
      v = e.dtype === 'float32' ? f32Bits[0]! : e.dtype === 'int32' ? i32Bits[0]! : u32Bits[0]!;
      break;
    case 'round': v = storeAs(e.dtype, a); break;
    default: throw new Error(`evaluate: no rule for node '${e.op}'`);
  }
  return v;
}

export { COMPOSITE_OPS };
