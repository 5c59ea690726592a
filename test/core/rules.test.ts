/**
 * The rule table (core/rules.ts) on its own: the error every shape rule raises, with the primitive's
 * name, for the dtypes and shapes it cannot take; the checks behind the ops, which guard `bind` for
 * its other callers (the VJP rules, `jit`, `vmap`, code built on `bind`); and the parts of the VJP
 * contract that the gradient properties cannot see (cotangent shapes of broadcast operands, no
 * cotangent through an integer cast, `saves` naming real inputs). The gradients themselves are
 * checked against finite differences in ops.grad.test.ts, and `saves` against freed values in
 * checkpoint.test.ts.
 */
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { BINARY_PRIMS } from '../../core/primitives.js';
import { rules } from '../../core/rules.js';
import { bind, dispose, grad, tidy, vjp, type Prim, type PrimParams, type Tensor } from '../../index.js';
import { describeBackends, errorMessage, onesOf, read, upload } from './harness.js';

type DTypeName = 'float32' | 'int32' | 'uint32' | 'bool';
const t = onesOf;

/** `bind` with inputs made in a scope. */
const bound =
  <P extends Prim>(prim: P, shapes: [number[], DTypeName?][], params: PrimParams[P]) =>
  () =>
    bind(prim, shapes.map(([s, d]) => t(s, d)), params);

const winogradIn = (adjoint: boolean): PrimParams['winogradIn'] => ({ tile: 2, batch: 1, height: 4, width: 4, padTop: 1, padLeft: 1, tilesHigh: 2, tilesWide: 2, adjoint });
const winogradOut = (adjoint: boolean): PrimParams['winogradOut'] => ({ tile: 4, batch: 2, tilesHigh: 2, tilesWide: 3, adjoint });

