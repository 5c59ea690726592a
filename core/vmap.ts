/**
 * Vectorisation: `vmap(f, { inAxes, outAxes })` runs `f`, written for one example, on a batch.
 *
 * Inside `vmap`, `f` sees tracers: tensors with one example's shape whose values live in a batched
 * tensor (the batch on axis 0) that the open vmap keeps beside them. When `bind` meets a primitive
 * with a tracer among its inputs, it runs the primitive's batching rule (`batchRules` below, one row
 * per primitive, typed so that a primitive without a row is a compile error) on the batched values
 * instead, and hands back a tracer of the result. As for `jvp`, a rule runs with the transformations
 * opened inside its vmap set aside and those outside active, so vmaps nest, `vmap(grad(f))` gives
 * per-example gradients (the tape inside records the tracers) and `grad(vmap(f))` differentiates the
 * batched computation (the tape outside records the rules' work).
 *
 * Do not read a tracer's values inside `f` (`toArray`): vmap traces what `f` does, as `grad` does, and
 * a tracer's storage is the whole batch's.
 */
import * as o from './ops.js';
import type { DType } from './dtype.js';
import type { Prim, PrimParams } from './primitives.js';
import type { InputsOf } from './registry.js';
import { fmt, shapeEq } from './shape.js';
import { Tensor, tidy } from './tensor.js';
import { bind, installBatching, nextLevel, outside, setAside, stopGradient } from './trace.js';
import { describeValue, isPlainObject } from './pytree.js';
import { treeMapFor } from './tree.js';

/**
 * The batching rule of one primitive: from the inputs (one example's tensors, for their shapes only:
 * never pass them to an op), their batched values (the batch on axis 0; null where an input is the
 * same for every example) and the parameters, the output's batched value (the batch on axis 0).
 * `batch` is the batch size and the output's shape for one example.
 */
export type BatchRule<P extends Prim> = (inputs: InputsOf<P>, values: readonly (Tensor | null)[], params: PrimParams[P], batch: { size: number; shape: readonly number[] }) => Tensor;

type BatchRules = { [P in Prim]: BatchRule<P> };

/** One open `vmap`: the batched value behind each tracer, and back from a value to its tracer. */
interface BatchTrace {
  readonly level: number;
  readonly size: number;
  readonly values: Map<number, Tensor>;
  readonly tracerOf: Map<Tensor, Tensor>;
}

const activeTraces: BatchTrace[] = [];

/** @internal For trace.ts's `outside`: set aside the open vmaps at `level` or above; returns the undo. */
function setAsideBatching(level: number): () => void {
  return setAside(activeTraces, level);
}

/** A tracer of `value` (batch on axis 0): one example's shape, the batch's storage. */
function tracer(trace: BatchTrace, value: Tensor): Tensor {
  const t = new Tensor(value.live('vmap'), value.shape.slice(1), value.dtype);
  trace.values.set(t.id, value);
  trace.tracerOf.set(value, t);
  return t;
}

/**
 * Point `t` (made before its value, on a storage it borrowed) at `value`'s storage and record it as
 * `value`'s tracer. Made first, a tracer comes before its value in its scope, so a scope that frees
 * the tracer has done so when it reaches the value, and frees that too (scopes walk in order).
 */
function attach(trace: BatchTrace, t: Tensor, value: Tensor): Tensor {
  t.storage!.refs--;
  const s = value.live('vmap');
  s.refs++;
  t.storage = s;
  trace.values.set(t.id, value);
  trace.tracerOf.set(value, t);
  return t;
}

/** @internal For scopes: a batched value lives as long as its tracer. */
function batchedValueNeeded(v: Tensor): boolean {
  for (const trace of activeTraces) {
    const t = trace.tracerOf.get(v);
    if (t !== undefined && !t.disposed) return true;
  }
  return false;
}

/** @internal Whether some open vmap batches one of `xs`. */
export function isBatched(xs: readonly Tensor[]): boolean {
  return activeTraces.some((trace) => xs.some((x) => trace.values.has(x.id)));
}

