/**
 * The matmul kernel, generated as wasm: GotoBLAS/BLIS blocking with packing, written out by the
 * assembler. B is packed into column panels NR wide and A into row panels MR tall; `transA`/`transB`
 * are absorbed by the packing (the strided cases go through 4×4 register transposes), so the micro-
 * kernel always streams two contiguous panels. The micro-kernel keeps an MR×NR tile of C in
 * MR·NR/4 v128 accumulators: per step of k it loads NR/4 vectors of B, splats MR values of A and does
 * MR·NR/4 multiply-adds (relaxed `f32x4.relaxed_madd` where the engine has it, `mul` + `add`
 * otherwise).
 *
 * One call computes rows [i0, i1) × columns [j0, j1) of every batch in [t0, t1): threads split the
 * output into such tiles. Blocking of k always starts at 0, so every element is summed in the same
 * order whatever the split: threads on or off give the same bits.
 */
import type { Code, Local, ModuleBuilder } from './assembler.js';

export interface MatmulConfig {
  /** Rows of the micro-tile. */
  mr: number;
  /** Columns of the micro-tile (a multiple of 4). */
  nr: number;
  /** Depth of a packed block (A block MC×KC in L2, B micro-panel KC×NR in L1). */
  kc: number;
  mc: number;
  nc: number;
  /** Unroll the micro-kernel's k loop this many times (kc must be a multiple). */
  unroll: number;
  relaxed: boolean;
  /** Products with k and m at most this (and B not transposed) take `matmul_smallk`; 0: never. */
  smallK: number;
}

/**
 * 4×8: eight accumulators, two B vectors, one splat of A and one product in flight need 12 of the
 * 16 SIMD registers, so V8 spills nothing. Measured on the 2-core Zen 5 machine (2026-12-06, CPU
 * time, one thread, the U-ViT's convolution shapes 16384×576×64, 16384×64×576ᵀ, 576ᵀ×16384×64,
 * 4096×1152×128, 1024×256×1024, 16384×144×16): 4×8 was the fastest on five of six shapes in two
 * repeated sweeps, 15-25% over the earlier 2×16 (13 registers plus temporaries); 6×8, 4×12 and 4×16
 * were slower. Tile shape does not change any output's order of summation, so not its bits.
 */
export const DEFAULT_MATMUL: MatmulConfig = { mr: 4, nr: 8, kc: 384, mc: 64, nc: 1024, unroll: 1, relaxed: false, smallK: 8 };

/** Bytes of per-thread scratch the kernel needs: packed A, packed B and one edge tile. */
export function matmulScratchBytes(cfg: MatmulConfig): number {
  return 4 * (cfg.mc * cfg.kc + cfg.kc * cfg.nc + cfg.mr * cfg.nr) + 64;
}

/** Lane indices of an i8x16.shuffle picking 32-bit lanes (0–3 from the first operand, 4–7 from the second). */
function lanes32(l: readonly number[]): number[] {
  return l.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3]);
}

/** Transpose four v128 locals in place (rows → columns), using four temporaries. */
export function transpose4(c: Code, r: readonly Local[], t: readonly Local[]): void {
  const [r0, r1, r2, r3] = r as [Local, Local, Local, Local];
  const [t0, t1, t2, t3] = t as [Local, Local, Local, Local];
  c.localGet(r0).localGet(r1).i8x16Shuffle(lanes32([0, 4, 1, 5])).localSet(t0);
  c.localGet(r0).localGet(r1).i8x16Shuffle(lanes32([2, 6, 3, 7])).localSet(t1);
  c.localGet(r2).localGet(r3).i8x16Shuffle(lanes32([0, 4, 1, 5])).localSet(t2);
  c.localGet(r2).localGet(r3).i8x16Shuffle(lanes32([2, 6, 3, 7])).localSet(t3);
  c.localGet(t0).localGet(t2).i8x16Shuffle(lanes32([0, 1, 4, 5])).localSet(r0);
  c.localGet(t0).localGet(t2).i8x16Shuffle(lanes32([2, 3, 6, 7])).localSet(r1);
  c.localGet(t1).localGet(t3).i8x16Shuffle(lanes32([0, 1, 4, 5])).localSet(r2);
  c.localGet(t1).localGet(t3).i8x16Shuffle(lanes32([2, 3, 6, 7])).localSet(r3);
}

