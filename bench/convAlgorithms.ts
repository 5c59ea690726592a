/**
 * conv2d's algorithms side by side on the U-ViT's 3×3 convolutions: a training step's three
 * products (forward, input and weight cotangents) with im2col + matmul and with Winograd F(2×2, 3×3)
 * and F(4×4, 3×3),
 * wasm, CPU time, the algorithms taking turns and each keeping its best run (the least disturbed
 * estimate on a shared 2-core machine). Sets WINOGRAD_MIN_CHANNELS and the tile 'auto' takes in core/ops/linalg.ts.
 *
 *   npx tsx bench/convAlgorithms.ts [--threads 1] [--repeats 5] [--filter demo]
 */
import { createWasmBackend, enableRelaxedSimd } from '../backends/wasm/index.js';
import { conv2d, dispose, key, mul, normal, registerBackend, setBackend, sum, tidy, valueAndGrad, type Tensor } from '../index.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };
const threads = Number(flag('threads') ?? 1);
const repeats = Number(flag('repeats') ?? 5);
const only = flag('filter'); // a substring of the shape names
await enableRelaxedSimd();
const be = await createWasmBackend({ threads });
registerBackend('bench-wasm', () => be);
await setBackend('bench-wasm');

// [N, H, W, Cin, Cout]: demo (batch 8 × window 8 frames of 16×16, levels of 16 and 32 channels) and
// bair (window 16 of 64×64 RGB, 2×2 patches: levels of 64 and 128 channels at 32×32 and 16×16).
const shapes: [string, number, number, number, number, number][] = [
  ['channels 4 → 16', 64, 8, 8, 4, 16],
  ['channels 16 → 4', 64, 8, 8, 16, 4],
  ['demo stem', 64, 16, 16, 1, 16],
  ['demo output conv', 64, 16, 16, 16, 1],
  ['small 4 → 1', 64, 16, 16, 4, 1],
  ['small 8 → 3', 64, 16, 16, 8, 3],
  ['small 3 → 16', 64, 16, 16, 3, 16],
  ['small 2 → 8', 64, 16, 16, 2, 8],
  ['demo level 0', 64, 16, 16, 16, 16],
  ['channels 8 → 8', 64, 16, 16, 8, 8],
  ['demo level 1', 64, 8, 8, 32, 32],
  ['64 channels at 4×4', 64, 4, 4, 64, 64],
  ['bair stem (2×2 patches of RGB)', 16, 32, 32, 12, 64],
  ['bair out conv', 16, 32, 32, 64, 12],
  ['bair level 0', 16, 32, 32, 64, 64],
  ['bair level 1', 16, 16, 16, 128, 128],
  ['bair decoder, skip concatenated', 16, 16, 16, 256, 128],
  ['256 channels at 8×8', 16, 8, 8, 256, 256],
];
const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const wall = (): number => performance.now();
const clock = threads === 1 ? cpuMs : wall;
console.log(`conv2d 3×3 'same', a training step's products (forward, dx, dw), wasm ×${threads}, ${threads === 1 ? 'CPU' : 'wall'} ms, best of ${repeats}`);
const algorithms = ['im2col', 'winograd', 'winograd4x4'] as const;
console.log('shape | im2col | F(2×2) | F(4×4) | im2col / F(2×2) | im2col / F(4×4)');
for (const [name, n, h, w, ci, co] of shapes) {
  if (only !== undefined && !name.includes(only)) continue;
  const [x, k, r] = tidy(() => [normal(key(1), [n, h, w, ci]), normal(key(2), [3, 3, ci, co]), normal(key(3), [n, h, w, co])]) as [Tensor, Tensor, Tensor];
  const steps = algorithms.map((algorithm) => valueAndGrad(([a, b]: Tensor[]) => sum(mul(conv2d(a!, b!, { padding: 'same', algorithm }), r))));
  const best = algorithms.map(() => Infinity);
  for (let rep = 0; rep <= repeats; rep++) {
    for (const [i, step] of steps.entries()) {
      const t0 = clock();
      tidy(() => { const [v, g] = step([x, k]); return [v, ...g]; });
      const ms = clock() - t0;
      if (rep > 0) best[i] = Math.min(best[i]!, ms);
    }
  }
  dispose([x, k, r]);
  console.log(`${name} [${n},${h},${w},${ci}]→${co} | ${best.map((b) => b.toFixed(2)).join(' | ')} | ${(best[0]! / best[1]!).toFixed(2)}× | ${(best[0]! / best[2]!).toFixed(2)}×`);
}
