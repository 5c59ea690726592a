/**
 * The wasm backend's renderer of the scalar expression IR (core/expr.ts): an expression becomes SIMD
 * code over four float32 lanes, through the assembler. Booleans are lane masks (all ones or zero).
 * Natively it has the float32 arithmetic wasm has instructions for, comparisons, selects (on any
 * 4-byte value: a select moves bits), and exp (Cephes' polynomial, `expVec`); composites come
 * decomposed (core/elementwise.ts), so sigmoid and erf are built from these. An expression with any
 * other node (log, sin, pow, integer arithmetic, casts, …) is not rendered: the backend runs the CPU
 * backend's rendering of it on views of its heap instead, the same bits as the reference.
 */
import { DECOMPOSITIONS, expr as ir, type DType, type Expr } from '../../core/index.js';
import { SIMD, type Code, type Local } from './assembler.js';

const FLOAT_OPS: Partial<Record<ir.Op, number>> = {
  add: SIMD.f32x4Add, sub: SIMD.f32x4Sub, mul: SIMD.f32x4Mul, div: SIMD.f32x4Div, max: SIMD.f32x4Max, min: SIMD.f32x4Min,
  neg: SIMD.f32x4Neg, abs: SIMD.f32x4Abs, sqrt: SIMD.f32x4Sqrt, floor: SIMD.f32x4Floor,
  eq: SIMD.f32x4Eq, ne: SIMD.f32x4Ne, lt: SIMD.f32x4Lt, le: SIMD.f32x4Le, gt: SIMD.f32x4Gt, ge: SIMD.f32x4Ge,
};

/** The nodes this backend renders itself. */
export function wasmHas(op: ir.Op, dtype: DType, args: readonly Expr[]): boolean {
  // Inputs are f32 lanes, or lane masks for bool; a select or a round moves any 4-byte value's bits.
  if (op === 'input' || op === 'select' || op === 'round') return true;
  if (op === 'const') return dtype === 'float32';
  if (op === 'exp') return dtype === 'float32';
  return FLOAT_OPS[op] !== undefined && args.every((a) => a.dtype === 'float32');
}

/** `root` with every composite wasm lacks decomposed, or null when a node has no rendering here. */
export const lowerForWasm = (root: Expr): Expr | null => ir.lower(root, wasmHas, DECOMPOSITIONS);

const MAGIC = 12582912; // 1.5 · 2²³
const MAGIC_BITS = 0x4b400000;

export interface ExpTemps {
  r: Local;
  n: Local;
  p: Local;
}

/**
 * exp(x) for four lanes (Cephes' expf: x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial for eʳ),
 * about 1 ulp. 2ⁿ is applied as two factors 2^⌊n/2⌋ · 2^(n−⌊n/2⌋), each a normal number, so results
 * that overflow become +Inf and results in the subnormal range round as they should. NaN stays NaN.
 */
export function expVec(c: Code, x: Local, t: ExpTemps): void {
  const { r, n, p } = t;
  // Clamping keeps n in [−150, 129]; beyond it the result is 0 or +Inf anyway. pmin/pmax with x
  // first keep a NaN (and are single instructions, unlike min/max).
  c.localGet(x).f32x4Const(89).v(SIMD.f32x4Pmin).f32x4Const(-104).v(SIMD.f32x4Pmax).localSet(r);
  // n = round(x·log2 e) by the 1.5·2²³ trick: adding it leaves n in the low mantissa bits.
  c.localGet(r).f32x4Const(Math.LOG2E).f32x4Mul().f32x4Const(MAGIC).f32x4Add().localSet(n);
  // r = x − n·ln2 in two parts (Cody–Waite) so r is exact.
  c.localGet(r).localGet(n).f32x4Const(MAGIC).f32x4Sub().localTee(p).f32x4Const(0.693359375).f32x4Mul().f32x4Sub();
  c.localGet(p).f32x4Const(-2.12194440e-4).f32x4Mul().f32x4Sub().localSet(r);
  c.localGet(n).i32Const(MAGIC_BITS).i32x4Splat().i32x4Sub().localSet(n);
  const coeffs = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
  c.f32x4Const(coeffs[0]!).localSet(p);
  for (const k of coeffs.slice(1)) c.localGet(p).localGet(r).f32x4Mul().f32x4Const(k).f32x4Add().localSet(p);
  // eʳ ≈ p·r² + r + 1
  c.localGet(p).localGet(r).localGet(r).f32x4Mul().f32x4Mul().localGet(r).f32x4Add().f32x4Const(1).f32x4Add();
  // · 2^(n>>1) · 2^(n − (n>>1)), each built from exponent bits.
  c.localGet(n).i32Const(1).v(SIMD.i32x4ShrS).localSet(r);
  c.localGet(r).i32Const(127).i32x4Splat().i32x4Add().i32Const(23).i32x4Shl().f32x4Mul();
  c.localGet(n).localGet(r).i32x4Sub().i32Const(127).i32x4Splat().i32x4Add().i32Const(23).i32x4Shl().f32x4Mul();
}

/**
 * Push the v128 value of a lowered expression (`lowerForWasm`), input k being `inputs[k]` (f32
 * lanes, or lane masks for bool). A node read more than once is computed once into a local of its
 * own; the rest stay on the stack.
 */
export function renderVec(c: Code, root: Expr, inputs: readonly Local[]): void {
  const uses = ir.useCounts(root);
  const saved = new Map<Expr, Local>();
  let temps: ExpTemps | null = null;
  const emit = (e: Expr): void => {
    const done = saved.get(e);
    if (done) {
      c.localGet(done);
      return;
    }
    switch (e.op) {
      case 'input': c.localGet(inputs[e.value]!); return;
      case 'const': c.f32x4Const(e.value); break;
      case 'round': emit(e.args[0]!); break;
      case 'select':
        emit(e.args[1]!);
        emit(e.args[2]!);
        emit(e.args[0]!);
        c.v128Bitselect();
        break;
      case 'exp': {
        const x = c.local('v128');
        emit(e.args[0]!);
        c.localSet(x);
        temps ??= { r: c.local('v128'), n: c.local('v128'), p: c.local('v128') };
        expVec(c, x, temps);
        break;
      }
      default: {
        const code = FLOAT_OPS[e.op];
        if (code === undefined) throw new Error(`wasm backend: no rendering for node '${e.op}'`);
        for (const a of e.args) emit(a);
        c.v(code);
      }
    }
    if ((uses.get(e) ?? 0) > 1) {
      const l = c.local('v128');
      c.localTee(l);
      saved.set(e, l);
    }
  };
  emit(root);
}
