/**
 * The Winograd F(m×m, 3×3) transforms (m = 2, 4) in wasm SIMD (see core/winograd.ts): channels are
 * innermost (NHWC, and [α², tiles, C]), so every transform runs four channels at a time with a scalar
 * tail, as straight-line code generated from the programs' signed sums, in their order: the CPU's bits exactly.
 *
 * Exports per m (pointers in bytes; [lo, hi) is the range threads split):
 * - `winogradInFwd<m>(out, x, lo, hi, h, w, c, th, tw, tiles, pt, pl, zero, scratch)`: rows of tiles
 *   [lo, hi) of n·th; points outside the image read `zero`, c zero floats;
 * - `winogradInAdjTiles<m>(p, v, lo, hi, th, tw, c, tiles, scratch)`: rows of tiles [lo, hi) of n·th,
 *   each tile's α² contributions to the image, P [tiles, α², C];
 * - `winogradInAdj<m>(out, p, lo, hi, h, w, c, th, tw, tiles, pt, pl)`: image pixel rows [lo, hi) of
 *   n·h, each pixel adding the contributions of the tiles that read it (no two threads write one pixel);
 * - `winogradOutFwd<m>(out, m, lo, hi, th, tw, c, tiles, scratch)` and `winogradOutAdj<m>(out, g, …)`:
 *   rows of tiles [lo, hi) of n·th (output tiles do not overlap).
 *
 * The α² planes of [α², tiles, C]. A tile's transform writes (or reads) one vector in each of the α²
 * planes, tiles·C·4 bytes apart: when that is a multiple of 4 KiB (the U-ViT's shapes: 64 tiles a
 * frame of 16×16 or 32×32 at 16 or 64 channels), all α² addresses share their low 12 bits, so they
 * fall in one set of the L1 cache and a partly written line is evicted before the rest of it comes
 * (and loads wait on stores they only alias). Measured (bench/winogradTransforms.ts, F(4×4), one
 * thread): the forward data transform at 4.8 GB/s on [16, 32, 32, 64], 9.6-10.4 GB/s on the unaligned
 * [15, 32, 32, 68]. So with a `scratch` block (non-zero), the kernels take a tile row in runs of tiles
 * (at most RUN_FLOATS floats of each plane) and go through scratch, where the run's planes are
 * contiguous: writers transform into scratch and then copy each plane's run out whole, readers copy
 * each plane's run in first. Only data moves, so the bits are the same with or without.
 */
import { WINOGRAD, type LinearProgram, type SignedSum, type WinogradTile } from '../../core/index.js';
import { SIMD, type Code, type Local, type ModuleBuilder } from './assembler.js';
import { emitRun } from './layout.js';

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

/** Floats of each plane a run of tiles covers in scratch (at least one tile's C): α² runs of 512 bytes stay well inside L1. */
const RUN_FLOATS = 128;

/** Bytes of scratch the kernels need for `channels` (F(4×4)'s 36 planes; F(2×2) needs fewer). */
export function winogradScratchBytes(channels: number): number {
  return 36 * Math.max(RUN_FLOATS, channels) * 4;
}

/**
 * A row of tiles `tr` (of tw tiles, C channels) in runs: `tile(tx, base, stride)` transforms tile tx
 * with its α² plane entries at `base + e·stride` (bytes). Without scratch (0) one run of the whole row
 * straight in `planes` (stride `plane`); with it, runs of max(1, RUN_FLOATS / C) tiles whose entries
 * lie in scratch, each plane's run copied in from `planes` before (`copy` 'in') or out after ('out').
 */
