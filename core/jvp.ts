/**
 * Forward-mode autodiff: `jvp(f, primals, tangents)` and `linearize(f, ...primals)`.
 *
 * While `jvp` runs `f`, every primitive that `bind` applies to a value carrying a tangent also
 * computes its output's tangent by the primitive's JVP rule (`jvpRules` below, one row per
 * primitive, typed so that a primitive without a row is a compile error). Tangents are found by the
 * tensor's identity, as the tape finds what it tracks, and `jvp` gives its primals fresh aliases, so
 * nested transformations never confuse their perturbations.
 *
 * The rules are written with the differentiable ops, and each runs with the transformations opened
 * inside its own `jvp` set aside (trace.ts's levels) while those outside stay active. So the
 * transformations compose: `jvp` of `grad` is a Hessian-vector product (the backward pass's
 * primitives carry tangents), `grad` of a function that calls `jvp` differentiates the tangent
 * computations recorded on its tape, and `jvp` of `jvp` gives second directional derivatives.
 *
 * Tangents are the derivative's zero where absent (`null` in a rule, as JAX's symbolic zero), so an
 * op on a value that does not depend on the primals costs nothing extra. Only float32 values carry
 * tangents; integer and boolean results have none (their tangent out of `jvp` is zeros).
 */
import * as o from './ops.js';
import type { Prim, PrimParams } from './primitives.js';
import type { InputsOf } from './registry.js';
import { fmt, shapeEq } from './shape.js';
import { Tensor, tidy } from './tensor.js';
import { bind, installForwardMode, nextLevel, outside, setAside, vjp } from './trace.js';
import { mapDifferentiable, treeMap, treeZipMap } from './tree.js';

/** A tangent, or null for a zero tangent. */
type Tangent = Tensor | null;

/**
 * The JVP of one primitive: the output's tangent from the inputs, their tangents (null where zero,
 * at least one not null) and the output. The result may have any shape that broadcasts to the
 * output's; null means zero.
 */
export type JvpRule<P extends Prim> = (inputs: InputsOf<P>, tangents: readonly Tangent[], out: Tensor, params: PrimParams[P]) => Tangent;

type JvpRules = { [P in Prim]: JvpRule<P> };

/** One open `jvp`: the tangent of each value it tracks, and back from a tangent to its value. */
interface ForwardTrace {
  readonly level: number;
  readonly tangents: Map<number, Tensor>;
  readonly primalOf: Map<Tensor, Tensor>;
}

const activeTraces: ForwardTrace[] = [];

/** @internal For trace.ts's `outside`: set aside the open jvps at `level` or above; returns the undo. */
function setAsideForward(level: number): () => void {
  return setAside(activeTraces, level);
}

function setTangent(trace: ForwardTrace, primal: Tensor, tangent: Tensor): void {
  trace.tangents.set(primal.id, tangent);
  trace.primalOf.set(tangent, primal);
}

/**
 * @internal For scopes (`tidy`): a tangent lives as long as its value. A tangent is made right after
 * its value, so a scope that frees the value has already done so when it reaches the tangent.
 */
function tangentNeeded(t: Tensor): boolean {
  for (const trace of activeTraces) {
    const primal = trace.primalOf.get(t);
    if (primal !== undefined && !primal.disposed) return true;
  }
  return false;
}

/** @internal Whether some open `jvp` tracks one of `xs`. */
export function hasTangent(xs: readonly Tensor[]): boolean {
  return activeTraces.some((trace) => xs.some((x) => trace.tangents.has(x.id)));
}

/** Called by `bind` after each primitive: the output's tangent in every open `jvp` that needs one. */
function propagateTangents<P extends Prim>(prim: P, inputs: readonly Tensor[], params: PrimParams[P], out: Tensor): void {
  if (activeTraces.length === 0 || out.dtype !== 'float32') return;
  // Outermost first: an inner trace's rule may read `out`, whose outer tangent must exist by then.
  for (let k = 0; k < activeTraces.length; k++) {
    const trace = activeTraces[k]!;
    let any = false;
    const tangents = inputs.map((x) => {
      const t = trace.tangents.get(x.id);
      if (t !== undefined) any = true;
      return t ?? null;
    });
    if (!any) continue;
    const rule = jvpRules[prim] as JvpRule<P>;
    const t = outside(trace.level, () => tidy(() => fit(rule(inputs as InputsOf<P>, tangents, out, params), out)));
    if (t !== null) setTangent(trace, out, t);
  }
}

/**
 * A rule's result as the output's tangent: broadcast to the output's shape, and a new tensor (a rule
 * may hand back a tensor it was given, e.g. `add` with one zero tangent returns the other), so that
 * every tangent belongs to exactly one value. Tensors made by the rule are newer than `out`.
 */
function fit(t: Tangent, out: Tensor): Tangent {
  if (t === null) return null;
  if (!shapeEq(t.shape, out.shape)) return bind('broadcast', [t], { shape: [...out.shape] });
  return t.id > out.id ? t : bind('reshape', [t], { shape: [...t.shape] });
}

