/**
 * Worker threads over one shared `WebAssembly.Memory`. Each worker instantiates the same kernel
 * module on the same memory and sleeps on a small shared control block. A parallel job is one kernel
 * call split into chunks along one range argument (a range of batches, rows or columns): the main
 * thread writes the job, wakes the workers, and then every thread, the main one included, claims
 * chunks with a compare-and-swap until none are left. The main thread returns when all chunks are
 * done, so `run` stays synchronous, as the Backend interface wants.
 *
 * Claiming chunks (rather than handing each thread a fixed share) matters on shared machines: a
 * worker that is not scheduled in time simply gets fewer chunks, and the main thread never waits
 * for a worker that has not started. The claim word carries the job's id, so a worker that wakes
 * late cannot take a chunk of a later job with an earlier job's arguments: the main thread retires
 * the claim word (job 0) before it writes a job's words and publishes the new id after them, and a
 * worker reads the id first, so words it read after a newer job began writing belong to a claim
 * word its compare-and-swap no longer finds.
 *
 * Kernels compiled after the start (a jitted program's fused expressions, backends/wasm/index.ts)
 * run on the workers too: the pool keeps their module bytes in a shared byte store, a job names
 * the module, and each worker compiles a module the first time a job names it (a worker that cannot
 * leaves that job's chunks to the others).
 *
 * Node's `worker_threads`, or Web Workers in a browser page that is cross-origin isolated (served
 * with `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`,
 * without which there is no SharedArrayBuffer). Elsewhere the backend runs on one thread.
 * A browser's main thread may not block in `Atomics.wait`, so there it spins until the job is done.
 */
import { importNodeModule } from '../../core/nodeModule.js';

// control block (Int32Array indices)
const SEQ = 0; // bumped to wake workers; −1 in FN means quit
const FN = 1;
const NARGS = 2;
const RANGE_ARG = 3; // args[RANGE_ARG], args[RANGE_ARG + 1] get each chunk's [lo, hi)
const UNIT = 4;
const EXTENT = 5;
const CHUNKS = 6;
const CLAIM = 7; // (job id << 16) | next chunk
const DONE = 8; // chunks finished
const FAILED = 9;
const SCRATCH_ARG = 10; // args[SCRATCH_ARG] gets each thread's scratch block (−1: none)
const MODULE = 11; // −1: the start-up module; else a module in the byte store, its id
const MODULE_AT = 12; // where that module's bytes start in the store
const MODULE_LENGTH = 13;
const ARGS = 16;
const MAX_ARGS = 32;
const WORDS = ARGS + MAX_ARGS;

