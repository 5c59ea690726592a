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
 * Every backend evaluates the transforms in the same order, written here once. Each one-dimensional
 * transform (Bᵀ, B, Aᵀ, A applied to a line of a tile) is a `LinearProgram`: a few signed sums, each
 * over the inputs and the sums before it, so common subexpressions are computed once (Lavin & Gray's
 * and NNPACK's grouping for F(4×4): Bᵀ d in 18 additions and exact scalings instead of 36, Aᵀ m in 13
 * instead of 21). A tile transform applies the program to each row of the tile (the inner values),
 * then to each column of those:
 *
 *   out[p][q] = program(column q of inner)[p],   inner[i][q] = program(row i of src)[q],
 *
 * each sum folded left to right from its first term. Every coefficient is ± a power of two, so each
 * product s · v is exact and the only roundings are the additions: the same order gives the same
 * bits on the CPU, in wasm and in WGSL, even where a shader compiler contracts s · v + acc into a
 * fused multiply-add (exact products round the same either way).
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
  /** Bᵀ: α values of a tile's line → α (data transform, forward). */
  readonly bt: LinearProgram;
  /** B, its transpose: α → α (data transform, adjoint). */
  readonly b: LinearProgram;
  /** Aᵀ: α → m (output transform, forward). */
  readonly at: LinearProgram;
  /** A, its transpose: m → α (output transform, adjoint). */
  readonly a: LinearProgram;
  /** G (α×3), row-major: the filter transform U = G g Gᵀ. */
  readonly g: readonly number[];
}

/**
 * A linear program over `inputs` values: `steps` are signed sums, each over the values before it
 * (inputs 0 … n − 1, then step k's result as value n + k); output q is value `outputs[q]`.
 */
export interface LinearProgram {
  readonly inputs: number;
  readonly steps: readonly SignedSum[];
  readonly outputs: readonly number[];
}

/** Run a program on `value(0 … inputs − 1)`, each step a `signedSum` (rounded by `round`); returns its outputs. */
export function runProgram(program: LinearProgram, value: (i: number) => number, round: (x: number) => number = Math.fround): number[] {
  const values = Array.from({ length: program.inputs }, (_, i) => value(i));
  for (const step of program.steps) values.push(signedSum(step, (i) => values[i]!, round));
  return program.outputs.map((o) => values[o]!);
}

/** A program with no shared steps: output q is sum q (F(2×2)'s sums, in the order of earlier releases). */
function direct(inputs: number, sums: readonly SignedSum[]): LinearProgram {
  return { inputs, steps: sums, outputs: sums.map((_, q) => inputs + q) };
}

/**
 * F(4×4)'s programs. Bᵀ d (rows [4 0 −5 0 1 0], [0 −4 −4 1 1 0], [0 4 −4 −1 1 0], [0 −2 −1 2 1 0],
 * [0 2 −1 −2 1 0], [0 4 0 −5 0 1]), from t6 = d4 − 4d2, t7 = d3 − 4d1, t10 = d4 − d2, t11 = d3 − d1:
 * out1 = t6 + t7, out2 = t6 − t7, out3 = t10 + 2t11, out4 = t10 − 2t11, out0 = 4(d0 − d2) + t10,
 * out5 = (d5 − d3) − 4t11.
 */
const BT4_PROGRAM: LinearProgram = {
  inputs: 6,
  steps: [
    [[4, 1], [2, -4]], // 6: t6 = d4 − 4 d2
    [[3, 1], [1, -4]], // 7: t7 = d3 − 4 d1
    [[6, 1], [7, 1]], // 8: out1
    [[6, 1], [7, -1]], // 9: out2
    [[4, 1], [2, -1]], // 10: t10 = d4 − d2
    [[3, 1], [1, -1]], // 11: t11 = d3 − d1
    [[10, 1], [11, 2]], // 12: out3
    [[10, 1], [11, -2]], // 13: out4
    [[0, 1], [2, -1]], // 14: d0 − d2
    [[14, 4], [10, 1]], // 15: out0 = 4 (d0 − d2) + t10
    [[5, 1], [3, -1]], // 16: d5 − d3
    [[16, 1], [11, -4]], // 17: out5 = (d5 − d3) − 4 t11
  ],
  outputs: [15, 8, 9, 12, 13, 17],
};