/**
 * Pack `rows` (≤ P) strided rows into a panel of P interleaved lanes:
 * dst[p·P + r] = src[r·rowStride + p·4] for p < depth, zero for r ≥ rows.
 * Used for A (rows of A, P = MR) and for Bᵀ (rows of Bᵀ, P = NR). `transposed` reading (P contiguous
 * values per p at src + p·pStride) is the other case.
 */
function emitPanelPack(m: ModuleBuilder, lanes: number): number {
  // pack(dst, src, depth, rows, rowStride(bytes), pStride(bytes), contiguousLanes)
  // contiguousLanes = 1: dst[p][r] = src[p·pStride + 4r] (lanes are contiguous in memory);
  // contiguousLanes = 0: dst[p][r] = src[r·rowStride + 4p] (lanes are rows, p contiguous).
  return m.func(null, { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'] }, (c, dst, src, depth, rows, rowStride, pStride, contiguous) => {
    const p = c.local('i32');
    const r = c.local('i32');
    const s = c.local('i32');
    const d = c.local('i32');
    const v = [c.local('v128'), c.local('v128'), c.local('v128'), c.local('v128')];
    const t = [c.local('v128'), c.local('v128'), c.local('v128'), c.local('v128')];
    const rowBytes = lanes * 4;
    // Full panel, lanes contiguous: straight vector copies.
    c.localGet(contiguous).localGet(rows).i32Const(lanes).i32Eq().i32And();
    c.if(() => {
      c.localGet(src).localSet(s).localGet(dst).localSet(d);
      c.forRange(p, { const: 0 }, depth, 1, () => {
        const whole = Math.floor(lanes / 4);
        for (let q = 0; q < whole; q++) c.localGet(d).localGet(s).v128Load(16 * q).v128Store(16 * q);
        for (let q = whole * 4; q < lanes; q++) c.localGet(d).localGet(s).f32Load(4 * q).f32Store(4 * q);
        c.localGet(s).localGet(pStride).i32Add().localSet(s);
        c.localGet(d).i32Const(rowBytes).i32Add().localSet(d);
      });
      c.return();
    });
    // Full panel, lanes are rows, in groups of four rows: 4×4 transposes, four p at a time.
    if (lanes % 4 === 0) {
      c.localGet(contiguous).i32Eqz().localGet(rows).i32Const(lanes).i32Eq().i32And();
      c.if(() => {
        for (let g = 0; g < lanes / 4; g++) {
          // rows 4g..4g+3: s walks p in steps of 4
          c.localGet(src).localGet(rowStride).i32Const(4 * g).i32Mul().i32Add().localSet(s);
          c.localGet(dst).i32Const(16 * g).i32Add().localSet(d);
          c.i32Const(0).localSet(p);
          c.block((exit) => {
            c.loop((top) => {
              c.localGet(p).i32Const(4).i32Add().localGet(depth).i32GtS().brIf(exit);
              for (let q = 0; q < 4; q++) {
                c.localGet(s);
                if (q > 0) c.localGet(rowStride).i32Const(q).i32Mul().i32Add();
                c.v128Load().localSet(v[q]!);
              }
              transpose4(c, v, t);
              for (let q = 0; q < 4; q++) c.localGet(d).localGet(v[q]!).v128Store(q * rowBytes);
              c.localGet(s).i32Const(16).i32Add().localSet(s);
              c.localGet(d).i32Const(4 * rowBytes).i32Add().localSet(d);
              c.localGet(p).i32Const(4).i32Add().localSet(p).br(top);
            });
          });
          // the last depth % 4 values of these rows, one by one
          c.block((exit) => {
            c.loop((top) => {
              c.localGet(p).localGet(depth).i32GeS().brIf(exit);
              for (let q = 0; q < 4; q++) {
                c.localGet(d).i32Const(4 * q).i32Add();
                c.localGet(s);
                if (q > 0) c.localGet(rowStride).i32Const(q).i32Mul().i32Add();
                c.f32Load().f32Store();
              }
              c.localGet(s).i32Const(4).i32Add().localSet(s);
              c.localGet(d).i32Const(rowBytes).i32Add().localSet(d);
              c.localGet(p).i32Const(1).i32Add().localSet(p).br(top);
            });
          });
        }
        c.return();
      });
    }
    // Two rows (MR = 2): interleave four p at a time with two shuffles.
    if (lanes === 2) {
      c.localGet(contiguous).i32Eqz().localGet(rows).i32Const(2).i32Eq().i32And();
      c.if(() => {
        c.localGet(src).localSet(s).localGet(dst).localSet(d);
        c.i32Const(0).localSet(p);
        c.block((exit) => {
          c.loop((top) => {
            c.localGet(p).i32Const(4).i32Add().localGet(depth).i32GtS().brIf(exit);
            c.localGet(s).v128Load().localSet(v[0]!);
            c.localGet(s).localGet(rowStride).i32Add().v128Load().localSet(v[1]!);
            c.localGet(d).localGet(v[0]!).localGet(v[1]!).i8x16Shuffle(lanes32([0, 4, 1, 5])).v128Store();
            c.localGet(d).localGet(v[0]!).localGet(v[1]!).i8x16Shuffle(lanes32([2, 6, 3, 7])).v128Store(16);
            c.localGet(s).i32Const(16).i32Add().localSet(s);
            c.localGet(d).i32Const(32).i32Add().localSet(d);
            c.localGet(p).i32Const(4).i32Add().localSet(p).br(top);
          });
        });
        c.block((exit) => {
          c.loop((top) => {
            c.localGet(p).localGet(depth).i32GeS().brIf(exit);
            c.localGet(d).localGet(s).f32Load().f32Store();
            c.localGet(d).localGet(s).localGet(rowStride).i32Add().f32Load().f32Store(4);
            c.localGet(s).i32Const(4).i32Add().localSet(s);
            c.localGet(d).i32Const(8).i32Add().localSet(d);
            c.localGet(p).i32Const(1).i32Add().localSet(p).br(top);
          });
        });
        c.return();
      });
    }
    // Edge panel (rows < lanes) or odd lane counts: element by element, zero past `rows`.
    c.forRange(r, { const: 0 }, { const: lanes }, 1, () => {
      c.localGet(dst).localGet(r).i32Const(4).i32Mul().i32Add().localSet(d);
      c.localGet(r).localGet(rows).i32GeS();
      c.if(
        () => {
          c.forRange(p, { const: 0 }, depth, 1, () => {
            c.localGet(d).f32Const(0).f32Store();
            c.localGet(d).i32Const(rowBytes).i32Add().localSet(d);
          });
        },
        () => {
          // s = src + r·(contiguous ? 4 : rowStride); step = contiguous ? pStride : 4
          c.localGet(src).localGet(r).i32Const(4).localGet(rowStride).localGet(contiguous).select().i32Mul().i32Add().localSet(s);
          c.forRange(p, { const: 0 }, depth, 1, () => {
            c.localGet(d).localGet(s).f32Load().f32Store();
            c.localGet(d).i32Const(rowBytes).i32Add().localSet(d);
            c.localGet(s).localGet(pStride).i32Const(4).localGet(contiguous).select().i32Add().localSet(s);
          });
        },
      );
    });
  });
}

