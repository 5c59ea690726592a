import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as r from '../../../index.js';
import { runCli } from '../runCli.js';
import { bairExampleFromClip, npzToBair } from '../../../experiments/data/bair.js';
import { clipFrames, movingDigitsDataset, movingShapesDataset } from '../../../experiments/data/datasets.js';
import { readNpy } from '../../../experiments/formats/npy.js';
import { decodePng } from '../../../experiments/formats/png.js';
import { PRESETS } from '../../../experiments/presets.js';
import { progressBar } from '../../../experiments/cli/progress.js';
import { writeTFRecords } from '../../../experiments/formats/tfrecord.js';
import { allGoldenVectors } from '../../../experiments/cli/goldenVectors.js';
import { serializeGoldenVectors } from '../../../diffusion/golden.js';
import { readCheckpointMetadata, train } from '../../../experiments/trainer.js';
import { loadSafetensors, saveSafetensors } from '../../../nn/index.js';
import { requireBairSample } from '../bairSample.js';


let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rolling-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = (...argv: string[]) => runCli(argv);

async function leaves(path: string): Promise<Map<string, number[]>> {
  const { tree } = await loadSafetensors(path);
  const m = new Map<string, number[]>();
  for (const [p, t] of r.treeFlatten(tree)) {
    m.set(p, Array.from(await t.toArray()));
    t.dispose();
  }
  return m;
}

/** Runs `body` on the named backend and restores the one that was current. */
async function onBackend<T>(name: string, body: () => Promise<T>): Promise<T> {
  const before = r.getBackendName();
  await r.setBackend(name);
  try {
    return await body();
  } finally {
    await r.setBackend(before);
  }
}

/** 20 steps straight against 10 + resume + 10, on the current backend. */
async function expectExactResume(out: string): Promise<void> {
  const preset = { ...PRESETS.test!, steps: 20, checkpointEvery: 10 };
  const dataset = movingShapesDataset({ clips: preset.clips, frames: preset.clipLength, size: preset.size, seed: 0 });
  const straight = join(out, 'straight');
  const split = join(out, 'split');
  const a = await train({ preset, dataset, out: straight, seed: 3, mode: 'rolling', steps: 20 });
  const b1 = await train({ preset, dataset, out: split, seed: 3, mode: 'rolling', steps: 20, stopAt: 10 });
  expect(b1.log.losses).toEqual(a.log.losses.slice(0, 10));
  r.dispose([b1.state.params, b1.state.opt, b1.state.ema]);
  // A bar fed by the resumed run, a second per step: its rate counts the 10 steps run here, not the 20 since step 0.
  const lines: string[] = [];
  let clock = 0;
  const bar = progressBar('train', 20, { stream: { isTTY: false, write: (s: string) => lines.push(s) > 0 }, logEvery: 10, now: () => clock });
  const b2 = await train({ preset, dataset, out: split, seed: 3, mode: 'rolling', steps: 20, resume: true, onStep: (step) => {
    clock += 1000;
    bar.update(step);
  } });
  expect(lines).toEqual([expect.stringMatching(/^train 20\/20 \[=+>\] 1\.00 it\/s \| ETA 0s\n$/)]);
  expect(b2.log.losses).toEqual(a.log.losses);
  const [la, lb] = await Promise.all([leaves(join(straight, 'checkpoint.safetensors')), leaves(join(split, 'checkpoint.safetensors'))]);
  expect([...lb.keys()]).toEqual([...la.keys()]);
  expect(la.size).toBeGreaterThan(0);
  for (const [k, v] of la) expect(lb.get(k), k).toEqual(v);
  r.dispose([a.state.params, a.state.opt, a.state.ema, b2.state.params, b2.state.opt, b2.state.ema]);
}

