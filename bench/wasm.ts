/**
 * The wasm backend against its peers, side by side in one process: `@tensorflow/tfjs-backend-wasm`
 * (XNNPACK compiled to wasm with SIMD) and our pure-TS CPU backend, plus our wasm backend on one and
 * on two threads. tfjs-wasm's threaded build cannot start its workers in Node as shipped (it makes
 * them from a blob: URL); `--tfjs-threads N` measures it in a child process with a workaround
 * (the worker script written to a temporary file), since its threading is fixed per process.
 *
 *   npx tsx bench/wasm.ts [--quick] [--filter matmul] [--threads 2] [--tfjs-threads 2|0]
 *
 * The machines are shared (load averages far above the core count), so single-threaded contenders
 * are timed by process CPU time, which a preempted run is not charged for; the threaded comparison
 * needs wall time and is only as good as the machine is quiet. Tables give median and best.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as r from '../index.js';
import { createWasmBackend } from '../backends/wasm/index.js';
import { flag, formatMs, formatRatio, machine, race, table, type Clock, type Contender, type Timing, registerPeerGradients } from './util.js';

type TF = typeof import('@tensorflow/tfjs-core');
type TFTensor = import('@tensorflow/tfjs-core').Tensor;

interface Made {
  run: () => void;
  cleanup: () => void;
}

interface Case {
  readonly name: string;
  readonly flops: number;
  readonly ours: () => Made;
  readonly tf: (tf: TF) => Made;
}

function values(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return v;
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function matmulCase(n: number): Case {
  return {
    name: `matmul ${n}×${n}×${n}`,
    flops: 2 * n ** 3,
    ours: () => {
      const a = r.fromArray(values(n * n, 1), [n, n], 'float32');
      const b = r.fromArray(values(n * n, 2), [n, n], 'float32');
      return { run: () => r.tidy(() => void r.matmul(a, b)), cleanup: () => r.dispose([a, b]) };
    },
    tf: (tf) => {
      const a = tf.tensor(values(n * n, 1), [n, n]);
      const b = tf.tensor(values(n * n, 2), [n, n]);
      return { run: () => tf.matMul(a, b).dispose(), cleanup: () => tf.dispose([a, b]) };
    },
  };
}

const CONV = { batch: 8, hw: 32, cin: 64, cout: 64, k: 3 };

const convCase: Case = {
  name: `conv2d ${CONV.batch}×${CONV.hw}×${CONV.hw}×${CONV.cin}→${CONV.cout}, ${CONV.k}×${CONV.k} same`,
  flops: 2 * CONV.batch * CONV.hw * CONV.hw * CONV.cin * CONV.cout * CONV.k * CONV.k,
  ours: () => {
    const xs = [CONV.batch, CONV.hw, CONV.hw, CONV.cin];
    const ws = [CONV.k, CONV.k, CONV.cin, CONV.cout];
    const x = r.fromArray(values(size(xs), 3), xs, 'float32');
    const w = r.fromArray(values(size(ws), 4, -0.1, 0.1), ws, 'float32');
    return { run: () => r.tidy(() => void r.conv2d(x, w, { padding: 'same' })), cleanup: () => r.dispose([x, w]) };
  },
  tf: (tf) => {
    const x = tf.tensor4d(values(CONV.batch * CONV.hw * CONV.hw * CONV.cin, 3), [CONV.batch, CONV.hw, CONV.hw, CONV.cin]);
    const w = tf.tensor4d(values(CONV.k * CONV.k * CONV.cin * CONV.cout, 4, -0.1, 0.1), [CONV.k, CONV.k, CONV.cin, CONV.cout]);
    return { run: () => tf.conv2d(x, w, 1, 'same').dispose(), cleanup: () => tf.dispose([x, w]) };
  },
};

const MLP = { batch: 64, sizes: [784, 256, 256, 10] };

/** Forward and backward multiply-adds of the MLP step (no gradient for the input). */
function mlpFlops(): number {
  const { batch, sizes } = MLP;
  let f = 0;
  for (let i = 0; i + 1 < sizes.length; i++) f += 2 * batch * sizes[i]! * sizes[i + 1]! * (i === 0 ? 2 : 3);
  return f;
}

