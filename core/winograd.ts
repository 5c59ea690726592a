/**
 * Winograd's minimal filtering F(m×m, 3×3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016) for output tiles of m = 2 or 4: a 3×3 correlation of an α×α tile d (α = m + 2)
 * with a filter g is the m×m tile
 *
 *   Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A,
 *
 * so a convolution over C input and K output channels becomes α² matmuls [tiles, C] × [C, K], one per
 * entry of the transformed tile: α² multiply-adds per m² outputs instead of 9 m², 2.25× fewer for
 * F(2×2, 3×3) and 4× fewer for F(4×4, 3×3).
 *
 * F(2×2, 3×3), points 0, ±1, ∞:
 *
 *   Bᵀ = [1  0 −1  0]     G = [1    0    0 ]     Aᵀ = [1  1  1  0]
 *        [0  1  1  0]         [1/2  1/2  1/2]          [0  1 −1 −1]
 *        [0 −1  1  0]         [1/2 −1/2  1/2]
 *        [0  1  0 −1]         [0    0    1 ]
 *
 * F(4×4, 3×3), points 0, ±1, ±2, ∞ (Lavin & Gray's; larger points would need larger coefficients and
 * lose more precision):
 *
 *   Bᵀ = [4  0 −5  0  1  0]     G = [ 1/4     0     0 ]     Aᵀ = [1  1  1  1  1  0]
 *        [0 −4 −4  1  1  0]         [−1/6  −1/6  −1/6 ]          [0  1 −1  2 −2  0]
 *        [0  4 −4 −1  1  0]         [−1/6   1/6  −1/6 ]          [0  1  1  4  4  0]
 *        [0 −2 −1  2  1  0]         [1/24  1/12   1/6 ]          [0  1 −1  8 −8  1]
 *        [0  2 −1 −2  1  0]         [1/24 −1/12   1/6 ]
 *        [0  4  0 −5  0  1]         [ 0      0     1  ]
 *
 * The data and output transforms (and their transposes, for the VJPs) are the primitives
 * `winogradIn` and `winogradOut` (with `tile` m); the filter transform is a pair of small matmuls in
 * `ops/linalg.ts`.
 *
 * Every backend evaluates the transforms in the same order, written here once: an entry of a
 * transformed tile is an outer sum of inner sums,
 *
 *   out[p][q] = Σ_{(i, s) ∈ rows[p]} s · (Σ_{(j, t) ∈ rows[q]} t · src[i][j]),
 *
 * each sum folded left to right from its first term. Every coefficient is ± a power of two (a 5 is
 * written as 4 + 1, two terms on the same source), so each product s · v is exact and the only
 * roundings are the additions: the same order gives the same bits on the CPU, in wasm and in WGSL,
 * even where a shader compiler contracts s · v + acc into a fused multiply-add (exact products
 * round the same either way).
 */

/**
 * A signed sum: the source indices and their coefficients (± a power of two: ±1, ±2, ±4, ±8), in the
 * order they are added.
 */
export type SignedSum = readonly (readonly [number, number])[];

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
 * Fold a signed sum in its order: `value(i)` is the i-th source. A term is c · value (exact: c is a
 * power of two), added, or for a negative c subtracted as |c| · value (the same bits); the first
 * term is negated rather than subtracted from 0, so −0 stays −0 and every backend rounds the same
 * additions.
 */
export function signedSum(sum: SignedSum, value: (i: number) => number, round: (x: number) => number = Math.fround): number {
  const scaled = (i: number, c: number): number => (c === 1 || c === -1 ? value(i) : Math.abs(c) * value(i));
  let acc = sum[0]![1] > 0 ? scaled(sum[0]![0], sum[0]![1]) : -scaled(sum[0]![0], sum[0]![1]);
  for (let k = 1; k < sum.length; k++) {
    const [i, c] = sum[k]!;
    acc = round(c > 0 ? acc + scaled(i, c) : acc - scaled(i, c));
  }
  return acc;
}

/**
 * For the adjoint of the data transform with output tiles of m: the (tile, position) pairs that read
 * padded row `y` (the same for columns), in the order their contributions are added: the tile
 * starting at or just before y first (position y mod m), then the one before it (position
 * y mod m + m) where that position lies in its α = m + 2 rows. Tiles outside [0, tiles) are left out
 * by the caller.
 */
export function tilesReading(y: number, m: WinogradTile = 2): [number, number][] {
  const t = Math.floor(y / m);
  const i = y - m * t;
  return i + m < m + 2 ? [[t, i], [t - 1, i + m]] : [[t, i]];
}

/** Output tile sizes: F(2×2, 3×3) and F(4×4, 3×3). */
export type WinogradTile = 2 | 4;

/** One variant's tables: output tile m, input tile α = m + 2, and the sums of Bᵀ, Aᵀ and their transposes. */
export interface WinogradTables {
  readonly m: WinogradTile;
  readonly alpha: number;
  /** Rows of Bᵀ: entry a of Bᵀ d sums these rows of d (data transform, forward). */
  readonly btRows: readonly SignedSum[];
  /** Columns of Bᵀ: entry i of B v sums these entries of v (data transform, adjoint). */
  readonly btCols: readonly SignedSum[];
  /** Rows of Aᵀ: output r of Aᵀ m sums these entries of m (output transform, forward). */
  readonly atRows: readonly SignedSum[];
  /** Columns of Aᵀ: entry a of A y sums these outputs (output transform, adjoint). */
  readonly atCols: readonly SignedSum[];
  /** G (α×3), row-major: the filter transform U = G g Gᵀ. */
  readonly g: readonly number[];
}

/**
 * The sums of a small integer matrix's rows (or columns), terms in index order, each coefficient
 * written as ± powers of two (5 = 4 + 1).
 */
function sumsOf(matrix: readonly (readonly number[])[], byColumn: boolean): SignedSum[] {
  const lines = byColumn ? matrix[0]!.map((_, j) => matrix.map((row) => row[j]!)) : matrix;
  return lines.map((line) => {
    const terms: [number, number][] = [];
    line.forEach((v, i) => {
      let rest = Math.abs(v);
      for (let bit = 8; bit >= 1; bit /= 2) {
        if (rest >= bit) {
          terms.push([i, Math.sign(v) * bit]);
          rest -= bit;
        }
      }
      if (rest !== 0) throw new Error(`winograd: coefficient ${v} is not a sum of powers of two up to 8`);
    });
    return terms;
  });
}

const BT4 = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]];
const AT4 = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]];

/** Both variants; F(2×2)'s sums are the hand-ordered ones above (the order of earlier releases). */
export const WINOGRAD: Readonly<Record<WinogradTile, WinogradTables>> = {
  2: { m: 2, alpha: 4, btRows: BT_ROWS, btCols: BT_COLS, atRows: AT_ROWS, atCols: AT_COLS, g: G_MATRIX },
  4: {
    m: 4,
    alpha: 6,
    btRows: sumsOf(BT4, false),
    btCols: sumsOf(BT4, true),
    atRows: sumsOf(AT4, false),
    atCols: sumsOf(AT4, true),
    g: [1 / 4, 0, 0, -1 / 6, -1 / 6, -1 / 6, -1 / 6, 1 / 6, -1 / 6, 1 / 24, 1 / 12, 1 / 6, 1 / 24, -1 / 12, 1 / 6, 0, 0, 1],
  },
};