/**
 * The micro-kernel over one packed block: `micro(kc, ap, bp, c, ldc, rows, cols, accumulate, tmp)`
 * computes the MR-row tiles of `rows` rows (the packed A block, panel after panel) against one packed
 * B panel of `cols` ≤ NR columns. Looping over the row tiles here, not one call per tile, matters
 * for short k (the Winograd products have k = 16-64): a call per 4×8 tile cost as much as its
 * 16 steps of k.
 */
function emitMicroKernel(m: ModuleBuilder, cfg: MatmulConfig): number {
  const { mr, nr, relaxed, unroll } = cfg;
  const nv = nr / 4;
  return m.func(null, { params: ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'] }, (c, kc, apBlock, bpPanel, cpBlock, ldc, rowsAll, cols, accumulate, tmp) => {
    const acc = Array.from({ length: mr }, () => Array.from({ length: nv }, () => c.local('v128')));
    const b = Array.from({ length: nv }, () => c.local('v128'));
    const a = c.local('v128');
    const bEnd = c.local('i32');
    const row = c.local('i32');
    const r = c.local('i32');
    const j = c.local('i32');
    const ir = c.local('i32');
    const ap = c.local('i32');
    const bp = c.local('i32');
    const cp = c.local('i32');
    const rows = c.local('i32');
    const step = (u: number): void => {
      for (let v = 0; v < nv; v++) c.localGet(bp).v128Load(u * nr * 4 + 16 * v).localSet(b[v]!);
      for (let i = 0; i < mr; i++) {
        c.localGet(ap).v128Load32Splat(u * mr * 4 + 4 * i).localSet(a);
        for (let v = 0; v < nv; v++) {
          if (relaxed) c.localGet(a).localGet(b[v]!).localGet(acc[i]![v]!).f32x4RelaxedMadd();
          else c.localGet(acc[i]![v]!).localGet(a).localGet(b[v]!).f32x4Mul().f32x4Add();
          c.localSet(acc[i]![v]!);
        }
      }
    };
    c.localGet(bpPanel).localGet(kc).i32Const(nr * 4).i32Mul().i32Add().localSet(bEnd);
    c.forRange(ir, { const: 0 }, rowsAll, mr, ({ next }) => {
      // This tile: rows min(MR, rowsAll − ir), A panel ir/MR of the block, C row ir.
      c.localGet(rowsAll).localGet(ir).i32Sub().localSet(rows);
      c.i32Const(mr).localGet(rows).i32Const(mr).localGet(rows).i32LtS().select().localSet(rows);
      c.localGet(apBlock).localGet(ir).localGet(kc).i32Mul().i32Const(4).i32Mul().i32Add().localSet(ap);
      c.localGet(cpBlock).localGet(ir).localGet(ldc).i32Mul().i32Add().localSet(cp);
      c.localGet(bpPanel).localSet(bp);
      for (const rowAcc of acc) for (const x of rowAcc) c.f32x4Const(0).localSet(x);
      // The remainder kc % unroll first, one step at a time, then unrolled steps.
      if (unroll > 1) {
        c.block((exit) => {
          c.loop((top) => {
            c.localGet(bEnd).localGet(bp).i32Sub().i32Const(nr * 4 * unroll).i32RemU().i32Eqz().brIf(exit);
            step(0);
            c.localGet(ap).i32Const(mr * 4).i32Add().localSet(ap);
            c.localGet(bp).i32Const(nr * 4).i32Add().localSet(bp);
            c.br(top);
          });
        });
      }
      c.block((exit) => {
        c.loop((top) => {
          c.localGet(bp).localGet(bEnd).i32GeU().brIf(exit);
          for (let u = 0; u < unroll; u++) step(u);
          c.localGet(ap).i32Const(mr * 4 * unroll).i32Add().localSet(ap);
          c.localGet(bp).i32Const(nr * 4 * unroll).i32Add().localSet(bp);
          c.br(top);
        });
      });
      // Full tile: write (or add) the accumulators straight into C.
      c.localGet(rows).i32Const(mr).i32Eq().localGet(cols).i32Const(nr).i32Eq().i32And();
      c.if(() => {
        c.localGet(cp).localSet(row);
        for (let i = 0; i < mr; i++) {
          for (let v = 0; v < nv; v++) {
            c.localGet(row);
            c.localGet(accumulate);
            c.if(() => c.localGet(row).v128Load(16 * v).localGet(acc[i]![v]!).f32x4Add(), () => c.localGet(acc[i]![v]!), 'v128');
            c.v128Store(16 * v);
          }
          if (i < mr - 1) c.localGet(row).localGet(ldc).i32Add().localSet(row);
        }
        c.br(next);
      });
      // Edge tile: spill to tmp and copy the valid part.
      for (let i = 0; i < mr; i++) for (let v = 0; v < nv; v++) c.localGet(tmp).localGet(acc[i]![v]!).v128Store((i * nr + 4 * v) * 4);
      c.forRange(r, { const: 0 }, rows, 1, () => {
        c.localGet(cp).localGet(r).localGet(ldc).i32Mul().i32Add().localSet(row);
        c.forRange(j, { const: 0 }, cols, 1, () => {
          const tile = (): void => {
            c.localGet(tmp).localGet(r).i32Const(nr).i32Mul().localGet(j).i32Add().i32Const(4).i32Mul().i32Add().f32Load();
          };
          c.localGet(row).localGet(j).i32Const(4).i32Mul().i32Add();
          c.localGet(accumulate);
          c.if(
            () => {
              c.localGet(row).localGet(j).i32Const(4).i32Mul().i32Add().f32Load();
              tile();
              c.f32Add();
            },
            tile,
            'f32',
          );
          c.f32Store();
        });
      });
    });
  });
}

