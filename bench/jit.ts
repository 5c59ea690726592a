/**
 * `jit` against eager execution and against jax-js's `jit`, one process, side by side: an MLP
 * training step (`valueAndGrad` of a mean-squared-error loss and an SGD update of the parameters)
 * on our wasm backend, eager and jitted, and the same step in jax-js (`@jax-js/jax`, its wasm
 * device), jitted. Prints ms per step (median of interleaved rounds; CPU time of the process, as
 * bench/util.ts measures, since every contender runs on one thread and the machines are shared) and, for ours, the
 * kernels dispatched per step (`backend.run` + `backend.runExpression` calls) with and without jit.
 *
 *   npx tsx bench/jit.ts [--threads 1] [--steps 30] [--rounds 5] [--batch 128] [--sizes 64,256,256,10]
 *
 * jax-js runs threads through `Worker`, which Node 20 lacks as a global, so in Node it runs on one
 * thread; `--threads 1` (the default) gives our backend one thread too, for an equal comparison.
 */
import { parseArgs } from 'node:util';
import { createWasmBackendSync } from '../backends/wasm/index.js';
import { add, dispose, getBackend, jit, matmul, mean, memoryStats, mul, registerBackend, setBackend, square, sub, tanh, tensor, tidy, valueAndGrad, type Tensor } from '../index.js';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1' },
    steps: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '7' },
    batch: { type: 'string', default: '128' },
    sizes: { type: 'string', default: '64,256,256,10' },
  },
});
const threads = Number(values.threads);
const steps = Number(values.steps);
const rounds = Number(values.rounds);
const batch = Number(values.batch);
const sizes = values.sizes!.split(',').map(Number);

registerBackend('wasm-bench', () => createWasmBackendSync({ threads }));
await ((await setBackend('wasm-bench')) as unknown as { ready(): Promise<unknown> }).ready();
const backend = getBackend();

