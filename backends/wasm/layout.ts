/**
 * Layout kernels in wasm: im2col and its adjoint col2im (NHWC patches, kernel row, kernel column,
 * channel order, as the CPU backend). Each patch row is a run of `channels` contiguous floats, copied
 * (or added, for col2im) four lanes at a time; col2im visits patches in the CPU kernel's order, so
 * overlapping patches add up in the same order and the results agree bit for bit.
 */
import type { Code, Local, ModuleBuilder } from './assembler.js';
import { transpose4 } from './matmul.js';

/** dst[0..n) = src[0..n) (floats), or dst += src when `add`; pointers advance past the run. */
export function emitRun(c: Code, dst: Local, src: Local, n: Local, i: Local, add: boolean): void {
  c.i32Const(0).localSet(i);
  c.block((exit) => {
    c.loop((top) => {
      c.localGet(i).i32Const(4).i32Add().localGet(n).i32GtS().brIf(exit);
      c.localGet(dst);
      if (add) c.localGet(dst).v128Load();
      c.localGet(src).v128Load();
      if (add) c.f32x4Add();
      c.v128Store();
      c.localGet(dst).i32Const(16).i32Add().localSet(dst);
      c.localGet(src).i32Const(16).i32Add().localSet(src);
      c.localGet(i).i32Const(4).i32Add().localSet(i).br(top);
    });
  });
  c.block((exit) => {
    c.loop((top) => {
      c.localGet(i).localGet(n).i32GeS().brIf(exit);
      c.localGet(dst);
      if (add) c.localGet(dst).f32Load();
      c.localGet(src).f32Load();
      if (add) c.f32Add();
      c.f32Store();
      c.localGet(dst).i32Const(4).i32Add().localSet(dst);
      c.localGet(src).i32Const(4).i32Add().localSet(src);
      c.localGet(i).i32Const(1).i32Add().localSet(i).br(top);
    });
  });
}

/** dst[0..n) = 0 (floats); dst advances. */
function emitZero(c: Code, dst: Local, n: Local, i: Local): void {
  c.forRange(i, { const: 0 }, n, 1, () => {
    c.localGet(dst).f32Const(0).f32Store();
    c.localGet(dst).i32Const(4).i32Add().localSet(dst);
  });
}

/**
 * Export `im2col(out, x, lo, hi, h, w, c, kh, kw, sh, sw, pt, pl, ho, wo, dh, dw)` and
 * `col2im(out, cols, …same…)` (out is [n, h, w, c]; its images [lo, hi) are zeroed first), for the
 * images [lo, hi) of the batch: images are independent, so threads take ranges of them. Pointers in
 * bytes.
 */
export function emitLayout(m: ModuleBuilder): void {
  const params = Array.from({ length: 17 }, () => 'i32' as const);
  for (const kind of ['im2col', 'col2im'] as const) {
    m.func(kind, { params }, (c, out, x, lo, hi, h, w, ch, kh, kw, sh, sw, pt, pl, ho, wo, dh, dw) => {
      const b = c.local('i32');
      const y = c.local('i32');
      const xo = c.local('i32');
      const ky = c.local('i32');
      const kx = c.local('i32');
      const iy = c.local('i32');
      const ix = c.local('i32');
      const cols = c.local('i32');
      const img = c.local('i32');
      const i = c.local('i32');
      const total = c.local('i32');
      // cols walks the patch matrix in order from image lo; img points into the image.
      c.localGet(kind === 'im2col' ? out : x);
      c.localGet(lo).localGet(ho).i32Mul().localGet(wo).i32Mul().localGet(kh).i32Mul().localGet(kw).i32Mul().localGet(ch).i32Mul().i32Const(4).i32Mul();
      c.i32Add().localSet(cols);
      if (kind === 'col2im') {
        c.localGet(hi).localGet(lo).i32Sub().localGet(h).i32Mul().localGet(w).i32Mul().localGet(ch).i32Mul().localSet(total);
        c.localGet(out).localGet(lo).localGet(h).i32Mul().localGet(w).i32Mul().localGet(ch).i32Mul().i32Const(4).i32Mul().i32Add().localSet(img);
        emitZero(c, img, total, i);
      }
      c.forRange(b, lo, hi, 1, () => {
        c.forRange(y, { const: 0 }, ho, 1, () => {
          c.forRange(xo, { const: 0 }, wo, 1, () => {
            c.forRange(ky, { const: 0 }, kh, 1, () => {
              c.localGet(y).localGet(sh).i32Mul().localGet(pt).i32Sub().localGet(ky).localGet(dh).i32Mul().i32Add().localSet(iy);
              c.forRange(kx, { const: 0 }, kw, 1, () => {
                c.localGet(xo).localGet(sw).i32Mul().localGet(pl).i32Sub().localGet(kx).localGet(dw).i32Mul().i32Add().localSet(ix);
                // inside = 0 ≤ iy < h and 0 ≤ ix < w (unsigned compares fold the sign test in)
                c.localGet(iy).localGet(h).i32LtU().localGet(ix).localGet(w).i32LtU().i32And();
                c.if(
                  () => {
                    // img = base + ((b·h + iy)·w + ix)·c·4
                    c.localGet(kind === 'im2col' ? x : out);
                    c.localGet(b).localGet(h).i32Mul().localGet(iy).i32Add().localGet(w).i32Mul().localGet(ix).i32Add().localGet(ch).i32Mul().i32Const(4).i32Mul();
                    c.i32Add().localSet(img);
                    if (kind === 'im2col') emitRun(c, cols, img, ch, i, false);
                    else emitRun(c, img, cols, ch, i, true);
                  },
                  () => {
                    if (kind === 'im2col') emitZero(c, cols, ch, i);
                    else c.localGet(cols).localGet(ch).i32Const(4).i32Mul().i32Add().localSet(cols);
                  },
                );
              });
            });
          });
        });
      });
    });
  }
}

