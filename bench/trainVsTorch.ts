/**
 * Our training step against PyTorch's, side by side: `bench/trainStep.ts` (ours, default backend
 * wasm) and `bench/torch/train_step.py` (the same step on the U-ViT replica of bench/torch/uvit.py,
 * which bench/torch/equality.ts checks equal to ours) run alternately, each in its own process,
 * for each preset, with the same number of threads.
 *
 *   npx tsx bench/trainVsTorch.ts [--presets demo,bair] [--batch 4 | --batch bair=1,demo=8]
 *                                 [--rounds 3] [--steps 5] [--warmup 3] [--backend wasm]
 *                                 [--omp-wait passive|active|default]
 *
 * `--batch` is one batch for every preset or `preset=batch` pairs; the default is each preset's.
 * Prints ms per step (the median of every timed step of every round, and the range of the rounds'
 * medians), the peak resident memory of each process (the kernel's high-water mark VmHWM, read from
 * /proc while it runs, the same way for both), our peak of live tensor bytes, and the ratio torch
 * ms / our ms (≥ 1.0: we are at least as fast), as a table, then one JSON line with everything.
 *
 * PyTorch is Debian's (`apt-get install python3-torch libopenblas0-openmp`) run by `/usr/bin/python3`
 * with OpenBLAS's OpenMP build first on LD_LIBRARY_PATH (bench/torch/python.ts): Debian's default
 * libblas.so.3 can be the reference BLAS, ~20× slower, and a run whose libblas.so.3 is not OpenBLAS
 * (or MKL, BLIS) or that multiplies a 1024² matmul at under 10 GFLOP/s is refused as unfair to PyTorch.
 *
 * Threads: ours uses the machine's parallelism (at most 8; bench/trainStep.ts has no thread
 * option), so torch gets the same count through torch.set_num_threads and OMP_NUM_THREADS.
 *
 * `--omp-wait` sets torch's OMP_WAIT_POLICY, PASSIVE by default. libgomp's own default spins for a
 * long time (GOMP_SPINCOUNT 300k) at the end of every parallel region, which collapses when the
 * machine is shared: at load 5 on the 2-core machine, demo took 720-970 ms/step with the default
 * against 175-375 passive. Our worker threads spin briefly, then block in Atomics.wait, which is
 * closer to passive. On a quiet machine, compare with `--omp-wait default` too.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PRESETS } from '../experiments/presets.js';
import { frameShapeOf, modelConfigOf } from './torch/equality.js';
import { findTorch, TORCH_DIR } from './torch/python.js';
import { formatMs, formatRatio, machine, table } from './util.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(HERE);

interface StepReport {
  msPerStep: number[];
  medianMs: number;
  /** CPU time of every thread per step, where the side reports it. */
  cpuMsPerStep?: number[];
  peakRssBytes: number;
  peakTensorBytes?: number;
  parameters?: number;
  batch?: number;
  matmul1024Gflops?: number;
  libblas?: string | null;
  blasLibraries?: string[];
}

interface Run {
  report?: StepReport;
  /** The process's peak resident memory (VmHWM), read from /proc while it ran. */
  hwmBytes: number;
  error?: string;
  seconds: number;
}

interface Side {
  medianMs?: number;
  medianCpuMs?: number;
  roundMedians: number[];
  peakRssBytes?: number;
  peakTensorBytes?: number;
  parameters?: number;
  error?: string;
}

/** Runs a command, samples its VmHWM every 20 ms, and parses the last JSON line of its stdout. */
function runProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hwm = 0;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwm = Math.max(hwm, Number(m[1]) * 1024);
      } catch {
        // The process has exited (or this is not Linux): keep the last reading.
      }
    };
    const timer = setInterval(sample, 20);
    child.on('close', (code, signal) => {
      clearInterval(timer);
      const seconds = (performance.now() - started) / 1000;
      const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      if (code === 0 && line) {
        resolve({ report: JSON.parse(line) as StepReport, hwmBytes: hwm, seconds });
        return;
      }
      const lines = stderr.trim().split('\n').filter((l) => l.trim() && !/^\s+at /.test(l));
      const oom = lines.find((l) => /out of memory|heap out of memory|Cannot allocate|MemoryError/i.test(l));
      resolve({ hwmBytes: hwm, seconds, error: (oom ?? lines.pop() ?? `exit ${code ?? signal}`).trim().slice(0, 300) });
    });
    child.on('error', (e) => {
      clearInterval(timer);
      resolve({ hwmBytes: hwm, seconds: 0, error: e.message });
    });
  });
}

