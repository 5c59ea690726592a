/**
 * A scalar expression IR: what one output element of an element-wise kernel computes from one
 * element of each input. Every element-wise primitive is one expression over it (`elementwise.ts`),
 * and every backend renders expressions instead of knowing primitives (jax-js's `alu.ts`): the CPU
 * as generated JavaScript, wasm as SIMD code, WebGPU as WGSL. A chain of element-wise primitives is
 * one expression too (`compose`), so fusion and a later `jit` render it as one kernel.
 *
 * Nodes are immutable; an expression is a DAG (a node used twice is computed once by the renderers).
 * The IR lives in core, not beside the backends, because core defines the primitives by it and a
 * core transformation (`jit`) composes it; backends import it like the Backend interface.
 *
 * Semantics are JavaScript's, per dtype (the CPU backend's, the reference):
 * - float32 arithmetic is IEEE; a backend may evaluate the nodes of one expression in float64 and
 *   round once at the store (the CPU does) or round every node to float32 (wasm, WebGPU). The basic
 *   operations (add, sub, mul, div, sqrt, comparisons) give the same bits either way; the others are
 *   approximations within a few ulp. `round` marks where an unfused chain would have stored a tensor:
 *   there every backend rounds, so a composed expression equals the chain bit for bit.
 * - int32 and uint32 wrap modulo 2³²; `div` truncates (0 for ÷0), `mod` is floored (0 for ÷0);
 *   shifts take the amount modulo 32 (`shr` is arithmetic on int32, logical on uint32).
 * - bool is 0 or 1; comparisons return it and `select` takes it.
 * - `cast` converts values (float → int truncates toward zero, NaN and ±Inf → 0, then wraps);
 *   `bitcast` reinterprets the 32 bits.
 *
 * Composite nodes (`sigmoid`, `erf`, `erfinv`) have a decomposition into the others (`DECOMPOSITIONS`
 * in `elementwise.ts`). A backend declares which nodes it has natively; `lower` replaces every other
 * composite by its decomposition, so a special function is written once for all backends, and the
 * same order of operations gives every backend the same rounding (tinygrad's "presence gates
 * decompositions").
 */
import type { DType } from './dtype.js';