describe('training resumes exactly', () => {
  it('on the cpu backend: 20 steps straight equal 10 steps + resume + 10 steps, bit for bit (params, optimizer state and EMA)', async () => {
    await onBackend('cpu', async () => {
      expect(r.getBackendName()).toBe('cpu');
      await expectExactResume(join(dir, 'resume-cpu'));
    });
  });

  it('on the wasm backend: 20 steps straight equal 10 steps + resume + 10 steps, bit for bit', async () => {
    await onBackend('wasm', async () => {
      expect(r.getBackendName()).toBe('wasm');
      await expectExactResume(join(dir, 'resume-wasm'));
    });
  });

  it('refuses to resume a checkpoint made with another seed or mode, naming the difference', async () => {
    const preset = { ...PRESETS.test!, steps: 2, checkpointEvery: 2 };
    const dataset = movingShapesDataset({ clips: 4, frames: preset.clipLength, size: preset.size, seed: 0 });
    const out = join(dir, 'mismatch');
    const a = await train({ preset, dataset, out, seed: 1, mode: 'rolling', steps: 2 });
    r.dispose([a.state.params, a.state.opt, a.state.ema]);
    await expect(train({ preset, dataset, out, seed: 2, mode: 'rolling', steps: 4, resume: true })).rejects.toThrow(/--seed 1/);
    await expect(train({ preset, dataset, out, seed: 1, mode: 'standard', steps: 4, resume: true })).rejects.toThrow(/rolling mode/);
  });
});

/** The byte a value in [−1, 1] is drawn as (written out here, not taken from the code under test). */
function byteOf(v: number): number {
  return Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
}

/**
 * Checks a rollout.png pixel by pixel: `rows` of `frames` frames [H, W, C] in [−1, 1] (the first row
 * generated, the second ground truth), each pixel scaled `scale` times, with 2-pixel gaps around every
 * frame. Channels past the third are not drawn; a 1-channel frame is gray, a 2-channel one has blue 0.
 */
function expectFrameGrid(png: Uint8Array, rows: readonly Float32Array[], frames: number, [h, w, c]: readonly number[], scale: number): void {
  const img = decodePng(png);
  const gap = 2;
  expect(img.channels).toBe(3);
  expect(img.width).toBe(frames * (w! * scale + gap) + gap);
  expect(img.height).toBe(rows.length * (h! * scale + gap) + gap);
  const mismatches: string[] = [];
  rows.forEach((row, r) => {
    expect(row.length).toBe(frames * h! * w! * c!);
    for (let f = 0; f < frames; f++) {
      for (let y = 0; y < h!; y++) {
        for (let x = 0; x < w!; x++) {
          // The bottom-right copy of each scaled pixel, so the scale is checked too.
          const py = gap + r * (h! * scale + gap) + y * scale + scale - 1;
          const px = gap + f * (w! * scale + gap) + x * scale + scale - 1;
          const at = ((f * h! + y) * w! + x) * c!;
          const want = [0, 1, 2].map((k) => (c === 1 ? byteOf(row[at]!) : k < c! ? byteOf(row[at + k]!) : 0));
          const got = Array.from(img.data.subarray((py * img.width + px) * 3, (py * img.width + px) * 3 + 3));
          if (got.join() !== want.join() && mismatches.length < 3) mismatches.push(`row ${r} frame ${f} (${y}, ${x}): ${got} ≠ ${want}`);
        }
      }
    }
  });
  expect(mismatches).toEqual([]);
}

async function gifSize(path: string): Promise<[number, number]> {
  const gif = await readFile(path);
  expect(gif.subarray(0, 6).toString('latin1')).toBe('GIF89a');
  return [gif.readUInt16LE(6), gif.readUInt16LE(8)];
}