function mlpInputs(): { ws: { shape: number[]; data: Float32Array }[]; x: Float32Array; y: Float32Array } {
  const { batch, sizes } = MLP;
  const ws: { shape: number[]; data: Float32Array }[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const scale = Math.sqrt(2 / sizes[i]!);
    ws.push({ shape: [sizes[i]!, sizes[i + 1]!], data: values(sizes[i]! * sizes[i + 1]!, 10 + i, -scale, scale) });
    ws.push({ shape: [sizes[i + 1]!], data: values(sizes[i + 1]!, 20 + i, -0.01, 0.01) });
  }
  const classes = sizes[sizes.length - 1]!;
  const y = new Float32Array(batch * classes);
  for (let b = 0; b < batch; b++) y[b * classes + ((b * 7) % classes)] = 1;
  return { ws, x: values(batch * sizes[0]!, 5), y };
}

const mlpCase: Case = {
  name: `MLP valueAndGrad, batch ${MLP.batch}, ${MLP.sizes.join('→')}`,
  flops: mlpFlops(),
  ours: () => {
    const inp = mlpInputs();
    const params = inp.ws.map((w) => r.fromArray(w.data, w.shape, 'float32'));
    const x = r.fromArray(inp.x, [MLP.batch, MLP.sizes[0]!], 'float32');
    const y = r.fromArray(inp.y, [MLP.batch, MLP.sizes[MLP.sizes.length - 1]!], 'float32');
    const loss = (ps: r.Tensor[]): r.Tensor => {
      let h = x;
      for (let i = 0; i < ps.length; i += 2) {
        h = r.add(r.matmul(h, ps[i]!), ps[i + 1]!);
        if (i + 2 < ps.length) h = r.relu(h);
      }
      return r.mean(r.neg(r.sum(r.mul(r.logSoftmax(h, -1), y), -1)));
    };
    const step = r.valueAndGrad(loss);
    return {
      run: () => r.tidy(() => void step(params)[0].toArraySync()),
      cleanup: () => r.dispose([params, x, y]),
    };
  },
  tf: (tf) => {
    const inp = mlpInputs();
    const params = inp.ws.map((w) => tf.tensor(w.data, w.shape));
    const x = tf.tensor2d(inp.x, [MLP.batch, MLP.sizes[0]!]);
    const y = tf.tensor2d(inp.y, [MLP.batch, MLP.sizes[MLP.sizes.length - 1]!]);
    const loss = (...ps: TFTensor[]): TFTensor => {
      let h: TFTensor = x;
      for (let i = 0; i < ps.length; i += 2) {
        h = tf.add(tf.matMul(h, ps[i]!), ps[i + 1]!);
        if (i + 2 < ps.length) h = tf.relu(h);
      }
      return tf.mean(tf.neg(tf.sum(tf.mul(tf.logSoftmax(h, -1), y), -1)));
    };
    const step = tf.valueAndGrads(loss);
    return {
      run: () => tf.tidy(() => void step(params).value.dataSync()),
      cleanup: () => tf.dispose([...params, x, y]),
    };
  },
};

const cases: Case[] = [matmulCase(256), matmulCase(512), matmulCase(1024), convCase, mlpCase];

// ---------------------------------------------------------------- tfjs-wasm

/**
 * Start tfjs-wasm (SIMD); with `threads > 0`, its threaded build, made to start in Node: emscripten
 * makes pthread workers from a blob: URL Node's Worker refuses, so the worker script is written to a
 * temporary file and `URL.createObjectURL` returns that path; workers start without tsx's loader.
 */
