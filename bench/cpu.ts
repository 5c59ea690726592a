/**
 * The CPU backend against its peers, from one process: `@tensorflow/tfjs-backend-cpu` (plain
 * JavaScript, like ours) and `@tensorflow/tfjs-backend-wasm` (C++ with SIMD compiled to
 * WebAssembly; in Node it runs single-threaded). The peers are dev dependencies used only here.
 *
 *   npx tsx bench/cpu.ts [--quick] [--clock cpu|wall] [--filter matmul] [--peers cpu,wasm|none]
 *
 * Every case runs the same computation on the same values in each library; the table gives the
 * median time per run, GFLOP/s where the work is multiply-adds, and each peer's time divided by ours
 * (above 1×: we are faster).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as r from '../index.js';
import { flag, formatMs, formatRatio, gflops, machine, race, table, type Clock, type Contender, type Timing, registerPeerGradients } from './util.js';

type TF = typeof import('@tensorflow/tfjs-core');
type TFTensor = import('@tensorflow/tfjs-core').Tensor;

interface Case {
  readonly name: string;
  /** Floating-point operations per run (2 per multiply-add), when that is the meaningful measure. */
  readonly flops?: number;
  /** Make inputs and return one run; `cleanup` frees the inputs. */
  readonly ours: () => { run: () => void; cleanup: () => void };
  readonly tf: (tf: TF) => { run: () => void; cleanup: () => void };
}

