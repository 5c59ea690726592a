/**
 * Training throughput of the tiny U-ViT on each backend (by default the CPU-side ones: pure TS, wasm
 * on one thread, wasm threaded; `webgpu` on request): forward + backward + Adam on batches of
 * 8 clips × 8 frames × 32×32×1 with a per-frame logSNR. Run alone with
 * `npx tsx bench/nn.ts [steps] [backends]` (or `BENCH_BACKENDS=cpu,wasm,webgpu`, which also reaches
 * it through `npm run bench -- --only nn`); the last line printed is one JSON object.
 *
 * Every timed step ends by reading its loss back to the host, so a backend that records work and
 * runs it later (WebGPU) is timed to completion, not to the end of recording.
 *
 * Two rates are reported: by wall clock, and by this process's CPU time (all threads: for the
 * threaded wasm backend, and for SwiftShader's WebGPU, that is the work, not the waiting).
 *
 * Two memory figures, from one instrumented step: the peak of `memoryStats().bytes` (the bytes of
 * all live tensors, whatever the backend holds them in; not the WebGPU buffer pool's spare buffers)
 * within the step above what lives between steps, and the peak resident set size of the whole
 * process during the step (`process.memoryUsage().rss`: JS heap, wasm memory, the driver's host
 * memory, and on a software adapter such as SwiftShader the GPU buffers themselves; it includes
 * everything earlier backends in the same run left behind, so read it as an upper bound).
 */
import * as r from '../index.js';
import * as nn from '../nn/index.js';
import { createWasmBackendSync, type WasmBackend } from '../backends/wasm/index.js';
import type { WebGPUBackend } from '../backends/webgpu/index.js';

export interface NnBenchResult {
  parameters: number;
  stepsPerSecond: number;
  msPerStep: number;
  cpuStepsPerSecond: number;
  cpuMsPerStep: number;
  /** Peak of `memoryStats().bytes` (live tensors) within a step, above what lives between steps. */
  peakBytesPerStep: number;
  /** Peak `process.memoryUsage().rss` during a step: the whole process, absolute. */
  peakRssBytes: number;
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
    state = nn.minimizeStep(lossFn, optimizer, state);
    // The read waits for the step's work to finish (WebGPU runs it after recording returns).
    return state.loss.toArray();
  };
  // Warm-up: JIT compilation, shader compilation and the buffer pool's first allocations.
  for (let i = 0; i < 2; i++) await step();

  // Peaks sampled after every primitive the backend runs (a wrapper, removed afterwards), and the
  // RSS also every millisecond while the step's read is pending (the GPU's work happens then).
  const backend = r.getBackend();
  const run = backend.run;
  const between = r.memoryStats().bytes;
  let peak = between;
  let peakRss = process.memoryUsage.rss();
  const sampleRss = () => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  };
  backend.run = ((...args: Parameters<typeof run>) => {
    const out = run.apply(backend, args);
    peak = Math.max(peak, r.memoryStats().bytes);
    sampleRss();
    return out;
  }) as typeof run;
  const sampler = setInterval(sampleRss, 1);
  try {
    await step();
    sampleRss();
  } finally {
    clearInterval(sampler);
    backend.run = run;
  }

  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < steps; i++) {
    const w0 = performance.now();
    const c0 = process.cpuUsage();
    await step();
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    wall.push(performance.now() - w0);
  }
  const median = (xs: number[]) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)]!;
  const result: NnBenchResult = {
    parameters: nn.countParameters(state.params),
    stepsPerSecond: 1000 / median(wall),
    msPerStep: median(wall),
    cpuStepsPerSecond: 1000 / median(cpu),
    cpuMsPerStep: median(cpu),
    peakBytesPerStep: peak - between,
    peakRssBytes: peakRss,
    liveTensorsBetweenSteps: r.memoryStats().tensors,
  };
  r.dispose([state, batch]);
  return result;
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  // `npx tsx bench/nn.ts [steps] [backends]`: backends is a comma list (default `cpu,wasm-1,wasm`, or
  // $BENCH_BACKENDS; `wasm-1` is the wasm backend on one thread; `webgpu` needs an adapter, see
  // bench/webgpu.ts). They alternate in rounds, so load on a shared machine falls on all of them
  // alike; medians over the rounds.
  const steps = Number(process.argv[2] ?? 12);
  const names = (process.argv[3] ?? process.env['BENCH_BACKENDS'] ?? 'cpu,wasm-1,wasm').split(',').map((n) => n.trim()).filter(Boolean);
  r.registerBackend('wasm-1', () => createWasmBackendSync({ threads: 1 }));
  for (const n of names) {
    const b = await r.setBackend(n);
    if (b.name === 'wasm') await (b as WasmBackend).ready();
    if (n === 'webgpu') {
      const { describeAdapter } = await import('../backends/webgpu/index.js');
      console.log(`webgpu adapter: ${describeAdapter((b as WebGPUBackend).adapter)}; kernel schedule ${(b as WebGPUBackend).schedule}`);
    }
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
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  console.log(`tiny U-ViT (${base.parameters} parameters), batch 8×8×32×32×1, forward + backward + Adam, each step timed until its loss is read back; ${rounds} alternating rounds:`);
  for (const x of summary) {
    console.log(
      `  ${x.backend.padEnd(7)} ${x.stepsPerSecond.toFixed(2)} steps/s wall (${x.msPerStep.toFixed(0)} ms), ${x.cpuMsPerStep.toFixed(0)} ms CPU time/step, ` +
        `${(base.msPerStep / x.msPerStep).toFixed(2)}× ${base.backend} by wall clock; live tensors peak ${mib(x.peakBytesPerStep)} above between-step, ` +
        `process RSS peak ${mib(x.peakRssBytes)}; ${x.liveTensorsBetweenSteps} tensors between steps`,
    );
  }
  console.log(
    '  memory: "live tensors peak" is the most memoryStats().bytes (bytes of all live tensors, on any backend) rose within one step above what lives between steps; ' +
      '"process RSS peak" is the highest process.memoryUsage().rss (whole process, absolute, including what earlier backends in this run left; on SwiftShader it holds the GPU buffers too) during that step.',
  );
  console.log(JSON.stringify({ bench: 'nn.tinyUvit', results: summary }));
}