async function loadTfjsWasm(threads: number): Promise<{ tf: TF; note: string }> {
  const tf = await import('@tensorflow/tfjs-core');
  await registerPeerGradients(tf);
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  wasm.setWasmPaths(path.join(dir, 'dist') + path.sep);
  if (threads > 0) {
    const { wasmWorkerContents } = require(path.join(dir, 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
    const main = path.join(dir, 'wasm-out/tfjs-backend-wasm-threaded-simd.js');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-wasm-')), 'worker.cjs');
    fs.writeFileSync(file, `URL.createObjectURL = () => ${JSON.stringify(main)};\n` + wasmWorkerContents.replace(/\n/g, '\\n'));
    const original = URL.createObjectURL.bind(URL);
    URL.createObjectURL = (b: Blob) => (b.type === 'application/javascript' ? file : original(b));
    const wt = require('node:worker_threads') as typeof import('node:worker_threads');
    const Base = wt.Worker;
    (wt as { Worker: unknown }).Worker = class extends Base {
      constructor(f: string | URL, o?: import('node:worker_threads').WorkerOptions) {
        super(f, { ...o, execArgv: [] });
      }
    };
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasm.setThreadsCount(threads);
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const mt = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  return { tf, note: `tfjs-wasm ${wasm.version_wasm}: SIMD ${simd ? 'on' : 'off'}, threaded build ${mt ? `on, XNNPACK reports ${wasm.getThreadsCount()} thread(s)` : 'off'}` };
}

// ---------------------------------------------------------------- running

interface Row {
  name: string;
  flops: number;
  /** Single-threaded contenders, timed by process CPU time (robust to a loaded machine). */
  single: Timing[];
  /** Our wasm backend on 1 and on N threads (and tfjs-wasm's threaded build), timed by wall clock. */
  threaded: Timing[];
}

type Options = { clock: Clock; budgetMs: number; minSamples: number; maxSamples: number };

const budget = (quick: boolean, clock: Clock): Options =>
  quick ? { clock, budgetMs: 600, minSamples: 3, maxSamples: 9 } : { clock, budgetMs: 3000, minSamples: 7, maxSamples: 41 };

/** Child mode: only tfjs-wasm with threads, wall clock, results as JSON on stdout. */
async function child(argv: readonly string[]): Promise<void> {
  const threads = Number(flag(argv, 'child-tfjs-threads'));
  const filter = flag(argv, 'filter');
  const { tf, note } = await loadTfjsWasm(threads);
  const out: { name: string; timing: Timing }[] = [];
  for (const c of cases.filter((c) => !filter || c.name.includes(filter))) {
    const made = c.tf(tf);
    const [timing] = await race([{ name: `tfjs-wasm ×${threads} (wall)`, run: made.run }], budget(argv.includes('--quick'), 'wall'));
    out.push({ name: c.name, timing: timing! });
    made.cleanup();
  }
  process.stdout.write(`\n@@RESULT${JSON.stringify({ note, out })}\n`);
}

export async function run(argv: readonly string[] = []): Promise<Row[]> {
  const quick = argv.includes('--quick');
  const filter = flag(argv, 'filter');
  const tfThreads = Number(flag(argv, 'tfjs-threads') ?? 2);
  const threads = Number(flag(argv, 'threads') ?? 2);
  const m = machine();
  const notes: string[] = [];

  const one = await createWasmBackend({ threads: 1 });
  // adaptive off: the threaded rows measure the threads, even where the machine is too busy for them to pay.
  const many = await createWasmBackend({ threads, adaptive: false });
  r.registerBackend('wasm-1', () => one);
  r.registerBackend('wasm-n', () => many);
  await r.setBackend('wasm-1');
  await r.setBackend('wasm-n');
  await r.setBackend('cpu');
  notes.push(`ours: wasm SIMD ${one.features.simd ? 'on' : 'off'}, relaxed SIMD ${one.features.relaxedSimd ? 'on' : 'off (not in this engine)'}, shared memory ${one.features.sharedMemory ? 'on' : 'off'}; ${many.threads} threads in the threaded rows`);

  let tf: TF | null = null;
  try {
    const loaded = await loadTfjsWasm(0);
    tf = loaded.tf;
    notes.push(loaded.note);
  } catch (e) {
    notes.push(`tfjs-backend-wasm unavailable: ${(e as Error).message}`);
  }

  console.log(`wasm backend benchmark — ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.date}, load average ${m.load}`);
  console.log('single-threaded columns: process CPU time per run (the machine is shared); threaded columns: wall time per run');

  const selected = cases.filter((c) => !filter || c.name.includes(filter));
  const rows: Row[] = [];
  for (const c of selected) {
    const made = new Map<string, Made>();
    for (const be of ['wasm-1', 'wasm-n', 'cpu']) {
      r.setBackend(be);
      made.set(be, c.ours());
    }
    const on = (be: string): Contender => ({ name: '', before: () => void r.setBackend(be), run: made.get(be)!.run });
    const theirs = tf ? c.tf(tf) : null;
    const single = await race(
      [
        { ...on('wasm-1'), name: 'ours wasm ×1' },
        ...(theirs ? [{ name: 'tfjs-wasm ×1', run: theirs.run }] : []),
        { ...on('cpu'), name: 'ours cpu (pure TS)' },
      ],
      budget(quick, 'cpu'),
    );
    const threaded = await race([{ ...on('wasm-1'), name: 'ours wasm ×1 (wall)' }, { ...on('wasm-n'), name: `ours wasm ×${many.threads} (wall)` }], budget(quick, 'wall'));
    theirs?.cleanup();
    for (const [be, x] of made) {
      r.setBackend(be);
      x.cleanup();
    }
    rows.push({ name: c.name, flops: c.flops, single, threaded });
  }

  if (tf && tfThreads > 0) {
    try {
      const self = fileURLToPath(import.meta.url);
      const out = execFileSync(process.execPath, [...process.execArgv, self, `--child-tfjs-threads=${tfThreads}`, ...(filter ? [`--filter=${filter}`] : []), ...(quick ? ['--quick'] : [])], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 20 * 60_000,
      });
      const res = JSON.parse(out.slice(out.indexOf('@@RESULT') + 8)) as { note: string; out: { name: string; timing: Timing }[] };
      notes.push(`${res.note} (child process, wall time)`);
      for (const x of res.out) rows.find((row) => row.name === x.name)?.threaded.push(x.timing);
    } catch (e) {
      notes.push(`tfjs-wasm with threads could not run: ${(e as Error).message.split('\n')[0]}`);
    }
  }

  for (const n of notes) console.log(n);
  const gf = (row: Row, t: Timing | undefined): string => (t ? `${(row.flops / t.medianMs / 1e6).toFixed(1)} (${(row.flops / t.minMs / 1e6).toFixed(1)})` : '–');
  const singleNames = rows[0]?.single.map((t) => t.name) ?? [];
  console.log('\nSingle thread, CPU time: ms per run and GFLOP/s, median (best)');
  console.log(
    table(
      ['case', ...singleNames.map((n) => `${n} ms`), ...singleNames.map((n) => `${n} GFLOP/s`), 'tfjs-wasm ×1 / ours ×1'],
      rows.map((row) => {
        const by = new Map(row.single.map((t) => [t.name, t]));
        const tfjs = by.get('tfjs-wasm ×1');
        const ours = by.get('ours wasm ×1');
        return [
          row.name,
          ...singleNames.map((n) => `${formatMs(by.get(n)?.medianMs)} (${formatMs(by.get(n)?.minMs)})`),
          ...singleNames.map((n) => gf(row, by.get(n))),
          tfjs && ours ? formatRatio(tfjs.medianMs / ours.medianMs) : '–',
        ];
      }),
    ),
  );
  const threadNames = [...new Set(rows.flatMap((row) => row.threaded.map((t) => t.name)))];
  console.log('\nThreads, wall time: ms per run and GFLOP/s, median (best)');
  console.log(
    table(
      ['case', ...threadNames.map((n) => `${n} ms`), ...threadNames.map((n) => `${n} GFLOP/s`), 'speed-up ×n / ×1'],
      rows.map((row) => {
        const by = new Map(row.threaded.map((t) => [t.name, t]));
        const a = row.threaded[0];
        const b = row.threaded[1];
        return [
          row.name,
          ...threadNames.map((n) => `${formatMs(by.get(n)?.medianMs)} (${formatMs(by.get(n)?.minMs)})`),
          ...threadNames.map((n) => gf(row, by.get(n))),
          a && b ? formatRatio(a.medianMs / b.medianMs) : '–',
        ];
      }),
    ),
  );
  console.log('ratios: median over median; above 1× means ours (or the threaded run) is faster');
  one.dispose?.();
  many.dispose?.();
  return rows;
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const argv = process.argv.slice(2);
  const task = flag(argv, 'child-tfjs-threads') !== undefined ? child(argv) : run(argv);
  task.then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
