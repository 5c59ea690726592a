/**
 * The Jacobian family, built from `jvp` and `vjp`: `jacfwd` (forward mode, a column per input
 * element), `jacrev` (reverse mode, a row per output element) and `hessian = jacfwd(jacrev(f))`.
 *
 * Both push a whole basis through at once with `vmap`: `jacfwd` runs a batch of `jvp`s, one per
 * element of `x` (so `f` runs once, batched), `jacrev` runs `f` once and then a batch of pullbacks,
 * one per element of the output. So `jacfwd` suits tall Jacobians (few inputs, many outputs) and
 * `jacrev` wide ones (a scalar loss: a batch of one).
 *
 * Shapes follow JAX: for `f(x) = y`, the block for an output leaf `y` and an input leaf `x` has shape
 * `[...y.shape, ...x.shape]`. The result is a tree shaped like the output whose leaves are trees
 * shaped like `x`; for a tensor-valued `f` that is simply a tree shaped like `x`. Blocks where the
 * input or the output is not float32 are zeros.
 */
import * as o from './ops.js';
import { jvp } from './jvp.js';
import { isPlainObject, pytreeNodeOf } from './pytree.js';
import { Tensor, tidy } from './tensor.js';
import { vjp } from './trace.js';
import { vmap } from './vmap.js';
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

/** The identity, one row per element of `shape`: [size, ...shape]. */
function basis(shape: readonly number[], size: number): Tensor {
  return o.reshape(o.eye(size), [size, ...shape]);
}

/**
 * `jacrev(f)(x, ...rest)` (`jax.jacrev`): the Jacobian of `f` with respect to its first argument, by
 * reverse mode: `f` runs once, then its pullback on the basis of each output leaf's cotangents, as
 * one batch (`vmap`). The natural choice for a scalar or short output.
 */
export function jacrev<X, R extends unknown[], Out>(f: (x: X, ...rest: R) => Out): (x: X, ...rest: R) => Jacobian<Out, X> {
  return (x: X, ...rest: R) =>
    tidy(() => {
      const [out, pullback] = vjp((xx: X) => f(xx, ...rest), x);
      const pullOne = (k: number) => (e: Tensor): X => pullback(replaceLeaves(out, (y, m) => (m === k ? e : o.zerosLike(y))) as Out)[0];
      // A gradient's structure and leaf shapes, needed where an output is empty or not float32.
      const [like] = pullback(replaceLeaves(out, (y) => o.zerosLike(y)) as Out);
      return replaceLeaves(out, (y, k) => {
        const rows = y.dtype === 'float32' && y.size > 0 ? vmap(pullOne(k))(basis(y.shape, y.size)) : null;
        const blocks = rows === null ? [] : treeLeaves(rows);
        let i = 0;
        return treeMap(like, (g) => {
          const block = blocks[i++];
          const shape = [...y.shape, ...g.shape];
          return block === undefined || g.dtype !== 'float32' ? o.zeros(shape) : o.reshape(block, shape);
        });
      }) as Jacobian<Out, X>;
    });
}

/**
 * `jacfwd(f)(x, ...rest)` (`jax.jacfwd`): the Jacobian of `f` with respect to its first argument, by
 * forward mode: for each tensor leaf of `x`, a batch (`vmap`) of `jvp`s along its basis vectors.
 * The natural choice for a short input and a long output.
 */
export function jacfwd<X, R extends unknown[], Out>(f: (x: X, ...rest: R) => Out): (x: X, ...rest: R) => Jacobian<Out, X> {
  return (x: X, ...rest: R) =>
    tidy(() => {
      const g = (xx: X) => f(xx, ...rest);
      const xs = mapDifferentiable(x, (t) => t);
      const out = g(xs);
      // columns[i]: the output tangent leaves along every basis vector of input leaf i, the batch last.
      const columns = treeLeaves(xs).map((xi, i) => {
        if (xi.dtype !== 'float32' || xi.size === 0) return null;
        const push = (e: Tensor) => jvp(g, [xs], [replaceLeaves(xs, (t, m) => (m === i ? e : o.zerosLike(t))) as X])[1];
        return treeLeaves(vmap(push, { outAxes: -1 })(basis(xi.shape, xi.size)));
      });
      return replaceLeaves(out, (y, k) => {
        let i = 0;
        return treeMap(xs, (xi) => {
          const cols = columns[i++];
          const shape = [...y.shape, ...xi.shape];
          return cols === null || cols === undefined || y.dtype !== 'float32' ? o.zeros(shape) : o.reshape(cols[k]!, shape);
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