describe('the rolling command line', () => {
  it('train → rollout → eval end to end on tiny settings; rollout.png is generated above ground truth, rollout.npy [frames, H, W, C]', async () => {
    const roll = join(dir, 'roll');
    const std = join(dir, 'std');
    expect((await run('train', '--out', roll, '--preset', 'test', '--steps', '2')).code).toBe(0);
    expect((await run('train', '--out', std, '--preset', 'test', '--steps', '2', '--mode', 'standard')).code).toBe(0);
    const frames = 5;
    const ro = await run('rollout', '--checkpoint', join(roll, 'checkpoint.safetensors'), '--out', join(dir, 'ro'), '--frames', String(frames));
    expect(ro.code, ro.err).toBe(0);
    const preset = PRESETS.test!;
    const [h, w, c] = [preset.size, preset.size, 1];
    const npy = await readNpy(join(dir, 'ro', 'rollout.npy'));
    expect(npy.shape).toEqual([frames, h, w, c]);
    expect(npy.data).toBeInstanceOf(Float32Array);
    const generated = npy.data as Float32Array;
    expect(generated.every(Number.isFinite)).toBe(true);
    // Ground truth: clip 0 of the held-out set (seed 1000 + --seed), after the clean frames.
    const heldOut = movingShapesDataset({ clips: preset.clips, frames: preset.clipLength, size: preset.size, seed: 1_000 });
    const truth = clipFrames(heldOut, 0, preset.cleanFrames, frames);
    expectFrameGrid(new Uint8Array(await readFile(join(dir, 'ro', 'rollout.png'))), [generated, truth], frames, [h, w, c], 4);
    // The GIF shows generated and truth side by side with a 2-pixel gap, enlarged 4 times as the PNG is.
    expect(await gifSize(join(dir, 'ro', 'rollout.gif'))).toEqual([4 * (2 * w + 2), 4 * h]);
    const ev = await run('eval', '--rolling', join(roll, 'checkpoint.safetensors'), '--standard', join(std, 'checkpoint.safetensors'), '--out', join(dir, 'ev'), '--clips', '2', '--frames', '3');
    expect(ev.code, ev.err).toBe(0);
    expect(ev.out).toMatch(/MSE rolling/);
    const report = JSON.parse(await readFile(join(dir, 'ev', 'eval.json'), 'utf8')) as { results: { rolling: unknown[]; standard: unknown[] } };
    expect(report.results.rolling).toHaveLength(3);
    expect(report.results.standard).toHaveLength(3);
    expect((await stat(join(dir, 'ev', 'eval.png'))).size).toBeGreaterThan(0);
  });

  it('--data mnist trains on moving MNIST, and rollout (without --data) compares with held-out test digits', async () => {
    const out = join(dir, 'mnist');
    const tr = await run('train', '--out', out, '--preset', 'test', '--data', 'mnist', '--steps', '2');
    expect(tr.code, tr.err).toBe(0);
    const ro = await run('rollout', '--checkpoint', join(out, 'checkpoint.safetensors'), '--out', join(dir, 'mnist-ro'), '--frames', '3');
    expect(ro.code, ro.err).toBe(0);
    const preset = PRESETS.test!;
    const generated = (await readNpy(join(dir, 'mnist-ro', 'rollout.npy'))).data as Float32Array;
    const truth = clipFrames(movingDigitsDataset({ clips: preset.clips, frames: preset.clipLength, size: preset.size, seed: 1_000, split: 'test' }), 0, preset.cleanFrames, 3);
    expectFrameGrid(new Uint8Array(await readFile(join(dir, 'mnist-ro', 'rollout.png'))), [generated, truth], 3, [preset.size, preset.size, 1], 4);
  });

  it('demo trains, rolls out twice the window and writes metrics.json, rollout.gif/png/npy and losses.csv', async () => {
    const out = join(dir, 'demo');
    const res = await run('demo', '--out', out, '--steps', '2');
    expect(res.code, res.err).toBe(0);
    const preset = PRESETS.demo!;
    const metrics = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as { framesGenerated: number; window: number; trainSteps: number; perStep: unknown[] };
    expect(metrics.window).toBe(preset.window);
    expect(metrics.framesGenerated).toBeGreaterThanOrEqual(2 * preset.window);
    expect(metrics.trainSteps).toBe(2);
    expect(metrics.perStep).toHaveLength(metrics.framesGenerated);
    expect((await readFile(join(out, 'losses.csv'), 'utf8')).trim().split('\n')).toHaveLength(2);
    const frames = metrics.framesGenerated;
    const [h, w, c] = [preset.size, preset.size, 1];
    const npy = await readNpy(join(out, 'rollout.npy'));
    expect(npy.shape).toEqual([frames, h, w, c]);
    const heldOut = movingShapesDataset({ clips: preset.clips, frames: preset.clipLength, size: preset.size, seed: 1_000 });
    const truth = clipFrames(heldOut, 0, preset.cleanFrames, frames);
    expectFrameGrid(new Uint8Array(await readFile(join(out, 'rollout.png'))), [npy.data as Float32Array, truth], frames, [h, w, c], 4);
    expect(await gifSize(join(out, 'rollout.gif'))).toEqual([4 * (2 * w + 2), 4 * h]);
    expect(await readdir(out)).toEqual(expect.arrayContaining(['checkpoint.safetensors', 'train-log.json']));
  });

  // Whether the committed test/fixtures/golden.json is current is test/diffusion/golden.test.ts's job;
  // this checks that the command writes exactly what the generator gives, and nothing else.
  it('vectors writes the golden vectors, equal byte for byte to the live generator, with the FSD section', async () => {
    const path = join(dir, 'vectors', 'golden.json');
    await mkdir(join(dir, 'vectors'));
    const res = await run('vectors', '--out', path);
    expect(res.code, res.err).toBe(0);
    const written = await readFile(path, 'utf8');
    expect(written === serializeGoldenVectors(allGoldenVectors())).toBe(true);
    const parsed = JSON.parse(written) as { fsd?: { cases: unknown[] } };
    expect(parsed.fsd?.cases.length).toBeGreaterThan(0);
    expect(await readdir(join(dir, 'vectors'))).toEqual(['golden.json']);
  });

  it('data kolmogorov writes the asked number of shards [clips, frames, n, n, 2], and train reads them', async () => {
    const data = join(dir, 'kol');
    const d = await run('data', 'kolmogorov', '--out', data, '--clips', '1', '--shards', '2', '--frames', '12', '--size', '16');
    expect(d.code, d.err).toBe(0);
    expect((await readdir(data)).sort()).toEqual(['kolmogorov-0000.npy', 'kolmogorov-0001.npy', 'kolmogorov-cache.json']);
    const shards = await Promise.all(['kolmogorov-0000.npy', 'kolmogorov-0001.npy'].map((n) => readNpy(join(data, n))));
    for (const a of shards) {
      expect(a.shape).toEqual([1, 12, 16, 16, 2]);
      expect(a.data).toBeInstanceOf(Float32Array);
      expect((a.data as Float32Array).every(Number.isFinite)).toBe(true);
    }
    // Each shard is its own simulation.
    expect(Buffer.from(shards[0]!.data.buffer).equals(Buffer.from(shards[1]!.data.buffer))).toBe(false);
    const tr = await run('train', '--out', join(dir, 'kt'), '--preset', 'test', '--data', data, '--steps', '1');
    expect(tr.code, tr.err).toBe(0);
    const meta = await readCheckpointMetadata(join(dir, 'kt', 'checkpoint.safetensors'));
    // Named by its folder, not 'kolmogorov': sampling cannot simulate these clips and must read them again.
    expect(meta.data).toBe(resolve(data));
    expect(JSON.parse(meta.frameShape!)).toEqual([16, 16, 2]);
    const bare = await run('rollout', '--checkpoint', join(dir, 'kt', 'checkpoint.safetensors'), '--out', join(dir, 'kt-ro'), '--frames', '2');
    expect(bare.code, bare.err).toBe(2);
    expect(bare.err).toMatch(/rolling rollout: .*kt.checkpoint\.safetensors was trained on .*kol data, which cannot be generated: pass --data PATH/);
    expect(existsSync(join(dir, 'kt-ro'))).toBe(false);
    const ro = await run('rollout', '--checkpoint', join(dir, 'kt', 'checkpoint.safetensors'), '--out', join(dir, 'kt-ro'), '--frames', '2', '--data', data);
    expect(ro.code, ro.err).toBe(0);
    expect((await readNpy(join(dir, 'kt-ro', 'rollout.npy'))).shape).toEqual([2, 16, 16, 2]);
  });

  it('data kolmogorov --simulation-size --warmup: a finer grid truncated to --size, and warm-up time discarded before frame 0', async () => {
    const plain = join(dir, 'kol-plain');
    const warm = join(dir, 'kol-warm');
    const common = ['--clips', '1', '--frames', '3', '--size', '16', '--simulation-size', '32', '--seed', '5'];
    expect((await run('data', 'kolmogorov', '--out', plain, ...common)).code).toBe(0);
    expect((await run('data', 'kolmogorov', '--out', warm, ...common, '--warmup', '1.5')).code).toBe(0);
    const a = (await readNpy(join(plain, 'kolmogorov-0000.npy'))).data as Float32Array;
    const b = (await readNpy(join(warm, 'kolmogorov-0000.npy'))).data as Float32Array;
    const frame = 16 * 16 * 2;
    // One frame interval (1.5) of warm-up: the warm clip starts where the plain one's frame 1 is.
    expect(Array.from(b.subarray(0, frame))).toEqual(Array.from(a.subarray(frame, 2 * frame)));
    expect(Array.from(b.subarray(0, frame))).not.toEqual(Array.from(a.subarray(0, frame)));
    const bad = await run('data', 'kolmogorov', '--out', join(dir, 'kol-bad'), '--size', '16', '--simulation-size', '24');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--simulation-size 24: must be a power of two at least --size 16/);
  });

  it('bad arguments give a message naming the problem and a non-zero exit', async () => {
    await writeFile(join(dir, 'notes.txt'), 'not data');
    await mkdir(join(dir, 'empty-data'));
    // A checkpoint whose preset has another window: eval must refuse to compare it.
    const other = join(dir, 'other.safetensors');
    await saveSafetensors(other, { w: r.tensor(new Float32Array(2), [2]) }, { preset: JSON.stringify({ ...PRESETS.test!, window: 6 }), frameShape: '[16,16,1]', mode: 'standard' });
    // Same preset and frame shape as `roll`, but trained on moving MNIST: the held-out clips would differ.
    const mnistLike = join(dir, 'mnist-like.safetensors');
    await saveSafetensors(mnistLike, { w: r.tensor(new Float32Array(2), [2]) }, { preset: JSON.stringify(PRESETS.test!), frameShape: '[16,16,1]', mode: 'standard', data: 'mnist' });
    const roll = join(dir, 'roll', 'checkpoint.safetensors');
    const cases: [string[], RegExp, number][] = [
      [['train'], /--out: required/, 2],
      [['train', '--out', dir, '--steps', 'many'], /--steps: expected a positive integer/, 2],
      [['train', '--out', dir, '--preset', 'huge'], /--preset: expected one of/, 2],
      [['train', '--out', dir, '--stpes', '3'], /--stpes: unknown option/, 2],
      [['train', 'foo', '--out', dir], /rolling train: unexpected argument 'foo'/, 2],
      [['demo', '--out', dir, 'extra', 'words'], /rolling demo: unexpected arguments 'extra' 'words'/, 2],
      [['data', 'kolmogorov', 'more', '--out', dir], /rolling data: unexpected argument 'more'/, 2],
      [['train', '--out', dir, '--preset', 'bair'], /--preset bair .*pass --data PATH[\s\S]*\.tfrecords[\s\S]*\.npz/, 2],
      [['train', '--out', dir, '--preset', 'test', '--data', join(dir, 'nowhere.tfrecords')], /--data .*nowhere\.tfrecords: no such file or folder[\s\S]*Accepted --data:/, 2],
      [['train', '--out', dir, '--preset', 'test', '--data', join(dir, 'notes.txt')], /notes\.txt: unknown format '\.txt'[\s\S]*\.tfrecords/, 2],
      [['train', '--out', dir, '--preset', 'test', '--data', join(dir, 'empty-data')], /empty-data: the folder .* holds neither BAIR traj_\*\.tfrecords files nor kolmogorov-\*\.npy shards/, 2],
      [['rollout', '--checkpoint', join(dir, 'missing.safetensors'), '--out', dir], /--checkpoint .*missing\.safetensors: no such file or folder/, 2],
      [['eval', '--rolling', roll, '--standard', other, '--out', join(dir, 'ev-bad')], /not comparable: preset window 4 against 6/, 2],
      [['eval', '--rolling', roll, '--standard', mnistLike, '--out', join(dir, 'ev-bad'), '--clips', '1', '--frames', '2'], /not comparable: data 'shapes' against 'mnist'/, 2],
      [['data', 'mnist', '--out', dir], /only generated data set is 'kolmogorov'/, 2],
      [['frobnicate'], /unknown command 'frobnicate'/, 2],
    ];
    for (const [argv, message, code] of cases) {
      const res = await run(...argv);
      expect(res.code, argv.join(' ')).toBe(code);
      expect(res.err, argv.join(' ')).toMatch(message);
    }
    expect(existsSync(join(dir, 'ev-bad'))).toBe(false);
  });
});