/** Deterministic values in [-scale, scale). */
function values32(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

const layers = sizes.slice(1).map((n, i) => ({ w: values32(sizes[i]! * n, 11 + i, 1 / Math.sqrt(sizes[i]!)), b: new Float32Array(n), inF: sizes[i]!, outF: n }));
const xData = values32(batch * sizes[0]!, 1, 1);
const yData = values32(batch * sizes[sizes.length - 1]!, 2, 1);
const LR = 0.01;

// ---------------------------------------------------------------- ours

type Params = { w: Tensor; b: Tensor }[];
const loss = (p: Params, x: Tensor, y: Tensor): Tensor => {
  let h = x;
  p.forEach((l, i) => {
    h = add(matmul(h, l.w), l.b);
    if (i < p.length - 1) h = tanh(h);
  });
  return mean(square(sub(h, y)));
};
const step = (p: Params, x: Tensor, y: Tensor): [Tensor, Params] => {
  const [l, g] = valueAndGrad(loss)(p, x, y);
  return [l, p.map((q, i) => ({ w: sub(q.w, mul(g[i]!.w, LR)), b: sub(q.b, mul(g[i]!.b, LR)) }))];
};
const eager = (p: Params, xx: Tensor, yy: Tensor) => tidy(() => step(p, xx, yy));
const jitted = jit(step);

/** CPU time of this process in ms (every contender runs on one thread: the work done, not the waiting on a loaded machine). */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const x = tensor(xData, [batch, sizes[0]!]);
const y = tensor(yData, [batch, sizes[sizes.length - 1]!]);
const initParams = (): Params => layers.map((l) => ({ w: tensor(l.w, [l.inF, l.outF]), b: tensor(l.b, [l.outF]) }));

let dispatches = 0;
const run = backend.run.bind(backend);
const runExpression = backend.runExpression!.bind(backend);
backend.run = ((...args: Parameters<typeof run>) => (dispatches++, run(...args))) as typeof run;
backend.runExpression = ((...args: Parameters<typeof runExpression>) => (dispatches++, runExpression(...args))) as typeof runExpression;

/** `steps` training steps; returns ms per step, dispatches per step and the last loss. */
function ours(fn: typeof step): { ms: number; dispatches: number; loss: number } {
  let p = initParams();
  let last: Tensor | null = null;
  const d0 = dispatches;
  const t0 = cpuMs();
  for (let i = 0; i < steps; i++) {
    const [l, next] = fn(p, x, y);
    dispose(p);
    last?.dispose();
    p = next;
    last = l;
  }
  const ms = (cpuMs() - t0) / steps;
  const out = { ms, dispatches: (dispatches - d0) / steps, loss: last!.toArraySync()[0]! };
  dispose([p, last]);
  return out;
}

// ---------------------------------------------------------------- jax-js

type JaxRunner = () => { ms: number; loss: number };
let jax: JaxRunner | null = null;
let jaxWhyNot = '';
try {
  const jx = await import('@jax-js/jax');
  await jx.init('wasm');
  jx.defaultDevice('wasm');
  const np = jx.numpy;
  type JParams = { w: InstanceType<typeof np.Array>; b: InstanceType<typeof np.Array> }[];
  // jax-js's ownership rules: every argument is consumed, `.ref` keeps a value for another use.
  const jLoss = (p: JParams, xx: InstanceType<typeof np.Array>, yy: InstanceType<typeof np.Array>) => {
    let h = xx;
    p.forEach((l, i) => {
      h = np.add(np.matmul(h, l.w), l.b);
      if (i < p.length - 1) h = np.tanh(h);
    });
    const d = np.subtract(h, yy);
    return np.mean(np.multiply(d.ref, d));
  };
  const jStep = jx.jit((p: JParams, xx: InstanceType<typeof np.Array>, yy: InstanceType<typeof np.Array>) => {
    const [l, g] = jx.valueAndGrad(jLoss)(jx.tree.ref(p), xx, yy) as [InstanceType<typeof np.Array>, JParams];
    return [l, p.map((q, i) => ({ w: np.subtract(q.w, np.multiply(g[i]!.w, LR)), b: np.subtract(q.b, np.multiply(g[i]!.b, LR)) }))];
  });
  const jx0 = np.array(xData).reshape([batch, sizes[0]!]);
  const jy0 = np.array(yData).reshape([batch, sizes[sizes.length - 1]!]);
  const jInit = (): JParams => layers.map((l) => ({ w: np.array(l.w).reshape([l.inF, l.outF]), b: np.array(l.b) }));
  jax = () => {
    let p = jInit();
    let last: InstanceType<typeof np.Array> | null = null;
    const t0 = cpuMs();
    for (let i = 0; i < steps; i++) {
      const [l, next] = jStep(p, jx0.ref, jy0.ref) as [InstanceType<typeof np.Array>, JParams];
      last?.dispose();
      p = next;
      last = l;
    }
    const loss = last!.dataSync()[0]!; // waits for the last step's work; consumes `last`
    const ms = (cpuMs() - t0) / steps;
    jx.tree.dispose(p);
    return { ms, loss };
  };
} catch (e) {
  jaxWhyNot = (e as Error).message;
}

// ---------------------------------------------------------------- rounds

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const samples: Record<string, number[]> = { eager: [], jit: [], jaxjs: [] };
let info = { eagerDispatches: 0, jitDispatches: 0, eagerLoss: 0, jitLoss: 0, jaxLoss: NaN };
ours(eager); // warm up (kernels compiled, pools filled)
ours(jitted);
jax?.();
const tensorsBefore = memoryStats().tensors;
for (let r = 0; r < rounds; r++) {
  const e = ours(eager);
  const j = ours(jitted);
  samples.eager!.push(e.ms);
  samples.jit!.push(j.ms);
  info = { ...info, eagerDispatches: e.dispatches, jitDispatches: j.dispatches, eagerLoss: e.loss, jitLoss: j.loss };
  if (jax) {
    const k = jax();
    samples.jaxjs!.push(k.ms);
    info.jaxLoss = k.loss;
  }
}
const s = jitted.stats();
console.log(
  JSON.stringify({
    model: `MLP ${sizes.join('→')}, batch ${batch}, valueAndGrad + SGD`,
    threads: (backend as unknown as { threads?: number }).threads ?? 1,
    steps,
    rounds,
    eagerMsPerStep: median(samples.eager!),
    jitMsPerStep: median(samples.jit!),
    jaxjsJitMsPerStep: jax ? median(samples.jaxjs!) : null,
    jaxjs: jax ? 'ran (@jax-js/jax 0.1.25, wasm device, one thread: Node 20 has no global Worker)' : `did not run: ${jaxWhyNot}`,
    eagerDispatchesPerStep: info.eagerDispatches,
    jitDispatchesPerStep: info.jitDispatches,
    jitPrimitivesPerStep: s.primitives,
    jitFusedKernelsPerStep: s.fused,
    lossEager: info.eagerLoss,
    lossJit: info.jitLoss,
    lossJaxjs: info.jaxLoss,
    leakedTensors: memoryStats().tensors - tensorsBefore,
    samplesMs: samples,
  }),
);
dispose([x, y]);
jitted.clear();
