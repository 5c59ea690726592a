/**
 * The Winograd F(m×m, 3×3) transforms (m = 2, 4) in wasm SIMD (see core/winograd.ts): channels are
 * innermost (NHWC, and [α², tiles, C]), so every transform runs four channels at a time with a scalar
 * tail, as straight-line code generated from the programs' signed sums, in their order: the CPU's bits exactly.
 *
 * Exports per m (pointers in bytes; [lo, hi) is the range threads split):
 * - `winogradInFwd<m>(out, x, lo, hi, h, w, c, th, tw, tiles, pt, pl, zero)`: rows of tiles [lo, hi)
 *   of n·th; points outside the image read `zero`, c zero floats;
 * - `winogradInAdjTiles<m>(p, v, lo, hi, th, tw, c, tiles)`: rows of tiles [lo, hi) of n·th, each
 *   tile's α² contributions to the image, P [tiles, α², C];
 * - `winogradInAdj<m>(out, p, lo, hi, h, w, c, th, tw, tiles, pt, pl)`: image pixel rows [lo, hi) of
 *   n·h, each pixel adding the contributions of the tiles that read it (no two threads write one pixel);
 * - `winogradOutFwd<m>(out, m, lo, hi, th, tw, c, tiles)` and `winogradOutAdj<m>(out, g, …)`: rows of
 *   tiles [lo, hi) of n·th (output tiles do not overlap).
 */
import { WINOGRAD, type LinearProgram, type SignedSum, type WinogradTile } from '../../core/index.js';
import { SIMD, type Code, type Local, type ModuleBuilder } from './assembler.js';

type Lane = 'v' | 's';

/**
 * Push a signed sum of values pushed by `term`, folded left to right as `signedSum` does: each term
 * times |coefficient| (a power of two: exact), then added or subtracted by its sign.
 */
function emitSum(c: Code, lane: Lane, sum: SignedSum, term: (i: number) => void): void {
  const scaled = (i: number, coefficient: number): void => {
    term(i);
    const k = Math.abs(coefficient);
    if (k === 1) return;
    if (lane === 'v') c.f32x4Const(k).f32x4Mul();
    else c.f32Const(k).f32Mul();
  };
  scaled(sum[0]![0], sum[0]![1]);
  if (sum[0]![1] < 0) {
    if (lane === 'v') c.v(SIMD.f32x4Neg);
    else c.f32Neg();
  }
  for (const [i, s] of sum.slice(1)) {
    scaled(i, s);
    if (lane === 'v') {
      if (s > 0) c.f32x4Add();
      else c.f32x4Sub();
    } else if (s > 0) c.f32Add();
    else c.f32Sub();
  }
}

const load = (c: Code, lane: Lane): Code => (lane === 'v' ? c.v128Load() : c.f32Load());
const store = (c: Code, lane: Lane): Code => (lane === 'v' ? c.v128Store() : c.f32Store());

/**
 * Run `program` (core/winograd.ts) with `input(v)` pushing input v: each step's sum into a local of
 * `temps`; returns a function pushing value v (an input or a step's result).
 */
function emitProgram(c: Code, lane: Lane, program: LinearProgram, input: (v: number) => void, temps: readonly Local[]): (v: number) => void {
  const value = (v: number): void => {
    if (v < program.inputs) input(v);
    else c.localGet(temps[v - program.inputs]!);
  };
  program.steps.forEach((step, k) => {
    emitSum(c, lane, step, value);
    c.localSet(temps[k]!);
  });
  return value;
}

/** A transform's locals of one lane kind: a row of sources, the rows' outputs, a program's steps. */
interface TransformLocals {
  readonly row: readonly Local[];
  readonly inner: readonly Local[];
  readonly temps: readonly Local[];
}

/** Locals for `emitTransform` on α×α tiles, vector and scalar: α sources, α² inner values, `steps` temporaries. */
function transformLocals(c: Code, alpha: number, steps: number): Record<Lane, TransformLocals> {
  const make = (type: 'v128' | 'f32'): TransformLocals => ({
    row: Array.from({ length: alpha }, () => c.local(type)),
    inner: Array.from({ length: alpha * alpha }, () => c.local(type)),
    temps: Array.from({ length: steps }, () => c.local(type)),
  });
  return { v: make('v128'), s: make('f32') };
}

