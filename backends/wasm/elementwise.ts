/**
 * Element-wise and reduction kernels, generated as wasm SIMD.
 *
 * Element-wise kernels work on a 2-D view `[outer, inner]` of the broadcast output: after the core's
 * shape has been collapsed (merging axes every operand walks contiguously), an operand's step along
 * the inner axis is 1 (a vector operand, `v`) or 0 (a scalar splatted along the row, `s`), and its
 * step along the outer axis is any stride. So `x + bias`, `x * scalar`, `x - rowMean` all run as
 * straight SIMD loops without materialising a broadcast. Four lanes at a time, a scalar tail.
 *
 * Reductions take `[outer, reduced, inner]`: `inner = 1` sums contiguous rows (softmax, layer norm),
 * `inner > 1` sums down columns (bias gradients) with whole vectors.
 */
import type { Code, Local, ModuleBuilder } from './assembler.js';
import { SIMD } from './assembler.js';

export type Mode = 'v' | 's';
type ElemType = 'f32' | 'u8';

interface Operand {
  type: ElemType;
  mode: Mode;
}

interface MapSpec {
  inputs: readonly Operand[];
  output: ElemType;
  /** Push the v128 result from the operands' v128 values (f32 lanes, or i32 masks for u8). */
  vec(c: Code, xs: readonly Local[]): void;
  /** Push the scalar result (f32, or i32 0/1 for u8 output) from scalar operands (f32, or i32 for u8). */
  scalar(c: Code, xs: readonly Local[]): void;
}

const bytesOf = (t: ElemType): number => (t === 'f32' ? 4 : 1);

/** 0/1 bytes → i32x4 lane masks: four bytes at `ptr`, widened, compared with zero. */
function loadMask(c: Code, ptr: Local, zero: Local): void {
  c.localGet(ptr).v128Load32Zero().v(SIMD.i16x8ExtendLowI8x16U).v(SIMD.i32x4ExtendLowI16x8U).localGet(zero).v(SIMD.i32x4Ne);
}

/**
 * Export `name(out, in0, …, inN-1, lo, hi, inner, stride0, …, strideN-1)`: rows [lo, hi) of the
 * `[outer, inner]` view (threads take row ranges); strides are bytes per outer step; the output is
 * contiguous. Each element's arithmetic does not depend on the range, so a split changes no bits.
 */