/**
 * Export `transpose32(out, x, rows, cols, xLd, outLd)` for 4-byte elements:
 * out[i·outLd + 4j] = x[4i + j·xLd] for i < rows, j < cols (strides in bytes). The output's rows are
 * the input's columns; 4×4 blocks go through registers (four loads, a register transpose, four
 * stores), the ragged edges element by element.
 */
export function emitTranspose(m: ModuleBuilder): void {
  m.func('transpose32', { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'] }, (c, out, x, rows, cols, xLd, outLd) => {
    const i = c.local('i32');
    const j = c.local('i32');
    const src = c.local('i32');
    const dst = c.local('i32');
    const rows4 = c.local('i32');
    const cols4 = c.local('i32');
    const r = [c.local('v128'), c.local('v128'), c.local('v128'), c.local('v128')];
    const t = [c.local('v128'), c.local('v128'), c.local('v128'), c.local('v128')];
    c.localGet(rows).i32Const(-4).i32And().localSet(rows4);
    c.localGet(cols).i32Const(-4).i32And().localSet(cols4);
    // base + a·aStride + b·bStride (a stride is a local or a constant; locals are numbers too, hence the wrapper).
    type Stride = Local | { const: number };
    const push = (v: Stride): void => void (typeof v === 'object' ? c.i32Const(v.const) : c.localGet(v));
    const addr = (base: Local, a: Local, aStride: Stride, b: Local, bStride: Stride): void => {
      c.localGet(base).localGet(a);
      push(aStride);
      c.i32Mul().i32Add().localGet(b);
      push(bStride);
      c.i32Mul().i32Add();
    };
    const four = { const: 4 };
    c.forRange(i, { const: 0 }, rows4, 4, () => {
      c.forRange(j, { const: 0 }, cols4, 4, () => {
        // r[k] = x[i..i+4, j+k] (contiguous in the input), transposed to r[k] = out row i+k, columns j..j+4.
        addr(x, i, four, j, xLd);
        c.localSet(src);
        for (let k = 0; k < 4; k++) {
          c.localGet(src).v128Load().localSet(r[k]!);
          c.localGet(src).localGet(xLd).i32Add().localSet(src);
        }
        transpose4(c, r, t);
        addr(out, i, outLd, j, four);
        c.localSet(dst);
        for (let k = 0; k < 4; k++) {
          c.localGet(dst).localGet(r[k]!).v128Store();
          c.localGet(dst).localGet(outLd).i32Add().localSet(dst);
        }
      });
    });
    // Ragged edges: the last rows % 4 rows (all columns), then the last cols % 4 columns of the other rows.
    const one = (): void => {
      addr(out, i, outLd, j, four);
      addr(x, i, four, j, xLd);
      c.f32Load().f32Store();
    };
    c.forRange(i, rows4, rows, 1, () => c.forRange(j, { const: 0 }, cols, 1, one));
    c.forRange(i, { const: 0 }, rows4, 1, () => c.forRange(j, cols4, cols, 1, one));
  });
}

/**
 * Export `copy_block(dst, dstStride, src, srcStride, lo, hi, rowLen)` for 4-byte elements: rows
 * [lo, hi) of `rowLen` contiguous elements, row r from src + r·srcStride to dst + r·dstStride
 * (strides in bytes); four lanes at a time, then a scalar tail. Concatenation writes each input's
 * rows into its columns of the output this way (threads split the rows).
 */
export function emitCopyBlock(m: ModuleBuilder): void {
  m.func('copy_block', { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'] }, (c, dst, dstStride, src, srcStride, lo, hi, rowLen) => {
    const r = c.local('i32');
    const d = c.local('i32');
    const s = c.local('i32');
    const i = c.local('i32');
    c.forRange(r, lo, hi, 1, () => {
      c.localGet(dst).localGet(r).localGet(dstStride).i32Mul().i32Add().localSet(d);
      c.localGet(src).localGet(r).localGet(srcStride).i32Mul().i32Add().localSet(s);
      emitRun(c, d, s, rowLen, i, false);
    });
  });
}