/**
 * Export `matmul(a, b, c, strideA, strideB, t0, t1, m, n, k, flags, i0, i1, j0, j1, scratch)`:
 * pointers and batch strides in bytes; flags bit 0 = transA, bit 1 = transB; k ≥ 1.
 */
export function emitMatmul(m: ModuleBuilder, cfg: MatmulConfig): void {
  const { mr, nr, kc: KC, mc: MC, nc: NC } = cfg;
  const packA = emitPanelPack(m, mr);
  const packB = emitPanelPack(m, nr);
  const micro = emitMicroKernel(m, cfg);
  const sig = { params: Array.from({ length: 16 }, () => 'i32' as const) };
  m.func('matmul', sig, (c, a, b, cp, strideA, strideB, t0, t1, mm, n, k, flags, i0, i1, j0, j1, scratch) => {
    const t = c.local('i32');
    const aT = c.local('i32');
    const bT = c.local('i32');
    const cT = c.local('i32');
    const jc = c.local('i32');
    const nc = c.local('i32');
    const pc = c.local('i32');
    const kc = c.local('i32');
    const ic = c.local('i32');
    const mc = c.local('i32');
    const jr = c.local('i32');
    const ir = c.local('i32');
    const ap = c.local('i32');
    const bp = c.local('i32');
    const tmp = c.local('i32');
    const transA = c.local('i32');
    const transB = c.local('i32');
    const ldc = c.local('i32');
    const limit = c.local('i32');
    const kstep = c.local('i32');
    c.localGet(flags).i32Const(1).i32And().localSet(transA);
    c.localGet(flags).i32Const(2).i32And().i32Const(1).i32ShrU().localSet(transB);
    c.localGet(scratch).localSet(ap);
    c.localGet(scratch).i32Const(MC * KC * 4).i32Add().localSet(bp);
    c.localGet(bp).i32Const(KC * NC * 4).i32Add().localSet(tmp);
    c.localGet(n).i32Const(4).i32Mul().localSet(ldc);
    // Blocks of k as equal as possible (576 → 3 × 192, not 256 + 256 + 64), a multiple of 4, ≤ KC.
    c.localGet(k).i32Const(KC - 1).i32Add().i32Const(KC).i32DivU().localSet(limit); // blocks
    c.localGet(k).localGet(limit).i32Add().i32Const(1).i32Sub().localGet(limit).i32DivU(); // ⌈k / blocks⌉
    c.i32Const(3).i32Add().i32Const(-4).i32And().localSet(kstep);
    const min = (x: Local | { const: number }, y: Local, into: Local): void => {
      // (x < y ? x : y)
      c.get(x).localGet(y).get(x).localGet(y).i32LtS().select().localSet(into);
    };
    c.forRange(t, t0, t1, 1, () => {
      c.localGet(a).localGet(t).localGet(strideA).i32Mul().i32Add().localSet(aT);
      c.localGet(b).localGet(t).localGet(strideB).i32Mul().i32Add().localSet(bT);
      c.localGet(cp).localGet(t).localGet(mm).i32Mul().localGet(ldc).i32Mul().i32Add().localSet(cT);
      c.forRange(jc, j0, j1, NC, () => {
        c.localGet(j1).localGet(jc).i32Sub().localSet(limit);
        min({ const: NC }, limit, nc);
        c.forRange(pc, { const: 0 }, k, { local: kstep }, () => {
          c.localGet(k).localGet(pc).i32Sub().localSet(limit);
          min(kstep, limit, kc);
          // Pack B[pc:pc+kc, jc:jc+nc] into NR-wide panels.
          c.forRange(jr, { const: 0 }, nc, nr, () => {
            c.localGet(bp).localGet(jr).localGet(kc).i32Mul().i32Const(4).i32Mul().i32Add(); // dst
            // src = bT + (transB ? (jc+jr)·k + pc : pc·n + jc + jr)·4
            c.localGet(bT);
            c.localGet(jc).localGet(jr).i32Add().localGet(k).i32Mul().localGet(pc).i32Add();
            c.localGet(pc).localGet(n).i32Mul().localGet(jc).i32Add().localGet(jr).i32Add();
            c.localGet(transB).select().i32Const(4).i32Mul().i32Add();
            c.localGet(kc); // depth
            c.localGet(nc).localGet(jr).i32Sub().localSet(limit);
            min({ const: nr }, limit, limit);
            c.localGet(limit); // rows (lanes present)
            c.localGet(k).i32Const(4).i32Mul(); // rowStride (transB: rows of Bᵀ)
            c.localGet(ldc); // pStride (not transposed: rows of B)
            c.localGet(transB).i32Eqz(); // contiguous lanes unless transposed
            c.call(packB);
          });
          c.forRange(ic, i0, i1, MC, () => {
            c.localGet(i1).localGet(ic).i32Sub().localSet(limit);
            min({ const: MC }, limit, mc);
            // Pack A[ic:ic+mc, pc:pc+kc] into MR-tall panels.
            c.forRange(ir, { const: 0 }, mc, mr, () => {
              c.localGet(ap).localGet(ir).localGet(kc).i32Mul().i32Const(4).i32Mul().i32Add(); // dst
              // src = aT + (transA ? pc·m + ic + ir : (ic+ir)·k + pc)·4
              c.localGet(aT);
              c.localGet(pc).localGet(mm).i32Mul().localGet(ic).i32Add().localGet(ir).i32Add();
              c.localGet(ic).localGet(ir).i32Add().localGet(k).i32Mul().localGet(pc).i32Add();
              c.localGet(transA).select().i32Const(4).i32Mul().i32Add();
              c.localGet(kc);
              c.localGet(mc).localGet(ir).i32Sub().localSet(limit);
              min({ const: mr }, limit, limit);
              c.localGet(limit);
              c.localGet(k).i32Const(4).i32Mul(); // rowStride (rows of A)
              c.localGet(mm).i32Const(4).i32Mul(); // pStride (transA: rows of Aᵀ)
              c.localGet(transA);
              c.call(packA);
            });
            c.forRange(jr, { const: 0 }, nc, nr, () => {
              c.localGet(kc);
              c.localGet(ap);
              c.localGet(bp).localGet(jr).localGet(kc).i32Mul().i32Const(4).i32Mul().i32Add();
              // &C[ic, jc+jr]
              c.localGet(cT).localGet(ic).localGet(ldc).i32Mul().i32Add().localGet(jc).localGet(jr).i32Add().i32Const(4).i32Mul().i32Add();
              c.localGet(ldc);
              c.localGet(mc);
              c.localGet(nc).localGet(jr).i32Sub().localSet(limit);
              min({ const: nr }, limit, limit);
              c.localGet(limit);
              c.localGet(pc).i32Const(0).i32GtS();
              c.localGet(tmp);
              c.call(micro);
            });
          });
        });
      });
    });
  });
}