/** The worker's loop, as source: `run(data, ready)` with the job data and a function that reports readiness. */
const WORKER_LOOP = `
function run({ module, memory, names, control, store, scratch, spin }, ready) {
const instance = new WebAssembly.Instance(module, { env: { memory } });
const fns = names.map((n) => instance.exports[n]);
const c = new Int32Array(control);
// Modules added after the start, by id: their exports in WebAssembly.Module.exports order (null: failed to compile).
const added = [];
const functionsOf = (id, at, length) => {
  if (added[id] === undefined) {
    try {
      const bytes = new Uint8Array(length);
      bytes.set(new Uint8Array(store, at, length));
      const m = new WebAssembly.Module(bytes);
      const exports = new WebAssembly.Instance(m, { env: { memory } }).exports;
      added[id] = WebAssembly.Module.exports(m).filter((e) => e.kind === 'function').map((e) => exports[e.name]);
    } catch (e) {
      added[id] = null;
    }
  }
  return added[id];
};
let seen = 0;
ready();
for (;;) {
  for (let i = 0; i < spin && Atomics.load(c, ${SEQ}) === seen; i++);
  if (Atomics.load(c, ${SEQ}) === seen) Atomics.wait(c, ${SEQ}, seen);
  const seq = Atomics.load(c, ${SEQ});
  if (seq === seen) continue;
  seen = seq;
  const job = Atomics.load(c, ${CLAIM}) >>> 16;
  const fnIndex = c[${FN}];
  if (fnIndex < 0) break;
  if (job === 0) continue;
  const moduleId = c[${MODULE}], moduleAt = c[${MODULE_AT}], moduleLength = c[${MODULE_LENGTH}];
  const n = c[${NARGS}];
  const args = new Array(n);
  for (let i = 0; i < n; i++) args[i] = c[${ARGS} + i];
  const rangeArg = c[${RANGE_ARG}], unit = c[${UNIT}], extent = c[${EXTENT}], chunks = c[${CHUNKS}], scratchArg = c[${SCRATCH_ARG}];
  if (scratchArg >= 0) args[scratchArg] = scratch;
  // Words read while a newer job was being written are not this job's: a module compiled from them
  // would be cached under the wrong id. The claim word still naming this job means none was.
  if (Atomics.load(c, ${CLAIM}) >>> 16 !== job) continue;
  const table = moduleId < 0 ? fns : functionsOf(moduleId, moduleAt, moduleLength);
  const fn = table === null ? undefined : table[fnIndex];
  if (fn === undefined) continue;
  for (;;) {
    const v = Atomics.load(c, ${CLAIM});
    const idx = v & 0xffff;
    if (v >>> 16 !== job || idx >= chunks) break;
    if (Atomics.compareExchange(c, ${CLAIM}, v, v + 1) !== v) continue;
    args[rangeArg] = idx * unit;
    args[rangeArg + 1] = Math.min(extent, (idx + 1) * unit);
    try { fn(...args); } catch (e) { Atomics.store(c, ${FAILED}, 1); }
    if (Atomics.add(c, ${DONE}, 1) + 1 === chunks) Atomics.notify(c, ${DONE});
  }
}
}
`;

const NODE_WORKER = `${WORKER_LOOP}
const { parentPort, workerData } = require('node:worker_threads');
run(workerData, () => parentPort.postMessage('ready'));
`;

const WEB_WORKER = `${WORKER_LOOP}
onmessage = (e) => run(e.data, () => postMessage('ready'));
`;

/** What the pool needs of a worker, Node's or the browser's. */
interface AnyWorker {
  terminate(): unknown;
}

interface NodeWorker extends AnyWorker {
  unref(): void;
  once(event: 'message', cb: (m: unknown) => void): void;
  once(event: 'error', cb: (e: Error) => void): void;
}

interface WebWorker extends AnyWorker {
  postMessage(message: unknown): void;
  onmessage: ((e: unknown) => void) | null;
  onerror: ((e: { message?: string }) => void) | null;
}

const isNode = (): boolean => typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

/** Threads are possible here: Node, or a cross-origin-isolated page with Web Workers. */
export function canStartWorkers(): boolean {
  if (isNode()) return true;
  const g = globalThis as { Worker?: unknown; crossOriginIsolated?: boolean; Blob?: unknown; URL?: { createObjectURL?: unknown } };
  return typeof g.Worker === 'function' && g.crossOriginIsolated === true && typeof g.Blob === 'function' && typeof g.URL?.createObjectURL === 'function';
}

interface WorkerData {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  names: string[];
  control: SharedArrayBuffer;
  /** The bytes of modules added after the start. */
  store: SharedArrayBuffer;
  scratch: number;
  spin: number;
}

/** Start one worker running the loop on `data`; resolves when it reports ready. */
async function startWorker(data: WorkerData): Promise<AnyWorker> {
  if (isNode()) {
    const { Worker } = await importNodeModule<typeof import('node:worker_threads')>('node:worker_threads');
    // Workers run plain JS: no loader hooks (tsx, vitest) from the parent's execArgv.
    const w = new Worker(NODE_WORKER, { eval: true, execArgv: [], workerData: data }) as unknown as NodeWorker;
    w.unref();
    await new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    });
    return w;
  }
  const g = globalThis as unknown as { Worker: new (url: string) => WebWorker; Blob: typeof Blob; URL: typeof URL };
  const url = g.URL.createObjectURL(new g.Blob([WEB_WORKER], { type: 'text/javascript' }));
  const w = new g.Worker(url);
  try {
    await new Promise<void>((resolve, reject) => {
      w.onmessage = () => resolve();
      w.onerror = (e) => reject(new Error(`wasm worker failed to start: ${e.message ?? 'unknown error'}`));
      w.postMessage(data);
    });
  } finally {
    g.URL.revokeObjectURL(url);
  }
  w.onmessage = null;
  w.onerror = null;
  return w;
}