/**
 * B v, the transpose (columns of Bᵀ: [4 0 0 0 0 0], [0 −4 4 −2 2 4], [−5 −4 −4 −1 −1 0],
 * [0 1 −1 2 −2 −5], [1 1 1 1 1 0], [0 0 0 0 0 1]), from s = v1 + v2, d = v1 − v2, s' = v3 + v4,
 * d' = v3 − v4 and u = v0 + s: out1 = 4v5 − 4d − 2d', out2 = −4u − v0 − s', out3 = d + 2d' − 4v5 − v5,
 * out4 = u + s'.
 */
const B4_PROGRAM: LinearProgram = {
  inputs: 6,
  steps: [
    [[1, 1], [2, 1]], // 6: s = v1 + v2
    [[1, 1], [2, -1]], // 7: d = v1 − v2
    [[3, 1], [4, 1]], // 8: s' = v3 + v4
    [[3, 1], [4, -1]], // 9: d' = v3 − v4
    [[0, 4]], // 10: out0 = 4 v0
    [[5, 4], [7, -4], [9, -2]], // 11: out1
    [[0, 1], [6, 1]], // 12: u = v0 + s
    [[12, -4], [0, -1], [8, -1]], // 13: out2
    [[7, 1], [9, 2], [5, -4], [5, -1]], // 14: out3
    [[12, 1], [8, 1]], // 15: out4
  ],
  outputs: [10, 11, 13, 14, 15, 5],
};

/**
 * Aᵀ m (rows [1 1 1 1 1 0], [0 1 −1 2 −2 0], [0 1 1 4 4 0], [0 1 −1 8 −8 1]), from s = m1 + m2,
 * d = m1 − m2, s' = m3 + m4, d' = m3 − m4: out0 = m0 + s + s', out1 = d + 2d', out2 = s + 4s',
 * out3 = d + 8d' + m5.
 */
const AT4_PROGRAM: LinearProgram = {
  inputs: 6,
  steps: [
    [[1, 1], [2, 1]], // 6: s
    [[1, 1], [2, -1]], // 7: d
    [[3, 1], [4, 1]], // 8: s'
    [[3, 1], [4, -1]], // 9: d'
    [[0, 1], [6, 1], [8, 1]], // 10: out0
    [[7, 1], [9, 2]], // 11: out1
    [[6, 1], [8, 4]], // 12: out2
    [[7, 1], [9, 8], [5, 1]], // 13: out3
  ],
  outputs: [10, 11, 12, 13],
};

/**
 * A y, the transpose (columns of Aᵀ: [1 0 0 0], [1 1 1 1], [1 −1 1 −1], [1 2 4 8], [1 −2 4 −8],
 * [0 0 0 1]), from e = y0 + y2, o = y1 + y3, e' = y0 + 4y2, o' = y1 + 4y3: out1 = e + o, out2 = e − o,
 * out3 = e' + 2o', out4 = e' − 2o'; out0 = y0 and out5 = y3 are the inputs themselves.
 */
const A4_PROGRAM: LinearProgram = {
  inputs: 4,
  steps: [
    [[0, 1], [2, 1]], // 4: e
    [[1, 1], [3, 1]], // 5: o
    [[4, 1], [5, 1]], // 6: out1
    [[4, 1], [5, -1]], // 7: out2
    [[0, 1], [2, 4]], // 8: e'
    [[1, 1], [3, 4]], // 9: o'
    [[8, 1], [9, 2]], // 10: out3
    [[8, 1], [9, -2]], // 11: out4
  ],
  outputs: [0, 6, 7, 10, 11, 3],
};

/** Both variants; F(2×2)'s sums are the hand-ordered ones above (the order of earlier releases). */
export const WINOGRAD: Readonly<Record<WinogradTile, WinogradTables>> = {
  2: { m: 2, alpha: 4, bt: direct(4, BT_ROWS), b: direct(4, BT_COLS), at: direct(4, AT_ROWS), a: direct(2, AT_COLS), g: G_MATRIX },
  4: {
    m: 4,
    alpha: 6,
    bt: BT4_PROGRAM,
    b: B4_PROGRAM,
    at: AT4_PROGRAM,
    a: A4_PROGRAM,
    g: [1 / 4, 0, 0, -1 / 6, -1 / 6, -1 / 6, -1 / 6, 1 / 6, -1 / 6, 1 / 24, 1 / 12, 1 / 6, 1 / 24, -1 / 12, 1 / 6, 0, 0, 1],
  },
};