/** @internal `stopGradient` of a tracer: a tracer of its value's `stopGradient`; null for other tensors. */
function stopBatched(x: Tensor): Tensor | null {
  for (let k = activeTraces.length - 1; k >= 0; k--) {
    const trace = activeTraces[k]!;
    const value = trace.values.get(x.id);
    if (value !== undefined) return tracer(trace, outside(trace.level, () => stopGradient(value)));
  }
  return null;
}

/**
 * @internal Called by `bind` before running a primitive: when an open vmap batches one of the inputs,
 * the output's tracer, computed by the batching rule of the innermost such vmap; otherwise null.
 */
function batchPrimitive<P extends Prim>(prim: P, inputs: readonly Tensor[], params: PrimParams[P], shape: readonly number[], dtype: DType): Tensor | null {
  if (activeTraces.length === 0) return null;
  for (let k = activeTraces.length - 1; k >= 0; k--) {
    const trace = activeTraces[k]!;
    const values = inputs.map((x) => trace.values.get(x.id) ?? null);
    if (values.every((v) => v === null)) continue;
    const rule = batchRules[prim] as BatchRule<P>;
    // The tracer first, on an input's storage until its value exists (see `attach`).
    const t = new Tensor(inputs[0]!.live('vmap'), shape, dtype);
    const value = outside(trace.level, () =>
      tidy(() => {
        const v = rule(inputs as InputsOf<P>, values, params, { size: trace.size, shape });
        if (v.shape[0] !== trace.size || !shapeEq(v.shape.slice(1), shape)) {
          throw new Error(`vmap: the batching rule of ${prim} gave ${fmt(v.shape)}, expected ${fmt([trace.size, ...shape])}`);
        }
        // Every tracer has a value of its own (a rule may hand back one it was given).
        return values.includes(v) ? bind('reshape', [v], { shape: [...v.shape] }) : v;
      }),
    );
    return attach(trace, t, value);
  }
  return null;
}

// ---------------------------------------------------------------- the rules

/** `x`'s batched value, or `x` itself broadcast along a new batch axis 0 of `size`. */
function materialize(x: Tensor, v: Tensor | null, size: number): Tensor {
  return v ?? o.broadcastTo(o.reshape(x, [1, ...x.shape]), [size, ...x.shape]);
}

/** Move axis `from` of `x` to position 0. */
function toFront(x: Tensor, from: number): Tensor {
  if (from === 0) return x;
  const perm = x.shape.map((_, i) => i).filter((i) => i !== from);
  return o.transpose(x, [from, ...perm]);
}

/**
 * Element-wise with NumPy broadcasting (any number of inputs): a batched value gets size-1 axes after
 * its batch axis up to the output's rank, so it broadcasts example by example; an unbatched input
 * broadcasts as it is, from the right.
 */
const elementwise = <P extends Prim>(prim: P): BatchRule<P> => (inputs, values, params, { size, shape }) => {
  const rank = shape.length;
  const aligned = inputs.map((x, i) => {
    const v = values[i];
    if (v === null || v === undefined) return x;
    return x.rank === rank ? v : o.reshape(v, [size, ...new Array<number>(rank - x.rank).fill(1), ...x.shape]);
  });
  return bind(prim, aligned, params);
};

/** A primitive that works on one axis or a set of axes: shift them past the batch axis. */
const axes = <P extends 'sum' | 'reduceMax' | 'flip'>(prim: P): BatchRule<P> => (_xs, [v], params) => bind(prim, [v!], { ...params, axes: params.axes.map((a) => a + 1) } as PrimParams[P]);
const axis = <P extends 'argmax' | 'cumsum'>(prim: P): BatchRule<P> => (_xs, [v], params) => bind(prim, [v!], { ...params, axis: params.axis + 1 } as PrimParams[P]);

/** NHWC primitives whose N is a batch of its own: fold the vmap batch into N. */
const foldIntoN = <P extends 'im2col' | 'col2im'>(prim: P): BatchRule<P> => ([x], [v], params, { size, shape }) => {
  const folded = o.reshape(v!, [size * x.shape[0]!, ...x.shape.slice(1)]);
  return o.reshape(bind(prim, [folded], params), [size, ...shape]);
};