/** One parallel kernel call: `fn(...args)` with args[rangeArg], args[rangeArg+1] = each chunk's [lo, hi). */
export interface ParallelJob {
  fn: number;
  args: number[];
  rangeArg: number;
  /** Chunk length along the range; the range is [0, extent). */
  unit: number;
  extent: number;
  /** Index of the argument that takes the running thread's scratch block, or −1. */
  scratchArg: number;
  /** A module added with `addModule` whose export `fn` is (by `WebAssembly.Module.exports` order); absent: the start-up module's `names[fn]`. */
  module?: number;
}

/** What a pool has done (`ThreadPool.stats`). */
export interface PoolStats {
  jobs: number;
  chunks: number;
  /** Chunks the worker threads ran (the rest ran on the calling thread). */
  workerChunks: number;
  /** Modules added after the start (fused expressions). */
  modules: number;
}

/** Bytes of the store that holds the modules added after the start (a fused expression's is a few KiB). */
const STORE_BYTES = 1 << 22;

export class ThreadPool {
  private readonly c: Int32Array;
  /** Added modules: where each one's bytes lie in the store. */
  private readonly added: { at: number; length: number }[] = [];
  private storeUsed = 0;
  private counts = { jobs: 0, chunks: 0, workerChunks: 0 };
  private seq = 0;
  private job = 0;
  /** Moving average of the share of a job's time the calling thread spent waiting for stragglers. */
  private waitShare = 0;
  /** Jobs left to run on the calling thread alone, after workers kept it waiting. */
  private coolDown = 0;

  private constructor(
    private readonly workers: AnyWorker[],
    control: SharedArrayBuffer,
    private readonly store: SharedArrayBuffer,
    /** Whether this thread may block in Atomics.wait (Node's main thread may, a browser's may not). */
    private readonly canBlock: boolean,
  ) {
    this.c = new Int32Array(control);
  }