function median(xs: readonly number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function summarise(runs: readonly Run[]): Side {
  const ok = runs.filter((r) => r.report);
  const failed = runs.find((r) => r.error);
  return {
    medianMs: median(ok.flatMap((r) => r.report!.msPerStep)),
    medianCpuMs: ok.every((r) => r.report!.cpuMsPerStep) ? median(ok.flatMap((r) => r.report!.cpuMsPerStep!)) : undefined,
    roundMedians: ok.map((r) => Math.round(r.report!.medianMs * 10) / 10),
    peakRssBytes: ok.length ? Math.max(...ok.map((r) => r.hwmBytes)) : undefined,
    peakTensorBytes: ok.some((r) => r.report!.peakTensorBytes !== undefined) ? Math.max(...ok.map((r) => r.report!.peakTensorBytes ?? 0)) : undefined,
    parameters: ok[0]?.report!.parameters,
    ...(failed ? { error: failed.error } : {}),
  };
}

function batchesFrom(spec: string | undefined, presets: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of presets) out[p] = PRESETS[p]!.batch;
  if (!spec) return out;
  if (/^\d+$/.test(spec)) {
    for (const p of presets) out[p] = Number(spec);
    return out;
  }
  for (const pair of spec.split(',')) {
    const [name, n] = pair.split('=');
    if (!name || !presets.includes(name) || !/^\d+$/.test(n ?? '')) throw new Error(`trainVsTorch: --batch wants a number or preset=number pairs for ${presets.join(', ')}, got '${pair}'`);
    out[name] = Number(n);
  }
  return out;
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '–' : bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

function msCell(s: Side): string {
  if (s.medianMs === undefined) return s.error ? `failed: ${s.error.slice(0, 60)}` : '–';
  const lo = Math.min(...s.roundMedians);
  const hi = Math.max(...s.roundMedians);
  return s.roundMedians.length > 1 ? `${formatMs(s.medianMs)} (${formatMs(lo)}-${formatMs(hi)})` : formatMs(s.medianMs);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      presets: { type: 'string', default: 'demo,bair' },
      batch: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      steps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '3' },
      backend: { type: 'string', default: 'wasm' },
      'omp-wait': { type: 'string', default: 'passive' },
    },
  });
  const ompWait = values['omp-wait']!;
  if (!['passive', 'active', 'default'].includes(ompWait)) throw new Error(`trainVsTorch: --omp-wait is passive, active or default, got ${ompWait}`);
  const presets = values.presets!.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of presets) if (!PRESETS[p]) throw new Error(`trainVsTorch: unknown preset ${p}; choose from ${Object.keys(PRESETS).join(', ')}`);
  const batches = batchesFrom(values.batch, presets);
  const rounds = Number(values.rounds);
  const threads = Math.min(8, os.availableParallelism?.() ?? os.cpus().length);

  const found = findTorch(threads);
  if (!found.ok) {
    console.error(`trainVsTorch: ${found.reason}`);
    return 2;
  }
  const { torch } = found;
  if (ompWait !== 'default') torch.env.OMP_WAIT_POLICY = ompWait.toUpperCase();
  else delete torch.env.OMP_WAIT_POLICY;
  const m = machine();
  console.log(`# Training step: ours (${values.backend}) vs PyTorch, ${threads} threads each`);
  console.log(`${m.cpu}, ${m.cores} cores, Node ${m.node}, load ${m.load}, ${m.date}`);
  console.log(`torch: ${torch.python}${torch.openblas ? `, LD_LIBRARY_PATH=${torch.openblas}` : ', no OpenBLAS OpenMP build found'}, OMP_WAIT_POLICY ${torch.env.OMP_WAIT_POLICY ?? 'unset'}; ${rounds} rounds × (${values.warmup} warm-up + ${values.steps} timed steps) per side\n`);

  const results = [];
  for (const name of presets) {
    const preset = PRESETS[name]!;
    const batch = batches[name]!;
    const common = ['--preset', name, '--batch', String(batch), '--steps', values.steps!, '--warmup', values.warmup!];
    const config = JSON.stringify({ preset: { ...preset, frameShape: frameShapeOf(preset), batch }, model: modelConfigOf(preset) });
    const oursArgs = ['--import', 'tsx', path.join(HERE, 'trainStep.ts'), ...common, '--backend', values.backend!];
    const torchArgs = [path.join(TORCH_DIR, 'train_step.py'), ...common, '--threads', String(threads), '--config', config];
    const ours: Run[] = [];
    const theirs: Run[] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternate who goes first, so a change of load falls on both sides alike.
      const order = r % 2 === 0 ? (['ours', 'torch'] as const) : (['torch', 'ours'] as const);
      for (const side of order) {
        const run = side === 'ours' ? await runProcess(process.execPath, oursArgs, process.env) : await runProcess(torch.python, torchArgs, torch.env);
        (side === 'ours' ? ours : theirs).push(run);
        const what = run.report ? `${formatMs(run.report.medianMs)} ms/step` : `failed: ${run.error}`;
        process.stderr.write(`  ${name} batch ${batch}, round ${r + 1}/${rounds}, ${side}: ${what} (${run.seconds.toFixed(1)} s, load ${os.loadavg()[0]!.toFixed(2)})\n`);
        const libblas = run.report?.libblas;
        const gflops = run.report?.matmul1024Gflops ?? 0;
        // The reference BLAS multiplies at ~3-5 GFLOP/s here, OpenBLAS at 50-110 (15+ under heavy load).
        if (side === 'torch' && run.report && ((libblas && !/openblas|mkl|blis/i.test(libblas)) || gflops < 10)) {
          console.error(`trainVsTorch: PyTorch's libblas.so.3 is ${libblas ?? 'unknown'} and multiplies a 1024² matmul at ${gflops} GFLOP/s, which looks like the reference BLAS, not OpenBLAS; install and select OpenBLAS's OpenMP build (apt-get install libopenblas0-openmp; LD_LIBRARY_PATH=/usr/lib/<multiarch>/openblas-openmp), or the comparison is unfair to PyTorch`);
          return 1;
        }
      }
    }
    const o = summarise(ours);
    const t = summarise(theirs);
    const gflops = theirs.map((r) => r.report?.matmul1024Gflops).filter((g): g is number => g !== undefined);
    results.push({
      preset: name,
      batch,
      ours: o,
      torch: { ...t, matmul1024Gflops: median(gflops), libblas: theirs.find((r) => r.report)?.report!.libblas },
      ratio: o.medianMs !== undefined && t.medianMs !== undefined ? Math.round((t.medianMs / o.medianMs) * 1000) / 1000 : null,
      cpuRatio: o.medianCpuMs !== undefined && t.medianCpuMs !== undefined ? Math.round((t.medianCpuMs / o.medianCpuMs) * 1000) / 1000 : null,
      parametersEqual: o.parameters === undefined || t.parameters === undefined ? null : o.parameters === t.parameters,
    });
  }

  console.log(
    table(
      ['preset, batch', `ours ${values.backend} ms/step`, 'torch ms/step', 'torch / ours', 'ours peak RSS', 'torch peak RSS', 'ours peak tensors'],
      results.map((r) => [`${r.preset}, ${r.batch}`, msCell(r.ours), msCell(r.torch), formatRatio(r.ratio ?? undefined), mib(r.ours.peakRssBytes), mib(r.torch.peakRssBytes), mib(r.ours.peakTensorBytes)]),
    ),
  );
  console.log('\nms/step: median of every timed step of every round (the rounds\' medians in brackets); peak RSS: VmHWM; ratio ≥ 1.0: ours at least as fast.');
  for (const r of results) {
    if (r.torch.medianCpuMs !== undefined) console.log(`${r.preset}: CPU ms/step (all threads) torch ${formatMs(r.torch.medianCpuMs)}, ours ${r.ours.medianCpuMs === undefined ? 'not reported' : `${formatMs(r.ours.medianCpuMs)} (torch / ours ${formatRatio(r.cpuRatio ?? undefined)})`}`);
  }
  for (const r of results) if (r.parametersEqual === false) console.log(`warning: ${r.preset}: the two sides count different parameters (${r.ours.parameters} vs ${r.torch.parameters}); the replica has drifted from nn/uvit.ts`);
  console.log(JSON.stringify({ bench: 'trainVsTorch', machine: { ...m, loadAfter: os.loadavg().map((l) => l.toFixed(2)).join(' ') }, threads, backend: values.backend, ompWaitPolicy: torch.env.OMP_WAIT_POLICY ?? null, rounds, steps: Number(values.steps), warmup: Number(values.warmup), results }));
  return 0;
}

process.exitCode = await main();