export function emitMap(m: ModuleBuilder, name: string, spec: MapSpec): void {
  const n = spec.inputs.length;
  const params = Array.from({ length: 1 + n + 3 + n }, () => 'i32' as const);
  m.func(name, { params }, (c, ...p) => {
    const out = p[0]!;
    const ins = p.slice(1, 1 + n);
    const lo = p[1 + n]!;
    const hi = p[2 + n]!;
    const inner = p[3 + n]!;
    const strides = p.slice(4 + n);
    const o = c.local('i32');
    const i = c.local('i32');
    const q = c.local('i32');
    const rowPtr = ins.map(() => c.local('i32'));
    const ptr = ins.map(() => c.local('i32'));
    const vecVal = ins.map(() => c.local('v128'));
    const scalVal = spec.inputs.map((x) => c.local(x.type === 'f32' ? 'f32' : 'i32'));
    const zero = c.local('v128');
    const res = c.local('v128');
    const outBytes = bytesOf(spec.output);
    c.v128Const(new Array<number>(16).fill(0)).localSet(zero);
    c.localGet(out).localGet(lo).localGet(inner).i32Mul().i32Const(outBytes).i32Mul().i32Add().localSet(q);
    ins.forEach((x, k) => c.localGet(x).localGet(lo).localGet(strides[k]!).i32Mul().i32Add().localSet(rowPtr[k]!));
    c.forRange(o, lo, hi, 1, () => {
      spec.inputs.forEach((x, k) => {
        c.localGet(rowPtr[k]!).localSet(ptr[k]!);
        if (x.mode === 's') {
          if (x.type === 'f32') {
            c.localGet(ptr[k]!).f32Load().localSet(scalVal[k]!);
            c.localGet(scalVal[k]!).f32x4Splat().localSet(vecVal[k]!);
          } else {
            c.localGet(ptr[k]!).i32Load8U().i32Const(0).i32Ne().localSet(scalVal[k]!);
            c.i32Const(0).localGet(scalVal[k]!).i32Sub().i32x4Splat().localSet(vecVal[k]!);
          }
        }
      });
      // Four at a time.
      c.i32Const(0).localSet(i);
      c.block((exit) => {
        c.loop((top) => {
          c.localGet(i).i32Const(4).i32Add().localGet(inner).i32GtS().brIf(exit);
          spec.inputs.forEach((x, k) => {
            if (x.mode !== 'v') return;
            if (x.type === 'f32') c.localGet(ptr[k]!).v128Load().localSet(vecVal[k]!);
            else {
              loadMask(c, ptr[k]!, zero);
              c.localSet(vecVal[k]!);
            }
            c.localGet(ptr[k]!).i32Const(4 * bytesOf(x.type)).i32Add().localSet(ptr[k]!);
          });
          if (spec.output === 'f32') {
            c.localGet(q);
            spec.vec(c, vecVal);
            c.v128Store();
          } else {
            spec.vec(c, vecVal);
            c.localSet(res);
            c.localGet(q);
            c.localGet(res).localGet(res).v(SIMD.i16x8NarrowI32x4S);
            c.localGet(res).localGet(res).v(SIMD.i16x8NarrowI32x4S);
            c.v(SIMD.i8x16NarrowI16x8S).v128Const(new Array<number>(16).fill(1)).v128And().i32x4ExtractLane(0).i32Store();
          }
          c.localGet(q).i32Const(4 * outBytes).i32Add().localSet(q);
          c.localGet(i).i32Const(4).i32Add().localSet(i).br(top);
        });
      });
      // The rest one by one.
      c.block((exit) => {
        c.loop((top) => {
          c.localGet(i).localGet(inner).i32GeS().brIf(exit);
          spec.inputs.forEach((x, k) => {
            if (x.mode !== 'v') return;
            if (x.type === 'f32') c.localGet(ptr[k]!).f32Load().localSet(scalVal[k]!);
            else c.localGet(ptr[k]!).i32Load8U().i32Const(0).i32Ne().localSet(scalVal[k]!);
            c.localGet(ptr[k]!).i32Const(bytesOf(x.type)).i32Add().localSet(ptr[k]!);
          });
          c.localGet(q);
          spec.scalar(c, scalVal);
          if (spec.output === 'f32') c.f32Store();
          else c.i32Store8();
          c.localGet(q).i32Const(outBytes).i32Add().localSet(q);
          c.localGet(i).i32Const(1).i32Add().localSet(i).br(top);
        });
      });
      ins.forEach((_, k) => c.localGet(rowPtr[k]!).localGet(strides[k]!).i32Add().localSet(rowPtr[k]!));
    });
  });
}

// ---------------------------------------------------------------- the op tables

export const FLOAT_BINARY = ['add', 'sub', 'mul', 'div', 'max', 'min'] as const;
export type FloatBinary = (typeof FLOAT_BINARY)[number];

const BINARY_SIMD: Record<FloatBinary, [number, (c: Code) => void]> = {
  add: [SIMD.f32x4Add, (c) => c.f32Add()],
  sub: [SIMD.f32x4Sub, (c) => c.f32Sub()],
  mul: [SIMD.f32x4Mul, (c) => c.f32Mul()],
  div: [SIMD.f32x4Div, (c) => c.f32Div()],
  max: [SIMD.f32x4Max, (c) => c.f32Max()],
  min: [SIMD.f32x4Min, (c) => c.f32Min()],
};

export const FLOAT_COMPARE = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
export type FloatCompare = (typeof FLOAT_COMPARE)[number];

const COMPARE_SIMD: Record<FloatCompare, [number, (c: Code) => void]> = {
  eq: [SIMD.f32x4Eq, (c) => c.f32Eq()],
  ne: [SIMD.f32x4Ne, (c) => c.f32Ne()],
  lt: [SIMD.f32x4Lt, (c) => c.f32Lt()],
  le: [SIMD.f32x4Le, (c) => c.f32Le()],
  gt: [SIMD.f32x4Gt, (c) => c.f32Gt()],
  ge: [SIMD.f32x4Ge, (c) => c.f32Ge()],
};

