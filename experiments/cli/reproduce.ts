/**
 * `rolling reproduce kolmogorov`: the paper's Kolmogorov-flow comparison (Section 5.1, Appendix F.1:
 * Table 8 and Figure 4) at a size this machine can run. Every row of Table 8 that the issue asks for
 * (MSE 2-2 and 2-4, standard 2-2, 2-4 and 2-8, rolling 2-2, 2-4 and 2-8) is trained with several
 * seeds on one cached data set, rolled out from held-out trajectories, and scored by FSD (Eq. 27, on
 * the horizontal velocity) and MSE at the paper's rollout steps.
 *
 * Layout of --out:
 *   reproduce.json            the scale and seeds of this reproduction (another scale is refused)
 *   data/                     the Kolmogorov cache (kolmogorovCache.ts), held-out trajectories in data/held-out
 *   runs/<row>-seed<k>/       each run: checkpoint.safetensors, train-log.json, result.json
 *   table.md, results.json, figure4.png   written at the end from every run's result.json
 * A stopped reproduction resumes: finished runs (a result.json of the same settings) are skipped, a
 * run whose checkpoint is complete is only evaluated, and a run stopped mid-training continues from
 * its last checkpoint (bit for bit, see trainer.ts).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dispose, getBackendName, key, tensor } from '../../core/index.js';
import { writeFileAtomic } from '../formats/atomicWrite.js';
import { clipFrames, KOLMOGOROV_VELOCITY_SCALE, kolmogorovShards, type VideoDataset } from '../data/datasets.js';
import { stepMetrics, type StepMetrics } from '../metrics/evaluate.js';
import { generate } from '../generate.js';
import { buildKolmogorovCache, type KolmogorovCacheSpec } from '../data/kolmogorovCache.js';
import { lineChart } from './plot.js';
import { writePng } from '../formats/png.js';
import { withSettingDefaults, type FullPreset, type Preset } from '../presets.js';
import { progressBar } from './progress.js';
import { lockRunFolder } from '../runLock.js';
import { CHECKPOINT, loadForSampling, readCheckpointMetadata, train, type TrainMode } from '../trainer.js';

/** The rollout steps at which Table 8 reports FSD and MSE. */
export const TABLE_8_STEPS: readonly number[] = [1, 2, 4, 8, 12, 24, 48];

/** A row of Table 8: a mode with n_cln = 2 clean frames and W − n_cln generated ones. */
export interface ReproduceRow {
  readonly mode: TrainMode;
  readonly cleanFrames: number;
  readonly generated: number;
}

/** The rows the issue asks for, in Table 8's order. */
export const TABLE_8_ROWS: readonly ReproduceRow[] = [
  { mode: 'mse', cleanFrames: 2, generated: 2 },
  { mode: 'mse', cleanFrames: 2, generated: 4 },
  { mode: 'standard', cleanFrames: 2, generated: 2 },
  { mode: 'standard', cleanFrames: 2, generated: 4 },
  { mode: 'standard', cleanFrames: 2, generated: 8 },
  { mode: 'rolling', cleanFrames: 2, generated: 2 },
  { mode: 'rolling', cleanFrames: 2, generated: 4 },
  { mode: 'rolling', cleanFrames: 2, generated: 8 },
];

export function rowLabel(r: ReproduceRow): string {
  const name = r.mode === 'mse' ? 'MSE' : r.mode === 'standard' ? 'Standard Diffusion' : 'Rolling Diffusion';
  return `${name} (${r.cleanFrames}-${r.generated})`;
}

function rowSlug(r: ReproduceRow): string {
  return `${r.mode}-${r.cleanFrames}-${r.generated}`;
}

/** What one size of the reproduction trains and evaluates. */
export interface ReproduceScale {
  readonly name: string;
  /** What the size is for and what it costs, for the help and the report. */
  readonly description: string;
  readonly data: Omit<KolmogorovCacheSpec, 'seed'>;
  /** The training preset of every row; window and clean frames are the row's. */
  readonly training: Pick<Preset, 'model' | 'patchSize' | 'channels' | 'batch' | 'steps' | 'learningRate' | 'warmupSteps' | 'emaDecay' | 'linearProbability' | 'checkpointEvery' | 'stepsPerFrame'>;
  /** Frames rolled out after the 2 context frames (Table 8 reports steps up to 48). */
  readonly rolloutFrames: number;
  /** Rollout starts per held-out trajectory (spread along it): held-out × this = the clips scored. */
  readonly startsPerTrajectory: number;
  readonly seeds: number;
}

