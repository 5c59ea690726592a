/**
 * Training throughput of the tiny U-ViT on each CPU-side backend (pure TS, wasm on one thread, wasm threaded): forward + backward + Adam on batches of
 * 8 clips × 8 frames × 32×32×1 with a per-frame logSNR, and the peak of `memoryStats().bytes` within
 * a step above what lives between steps. Run alone with `npx tsx bench/nn.ts [steps]`; the last line
 * printed is one JSON object for `npm run bench`.
 *
 * Two rates are reported: by wall clock, and by this process's CPU time (all threads: for the
 * threaded wasm backend that is the work, not the waiting).
 */
import * as r from '../index';
import * as nn from '../nn';
import { createWasmBackendSync, type WasmBackend } from '../backends/wasm';

export interface NnBenchResult {
  parameters: number;
  stepsPerSecond: number;
  msPerStep: number;
  cpuStepsPerSecond: number;
  cpuMsPerStep: number;
  peakBytesPerStep: number;
  liveTensorsBetweenSteps: number;
}

export async function benchTinyUvit(steps = 10, config: nn.UViTConfig = nn.uvitPresets.tiny, shape: readonly number[] = [8, 8, 32, 32, 1]): Promise<NnBenchResult> {
  const model = nn.uvit(config);
  const optimizer = nn.adam({ learningRate: 1e-3 });
  const [b, t] = shape as [number, number];
  const batch = r.tidy(() => ({ z: r.normal(r.key(1), shape), v: r.normal(r.key(2), shape), logSnr: r.uniform(r.key(3), [b, t], -8, 8) }));
  const lossFn = (p: nn.UViTParams) => r.mean(r.square(r.sub(model.apply(p, batch.z, batch.logSnr), batch.v)));
  const params = model.init(r.key(0));
  let state = { params, opt: optimizer.init(params), loss: r.scalar(0) };
  const step = () => {
    const next = r.tidy(() => {
      const [loss, grads] = r.valueAndGrad(lossFn)(state.params);
      const { updates, state: opt } = optimizer.update(grads, state.opt, state.params);
      return { params: nn.applyUpdates(state.params, updates), opt, loss };
    });
    nn.disposeStale(state, next);
    state = next;
  };
  // Warm-up: JIT compilation and the buffer pool's first allocations.
  for (let i = 0; i < 2; i++) step();

  // The peak is sampled after every primitive the backend runs (a wrapper, removed afterwards).
  const backend = r.getBackend();
  const run = backend.run;
  const between = r.memoryStats().bytes;
  let peak = between;
  backend.run = ((...args: Parameters<typeof run>) => {
    const out = run.apply(backend, args);
    peak = Math.max(peak, r.memoryStats().bytes);
    return out;
  }) as typeof run;
  try {
    step();
  } finally {
    backend.run = run;
  }

  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    const w0 = performance.now();
    const c0 = process.cpuUsage();
    step();
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    wall.push(performance.now() - w0);
  }
  await state.loss.toArray();
  const median = (xs: number[]) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)]!;
  const result: NnBenchResult = {
    parameters: nn.countParameters(state.params),
    stepsPerSecond: 1000 / median(wall),
    msPerStep: median(wall),
    cpuStepsPerSecond: 1000 / median(cpu),
    cpuMsPerStep: median(cpu),
    peakBytesPerStep: peak - between,
    liveTensorsBetweenSteps: r.memoryStats().tensors,
  };
  r.dispose([state, batch]);
  return result;
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  // `npx tsx bench/nn.ts [steps] [backends]`: backends is a comma list (default `cpu,wasm-1,wasm`;
  // `wasm-1` is the wasm backend on one thread). They alternate in rounds, so load on a shared machine
  // falls on all of them alike; medians over the rounds.
  const steps = Number(process.argv[2] ?? 12);
  const names = (process.argv[3] ?? 'cpu,wasm-1,wasm').split(',');
  r.registerBackend('wasm-1', () => createWasmBackendSync({ threads: 1 }));
  for (const n of names) {
    const b = await r.setBackend(n);
    if (b.name === 'wasm') await (b as WasmBackend).ready();
  }
  const rounds = 3;
  const results = new Map<string, NnBenchResult[]>();
  for (let round = 0; round < rounds; round++) {
    for (const n of round % 2 === 0 ? names : [...names].reverse()) {
      await r.setBackend(n);
      const res = await benchTinyUvit(Math.max(2, Math.round(steps / rounds)));
      results.set(n, [...(results.get(n) ?? []), res]);
    }
  }
  const med = (xs: number[]) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)]!;
  const summary = names.map((n) => {
    const rs = results.get(n)!;
    return { backend: n, ...rs[0]!, msPerStep: med(rs.map((x) => x.msPerStep)), stepsPerSecond: 1000 / med(rs.map((x) => x.msPerStep)), cpuMsPerStep: med(rs.map((x) => x.cpuMsPerStep)), cpuStepsPerSecond: 1000 / med(rs.map((x) => x.cpuMsPerStep)) };
  });
  const base = summary[0]!;
  console.log(`tiny U-ViT (${base.parameters} parameters), batch 8×8×32×32×1, forward + backward + Adam; ${rounds} alternating rounds:`);
  for (const x of summary) {
    console.log(
      `  ${x.backend.padEnd(7)} ${x.stepsPerSecond.toFixed(2)} steps/s wall (${x.msPerStep.toFixed(0)} ms), ${x.cpuMsPerStep.toFixed(0)} ms CPU time/step, ` +
        `${(base.msPerStep / x.msPerStep).toFixed(2)}× ${base.backend} by wall clock; peak ${(x.peakBytesPerStep / 2 ** 20).toFixed(1)} MiB within a step, ${x.liveTensorsBetweenSteps} tensors between steps`,
    );
  }
  console.log(JSON.stringify({ bench: 'nn.tinyUvit', results: summary }));
}