/**
 * Export `copy_rows(out, x, inner, innerStride, rank, meta)` for 4-byte elements: the output is
 * contiguous rows of `inner` elements; row r of the output reads `inner` elements of x, `innerStride`
 * bytes apart, from the row whose outer index (i₀ … i_{rank−1}) is r in row-major order, at byte
 * offset Σ iₖ·strideₖ. `meta` holds rank dims, then rank byte strides, then rank words of counter
 * space (i32 each). A contiguous row (stride 4) is copied four lanes at a time; a broadcast one
 * (stride 0) is a splat; any other stride is gathered element by element.
 */
export function emitCopyRows(m: ModuleBuilder): void {
  m.func('copy_rows', { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'] }, (c, out, x, inner, innerStride, rank, meta) => {
    const src = c.local('i32');
    const p = c.local('i32');
    const i = c.local('i32');
    const k = c.local('i32');
    const idx = c.local('i32');
    const v = c.local('v128');
    const rank4 = c.local('i32');
    c.localGet(rank).i32Const(4).i32Mul().localSet(rank4);
    // counters = 0
    c.forRange(k, { const: 0 }, rank, 1, () => {
      c.localGet(meta).localGet(rank4).i32Const(2).i32Mul().i32Add().localGet(k).i32Const(4).i32Mul().i32Add().i32Const(0).i32Store();
    });
    c.localGet(x).localSet(src);
    c.block((done) => {
      c.loop((row) => {
        c.localGet(src).localSet(p);
        c.i32Const(0).localSet(i);
        c.localGet(innerStride).i32Const(4).i32Eq();
        c.if(
          () => {
            c.block((exit) => {
              c.loop((top) => {
                c.localGet(i).i32Const(4).i32Add().localGet(inner).i32GtS().brIf(exit);
                c.localGet(out).localGet(p).v128Load().v128Store();
                c.localGet(out).i32Const(16).i32Add().localSet(out);
                c.localGet(p).i32Const(16).i32Add().localSet(p);
                c.localGet(i).i32Const(4).i32Add().localSet(i).br(top);
              });
            });
          },
          () => {
            c.localGet(innerStride).i32Eqz();
            c.if(() => {
              c.localGet(p).v128Load32Splat().localSet(v);
              c.block((exit) => {
                c.loop((top) => {
                  c.localGet(i).i32Const(4).i32Add().localGet(inner).i32GtS().brIf(exit);
                  c.localGet(out).localGet(v).v128Store();
                  c.localGet(out).i32Const(16).i32Add().localSet(out);
                  c.localGet(i).i32Const(4).i32Add().localSet(i).br(top);
                });
              });
            });
          },
        );
        // The rest (or every element of a gathered row) one at a time.
        c.block((exit) => {
          c.loop((top) => {
            c.localGet(i).localGet(inner).i32GeS().brIf(exit);
            c.localGet(out).localGet(p).f32Load().f32Store();
            c.localGet(out).i32Const(4).i32Add().localSet(out);
            c.localGet(p).localGet(innerStride).i32Add().localSet(p);
            c.localGet(i).i32Const(1).i32Add().localSet(i).br(top);
          });
        });
        // Next row: an odometer over the outer axes, last axis fastest.
        c.localGet(rank).localSet(k);
        c.loop((carry) => {
          c.localGet(k).i32Eqz().brIf(done);
          c.localGet(k).i32Const(1).i32Sub().localSet(k);
          // idx = meta + 2·rank4 + 4k (the counter's address)
          c.localGet(meta).localGet(rank4).i32Const(2).i32Mul().i32Add().localGet(k).i32Const(4).i32Mul().i32Add().localSet(idx);
          c.localGet(idx).localGet(idx).i32Load().i32Const(1).i32Add().i32Store();
          c.localGet(src).localGet(meta).localGet(rank4).i32Add().localGet(k).i32Const(4).i32Mul().i32Add().i32Load().i32Add().localSet(src);
          c.localGet(idx).i32Load().localGet(meta).localGet(k).i32Const(4).i32Mul().i32Add().i32Load().i32LtS().brIf(row);
          // wrapped: src −= stride·dim, counter = 0, carry into the axis before
          c.localGet(src);
          c.localGet(meta).localGet(rank4).i32Add().localGet(k).i32Const(4).i32Mul().i32Add().i32Load();
          c.localGet(meta).localGet(k).i32Const(4).i32Mul().i32Add().i32Load();
          c.i32Mul().i32Sub().localSet(src);
          c.localGet(idx).i32Const(0).i32Store();
          c.br(carry);
        });
      });
    });
  });
}