/**
 * The sizes. Every scale trains the rolling rows with the clipped boundary map (Eq. 23) and
 * linearProbability 0.5, the best of Appendix H's clipped-init runs (Table 10: 0.5 and 0.7 at
 * stride 8); the preset default 0.8 is not used here. `tiny` exists so a test runs the whole pipeline in seconds (its numbers mean nothing);
 * `small` is the laptop reproduction; `paper` keeps the paper's stored frames (64², 200 frames of
 * 1.5 time units = 300) on a grid of 128² (the paper: 256²) and is far beyond two CPU cores.
 */
export const REPRODUCE_SCALES: Readonly<Record<'tiny' | 'small' | 'paper', ReproduceScale>> = {
  tiny: {
    name: 'tiny',
    description: 'a smoke test of the pipeline: 8×8 frames, 2 training steps per run (seconds; the numbers mean nothing)',
    data: { size: 8, simulationSize: 16, frames: 12, warmup: 1.5, frameInterval: 1.5, trajectories: 3, heldOut: 2, perShard: 2 },
    training: { model: 'tiny', patchSize: 2, channels: [8], batch: 2, steps: 2, learningRate: 1e-3, warmupSteps: 1, emaDecay: 0.9, linearProbability: 0.5, checkpointEvery: 1, stepsPerFrame: 1 },
    rolloutFrames: 4,
    startsPerTrajectory: 1,
    seeds: 2,
  },
  small: {
    name: 'small',
    description: '32×32 frames simulated on 64², 24 + 8 held-out trajectories of 64 frames after 15 time units of warm-up; 1,000 steps per run, 2 seeds, 16 rollouts of 48 frames per run (estimated on 2 cores: 1 h of simulation, 2 h of training, 15 min of rollouts)',
    data: { size: 32, simulationSize: 64, frames: 64, warmup: 15, frameInterval: 1.5, trajectories: 24, heldOut: 8, perShard: 4 },
    training: { model: 'tiny', patchSize: 2, channels: [16, 32], batch: 8, steps: 1000, learningRate: 1e-3, warmupSteps: 50, emaDecay: 0.995, linearProbability: 0.5, checkpointEvery: 100, stepsPerFrame: 4 },
    rolloutFrames: 48,
    startsPerTrajectory: 2,
    seeds: 2,
  },
  paper: {
    name: 'paper',
    description: "the paper's stored data (64×64, 200 frames = 300 time units) simulated on 128² (the paper: 256²), 256 + 64 trajectories; the small U-ViT, 20,000 steps per run, 3 seeds (days on a CPU)",
    data: { size: 64, simulationSize: 128, frames: 200, warmup: 30, frameInterval: 1.5, trajectories: 256, heldOut: 64, perShard: 16 },
    training: { model: 'small', patchSize: 2, channels: [64, 128], batch: 8, steps: 20000, learningRate: 1e-4, warmupSteps: 1000, emaDecay: 0.9999, linearProbability: 0.5, checkpointEvery: 1000, stepsPerFrame: 16 },
    rolloutFrames: 48,
    startsPerTrajectory: 2,
    seeds: 3,
  },
};

/** A reproduction of another scale in --out, a scale that cannot run, or a damaged result: exit status 2. */
export class ReproduceError extends Error {}

/** The preset a row trains with at a scale. */
export function rowPreset(scale: ReproduceScale, row: ReproduceRow): FullPreset {
  return withSettingDefaults({
    name: `kolmogorov-${scale.name}`,
    data: 'kolmogorov',
    size: scale.data.size,
    window: row.cleanFrames + row.generated,
    cleanFrames: row.cleanFrames,
    clips: scale.data.trajectories,
    clipLength: scale.data.frames,
    ...scale.training,
  });
}

export interface RunResult {
  readonly row: string;
  readonly mode: TrainMode;
  readonly seed: number;
  /** What the result was computed with: a run whose settings differ is trained and scored again. */
  readonly fingerprint: string;
  /** Per rollout step 1 … rolloutFrames. */
  readonly perStep: readonly StepMetrics[];
  readonly trainSeconds: number;
  readonly evalSeconds: number;
  readonly finalLoss: number;
}

