/**
 * Training throughput of the tiny U-ViT on the CPU backend: forward + backward + Adam on batches of
 * 8 clips × 8 frames × 32×32×1 with a per-frame logSNR, and the peak of `memoryStats().bytes` within
 * a step above what lives between steps. Run alone with `npx tsx bench/nn.ts [steps]`; the last line
 * printed is one JSON object for `npm run bench`.
 *
 * Two rates are reported: by wall clock, and by this process's CPU time. The kernels run on one
 * thread, so on a machine shared with other work the CPU-time rate is what the step costs.
 */
import * as r from '../index';
import * as nn from '../nn';

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
  const res = await benchTinyUvit(Number(process.argv[2] ?? 10));
  console.log(`tiny U-ViT (${res.parameters} parameters), batch 8×8×32×32×1, forward + backward + Adam, ${r.getBackendName()} backend:`);
  console.log(`  ${res.stepsPerSecond.toFixed(2)} steps/s by wall clock (median ${res.msPerStep.toFixed(0)} ms/step)`);
  console.log(`  ${res.cpuStepsPerSecond.toFixed(2)} steps/s by CPU time (median ${res.cpuMsPerStep.toFixed(0)} ms/step)`);
  console.log(`  peak ${(res.peakBytesPerStep / 2 ** 20).toFixed(1)} MiB of tensors live within a step, above the ${res.liveTensorsBetweenSteps} tensors kept between steps`);
  console.log(JSON.stringify({ bench: 'nn.tinyUvit', ...res }));
}
