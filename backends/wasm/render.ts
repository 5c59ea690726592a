/**
 * The wasm backend's renderer of the scalar expression IR (core/expr.ts): an expression becomes SIMD
 * code over four float32 lanes, through the assembler. Booleans are lane masks (all ones or zero).
 * Natively it has the float32 arithmetic wasm has instructions for, comparisons, selects (on any
 * 4-byte value: a select moves bits), exp (Cephes' polynomial, `expVec`) and log (Cephes' logf,
 * `logVec`); composites come decomposed (core/elementwise.ts), so sigmoid, erf and erfinv are built
 * from these. An expression with any other node (sin, pow, integer arithmetic, casts, …) is not
 * rendered: the backend runs the CPU backend's rendering of it on views of its heap instead, the
 * same bits as the reference.
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
  if (op === 'exp' || op === 'log') return dtype === 'float32';
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

export interface LogTemps {
  mask: Local;
  e: Local;
  m: Local;
  z: Local;
  y: Local;
}

/**
 * log(x) for four lanes (Cephes' logf: x = m·2ᵉ with m in [√½, √2), log(1 + f) by a degree-9
 * polynomial, e·ln2 added in two parts), about 1 ulp. Subnormals are scaled by 2²³ first; 0 gives
 * −Inf, +Inf gives +Inf, negatives and NaN give NaN.
 */
export function logVec(c: Code, x: Local, t: LogTemps): void {
  const { mask, e, m, z, y } = t;
  // Subnormals into the normals: m = x·2²³, and 23 off the exponent.
  c.localGet(x).f32x4Const(1.17549435e-38).v(SIMD.f32x4Lt).localSet(mask);
  c.localGet(x).f32x4Const(8388608).f32x4Mul().localGet(x).localGet(mask).v128Bitselect().localSet(m);
  // e = exponent − 126 (m's mantissa in [½, 1)), − 23 for the scaled subnormals.
  c.localGet(m).i32Const(23).i32x4ShrU().i32Const(126).i32x4Splat().i32x4Sub();
  c.localGet(mask).i32Const(-23).i32x4Splat().v128And().i32x4Add().localSet(e);
  c.localGet(m).i32Const(0x807fffff).i32x4Splat().v128And().i32Const(0x3f000000).i32x4Splat().v128Or().localSet(m);
  // Below √½: one off e and f = 2m − 1; else f = m − 1.
  c.localGet(m).f32x4Const(0.707106781186547524).v(SIMD.f32x4Lt).localSet(mask);
  c.localGet(e).localGet(mask).i32x4Add().v(SIMD.f32x4ConvertI32x4S).localSet(e);
  c.localGet(m).f32x4Const(1).f32x4Sub().localGet(m).localGet(mask).v128And().f32x4Add().localSet(m);
  c.localGet(m).localGet(m).f32x4Mul().localSet(z);
  const coeffs = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1];
  c.f32x4Const(coeffs[0]!).localSet(y);
  for (const k of coeffs.slice(1)) c.localGet(y).localGet(m).f32x4Mul().f32x4Const(k).f32x4Add().localSet(y);
  // y = P(f)·f·z + e·(−2.12194440e-4) − z/2; log = f + y + e·0.693359375
  c.localGet(y).localGet(m).f32x4Mul().localGet(z).f32x4Mul();
  c.localGet(e).f32x4Const(-2.12194440e-4).f32x4Mul().f32x4Add();
  c.localGet(z).f32x4Const(-0.5).f32x4Mul().f32x4Add().localSet(y);
  c.localGet(m).localGet(y).f32x4Add().localGet(e).f32x4Const(0.693359375).f32x4Mul().f32x4Add().localSet(y);
  // x > 0 ? y : x == 0 ? −Inf : NaN; then +Inf for +Inf.
  c.localGet(y);
  c.f32x4Const(-Infinity).f32x4Const(NaN).localGet(x).f32x4Const(0).v(SIMD.f32x4Eq).v128Bitselect();
  c.localGet(x).f32x4Const(0).v(SIMD.f32x4Gt).v128Bitselect().localSet(y);
  c.f32x4Const(Infinity).localGet(y).localGet(x).f32x4Const(Infinity).v(SIMD.f32x4Eq).v128Bitselect();
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
  let logTemps: LogTemps | null = null;
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
      case 'log': {
        const x = c.local('v128');
        emit(e.args[0]!);
        c.localSet(x);
        logTemps ??= { mask: c.local('v128'), e: c.local('v128'), m: c.local('v128'), z: c.local('v128'), y: c.local('v128') };
        logVec(c, x, logTemps);
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