export interface ReproduceOptions {
  readonly out: string;
  readonly scale: ReproduceScale;
  /** Seeds per row (default the scale's). */
  readonly seeds?: number;
  /** The data cache (default out/data). */
  readonly data?: string;
  /** Rows to run (default Table 8's). */
  readonly rows?: readonly ReproduceRow[];
  /** Progress lines (default stderr). */
  readonly log?: (line: string) => void;
}

export interface ReproduceSummary {
  /** Runs trained (or continued) by this call. */
  readonly trained: number;
  /** Runs rolled out and scored by this call. */
  readonly evaluated: number;
  /** Runs found finished and skipped. */
  readonly skipped: number;
  readonly table: string;
  readonly files: { readonly table: string; readonly json: string; readonly figure: string };
}

interface Aggregate {
  readonly label: string;
  readonly mode: TrainMode;
  readonly seeds: number;
  /** Per rollout step 1 … rolloutFrames: mean and sample standard deviation over seeds. */
  readonly fsd: { mean: number; sd: number }[];
  readonly mse: { mean: number; sd: number }[];
}

function meanSd(values: readonly number[]): { mean: number; sd: number } {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return { mean: NaN, sd: NaN };
  const mean = finite.reduce((s, v) => s + v, 0) / finite.length;
  const sd = finite.length < 2 ? 0 : Math.sqrt(finite.reduce((s, v) => s + (v - mean) ** 2, 0) / (finite.length - 1));
  return { mean, sd };
}

function number(v: number): string {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e4 || a < 1e-3) ? v.toExponential(2) : v.toPrecision(3);
}

export const FSD_UNITS_NOTE = `FSD (Eq. 27) on the horizontal velocity u and MSE on (u, v), both on the stored scale, velocity / ${KOLMOGOROV_VELOCITY_SCALE}: multiply by ${KOLMOGOROV_VELOCITY_SCALE ** 2} for physical units (both are quadratic in the velocity)`;

/** Table 8's layout: a row per method, a column per rollout step, cells "FSD / MSE" as mean ± sd over seeds. */
export function formatTable8(aggregates: readonly Aggregate[], steps: readonly number[], o: { scale: string; clips: number }): string {
  const cell = (a: Aggregate, s: number) => {
    const f = a.fsd[s - 1]!;
    const m = a.mse[s - 1]!;
    const pm = (x: { mean: number; sd: number }) => (a.seeds > 1 ? `${number(x.mean)} ± ${number(x.sd)}` : number(x.mean));
    return `${pm(f)} / ${pm(m)}`;
  };
  const seeds = [...new Set(aggregates.map((a) => a.seeds))].join(', ');
  return [
    `FSD / MSE @ rollout step (scale '${o.scale}', ${o.clips} held-out rollouts, mean ± sample sd over ${seeds} seeds).`,
    `${FSD_UNITS_NOTE}.`,
    '',
    `| Method | ${steps.join(' | ')} |`,
    `|---|${steps.map(() => '---').join('|')}|`,
    ...aggregates.map((a) => `| ${a.label} | ${steps.map((s) => cell(a, s)).join(' | ')} |`),
  ].join('\n');
}

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRunResult(u: unknown, fingerprint: string): u is RunResult {
  const r = u as Partial<RunResult> | undefined;
  return typeof r === 'object' && r !== null && r.fingerprint === fingerprint && Array.isArray(r.perStep) && typeof r.trainSeconds === 'number';
}

/** Held-out rollout clips: `startsPerTrajectory` starts spread along each held-out trajectory. */
export function evaluationClips(d: VideoDataset, need: number, startsPer: number): Float32Array[] {
  if (d.clipLength < need) throw new ReproduceError(`the held-out trajectories have ${d.clipLength} frames, but a rollout needs ${need} (2 context + the rolled-out frames)`);
  const room = d.clipLength - need;
  const clips: Float32Array[] = [];
  for (let i = 0; i < d.clips.length; i++) {
    for (let k = 0; k < startsPer; k++) clips.push(clipFrames(d, i, startsPer === 1 ? room : Math.round((room * (k + 1)) / startsPer), need));
  }
  return clips;
}

/**
 * Runs (or resumes) the reproduction and writes its table, JSON and figure. Returns what it did, so a
 * caller (and the test) can see that finished runs were skipped.
 */
