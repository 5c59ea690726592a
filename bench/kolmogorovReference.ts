/**
 * Reference points for reading a `rolling reproduce kolmogorov` table: what FSD and MSE trivial
 * predictions and real data score on the same held-out rollout clips, with the same metric code
 * (`stepMetrics`: MSE on (u, v), FSD of Eq. 27 on u, both on the stored scale velocity / 7).
 *
 *   - the data's per-value variance σ² (about the per-channel mean and about the per-pixel mean
 *     field): a constant prediction scores MSE σ², an independent real frame 2σ²;
 *   - "independent real frames": each target replaced by a training frame drawn at random, scored
 *     per step (mean ± sd over draws): a model whose samples are real-looking but uncorrelated with
 *     the truth scores this, and its FSD is the floor of FSD at this number of frames;
 *     (and a held-out frame of another trajectory than the clip's);
 *   - FSD between two disjoint random sets of held-out frames, and between held-out and training
 *     frames, of the evaluation's size (frames per step);
 *   - persistence (the last context frame repeated) and the mean field (the per-pixel mean of the
 *     training frames), scored per step.
 *
 * The clips are the ones reproduce.ts scores: `startsPerTrajectory` starts spread along each held-out
 * trajectory, 2 context frames, `rollout` frames after them.
 *
 *   npx tsx bench/kolmogorovReference.ts [--data /work/runs/table8-small/data] [--rollout 48] [--starts 2] [--draws 50]
 */
import { join } from 'node:path';
import { foldIn, key, uniformHost } from '../core/index.js';
import { clipFrames, kolmogorovShards, type VideoDataset } from '../experiments/data/datasets.js';
import { evaluationClips } from '../experiments/cli/reproduce.js';
import { stepMetrics, type StepMetrics } from '../experiments/metrics/evaluate.js';
import { fsdFromArrays, selectChannel } from '../experiments/metrics/metrics.js';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };
const dataDir = flag('data') ?? '/work/runs/table8-small/data';
const rollout = Number(flag('rollout') ?? 48);
const startsPer = Number(flag('starts') ?? 2);
const draws = Number(flag('draws') ?? 50);
const reportSteps = [1, 2, 4, 8, 12, 24, 48].filter((s) => s <= rollout);

const train = await kolmogorovShards(dataDir);
const heldOut = await kolmogorovShards(join(dataDir, 'held-out'));
const [h, w, c] = heldOut.frameShape;
const fs = h * w * c;
const need = 2 + rollout;

// The clips reproduce.ts scores.
const clips = evaluationClips(heldOut, need, startsPer);
const batch = clips.length;
const real = new Float32Array(batch * rollout * fs);
const lastContext: Float32Array[] = [];
clips.forEach((clip, b) => {
  real.set(clip.subarray(2 * fs), b * rollout * fs);
  lastContext.push(clip.subarray(fs, 2 * fs));
});

function allFrames(d: VideoDataset): { frames: Float32Array; count: number } {
  const count = d.clips.length * d.clipLength;
  const frames = new Float32Array(count * fs);
  for (let i = 0; i < d.clips.length; i++) frames.set(clipFrames(d, i, 0, d.clipLength), i * d.clipLength * fs);
  return { frames, count };
}
const trainFrames = allFrames(train);
const heldOutFrames = allFrames(heldOut);

