/**
 * Threefry-2x32 (20 rounds) in wasm SIMD: the `threefry2x32` primitive's kernel, four blocks at a
 * time in i32x4 lanes, the tail one block at a time. The rounds are wrapping adds, rotations and
 * xors, exact whatever the lane width, so the words equal core/random.ts `threefry2x32Lanes` (the
 * host reference) bit for bit.
 *
 * Export `threefry2x32(out, k0, k1, x0, x1, s0, s1, s2, s3, lo, hi, n)`: blocks [lo, hi) of n (the
 * range threads split); input j's element i at its pointer + i·s_j (s_j = 4 for a full array, 0 for
 * one broadcast value); block i's words go to out[i] and out[n + i].
 */
import type { Code, Local, ModuleBuilder } from './assembler.js';

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24] as const;

type Lane = 'v' | 's';

/** The 20 rounds with key injections on (a, b) under keys (k0, k1, k2 = 0x1bd11bda ^ k0 ^ k1), as threefry2x32Lanes. */
function emitRounds(c: Code, lane: Lane, a: Local, b: Local, ks: readonly [Local, Local, Local]): void {
  const add = (): void => void (lane === 'v' ? c.i32x4Add() : c.i32Add());
  for (let r = 0; r < 5; r++) {
    const rot = (r & 1) << 2;
    for (let j = 0; j < 4; j++) {
      const by = ROTATIONS[rot + j]!;
      // a = a + b; b = rotl(b, by) ^ a
      c.localGet(a).localGet(b);
      add();
      c.localSet(a);
      if (lane === 'v') c.localGet(b).i32Const(by).i32x4Shl().localGet(b).i32Const(32 - by).i32x4ShrU().v128Or().localGet(a).v128Xor();
      else c.localGet(b).i32Const(by).i32Rotl().localGet(a).i32Xor();
      c.localSet(b);
    }
    // a += ks[(r + 1) % 3]; b += ks[(r + 2) % 3] + r + 1
    c.localGet(a).localGet(ks[(r + 1) % 3]!);
    add();
    c.localSet(a);
    c.localGet(b).localGet(ks[(r + 2) % 3]!);
    add();
    if (lane === 'v') c.i32Const(r + 1).i32x4Splat();
    else c.i32Const(r + 1);
    add();
    c.localSet(b);
  }
}

export function emitThreefry(m: ModuleBuilder): void {
  m.func('threefry2x32', { params: Array.from({ length: 12 }, () => 'i32' as const) }, (c, out, k0p, k1p, x0p, x1p, s0, s1, s2, s3, lo, hi, n) => {
    const i = c.local('i32');
    const addr = c.local('i32');
    const locals = (type: 'v128' | 'i32'): [Local, Local, Local, Local, Local] => [c.local(type), c.local(type), c.local(type), c.local(type), c.local(type)];
    const v = locals('v128');
    const s = locals('i32');
    const ptrs = [k0p, k1p, x0p, x1p] as const;
    const strides = [s0, s1, s2, s3] as const;
    /** Push input j at block i: four lanes (a vector, or a splat of a broadcast value) or one. */
    const input = (j: number, lane: Lane): void => {
      c.localGet(ptrs[j]!).localGet(i).localGet(strides[j]!).i32Mul().i32Add();
      if (lane === 's') {
        c.i32Load();
        return;
      }
      c.localSet(addr);
      c.localGet(strides[j]!);
      c.if(
        () => void c.localGet(addr).v128Load(),
        () => void c.localGet(addr).v128Load32Splat(),
        'v128',
      );
    };
    const block = (lane: Lane): void => {
      const [k0, k1, k2, a, b] = lane === 'v' ? v : s;
      const add = (): void => void (lane === 'v' ? c.i32x4Add() : c.i32Add());
      input(0, lane);
      c.localSet(k0);
      input(1, lane);
      c.localSet(k1);
      // k2 = 0x1bd11bda ^ k0 ^ k1
      if (lane === 'v') c.i32Const(0x1bd11bda).i32x4Splat().localGet(k0).v128Xor().localGet(k1).v128Xor();
      else c.i32Const(0x1bd11bda).localGet(k0).i32Xor().localGet(k1).i32Xor();
      c.localSet(k2);
      input(2, lane);
      c.localGet(k0);
      add();
      c.localSet(a);
      input(3, lane);
      c.localGet(k1);
      add();
      c.localSet(b);
      emitRounds(c, lane, a, b, [k0, k1, k2]);
      // out[i] = a; out[n + i] = b
      c.localGet(out).localGet(i).i32Const(4).i32Mul().i32Add().localGet(a);
      if (lane === 'v') c.v128Store();
      else c.i32Store();
      c.localGet(out).localGet(n).localGet(i).i32Add().i32Const(4).i32Mul().i32Add().localGet(b);
      if (lane === 'v') c.v128Store();
      else c.i32Store();
    };
    c.localGet(lo).localSet(i);
    c.block((exit) => {
      c.loop((top) => {
        c.localGet(i).i32Const(4).i32Add().localGet(hi).i32GtS().brIf(exit);
        block('v');
        c.localGet(i).i32Const(4).i32Add().localSet(i).br(top);
      });
    });
    c.block((exit) => {
      c.loop((top) => {
        c.localGet(i).localGet(hi).i32GeS().brIf(exit);
        block('s');
        c.localGet(i).i32Const(1).i32Add().localSet(i).br(top);
      });
    });
  });
}