/** Deterministic values in [lo, hi) (a 32-bit LCG), the same for every library. */
function values(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return v;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function ours(shapes: readonly (readonly number[])[], op: (...xs: r.Tensor[]) => r.Tensor, lo = -1, hi = 1) {
  return () => {
    const xs = shapes.map((s, i) => r.fromArray(values(size(s), 17 + i, lo, hi), s, 'float32'));
    return {
      // tidy frees the intermediates a composed op makes (conv2d's patches); tfjs ops do that themselves.
      run: () => void r.tidy(() => void op(...xs)),
      cleanup: () => r.dispose(xs),
    };
  };
}

function peer(shapes: readonly (readonly number[])[], op: (tf: TF, ...xs: TFTensor[]) => TFTensor, lo = -1, hi = 1) {
  return (tf: TF) => {
    const xs = shapes.map((s, i) => tf.tensor(values(size(s), 17 + i, lo, hi), [...s], 'float32'));
    return {
      run: () => op(tf, ...xs).dispose(),
      cleanup: () => tf.dispose(xs),
    };
  };
}

function matmulCase(n: number): Case {
  const shapes = [[n, n], [n, n]];
  return {
    name: `matmul ${n}×${n}×${n}`,
    flops: 2 * n ** 3,
    ours: ours(shapes, (a, b) => r.matmul(a, b)),
    tf: peer(shapes, (tf, a, b) => tf.matMul(a as never, b as never)),
  };
}

const conv = { n: 8, h: 32, w: 32, ci: 64, co: 64, k: 3 };
const convShapes = [[conv.n, conv.h, conv.w, conv.ci], [conv.k, conv.k, conv.ci, conv.co]];
const convFlops = 2 * conv.n * conv.h * conv.w * conv.co * conv.k * conv.k * conv.ci;
const convGradShapes = [[2, conv.h, conv.w, conv.ci], convShapes[1]!];

const mlp = { batch: 64, sizes: [784, 256, 256, 10] };
/** Multiply-adds of the forward pass, and of the backward pass (all weight gradients, input gradients of layers 2 and 3). */
const mlpFlops = (() => {
  const layers = mlp.sizes.slice(1).map((o, i) => 2 * mlp.batch * mlp.sizes[i]! * o);
  const forward = layers.reduce((a, b) => a + b, 0);
  return forward + forward + (forward - layers[0]!);
})();

function mlpOurs(): { run: () => void; cleanup: () => void } {
  const { batch, sizes } = mlp;
  const params = {
    layers: sizes.slice(1).map((o, i) => ({
      w: r.fromArray(values(sizes[i]! * o, 100 + i, -0.05, 0.05), [sizes[i]!, o], 'float32'),
      b: r.fromArray(values(o, 200 + i, -0.05, 0.05), [o], 'float32'),
    })),
  };
  const x = r.fromArray(values(batch * sizes[0]!, 1, 0, 1), [batch, sizes[0]!], 'float32');
  const labels = new Float32Array(batch * 10);
  for (let i = 0; i < batch; i++) labels[i * 10 + (i % 10)] = 1;
  const y = r.fromArray(labels, [batch, 10], 'float32');
  const loss = (p: typeof params) => {
    let h = x;
    p.layers.forEach((l, i) => {
      h = r.add(r.matmul(h, l.w), l.b);
      if (i < p.layers.length - 1) h = r.relu(h);
    });
    return r.neg(r.mean(r.sum(r.mul(y, r.logSoftmax(h, -1)), -1)));
  };
  const step = r.valueAndGrad(loss);
  return {
    run: () => r.dispose(step(params)),
    cleanup: () => r.dispose([params, x, y]),
  };
}

function mlpPeer(tf: TF): { run: () => void; cleanup: () => void } {
  const { batch, sizes } = mlp;
  const ws = sizes.slice(1).map((o, i) => tf.tensor(values(sizes[i]! * o, 100 + i, -0.05, 0.05), [sizes[i]!, o]));
  const bs = sizes.slice(1).map((o, i) => tf.tensor(values(o, 200 + i, -0.05, 0.05), [o]));
  const x = tf.tensor(values(batch * sizes[0]!, 1, 0, 1), [batch, sizes[0]!]);
  const labels = new Float32Array(batch * 10);
  for (let i = 0; i < batch; i++) labels[i * 10 + (i % 10)] = 1;
  const y = tf.tensor(labels, [batch, 10]);
  const loss = (...p: TFTensor[]) => {
    let h: TFTensor = x;
    for (let i = 0; i < ws.length; i++) {
      h = tf.add(tf.matMul(h as never, p[2 * i] as never), p[2 * i + 1]!);
      if (i < ws.length - 1) h = tf.relu(h);
    }
    return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(h, -1)), -1))) as import('@tensorflow/tfjs-core').Scalar;
  };
  const step = tf.valueAndGrads(loss);
  const args = ws.flatMap((w, i) => [w, bs[i]!]);
  return {
    run: () => tf.tidy(() => void step(args)),
    cleanup: () => tf.dispose([...ws, ...bs, x, y]),
  };
}

