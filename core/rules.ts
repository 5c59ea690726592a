/**
 * One row per primitive: its shape/dtype rule and its vector-Jacobian product. VJPs are written with
 * the differentiable ops of `ops.ts`, so the backward pass can itself be differentiated. A VJP
 * returns one thunk per input (null where the input has no gradient); the tape only calls the
 * thunks of inputs it tracks, so no unused gradient is computed.
 */
import type { DType } from './dtype.js';
import * as o from './ops.js';
import type { BinaryPrim, Prim, PrimParams } from './primitives.js';
import { assertShape, broadcastShapes, fmt, shapeEq, sizeOf, type Shape } from './shape.js';
import { registerRules, type Rule, type Rules, type ShapeDType, type Thunk } from './registry.js';
import type { Tensor } from './tensor.js';

export type { Rule, ShapeDType };

/** What a rule's `vjp` reads (see `Rule.saves`). */
const saves = (inputs: readonly number[], output = false) => ({ inputs, output });
const NOTHING = saves([]);
const INPUT = saves([0]);
const OUTPUT = saves([], true);
const BOTH = saves([0, 1]);

function floatOnly(op: string, x: Tensor): void {
  if (x.dtype !== 'float32') throw new Error(`${op}: expects float32, got ${x.dtype}${fmt(x.shape)}; cast it first`);
}

function sameDType(op: string, ...xs: readonly Tensor[]): DType {
  const d = xs[0]!.dtype;
  for (const x of xs) {
    if (x.dtype !== d) throw new Error(`${op}: dtypes differ: ${xs.map((t) => `${t.dtype}${fmt(t.shape)}`).join(' and ')}; cast one of them`);
  }
  return d;
}

const unaryFloat = <P extends Prim>(op: P, save: Rule<P>['saves'], vjp?: (g: Tensor, x: Tensor, out: Tensor) => Tensor): Rule<P> => ({
  shape: ([x]) => {
    floatOnly(op, x);
    return { shape: [...x.shape], dtype: 'float32' };
  },
  vjp: vjp ? (g, [x], out) => [() => vjp(g, x, out)] : undefined,
  saves: save,
});

const unaryNumeric = <P extends Prim>(op: P, save: Rule<P>['saves'], vjp?: (g: Tensor, x: Tensor, out: Tensor) => Tensor): Rule<P> => ({
  shape: ([x]) => {
    if (x.dtype === 'bool' || x.dtype === 'uint32') throw new Error(`${op}: expects float32 or int32, got ${x.dtype}`);
    return { shape: [...x.shape], dtype: x.dtype };
  },
  vjp: vjp ? (g, [x], out) => [() => vjp(g, x, out)] : undefined,
  saves: save,
});

function binaryShape(op: string, inputs: readonly Tensor[], allow: (d: DType) => boolean): ShapeDType {
  const [a, b] = inputs as [Tensor, Tensor];
  const dtype = sameDType(op, a, b);
  if (!allow(dtype)) throw new Error(`${op}: not defined for ${dtype}`);
  return { shape: broadcastShapes(op, a.shape, b.shape), dtype };
}

const numeric = (d: DType) => d !== 'bool';
const integer = (d: DType) => d !== 'float32';