// ---------------------------------------------------------------- the rules

/** Sum of tangent terms, skipping zeros. */
function plus(a: Tangent, b: Tangent): Tangent {
  return a === null ? b : b === null ? a : o.add(a, b);
}

const times = (t: Tangent, factor: Tensor | number): Tangent => (t === null ? null : o.mul(t, factor));

/** An element-wise function of one input: t ↦ t · f′(x) (written with the output where that is cheaper). */
const unary = <P extends Prim>(derivative: (x: Tensor, out: Tensor) => Tensor | number): JvpRule<P> => ([x], [t], out) => times(t, derivative(x, out));

/** A primitive that is linear in its (one) input: the tangent goes through the same primitive. */
const linear = <P extends Prim>(prim: P): JvpRule<P> => (_inputs, [t], _out, params) => bind(prim, [t!], params);

/** A piecewise-constant or integer-valued primitive: its tangent is zero. */
const zero = <P extends Prim>(): JvpRule<P> => () => null;

/** The tie-splitting mask of max/min, as their VJPs use it: 1 where a > b, ½ where a = b. */
function tieMask(a: Tensor, b: Tensor): Tensor {
  return o.add(o.cast(o.greater(a, b), 'float32'), o.mul(o.cast(o.equal(a, b), 'float32'), 0.5));
}

export const jvpRules: JvpRules = {
  neg: linear('neg'),
  exp: unary((_x, out) => out),
  log: ([x], [t]) => o.div(t!, x),
  expm1: unary((_x, out) => o.add(out, 1)),
  log1p: ([x], [t]) => o.div(t!, o.add(x, 1)),
  sin: unary((x) => o.cos(x)),
  cos: unary((x) => o.neg(o.sin(x))),
  tanh: unary((_x, out) => o.sub(1, o.square(out))),
  sqrt: (_xs, [t], out) => o.div(t!, o.mul(out, 2)),
  erf: unary((x) => o.mul(o.exp(o.neg(o.square(x))), 2 / Math.sqrt(Math.PI))),
  // d/dx erfinv(x) = √π/2 · exp(erfinv(x)²)
  erfinv: unary((_x, out) => o.mul(o.exp(o.square(out)), Math.sqrt(Math.PI) / 2)),
  floor: zero(),
  abs: unary((x) => o.sign(x)),
  sign: zero(),
  sigmoid: unary((_x, out) => o.mul(out, o.sub(1, out))),

  add: (_xs, [ta, tb]) => plus(ta, tb),
  sub: (_xs, [ta, tb]) => plus(ta, tb === null ? null : o.neg(tb)),
  mul: ([a, b], [ta, tb]) => plus(times(ta, b), times(tb, a)),
  // d(a/b) = (da − (a/b)·db) / b
  div: ([, b], [ta, tb], out) => o.div(plus(ta, tb === null ? null : o.neg(o.mul(out, tb)))!, b),
  // Ties split the tangent evenly, as the VJP splits the cotangent.
  max: ([a, b], [ta, tb]) => plus(times(ta, tieMask(a, b)), times(tb, tieMask(b, a))),
  min: ([a, b], [ta, tb]) => plus(times(ta, tieMask(b, a)), times(tb, tieMask(a, b))),
  pow: ([a, b], [ta, tb], out) =>
    plus(
      times(ta, o.mul(b, o.pow(a, o.sub(b, 1)))),
      // ∂/∂b aᵇ = aᵇ log a, defined for a > 0; taken as 0 elsewhere (as the VJP does).
      times(tb, o.where(o.greater(a, 0), o.mul(out, o.log(o.where(o.greater(a, 0), a, 1))), 0)),
    ),
  mod: ([a, b], [ta, tb]) => plus(ta, tb === null ? null : o.neg(o.mul(tb, o.floor(o.div(a, b))))),

  bitand: zero(),
  bitor: zero(),
  bitxor: zero(),
  shl: zero(),
  shr: zero(),

  eq: zero(),
  ne: zero(),
  lt: zero(),
  le: zero(),
  gt: zero(),
  ge: zero(),

  where: ([c], [, ta, tb]) => o.where(c, ta ?? 0, tb ?? 0),
  // Only float32 → float32 carries a tangent, and then the cast is the identity.
  cast: ([x], [t], _out, { dtype }) => (x.dtype === 'float32' && dtype === 'float32' ? t : null),
  bitcast: zero(),
  sum: linear('sum'),
  // The tangent is shared evenly among tied maxima, as the VJP shares the cotangent.
  reduceMax: ([x], [t], out, { axes }) => {
    const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const mask = o.cast(o.equal(x, o.reshape(out, kept)), 'float32');
    return o.div(o.sum(o.mul(t!, mask), axes), o.sum(mask, axes));
  },
  argmax: zero(),
  cumsum: linear('cumsum'),
  // Bilinear: d(a·b) = da·b + a·db, each a matmul with the same transpose flags.
  matmul: ([a, b], [ta, tb], _out, { transA, transB }) =>
    plus(ta === null ? null : o.matmulPrim(ta, b, transA, transB), tb === null ? null : o.matmulPrim(a, tb, transA, transB)),
  im2col: linear('im2col'),
  col2im: linear('col2im'),
  winogradIn: linear('winogradIn'),
  winogradOut: linear('winogradOut'),
  transpose: linear('transpose'),
  broadcast: linear('broadcast'),
  slice: linear('slice'),
  // The padding constant does not move with the input.
  pad: (_xs, [t], _out, params) => bind('pad', [t!], { ...params, value: 0 }),
  concat: (xs, ts, _out, params) => bind('concat', ts.map((t, i) => t ?? o.zerosLike(xs[i]!)), params),
  flip: linear('flip'),
  // Linear in the values, constant in the (integer) indices.
  gather: ([, idx], [t], _out, params) => bind('gather', [t!, idx], params),
  scatterAdd: ([, idx], [t], _out, params) => bind('scatterAdd', [t!, idx], params),
  threefry2x32: zero(),
  reshape: linear('reshape'),
};