export const FLOAT_UNARY = ['neg', 'abs', 'sqrt', 'floor', 'exp', 'sigmoid', 'erf'] as const;
export type FloatUnary = (typeof FLOAT_UNARY)[number];

/** Binary modes: which operand is splatted along rows (never both: one operand spans the row). */
export const BINARY_MODES = ['vv', 'vs', 'sv'] as const;
export type BinaryModes = (typeof BINARY_MODES)[number];
export const WHERE_MODES = ['vvv', 'vvs', 'vsv', 'vss', 'svv', 'svs', 'ssv'] as const;
export type WhereModes = (typeof WHERE_MODES)[number];

export const mapName = (op: string, modes: string): string => `${op}_${modes}`;

function operands(types: readonly ElemType[], modes: string): Operand[] {
  return types.map((type, k) => ({ type, mode: modes[k] as Mode }));
}

/**
 * exp(x) for four lanes (Cephes' expf: x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial for eʳ),
 * about 1 ulp. 2ⁿ is applied as two factors 2^⌊n/2⌋ · 2^(n−⌊n/2⌋), each a normal number, so results
 * that overflow become +Inf and results in the subnormal range round as they should. NaN stays NaN.
 */
function expVec(c: Code, x: Local, t: { r: Local; n: Local; p: Local }): void {
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

const MAGIC = 12582912; // 1.5 · 2²³
const MAGIC_BITS = 0x4b400000;

/** Emit every element-wise kernel: `add_vv`, `gt_sv`, `where_vsv`, `exp_v`, … */
export function emitElementwise(m: ModuleBuilder): void {
  for (const op of FLOAT_BINARY) {
    const [vop, sop] = BINARY_SIMD[op];
    for (const modes of BINARY_MODES) {
      emitMap(m, mapName(op, modes), {
        inputs: operands(['f32', 'f32'], modes),
        output: 'f32',
        vec: (c, [a, b]) => c.localGet(a!).localGet(b!).v(vop),
        scalar: (c, [a, b]) => {
          c.localGet(a!).localGet(b!);
          sop(c);
        },
      });
    }
  }
  for (const op of FLOAT_COMPARE) {
    const [vop, sop] = COMPARE_SIMD[op];
    for (const modes of BINARY_MODES) {
      emitMap(m, mapName(op, modes), {
        inputs: operands(['f32', 'f32'], modes),
        output: 'u8',
        vec: (c, [a, b]) => c.localGet(a!).localGet(b!).v(vop),
        scalar: (c, [a, b]) => {
          c.localGet(a!).localGet(b!);
          sop(c);
        },
      });
    }
  }
  for (const modes of WHERE_MODES) {
    emitMap(m, mapName('where', modes), {
      inputs: operands(['u8', 'f32', 'f32'], modes),
      output: 'f32',
      vec: (c, [cond, a, b]) => c.localGet(a!).localGet(b!).localGet(cond!).v128Bitselect(),
      scalar: (c, [cond, a, b]) => c.localGet(a!).localGet(b!).localGet(cond!).select(),
    });
  }
  const unary: Record<Exclude<FloatUnary, 'exp' | 'sigmoid' | 'erf'>, [number, (c: Code) => void]> = {
    neg: [SIMD.f32x4Neg, (c) => c.f32Neg()],
    abs: [SIMD.f32x4Abs, (c) => c.f32Abs()],
    sqrt: [SIMD.f32x4Sqrt, (c) => c.f32Sqrt()],
    floor: [SIMD.f32x4Floor, (c) => c.f32Floor()],
  };
  for (const [op, [vop, sop]] of Object.entries(unary)) {
    emitMap(m, mapName(op, 'v'), {
      inputs: operands(['f32'], 'v'),
      output: 'f32',
      vec: (c, [a]) => c.localGet(a!).v(vop),
      scalar: (c, [a]) => {
        c.localGet(a!);
        sop(c);
      },
    });
  }
  // exp and sigmoid: the scalar tail goes through the same vector code in lane 0, so every element
  // agrees. Temporaries are locals of the function being emitted, one set per function.
  const temps = new WeakMap<Code, VecTemps>();
  const tempsOf = (c: Code): VecTemps => {
    let t = temps.get(c);
    if (!t) {
      const v = (): Local => c.local('v128');
      temps.set(c, (t = { r: v(), n: v(), p: v(), x: v(), e: v(), s: v(), y: v(), z: v(), q: v() }));
    }
    return t;
  };
  const vectorOnly = (name: string, f: (c: Code, a: Local, t: VecTemps) => void): void =>
    emitMap(m, mapName(name, 'v'), {
      inputs: operands(['f32'], 'v'),
      output: 'f32',
      vec: (c, [a]) => f(c, a!, tempsOf(c)),
      scalar: (c, [a]) => {
        const t = tempsOf(c);
        c.localGet(a!).f32x4Splat().localSet(t.y);
        f(c, t.y, t);
        c.f32x4ExtractLane(0);
      },
    });
  vectorOnly('exp', (c, a, t) => expVec(c, a, t));
  vectorOnly('sigmoid', sigmoidVec);
  vectorOnly('erf', erfVec);
}

interface VecTemps {
  r: Local;
  n: Local;
  p: Local;
  x: Local;
  e: Local;
  s: Local;
  /** The splatted operand of a scalar tail. */
  y: Local;
  z: Local;
  q: Local;
}

/** 2/√π · (−1)ⁿ / (n! (2n + 1)): erf(x) = x · Σ cₙ x²ⁿ, the CPU backend's series near 0. */
const ERF_SERIES = Array.from({ length: 7 }, (_, n) => {
  let f = 1;
  for (let k = 2; k <= n; k++) f *= k;
  return ((n % 2 ? -1 : 1) / (f * (2 * n + 1))) * 1.1283791670955126;
});
/** The Chebyshev-fitted exponent of Numerical Recipes' erfc (as backends/cpu/special.ts), highest power first. */
const ERFC_POLY = [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223];

/**
 * erf as the CPU backend computes it (backends/cpu/special.ts), in float32 lanes: for |x| < 0.5 the
 * Taylor series (seven terms reach float32 precision there), else ±(1 − erfc(|x|)) with
 * erfc(z) = t·exp(−z² + P(t)), t = 1 / (1 + z/2). Both are evaluated and the lanes select. Inf gives
 * ±1 (t = 0), NaN stays NaN (it fails the |x| < 0.5 test and poisons t).
 */
function erfVec(c: Code, a: Local, t: VecTemps): void {
  // z = |x|; q = x² (for the series)
  c.localGet(a).v(SIMD.f32x4Abs).localSet(t.z);
  c.localGet(a).localGet(a).f32x4Mul().localSet(t.q);
  // s = x · Σ cₙ qⁿ (Horner)
  c.f32x4Const(ERF_SERIES[ERF_SERIES.length - 1]!);
  for (let n = ERF_SERIES.length - 2; n >= 0; n--) c.localGet(t.q).f32x4Mul().f32x4Const(ERF_SERIES[n]!).f32x4Add();
  c.localGet(a).f32x4Mul().localSet(t.s);
  // tt = 1 / (1 + z/2), kept in e
  c.f32x4Const(1).f32x4Const(1).localGet(t.z).f32x4Const(0.5).f32x4Mul().f32x4Add().f32x4Div().localSet(t.e);
  // exponent = −z·z + P(tt)
  c.f32x4Const(ERFC_POLY[0]!);
  for (const k of ERFC_POLY.slice(1)) c.localGet(t.e).f32x4Mul().f32x4Const(k).f32x4Add();
  c.localGet(t.z).localGet(t.z).f32x4Mul().f32x4Sub().localSet(t.x);
  expVec(c, t.x, t);
  // large = (1 − tt·exp(…)) with x's sign bit
  c.localGet(t.e).f32x4Mul().localSet(t.q);
  c.f32x4Const(1).localGet(t.q).f32x4Sub();
  c.localGet(a).v128Const(lanes32Bits(0x80000000)).v128And().v128Or().localSet(t.q);
  // |x| < 0.5 takes the series
  c.localGet(t.s).localGet(t.q).localGet(t.z).f32x4Const(0.5).v(SIMD.f32x4Lt).v128Bitselect();
}

/** A v128 constant with the same 32-bit word in every lane, as 16 bytes. */
function lanes32Bits(word: number): number[] {
  const b = [word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, (word >>> 24) & 0xff];
  return [...b, ...b, ...b, ...b];
}

/**
 * sigmoid(x) = 1 / (1 + e) for x ≥ 0 and e / (1 + e) for x < 0, with e = exp(−|x|) ≤ 1: nothing
 * overflows, and the tiny results of large negative x come out as exp(x) does (subnormals included).
 * A NaN stays NaN on both branches. About 2 ulp (exp's 1 ulp, the division, the product).
 */
function sigmoidVec(c: Code, a: Local, t: VecTemps): void {
  c.localGet(a).v(SIMD.f32x4Abs).v(SIMD.f32x4Neg).localSet(t.x);
  expVec(c, t.x, t);
  c.localSet(t.e);
  c.f32x4Const(1).f32x4Const(1).localGet(t.e).f32x4Add().f32x4Div().localSet(t.s);
  // Lanes whose sign bit is set (x < 0, or −0 where both branches give 1/2) take e·s.
  c.localGet(t.e).localGet(t.s).f32x4Mul().localGet(t.s);
  c.localGet(a).i32Const(31).v(SIMD.i32x4ShrS).v128Bitselect();
}

// ---------------------------------------------------------------- reductions

export const REDUCE_OPS = ['sum', 'max'] as const;
export type ReduceOp = (typeof REDUCE_OPS)[number];

/**
 * `sum_rows(out, x, lo, hi, len)`: out[o] = Σ_j x[o·len + j], and `sum_cols(out, x, lo, hi, len, inner)`:
 * out[o, i] = Σ_r x[o, r, i], for o in [lo, hi) (threads take ranges of o); likewise `max_rows`, `max_cols`. Rows accumulate in 16 lanes (four
 * vectors), so the sum is a pairwise-ish tree rather than one long chain.
 */
export function emitReductions(m: ModuleBuilder): void {
  for (const op of REDUCE_OPS) {
    const init = op === 'sum' ? 0 : -Infinity;
    const vop = (c: Code) => (op === 'sum' ? c.f32x4Add() : c.f32x4Max());
    const sop = (c: Code) => (op === 'sum' ? c.f32Add() : c.f32Max());
    m.func(`${op}_rows`, { params: ['i32', 'i32', 'i32', 'i32', 'i32'] }, (c, out, x, lo, hi, len) => {
      const o = c.local('i32');
      const j = c.local('i32');
      const p = c.local('i32');
      const acc = [c.local('v128'), c.local('v128'), c.local('v128'), c.local('v128')];
      const s = c.local('f32');
      c.localGet(x).localGet(lo).localGet(len).i32Mul().i32Const(4).i32Mul().i32Add().localSet(p);
      c.forRange(o, lo, hi, 1, () => {
        for (const a of acc) c.f32x4Const(init).localSet(a);
        c.i32Const(0).localSet(j);
        c.block((exit) => {
          c.loop((top) => {
            c.localGet(j).i32Const(16).i32Add().localGet(len).i32GtS().brIf(exit);
            acc.forEach((a, k) => {
              c.localGet(a).localGet(p).v128Load(16 * k);
              vop(c);
              c.localSet(a);
            });
            c.localGet(p).i32Const(64).i32Add().localSet(p);
            c.localGet(j).i32Const(16).i32Add().localSet(j).br(top);
          });
        });
        c.block((exit) => {
          c.loop((top) => {
            c.localGet(j).i32Const(4).i32Add().localGet(len).i32GtS().brIf(exit);
            c.localGet(acc[0]!).localGet(p).v128Load();
            vop(c);
            c.localSet(acc[0]!);
            c.localGet(p).i32Const(16).i32Add().localSet(p);
            c.localGet(j).i32Const(4).i32Add().localSet(j).br(top);
          });
        });
        // (a0 ∘ a1) ∘ (a2 ∘ a3), then the four lanes pairwise.
        c.localGet(acc[0]!).localGet(acc[1]!);
        vop(c);
        c.localGet(acc[2]!).localGet(acc[3]!);
        vop(c);
        vop(c);
        c.localSet(acc[0]!);
        c.localGet(acc[0]!).f32x4ExtractLane(0).localGet(acc[0]!).f32x4ExtractLane(1);
        sop(c);
        c.localGet(acc[0]!).f32x4ExtractLane(2).localGet(acc[0]!).f32x4ExtractLane(3);
        sop(c);
        sop(c);
        c.localSet(s);
        c.block((exit) => {
          c.loop((top) => {
            c.localGet(j).localGet(len).i32GeS().brIf(exit);
            c.localGet(s).localGet(p).f32Load();
            sop(c);
            c.localSet(s);
            c.localGet(p).i32Const(4).i32Add().localSet(p);
            c.localGet(j).i32Const(1).i32Add().localSet(j).br(top);
          });
        });
        c.localGet(out).localGet(o).i32Const(4).i32Mul().i32Add().localGet(s).f32Store();
      });
    });

    m.func(`${op}_cols`, { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'] }, (c, out, x, lo, hi, len, inner) => {
      const o = c.local('i32');
      const r = c.local('i32');
      const i = c.local('i32');
      const p = c.local('i32');
      const base = c.local('i32');
      const dst = c.local('i32');
      const rowBytes = c.local('i32');
      const acc = [c.local('v128'), c.local('v128'), c.local('v128'), c.local('v128')];
      const s = c.local('f32');
      c.localGet(inner).i32Const(4).i32Mul().localSet(rowBytes);
      c.localGet(out).localGet(lo).localGet(rowBytes).i32Mul().i32Add().localSet(dst);
      c.forRange(o, lo, hi, 1, () => {
        c.localGet(x).localGet(o).localGet(len).i32Mul().localGet(rowBytes).i32Mul().i32Add().localSet(base);
        c.i32Const(0).localSet(i);
        // Sixteen columns at a time, down all rows.
        const strip = (width: number): void => {
          c.block((exit) => {
            c.loop((top) => {
              c.localGet(i).i32Const(width).i32Add().localGet(inner).i32GtS().brIf(exit);
              for (let k = 0; k < width / 4; k++) c.f32x4Const(init).localSet(acc[k]!);
              c.localGet(base).localGet(i).i32Const(4).i32Mul().i32Add().localSet(p);
              c.forRange(r, { const: 0 }, len, 1, () => {
                for (let k = 0; k < width / 4; k++) {
                  c.localGet(acc[k]!).localGet(p).v128Load(16 * k);
                  vop(c);
                  c.localSet(acc[k]!);
                }
                c.localGet(p).localGet(rowBytes).i32Add().localSet(p);
              });
              for (let k = 0; k < width / 4; k++) c.localGet(dst).localGet(acc[k]!).v128Store(16 * k);
              c.localGet(dst).i32Const(4 * width).i32Add().localSet(dst);
              c.localGet(i).i32Const(width).i32Add().localSet(i).br(top);
            });
          });
        };
        strip(16);
        strip(4);
        c.block((exit) => {
          c.loop((top) => {
            c.localGet(i).localGet(inner).i32GeS().brIf(exit);
            c.f32Const(init).localSet(s);
            c.localGet(base).localGet(i).i32Const(4).i32Mul().i32Add().localSet(p);
            c.forRange(r, { const: 0 }, len, 1, () => {
              c.localGet(s).localGet(p).f32Load();
              sop(c);
              c.localSet(s);
              c.localGet(p).localGet(rowBytes).i32Add().localSet(p);
            });
            c.localGet(dst).localGet(s).f32Store();
            c.localGet(dst).i32Const(4).i32Add().localSet(dst);
            c.localGet(i).i32Const(1).i32Add().localSet(i).br(top);
          });
        });
      });
    });
  }
}