const binary = <P extends BinaryPrim>(op: P, save: Rule<P>['saves'], vjp?: (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => [Thunk, Thunk]): Rule<P> => ({
  shape: (inputs) => binaryShape(op, inputs, numeric),
  vjp: vjp ? (g, [a, b], out) => vjp(g, a, b, out) : undefined,
  saves: save,
});

const bitwise = <P extends Prim>(op: P): Rule<P> => ({ shape: (inputs) => binaryShape(op, inputs, integer) });

const compare = <P extends Prim>(op: P): Rule<P> => ({
  shape: (inputs) => ({ shape: binaryShape(op, inputs, () => true).shape, dtype: 'bool' }),
});

/** Sum a broadcast cotangent back down to the shape an input had. */
export function unbroadcast(g: Tensor, shape: Shape): Tensor {
  if (shapeEq(g.shape, shape)) return g;
  const extra = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < extra || (shape[i - extra] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length ? o.sum(g, axes) : g;
  return o.reshape(summed, [...shape]);
}

const reduceShape = (op: string) => ([x]: readonly Tensor[], { axes }: { axes: number[] }): ShapeDType => {
  for (const a of axes) if (a < 0 || a >= x.rank) throw new Error(`${op}: axis ${a} out of range for shape ${fmt(x.shape)}`);
  return { shape: x.shape.filter((_, i) => !axes.includes(i)), dtype: x.dtype };
};

/** The kept-dims shape of a reduction, used to broadcast its cotangent back. */
function keptShape(inShape: Shape, axes: readonly number[]): number[] {
  return inShape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function matmulShape([a, b]: readonly Tensor[], { transA, transB }: PrimParams['matmul']): ShapeDType {
  if (a.rank !== 3 || b.rank !== 3) throw new Error(`matmul primitive: expects rank-3 operands, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
  const [ba, m, ka] = transA ? [a.shape[0]!, a.shape[2]!, a.shape[1]!] : (a.shape as [number, number, number]);
  const [bb, kb, n] = transB ? [b.shape[0]!, b.shape[2]!, b.shape[1]!] : (b.shape as [number, number, number]);
  if (ka !== kb) throw new Error(`matmul: inner dimensions differ: ${fmt(a.shape)} @ ${fmt(b.shape)}`);
  if (ba !== bb && ba !== 1 && bb !== 1) throw new Error(`matmul: batch dimensions differ: ${fmt(a.shape)} @ ${fmt(b.shape)}`);
  sameDType('matmul', a, b);
  floatOnly('matmul', a);
  return { shape: [Math.max(ba, bb), m, n], dtype: 'float32' };
}

/** Sum a batched cotangent over the batch when the operand was broadcast (batch of 1). */
function unbatch(g: Tensor, batch: number): Tensor {
  return batch === 1 && g.shape[0] !== 1 ? o.sum(g, [0], true) : g;
}

export const rules: Rules = {
  neg: unaryNumeric('neg', NOTHING, (g) => o.neg(g)),
  exp: unaryFloat('exp', OUTPUT, (g, _x, out) => o.mul(g, out)),
  log: unaryFloat('log', INPUT, (g, x) => o.div(g, x)),
  expm1: unaryFloat('expm1', OUTPUT, (g, _x, out) => o.add(o.mul(g, out), g)),
  log1p: unaryFloat('log1p', INPUT, (g, x) => o.div(g, o.add(x, 1))),
  sin: unaryFloat('sin', INPUT, (g, x) => o.mul(g, o.cos(x))),
  cos: unaryFloat('cos', INPUT, (g, x) => o.neg(o.mul(g, o.sin(x)))),
  tanh: unaryFloat('tanh', OUTPUT, (g, _x, out) => o.mul(g, o.sub(1, o.square(out)))),
  sqrt: unaryFloat('sqrt', OUTPUT, (g, _x, out) => o.div(g, o.mul(out, 2))),
  erf: unaryFloat('erf', INPUT, (g, x) => o.mul(g, o.mul(o.exp(o.neg(o.square(x))), 2 / Math.sqrt(Math.PI)))),
  // d/dx erfinv(x) = √π/2 · exp(erfinv(x)²)
  erfinv: unaryFloat('erfinv', OUTPUT, (g, _x, out) => o.mul(g, o.mul(o.exp(o.square(out)), Math.sqrt(Math.PI) / 2))),
  floor: unaryFloat('floor', NOTHING, (g) => o.zerosLike(g)),
  abs: unaryNumeric('abs', INPUT, (g, x) => o.mul(g, o.sign(x))),
  sign: unaryNumeric('sign', NOTHING, (g) => o.zerosLike(g)),
  sigmoid: unaryFloat('sigmoid', OUTPUT, (g, _x, out) => o.mul(g, o.mul(out, o.sub(1, out)))),

  add: binary('add', NOTHING, (g, a, b) => [() => unbroadcast(g, a.shape), () => unbroadcast(g, b.shape)]),
  sub: binary('sub', NOTHING, (g, a, b) => [() => unbroadcast(g, a.shape), () => unbroadcast(o.neg(g), b.shape)]),
  mul: binary('mul', BOTH, (g, a, b) => [() => unbroadcast(o.mul(g, b), a.shape), () => unbroadcast(o.mul(g, a), b.shape)]),
  div: binary('div', saves([1], true), (g, a, b, out) => [
    () => unbroadcast(o.div(g, b), a.shape),
    () => unbroadcast(o.neg(o.div(o.mul(g, out), b)), b.shape),
  ]),
  // Ties split the cotangent evenly, as JAX does, so the derivative matches the symmetric difference.
  max: binary('max', BOTH, (g, a, b) => [
    () => unbroadcast(o.mul(g, tieMask(a, b)), a.shape),
    () => unbroadcast(o.mul(g, tieMask(b, a)), b.shape),
  ]),
  min: binary('min', BOTH, (g, a, b) => [
    () => unbroadcast(o.mul(g, tieMask(b, a)), a.shape),
    () => unbroadcast(o.mul(g, tieMask(a, b)), b.shape),
  ]),
  pow: binary('pow', saves([0, 1], true), (g, a, b, out) => [
    () => unbroadcast(o.mul(g, o.mul(b, o.pow(a, o.sub(b, 1)))), a.shape),
    // ∂/∂b aᵇ = aᵇ log a, defined for a > 0; taken as 0 elsewhere.
    () => unbroadcast(o.mul(g, o.where(o.greater(a, 0), o.mul(out, o.log(o.where(o.greater(a, 0), a, 1))), 0)), b.shape),
  ]),
  mod: binary('mod', BOTH, (g, a, b) => [
    () => unbroadcast(g, a.shape),
    () => unbroadcast(o.neg(o.mul(g, o.floor(o.div(a, b)))), b.shape),
  ]),

  bitand: bitwise('bitand'),
  bitor: bitwise('bitor'),
  bitxor: bitwise('bitxor'),
  shl: bitwise('shl'),
  shr: bitwise('shr'),

  eq: compare('eq'),
  ne: compare('ne'),
  lt: compare('lt'),
  le: compare('le'),
  gt: compare('gt'),
  ge: compare('ge'),

  where: {
    saves: saves([0]),
    shape: ([c, a, b]) => {
      if (c.dtype !== 'bool') throw new Error(`where: the condition must be bool, got ${c.dtype}; compare first (e.g. greater(x, 0))`);
      const dtype = sameDType('where', a, b);
      return { shape: broadcastShapes('where', c.shape, a.shape, b.shape), dtype };
    },
    vjp: (g, [c, a, b]) => [
      null,
      () => unbroadcast(o.where(c, g, 0), a.shape),
      () => unbroadcast(o.where(c, 0, g), b.shape),
    ],
  },
  cast: {
    saves: NOTHING,
    shape: ([x], { dtype }) => ({ shape: [...x.shape], dtype }),
    vjp: (g, [x], _out, { dtype }) => [x.dtype === 'float32' && dtype === 'float32' ? () => g : null],
  },
  bitcast: {
    shape: ([x], { dtype }) => {
      if (x.dtype === 'bool' || dtype === 'bool') throw new Error(`bitcast: only between 32-bit dtypes, got ${x.dtype} → ${dtype}`);
      return { shape: [...x.shape], dtype };
    },
  },
  sum: {
    saves: NOTHING,
    shape: reduceShape('sum'),
    vjp: (g, [x], _out, { axes }) => [() => o.broadcastTo(o.reshape(g, keptShape(x.shape, axes)), [...x.shape])],
  },
  reduceMax: {
    saves: saves([0], true),
    shape: reduceShape('max'),
    // The cotangent is shared evenly among tied maxima.
    vjp: (g, [x], out, { axes }) => [
      () => {
        const kept = keptShape(x.shape, axes);
        const mask = o.cast(o.equal(x, o.reshape(out, kept)), 'float32');
        const count = o.sum(mask, axes, true);
        return o.mul(mask, o.div(o.reshape(g, kept), count));
      },
    ],
  },
  argmax: {
    shape: ([x], { axis }) => {
      if (axis < 0 || axis >= x.rank) throw new Error(`argmax: axis ${axis} out of range for shape ${fmt(x.shape)}`);
      if (x.shape[axis] === 0) throw new Error(`argmax: axis ${axis} has size 0`);
      return { shape: x.shape.filter((_, i) => i !== axis), dtype: 'int32' };
    },
  },
  cumsum: {
    saves: NOTHING,
    shape: ([x], { axis }) => {
      if (axis < 0 || axis >= x.rank) throw new Error(`cumsum: axis ${axis} out of range for shape ${fmt(x.shape)}`);
      if (x.dtype === 'bool') throw new Error('cumsum: cast bool to int32 or float32 first');
      return { shape: [...x.shape], dtype: x.dtype };
    },
    vjp: (g, _x, _out, { axis, reverse }) => [() => o.cumsum(g, axis, { reverse: !reverse })],
  },
  matmul: {
    saves: BOTH,
    shape: matmulShape,
    // Both cotangents are matmuls with transpose flags: no M×K×N intermediate and no transposed copy.
    vjp: (g, [a, b], _out, { transA, transB }) => [
      () => unbatch(transA ? o.matmulPrim(b, g, transB, true) : o.matmulPrim(g, b, false, !transB), a.shape[0]!),
      () => unbatch(transB ? o.matmulPrim(g, a, true, transA) : o.matmulPrim(a, g, !transA, false), b.shape[0]!),
    ],
  },
  im2col: {
    saves: NOTHING,
    shape: ([x], p) => {
      if (x.rank !== 4) throw new Error(`im2col: expects NHWC rank 4, got ${fmt(x.shape)}`);
      const [n, , , c] = x.shape as [number, number, number, number];
      return { shape: [n, p.outHeight, p.outWidth, p.kernelHeight * p.kernelWidth * c], dtype: x.dtype };
    },
    vjp: (g, [x], _out, p) => [() => o.col2imPrim(g, { ...p, height: x.shape[1]!, width: x.shape[2]! })],
  },
  col2im: {
    saves: NOTHING,
    shape: ([x], p) => {
      const [n, , , kc] = x.shape as [number, number, number, number];
      return { shape: [n, p.height, p.width, kc / (p.kernelHeight * p.kernelWidth)], dtype: x.dtype };
    },
    vjp: (g, _x, _out, p) => [() => o.im2colPrim(g, p)],
  },
  winogradIn: {
    saves: NOTHING,
    shape: ([x], { tile, batch, height, width, tilesHigh, tilesWide, adjoint }) => {
      const tiles = batch * tilesHigh * tilesWide;
      const entries = (tile + 2) ** 2;
      if (adjoint) {
        if (!(x.rank === 3 && x.shape[0] === entries && x.shape[1] === tiles)) throw new Error(`winogradIn: expects [${entries}, ${tiles}, C], got ${fmt(x.shape)}`);
        return { shape: [batch, height, width, x.shape[2]!], dtype: x.dtype };
      }
      if (!(shapeEq(x.shape.slice(0, 3), [batch, height, width]) && x.rank === 4)) throw new Error(`winogradIn: expects [${batch}, ${height}, ${width}, C], got ${fmt(x.shape)}`);
      return { shape: [entries, tiles, x.shape[3]!], dtype: x.dtype };
    },
    vjp: (g, _x, _out, p) => [() => o.winogradInPrim(g, { ...p, adjoint: !p.adjoint })],
  },
  winogradOut: {
    saves: NOTHING,
    shape: ([x], { tile, batch, tilesHigh, tilesWide, adjoint }) => {
      const tiles = batch * tilesHigh * tilesWide;
      const entries = (tile + 2) ** 2;
      if (adjoint) {
        if (!(shapeEq(x.shape.slice(0, 3), [batch, tile * tilesHigh, tile * tilesWide]) && x.rank === 4)) throw new Error(`winogradOut: expects [${batch}, ${tile * tilesHigh}, ${tile * tilesWide}, C], got ${fmt(x.shape)}`);
        return { shape: [entries, tiles, x.shape[3]!], dtype: x.dtype };
      }
      if (!(x.rank === 3 && x.shape[0] === entries && x.shape[1] === tiles)) throw new Error(`winogradOut: expects [${entries}, ${tiles}, C], got ${fmt(x.shape)}`);
      return { shape: [batch, tile * tilesHigh, tile * tilesWide, x.shape[2]!], dtype: x.dtype };
    },
    vjp: (g, _x, _out, p) => [() => o.winogradOutPrim(g, { ...p, adjoint: !p.adjoint })],
  },
  transpose: {
    saves: NOTHING,
    shape: ([x], { perm }) => {
      const sorted = [...perm].sort((a, b) => a - b);
      if (perm.length !== x.rank || sorted.some((v, i) => v !== i)) {
        throw new Error(`transpose: perm [${perm}] is not a permutation of the ${x.rank} axes of ${fmt(x.shape)}`);
      }
      return { shape: perm.map((p) => x.shape[p]!), dtype: x.dtype };
    },
    vjp: (g, _x, _out, { perm }) => {
      const inv = new Array<number>(perm.length);
      perm.forEach((p, i) => (inv[p] = i));
      return [() => o.transpose(g, inv)];
    },
  },
  broadcast: {
    saves: NOTHING,
    shape: ([x], { shape }) => {
      assertShape('broadcastTo', shape);
      const b = broadcastShapes('broadcastTo', x.shape, shape);
      if (!shapeEq(b, shape)) throw new Error(`broadcastTo: cannot broadcast ${fmt(x.shape)} to ${fmt(shape)}`);
      return { shape: [...shape], dtype: x.dtype };
    },
    vjp: (g, [x]) => [() => unbroadcast(g, x.shape)],
  },
  slice: {
    saves: NOTHING,
    shape: ([x], { begin, size }) => {
      if (begin.length !== x.rank || size.length !== x.rank) throw new Error(`slice: begin and size need ${x.rank} entries for ${fmt(x.shape)}`);
      x.shape.forEach((d, i) => {
        if (begin[i]! < 0 || size[i]! < 0 || begin[i]! + size[i]! > d) {
          throw new Error(`slice: [${begin}] + [${size}] is out of bounds for ${fmt(x.shape)} on axis ${i}`);
        }
      });
      return { shape: [...size], dtype: x.dtype };
    },
    vjp: (g, [x], _out, { begin, size }) => [
      () => o.padPrim(g, begin, x.shape.map((d, i) => d - begin[i]! - size[i]!), 0),
    ],
  },
  pad: {
    saves: NOTHING,
    shape: ([x], { before, after }) => {
      if (before.length !== x.rank || after.length !== x.rank) throw new Error(`pad: need ${x.rank} (before, after) pairs for ${fmt(x.shape)}`);
      if ([...before, ...after].some((v) => v < 0 || !Number.isInteger(v))) throw new Error(`pad: paddings must be non-negative integers, got [${before}] [${after}]`);
      return { shape: x.shape.map((d, i) => d + before[i]! + after[i]!), dtype: x.dtype };
    },
    vjp: (g, [x], _out, { before }) => [() => o.slice(g, before, [...x.shape])],
  },
  concat: {
    saves: NOTHING,
    shape: (xs, { axis }) => {
      const first = xs[0]!;
      sameDType('concat', ...xs);
      let total = 0;
      for (const x of xs) {
        if (x.rank !== first.rank || x.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
          throw new Error(`concat: shapes differ off axis ${axis}: ${xs.map((t) => fmt(t.shape)).join(', ')}`);
        }
        total += x.shape[axis]!;
      }
      const shape = [...first.shape];
      shape[axis] = total;
      return { shape, dtype: first.dtype };
    },
    vjp: (g, xs, _out, { axis }) => {
      let offset = 0;
      return xs.map((x) => {
        const begin = g.shape.map((_, i) => (i === axis ? offset : 0));
        offset += x.shape[axis]!;
        return () => o.slice(g, begin, [...x.shape]);
      });
    },
  },
  flip: {
    saves: NOTHING,
    shape: ([x]) => ({ shape: [...x.shape], dtype: x.dtype }),
    vjp: (g, _x, _out, { axes }) => [() => o.flip(g, axes)],
  },
  gather: {
    saves: saves([1]),
    shape: ([x, idx], { axis }) => {
      if (idx.dtype !== 'int32') throw new Error(`take: indices must be int32, got ${idx.dtype}`);
      return { shape: [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)], dtype: x.dtype };
    },
    vjp: (g, [x, idx], _out, { axis }) => [() => o.scatterAddPrim(g, idx, axis, x.shape[axis]!), null],
  },
  scatterAdd: {
    saves: saves([1]),
    shape: ([x, idx], { axis, size }) => {
      if (idx.dtype !== 'int32') throw new Error(`scatterAdd: indices must be int32, got ${idx.dtype}`);
      const r = idx.rank;
      if (axis < 0 || axis + r > x.rank || !shapeEq(x.shape.slice(axis, axis + r), idx.shape)) {
        throw new Error(`scatterAdd: updates ${fmt(x.shape)} must have the indices' shape ${fmt(idx.shape)} at axis ${axis}`);
      }
      return { shape: [...x.shape.slice(0, axis), size, ...x.shape.slice(axis + r)], dtype: x.dtype };
    },
    vjp: (g, [, idx], _out, { axis }) => [() => o.take(g, idx, axis), null],
  },
  threefry2x32: {
    shape: (xs) => {
      for (const x of xs) if (x.dtype !== 'uint32') throw new Error(`threefry2x32: expects uint32 inputs, got ${x.dtype}`);
      return { shape: [2, ...broadcastShapes('threefry2x32', ...xs.map((x) => x.shape))], dtype: 'uint32' };
    },
  },
  reshape: {
    saves: NOTHING,
    shape: ([x], { shape }) => {
      // Without this, [-2, -3] would pass for 6 elements and make a tensor with negative dimensions.
      assertShape('reshape', shape);
      if (sizeOf(shape) !== x.size) throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`);
      return { shape: [...shape], dtype: x.dtype };
    },
    vjp: (g, [x]) => [() => o.reshape(g, [...x.shape])],
  },
};

registerRules(rules);

function tieMask(a: Tensor, b: Tensor): Tensor {
  const gt = o.cast(o.greater(a, b), 'float32');
  const eq = o.cast(o.equal(a, b), 'float32');
  return o.add(gt, o.mul(eq, 0.5));
}
