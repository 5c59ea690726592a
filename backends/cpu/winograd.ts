/**
 * The Winograd F(2×2, 3×3) transforms (see core/winograd.ts for the maths and the summation order
 * every backend shares). NHWC images, transformed tiles as [16, tiles, C]; channels innermost, so
 * each loop over c walks memory contiguously.
 */
import { AT_COLS, AT_ROWS, BT_COLS, BT_ROWS, signedSum, tilesReading, type PrimParams, type SignedSum, type TypedArray } from '../../core/index.js';

/** out[p][q] = Σ_{rows[p]} ± (Σ_{cols[q]} ± src[i][j]) for a src of `width` columns, inner sums first. */
function transform(src: Float32Array, width: number, rows: readonly SignedSum[], cols: readonly SignedSum[], inner: Float32Array, out: Float32Array): void {
  const height = src.length / width;
  for (let i = 0; i < height; i++) for (let q = 0; q < cols.length; q++) inner[i * cols.length + q] = signedSum(cols[q]!, (j) => src[i * width + j]!);
  for (let p = 0; p < rows.length; p++) for (let q = 0; q < cols.length; q++) out[p * cols.length + q] = signedSum(rows[p]!, (i) => inner[i * cols.length + q]!);
}

/** Data transform: image [N, H, W, C] → [16, N·tH·tW, C], tile (ty, tx) at rows 2ty − padTop …, zero outside. */
function dataForward(out: TypedArray, x: TypedArray, c: number, p: PrimParams['winogradIn']): void {
  const { batch: n, height: h, width: w, padTop: pt, padLeft: pl, tilesHigh: th, tilesWide: tw } = p;
  const tiles = n * th * tw;
  const d = new Float32Array(16);
  const inner = new Float32Array(16);
  const v = new Float32Array(16);
  for (let b = 0; b < n; b++) {
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        const t = (b * th + ty) * tw + tx;
        for (let ch = 0; ch < c; ch++) {
          for (let i = 0; i < 4; i++) {
            for (let j = 0; j < 4; j++) {
              const y = 2 * ty + i - pt;
              const xx = 2 * tx + j - pl;
              d[i * 4 + j] = y >= 0 && y < h && xx >= 0 && xx < w ? x[((b * h + y) * w + xx) * c + ch]! : 0;
            }
          }
          transform(d, 4, BT_ROWS, BT_ROWS, inner, v);
          for (let e = 0; e < 16; e++) out[(e * tiles + t) * c + ch] = v[e]!;
        }
      }
    }
  }
}

/**
 * The data transform's adjoint: [16, N·tH·tW, C] → [N, H, W, C], each pixel gathering from the
 * (≤ 4) tiles that read it, in tilesReading's order of its padded coordinates.
 */
function dataAdjoint(out: TypedArray, v: TypedArray, c: number, p: PrimParams['winogradIn']): void {
  const { batch: n, height: h, width: w, padTop: pt, padLeft: pl, tilesHigh: th, tilesWide: tw } = p;
  const tiles = n * th * tw;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          let first = true;
          for (const [ty, i] of tilesReading(y + pt)) {
            if (ty < 0 || ty >= th) continue;
            for (const [tx, j] of tilesReading(x + pl)) {
              if (tx < 0 || tx >= tw) continue;
              const t = (b * th + ty) * tw + tx;
              const at = (a: number, e: number): number => v[((4 * a + e) * tiles + t) * c + ch]!;
              const contribution = signedSum(BT_COLS[i]!, (a) => signedSum(BT_COLS[j]!, (e) => at(a, e)));
              acc = first ? contribution : Math.fround(acc + contribution);
              first = false;
            }
          }
          out[((b * h + y) * w + x) * c + ch] = acc;
        }
      }
    }
  }
}

/**
 * The output transform (`adjoint` false: [16, N·tH·tW, C] → [N, 2·tH, 2·tW, C], each tile Aᵀ m A) or
 * its adjoint (true: the reverse, A y Aᵀ per tile; tiles do not overlap, so each is independent).
 */
function output(out: TypedArray, src: TypedArray, n: number, th: number, tw: number, c: number, adjoint: boolean): void {
  const tiles = n * th * tw;
  const tile = new Float32Array(adjoint ? 4 : 16);
  const inner = new Float32Array(8);
  const result = new Float32Array(adjoint ? 16 : 4);
  const w = 2 * tw;
  for (let b = 0; b < n; b++) {
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        const t = (b * th + ty) * tw + tx;
        // The 2×2 pixels of tile t, and its 16 transformed entries, for channel ch.
        const pixel = (r: number, s: number, ch: number): number => ((b * 2 * th + 2 * ty + r) * w + 2 * tx + s) * c + ch;
        const entry = (e: number, ch: number): number => (e * tiles + t) * c + ch;
        for (let ch = 0; ch < c; ch++) {
          if (adjoint) {
            for (let r = 0; r < 2; r++) for (let s = 0; s < 2; s++) tile[r * 2 + s] = src[pixel(r, s, ch)]!;
            transform(tile, 2, AT_COLS, AT_COLS, inner, result);
            for (let e = 0; e < 16; e++) out[entry(e, ch)] = result[e]!;
          } else {
            for (let e = 0; e < 16; e++) tile[e] = src[entry(e, ch)]!;
            transform(tile, 4, AT_ROWS, AT_ROWS, inner, result);
            for (let r = 0; r < 2; r++) for (let s = 0; s < 2; s++) out[pixel(r, s, ch)] = result[r * 2 + s]!;
          }
        }
      }
    }
  }
}

export function winogradIn(out: TypedArray, x: TypedArray, shape: readonly number[], p: PrimParams['winogradIn']): void {
  const c = shape[shape.length - 1]!;
  if (p.adjoint) dataAdjoint(out, x, c, p);
  else dataForward(out, x, c, p);
}

export function winogradOut(out: TypedArray, x: TypedArray, shape: readonly number[], p: PrimParams['winogradOut']): void {
  const c = shape[shape.length - 1]!;
  output(out, x, p.batch, p.tilesHigh, p.tilesWide, c, p.adjoint);
}
