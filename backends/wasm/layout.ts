/**
 * Layout kernels in wasm: im2col and its adjoint col2im (NHWC patches, kernel row, kernel column,
 * channel order, as the CPU backend). Each patch row is a run of `channels` contiguous floats, copied
 * (or added, for col2im) four lanes at a time; col2im visits patches in the CPU kernel's order, so
 * overlapping patches add up in the same order and the results agree bit for bit.
 */
import type { Code, Local, ModuleBuilder } from './assembler';

/** dst[0..n) = src[0..n) (floats), or dst += src when `add`; pointers advance past the run. */
function emitRun(c: Code, dst: Local, src: Local, n: Local, i: Local, add: boolean): void {
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
 * Export `im2col(out, x, n, h, w, c, kh, kw, sh, sw, pt, pl, ho, wo, dh, dw)` and
 * `col2im(out, cols, …same…)` (out is [n, h, w, c] and is zeroed first). Pointers in bytes.
 */
export function emitLayout(m: ModuleBuilder): void {
  const params = Array.from({ length: 16 }, () => 'i32' as const);
  for (const kind of ['im2col', 'col2im'] as const) {
    m.func(kind, { params }, (c, out, x, n, h, w, ch, kh, kw, sh, sw, pt, pl, ho, wo, dh, dw) => {
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
      // cols walks the patch matrix in order; img points into the image.
      c.localGet(kind === 'im2col' ? out : x).localSet(cols);
      if (kind === 'col2im') {
        c.localGet(n).localGet(h).i32Mul().localGet(w).i32Mul().localGet(ch).i32Mul().localSet(total);
        c.localGet(out).localSet(img);
        emitZero(c, img, total, i);
      }
      c.forRange(b, { const: 0 }, n, 1, () => {
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
