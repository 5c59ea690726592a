/**
 * Pytrees: nested plain objects and arrays whose leaves are tensors (other leaves — numbers, strings,
 * null — pass through untouched). Parameters, gradients and optimizer states are pytrees.
 */
import { Tensor } from './tensor.js';

export type Tree<L = Tensor> = L | readonly Tree<L>[] | { readonly [k: string]: Tree<L> };

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x) && Object.getPrototypeOf(x) === Object.prototype;
}

/** Apply `fn` to every tensor leaf, keeping the structure. */
export function treeMap<T>(tree: T, fn: (leaf: Tensor, path: string) => Tensor, path = ''): T {
  if (tree instanceof Tensor) return fn(tree, path) as T;
  if (Array.isArray(tree)) return tree.map((x, i) => treeMap(x, fn, join(path, String(i)))) as T;
  if (isPlainObject(tree)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(tree)) out[k] = treeMap(tree[k], fn, join(path, k));
    return out as T;
  }
  return tree;
}

/**
 * Combine trees of the same structure leaf by leaf: `fn(a, b, ...)` over matching tensors. A
 * structural mismatch is an error naming the path.
 */
export function treeZipMap<T>(trees: readonly T[], fn: (leaves: Tensor[], path: string) => Tensor, path = ''): T {
  const first = trees[0];
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
  return first;
}

/** Tensor leaves in a fixed order (object keys in insertion order). */
export function treeLeaves(tree: unknown): Tensor[] {
  return treeFlatten(tree).map(([, t]) => t);
}

/** `[path, tensor]` pairs, paths joined with '.' (the safetensors naming). */
export function treeFlatten(tree: unknown, path = '', out: [string, Tensor][] = []): [string, Tensor][] {
  if (tree instanceof Tensor) out.push([path, tree]);
  else if (Array.isArray(tree)) tree.forEach((x, i) => treeFlatten(x, join(path, String(i)), out));
  else if (isPlainObject(tree)) for (const k of Object.keys(tree)) treeFlatten(tree[k], join(path, k), out);
  return out;
}

/** Rebuild a tree shaped like `like` from tensors looked up by path. */
export function treeUnflatten<T>(like: T, lookup: (path: string, leaf: Tensor) => Tensor): T {
  return treeMap(like, (leaf, path) => lookup(path, leaf));
}

export function treeSize(tree: unknown): number {
  return treeLeaves(tree).reduce((n, t) => n + t.size, 0);
}

function join(a: string, b: string): string {
  return a ? `${a}.${b}` : b;
}