export const cases: readonly Case[] = [
  matmulCase(256),
  matmulCase(512),
  matmulCase(1024),
  {
    name: `conv2d ${conv.n}×${conv.h}×${conv.w}×${conv.ci}→${conv.co}, 3×3 same`,
    flops: convFlops,
    ours: ours(convShapes, (x, w) => r.conv2d(x, w, { padding: 'same' })),
    tf: peer(convShapes, (tf, x, w) => tf.conv2d(x as never, w as never, 1, 'same')),
  },
  {
    // Batch 2: tfjs-cpu's filter gradient is a plain 7-deep loop that takes over a minute at batch 8.
    name: `conv2d same, gradient wrt x and w, batch 2`,
    flops: (3 * convFlops) / 4,
    ours: () => {
      const [x, w] = convGradShapes.map((s, i) => r.fromArray(values(size(s), 17 + i), s, 'float32')) as [r.Tensor, r.Tensor];
      const g = r.grad((p: { x: r.Tensor; w: r.Tensor }) => r.sum(r.conv2d(p.x, p.w, { padding: 'same' })));
      return { run: () => r.dispose(g({ x, w })), cleanup: () => r.dispose([x, w]) };
    },
    tf: (tf) => {
      const [x, w] = convGradShapes.map((s, i) => tf.tensor(values(size(s), 17 + i), s)) as [TFTensor, TFTensor];
      const g = tf.grads((a: TFTensor, b: TFTensor) => tf.sum(tf.conv2d(a as never, b as never, 1, 'same')));
      return { run: () => tf.tidy(() => void g([x, w])), cleanup: () => tf.dispose([x, w]) };
    },
  },
  { name: 'add 1M', ours: ours([[1 << 20], [1 << 20]], r.add), tf: peer([[1 << 20], [1 << 20]], (tf, a, b) => tf.add(a, b)) },
  { name: 'mul 1M', ours: ours([[1 << 20], [1 << 20]], r.mul), tf: peer([[1 << 20], [1 << 20]], (tf, a, b) => tf.mul(a, b)) },
  { name: 'exp 1M', ours: ours([[1 << 20]], r.exp), tf: peer([[1 << 20]], (tf, a) => tf.exp(a)) },
  {
    name: 'add [1000,1000] + [1000]',
    ours: ours([[1000, 1000], [1000]], r.add),
    tf: peer([[1000, 1000], [1000]], (tf, a, b) => tf.add(a, b)),
  },
  { name: 'sum 1M, all', ours: ours([[1 << 20]], (a) => r.sum(a)), tf: peer([[1 << 20]], (tf, a) => tf.sum(a)) },
  {
    name: 'sum [1000,1000] axis 0',
    ours: ours([[1000, 1000]], (a) => r.sum(a, 0)),
    tf: peer([[1000, 1000]], (tf, a) => tf.sum(a, 0)),
  },
  {
    name: 'sum [1000,1000] axis 1',
    ours: ours([[1000, 1000]], (a) => r.sum(a, 1)),
    tf: peer([[1000, 1000]], (tf, a) => tf.sum(a, 1)),
  },
  {
    name: 'transpose [1000,1000]',
    ours: ours([[1000, 1000]], (a) => r.transpose(a)),
    tf: peer([[1000, 1000]], (tf, a) => tf.transpose(a)),
  },
  {
    name: `MLP ${mlp.sizes.join('→')}, batch ${mlp.batch}: valueAndGrad`,
    flops: mlpFlops,
    ours: mlpOurs,
    tf: mlpPeer,
  },
];

interface Peer {
  readonly name: string;
  readonly backend: string;
}

/** Load tfjs and the requested backends; returns what could be set up, with a note on each. */
async function loadPeers(wanted: readonly string[]): Promise<{ tf: TF | null; peers: Peer[]; notes: string[] }> {
  const notes: string[] = [];
  if (wanted.length === 0) return { tf: null, peers: [], notes };
  let tf: TF;
  try {
    tf = await import('@tensorflow/tfjs-core');
    await registerPeerGradients(tf);
  } catch (e) {
    return { tf: null, peers: [], notes: [`@tensorflow/tfjs-core could not be loaded (${(e as Error).message}): peers skipped; they are dev dependencies (npm install --include=dev)`] };
  }
  const peers: Peer[] = [];
  if (wanted.includes('cpu')) {
    try {
      await import('@tensorflow/tfjs-backend-cpu');
      await tf.setBackend('cpu');
      // Silence the one-time "install tfjs-node" banner the backend prints on its first upload.
      (tf.findBackend('cpu') as unknown as { firstUse: boolean }).firstUse = false;
      peers.push({ name: 'tfjs-cpu', backend: 'cpu' });
    } catch (e) {
      notes.push(`tfjs-backend-cpu unavailable: ${(e as Error).message}`);
    }
  }
  if (wanted.includes('wasm')) {
    try {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const require = createRequire(import.meta.url);
      wasm.setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
      if (!(await tf.setBackend('wasm'))) throw new Error('setBackend returned false');
      const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      notes.push(`tfjs-wasm ${wasm.version_wasm}: SIMD ${simd ? 'on' : 'off'}, multithreading ${threads ? `on (${wasm.getThreadsCount()} threads)` : 'off (Node has no SharedArrayBuffer workers for it)'}`);
      peers.push({ name: 'tfjs-wasm', backend: 'wasm' });
    } catch (e) {
      notes.push(`tfjs-backend-wasm unavailable: ${(e as Error).message}`);
    }
  }
  return { tf, peers, notes };
}

