/**
 * A parameter tree's leaves laid end to end as one vector, and back. The optimizers' element-wise
 * arithmetic then runs as a dozen ops on one vector instead of a dozen ops per leaf (a model has
 * ~100 leaves, most of them small, where a step's time is per-op overhead, not arithmetic). Every
 * element sees the same operations with the same scalars either way, so the bits do not change.
 */
import { concat, reshape, slice, treeLeaves, treeMap, type Tensor } from '../../core/index.js';

/** Fewer leaves than this are not worth a concatenation. */
const MIN_LEAVES = 4;

/** Whether the trees' leaves may be flattened: enough of them, all float32. */
export function flattenable(...trees: readonly unknown[]): boolean {
  const leaves = treeLeaves(trees[0]);
  return leaves.length >= MIN_LEAVES && trees.every((t) => treeLeaves(t).every((l) => l.dtype === 'float32'));
}

/** The leaves of `tree`, each flattened, concatenated in `treeLeaves` order. */
export function flatten(tree: unknown): Tensor {
  return concat(treeLeaves(tree).map((l) => reshape(l, [l.size])), 0);
}

/** A tree shaped like `like` whose leaves are consecutive pieces of `flat`. */
export function unflatten<T>(like: T, flat: Tensor): T {
  let at = 0;
  return treeMap(like, (l) => {
    const piece = reshape(slice(flat, [at], [l.size]), [...l.shape]);
    at += l.size;
    return piece;
  });
}