describe('the rolling command line on the real BAIR clip', () => {
  let folder = '';
  let file = '';
  beforeAll(async () => {
    const clip = await npzToBair(requireBairSample());
    folder = join(dir, 'bair-train');
    await mkdir(folder);
    file = join(folder, 'traj_0_to_255.tfrecords');
    await writeTFRecords(file, [bairExampleFromClip(clip)]);
  });

  it('train reads a .tfrecords file, a folder of traj_*.tfrecords and the .npz, and sees the same frames in each', async () => {
    const losses: number[][] = [];
    for (const [name, data] of [['file', file], ['folder', folder], ['npz', requireBairSample()]] as const) {
      const out = join(dir, `bair-${name}`);
      const res = await run('train', '--out', out, '--preset', 'test', '--data', data, '--steps', '2');
      expect(res.code, `${name}: ${res.err}`).toBe(0);
      const meta = await readCheckpointMetadata(join(out, 'checkpoint.safetensors'));
      expect(meta.data, name).toBe('bair');
      expect(JSON.parse(meta.frameShape!), name).toEqual([64, 64, 3]);
      expect(meta.step, name).toBe('2');
      losses.push((JSON.parse(await readFile(join(out, 'train-log.json'), 'utf8')) as { losses: number[] }).losses);
    }
    // One clip, one seed: the batches, and so the losses, are the same whichever container held it.
    expect(losses[0]).toHaveLength(2);
    expect(losses[1]).toEqual(losses[0]);
    expect(losses[2]).toEqual(losses[0]);
  });

  it('rollout and eval of a BAIR checkpoint without --data ask for the held-out test/ folder, not a --preset', async () => {
    const checkpoint = join(dir, 'bair-file', 'checkpoint.safetensors');
    const ro = await run('rollout', '--checkpoint', checkpoint, '--out', join(dir, 'bair-ro-bare'), '--frames', '2');
    expect(ro.code).toBe(2);
    expect(ro.err).toMatch(/^rolling rollout: .*bair-file.checkpoint\.safetensors was trained on bair data, which cannot be generated: pass --data PATH \(for BAIR, the softmotion30_44k test\/ folder of traj_\*\.tfrecords\)/);
    expect(ro.err).not.toMatch(/--preset|train\//);
    // eval compares a rolling checkpoint with a standard one: the same weights, relabelled.
    const standardLike = join(dir, 'bair-file-standard.safetensors');
    const loaded = await loadSafetensors(checkpoint);
    await saveSafetensors(standardLike, loaded.tree, { ...loaded.metadata, mode: 'standard' });
    r.dispose(loaded.tree);
    const ev = await run('eval', '--rolling', checkpoint, '--standard', standardLike, '--out', join(dir, 'bair-ev-bare'), '--clips', '1', '--frames', '2');
    expect(ev.code).toBe(2);
    expect(ev.err).toMatch(/^rolling eval: .*bair-file.checkpoint\.safetensors was trained on bair data, which cannot be generated: pass --data PATH \(for BAIR, the softmotion30_44k test\/ folder/);
  });

  it('rollout of a BAIR checkpoint needs BAIR frames: shapes data is refused by name', async () => {
    const res = await run('rollout', '--checkpoint', join(dir, 'bair-file', 'checkpoint.safetensors'), '--out', join(dir, 'bair-ro'), '--frames', '2', '--data', 'shapes');
    expect(res.code).toBe(2);
    expect(res.err).toMatch(/frames of shapes are \[16,16,1\], but .* was trained on \[64,64,3\] frames/);
  });
});