export interface CpuBenchRow {
  readonly name: string;
  readonly flops?: number;
  readonly timings: readonly Timing[];
}

export async function run(argv: readonly string[] = []): Promise<CpuBenchRow[]> {
  const quick = argv.includes('--quick');
  const clock = (flag(argv, 'clock') ?? 'cpu') as Clock;
  if (clock !== 'cpu' && clock !== 'wall') throw new Error(`bench/cpu: --clock must be cpu or wall, got ${clock}`);
  const filter = flag(argv, 'filter');
  const peersFlag = flag(argv, 'peers') ?? 'cpu,wasm';
  const wanted = peersFlag === 'none' ? [] : peersFlag.split(',');
  const m = machine();
  r.setBackend('cpu');
  const { tf, peers, notes } = await loadPeers(wanted);
  console.log(`CPU backend benchmark — ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.date}, load average ${m.load}`);
  console.log(`clock: ${clock === 'cpu' ? 'process CPU time per run (the machine is shared; --clock wall for wall time)' : 'wall time per run'}; median of interleaved samples after warm-up`);
  for (const n of notes) console.log(n);
  const selected = cases.filter((c) => !filter || c.name.includes(filter));
  const rows: CpuBenchRow[] = [];
  const options = quick ? { clock, budgetMs: 400, minSamples: 3, maxSamples: 9 } : { clock, budgetMs: 2500, minSamples: 5, maxSamples: 41 };
  for (const c of selected) {
    const mine = c.ours();
    const theirs: { p: Peer; made: { run: () => void; cleanup: () => void } }[] = [];
    const missing: string[] = [];
    for (const p of tf ? peers : []) {
      await tf!.setBackend(p.backend);
      const made = c.tf(tf!);
      try {
        made.run();
        theirs.push({ p, made });
      } catch (e) {
        // e.g. tfjs-wasm has no Conv2DBackpropFilter kernel.
        made.cleanup();
        missing.push(`${p.name}: ${(e as Error).message}`);
      }
    }
    const contenders: Contender[] = [
      { name: 'ours', run: mine.run },
      ...theirs.map(({ p, made }) => ({ name: p.name, before: async () => void (await tf!.setBackend(p.backend)), run: made.run })),
    ];
    const timings = await race(contenders, options);
    mine.cleanup();
    for (const { p, made } of theirs) {
      await tf!.setBackend(p.backend);
      made.cleanup();
    }
    rows.push({ name: c.name, flops: c.flops, timings });
    process.stdout.write(`  ${c.name}: ${[...timings.map((t) => `${t.name} ${formatMs(t.medianMs)} ms`), ...missing.map((m) => `(${m})`)].join(', ')}\n`);
  }
  console.log();
  console.log(report(rows, peers.map((p) => p.name)));
  return rows;
}

/** The results table: times, GFLOP/s and each peer's time over ours. */
export function report(rows: readonly CpuBenchRow[], peerNames: readonly string[]): string {
  const header = ['case', 'ours ms', ...peerNames.map((p) => `${p} ms`), 'ours GFLOP/s', ...peerNames.map((p) => `${p} GFLOP/s`), ...peerNames.map((p) => `${p} / ours`)];
  const body = rows.map((row) => {
    const t = (name: string) => row.timings.find((x) => x.name === name)?.medianMs;
    const mine = t('ours');
    return [
      row.name,
      formatMs(mine),
      ...peerNames.map((p) => formatMs(t(p))),
      gflops(row.flops, mine),
      ...peerNames.map((p) => gflops(row.flops, t(p))),
      ...peerNames.map((p) => formatRatio(mine && t(p) !== undefined ? t(p)! / mine : undefined)),
    ];
  });
  return table(header, body);
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href;
if (isMain) await run(process.argv.slice(2));