/**
 * out[p][q] = program(column q of inner)[p] with inner[i][q] = program(row i of src)[q], src the
 * program's inputs squared: row by row, `source(i, j)` pushes src[i][j] (a load), the row goes into `row` and its outputs
 * into `inner`; then each column's program, its outputs stored by `put(p, q, value)`. `temps` holds a
 * program's steps. Loading a row just before its program keeps one row of sources live, not all α².
 */
function emitTransform(c: Code, lane: Lane, source: (i: number, j: number) => void, program: LinearProgram, { row, inner, temps }: TransformLocals, put: (p: number, q: number, value: () => void) => void): void {
  const n = program.inputs; // the tile is n×n
  const outputs = program.outputs.length;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      source(i, j);
      c.localSet(row[j]!);
    }
    const value = emitProgram(c, lane, program, (j) => c.localGet(row[j]!), temps);
    program.outputs.forEach((v, q) => {
      value(v);
      c.localSet(inner[i * outputs + q]!);
    });
  }
  for (let q = 0; q < outputs; q++) {
    const value = emitProgram(c, lane, program, (i) => c.localGet(inner[i * outputs + q]!), temps);
    program.outputs.forEach((v, p) => put(p, q, () => value(v)));
  }
}

/** for cc in [0, c) by 4 (vector), then by 1 (scalar tail): body(lane) with `cc` in bytes in `off`. */
function channelLoop(c: Code, ch: Local, cc: Local, off: Local, body: (lane: Lane) => void): void {
  c.i32Const(0).localSet(cc);
  c.block((exit) => {
    c.loop((top) => {
      c.localGet(cc).i32Const(4).i32Add().localGet(ch).i32GtS().brIf(exit);
      c.localGet(cc).i32Const(4).i32Mul().localSet(off);
      body('v');
      c.localGet(cc).i32Const(4).i32Add().localSet(cc).br(top);
    });
  });
  c.block((exit) => {
    c.loop((top) => {
      c.localGet(cc).localGet(ch).i32GeS().brIf(exit);
      c.localGet(cc).i32Const(4).i32Mul().localSet(off);
      body('s');
      c.localGet(cc).i32Const(1).i32Add().localSet(cc).br(top);
    });
  });
}

export function emitWinograd(m: ModuleBuilder): void {
  for (const tile of [2, 4] as const) emitVariant(m, tile);
}

