/**
 * Element-wise and reduction kernels, generated as wasm SIMD.
 *
 * Element-wise kernels work on a 2-D view `[outer, inner]` of the broadcast output: after the core's
 * shape has been collapsed (merging axes every operand walks contiguously), an operand's step along
 * the inner axis is 1 (a vector operand, `v`) or 0 (a scalar splatted along the row, `s`), and its
 * step along the outer axis is any stride. So `x + bias`, `x * scalar`, `x - rowMean` all run as
 * straight SIMD loops without materialising a broadcast. Four lanes at a time, a scalar tail. What
 * each element computes is the primitive's expression (core/elementwise.ts) rendered by `render.ts`.
 *
 * Reductions take `[outer, reduced, inner]`: `inner = 1` sums contiguous rows (softmax, layer norm),
 * `inner > 1` sums down columns (bias gradients) with whole vectors.
 */
import { COMPARE_PRIMS, ELEMENTWISE_PRIMS, expressionOf, signatureCode, UNARY_PRIMS, type DType, type ElementwisePrim, type Expr, type PrimParams } from '../../core/index.js';
import type { Code, Local, ModuleBuilder } from './assembler.js';
import { SIMD } from './assembler.js';
import { lowerForWasm, renderVec } from './render.js';

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

/** 0/1 bytes → i32x4 lane masks: four bytes at `ptr + offset`, widened, compared with zero. */
function loadMask(c: Code, ptr: Local, zero: Local, offset = 0): void {
  c.localGet(ptr).v128Load32Zero(offset).v(SIMD.i16x8ExtendLowI8x16U).v(SIMD.i32x4ExtendLowI16x8U).localGet(zero).v(SIMD.i32x4Ne);
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
    const vecVals = [vecVal, ...Array.from({ length: 3 }, () => ins.map(() => c.local('v128')))];
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
      // Sixteen at a time, as four independent vectors: the long dependency chains of exp, sigmoid and
      // erf leave the core idle within one vector, and the others fill it (each element still runs
      // the same code, so no bits change). Measured (one thread, 2²⁰ elements, median): sigmoid 2.59 → 1.80 ms
      // against two vectors.
      c.i32Const(0).localSet(i);
      const step = (lanes: number): void => {
        c.block((exit) => {
          c.loop((top) => {
            c.localGet(i).i32Const(lanes).i32Add().localGet(inner).i32GtS().brIf(exit);
            const halves = lanes / 4;
            const vals = vecVals.slice(0, halves);
            spec.inputs.forEach((x, k) => {
              if (x.mode !== 'v') return;
              for (let h = 0; h < halves; h++) {
                if (x.type === 'f32') c.localGet(ptr[k]!).v128Load(16 * h).localSet(vals[h]![k]!);
                else {
                  loadMask(c, ptr[k]!, zero, 4 * h);
                  c.localSet(vals[h]![k]!);
                }
              }
              c.localGet(ptr[k]!).i32Const(lanes * bytesOf(x.type)).i32Add().localSet(ptr[k]!);
            });
            for (let h = 0; h < halves; h++) {
              const xs = spec.inputs.map((x, k) => (x.mode === 'v' ? vals[h]![k]! : vecVal[k]!));
              if (spec.output === 'f32') {
                c.localGet(q);
                spec.vec(c, xs);
                c.v128Store(16 * h);
              } else {
                spec.vec(c, xs);
                c.localSet(res);
                c.localGet(q);
                c.localGet(res).localGet(res).v(SIMD.i16x8NarrowI32x4S);
                c.localGet(res).localGet(res).v(SIMD.i16x8NarrowI32x4S);
                c.v(SIMD.i8x16NarrowI16x8S).v128Const(new Array<number>(16).fill(1)).v128And().i32x4ExtractLane(0).i32Store(4 * h);
              }
            }
            c.localGet(q).i32Const(lanes * outBytes).i32Add().localSet(q);
            c.localGet(i).i32Const(lanes).i32Add().localSet(i).br(top);
          });
        });
      };
      step(16);
      step(4);
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

// ---------------------------------------------------------------- the element-wise kernels

const LETTER: Record<DType, string> = { float32: 'f', int32: 'i', uint32: 'u', bool: 'b' };

/** One generated element-wise kernel: a primitive at one dtype signature, its expression lowered for wasm. */
export interface ElementwiseKernel {
  readonly prim: ElementwisePrim;
  readonly inputs: readonly DType[];
  readonly out: DType;
  readonly expr: Expr;
  /** The kernels' names are `${tag}_${modes}`, one per way of reading the operands (`v`/`s` each). */
  readonly tag: string;
}


/** Every (primitive, dtypes) whose expression wasm renders, in a fixed order (workers index kernels by name). */
export const ELEMENTWISE_KERNELS: readonly ElementwiseKernel[] = (() => {
  const found: ElementwiseKernel[] = [];
  const unary: readonly string[] = UNARY_PRIMS;
  const compare: readonly string[] = COMPARE_PRIMS;
  for (const prim of ELEMENTWISE_PRIMS) {
    if (prim === 'cast' || prim === 'bitcast') continue;
    for (const t of ['float32', 'int32', 'uint32'] as const) {
      const inputs: DType[] = prim === 'where' ? ['bool', t, t] : unary.includes(prim) ? [t] : [t, t];
      const out: DType = compare.includes(prim) ? 'bool' : t;
      const expr = lowerForWasm(expressionOf(prim, inputs, {} as PrimParams[typeof prim], out));
      if (expr) found.push({ prim, inputs, out, expr, tag: `${prim}_${inputs.map((d) => LETTER[d]).join('')}${LETTER[out]}` });
    }
  }
  return found;
})();

const tags: Partial<Record<ElementwisePrim, Map<number, string>>> = {};
for (const k of ELEMENTWISE_KERNELS) (tags[k.prim] ??= new Map()).set(signatureCode(k.inputs.map((dtype) => ({ dtype })), k.out), k.tag);

/** The tag of the generated kernel for `prim` on these dtypes, or null: wasm does not render it (the CPU's rendering runs instead). */
export function elementwiseTag(prim: ElementwisePrim, inputs: readonly { readonly dtype: DType }[], out: DType): string | null {
  return tags[prim]?.get(signatureCode(inputs, out)) ?? null;
}

export const mapName = (op: string, modes: string): string => `${op}_${modes}`;

/** The ways `n` operands can be read along a row: each `v` or `s`, at least one `v`. */
function modesOf(n: number): string[] {
  const all: string[] = [];
  for (let m = 0; m < 1 << n; m++) {
    const modes = Array.from({ length: n }, (_, k) => ((m >> (n - 1 - k)) & 1 ? 's' : 'v')).join('');
    if (modes.includes('v')) all.push(modes);
  }
  return all;
}

/**
 * Emit `map` kernels for an expression under `tag`: `tag_vv`, `tag_vs`, …. The scalar tail runs the
 * same vector code in lane 0, so every element of a row is computed alike.
 */
export function emitExpression(m: ModuleBuilder, tag: string, expr: Expr, inputs: readonly DType[], out: DType): void {
  const types = inputs.map((t): ElemType => (t === 'bool' ? 'u8' : 'f32'));
  for (const modes of modesOf(inputs.length)) {
    emitMap(m, mapName(tag, modes), {
      inputs: types.map((type, k) => ({ type, mode: modes[k] as Mode })),
      output: out === 'bool' ? 'u8' : 'f32',
      vec: (c, xs) => renderVec(c, expr, xs),
      scalar: (c, xs) => {
        const lanes = xs.map(() => c.local('v128'));
        types.forEach((type, k) => {
          if (type === 'f32') c.localGet(xs[k]!).f32x4Splat().localSet(lanes[k]!);
          else c.i32Const(0).localGet(xs[k]!).i32Sub().i32x4Splat().localSet(lanes[k]!);
        });
        renderVec(c, expr, lanes);
        if (out === 'bool') c.i32x4ExtractLane(0).i32Const(1).i32And();
        else c.f32x4ExtractLane(0);
      },
    });
  }
}

/** Emit every element-wise kernel: `add_fff_vv`, `gt_ffb_sv`, `where_bfff_vsv`, `exp_ff_v`, … */
export function emitElementwise(m: ModuleBuilder): void {
  for (const k of ELEMENTWISE_KERNELS) emitExpression(m, k.tag, k.expr, k.inputs, k.out);
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