describeBackends('the rule table', () => {
  it('every unary and binary primitive names itself in its dtype errors, as its op reaches them', () => {
    const floatOnly: [string, (x: Tensor) => Tensor][] = [
      ['exp', o.exp], ['log', o.log], ['expm1', o.expm1], ['log1p', o.log1p], ['sin', o.sin], ['cos', o.cos], ['tanh', o.tanh],
      ['sqrt', o.sqrt], ['erf', o.erf], ['erfinv', o.erfinv], ['floor', o.floor], ['sigmoid', o.sigmoid],
    ];
    for (const [name, op] of floatOnly) expect(errorMessage(() => op(t([2], 'int32')))).toBe(`${name}: expects float32, got int32[2]; cast it first`);
    for (const [name, op] of [['neg', o.neg], ['abs', o.abs], ['sign', o.sign]] as const) {
      expect(errorMessage(() => op(t([2], 'bool')))).toBe(`${name}: expects float32 or int32, got bool`);
      expect(errorMessage(() => op(t([2], 'uint32')))).toBe(`${name}: expects float32 or int32, got uint32`);
    }
    const arithmetic: [string, (a: Tensor, b: Tensor) => Tensor][] = [
      ['add', o.add], ['sub', o.sub], ['mul', o.mul], ['div', o.div], ['max', o.maximum], ['min', o.minimum], ['pow', o.pow], ['mod', o.mod],
    ];
    for (const [name, op] of arithmetic) {
      expect(errorMessage(() => op(t([2]), t([2], 'int32')))).toBe(`${name}: dtypes differ: float32[2] and int32[2]; cast one of them`);
      expect(errorMessage(() => op(t([2], 'bool'), t([2], 'bool')))).toBe(`${name}: not defined for bool`);
    }
    const bitwise: [string, (a: Tensor, b: Tensor) => Tensor][] = [
      ['bitand', o.bitwiseAnd], ['bitor', o.bitwiseOr], ['bitxor', o.bitwiseXor], ['shl', o.shiftLeft], ['shr', o.shiftRight],
    ];
    for (const [name, op] of bitwise) expect(errorMessage(() => op(t([2]), t([2])))).toBe(`${name}: not defined for float32`);
    const compare: [string, (a: Tensor, b: Tensor) => Tensor][] = [
      ['eq', o.equal], ['ne', o.notEqual], ['lt', o.less], ['le', o.lessEqual], ['gt', o.greater], ['ge', o.greaterEqual],
    ];
    for (const [name, op] of compare) {
      expect(errorMessage(() => op(t([2]), t([3])))).toBe(`${name}: shapes cannot be broadcast together: [2] and [3] (axis 0: 2 vs 3)`);
      // Comparisons take every dtype, bool included, and give bool.
      tidy(() => {
        expect(op(t([2], 'bool'), t([1], 'bool')).dtype).toBe('bool');
      });
    }
  });

  it('bind refuses what a primitive cannot take, naming the primitive and the shapes (the checks behind the ops)', () => {
    const cases: [() => unknown, string][] = [
      // Reductions: an axis below 0 or at the rank (the ops normalise negative axes before binding).
      [bound('sum', [[[2, 3]]], { axes: [-1] }), 'sum: axis -1 out of range for shape [2,3]'],
      [bound('sum', [[[2, 3]]], { axes: [0, 2] }), 'sum: axis 2 out of range for shape [2,3]'],
      [bound('reduceMax', [[[2, 3]]], { axes: [2] }), 'max: axis 2 out of range for shape [2,3]'],
      [bound('reduceMax', [[[2, 3]]], { axes: [-1] }), 'max: axis -1 out of range for shape [2,3]'],
      [bound('argmax', [[[2, 3]]], { axis: -1 }), 'argmax: axis -1 out of range for shape [2,3]'],
      [bound('argmax', [[[2, 3]]], { axis: 2 }), 'argmax: axis 2 out of range for shape [2,3]'],
      [bound('argmax', [[[2, 0]]], { axis: 1 }), 'argmax: axis 1 has size 0'],
      [bound('cumsum', [[[2, 3]]], { axis: -1, reverse: false }), 'cumsum: axis -1 out of range for shape [2,3]'],
      [bound('cumsum', [[[2, 3]]], { axis: 2, reverse: false }), 'cumsum: axis 2 out of range for shape [2,3]'],
      // matmul: rank 3 on both sides, equal inner sizes, equal dtypes, float32.
      [bound('matmul', [[[2, 3]], [[1, 3, 2]]], { transA: false, transB: false }), 'matmul primitive: expects rank-3 operands, got [2,3] and [1,3,2]'],
      [bound('matmul', [[[1, 2, 3]], [[3, 2]]], { transA: false, transB: false }), 'matmul primitive: expects rank-3 operands, got [1,2,3] and [3,2]'],
      [bound('matmul', [[[1, 2, 3]], [[1, 4, 5]]], { transA: false, transB: false }), 'matmul: inner dimensions differ: [1,2,3] @ [1,4,5]'],
      [bound('matmul', [[[1, 3, 2]], [[1, 4, 5]]], { transA: true, transB: false }), 'matmul: inner dimensions differ: [1,3,2] @ [1,4,5]'],
      [bound('matmul', [[[1, 2, 3]], [[1, 5, 4]]], { transA: false, transB: true }), 'matmul: inner dimensions differ: [1,2,3] @ [1,5,4]'],
      [bound('matmul', [[[2, 2, 3]], [[3, 3, 2]]], { transA: false, transB: false }), 'matmul: batch dimensions differ: [2,2,3] @ [3,3,2]'],
      [bound('matmul', [[[1, 2, 2]], [[1, 2, 2], 'int32']], { transA: false, transB: false }), 'matmul: dtypes differ: float32[1,2,2] and int32[1,2,2]; cast one of them'],
      [bound('matmul', [[[1, 2, 2], 'int32'], [[1, 2, 2], 'int32']], { transA: false, transB: false }), 'matmul: expects float32, got int32[1,2,2]; cast it first'],
      // bitcast: 32-bit dtypes on both sides.
      [bound('bitcast', [[[2], 'bool']], { dtype: 'int32' }), 'bitcast: only between 32-bit dtypes, got bool → int32'],
      [bound('bitcast', [[[2]]], { dtype: 'bool' }), 'bitcast: only between 32-bit dtypes, got float32 → bool'],
      // Patches and Winograd transforms: the layouts they read.
      [bound('im2col', [[[2, 3, 3]]], { kernelHeight: 2, kernelWidth: 2, strideHeight: 1, strideWidth: 1, padTop: 0, padLeft: 0, outHeight: 2, outWidth: 2, dilationHeight: 1, dilationWidth: 1 }), 'im2col: expects NHWC rank 4, got [2,3,3]'],
      [bound('winogradIn', [[[1, 4, 5, 3]]], winogradIn(false)), 'winogradIn: expects [1, 4, 4, C], got [1,4,5,3]'],
      [bound('winogradIn', [[[2, 4, 4, 3]]], winogradIn(false)), 'winogradIn: expects [1, 4, 4, C], got [2,4,4,3]'],
      [bound('winogradIn', [[[1, 4, 4]]], winogradIn(false)), 'winogradIn: expects [1, 4, 4, C], got [1,4,4]'],
      [bound('winogradIn', [[[1, 4, 4, 3, 1]]], winogradIn(false)), 'winogradIn: expects [1, 4, 4, C], got [1,4,4,3,1]'],
      [bound('winogradIn', [[[15, 4, 3]]], winogradIn(true)), 'winogradIn: expects [16, 4, C], got [15,4,3]'],
      [bound('winogradIn', [[[16, 5, 3]]], winogradIn(true)), 'winogradIn: expects [16, 4, C], got [16,5,3]'],
      [bound('winogradIn', [[[16, 4, 3, 1]]], winogradIn(true)), 'winogradIn: expects [16, 4, C], got [16,4,3,1]'],
      [bound('winogradOut', [[[36, 3, 3]]], winogradOut(false)), 'winogradOut: expects [36, 12, C], got [36,3,3]'],
      [bound('winogradOut', [[[16, 12, 3]]], winogradOut(false)), 'winogradOut: expects [36, 12, C], got [16,12,3]'],
      [bound('winogradOut', [[[36, 12, 3, 1]]], winogradOut(false)), 'winogradOut: expects [36, 12, C], got [36,12,3,1]'],
      [bound('winogradOut', [[[2, 8, 4, 3]]], winogradOut(true)), 'winogradOut: expects [2, 8, 12, C], got [2,8,4,3]'],
      [bound('winogradOut', [[[2, 4, 12, 3]]], winogradOut(true)), 'winogradOut: expects [2, 8, 12, C], got [2,4,12,3]'],
      [bound('winogradOut', [[[2, 8, 12]]], winogradOut(true)), 'winogradOut: expects [2, 8, 12, C], got [2,8,12]'],
      // slice and pad: one entry per axis, inside the bounds.
      [bound('slice', [[[2, 3]]], { begin: [0], size: [1, 1] }), 'slice: begin and size need 2 entries for [2,3]'],
      [bound('slice', [[[2, 3]]], { begin: [0, 0], size: [1] }), 'slice: begin and size need 2 entries for [2,3]'],
      [bound('slice', [[[2, 3]]], { begin: [0, 2], size: [1, 2] }), 'slice: [0,2] + [1,2] is out of bounds for [2,3] on axis 1'],
      [bound('slice', [[[2, 3]]], { begin: [-1, 0], size: [1, 1] }), 'slice: [-1,0] + [1,1] is out of bounds for [2,3] on axis 0'],
      [bound('slice', [[[2, 3]]], { begin: [0, 0], size: [1, -1] }), 'slice: [0,0] + [1,-1] is out of bounds for [2,3] on axis 1'],
      [bound('pad', [[[2, 3]]], { before: [0], after: [0, 0], value: 0 }), 'pad: need 2 (before, after) pairs for [2,3]'],
      [bound('pad', [[[2, 3]]], { before: [0, 0], after: [0], value: 0 }), 'pad: need 2 (before, after) pairs for [2,3]'],
      [bound('pad', [[[2, 3]]], { before: [0, -1], after: [0, 0], value: 0 }), 'pad: paddings must be non-negative integers, got [0,-1] [0,0]'],
      // gather (take) and scatterAdd: int32 indices, updates shaped like the indices at the axis.
      [bound('gather', [[[3, 2]], [[2]]], { axis: 0 }), 'take: indices must be int32, got float32'],
      [bound('scatterAdd', [[[3, 2]], [[2], 'int32']], { axis: -1, size: 4 }), 'scatterAdd: updates [3,2] must have the indices\' shape [2] at axis -1'],
      [bound('scatterAdd', [[[3, 2]], [[2, 1], 'int32']], { axis: 1, size: 4 }), 'scatterAdd: updates [3,2] must have the indices\' shape [2,1] at axis 1'],
      [bound('scatterAdd', [[[3, 2]], [[3, 3], 'int32']], { axis: 0, size: 4 }), 'scatterAdd: updates [3,2] must have the indices\' shape [3,3] at axis 0'],
      // A scalar index (r = 0) inserts an axis: from 0 to the rank, not beyond (the shape test alone cannot see it).
      [bound('scatterAdd', [[[3, 2]], [[], 'int32']], { axis: -1, size: 4 }), 'scatterAdd: updates [3,2] must have the indices\' shape [] at axis -1'],
      [bound('scatterAdd', [[[3, 2]], [[], 'int32']], { axis: 3, size: 4 }), 'scatterAdd: updates [3,2] must have the indices\' shape [] at axis 3'],
      // Random bits: uint32 words, broadcast together.
      [bound('threefry2x32', [[[2], 'uint32'], [[2], 'uint32'], [[2], 'int32'], [[2], 'uint32']], {}), 'threefry2x32: expects uint32 inputs, got int32'],
      [bound('threefry2x32', [[[2], 'uint32'], [[2], 'uint32'], [[3], 'uint32'], [[2], 'uint32']], {}), 'threefry2x32: shapes cannot be broadcast together: [2] and [2] and [3] and [2] (axis 0: 2 vs 3)'],
    ];
    for (const [fn, message] of cases) expect(errorMessage(fn)).toBe(message);
    // The accepted edge of each range, so the checks above are not simply stricter than the rules.
    const accepted: (() => unknown)[] = [
      bound('sum', [[[2, 3]]], { axes: [0, 1] }),
      bound('argmax', [[[2, 3]]], { axis: 1 }),
      bound('cumsum', [[[2, 3]]], { axis: 1, reverse: false }),
      bound('slice', [[[2, 3]]], { begin: [1, 0], size: [1, 3] }),
      bound('scatterAdd', [[[3, 2]], [[2], 'int32']], { axis: 1, size: 4 }),
      bound('scatterAdd', [[[3, 2]], [[], 'int32']], { axis: 2, size: 4 }),
      bound('winogradIn', [[[1, 4, 4, 3]]], winogradIn(false)),
      bound('winogradOut', [[[2, 8, 12, 3]]], winogradOut(true)),
      bound('winogradOut', [[[36, 12, 3]]], winogradOut(false)),
    ];
    for (const fn of accepted) expect(errorMessage(fn)).toBe('');
  });

  it("a batch-1 matmul operand gets a cotangent of its own shape, summed over the other operand's batch", async () => {
    const a = upload({ shape: [1, 2, 3], data: [1, 2, 3, 4, 5, 6] });
    const b = upload({ shape: [2, 3, 1], data: [1, 0, -1, 2, 1, 0] });
    for (const [transA, transB] of [[false, false], [true, true]] as const) {
      const x = transA ? o.transpose(a, [0, 2, 1]) : a;
      const y = transB ? o.transpose(b, [0, 2, 1]) : b;
      const [out, pullback] = vjp((p: Tensor, q: Tensor) => bind('matmul', [p, q], { transA, transB }), x, y);
      const [ga, gb] = pullback(o.onesLike(out));
      expect(ga.shape).toEqual(x.shape);
      expect(gb.shape).toEqual(y.shape);
      // ∂/∂a Σ_b (a b_b) = Σ_b 1 b_bᵀ: each row of a's cotangent is b₀ᵀ + b₁ᵀ = [3, 1, -1].
      const gaRows = transA ? o.transpose(ga, [0, 2, 1]) : o.mul(ga, 1);
      expect(await read(gaRows)).toEqual([3, 1, -1, 3, 1, -1]);
      dispose([out, ga, gb, gaRows, ...(transA ? [x] : []), ...(transB ? [y] : [])]);
    }
    dispose([a, b]);
  });

  it('floor and sign pass a zero cotangent, which adds to the argument\'s other uses: d/dx (floor(x) + sign(x) + x) = 1', async () => {
    const x = upload({ shape: [4], data: [-1.5, -0.25, 0.5, 2.75] });
    const g = grad((v: Tensor) => o.sum(o.add(o.add(o.floor(v), o.sign(v)), v)))(x);
    expect(await read(g)).toEqual([1, 1, 1, 1]);
    dispose([x, g]);
  });

  it('no cotangent passes through a cast to or from an integer dtype: the argument gets zeros of its own dtype', async () => {
    const x = upload({ shape: [2], data: [1.5, -2] });
    const [y, toInt] = vjp((v: Tensor) => o.cast(v, 'int32'), x);
    const [gx] = toInt(upload({ shape: [2], data: [3, 4], dtype: 'int32' }));
    expect([gx.dtype, await read(gx)]).toEqual(['float32', [0, 0]]);
    const i = upload({ shape: [2], data: [1, 2], dtype: 'int32' });
    const [z, toFloat] = vjp((v: Tensor) => o.cast(v, 'float32'), i);
    const [gi] = toFloat(upload({ shape: [2], data: [3, 4] }));
    expect([gi.dtype, await read(gi)]).toEqual(['int32', [0, 0]]);
    // Between float32 and float32 (a no-op cast bound directly) the cotangent passes unchanged.
    const [w, same] = vjp((v: Tensor) => bind('cast', [v], { dtype: 'float32' }), x);
    const [gs] = same(upload({ shape: [2], data: [3, 4] }));
    expect(await read(gs)).toEqual([3, 4]);
    dispose([x, y, gx, i, z, gi, w, gs]);
  });
});

it("every rule with a VJP declares what it saves, and `saves` names only inputs the primitive has", () => {
  // Inputs per primitive (concat takes any number; every index it saves must still be a whole number).
  const binary: readonly Prim[] = [...BINARY_PRIMS, 'matmul', 'gather', 'scatterAdd'];
  const arity = (prim: Prim): number => (prim === 'concat' ? Infinity : prim === 'where' ? 3 : prim === 'threefry2x32' ? 4 : binary.includes(prim) ? 2 : 1);
  let withVjp = 0;
  for (const [prim, rule] of Object.entries(rules) as [Prim, (typeof rules)[Prim]][]) {
    if (!rule.vjp) continue;
    withVjp++;
    expect(rule.saves, prim).toBeDefined();
    for (const i of rule.saves!.inputs) {
      expect(Number.isInteger(i) && i >= 0 && i < arity(prim), `${prim} saves input ${String(i)}`).toBe(true);
    }
  }
  expect(withVjp).toBeGreaterThan(30);
});
