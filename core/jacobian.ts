/**
 * The Jacobian family, built from `jvp` and `vjp`: `jacfwd` (forward mode, a column per input
 * element), `jacrev` (reverse mode, a row per output element) and `hessian = jacfwd(jacrev(f))`.
 *
 * Without `vmap`, both loop over basis vectors: `jacfwd` runs one `jvp` per element of `x` (each runs
 * `f` again), `jacrev` runs `f` once and its pullback once per element of the output. So `jacfwd`
 * suits tall Jacobians (few inputs, many outputs) and `jacrev` wide ones (a scalar loss: one pullback).
 *
 * Shapes follow JAX: for `f(x) = y`, the block for an output leaf `y` and an input leaf `x` has shape
 * `[...y.shape, ...x.shape]`. The result is a tree shaped like the output whose leaves are trees
 * shaped like `x`; for a tensor-valued `f` that is simply a tree shaped like `x`. Blocks where the
 * input or the output is not float32 are zeros.
 */
import * as o from './ops.js';
import { fromArray } from './ops.js';
import { jvp } from './jvp.js';
import { isPlainObject, pytreeNodeOf } from './pytree.js';
import { Tensor, tidy } from './tensor.js';
import { vjp } from './trace.js';
import { mapDifferentiable, treeLeaves, treeMap } from './tree.js';

/** The Jacobian of a function from `X` to `Out`: `Out`'s structure, with an `X`-shaped tree at each tensor. */
export type Jacobian<Out, X> = Out extends Tensor ? X : { [K in keyof Out]: Jacobian<Out[K], X> };

/** `tree` with its k-th tensor leaf (in `treeLeaves` order) replaced by `leaf(tensor, k)`. */
function replaceLeaves(tree: unknown, leaf: (t: Tensor, k: number) => unknown): unknown {
  let k = 0;
  const walk = (x: unknown): unknown => {
    if (x instanceof Tensor) return leaf(x, k++);
    if (x === null || typeof x !== 'object') return x;
    if (Array.isArray(x)) return x.map(walk);
    if (isPlainObject(x)) return Object.fromEntries(Object.keys(x).map((key) => [key, walk(x[key])]));
    const node = pytreeNodeOf(x);
    if (node === undefined) return x;
    const [children, aux] = node.flatten(x);
    return node.unflatten(aux, walk(children));
  };
  return walk(tree);
}

/** The float32 one-hot tensor of `shape` with a 1 at flat position `j`. */
function basis(shape: readonly number[], size: number, j: number): Tensor {
  const values = new Float32Array(size);
  values[j] = 1;
  return fromArray(values, shape, 'float32');
}

/** Stack `parts` (each of shape `inner`) along a new leading axis of length `n`, the empty case included. */
function stackRows(parts: readonly Tensor[], n: number, inner: readonly number[]): Tensor {
  return n === 0 ? o.zeros([0, ...inner]) : o.stack(parts, 0);
}

/**
 * `jacrev(f)(x, ...rest)` (`jax.jacrev`): the Jacobian of `f` with respect to its first argument, by
 * reverse mode: `f` runs once, then its pullback once per output element (a loop over basis
 * cotangents; `vmap` would batch them). The natural choice for a scalar or short output.
 */
export function jacrev<X, R extends unknown[], Out>(f: (x: X, ...rest: R) => Out): (x: X, ...rest: R) => Jacobian<Out, X> {
  return (x: X, ...rest: R) =>
    tidy(() => {
      const [out, pullback] = vjp((xx: X) => f(xx, ...rest), x);
      const cotangent = (k: number, j: number): Out =>
        replaceLeaves(out, (y, m) => (m === k ? basis(y.shape, y.size, j) : o.zerosLike(y))) as Out;
      // A gradient's structure and leaf shapes, needed even where an output is empty.
      const [like] = pullback(replaceLeaves(out, (y) => o.zerosLike(y)) as Out);
      return replaceLeaves(out, (y, k) => {
        const rows = y.dtype === 'float32' ? Array.from({ length: y.size }, (_, j) => treeLeaves(pullback(cotangent(k, j))[0])) : [];
        let i = 0;
        return treeMap(like, (g) => {
          const leaf = i++;
          const shape = [...y.shape, ...g.shape];
          if (y.dtype !== 'float32' || g.dtype !== 'float32') return o.zeros(shape);
          return o.reshape(stackRows(rows.map((r) => r[leaf]!), y.size, g.shape), shape);
        });
      }) as Jacobian<Out, X>;
    });
}

/**
 * `jacfwd(f)(x, ...rest)` (`jax.jacfwd`): the Jacobian of `f` with respect to its first argument, by
 * forward mode: one `jvp` per element of `x` along a basis vector (a loop; each runs `f` again;
 * `vmap` would batch them). The natural choice for a short input and a long output.
 */
export function jacfwd<X, R extends unknown[], Out>(f: (x: X, ...rest: R) => Out): (x: X, ...rest: R) => Jacobian<Out, X> {
  return (x: X, ...rest: R) =>
    tidy(() => {
      const g = (xx: X) => f(xx, ...rest);
      const xs = mapDifferentiable(x, (t) => t);
      const inputs = treeLeaves(xs);
      // columns[i][j]: the output tangents (leaves) along basis vector j of input leaf i.
      let out: Out | undefined;
      const columns = inputs.map((xi, i) => {
        if (xi.dtype !== 'float32') return [];
        return Array.from({ length: xi.size }, (_, j) => {
          const tangent = replaceLeaves(xs, (t, m) => (m === i ? basis(t.shape, t.size, j) : o.zerosLike(t))) as X;
          const [y, ty] = jvp(g, [xs], [tangent] as [X]);
          out ??= y;
          return treeLeaves(ty);
        });
      });
      out ??= g(xs);
      return replaceLeaves(out, (y, k) => {
        let i = 0;
        return treeMap(xs, (xi) => {
          const cols = columns[i++]!;
          const shape = [...y.shape, ...xi.shape];
          if (xi.dtype !== 'float32' || y.dtype !== 'float32') return o.zeros(shape);
          // [x.size, ...y.shape] → [...y.shape, x.size] → [...y.shape, ...x.shape]
          const stacked = stackRows(cols.map((c) => c[k]!), xi.size, y.shape);
          const perm = [...y.shape.map((_, a) => a + 1), 0];
          return o.reshape(o.transpose(stacked, perm), shape);
        });
      }) as Jacobian<Out, X>;
    });
}

/**
 * `hessian(f)(x, ...rest)` (`jax.hessian`): the matrix of second derivatives of a scalar `f` with
 * respect to its first argument, `jacfwd(jacrev(f))` (forward over reverse, as JAX does: one
 * gradient per element of `x`, each pushed forward). For a tensor `x` of shape `s` it has shape
 * `[...s, ...s]`; for a pytree, `hessian(f)(x)[a][b]` is the block `[...a.shape, ...b.shape]`.
 */
export function hessian<X, R extends unknown[]>(f: (x: X, ...rest: R) => Tensor): (x: X, ...rest: R) => Jacobian<X, X> {
  return jacfwd(jacrev(f)) as (x: X, ...rest: R) => Jacobian<X, X>;
}
