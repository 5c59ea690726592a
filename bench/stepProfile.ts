/**
 * Where a training step's kernel time goes, per primitive and per matmul shape: runs
 * bench/trainStep.ts (same flags, e.g. `--preset demo --steps 5`) on a wasm backend whose `run` is
 * timed (wasm kernels are synchronous, so the wall time of each call is its kernel). T=2 for two
 * threads (default 1); TOP=n lists the n costliest matmul shapes (default 20).
 *
 *   npx tsx bench/stepProfile.ts --preset demo --steps 5
 */
import { getBackend, setBackend, registerBackend, type PrimParams } from '../index.js';
import { createWasmBackend, enableRelaxedSimd } from '../backends/wasm/index.js';
// As trainStep (and the rolling command): relaxed SIMD unless --plain-simd, set before the backend is made.
if (!process.argv.includes('--plain-simd') && process.env.ROLLING_RELAXED_SIMD !== '0') await enableRelaxedSimd();
const wprof = await createWasmBackend({ threads: Number(process.env.T ?? 1) });
registerBackend('wprof', () => wprof);
await setBackend('wprof');
const be = getBackend();
const run = be.run;
const acc = new Map<string, [number, number]>();
const matmulFlops = new Map<string, number>();
let on = false;
be.run = ((...args: Parameters<typeof run>) => {
  const t0 = performance.now();
  const r = run.apply(be, args);
  if (on) {
    const dt = performance.now() - t0;
    const [prim, inputs, params, out] = args;
    let key: string = prim;
    if (prim === 'matmul') {
      const { transA, transB } = params as PrimParams['matmul'];
      key += ` ${inputs.map((i) => i.shape.join('x')).join(',')} ${transA ? 'Aᵀ' : ''}${transB ? 'Bᵀ' : ''}`;
      // 2·batch·m·k·n, from the output [batch, m, n] and A's inner extent.
      const [batch, m, n] = out.shape as [number, number, number];
      matmulFlops.set(key, 2 * batch * m * n * (transA ? inputs[0]!.shape[1]! : inputs[0]!.shape[2]!));
    }
    const a = acc.get(key) ?? [0, 0];
    a[0] += dt;
    a[1]++;
    acc.set(key, a);
  }
  return r;
}) as typeof run;
// A jitted program's fused element-wise kernels (one expression each) come through runExpression.
const runExpression = be.runExpression!;
be.runExpression = ((...args: Parameters<typeof runExpression>) => {
  const t0 = performance.now();
  const r = runExpression.apply(be, args);
  if (on) {
    const a = acc.get('fused') ?? [0, 0];
    a[0] += performance.now() - t0;
    a[1]++;
    acc.set('fused', a);
  }
  return r;
}) as typeof runExpression;
// trainStep calls this at each step: kernels are counted after its warm-up steps only.
(globalThis as { __profOn?: (v: boolean) => void }).__profOn = (v: boolean) => (on = v);
process.argv.splice(2, 0, '--backend', 'wprof');
await import('./trainStep.js');

const steps = Number(process.argv[process.argv.indexOf('--steps') + 1] ?? 1) || 1;
const total = [...acc.values()].reduce((s, a) => s + a[0], 0);
const byPrim = new Map<string, [number, number]>();
for (const [k, [t, n]] of acc) { const p = k.split(' ')[0]!; const a = byPrim.get(p) ?? [0, 0]; a[0] += t; a[1] += n; byPrim.set(p, a); }
console.log(`kernel time per step ${(total / steps).toFixed(1)} ms`);
for (const [k, [t, n]] of [...byPrim].sort((a, b) => b[1][0] - a[1][0]).slice(0, 25)) console.log(`${(t / steps).toFixed(1).padStart(8)} ms ${(100 * t / total).toFixed(1).padStart(5)}% ${String(n / steps).padStart(6)} calls  ${k}`);
const flopsOf = (k: string): number => matmulFlops.get(k)!;
let mmFlops = 0;
for (const [k, [, n]] of acc) if (k.startsWith('matmul')) mmFlops += (flopsOf(k) * n) / steps;
const mmMs = (byPrim.get('matmul')?.[0] ?? 0) / steps;
console.log(`--- matmul shapes (all: ${(mmFlops / 1e9).toFixed(2)} GFLOP per step at ${(mmFlops / mmMs / 1e6).toFixed(1)} GFLOP/s)`);
for (const [k, [t, n]] of [...acc].filter(([k]) => k.startsWith('matmul')).sort((a, b) => b[1][0] - a[1][0]).slice(0, Number(process.env.TOP ?? 20))) console.log(`${(t / steps).toFixed(1).padStart(8)} ms ${String(n / steps).padStart(5)}x ${((flopsOf(k) * n) / t / 1e6).toFixed(1).padStart(6)} GFLOP/s  ${k}`);