  /**
   * Start `scratch.length` workers running `module` on `memory`; worker i uses scratch block
   * `scratch[i]`. They can call the exports named in `names` (by index).
   */
  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, names: readonly string[], scratch: readonly number[], spin = 20000): Promise<ThreadPool> {
    if (!canStartWorkers()) throw new Error('thread pool: no worker_threads and no cross-origin-isolated Web Workers here');
    const control = new SharedArrayBuffer(WORDS * 4);
    const store = new SharedArrayBuffer(STORE_BYTES);
    const started = await Promise.allSettled(scratch.map((s) => startWorker({ module, memory, names: [...names], control, store, scratch: s, spin })));
    const workers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw failed.reason;
    }
    return new ThreadPool(workers, control, store, isNode());
  }

  /**
   * Make a module compiled after the start (importing `env.memory`, the pool's memory, and nothing
   * else) available to jobs: returns the id a `ParallelJob` names it by, or null when the store is
   * full (the caller then runs that module's kernels on the calling thread).
   */
  addModule(bytes: Uint8Array): number | null {
    if (this.storeUsed + bytes.length > this.store.byteLength) return null;
    new Uint8Array(this.store, this.storeUsed, bytes.length).set(bytes);
    this.added.push({ at: this.storeUsed, length: bytes.length });
    this.storeUsed += (bytes.length + 7) & ~7;
    return this.added.length - 1;
  }

  /** Jobs run, their chunks and how many of those the workers took, and the modules added since the start. */
  stats(): PoolStats {
    return { ...this.counts, modules: this.added.length };
  }

  /** Worker threads (the calling thread comes on top). */
  get size(): number {
    return this.workers.length;
  }

  /**
   * Whether the next job should go to the workers. On a machine busier than its core count a worker
   * can be descheduled in the middle of a chunk and the calling thread then waits for it; when that
   * has cost more than half of recent jobs' time, jobs run on the calling thread alone for a while
   * (the bits are the same either way), then the workers are tried again.
   */
  get worthIt(): boolean {
    if (this.coolDown > 0) {
      this.coolDown--;
      if (this.coolDown === 0) this.waitShare = 0;
      return false;
    }
    return true;
  }

  /** Run a job on the workers and the calling thread (which uses `fn` and `scratch`); returns when every chunk is done. */
  run(job: ParallelJob, fn: (...args: number[]) => void, scratch: number): void {
    const c = this.c;
    const chunks = Math.ceil(job.extent / job.unit);
    if (chunks > 0xffff) throw new Error(`thread pool: ${chunks} chunks is too many (at most 65535)`);
    if (job.args.length > MAX_ARGS) throw new Error(`thread pool: at most ${MAX_ARGS} arguments, got ${job.args.length}`);
    const added = job.module === undefined ? null : this.added[job.module];
    if (added === undefined) throw new Error(`thread pool: no module ${String(job.module)} was added`);
    this.job = (this.job % 0x7fff) + 1;
    const id = this.job;
    // Retire the claim word before the job's words change (see the module's documentation).
    Atomics.store(c, CLAIM, 0xffff);
    c[FN] = job.fn;
    c[MODULE] = job.module ?? -1;
    c[MODULE_AT] = added?.at ?? 0;
    c[MODULE_LENGTH] = added?.length ?? 0;
    c[NARGS] = job.args.length;
    for (let i = 0; i < job.args.length; i++) c[ARGS + i] = job.args[i]! | 0;
    c[RANGE_ARG] = job.rangeArg;
    c[UNIT] = job.unit;
    c[EXTENT] = job.extent;
    c[CHUNKS] = chunks;
    c[SCRATCH_ARG] = job.scratchArg;
    c[FAILED] = 0;
    Atomics.store(c, DONE, 0);
    Atomics.store(c, CLAIM, id << 16);
    this.seq = (this.seq + 1) | 0;
    Atomics.store(c, SEQ, this.seq);
    Atomics.notify(c, SEQ);
    const args = [...job.args];
    if (job.scratchArg >= 0) args[job.scratchArg] = scratch;
    const start = performance.now();
    let error: unknown = null;
    let mineCount = 0;
    for (;;) {
      const v = Atomics.load(c, CLAIM);
      const idx = v & 0xffff;
      if (idx >= chunks) break;
      if (Atomics.compareExchange(c, CLAIM, v, v + 1) !== v) continue;
      args[job.rangeArg] = idx * job.unit;
      args[job.rangeArg + 1] = Math.min(job.extent, (idx + 1) * job.unit);
      mineCount++;
      try {
        fn(...args);
      } catch (e) {
        error = e;
      }
      Atomics.add(c, DONE, 1);
    }
    const mine = performance.now();
    this.counts.jobs++;
    this.counts.chunks += chunks;
    this.counts.workerChunks += chunks - mineCount;
    for (let spins = 0; ; spins++) {
      const done = Atomics.load(c, DONE);
      if (done >= chunks) break;
      if (spins > 1000 && this.canBlock) Atomics.wait(c, DONE, done, 50);
    }
    const end = performance.now();
    if (end > start) {
      this.waitShare = 0.8 * this.waitShare + 0.2 * ((end - mine) / (end - start));
      if (this.waitShare > 0.5) this.coolDown = 64;
    }
    if (error) throw error;
    if (c[FAILED]) throw new Error('wasm backend: a kernel trapped on a worker thread (out-of-bounds memory access?)');
  }

  async dispose(): Promise<void> {
    const c = this.c;
    c[FN] = -1;
    Atomics.store(c, SEQ, (this.seq + 1) | 0);
    Atomics.notify(c, SEQ);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