/**
 * Any primitive, one example at a time: slice each batched value, apply the primitive, stack the
 * results. Correct for every primitive; used where no rule that runs the batch at once is written.
 */
const perExample = <P extends Prim>(prim: P): BatchRule<P> => (inputs, values, params, { size, shape }) => {
  if (size === 0) return o.zeros([0, ...shape], inputs[0]!.dtype);
  const rows = Array.from({ length: size }, (_, b) =>
    bind(prim, inputs.map((x, i) => { const v = values[i]; return v ? o.reshape(o.sliceAxis(v, 0, b, b + 1), [...x.shape]) : x; }), params),
  );
  return o.stack(rows, 0);
};

function matmulRule([a, b]: readonly Tensor[], [va, vb]: readonly (Tensor | null)[], { transA, transB }: PrimParams['matmul'], { size, shape }: { size: number; shape: readonly number[] }): Tensor {
  const [ba, bb] = [a.shape[0]!, b.shape[0]!];
  // The common cases of a layer (a batch of inputs against shared weights, and its VJP): fold the
  // vmap batch into the rows of a, with no copy of the weights.
  if (va && !vb && ba === 1 && bb === 1 && !transA) {
    const rows = o.reshape(va, [1, size * a.shape[1]!, a.shape[2]!]);
    return o.reshape(o.matmulPrim(rows, b, false, transB), [size, ...shape]);
  }
  // Otherwise fold it into the matmul's own batch, broadcasting an operand where it must.
  const batch = Math.max(ba, bb);
  const fold = (x: Tensor, v: Tensor | null): Tensor => {
    const full = x.shape[0] === batch ? materialize(x, v, size) : o.broadcastTo(materialize(x, v, size), [size, batch, x.shape[1]!, x.shape[2]!]);
    return o.reshape(full, [size * batch, x.shape[1]!, x.shape[2]!]);
  };
  return o.reshape(o.matmulPrim(fold(a, va), fold(b, vb), transA, transB), [size, ...shape]);
}

export const batchRules: BatchRules = {
  neg: elementwise('neg'),
  exp: elementwise('exp'),
  log: elementwise('log'),
  expm1: elementwise('expm1'),
  log1p: elementwise('log1p'),
  sin: elementwise('sin'),
  cos: elementwise('cos'),
  tanh: elementwise('tanh'),
  sqrt: elementwise('sqrt'),
  erf: elementwise('erf'),
  erfinv: elementwise('erfinv'),
  floor: elementwise('floor'),
  abs: elementwise('abs'),
  sign: elementwise('sign'),
  sigmoid: elementwise('sigmoid'),
  add: elementwise('add'),
  sub: elementwise('sub'),
  mul: elementwise('mul'),
  div: elementwise('div'),
  max: elementwise('max'),
  min: elementwise('min'),
  pow: elementwise('pow'),
  mod: elementwise('mod'),
  bitand: elementwise('bitand'),
  bitor: elementwise('bitor'),
  bitxor: elementwise('bitxor'),
  shl: elementwise('shl'),
  shr: elementwise('shr'),
  eq: elementwise('eq'),
  ne: elementwise('ne'),
  lt: elementwise('lt'),
  le: elementwise('le'),
  gt: elementwise('gt'),
  ge: elementwise('ge'),
  where: elementwise('where'),
  cast: elementwise('cast'),
  bitcast: elementwise('bitcast'),
  sum: axes('sum'),
  reduceMax: axes('reduceMax'),
  argmax: axis('argmax'),
  cumsum: axis('cumsum'),
  matmul: matmulRule,
  im2col: foldIntoN('im2col'),
  col2im: foldIntoN('col2im'),
  winogradIn: perExample('winogradIn'),
  winogradOut: perExample('winogradOut'),
  transpose: (_xs, [v], { perm }) => bind('transpose', [v!], { perm: [0, ...perm.map((p) => p + 1)] }),
  broadcast: ([x], [v], { shape }, { size }) =>
    bind('broadcast', [o.reshape(v!, [size, ...new Array<number>(shape.length - x.rank).fill(1), ...x.shape])], { shape: [size, ...shape] }),
  slice: (_xs, [v], { begin, size }, batch) => bind('slice', [v!], { begin: [0, ...begin], size: [batch.size, ...size] }),
  pad: (_xs, [v], { before, after, value }) => bind('pad', [v!], { before: [0, ...before], after: [0, ...after], value }),
  concat: (xs, values, { axis }, { size }) => bind('concat', xs.map((x, i) => materialize(x, values[i]!, size)), { axis: axis + 1 }),
  flip: axes('flip'),
  // Batched values with shared indices gather along the shifted axis; batched indices into a shared
  // tensor put the batch where the indices go, then in front; both batched: one example at a time.
  gather: (xs, [v, vi], { axis }, batch) => {
    if (vi === null) return bind('gather', [v!, xs[1]!], { axis: axis + 1 });
    if (v === null) return toFront(bind('gather', [xs[0]!, vi], { axis }), axis);
    return perExample('gather')(xs, [v, vi], { axis }, batch);
  },
  scatterAdd: (xs, [v, vi], params, batch) => (vi === null ? bind('scatterAdd', [v!, xs[1]!], { axis: params.axis + 1, size: params.size }) : perExample('scatterAdd')(xs, [v, vi], params, batch)),
  // The output's leading axis of 2 comes before the batch; move the batch in front.
  threefry2x32: (xs, values, params, batch) => toFront(elementwise('threefry2x32')(xs, values, params, { ...batch, shape: batch.shape.slice(1) }), 1),
  reshape: (_xs, [v], { shape }, { size }) => bind('reshape', [v!], { shape: [size, ...shape] }),
};

