/**
 * Timing helpers shared by the benchmarks: interleaved rounds of several contenders, medians, and a
 * Markdown table.
 *
 * The machines this project runs on are shared (the load average is often several times the core
 * count), so by default a sample is the process's CPU time (user + system), not wall time: a
 * preempted benchmark is then not charged for the time it was waiting. Every contender here is
 * single-threaded, so CPU time is the work done. `--clock wall` measures wall time instead.
 * Contenders run in interleaved rounds, so a change of load affects them alike.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export type Clock = 'cpu' | 'wall';

export interface Contender {
  readonly name: string;
  /** Untimed work before each sample (switching a peer library's backend). */
  readonly before?: () => Promise<void> | void;
  /** One run of the operation; it must leave no live tensors behind. */
  readonly run: () => void;
}

export interface Timing {
  readonly name: string;
  readonly medianMs: number;
  readonly minMs: number;
  readonly samples: number;
  /** Runs per sample (fast operations are batched so a sample lasts a few milliseconds). */
  readonly reps: number;
}

export interface RaceOptions {
  readonly clock: Clock;
  /** Roughly how long to spend sampling each contender, in ms. */
  readonly budgetMs: number;
  readonly minSamples: number;
  readonly maxSamples: number;
}

export function now(clock: Clock): number {
  if (clock === 'wall') return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/**
 * Warm each contender up (at least 3 runs and 200 ms, so the JIT has settled; a single run when one
 * run takes seconds), then time them in interleaved rounds and return the median and minimum per run.
 * All contenders get the same number of samples (as many as the budget allows for the slowest, within
 * [minSamples, maxSamples]), except one that needs more than the whole budget for a single sample: it
 * gets at most 3 (1 beyond 10 s).
 */
export async function race(contenders: readonly Contender[], options: RaceOptions): Promise<Timing[]> {
  const { clock } = options;
  const perRun: number[] = [];
  for (const c of contenders) {
    await c.before?.();
    let runs = 0;
    let last = 0;
    const start = now(clock);
    for (;;) {
      const t0 = now(clock);
      c.run();
      last = now(clock) - t0;
      runs++;
      const elapsed = now(clock) - start;
      if ((runs >= 3 && elapsed >= 200) || elapsed >= 2000 || runs >= 200) break;
    }
    perRun.push(Math.max(last, 1e-3));
  }
  const reps = perRun.map((t) => Math.max(1, Math.ceil(4 / t)));
  const sample = perRun.map((t, i) => t * reps[i]!);
  const slow = sample.map((t) => t > options.budgetMs);
  const common = Math.min(options.maxSamples, Math.max(options.minSamples, Math.round(options.budgetMs / Math.max(1e-3, ...sample.filter((_, i) => !slow[i])))));
  const counts = sample.map((t, i) => (!slow[i] ? common : t > 10_000 ? 1 : Math.min(3, options.minSamples)));
  const times: number[][] = contenders.map(() => []);
  for (let s = 0; s < Math.max(...counts); s++) {
    // Rotate who goes first, so no contender always runs right after the same neighbour.
    for (let j = 0; j < contenders.length; j++) {
      const i = (s + j) % contenders.length;
      if (s >= counts[i]!) continue;
      const c = contenders[i]!;
      await c.before?.();
      const t0 = now(clock);
      for (let r = 0; r < reps[i]!; r++) c.run();
      times[i]!.push((now(clock) - t0) / reps[i]!);
    }
  }
  return contenders.map((c, i) => ({ name: c.name, medianMs: median(times[i]!), minMs: Math.min(...times[i]!), samples: counts[i]!, reps: reps[i]! }));
}

/** A Markdown table; cells are already formatted strings. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, j) => Math.max(h.length, ...rows.map((r) => (r[j] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, j) => (j === 0 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function formatMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

export function formatRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? '–' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

export function gflops(flops: number | undefined, ms: number | undefined): string {
  return flops === undefined || ms === undefined ? '' : (flops / ms / 1e6).toFixed(2);
}

/** The CPU model (lscpu's "Model name", else os.cpus()), core count, Node version and load. */
export function machine(): { cpu: string; cores: number; node: string; load: string; date: string } {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /Model name:\s*(.+)/.exec(execFileSync('lscpu', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    if (m) cpu = m[1]!.trim();
  } catch {
    // lscpu missing: keep os.cpus()'s name.
  }
  return {
    cpu,
    cores: os.cpus().length,
    node: process.version,
    load: os.loadavg().map((l) => l.toFixed(2)).join(' '),
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  };
}

/** `--name value` from an argument list. */
export function flag(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}

/**
 * tfjs-core's Node bundle has no gradients (the `@tensorflow/tfjs` umbrella registers them, and its
 * `register_all_gradients` module cannot load under Node's ESM resolver), so register each
 * `dist/gradients/*_grad.js` config ourselves. Those files come from tfjs-core's ESM build, a second
 * copy of the library; its registries and engine live on the global object and tensors are checked
 * by shape, not class, so the copies interoperate.
 */
export async function registerPeerGradients(tf: typeof import('@tensorflow/tfjs-core')): Promise<void> {
  const require = createRequire(import.meta.url);
  const dir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-core/package.json')), 'dist', 'gradients');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('_grad.js'))) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(path.join(dir, file)).href)) as Record<string, unknown>;
    } catch {
      // A few configs reach the ESM build's `base.js`, which Node cannot load; the cases here need none of them.
      continue;
    }
    for (const v of Object.values(mod)) {
      if (typeof v === 'object' && v !== null && 'kernelName' in v && 'gradFunc' in v) tf.registerGradient(v as never);
    }
  }
}