installForwardMode({ propagate: propagateTangents, needs: tangentNeeded, tracks: hasTangent, setAside: setAsideForward });

// ---------------------------------------------------------------- the transformations

/** A fresh alias of `x`, made with every open transformation watching (it records and carries tangents). */
function alias(x: Tensor): Tensor {
  return bind('reshape', [x], { shape: [...x.shape] });
}

/**
 * `jvp(f, primals, tangents)` (`jax.jvp`): evaluate `f(...primals)` and its directional derivative
 * along `tangents`, in one forward pass. `primals` and `tangents` are arrays with one entry per
 * argument of `f`, pytrees of the same structure, each tangent of its primal's shape and dtype
 * (numbers are taken as float32 scalars, as `grad` takes them). Returns `[f(...primals), J·tangents]`,
 * the second shaped like the first; outputs that do not depend on the primals, and integer outputs,
 * get zero tangents. Everything else `f` made is freed before it returns.
 *
 * Composes with the other transformations: a Hessian-vector product is the `jvp` of a gradient,
 *
 *     const hvp = (f, x, v) => jvp(grad(f), [x], [v])[1];
 *
 * and `grad` of a function that calls `jvp` differentiates the tangent too. `stopGradient` stops
 * tangents as it stops cotangents.
 */
export function jvp<A extends unknown[], Out>(f: (...args: A) => Out, primals: A, tangents: A): [Out, Out] {
  if (!Array.isArray(primals) || !Array.isArray(tangents)) {
    throw new Error('jvp: pass the primals and the tangents as arrays with one entry per argument of f, e.g. jvp(f, [x], [t])');
  }
  if (primals.length !== tangents.length) throw new Error(`jvp: ${primals.length} primals but ${tangents.length} tangents; give one tangent per primal`);
  return tidy(() => {
    const trace: ForwardTrace = { level: nextLevel(), tangents: new Map(), primalOf: new Map() };
    // Aliases made before this trace opens, with the outer transformations watching.
    const inputs = primals.map((p) => mapDifferentiable(p, alias)) as A;
    const given = tangents.map((t) => mapDifferentiable(t, (x) => x)) as A;
    try {
      treeZipMap([inputs, given] as unknown[], ([x, t], path) => {
        if (!shapeEq(x.shape, t.shape) || x.dtype !== t.dtype) {
          throw new Error(`jvp: the tangent at '${path}' is ${t.dtype}${fmt(t.shape)} but its primal is ${x.dtype}${fmt(x.shape)}`);
        }
        if (x.dtype === 'float32') setTangent(trace, x, alias(t));
        return x;
      });
    } catch (e) {
      const message = (e as Error).message;
      throw new Error(message.startsWith('jvp:') ? message : `jvp: the tangents differ in structure from the primals: ${message}`);
    }
    activeTraces.push(trace);
    let out: Out;
    try {
      out = f(...inputs);
    } finally {
      activeTraces.splice(activeTraces.indexOf(trace), 1);
    }
    const tangentOut = treeMap(out, (y) => trace.tangents.get(y.id) ?? o.zerosLike(y));
    return [out, tangentOut] as [Out, Out];
  });
}

/**
 * `linearize(f, ...primals)` (`jax.linearize`): `[f(...primals), jvpAt]`, where `jvpAt(...tangents)`
 * is J·tangents at the primals without running `f` again. It is derived by transposition from the
 * reverse mode: the pullback c ↦ Jᵀc is linear, and the VJP of a linear map is its transpose, so the
 * pullback's own pullback is t ↦ J t. `f` runs once and its backward pass once (recorded); each call
 * of `jvpAt` is one pass back through that record. Like a `vjp` pullback, call `jvpAt` inside the
 * same `tidy` as `linearize`: it reads the values the forward pass kept.
 */
export function linearize<A extends unknown[], Out>(f: (...args: A) => Out, ...primals: A): [Out, (...tangents: A) => Out] {
  const [out, pullback] = vjp(f, ...primals);
  const [, transposed] = vjp(pullback, treeMap(out, o.zerosLike));
  return [out, (...tangents: A) => transposed(tangents)[0]];
}