export const UNARY_OPS = ['neg', 'abs', 'sign', 'floor', 'sqrt', 'exp', 'log', 'expm1', 'log1p', 'sin', 'cos', 'tanh'] as const;
export const BINARY_OPS = ['add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'mod', 'bitand', 'bitor', 'bitxor', 'shl', 'shr'] as const;
export const COMPARE_OPS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
/** Nodes defined by a decomposition into the others; a backend may still have them natively. */
export const COMPOSITE_OPS = ['sigmoid', 'erf', 'erfinv'] as const;

export type UnaryOp = (typeof UNARY_OPS)[number];
export type BinaryOp = (typeof BINARY_OPS)[number];
export type CompareOp = (typeof COMPARE_OPS)[number];
export type CompositeOp = (typeof COMPOSITE_OPS)[number];
export type Op = 'input' | 'const' | UnaryOp | BinaryOp | CompareOp | CompositeOp | 'select' | 'cast' | 'bitcast' | 'round';

export interface Expr {
  readonly op: Op;
  /** The dtype of the node's value. */
  readonly dtype: DType;
  readonly args: readonly Expr[];
  /** `const`: the value (a float32 constant is rounded to float32 where a backend computes in it); `input`: the input's index; else 0. */
  readonly value: number;
}

const node = (op: Op, dtype: DType, args: readonly Expr[], value = 0): Expr => ({ op, dtype, args, value });

// ---------------------------------------------------------------- builders

export const input = (index: number, dtype: DType): Expr => node('input', dtype, [], index);
export const constant = (value: number, dtype: DType = 'float32'): Expr => node('const', dtype, [], value);

/** A number operand takes the dtype of the expression beside it. */
type Operand = Expr | number;
const lift = (x: Operand, like: DType): Expr => (typeof x === 'number' ? constant(x, like) : x);
const dtypeOf = (...xs: Operand[]): DType => (xs.find((x): x is Expr => typeof x !== 'number')?.dtype ?? 'float32');

export const unary = (op: UnaryOp | CompositeOp, x: Expr): Expr => node(op, x.dtype, [x]);
export function binary(op: BinaryOp, a: Operand, b: Operand): Expr {
  const t = dtypeOf(a, b);
  return node(op, t, [lift(a, t), lift(b, t)]);
}
export function compare(op: CompareOp, a: Operand, b: Operand): Expr {
  const t = dtypeOf(a, b);
  return node(op, 'bool', [lift(a, t), lift(b, t)]);
}
/** `cond ? a : b`, with a boolean `cond`. */
export function select(cond: Expr, a: Operand, b: Operand): Expr {
  const t = dtypeOf(a, b);
  return node('select', t, [cond, lift(a, t), lift(b, t)]);
}
export const cast = (x: Expr, dtype: DType): Expr => node('cast', dtype, [x]);
export const bitcast = (x: Expr, dtype: DType): Expr => node('bitcast', dtype, [x]);
/** The value as storing it in a tensor of its dtype would leave it (a primitive's boundary in a composed chain). */
export const round = (x: Expr): Expr => node('round', x.dtype, [x]);

export const add = (a: Operand, b: Operand): Expr => binary('add', a, b);
export const sub = (a: Operand, b: Operand): Expr => binary('sub', a, b);
export const mul = (a: Operand, b: Operand): Expr => binary('mul', a, b);
export const div = (a: Operand, b: Operand): Expr => binary('div', a, b);
export const neg = (x: Expr): Expr => unary('neg', x);
export const abs = (x: Expr): Expr => unary('abs', x);
export const exp = (x: Expr): Expr => unary('exp', x);
export const log = (x: Expr): Expr => unary('log', x);
export const sqrt = (x: Expr): Expr => unary('sqrt', x);
export const lt = (a: Operand, b: Operand): Expr => compare('lt', a, b);
export const le = (a: Operand, b: Operand): Expr => compare('le', a, b);
export const gt = (a: Operand, b: Operand): Expr => compare('gt', a, b);
export const ge = (a: Operand, b: Operand): Expr => compare('ge', a, b);
export const eq = (a: Operand, b: Operand): Expr => compare('eq', a, b);
/** NaN test as IEEE defines it (x ≠ x); renderers whose compilers may assume no NaN test the bits. */
export const isNaN = (x: Expr): Expr => compare('ne', x, x);

/** Horner's scheme: c[0]·xⁿ + c[1]·xⁿ⁻¹ + … + c[n], as (…(c[0]·x + c[1])·x + …) + c[n]. */
export function horner(x: Expr, coefficients: readonly number[]): Expr {
  let p: Expr = constant(coefficients[0]!, x.dtype);
  for (const c of coefficients.slice(1)) p = add(mul(p, x), c);
  return p;
}

// ---------------------------------------------------------------- walking

/** The nodes under `root`, each once, operands before their users. */
export function topological(root: Expr): Expr[] {
  const seen = new Set<Expr>();
  const order: Expr[] = [];
  const visit = (e: Expr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    for (const a of e.args) visit(a);
    order.push(e);
  };
  visit(root);
  return order;
}

/** How many nodes read each node (renderers inline a node read once and name one read more often). */
export function useCounts(root: Expr): Map<Expr, number> {
  const uses = new Map<Expr, number>();
  for (const e of topological(root)) for (const a of e.args) uses.set(a, (uses.get(a) ?? 0) + 1);
  return uses;
}

/** Rebuild `root` bottom-up, each node once (sharing kept), with `f` given the node and its rebuilt arguments. */
export function rewrite(root: Expr, f: (e: Expr, args: readonly Expr[]) => Expr): Expr {
  const done = new Map<Expr, Expr>();
  for (const e of topological(root)) {
    const args = e.args.map((a) => done.get(a)!);
    const same = args.every((a, i) => a === e.args[i]);
    done.set(e, f(same ? e : { ...e, args }, args));
  }
  return done.get(root)!;
}

/** The highest input index read, plus one. */
export const arity = (root: Expr): number => topological(root).reduce((n, e) => (e.op === 'input' ? Math.max(n, e.value + 1) : n), 0);

/** Substitute `inputs[k]` for input k. */
export const substitute = (root: Expr, inputs: readonly Expr[]): Expr => rewrite(root, (e) => (e.op === 'input' ? inputs[e.value]! : e));

/**
 * One expression for a chain: `outer` with input k replaced by `inners[k]` (rounded to its dtype, as
 * the unfused chain would store it). Inputs of the `inners` are the new expression's inputs.
 */
export const compose = (outer: Expr, inners: readonly Expr[]): Expr => substitute(outer, inners.map((e) => (e.op === 'input' || e.op === 'const' || e.op === 'round' ? e : round(e))));

/**
 * The expression a backend can render: every composite node it lacks replaced by its decomposition
 * (recursively). Returns null when a node is neither native nor decomposable (the backend then falls
 * back: wasm to the CPU's rendering on its heap).
 */
export function lower(root: Expr, native: (op: Op, dtype: DType, args: readonly Expr[]) => boolean, decompositions: Partial<Record<Op, (x: Expr) => Expr>>): Expr | null {
  let ok = true;
  const out = rewrite(root, (e, args) => {
    if (e.op === 'input' || e.op === 'const' || native(e.op, e.dtype, args)) return e;
    const d = decompositions[e.op];
    if (d) {
      const lowered = lower(d(args[0]!), native, decompositions);
      if (lowered) return lowered;
    }
    ok = false;
    return e;
  });
  return ok ? out : null;
}

/** A canonical text of the expression's structure (constants included): a cache key for kernels. */
export function structureKey(root: Expr): string {
  const ids = new Map<Expr, number>();
  const parts: string[] = [];
  for (const e of topological(root)) {
    ids.set(e, ids.size);
    const v = e.op === 'const' ? `=${Object.is(e.value, -0) ? '-0' : e.value}` : e.op === 'input' ? `#${e.value}` : '';
    parts.push(`${e.op}:${e.dtype}${v}(${e.args.map((a) => ids.get(a)!).join(',')})`);
  }
  return parts.join(' ');
}
