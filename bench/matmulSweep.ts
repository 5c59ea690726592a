/**
 * The wasm matmul on the U-ViT's shapes, one thread, CPU time: GFLOP/s per shape and per kernel
 * configuration, so a change to the micro-kernel or the blocking is judged on the shapes training runs.
 *
 *   npx tsx bench/matmulSweep.ts [--configs '[{"mr":4,"nr":8}]'] [--repeats 5] [--shapes '[[m,k,n,transA,transB]]']
 */
import { createWasmBackend, enableRelaxedSimd } from '../backends/wasm/index.js';
import { registerBackend, setBackend, tidy, dispose, normal, key, type Tensor } from '../index.js';
import { bind } from '../core/trace.js';
import type { MatmulConfig } from '../backends/wasm/matmul.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };
const configs = JSON.parse(flag('configs') ?? '[{}]') as Partial<MatmulConfig>[];
const repeats = Number(flag('repeats') ?? 5);
if (!argv.includes('--plain-simd')) await enableRelaxedSimd();

// [m, k, n, transA, transB]: the demo and bair presets' products (forward, dA = dC·Bᵀ, dB = Aᵀ·dC).
const shapes: [number, number, number, boolean, boolean, number?][] = [
  [4096, 16, 16, false, false], [4096, 16, 16, false, true], [16, 4096, 16, true, false], [1024, 32, 32, false, false], [1024, 32, 32, false, true], [32, 1024, 32, true, false],
  [16384, 144, 16, false, false], [16384, 16, 144, false, true], [144, 16384, 16, true, false],
  [4096, 288, 32, false, false], [4096, 32, 288, false, true], [288, 4096, 32, true, false],
  [1024, 64, 64, false, false], [1024, 64, 64, false, true], [64, 1024, 64, true, false],
  [16384, 576, 64, false, false], [16384, 64, 576, false, true], [576, 16384, 64, true, false],
  [4096, 1152, 128, false, false], [1024, 256, 1024, false, false], [1024, 1024, 1024, false, false],
];
// --shapes '[[256,1024,256,true,false]]' replaces the list (e.g. the bair preset's attention products);
// a sixth entry is a batch (the Winograd products are 36 of them: [[1024,64,64,false,false,36]]).
if (flag('shapes') !== undefined) shapes.splice(0, shapes.length, ...(JSON.parse(flag('shapes')!) as typeof shapes));
const filter = flag('filter');

const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
// Configurations take turns on each shape (round-robin), and each keeps its best run: on a shared
// 2-core machine the fastest of several interleaved runs is the least disturbed estimate.
const backends = await Promise.all(configs.map(async (cfg, ci) => {
  const be = await createWasmBackend({ threads: 1, matmul: cfg });
  registerBackend(`mm${ci}`, () => be);
  return `mm${ci}`;
}));
console.log(['shape', ...configs.map((c) => JSON.stringify(c))].join(' | '));
for (const [m, k, n, tA, tB, batch = 1] of shapes) {
  if (filter !== undefined && !`${m}x${k}x${n}`.includes(filter)) continue;
  const flops = 2 * batch * m * n * k;
  const reps = Math.max(1, Math.round(2e8 / flops));
  const operands: [Tensor, Tensor][] = [];
  for (const name of backends) {
    await setBackend(name);
    operands.push(tidy(() => [normal(key(1), tA ? [batch, k, m] : [batch, m, k]), normal(key(2), tB ? [batch, n, k] : [batch, k, n])]) as [Tensor, Tensor]);
  }
  const best = configs.map(() => Infinity);
  for (let r = 0; r <= repeats; r++) {
    for (const [ci, name] of backends.entries()) {
      await setBackend(name);
      const [a, b] = operands[ci]!;
      const t0 = cpuMs();
      for (let i = 0; i < reps; i++) tidy(() => void bind('matmul', [a, b], { transA: tA, transB: tB }));
      const ms = (cpuMs() - t0) / reps;
      if (r > 0) best[ci] = Math.min(best[ci]!, ms);
    }
  }
  for (const [ci, name] of backends.entries()) { await setBackend(name); dispose(operands[ci]!); }
  console.log([`${batch > 1 ? `${batch}×` : ''}${m}×${k}×${n}${tA ? ' Aᵀ' : ''}${tB ? ' Bᵀ' : ''}`, ...best.map((ms) => (flops / ms / 1e6).toFixed(1))].join(' | '));
}
