/**
 * Batched matrix product, GotoBLAS-style. For each block of KC rows of B and NC of its columns, B is
 * packed into column panels NR wide; for each block of MC rows of A, A is packed into row panels MR
 * tall; then a register-blocked MR×NR micro-kernel runs over every pair of panels, accumulating in
 * locals. The transposes are absorbed by the packing, so `Aᵀ B` and `A Bᵀ` cost what `A B` costs.
 * Tiny products and matrix-vector products skip the packing (`direct`), which would cost more than
 * it saves there.
 *
 * Why these choices (measured on a Zen 5 core with Node 20, where V8 compiles the micro-kernel to
 * scalar SSE code with ~15 usable XMM registers):
 * - 4×4 tiles: 16 accumulators. 4×8, 8×4, 3×8 and 6×4 spill more and were no faster; 2×4 loads too
 *   often per multiply-add. Every shape measured landed at 4.5–6 GFLOP/s: the loop is bound by V8's
 *   per-load bounds checks and spills, not by the FPU.
 * - Panels are Float64Array: the micro-kernel then loads doubles directly instead of converting each
 *   float32 load (~20% faster than float32 panels). Accumulation is in float64 either way.
 * - The panels are fixed-size arrays captured as constants by the closure that holds the kernels, so
 *   V8 compiles their bounds checks against constants and drops the per-iteration map checks it
 *   does for array parameters (~10%). Fixed size is what the KC/MC/NC blocking gives anyway.
 * - Blocks are split evenly (784 = 4 × 196, not 3 × 256 + 16), so no block is a sliver.
 */

const MR = 4;
const NR = 4;
const KC = 256;
const MC = 96;
const NC = 1024;

/** Below this many multiply-adds the packing costs more than it saves. */
const DIRECT_MAX = 8 * 1024;

export interface MatmulArgs {
  a: Float32Array;
  b: Float32Array;
  out: Float32Array;
  /** Batch of the output; `batchA` / `batchB` are the operands' batches (1 broadcasts). */
  batch: number;
  batchA: number;
  batchB: number;
  m: number;
  n: number;
  k: number;
  /** A is stored [batchA, k, m] (else [batchA, m, k]). */
  transA: boolean;
  /** B is stored [batchB, n, k] (else [batchB, k, n]). */
  transB: boolean;
}

type Gemm = (args: MatmulArgs) => void;

let gemm: Gemm | null = null;

/** out[t] = op(a)[t] · op(b)[t] for every batch entry t. */
export function matmul(args: MatmulArgs): void {
  const { a, b, out, batch, batchA, batchB, m, n, k, transA, transB } = args;
  if (m === 0 || n === 0) return;
  if (k === 0) {
    out.fill(0, 0, batch * m * n);
    return;
  }
  if (m === 1 || n === 1 || m * n * k <= DIRECT_MAX) {
    for (let t = 0; t < batch; t++) {
      direct(a, batchA === 1 ? 0 : t * m * k, b, batchB === 1 ? 0 : t * k * n, out, t * m * n, m, n, k, transA, transB);
    }
    return;
  }
  (gemm ??= createGemm())(args);
}

/** Split `total` into the fewest near-equal blocks of at most `max` (a multiple of `align` where possible). */
function blockSize(total: number, max: number, align: number): number {
  const blocks = Math.ceil(total / max);
  return Math.min(max, Math.ceil(total / blocks / align) * align);
}