installBatching({ primitive: batchPrimitive, needs: batchedValueNeeded, tracks: isBatched, stop: stopBatched, setAside: setAsideBatching });

// ---------------------------------------------------------------- the transformation

/**
 * Where an argument's batch axis is: a number for every tensor leaf below, null for a subtree shared
 * by every example, or a tree of these following the argument's own structure (a prefix of it).
 */
export type AxisSpec = number | null | readonly AxisSpec[] | { readonly [key: string]: AxisSpec };

export interface VmapOptions {
  /**
   * The batch axis of each argument: one number or null for all of them, or one `AxisSpec` per
   * argument (null: the argument is the same for every example; `{ w: null, x: 0 }`: a tree argument
   * whose `w` is shared and whose `x` is batched on axis 0). Default 0.
   */
  inAxes?: number | null | readonly AxisSpec[];
  /** Where the batch axis goes in every output leaf, or one per element of an array output. Default 0. */
  outAxes?: number | readonly number[];
}

/** Apply `fn` to the tensor leaves of `tree` that `spec` gives an axis, with that axis; the rest pass through. */
function mapWithAxes(tree: unknown, spec: AxisSpec | undefined, path: string, fn: (x: Tensor, axis: number, path: string) => Tensor): unknown {
  if (spec === null) return tree;
  if (typeof spec === 'number') return treeMapFor('vmap', tree, (x, p) => fn(x, spec, p), path);
  const at = (k: string) => (path ? `${path}.${k}` : k);
  if (spec === undefined) throw new Error(`vmap: inAxes has no entry for the argument at '${path}'; give a number, or null for a part shared by every example`);
  if (Array.isArray(spec)) {
    if (!Array.isArray(tree) || tree.length !== spec.length) throw new Error(`vmap: inAxes at '${path}' is an array of ${spec.length} but the argument there is ${describeValue(tree)}`);
    return tree.map((t, i) => mapWithAxes(t, (spec as readonly AxisSpec[])[i], at(String(i)), fn));
  }
  if (!isPlainObject(tree)) throw new Error(`vmap: inAxes at '${path}' is an object but the argument there is ${describeValue(tree)}`);
  const keyed = spec as { readonly [key: string]: AxisSpec };
  return Object.fromEntries(Object.keys(tree).map((k) => [k, mapWithAxes(tree[k], keyed[k], at(k), fn)]));
}

