/**
 * Element-wise kernels on one thread, ~2^20 float32 elements: the hot ones of a training step (add,
 * sub, mul, a broadcast row, sigmoid, exp, erf for GELU, a comparison and `where`), on the wasm and
 * CPU backends. CPU time (process.cpuUsage), median of several repeats; with `--baseline DIR` (a copy
 * of an older `core/` and `backends/`, e.g. `git archive <commit> core backends | tar -x -C DIR`) the
 * old and new kernels alternate in the same process, so both see the same machine load.
 *
 *   nice -n 10 npx tsx bench/elementwise.ts [--baseline /tmp/old] [--repeats 15] [--small]
 *
 * `--small` times 64-element operands instead: the time per call is then the dispatch overhead.
 */
import { createCpuBackend } from '../backends/cpu/index.js';
import { createWasmBackendSync } from '../backends/wasm/index.js';
import type { Backend, BackendPrim, BufferInfo, DType, PrimParams } from '../core/index.js';

interface Factories {
  label: string;
  wasm: () => Backend;
  cpu: () => Backend;
}

let N = 1 << 20;
let ROWS = 1024;

interface Op {
  name: string;
  prim: BackendPrim;
  /** Input shapes and dtypes. */
  inputs: { shape: number[]; dtype: DType; lo: number; hi: number }[];
  outDtype: DType;
}

const f = (shape: number[], lo = -4, hi = 4) => ({ shape, dtype: 'float32' as DType, lo, hi });
const ops = (): Op[] => [
  { name: 'add x+y', prim: 'add', inputs: [f([N]), f([N])], outDtype: 'float32' },
  { name: 'sub x-row', prim: 'sub', inputs: [f([ROWS, N / ROWS]), f([1, N / ROWS])], outDtype: 'float32' },
  { name: 'mul x*y', prim: 'mul', inputs: [f([N]), f([N])], outDtype: 'float32' },
  { name: 'mul x*col', prim: 'mul', inputs: [f([ROWS, N / ROWS]), f([ROWS, 1])], outDtype: 'float32' },
  { name: 'sigmoid', prim: 'sigmoid', inputs: [f([N], -10, 10)], outDtype: 'float32' },
  { name: 'exp', prim: 'exp', inputs: [f([N], -10, 10)], outDtype: 'float32' },
  { name: 'erf', prim: 'erf', inputs: [f([N], -3, 3)], outDtype: 'float32' },
  { name: 'gt x>y', prim: 'gt', inputs: [f([N]), f([N])], outDtype: 'bool' },
  { name: 'log', prim: 'log', inputs: [f([N], 0.01, 10)], outDtype: 'float32' },
];

function values(n: number, lo: number, hi: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return v;
}

interface Prepared {
  run: () => void;
}

function prepare(b: Backend, op: Op): Prepared {
  const inputs: BufferInfo[] = op.inputs.map((x, k) => ({ buffer: b.upload(values(x.shape.reduce((p, d) => p * d, 1), x.lo, x.hi, 7 + k), x.dtype), shape: x.shape, dtype: x.dtype }));
  const shape = op.inputs.reduce<number[]>((s, x) => (x.shape.length > s.length || x.shape.some((d, i) => d > (s[i] ?? 0)) ? x.shape.map((d, i) => Math.max(d, s[i] ?? 1)) : s), []);
  const out = { shape, dtype: op.outDtype };
  return {
    run: () => b.free(b.run(op.prim, inputs, {} as PrimParams[typeof op.prim], out)),
  };
}

function cpuMs(run: () => void, inner: number): number {
  const t = process.cpuUsage();
  for (let i = 0; i < inner; i++) run();
  const d = process.cpuUsage(t);
  return (d.user + d.system) / 1000 / inner;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const repeats = Number(at('--repeats') ?? 11);
  // --small: 64-element operands, where the time per call is the dispatch overhead, not the arithmetic.
  if (args.includes('--small')) {
    N = 64;
    ROWS = 8;
  }
  const inner = Math.max(1, Math.round(2 ** 20 / N / 8));
  const contenders: Factories[] = [{ label: 'new', wasm: () => createWasmBackendSync({ threads: 1 }), cpu: () => createCpuBackend() }];
  const baseline = at('--baseline');
  if (baseline) {
    const wasm = (await import(`${baseline}/backends/wasm/index.ts`)) as typeof import('../backends/wasm/index.js');
    const cpu = (await import(`${baseline}/backends/cpu/index.ts`)) as typeof import('../backends/cpu/index.js');
    contenders.unshift({ label: 'old', wasm: () => wasm.createWasmBackendSync({ threads: 1 }), cpu: () => cpu.createCpuBackend() });
  }
  for (const kind of ['wasm', 'cpu'] as const) {
    const backends = contenders.map((c) => ({ label: c.label, b: c[kind]() }));
    console.log(`\n${kind}, one thread, ${N} elements, ${N < 4096 ? 'µs' : 'ms'} per call (median of ${repeats}; min)`);
    const unit = N < 4096 ? 1000 : 1;
    for (const op of ops()) {
      const runs = backends.map(({ b }) => prepare(b, op));
      for (const r of runs) for (let w = 0; w < 5; w++) r.run();
      const times = runs.map(() => [] as number[]);
      for (let rep = 0; rep < repeats; rep++) runs.forEach((r, k) => times[k]!.push(unit * cpuMs(r.run, kind === 'cpu' ? Math.max(2, inner / 4) : Math.max(5, inner))));
      const cols = backends.map(({ label }, k) => `${label} ${median(times[k]!).toFixed(3)} (${Math.min(...times[k]!).toFixed(3)})`);
      const ratio = times.length === 2 ? `  new/old ${(median(times[1]!) / median(times[0]!)).toFixed(2)}` : '';
      console.log(`${op.name.padEnd(12)} ${cols.join('   ')}${ratio}`);
    }
  }
}

void main();