function emitTileRuns(c: Code, copy: 'in' | 'out', entries: number, v: { scratch: Local; planes: Local; plane: Local; tr: Local; tw: Local; ch: Local }, tile: (tx: Local, base: Local, stride: Local) => void): void {
  const [run, runPlane, tx0, txEnd, tx, base, stride, e, from, to, floats, i] = Array.from({ length: 12 }, () => c.local('i32'));
  // run = scratch ? max(1, RUN_FLOATS / C) : tw; runPlane = run·C·4
  c.localGet(v.tw).localSet(run);
  c.localGet(v.scratch);
  c.if(() => {
    c.i32Const(RUN_FLOATS).localGet(v.ch).i32DivU().localTee(run).i32Eqz();
    c.if(() => void c.i32Const(1).localSet(run));
  });
  c.localGet(run).localGet(v.ch).i32Mul().i32Const(4).i32Mul().localSet(runPlane);
  const planes = (): void => {
    // the run's entries in each plane: α² runs of (txEnd − tx0)·C floats at planes + e·plane + (tr·tw + tx0)·C·4
    c.localGet(txEnd).localGet(tx0).i32Sub().localGet(v.ch).i32Mul().localSet(floats);
    c.forRange(e, { const: 0 }, { const: entries }, 1, () => {
      c.localGet(v.planes).localGet(e).localGet(v.plane).i32Mul().i32Add();
      c.localGet(v.tr).localGet(v.tw).i32Mul().localGet(tx0).i32Add().localGet(v.ch).i32Mul().i32Const(4).i32Mul().i32Add();
      c.localSet(copy === 'in' ? from : to);
      c.localGet(v.scratch).localGet(e).localGet(runPlane).i32Mul().i32Add().localSet(copy === 'in' ? to : from);
      emitRun(c, to, from, floats, i, false);
    });
  };
  c.forRange(tx0, { const: 0 }, v.tw, { local: run }, () => {
    c.localGet(tx0).localGet(run).i32Add().localTee(txEnd).localGet(v.tw).i32GtS();
    c.if(() => void c.localGet(v.tw).localSet(txEnd));
    if (copy === 'in') {
      c.localGet(v.scratch);
      c.if(planes);
    }
    c.forRange(tx, tx0, txEnd, 1, () => {
      // base = scratch ? scratch + (tx − tx0)·C·4 : planes + (tr·tw + tx)·C·4
      c.localGet(v.scratch).localGet(tx).localGet(tx0).i32Sub().localGet(v.ch).i32Mul().i32Const(4).i32Mul().i32Add();
      c.localGet(v.planes).localGet(v.tr).localGet(v.tw).i32Mul().localGet(tx).i32Add().localGet(v.ch).i32Mul().i32Const(4).i32Mul().i32Add();
      c.localGet(v.scratch).select().localSet(base);
      c.localGet(runPlane).localGet(v.plane).localGet(v.scratch).select().localSet(stride);
      tile(tx, base, stride);
    });
    if (copy === 'out') {
      c.localGet(v.scratch);
      c.if(planes);
    }
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
  m.func(`winogradInFwd${tile}`, { params: i32(14) }, (c, out, x, lo, hi, h, w, ch, th, tw, tiles, pt, pl, zero, scratch) => {
    const [tr, b, ty, cc, off, plane, yy, xx] = Array.from({ length: 8 }, () => c.local('i32'));
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
      emitTileRuns(c, 'out', entries, { scratch, planes: out, plane, tr, tw, ch }, (tx, a, stride) => {
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
        // entry e of channel offset off at a + e·stride + off
        channelLoop(c, ch, cc, off, (lane) => {
          const source = (i: number, j: number): void => {
            c.localGet(src[i * alpha + j]!).localGet(off).i32Add();
            load(c, lane);
          };
          emitTransform(c, lane, source, bt, locals[lane], (p, q, value) => {
            c.localGet(a).localGet(stride).i32Const(alpha * p + q).i32Mul().i32Add().localGet(off).i32Add();
            value();
            store(c, lane);
          });
        });
      });
    });
  });

  // ---- output transform, forward and adjoint: tile rows [lo, hi) of n·th.
  for (const adjoint of [false, true]) {
    m.func(`${adjoint ? 'winogradOutAdj' : 'winogradOutFwd'}${tile}`, { params: i32(9) }, (c, out, src, lo, hi, th, tw, ch, tiles, scratch) => {
      const [tr, b, ty, pix, cc, off, rowBytes, plane] = Array.from({ length: 8 }, () => c.local('i32'));
      const locals = transformLocals(c, alpha, stepCount);
      // The image is [n, m·th, m·tw, c]: a row is m·tw·c floats.
      c.localGet(tw).i32Const(tile).i32Mul().localGet(ch).i32Mul().i32Const(4).i32Mul().localSet(rowBytes);
      c.localGet(tiles).localGet(ch).i32Mul().i32Const(4).i32Mul().localSet(plane);
      c.forRange(tr, lo, hi, 1, () => {
        c.localGet(tr).localGet(th).i32DivU().localSet(b);
        c.localGet(tr).localGet(b).localGet(th).i32Mul().i32Sub().localSet(ty);
        // The planes are the tiles: src forward (read: copied in), out adjoint (written: copied out).
        emitTileRuns(c, adjoint ? 'out' : 'in', entries, { scratch, planes: adjoint ? out : src, plane, tr, tw, ch }, (tx, tileAt, stride) => {
          // pix = image + ((b·m·th + m·ty)·m·tw + m·tx)·c·4 (image = out forward, src adjoint)
          c.localGet(adjoint ? src : out).localGet(b).localGet(th).i32Mul().localGet(ty).i32Add().i32Const(tile).i32Mul().localGet(rowBytes).i32Mul().i32Add();
          c.localGet(tx).i32Const(tile).i32Mul().localGet(ch).i32Mul().i32Const(4).i32Mul().i32Add().localSet(pix);
          const pixel = (r: number, s: number): void => {
            c.localGet(pix).localGet(rowBytes).i32Const(r).i32Mul().i32Add().localGet(ch).i32Const(4 * s).i32Mul().i32Add().localGet(off).i32Add();
          };
          const entry = (e: number): void => {
            c.localGet(tileAt).localGet(stride).i32Const(e).i32Mul().i32Add().localGet(off).i32Add();
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
  m.func(`winogradInAdjTiles${tile}`, { params: i32(9) }, (c, out, v, lo, hi, th, tw, ch, tiles, scratch) => {
    const [tr, cc, off, plane, dst] = Array.from({ length: 5 }, () => c.local('i32'));
    const locals = transformLocals(c, alpha, stepCount);
    c.localGet(tiles).localGet(ch).i32Mul().i32Const(4).i32Mul().localSet(plane);
    c.forRange(tr, lo, hi, 1, () => {
      emitTileRuns(c, 'in', entries, { scratch, planes: v, plane, tr, tw, ch }, (tx, tileAt, stride) => {
        // entry e of V at tileAt + e·stride; dst = out + t·α²·c·4 (entry e at + e·c·4), t = tr·tw + tx
        c.localGet(out).localGet(tr).localGet(tw).i32Mul().localGet(tx).i32Add().i32Const(entries).i32Mul().localGet(ch).i32Mul().i32Const(4).i32Mul().i32Add().localSet(dst);
        channelLoop(c, ch, cc, off, (lane) => {
          const source = (i: number, j: number): void => {
            c.localGet(tileAt).localGet(stride).i32Const(alpha * i + j).i32Mul().i32Add().localGet(off).i32Add();
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