/**
 * `vmap(f, { inAxes, outAxes })` (`jax.vmap`): `f` written for one example, run on a batch in one go.
 * Each argument's tensor leaves carry the batch on axis `inAxes` (an argument with null is shared by
 * every example); the outputs carry it on axis `outAxes` (an output that does not depend on the
 * batch is repeated along it). Numbers and other non-tensor leaves are shared. Everything else `f`
 * made is freed before it returns.
 *
 * Composes with the other transformations: per-example gradient norms are
 *
 *     const norms = vmap((x: Tensor, y: Tensor) => {
 *       const g = grad(loss)(params, x, y);
 *       return sqrt(add(sum(square(g.w)), sum(square(g.b))));
 *     })(xs, ys);
 *
 * `grad(vmap(f))` differentiates the batched computation, and vmaps nest (a batch of batches).
 */
export function vmap<A extends unknown[], Out>(f: (...args: A) => Out, options: VmapOptions = {}): (...args: A) => Out {
  return (...args: A): Out =>
    tidy(() => {
      const inAxes: readonly AxisSpec[] = Array.isArray(options.inAxes) ? (options.inAxes as readonly AxisSpec[]) : args.map(() => (options.inAxes === undefined ? 0 : (options.inAxes as number | null)));
      if (inAxes.length !== args.length) throw new Error(`vmap: inAxes has ${inAxes.length} entries for ${args.length} arguments; give one per argument (null for one shared by every example)`);
      let size: number | null = null;
      const values = new Set<Tensor>();
      const moved = args.map((arg, i) =>
        mapWithAxes(arg, inAxes[i], String(i), (x, ax, path) => {
          const a = ax < 0 ? ax + x.rank : ax;
          if (!Number.isInteger(a) || a < 0 || a >= x.rank) throw new Error(`vmap: inAxes ${ax} is not an axis of the argument at '${path}' (${x.dtype}${fmt(x.shape)})`);
          const n = x.shape[a]!;
          if (size !== null && n !== size) throw new Error(`vmap: batch sizes differ: ${size} and ${n} (axis ${a} of the argument at '${path}', ${fmt(x.shape)})`);
          size = n;
          // A fresh value per tracer, made with the outer transformations watching.
          const v = a === 0 ? bind('reshape', [x], { shape: [...x.shape] }) : toFront(x, a);
          values.add(v);
          return v;
        }),
      );
      if (size === null) throw new Error('vmap: no argument has a batch axis (every inAxes is null, or the batched arguments hold no tensor)');
      const trace: BatchTrace = { level: nextLevel(), size, values: new Map(), tracerOf: new Map() };
      const inputs = moved.map((arg) => treeMapFor('vmap', arg, (v) => (values.has(v) ? tracer(trace, v) : v))) as A;
      activeTraces.push(trace);
      let out: Out;
      try {
        out = f(...inputs);
      } finally {
        activeTraces.splice(activeTraces.indexOf(trace), 1);
      }
      const outAxes = options.outAxes ?? 0;
      const unbatch = (y: Tensor, ax: number): Tensor => {
        const value = trace.values.get(y.id) ?? materialize(y, null, trace.size);
        const a = ax < 0 ? ax + value.rank : ax;
        if (!Number.isInteger(a) || a < 0 || a >= value.rank) throw new Error(`vmap: outAxes ${ax} is not an axis of an output of shape ${fmt(value.shape)} (the batch included)`);
        if (a === 0) return value;
        const perm = value.shape.map((_, i) => i).slice(1);
        perm.splice(a, 0, 0);
        return o.transpose(value, perm);
      };
      if (typeof outAxes === 'number') return treeMapFor('vmap', out, (y) => unbatch(y, outAxes));
      if (!Array.isArray(out) || out.length !== outAxes.length) throw new Error(`vmap: outAxes has ${outAxes.length} entries but the output is ${describeValue(out)}; give one number for every output, or one per element of an array output`);
      return out.map((y, i) => treeMapFor('vmap', y, (t) => unbatch(t, outAxes[i]!))) as Out;
    });
}