/**
 * Export `matmul_smallk<K>(a, b, c, strideA, strideB, batch, m, n, transA, q0, q1, scratch)` for K = 1
 * … `smallK`: C = op(A)·B for a tiny op(A) (m × K, m ≤ smallK: the Winograd filter transform G·g
 * is 6×3 against 3×(9·C·Cout)), columns [4·q0, min(n, 4·q1)) of every batch; B not transposed.
 * Packing and a 4×8 tile's bookkeeping cost more than 3 steps of k, so here each four of columns
 * loads its K vectors of B once and every row of C is a chain of K multiply-adds on them, with
 * op(A) first copied row-major into scratch (so its entries are constant offsets from a row pointer).
 * Per element: acc = 0, then acc = madd(A[i, kk], B[kk, j], acc) for kk = 0 … K − 1: the micro-
 * kernel's operations in its order (one block of k, from zero), so the same bits. Columns past the
 * last whole four run the same vector operations on splats and keep lane 0.
 */
export function emitSmallK(m: ModuleBuilder, relaxed: boolean, smallK: number): void {
  for (let K = 1; K <= smallK; K++) {
    m.func(`matmul_smallk${K}`, { params: Array.from({ length: 12 }, () => 'i32' as const) }, (c, a, b, cp, strideA, strideB, batch, mm, n, transA, q0, q1, scratch) => {
      const [t, aT, cT, j, jEnd, full, i, aRow, cRow, src] = Array.from({ length: 10 }, () => c.local('i32'));
      const bRow = Array.from({ length: K }, () => c.local('i32'));
      const bv = Array.from({ length: K }, () => c.local('v128'));
      const acc = c.local('v128');
      c.localGet(q1).i32Const(4).i32Mul().localTee(jEnd).localGet(n).i32GtS();
      c.if(() => void c.localGet(n).localSet(jEnd));
      c.localGet(n).i32Const(-4).i32And().localSet(full);
      c.forRange(t, { const: 0 }, batch, 1, () => {
        c.localGet(a).localGet(t).localGet(strideA).i32Mul().i32Add().localSet(aT);
        // op(A) into scratch as [m, K]: A[i, kk] at aT + (transA ? kk·m + i : i·K + kk)·4.
        c.forRange(i, { const: 0 }, mm, 1, () => {
          for (let kk = 0; kk < K; kk++) {
            c.localGet(scratch).localGet(i).i32Const(K * 4).i32Mul().i32Add();
            c.localGet(aT).i32Const(kk).localGet(mm).i32Mul().localGet(i).i32Add().localGet(i).i32Const(K).i32Mul().i32Const(kk).i32Add().localGet(transA).select().i32Const(4).i32Mul().i32Add();
            c.f32Load().f32Store(kk * 4);
          }
        });
        for (let kk = 0; kk < K; kk++) c.localGet(b).localGet(t).localGet(strideB).i32Mul().i32Add().localGet(n).i32Const(4 * kk).i32Mul().i32Add().localSet(bRow[kk]!);
        c.localGet(cp).localGet(t).localGet(mm).i32Mul().localGet(n).i32Mul().i32Const(4).i32Mul().i32Add().localSet(cT);
        // Rows of C over the K vectors in bv; `put` stores acc.
        const rows = (put: () => void): void => {
          c.localGet(scratch).localSet(aRow);
          c.localGet(cT).localGet(j).i32Const(4).i32Mul().i32Add().localSet(cRow);
          c.forRange(i, { const: 0 }, mm, 1, () => {
            c.f32x4Const(0).localSet(acc);
            for (let kk = 0; kk < K; kk++) {
              // relaxed: madd(a, b, acc); plain: acc + a·b (the micro-kernel's operand order)
              if (relaxed) c.localGet(aRow).v128Load32Splat(4 * kk).localGet(bv[kk]!).localGet(acc).f32x4RelaxedMadd();
              else c.localGet(acc).localGet(aRow).v128Load32Splat(4 * kk).localGet(bv[kk]!).f32x4Mul().f32x4Add();
              c.localSet(acc);
            }
            put();
            c.localGet(aRow).i32Const(K * 4).i32Add().localSet(aRow);
            c.localGet(cRow).localGet(n).i32Const(4).i32Mul().i32Add().localSet(cRow);
          });
        };
        c.localGet(q0).i32Const(4).i32Mul().localSet(src);
        c.forRange(j, src, jEnd, 4, ({ next }) => {
          c.localGet(j).i32Const(4).i32Add().localGet(full).i32LeS();
          c.if(() => {
            for (let kk = 0; kk < K; kk++) c.localGet(bRow[kk]!).localGet(j).i32Const(4).i32Mul().i32Add().v128Load().localSet(bv[kk]!);
            rows(() => void c.localGet(cRow).localGet(acc).v128Store());
            c.br(next);
          });
          // The last, partial four: its columns one by one, on splats.
          c.block((exit) => {
            c.loop((top) => {
              c.localGet(j).localGet(jEnd).i32GeS().brIf(exit);
              for (let kk = 0; kk < K; kk++) c.localGet(bRow[kk]!).localGet(j).i32Const(4).i32Mul().i32Add().v128Load32Splat().localSet(bv[kk]!);
              rows(() => void c.localGet(cRow).localGet(acc).f32x4ExtractLane(0).f32Store());
              c.localGet(j).i32Const(1).i32Add().localSet(j).br(top);
            });
          });
        });
      });
    });
  }
}
