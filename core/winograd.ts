/**
 * Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016): a 3×3 correlation of a 4×4 tile d with a filter g is the 2×2 tile
 *
 *   Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A,
 *
 * so a convolution over C input and K output channels becomes 16 matmuls [tiles, C] × [C, K], one per
 * entry of the 4×4 transformed tile: 16 multiply-adds per 4 outputs instead of 36 (2.25× fewer).
 *
 *   Bᵀ = [1  0 −1  0]     G = [1    0    0 ]     Aᵀ = [1  1  1  0]
 *        [0  1  1  0]         [1/2  1/2  1/2]          [0  1 −1 −1]
 *        [0 −1  1  0]         [1/2 −1/2  1/2]
 *        [0  1  0 −1]         [0    0    1 ]
 *
 * The data and output transforms (and their transposes, for the VJPs) are the primitives
 * `winogradIn` and `winogradOut`; the filter transform is a pair of small matmuls in `ops.ts`.
 *
 * Every backend evaluates the transforms in the same order, written here once: an entry of a
 * transformed tile is an outer signed sum of inner signed sums,
 *
 *   out[p][q] = Σ_{(i, s) ∈ rows[p]} s · (Σ_{(j, t) ∈ rows[q]} t · src[i][j]),
 *
 * each sum folded left to right from its first term. The signs are ±1, so the only roundings are the
 * additions, and the same order gives the same bits on the CPU, in wasm and in WGSL.
 */

/** A signed sum: the source indices and their signs (+1 or −1), in the order they are added. */
export type SignedSum = readonly (readonly [number, 1 | -1])[];

/** Rows of Bᵀ: entry a of Bᵀ d sums these rows of d (data transform, forward). */
export const BT_ROWS: readonly SignedSum[] = [
  [[0, 1], [2, -1]],
  [[1, 1], [2, 1]],
  [[2, 1], [1, -1]],
  [[1, 1], [3, -1]],
];

/** Columns of Bᵀ: entry i of B v sums these entries of v (data transform, adjoint). */
export const BT_COLS: readonly SignedSum[] = [
  [[0, 1]],
  [[1, 1], [2, -1], [3, 1]],
  [[0, -1], [1, 1], [2, 1]],
  [[3, -1]],
];

/** Rows of Aᵀ: output r of Aᵀ m sums these entries of m (output transform, forward). */
export const AT_ROWS: readonly SignedSum[] = [
  [[0, 1], [1, 1], [2, 1]],
  [[1, 1], [2, -1], [3, -1]],
];

/** Columns of Aᵀ: entry a of A y sums these outputs (output transform, adjoint). */
export const AT_COLS: readonly SignedSum[] = [
  [[0, 1]],
  [[0, 1], [1, 1]],
  [[0, 1], [1, -1]],
  [[1, -1]],
];

/** G (4×3), row-major: the filter transform U = G g Gᵀ. */
export const G_MATRIX: readonly number[] = [1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1];

/**
 * Fold a signed sum in its order: `value(i)` is the i-th source. The first term is negated (exact)
 * rather than subtracted from 0, so −0 stays −0 and every backend rounds the same additions.
 */
export function signedSum(sum: SignedSum, value: (i: number) => number, round: (x: number) => number = Math.fround): number {
  let acc = sum[0]![1] === 1 ? value(sum[0]![0]) : -value(sum[0]![0]);
  for (let k = 1; k < sum.length; k++) {
    const [i, s] = sum[k]!;
    acc = round(s === 1 ? acc + value(i) : acc - value(i));
  }
  return acc;
}

/**
 * For the adjoint of the data transform: the (tile, position) pairs that read padded row `y` (the
 * same for columns), in the order their contributions are added: the tile starting at or just
 * before y first (position y mod 2), then the one before it (position y mod 2 + 2). Tiles outside
 * [0, tiles) are left out by the caller.
 */
export function tilesReading(y: number): [[number, number], [number, number]] {
  const t = Math.floor(y / 2);
  const i = y - 2 * t;
  return [[t, i], [t - 1, i + 2]];
}