/** Per-channel mean, per-pixel mean field, and the variance of all values about each. */
function moments(f: { frames: Float32Array; count: number }): { channelMean: number[]; meanField: Float64Array; varAboutChannelMean: number; varAboutMeanField: number; perChannelVar: number[] } {
  const meanField = new Float64Array(fs);
  for (let n = 0; n < f.count; n++) for (let p = 0; p < fs; p++) meanField[p]! += f.frames[n * fs + p]! / f.count;
  const channelMean = Array.from({ length: c }, (_, ch) => { let s = 0; for (let p = ch; p < fs; p += c) s += meanField[p]!; return s / (h * w); });
  const perChannel = new Array<number>(c).fill(0);
  let aboutField = 0;
  for (let n = 0; n < f.count; n++) {
    for (let p = 0; p < fs; p++) {
      const v = f.frames[n * fs + p]!;
      perChannel[p % c]! += (v - channelMean[p % c]!) ** 2;
      aboutField += (v - meanField[p]!) ** 2;
    }
  }
  const perChannelVar = perChannel.map((s) => s / (f.count * h * w));
  return { channelMean, meanField, varAboutChannelMean: perChannelVar.reduce((a, b) => a + b, 0) / c, varAboutMeanField: aboutField / (f.count * fs), perChannelVar };
}
const mTrain = moments(trainFrames);
const mHeld = moments(heldOutFrames);

/** A prediction [batch, rollout, h, w, c] whose frame (b, s) is `frame(b, s)`. */
function prediction(frame: (b: number, s: number) => ArrayLike<number>): Float32Array {
  const out = new Float32Array(batch * rollout * fs);
  for (let b = 0; b < batch; b++) for (let s = 0; s < rollout; s++) out.set(frame(b, s), (b * rollout + s) * fs);
  return out;
}
const score = (gen: Float32Array): StepMetrics[] => stepMetrics(real, gen, batch, rollout, h, w, c);

/** `count` distinct indices below `n` from the host PRNG (a partial Fisher-Yates shuffle). */
function pick(n: number, count: number, seed: number, draw: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  const u = uniformHost(foldIn(key(seed), draw), count);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(u[i]! * (n - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, count);
}
const frameOf = (f: { frames: Float32Array }, n: number) => f.frames.subarray(n * fs, (n + 1) * fs);
const meanSd = (v: readonly number[]) => {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean: m, sd: Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, v.length - 1)) };
};
const fmt = (x: number) => (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(2) : x.toPrecision(3));
const pm = (x: { mean: number; sd: number }) => `${fmt(x.mean)} ± ${fmt(x.sd)}`;

/** FSD (on u) between two sets of frames given by index into `a` and `b`. */
function fsdOfSets(a: { frames: Float32Array }, ia: readonly number[], b: { frames: Float32Array }, ib: readonly number[]): number {
  const gather = (f: { frames: Float32Array }, idx: readonly number[]) => {
    const out = new Float32Array(idx.length * fs);
    idx.forEach((n, k) => out.set(frameOf(f, n), k * fs));
    return selectChannel(out, idx.length, h, w, c, 0);
  };
  return fsdFromArrays(gather(a, ia), ia.length, gather(b, ib), ib.length, h, w);
}

console.log(`data ${dataDir}: ${train.clips.length} training and ${heldOut.clips.length} held-out trajectories of ${heldOut.clipLength} frames, ${h}×${w}×${c}; ${batch} evaluation clips (${startsPer} per held-out trajectory), ${rollout} rolled-out frames; ${draws} draws where random`);
console.log('values on the stored scale, velocity / 7 (× 49 for physical units)');
for (const [name, m] of [['training', mTrain], ['held-out', mHeld]] as const) {
  console.log(`${name}: channel means (u, v) ${m.channelMean.map(fmt).join(', ')}; variance per channel (u, v) ${m.perChannelVar.map(fmt).join(', ')}; σ² about the channel means ${fmt(m.varAboutChannelMean)} (2σ² ${fmt(2 * m.varAboutChannelMean)}), about the per-pixel mean field ${fmt(m.varAboutMeanField)}`);
}

