/**
 * The Winograd F(m×m, 3×3) transforms, m = 2 or 4 (see core/winograd.ts for the maths and the
 * summation order every backend shares). NHWC images, transformed tiles as [α², tiles, C] (α = m + 2);
 * channels innermost, so each loop over c walks memory contiguously.
 */
import { runProgram, tilesReading, WINOGRAD, type LinearProgram, type PrimParams, type TypedArray } from '../../core/index.js';

/**
 * out[p][q] = program(column q of inner)[p] with inner[i][q] = program(row i of src)[q], src the
 * program's inputs squared: the rows first, then the columns (core/winograd.ts).
 */
function transform(src: Float32Array, program: LinearProgram, inner: Float32Array, out: Float32Array): void {
  const n = program.inputs;
  const q = program.outputs.length;
  for (let i = 0; i < n; i++) runProgram(program, (j) => src[i * n + j]!).forEach((v, k) => (inner[i * q + k] = v));
  for (let k = 0; k < q; k++) runProgram(program, (i) => inner[i * q + k]!).forEach((v, p) => (out[p * q + k] = v));
}

/** Data transform: image [N, H, W, C] → [α², N·tH·tW, C], tile (ty, tx) at rows m·ty − padTop …, zero outside. */
function dataForward(out: TypedArray, x: TypedArray, c: number, p: PrimParams['winogradIn']): void {
  const { tile: m, batch: n, height: h, width: w, padTop: pt, padLeft: pl, tilesHigh: th, tilesWide: tw } = p;
  const { alpha, bt } = WINOGRAD[m];
  const entries = alpha * alpha;
  const tiles = n * th * tw;
  const d = new Float32Array(entries);
  const inner = new Float32Array(entries);
  const v = new Float32Array(entries);
  for (let b = 0; b < n; b++) {
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        const t = (b * th + ty) * tw + tx;
        for (let ch = 0; ch < c; ch++) {
          for (let i = 0; i < alpha; i++) {
            for (let j = 0; j < alpha; j++) {
              const y = m * ty + i - pt;
              const xx = m * tx + j - pl;
              d[i * alpha + j] = y >= 0 && y < h && xx >= 0 && xx < w ? x[((b * h + y) * w + xx) * c + ch]! : 0;
            }
          }
          transform(d, bt, inner, v);
          for (let e = 0; e < entries; e++) out[(e * tiles + t) * c + ch] = v[e]!;
        }
      }
    }
  }
}

/**
 * The data transform's adjoint: [α², N·tH·tW, C] → [N, H, W, C]. First each tile's contributions
 * P = B V Bᵀ (the program along V's rows, then down the columns), then each pixel gathers them from
 * the tiles that read it (at most 2 per axis), in tilesReading's order of its padded coordinates.
 */
function dataAdjoint(out: TypedArray, v: TypedArray, c: number, p: PrimParams['winogradIn']): void {
  const { tile: m, batch: n, height: h, width: w, padTop: pt, padLeft: pl, tilesHigh: th, tilesWide: tw } = p;
  const { alpha, b: adjointProgram } = WINOGRAD[m];
  const entries = alpha * alpha;
  const tiles = n * th * tw;
  const contributions = new Float32Array(tiles * entries * c); // [tiles, α², C]
  const src = new Float32Array(entries);
  const inner = new Float32Array(entries);
  const tileP = new Float32Array(entries);
  for (let t = 0; t < tiles; t++) {
    for (let ch = 0; ch < c; ch++) {
      for (let e = 0; e < entries; e++) src[e] = v[(e * tiles + t) * c + ch]!;
      transform(src, adjointProgram, inner, tileP);
      for (let e = 0; e < entries; e++) contributions[(t * entries + e) * c + ch] = tileP[e]!;
    }
  }
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          let first = true;
          for (const [ty, i] of tilesReading(y + pt, m)) {
            if (ty < 0 || ty >= th) continue;
            for (const [tx, j] of tilesReading(x + pl, m)) {
              if (tx < 0 || tx >= tw) continue;
              const contribution = contributions[(((b * th + ty) * tw + tx) * entries + alpha * i + j) * c + ch]!;
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
 * The output transform (`adjoint` false: [α², N·tH·tW, C] → [N, m·tH, m·tW, C], each tile Aᵀ M A) or
 * its adjoint (true: the reverse, A Y Aᵀ per tile; tiles do not overlap, so each is independent).
 */
function output(out: TypedArray, src: TypedArray, c: number, p: PrimParams['winogradOut']): void {
  const { tile: m, batch: n, tilesHigh: th, tilesWide: tw, adjoint } = p;
  const { alpha, at, a } = WINOGRAD[m];
  const tiles = n * th * tw;
  const tile = new Float32Array(adjoint ? m * m : alpha * alpha);
  const inner = new Float32Array(alpha * m);
  const result = new Float32Array(adjoint ? alpha * alpha : m * m);
  const w = m * tw;
  for (let b = 0; b < n; b++) {
    for (let ty = 0; ty < th; ty++) {
      for (let tx = 0; tx < tw; tx++) {
        const t = (b * th + ty) * tw + tx;
        // The m×m pixels of tile t, and its α² transformed entries, for channel ch.
        const pixel = (r: number, s: number, ch: number): number => ((b * m * th + m * ty + r) * w + m * tx + s) * c + ch;
        const entry = (e: number, ch: number): number => (e * tiles + t) * c + ch;
        for (let ch = 0; ch < c; ch++) {
          if (adjoint) {
            for (let r = 0; r < m; r++) for (let s = 0; s < m; s++) tile[r * m + s] = src[pixel(r, s, ch)]!;
            transform(tile, a, inner, result);
            for (let e = 0; e < alpha * alpha; e++) out[entry(e, ch)] = result[e]!;
          } else {
            for (let e = 0; e < alpha * alpha; e++) tile[e] = src[entry(e, ch)]!;
            transform(tile, at, inner, result);
            for (let r = 0; r < m; r++) for (let s = 0; s < m; s++) out[pixel(r, s, ch)] = result[r * m + s]!;
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
  output(out, x, shape[shape.length - 1]!, p);
}
