/**
 * Pytrees: nested plain objects, arrays and registered classes (`registerPytreeNode`, pytree.ts) whose
 * leaves are tensors. Other leaves (numbers, strings, booleans, null, functions) pass through the tree
 * functions untouched; any other object (a `Map`, an unregistered class) is an error naming its type
 * and path, since walking past it would silently skip the tensors it holds. Parameters, gradients and
 * optimizer states are pytrees.
 */
import { describeValue, forEachLeaf, isPlainObject, joinPath as join, notAPytreeNode, pytreeNodeOf } from './pytree.js';
import { getBackend } from './backendRegistry.js';
import { isTensor, newStorage, Tensor } from './tensor.js';

export type Tree<L = Tensor> = L | readonly Tree<L>[] | { readonly [k: string]: Tree<L> };

/** Apply `fn` to every tensor leaf, keeping the structure. */
export function treeMap<T>(tree: T, fn: (leaf: Tensor, path: string) => Tensor, path = ''): T {
  return mapTree(tree, fn, path, 'treeMap', passThrough) as T;
}

/** @internal `treeMap` for a transformation: an unregistered object is an error naming `op`. */
export function treeMapFor<T>(op: string, tree: T, fn: (leaf: Tensor, path: string) => Tensor, path = ''): T {
  return mapTree(tree, fn, path, op, passThrough) as T;
}

const passThrough = (x: unknown): unknown => x;

/**
 * The one walker: `fn` on tensors, recursion into arrays, plain objects and registered nodes,
 * `other(x, path)` on every other non-object leaf; an unregistered object is an error naming `op`.
 */
function mapTree(tree: unknown, fn: (leaf: Tensor, path: string) => Tensor, path: string, op: string, other: (x: unknown, path: string) => unknown): unknown {
  if (tree instanceof Tensor) return fn(tree, path);
  if (tree === null || typeof tree !== 'object') return other(tree, path);
  if (Array.isArray(tree)) return tree.map((x, i) => mapTree(x, fn, join(path, String(i)), op, other));
  if (isPlainObject(tree)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(tree)) out[k] = mapTree(tree[k], fn, join(path, k), op, other);
    return out;
  }
  const node = pytreeNodeOf(tree);
  if (node === undefined) throw notAPytreeNode(op, tree, path);
  const [children, aux] = node.flatten(tree);
  return node.unflatten(aux, mapTree(children, fn, path, op, other));
}

/** A float32 scalar made without an op (and so without a tape): how a differentiated number is lifted. */
function hostScalar(value: number): Tensor {
  const backend = getBackend();
  return new Tensor(newStorage(backend, backend.upload(new Float32Array([value]), 'float32'), 1, 'float32'), [], 'float32');
}

/**
 * @internal How `vjp`, `grad` and `valueAndGrad` walk what they differentiate: `fn` on every tensor;
 * a JS number is lifted to a float32 scalar first (as JAX takes a Python float), so
 * `grad(x => square(x))(3)` is a tensor holding 6; null and undefined are empty subtrees; any other
 * value (a string, a boolean, a function, an unregistered object) is an error naming it and its path,
 * where it used to be handed back unchanged as if it were its own gradient.
 */
export function mapDifferentiable<T>(tree: T, fn: (t: Tensor) => Tensor): T {
  return mapTree(tree, fn, '', 'grad/vjp', liftOrRefuse) as T;

  function liftOrRefuse(x: unknown, path: string): unknown {
    if (x === null || x === undefined) return x;
    if (typeof x === 'number') {
      const lifted = hostScalar(x);
      const out = fn(lifted);
      if (out !== lifted) lifted.dispose();
      return out;
    }
    throw new Error(`grad/vjp: the differentiated argument holds ${describeValue(x)} at '${path || '<root>'}'; only tensors (and numbers, taken as float32 scalars) can be differentiated: pass other values as further arguments of f, which grad does not differentiate`);
  }
}

/**
 * Combine trees of the same structure leaf by leaf: `fn(a, b, ...)` over matching tensors. A
 * structural mismatch is an error naming the path.
 */
export function treeZipMap<T>(trees: readonly T[], fn: (leaves: Tensor[], path: string) => Tensor, path = ''): T {
  const first = trees[0];
  const node = first !== null && typeof first === 'object' && !(first instanceof Tensor) && !Array.isArray(first) && !isPlainObject(first) ? pytreeNodeOf(first) : undefined;
  if (node) {
    const parts = trees.map((t, i) => {
      if (t === null || typeof t !== 'object' || Object.getPrototypeOf(t) !== Object.getPrototypeOf(first)) throw new Error(`treeZipMap: tree ${i} has ${describeValue(t)} at '${path || '<root>'}' where tree 0 has a ${node.name}`);
      return node.flatten(t);
    });
    return node.unflatten(parts[0]![1], treeZipMap(parts.map((p) => p[0]), fn, path)) as T;
  }
  if (first instanceof Tensor) {
    trees.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new Error(`treeZipMap: tree ${i} has no tensor at '${path || '<root>'}'`);
    });
    return fn(trees as unknown as Tensor[], path) as T;
  }
  if (Array.isArray(first)) {
    trees.forEach((t, i) => {
      if (!Array.isArray(t) || t.length !== first.length) throw new Error(`treeZipMap: tree ${i} differs in structure at '${path || '<root>'}'`);
    });
    return first.map((_, j) => treeZipMap(trees.map((t) => (t as unknown as unknown[])[j] as T), fn, join(path, String(j)))) as T;
  }
  if (isPlainObject(first)) {
    const keys = Object.keys(first);
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      out[k] = treeZipMap(
        trees.map((t, i) => {
          if (!isPlainObject(t) || !(k in t)) throw new Error(`treeZipMap: tree ${i} has no key '${join(path, k)}'`);
          return t[k] as T;
        }),
        fn,
        join(path, k),
      );
    }
    return out as T;
  }
  if (first !== null && typeof first === 'object') throw notAPytreeNode('treeZipMap', first, path);
  return first;
}

/** Tensor leaves in a fixed order (object keys in insertion order). */
export function treeLeaves(tree: unknown): Tensor[] {
  return treeFlatten(tree).map(([, t]) => t);
}

/** `[path, tensor]` pairs, paths joined with '.' (the safetensors naming). */
export function treeFlatten(tree: unknown, path = '', out: [string, Tensor][] = []): [string, Tensor][] {
  forEachLeaf(tree, isTensor, (t, p) => void out.push([p, t]), refuseOpaque, path);
  return out;
}

function refuseOpaque(x: object, path: string): never {
  throw notAPytreeNode('treeFlatten', x, path);
}

/** Rebuild a tree shaped like `like` from tensors looked up by path. */
export function treeUnflatten<T>(like: T, lookup: (path: string, leaf: Tensor) => Tensor): T {
  return treeMap(like, (leaf, path) => lookup(path, leaf));
}

export function treeSize(tree: unknown): number {
  return treeLeaves(tree).reduce((n, t) => n + t.size, 0);
}
