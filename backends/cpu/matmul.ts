/**
 * Batched matrix product, GotoBLAS-style: B is packed into column panels of NR, A into row panels of
 * MR (the transposes are absorbed by the packing, so `Aᵀ B` and `A Bᵀ` cost what `A B` costs), and a
 * register-blocked MR×NR micro-kernel accumulates in locals. Nothing is allocated in the loops: the
 * panels are scratch buffers reused across calls.
 */
import { scratchF32 } from './pool';

const MR = 4;
const NR = 8;
const KC = 256;
const MC = 64;

export interface MatmulArgs {
  a: Float32Array;
  b: Float32Array;
  out: Float32Array;
  batch: number;
  batchA: number;
  batchB: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
}

export function matmul({ a, b, out, batch, batchA, batchB, m, n, k, transA, transB }: MatmulArgs): void {
  const nPad = Math.ceil(n / NR) * NR;
  const bp = scratchF32('matmul.b', KC * nPad);
  const ap = scratchF32('matmul.a', MC * KC);
  for (let t = 0; t < batch; t++) {
    const aOff = batchA === 1 ? 0 : t * m * k;
    const bOff = batchB === 1 ? 0 : t * k * n;
    const cOff = t * m * n;
    if (k === 0) {
      out.fill(0, cOff, cOff + m * n);
      continue;
    }
    for (let kk = 0; kk < k; kk += KC) {
      const kc = Math.min(KC, k - kk);
      packB(b, bOff, bp, kk, kc, k, n, transB);
      for (let ii = 0; ii < m; ii += MC) {
        const mc = Math.min(MC, m - ii);
        packA(a, aOff, ap, ii, mc, kk, kc, m, k, transA);
        for (let jr = 0; jr < n; jr += NR) {
          for (let ir = 0; ir < mc; ir += MR) {
            micro(kc, ap, ir * kc, bp, jr * kc, out, cOff, ii + ir, jr, m, n, kk > 0);
          }
        }
      }
    }
  }
}

/** Panel j holds columns [j·NR, j·NR + NR) of the kc×n slice, row after row; missing columns are 0. */
function packB(b: Float32Array, off: number, bp: Float32Array, kk: number, kc: number, k: number, n: number, trans: boolean): void {
  for (let j0 = 0; j0 < n; j0 += NR) {
    const base = j0 * kc;
    const cols = Math.min(NR, n - j0);
    for (let p = 0; p < kc; p++) {
      const dst = base + p * NR;
      const row = kk + p;
      if (!trans) {
        const src = off + row * n + j0;
        for (let c = 0; c < cols; c++) bp[dst + c] = b[src + c]!;
      } else {
        // B stored as [n, k]
        for (let c = 0; c < cols; c++) bp[dst + c] = b[off + (j0 + c) * k + row]!;
      }
      for (let c = cols; c < NR; c++) bp[dst + c] = 0;
    }
  }
}

/** Panel i holds rows [i·MR, i·MR + MR) of the mc×kc block, column after column; missing rows are 0. */
function packA(a: Float32Array, off: number, ap: Float32Array, ii: number, mc: number, kk: number, kc: number, m: number, k: number, trans: boolean): void {
  for (let i0 = 0; i0 < mc; i0 += MR) {
    const base = i0 * kc;
    const rows = Math.min(MR, mc - i0);
    for (let r = 0; r < MR; r++) {
      const row = ii + i0 + r;
      if (r >= rows) {
        for (let p = 0; p < kc; p++) ap[base + p * MR + r] = 0;
      } else if (!trans) {
        const src = off + row * k + kk;
        for (let p = 0; p < kc; p++) ap[base + p * MR + r] = a[src + p]!;
      } else {
        // A stored as [k, m]
        for (let p = 0; p < kc; p++) ap[base + p * MR + r] = a[off + (kk + p) * m + row]!;
      }
    }
  }
}

function micro(kc: number, ap: Float32Array, ao: number, bp: Float32Array, bo: number, c: Float32Array, cOff: number, i: number, j: number, m: number, n: number, accumulate: boolean): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  for (let p = 0; p < kc; p++) {
    const a0 = ap[ao]!, a1 = ap[ao + 1]!, a2 = ap[ao + 2]!, a3 = ap[ao + 3]!;
    const b0 = bp[bo]!, b1 = bp[bo + 1]!, b2 = bp[bo + 2]!, b3 = bp[bo + 3]!;
    const b4 = bp[bo + 4]!, b5 = bp[bo + 5]!, b6 = bp[bo + 6]!, b7 = bp[bo + 7]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3; c04 += a0 * b4; c05 += a0 * b5; c06 += a0 * b6; c07 += a0 * b7;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3; c14 += a1 * b4; c15 += a1 * b5; c16 += a1 * b6; c17 += a1 * b7;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3; c24 += a2 * b4; c25 += a2 * b5; c26 += a2 * b6; c27 += a2 * b7;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3; c34 += a3 * b4; c35 += a3 * b5; c36 += a3 * b6; c37 += a3 * b7;
    ao += MR;
    bo += NR;
  }
  const rows = Math.min(MR, m - i);
  const cols = Math.min(NR, n - j);
  if (rows === MR && cols === NR) {
    let o = cOff + i * n + j;
    if (accumulate) {
      c[o] += c00; c[o + 1] += c01; c[o + 2] += c02; c[o + 3] += c03; c[o + 4] += c04; c[o + 5] += c05; c[o + 6] += c06; c[o + 7] += c07; o += n;
      c[o] += c10; c[o + 1] += c11; c[o + 2] += c12; c[o + 3] += c13; c[o + 4] += c14; c[o + 5] += c15; c[o + 6] += c16; c[o + 7] += c17; o += n;
      c[o] += c20; c[o + 1] += c21; c[o + 2] += c22; c[o + 3] += c23; c[o + 4] += c24; c[o + 5] += c25; c[o + 6] += c26; c[o + 7] += c27; o += n;
      c[o] += c30; c[o + 1] += c31; c[o + 2] += c32; c[o + 3] += c33; c[o + 4] += c34; c[o + 5] += c35; c[o + 6] += c36; c[o + 7] += c37;
    } else {
      c[o] = c00; c[o + 1] = c01; c[o + 2] = c02; c[o + 3] = c03; c[o + 4] = c04; c[o + 5] = c05; c[o + 6] = c06; c[o + 7] = c07; o += n;
      c[o] = c10; c[o + 1] = c11; c[o + 2] = c12; c[o + 3] = c13; c[o + 4] = c14; c[o + 5] = c15; c[o + 6] = c16; c[o + 7] = c17; o += n;
      c[o] = c20; c[o + 1] = c21; c[o + 2] = c22; c[o + 3] = c23; c[o + 4] = c24; c[o + 5] = c25; c[o + 6] = c26; c[o + 7] = c27; o += n;
      c[o] = c30; c[o + 1] = c31; c[o + 2] = c32; c[o + 3] = c33; c[o + 4] = c34; c[o + 5] = c35; c[o + 6] = c36; c[o + 7] = c37;
    }
    return;
  }
  const block = [
    c00, c01, c02, c03, c04, c05, c06, c07,
    c10, c11, c12, c13, c14, c15, c16, c17,
    c20, c21, c22, c23, c24, c25, c26, c27,
    c30, c31, c32, c33, c34, c35, c36, c37,
  ];
  for (let r = 0; r < rows; r++) {
    const o = cOff + (i + r) * n + j;
    for (let q = 0; q < cols; q++) {
      if (accumulate) c[o + q] += block[r * NR + q]!;
      else c[o + q] = block[r * NR + q]!;
    }
  }
}
