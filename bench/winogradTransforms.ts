/**
 * The Winograd transforms alone (the primitives `winogradIn` and `winogradOut`, forward and adjoint,
 * F(4×4) unless `--tile 2`) on the U-ViT's convolution shapes: wasm, one thread by default, CPU time,
 * best of `--repeats` runs, in ms per call and GB/s of the bytes the kernel must read and write. A
 * kernel far below the machine's copy bandwidth is bound by its arithmetic (or its register spills),
 * not by memory.
 *
 *   npx tsx bench/winogradTransforms.ts [--tile 4] [--threads 1] [--repeats 9]
 */
import { createWasmBackend, enableRelaxedSimd } from '../backends/wasm/index.js';
import { dispose, key, normal, registerBackend, setBackend, tidy, type Tensor } from '../index.js';
import { winogradInPrim, winogradOutPrim } from '../core/ops/linalg.js';
import type { WinogradTile } from '../core/index.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };
const tile = Number(flag('tile') ?? 4) as WinogradTile;
const repeats = Number(flag('repeats') ?? 9);
await enableRelaxedSimd();
const be = await createWasmBackend({ threads: Number(flag('threads') ?? 1) });
registerBackend('bench-wasm', () => be);
await setBackend('bench-wasm');

// [label, N, H, W, C]: 'same' 3×3 convolutions, so the output is H×W too.
const shapes: [string, number, number, number, number][] = [
  ['demo level 0', 64, 16, 16, 16],
  ['demo level 1', 64, 8, 8, 32],
  ['bair level 0', 16, 32, 32, 64],
  ['bair level 1', 16, 16, 16, 128],
];
const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const alpha = tile + 2;
console.log(`F(${tile}×${tile}), ms per call (GB/s of the bytes read and written), best of ${repeats}`);
console.log('shape | in, forward | in, adjoint | out, forward | out, adjoint');
for (const [label, n, h, w, c] of shapes) {
  const th = Math.ceil(h / tile);
  const tw = Math.ceil(w / tile);
  const tiles = n * th * tw;
  const inP = { tile, batch: n, height: h, width: w, padTop: 1, padLeft: 1, tilesHigh: th, tilesWide: tw, adjoint: false };
  const outP = { tile, batch: n, tilesHigh: th, tilesWide: tw, adjoint: false };
  const image = normal(key(1), [n, h, w, c]);
  const transformed = normal(key(2), [alpha * alpha, tiles, c]);
  const outImage = normal(key(3), [n, tile * th, tile * tw, c]);
  const cases: [string, () => Tensor, number][] = [
    ['in fwd', () => winogradInPrim(image, inP), (n * h * w + alpha * alpha * tiles) * c * 4],
    ['in adj', () => winogradInPrim(transformed, { ...inP, adjoint: true }), (n * h * w + alpha * alpha * tiles) * c * 4],
    ['out fwd', () => winogradOutPrim(transformed, outP), (tile * tile + alpha * alpha) * tiles * c * 4],
    ['out adj', () => winogradOutPrim(outImage, { ...outP, adjoint: true }), (tile * tile + alpha * alpha) * tiles * c * 4],
  ];
  const best = cases.map(() => Infinity);
  for (let r = 0; r <= repeats; r++) {
    cases.forEach(([, run], i) => {
      const t0 = cpuMs();
      for (let k = 0; k < 5; k++) tidy(() => void run());
      const ms = (cpuMs() - t0) / 5;
      if (r > 0) best[i] = Math.min(best[i]!, ms);
    });
  }
  console.log([label, ...cases.map(([, , bytes], i) => `${best[i]!.toFixed(3)} (${(bytes / best[i]! / 1e6).toFixed(1)})`)].join(' | '));
  dispose([image, transformed, outImage]);
}