function createGemm(): Gemm {
  const packedA = new Float64Array(MC * KC);
  const packedB = new Float64Array(KC * NC);
  const edge = new Float32Array(MR * NR);

  /** Rows [i0, i0+mc) × depth [p0, p0+kc) of op(A) as panels of MR rows, depth-major; missing rows are 0. */
  function packA(a: Float32Array, off: number, trans: boolean, m: number, k: number, i0: number, mc: number, p0: number, kc: number): void {
    for (let ir = 0; ir < mc; ir += MR) {
      const rows = Math.min(MR, mc - ir);
      const base = ir * kc;
      if (trans) {
        // A stored [k, m]: each depth step reads MR neighbouring values.
        for (let p = 0; p < kc; p++) {
          const src = off + (p0 + p) * m + i0 + ir;
          const dst = base + p * MR;
          for (let r = 0; r < rows; r++) packedA[dst + r] = a[src + r]!;
          for (let r = rows; r < MR; r++) packedA[dst + r] = 0;
        }
      } else {
        for (let r = 0; r < MR; r++) {
          if (r < rows) {
            const src = off + (i0 + ir + r) * k + p0;
            for (let p = 0; p < kc; p++) packedA[base + p * MR + r] = a[src + p]!;
          } else {
            for (let p = 0; p < kc; p++) packedA[base + p * MR + r] = 0;
          }
        }
      }
    }
  }

  /** Depth [p0, p0+kc) × columns [j0, j0+nc) of op(B) as panels of NR columns, depth-major; missing columns are 0. */
  function packB(b: Float32Array, off: number, trans: boolean, n: number, k: number, p0: number, kc: number, j0: number, nc: number): void {
    for (let jr = 0; jr < nc; jr += NR) {
      const cols = Math.min(NR, nc - jr);
      const base = jr * kc;
      if (trans) {
        // B stored [n, k]: each column is contiguous in depth.
        for (let q = 0; q < NR; q++) {
          if (q < cols) {
            const src = off + (j0 + jr + q) * k + p0;
            for (let p = 0; p < kc; p++) packedB[base + p * NR + q] = b[src + p]!;
          } else {
            for (let p = 0; p < kc; p++) packedB[base + p * NR + q] = 0;
          }
        }
      } else {
        for (let p = 0; p < kc; p++) {
          const src = off + (p0 + p) * n + j0 + jr;
          const dst = base + p * NR;
          for (let q = 0; q < cols; q++) packedB[dst + q] = b[src + q]!;
          for (let q = cols; q < NR; q++) packedB[dst + q] = 0;
        }
      }
    }
  }

  /** c[co + r·ldc + q] += Σ_p packedA[ao + p·MR + r] · packedB[bo + p·NR + q] for the 4×4 tile. */
  function micro(kc: number, ao: number, bo: number, c: Float32Array, co: number, ldc: number): void {
    let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
    let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
    let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
    let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
    for (let p = 0; p < kc; p++) {
      const a0 = packedA[ao]!, a1 = packedA[ao + 1]!, a2 = packedA[ao + 2]!, a3 = packedA[ao + 3]!;
      const b0 = packedB[bo]!, b1 = packedB[bo + 1]!, b2 = packedB[bo + 2]!, b3 = packedB[bo + 3]!;
      c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
      c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
      c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
      c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
      ao += MR;
      bo += NR;
    }
    c[co] += c00; c[co + 1] += c01; c[co + 2] += c02; c[co + 3] += c03; co += ldc;
    c[co] += c10; c[co + 1] += c11; c[co + 2] += c12; c[co + 3] += c13; co += ldc;
    c[co] += c20; c[co + 1] += c21; c[co + 2] += c22; c[co + 3] += c23; co += ldc;
    c[co] += c30; c[co + 1] += c31; c[co + 2] += c32; c[co + 3] += c33;
  }

  return ({ a, b, out, batch, batchA, batchB, m, n, k, transA, transB }) => {
    const kb = blockSize(k, KC, 1);
    const mb = blockSize(m, MC, MR);
    const nb = blockSize(n, NC, NR);
    // A B shared by the whole batch that fits one block is packed once.
    const packBOnce = batchB === 1 && k <= kb && n <= nb;
    for (let t = 0; t < batch; t++) {
      const aOff = batchA === 1 ? 0 : t * m * k;
      const bOff = batchB === 1 ? 0 : t * k * n;
      const cOff = t * m * n;
      out.fill(0, cOff, cOff + m * n);
      for (let j0 = 0; j0 < n; j0 += nb) {
        const nc = Math.min(nb, n - j0);
        for (let p0 = 0; p0 < k; p0 += kb) {
          const kc = Math.min(kb, k - p0);
          if (!packBOnce || t === 0) packB(b, bOff, transB, n, k, p0, kc, j0, nc);
          for (let i0 = 0; i0 < m; i0 += mb) {
            const mc = Math.min(mb, m - i0);
            packA(a, aOff, transA, m, k, i0, mc, p0, kc);
            for (let jr = 0; jr < nc; jr += NR) {
              const cols = Math.min(NR, nc - jr);
              for (let ir = 0; ir < mc; ir += MR) {
                const rows = Math.min(MR, mc - ir);
                const co = cOff + (i0 + ir) * n + j0 + jr;
                if (rows === MR && cols === NR) {
                  micro(kc, ir * kc, jr * kc, out, co, n);
                } else {
                  edge.fill(0);
                  micro(kc, ir * kc, jr * kc, edge, 0, NR);
                  for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) out[co + r * n + q] += edge[r * NR + q]!;
                }
              }
            }
          }
        }
      }
    }
  };
}

let directRow = new Float64Array(64);

/** Unpacked loops for small and matrix-vector products, accumulating in float64. */
function direct(a: Float32Array, aOff: number, b: Float32Array, bOff: number, c: Float32Array, cOff: number, m: number, n: number, k: number, transA: boolean, transB: boolean): void {
  // op(A)[i, p] = a[aOff + i·ars + p·aps]
  const ars = transA ? 1 : k;
  const aps = transA ? m : 1;
  if (!transB && n > 1) {
    // Row i of C is Σ_p op(A)[i, p] · (row p of B): rows of B are contiguous.
    if (directRow.length < n) directRow = new Float64Array(Math.max(n, directRow.length * 2));
    const acc = directRow;
    for (let i = 0; i < m; i++) {
      acc.fill(0, 0, n);
      for (let p = 0; p < k; p++) {
        const av = a[aOff + i * ars + p * aps]!;
        const row = bOff + p * n;
        for (let j = 0; j < n; j++) acc[j] += av * b[row + j]!;
      }
      const dst = cOff + i * n;
      for (let j = 0; j < n; j++) c[dst + j] = acc[j]!;
    }
  } else {
    // B stored [n, k] (or a single column): C[i, j] is the dot product of a row of op(A) with the
    // contiguous column j of op(B).
    for (let i = 0; i < m; i++) {
      const ai = aOff + i * ars;
      for (let j = 0; j < n; j++) {
        const bj = bOff + j * k;
        let s = 0;
        for (let p = 0; p < k; p++) s += a[ai + p * aps]! * b[bj + p]!;
        c[cOff + i * n + j] = s;
      }
    }
  }
}