/** The four kernels of F(tile×tile, 3×3), named with the tile as suffix. */
function emitVariant(m: ModuleBuilder, tile: WinogradTile): void {
  const i32 = (n: number) => Array.from({ length: n }, () => 'i32' as const);
  const { alpha, bt, b: bProgram, at, a: aProgram } = WINOGRAD[tile];
  const stepCount = Math.max(bt.steps.length, bProgram.steps.length, at.steps.length, aProgram.steps.length);
  const entries = alpha * alpha;
  const shift = tile === 2 ? 1 : 2;

  // ---- data transform, forward: tile rows [lo, hi) of n·th. Each of a tile's 16 points reads the
  // image where it lies inside, else `zero` (c zero floats): no bounds test in the channel loop.
  m.func(`winogradInFwd${tile}`, { params: i32(13) }, (c, out, x, lo, hi, h, w, ch, th, tw, tiles, pt, pl, zero) => {
    const [tr, b, ty, tx, t, cc, off, plane, a, yy, xx] = Array.from({ length: 11 }, () => c.local('i32'));
    const src = Array.from({ length: entries }, () => c.local('i32'));
    // Per row of tiles: each of the α rows' start in x and whether it lies in the image; per tile:
    // each of the α columns' byte offset and whether it does.
    const rowBase = Array.from({ length: alpha }, () => c.local('i32'));
    const rowOk = Array.from({ length: alpha }, () => c.local('i32'));
    const colOff = Array.from({ length: alpha }, () => c.local('i32'));
    const colOk = Array.from({ length: alpha }, () => c.local('i32'));
    const locals = transformLocals(c, alpha, stepCount);
    c.localGet(tiles).localGet(ch).i32Mul().i32Const(4).i32Mul().localSet(plane);
    c.forRange(tr, lo, hi, 1, () => {
      c.localGet(tr).localGet(th).i32DivU().localSet(b);
      c.localGet(tr).localGet(b).localGet(th).i32Mul().i32Sub().localSet(ty);
      for (let i = 0; i < alpha; i++) {
        // yy = m·ty + i − pt; rowOk = 0 ≤ yy < h; rowBase = x + (b·h + yy)·w·c·4
        c.localGet(ty).i32Const(tile).i32Mul().i32Const(i).i32Add().localGet(pt).i32Sub().localSet(yy);
        c.localGet(yy).i32Const(0).i32GeS().localGet(yy).localGet(h).i32LtS().i32And().localSet(rowOk[i]!);
        c.localGet(x).localGet(b).localGet(h).i32Mul().localGet(yy).i32Add().localGet(w).i32Mul().localGet(ch).i32Mul().i32Const(4).i32Mul().i32Add().localSet(rowBase[i]!);
      }
      c.forRange(tx, { const: 0 }, tw, 1, () => {
        c.localGet(tr).localGet(tw).i32Mul().localGet(tx).i32Add().localSet(t);
        for (let j = 0; j < alpha; j++) {
          c.localGet(tx).i32Const(tile).i32Mul().i32Const(j).i32Add().localGet(pl).i32Sub().localSet(xx);
          c.localGet(xx).i32Const(0).i32GeS().localGet(xx).localGet(w).i32LtS().i32And().localSet(colOk[j]!);
          c.localGet(xx).localGet(ch).i32Mul().i32Const(4).i32Mul().localSet(colOff[j]!);
        }
        // src = inside ? rowBase + colOff : zero
        for (let i = 0; i < alpha; i++) {
          for (let j = 0; j < alpha; j++) {
            c.localGet(rowBase[i]!).localGet(colOff[j]!).i32Add().localGet(zero).localGet(rowOk[i]!).localGet(colOk[j]!).i32And().select().localSet(src[i * alpha + j]!);
          }
        }
        // out + (t·c)·4, then + e·plane + off per entry
        c.localGet(out).localGet(t).localGet(ch).i32Mul().i32Const(4).i32Mul().i32Add().localSet(a);
        channelLoop(c, ch, cc, off, (lane) => {
          const source = (i: number, j: number): void => {
            c.localGet(src[i * alpha + j]!).localGet(off).i32Add();
            load(c, lane);
          };
          emitTransform(c, lane, source, bt, locals[lane], (p, q, value) => {
            c.localGet(a).localGet(plane).i32Const(alpha * p + q).i32Mul().i32Add().localGet(off).i32Add();
            value();
            store(c, lane);
          });
        });
      });
    });
  });

  // ---- output transform, forward and adjoint: tile rows [lo, hi) of n·th.
  for (const adjoint of [false, true]) {
    m.func(`${adjoint ? 'winogradOutAdj' : 'winogradOutFwd'}${tile}`, { params: i32(8) }, (c, out, src, lo, hi, th, tw, ch, tiles) => {
      const [tr, b, ty, tx, t, pix, cc, off, rowBytes, plane, tileAt] = [c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32')];
      const locals = transformLocals(c, alpha, stepCount);
      // The image is [n, m·th, m·tw, c]: a row is m·tw·c floats.
      c.localGet(tw).i32Const(tile).i32Mul().localGet(ch).i32Mul().i32Const(4).i32Mul().localSet(rowBytes);
      c.localGet(tiles).localGet(ch).i32Mul().i32Const(4).i32Mul().localSet(plane);
      c.forRange(tr, lo, hi, 1, () => {
        c.localGet(tr).localGet(th).i32DivU().localSet(b);
        c.localGet(tr).localGet(b).localGet(th).i32Mul().i32Sub().localSet(ty);
        c.forRange(tx, { const: 0 }, tw, 1, () => {
          c.localGet(tr).localGet(tw).i32Mul().localGet(tx).i32Add().localSet(t);
          // pix = image + ((b·m·th + m·ty)·m·tw + m·tx)·c·4 (image = out forward, src adjoint)
          c.localGet(adjoint ? src : out).localGet(b).localGet(th).i32Mul().localGet(ty).i32Add().i32Const(tile).i32Mul().localGet(rowBytes).i32Mul().i32Add();
          c.localGet(tx).i32Const(tile).i32Mul().localGet(ch).i32Mul().i32Const(4).i32Mul().i32Add().localSet(pix);
          // tileAt = tiles + (t·c)·4 (tiles = src forward, out adjoint)
          c.localGet(adjoint ? out : src).localGet(t).localGet(ch).i32Mul().i32Const(4).i32Mul().i32Add().localSet(tileAt);
          const pixel = (r: number, s: number): void => {
            c.localGet(pix).localGet(rowBytes).i32Const(r).i32Mul().i32Add().localGet(ch).i32Const(4 * s).i32Mul().i32Add().localGet(off).i32Add();
          };
          const entry = (e: number): void => {
            c.localGet(tileAt).localGet(plane).i32Const(e).i32Mul().i32Add().localGet(off).i32Add();
          };
          channelLoop(c, ch, cc, off, (lane) => {
            if (!adjoint) {
              const source = (i: number, j: number): void => {
                entry(alpha * i + j);
                load(c, lane);
              };
              emitTransform(c, lane, source, at, locals[lane], (r, s, value) => {
                pixel(r, s);
                value();
                store(c, lane);
              });
            } else {
              const source = (r: number, s: number): void => {
                pixel(r, s);
                load(c, lane);
              };
              emitTransform(c, lane, source, aProgram, locals[lane], (p, q, value) => {
                entry(alpha * p + q);
                value();
                store(c, lane);
              });
            }
          });
        });
      });
    });
  }

  // ---- data transform, adjoint, first pass: tile rows [lo, hi) of n·th. Each tile's α×α
  // contributions P = B V Bᵀ (program B along V's rows, then down its columns), stored per tile as
  // [tiles, α², C], so the gather below adds at most four loaded values per pixel instead of
  // recomputing each nested sum for every pixel that reads it.
  m.func(`winogradInAdjTiles${tile}`, { params: i32(8) }, (c, out, v, lo, hi, th, tw, ch, tiles) => {
    const [tr, tx, t, cc, off, plane, tileAt, dst] = Array.from({ length: 8 }, () => c.local('i32'));
    const locals = transformLocals(c, alpha, stepCount);
    c.localGet(tiles).localGet(ch).i32Mul().i32Const(4).i32Mul().localSet(plane);
    c.forRange(tr, lo, hi, 1, () => {
      c.forRange(tx, { const: 0 }, tw, 1, () => {
        c.localGet(tr).localGet(tw).i32Mul().localGet(tx).i32Add().localSet(t);
        // tileAt = v + t·c·4 (entry e at + e·plane); dst = out + t·α²·c·4 (entry e at + e·c·4)
        c.localGet(v).localGet(t).localGet(ch).i32Mul().i32Const(4).i32Mul().i32Add().localSet(tileAt);
        c.localGet(out).localGet(t).i32Const(entries).i32Mul().localGet(ch).i32Mul().i32Const(4).i32Mul().i32Add().localSet(dst);
        channelLoop(c, ch, cc, off, (lane) => {
          const source = (i: number, j: number): void => {
            c.localGet(tileAt).localGet(plane).i32Const(alpha * i + j).i32Mul().i32Add().localGet(off).i32Add();
            load(c, lane);
          };
          emitTransform(c, lane, source, bProgram, locals[lane], (p, q, value) => {
            c.localGet(dst).localGet(ch).i32Const(4 * (alpha * p + q)).i32Mul().i32Add().localGet(off).i32Add();
            value();
            store(c, lane);
          });
        });
      });
    });
  });

  // ---- data transform, adjoint, second pass: image pixel rows [lo, hi) of n·h, gathering from the
  // tiles that read each pixel's padded coordinates (y + pt, x + pl) their contributions P.
  m.func(`winogradInAdj${tile}`, { params: i32(12) }, (c, out, pv, lo, hi, h, w, ch, th, tw, _tiles, pt, pl) => {
    const [pr, b, y, x, ty0, tx0, py, px, cc, off, dst, first] = Array.from({ length: 12 }, () => c.local('i32'));
    const tileAt = [c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32')];
    const ok = [c.local('i32'), c.local('i32'), c.local('i32'), c.local('i32')];
    // Per pixel row: the first tile index of tile rows ty0 and ty0 − 1, and whether each exists;
    // per pixel: whether tile columns tx0 and tx0 − 1 exist.
    const rowTile = [c.local('i32'), c.local('i32')];
    const rowOk = [c.local('i32'), c.local('i32')];
    const colOk = [c.local('i32'), c.local('i32')];
    const acc = { v: c.local('v128'), s: c.local('f32') };
    const contrib = { v: c.local('v128'), s: c.local('f32') };
    c.forRange(pr, lo, hi, 1, () => {
      c.localGet(pr).localGet(h).i32DivU().localSet(b);
      c.localGet(pr).localGet(b).localGet(h).i32Mul().i32Sub().localGet(pt).i32Add().localSet(y);
      c.localGet(y).i32Const(shift).i32ShrU().localSet(ty0);
      c.localGet(y).i32Const(tile - 1).i32And().localSet(py);
      for (let dy = 0; dy < 2; dy++) {
        // rowOk = (ty0 − dy) ∈ [0, th); rowTile = (b·th + ty0 − dy)·tw
        c.localGet(ty0).i32Const(dy).i32Sub().localGet(th).i32LtS().localGet(ty0).i32Const(dy).i32GeS().i32And().localSet(rowOk[dy]!);
        c.localGet(b).localGet(th).i32Mul().localGet(ty0).i32Add().i32Const(dy).i32Sub().localGet(tw).i32Mul().localSet(rowTile[dy]!);
      }
      c.forRange(x, { const: 0 }, w, 1, () => {
        c.localGet(x).localGet(pl).i32Add().i32Const(shift).i32ShrU().localSet(tx0);
        c.localGet(x).localGet(pl).i32Add().i32Const(tile - 1).i32And().localSet(px);
        c.localGet(out).localGet(pr).localGet(w).i32Mul().localGet(x).i32Add().localGet(ch).i32Mul().i32Const(4).i32Mul().i32Add().localSet(dst);
        for (let dx = 0; dx < 2; dx++) {
          c.localGet(tx0).i32Const(dx).i32Sub().localGet(tw).i32LtS().localGet(tx0).i32Const(dx).i32GeS().i32And().localSet(colOk[dx]!);
        }
        // The four candidate tiles in the order their contributions add: (ty0, tx0), (ty0, tx0 − 1),
        // (ty0 − 1, tx0), (ty0 − 1, tx0 − 1); valid when inside [0, th) × [0, tw).
        for (let k = 0; k < 4; k++) {
          const dy = k >> 1;
          const dx = k & 1;
          c.localGet(rowOk[dy]!).localGet(colOk[dx]!).i32And().localSet(ok[k]!);
          // tileAt = P + (rowTile + tx0 − dx)·α²·c·4
          c.localGet(pv).localGet(rowTile[dy]!).localGet(tx0).i32Add().i32Const(dx).i32Sub().i32Const(entries).i32Mul().localGet(ch).i32Mul().i32Const(4).i32Mul().i32Add().localSet(tileAt[k]!);
        }
        // One code path per (y mod m, x mod m): the tile positions (i, j) are then constants, and a
        // candidate tile whose position falls past α (F(4×4): y mod 4 ≥ 2 for the tile before) is left out.
        for (let yParity = 0; yParity < tile; yParity++) for (let xParity = 0; xParity < tile; xParity++) {
          c.localGet(py).i32Const(yParity).i32Eq().localGet(px).i32Const(xParity).i32Eq().i32And();
          c.if(() => {
            channelLoop(c, ch, cc, off, (lane) => {
              // A pixel no tile reads (tiles need not cover the image) gets 0, as on the CPU.
              c.i32Const(1).localSet(first);
              if (lane === 'v') c.f32x4Const(0).localSet(acc.v);
              else c.f32Const(0).localSet(acc.s);
              for (let k = 0; k < 4; k++) {
                const i = yParity + tile * (k >> 1);
                const j = xParity + tile * (k & 1);
                if (i >= alpha || j >= alpha) continue;
                c.localGet(ok[k]!);
                c.if(() => {
                  // acc = first ? P[i][j] : acc + P[i][j]
                  c.localGet(tileAt[k]!).localGet(ch).i32Const(4 * (alpha * i + j)).i32Mul().i32Add().localGet(off).i32Add();
                  load(c, lane).localSet(contrib[lane]);
                  c.localGet(contrib[lane]).localGet(acc[lane]).localGet(contrib[lane]);
                  if (lane === 'v') c.f32x4Add();
                  else c.f32Add();
                  c.localGet(first).select().localSet(acc[lane]);
                  c.i32Const(0).localSet(first);
                });
              }
              c.localGet(dst).localGet(off).i32Add().localGet(acc[lane]);
              store(c, lane);
            });
          });
        }
      });
    });
  });
}