export async function reproduceKolmogorov(o: ReproduceOptions): Promise<ReproduceSummary> {
  const scale = o.scale;
  const seeds = o.seeds ?? scale.seeds;
  const rows = o.rows ?? TABLE_8_ROWS;
  const log = o.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  if (!(Number.isInteger(seeds) && seeds >= 1)) throw new ReproduceError(`seeds must be a positive integer, got ${seeds}`);
  await mkdir(o.out, { recursive: true });
  const release = await lockRunFolder(o.out);
  try {
    const manifestPath = join(o.out, 'reproduce.json');
    const manifest = (await readJson(manifestPath)) as { scale?: string } | undefined;
    if (manifest !== undefined && manifest.scale !== scale.name) {
      throw new ReproduceError(`${o.out} holds a reproduction at scale '${manifest.scale}'; pass --scale ${manifest.scale} to resume it, or another --out`);
    }
    if (manifest === undefined) await writeFileAtomic(manifestPath, JSON.stringify({ scale: scale.name, seeds, started: new Date().toISOString() }, null, 2));
    return await reproduceHoldingLock({ ...o, rows, log, seeds });
  } finally {
    await release();
  }
}

async function reproduceHoldingLock(o: ReproduceOptions & { rows: readonly ReproduceRow[]; log: (line: string) => void; seeds: number }): Promise<ReproduceSummary> {
  const { scale, log, seeds } = o;
  const dataDir = o.data ?? join(o.out, 'data');
  const started = Date.now();
  const spec = { ...scale.data, seed: 0 };
  const bar = progressBar(`data (Kolmogorov, ${spec.trajectories} + ${spec.heldOut} trajectories of ${spec.frames} frames, ${spec.size}² from ${spec.simulationSize}²)`, spec.trajectories + spec.heldOut);
  const cache = await buildKolmogorovCache(dataDir, spec, { onTrajectory: (done) => bar.update(done) });
  bar.done();
  const dataSeconds = (Date.now() - started) / 1000;
  const trainSet = await kolmogorovShards(cache.train);
  const heldOut = await kolmogorovShards(cache.heldOut);
  const need = 2 + scale.rolloutFrames;
  const evalClips = evaluationClips(heldOut, need, scale.startsPerTrajectory);
  const [h, w, c] = heldOut.frameShape;
  const steps = TABLE_8_STEPS.filter((s) => s <= scale.rolloutFrames);
  const total = o.rows.length * seeds;
  let trained = 0;
  let evaluated = 0;
  let skipped = 0;
  let index = 0;
  const results = new Map<string, RunResult[]>();
  for (const row of o.rows) {
    const preset = rowPreset(scale, row);
    const label = rowLabel(row);
    const list: RunResult[] = [];
    for (let seed = 0; seed < seeds; seed++) {
      index++;
      const dir = join(o.out, 'runs', `${rowSlug(row)}-seed${seed}`);
      const fingerprint = JSON.stringify({ preset, mode: row.mode, seed, data: spec, rolloutFrames: scale.rolloutFrames, starts: scale.startsPerTrajectory });
      const resultPath = join(dir, 'result.json');
      const previous = await readJson(resultPath);
      if (isRunResult(previous, fingerprint)) {
        log(`[${index}/${total}] ${label} seed ${seed}: done earlier, skipped`);
        list.push(previous);
        skipped++;
        continue;
      }
      const checkpoint = join(dir, CHECKPOINT);
      const m = await readCheckpointMetadata(checkpoint).catch(() => undefined);
      const t0 = Date.now();
      let finalLoss = NaN;
      if (m?.step !== String(preset.steps)) {
        log(`[${index}/${total}] ${label} seed ${seed}: training ${preset.steps} steps${m?.step !== undefined ? ` from step ${m.step}` : ''}`);
        const trainBar = progressBar(`train ${label} seed ${seed}`, preset.steps);
        const r = await train({ preset, dataset: trainSet, out: dir, seed, mode: row.mode, steps: preset.steps, resume: true, onStep: (s, loss) => trainBar.update(s, { loss }) });
        trainBar.done();
        finalLoss = r.log.losses.at(-1) ?? NaN;
        dispose([r.state.params, r.state.opt, r.state.ema]);
        trained++;
      } else {
        log(`[${index}/${total}] ${label} seed ${seed}: checkpoint complete, evaluating`);
      }
      const wallSeconds = (Date.now() - t0) / 1000;
      const t1 = Date.now();
      const ck = await loadForSampling(checkpoint);
      // The checkpoint's log counts every session's training time (a run resumed, or trained before
      // an interruption and only scored now), so the cost is the run's, not this call's.
      const trainLog = JSON.parse(ck.metadata.log ?? '{"losses":[]}') as { losses: (number | null)[]; seconds?: number };
      const trainSeconds = typeof trainLog.seconds === 'number' && trainLog.seconds > 0 ? trainLog.seconds : wallSeconds;
      if (!Number.isFinite(finalLoss)) finalLoss = trainLog.losses.at(-1) ?? NaN;
      const fs = h * w * c;
      const batch = evalClips.length;
      const contextData = new Float32Array(batch * 2 * fs);
      const real = new Float32Array(batch * scale.rolloutFrames * fs);
      evalClips.forEach((clip, b) => {
        contextData.set(clip.subarray(0, 2 * fs), b * 2 * fs);
        real.set(clip.subarray(2 * fs), b * scale.rolloutFrames * fs);
      });
      const context = tensor(contextData, [batch, 2, h, w, c]);
      const evalBar = progressBar(`rollout ${label} seed ${seed}`, scale.rolloutFrames);
      const video = await generate({ model: ck.model, params: ck.params, preset: ck.preset, mode: ck.mode, context, frames: scale.rolloutFrames, stepsPerFrame: preset.stepsPerFrame, key: key(1_000 + seed), onFrame: (f) => evalBar.update(f) });
      evalBar.done();
      const gen = (await video.toArray()) as Float32Array;
      dispose([video, context, ck.params]);
      const perStep = stepMetrics(real, gen, batch, scale.rolloutFrames, h, w, c);
      const result: RunResult = { row: label, mode: row.mode, seed, fingerprint, perStep, trainSeconds, evalSeconds: (Date.now() - t1) / 1000, finalLoss };
      await writeFileAtomic(resultPath, JSON.stringify(result, null, 2));
      evaluated++;
      list.push(result);
    }
    results.set(label, list);
  }
  const aggregates: Aggregate[] = o.rows.map((row) => {
    const list = results.get(rowLabel(row))!;
    return {
      label: rowLabel(row),
      mode: row.mode,
      seeds: list.length,
      fsd: Array.from({ length: scale.rolloutFrames }, (_, s) => meanSd(list.map((r) => r.perStep[s]?.fsd ?? NaN))),
      mse: Array.from({ length: scale.rolloutFrames }, (_, s) => meanSd(list.map((r) => r.perStep[s]?.mse ?? NaN))),
    };
  });
  const table = formatTable8(aggregates, steps, { scale: scale.name, clips: evalClips.length });
  const all = [...results.values()].flat();
  const cost = { dataSecondsThisCall: dataSeconds, trainSeconds: all.reduce((s, r) => s + r.trainSeconds, 0), evalSeconds: all.reduce((s, r) => s + r.evalSeconds, 0) };
  const files = { table: join(o.out, 'table.md'), json: join(o.out, 'results.json'), figure: join(o.out, 'figure4.png') };
  await writeFileAtomic(files.table, `# Kolmogorov flow, Table 8 reproduced at scale '${scale.name}'\n\n${scale.description}.\n\n${table}\n\nTraining ${cost.trainSeconds.toFixed(0)} s and evaluation ${cost.evalSeconds.toFixed(0)} s in all (${getBackendName()} backend).\n`);
  await writeFileAtomic(files.json, JSON.stringify({
    scale: scale.name,
    description: scale.description,
    note: FSD_UNITS_NOTE,
    data: { ...spec, heldOutRollouts: evalClips.length },
    training: scale.training,
    seeds,
    steps,
    cost,
    backend: getBackendName(),
    rows: aggregates.map((a) => ({ label: a.label, mode: a.mode, seeds: a.seeds, perStep: steps.map((s) => ({ step: s, fsd: a.fsd[s - 1], mse: a.mse[s - 1] })) })),
    runs: all.map(({ fingerprint: _f, ...r }) => r),
  }, null, 2));
  // Figure 4: FSD per rollout step, one line per row; log10, since the MSE rows' FSD grows by orders of magnitude.
  const chart = lineChart('LOG10 FSD PER ROLLOUT STEP', aggregates.map((a) => ({ label: a.label.replace('Standard Diffusion', 'STD').replace('Rolling Diffusion', 'ROLL').replace(/[()]/g, '').toUpperCase(), values: a.fsd.map((f) => (f.mean > 0 ? Math.log10(f.mean) : NaN)) })), 560, 340);
  await writePng(files.figure, chart);
  return { trained, evaluated, skipped, table, files };
}