// Independent real frames: each target replaced by a random training frame; per step, over draws.
const indep: StepMetrics[][] = [];
for (let d = 0; d < draws; d++) {
  const idx = pick(trainFrames.count, batch * rollout, 1, d);
  indep.push(score(prediction((b, s) => frameOf(trainFrames, idx[b * rollout + s]!))));
}
// The same with a held-out frame of another trajectory than the clip's: the evaluation's own split.
const indepHeld: StepMetrics[][] = [];
for (let d = 0; d < draws; d++) {
  const u = uniformHost(foldIn(key(5), d), 2 * batch * rollout);
  indepHeld.push(score(prediction((b, s) => {
    const n = heldOut.clips.length;
    const other = (Math.floor(b / startsPer) + 1 + Math.floor(u[2 * (b * rollout + s)]! * (n - 1))) % n;
    return frameOf(heldOutFrames, other * heldOut.clipLength + Math.floor(u[2 * (b * rollout + s) + 1]! * heldOut.clipLength));
  })));
}
const persistence = score(prediction((b) => lastContext[b]!));
const meanFieldFrame = Float32Array.from(mTrain.meanField);
const meanField = score(prediction(() => meanFieldFrame));
const channelMeanFrame = Float32Array.from({ length: fs }, (_, p) => mTrain.channelMean[p % c]!);
const channelMean = score(prediction(() => channelMeanFrame));

console.log('\nper rollout step: FSD (u) / MSE (u, v), against the evaluation\'s real frames');
console.log(`| Prediction | ${reportSteps.join(' | ')} |`);
console.log(`|---|${reportSteps.map(() => '---').join('|')}|`);
const row = (name: string, m: StepMetrics[]) => console.log(`| ${name} | ${reportSteps.map((s) => `${fmt(m[s - 1]!.fsd ?? NaN)} / ${fmt(m[s - 1]!.mse)}`).join(' | ')} |`);
console.log(`| Independent training frame (mean ± sd over ${draws} draws) | ${reportSteps.map((s) => `${pm(meanSd(indep.map((r) => r[s - 1]!.fsd ?? NaN)))} / ${pm(meanSd(indep.map((r) => r[s - 1]!.mse)))}`).join(' | ')} |`);
console.log(`| Independent held-out frame, another trajectory (mean ± sd over ${draws} draws) | ${reportSteps.map((s) => `${pm(meanSd(indepHeld.map((r) => r[s - 1]!.fsd ?? NaN)))} / ${pm(meanSd(indepHeld.map((r) => r[s - 1]!.mse)))}`).join(' | ')} |`);
row('Persistence (last context frame)', persistence);
row('Mean field (per-pixel training mean)', meanField);
row('Channel mean (constant)', channelMean);
const allSteps = (m: StepMetrics[]) => meanSd(m.map((x) => x.fsd ?? NaN));
console.log(`over all ${rollout} steps, FSD mean ± sd across steps: independent (draw 0) ${pm(allSteps(indep[0]!))}, persistence ${pm(allSteps(persistence))}`);

// FSD between two random sets of real frames of the evaluation's size.
const heldVsHeld: number[] = [];
const heldVsTrain: number[] = [];
const trainVsTrain: number[] = [];
for (let d = 0; d < draws; d++) {
  const ih = pick(heldOutFrames.count, 2 * batch, 2, d);
  heldVsHeld.push(fsdOfSets(heldOutFrames, ih.slice(0, batch), heldOutFrames, ih.slice(batch)));
  heldVsTrain.push(fsdOfSets(heldOutFrames, ih.slice(0, batch), trainFrames, pick(trainFrames.count, batch, 3, d)));
  const it = pick(trainFrames.count, 2 * batch, 4, d);
  trainVsTrain.push(fsdOfSets(trainFrames, it.slice(0, batch), trainFrames, it.slice(batch)));
}
console.log(`\nFSD (u) between two disjoint random sets of ${batch} real frames, mean ± sd (min-max) over ${draws} draws:`);
for (const [name, v] of [['held-out vs held-out', heldVsHeld], ['held-out vs training', heldVsTrain], ['training vs training', trainVsTrain]] as const) {
  console.log(`  ${name}: ${pm(meanSd(v))} (${fmt(Math.min(...v))}-${fmt(Math.max(...v))})`);
}
