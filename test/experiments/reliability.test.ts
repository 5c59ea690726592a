/**
 * Issue 19: a NaN never reaches the checkpoint, crafted files cannot exhaust memory, bad checkpoint
 * metadata is refused by name.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as r from '../../index.js';
import { runCli } from './runCli.js';
import { BAIR_FRAME_BYTES, bairExampleFromClip } from '../../experiments/data/bair.js';
import { movingShapesDataset } from '../../experiments/data/datasets.js';
import { writeNpy } from '../../experiments/formats/npy.js';
import { encodeExample, type Feature } from '../../experiments/formats/protobuf.js';
import { encodeTFRecord } from '../../experiments/formats/tfrecord.js';
import { PRESETS } from '../../experiments/presets.js';
import { readCheckpointMetadata, train } from '../../experiments/trainer.js';
import { loadSafetensors, readSafetensorsMetadata, saveSafetensors } from '../../nn/index.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rolling-reliability-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = (...argv: string[]) => runCli(argv);

/** The names of the tensors of a checkpoint that hold a NaN or ±Inf. */
async function nonFiniteTensors(path: string): Promise<string[]> {
  const { tree } = await loadSafetensors(path);
  const bad: string[] = [];
  for (const [p, t] of r.treeFlatten(tree)) {
    if (t.dtype === 'float32' && Array.from(await t.toArray()).some((v) => !Number.isFinite(v))) bad.push(p);
    t.dispose();
  }
  return bad;
}

/** Rewrites a checkpoint with `change` applied to its tree (same metadata unless `metadata` is given). */
async function rewrite(path: string, change: (tree: Record<string, unknown>) => unknown, metadata?: (m: Record<string, string>) => Record<string, string>): Promise<void> {
  const loaded = await loadSafetensors<Record<string, unknown>>(path);
  const tree = change(loaded.tree);
  await saveSafetensors(path, tree, metadata ? metadata(loaded.metadata) : loaded.metadata);
  r.dispose([tree, loaded.tree]);
}

describe('a NaN never reaches the checkpoint', () => {
  it('NaN optimizer state in the checkpoint (the fault injection): resume refuses it by name (exit 2) and writes nothing', async () => {
    const out = join(dir, 'nan-opt');
    expect((await run('train', '--out', out, '--preset', 'test', '--steps', '4', '--backend', 'cpu')).code).toBe(0);
    const path = join(out, 'checkpoint.safetensors');
    await rewrite(path, (t) => ({ ...t, opt: r.treeMap(t.opt, (x) => (x.dtype === 'float32' ? r.full(x.shape, NaN) : x)) }));
    const res = await run('train', '--out', out, '--preset', 'test', '--steps', '12', '--checkpoint-every', '1', '--resume', '--backend', 'cpu');
    expect(res.code).toBe(2);
    expect(res.err).toMatch(/checkpoint\.safetensors \(step 4\) holds NaN or ±Infinity in its optimizer state, so it cannot be continued; train again with --force/);
    expect((await readCheckpointMetadata(path)).step).toBe('4');
    // The parameters and EMA are still the good ones (the injected NaN is in opt only).
    expect((await nonFiniteTensors(path)).filter((p) => !p.startsWith('opt.'))).toEqual([]);
  });

  it('a step that makes the update NaN from a finite state: stops there (counted as checkpoints count), keeps the last checkpoint and advises --learning-rate', async () => {
    // Resumed in process with an optimizer state that is finite but makes the next update overflow.
    const out = join(dir, 'overflow');
    expect((await run('train', '--out', out, '--preset', 'test', '--steps', '4', '--backend', 'cpu')).code).toBe(0);
    const path = join(out, 'checkpoint.safetensors');
    await rewrite(path, (t) => ({ ...t, params: r.treeMap(t.params, (x) => (x.dtype === 'float32' ? r.full(x.shape, 3e38) : x)) }));
    const res = await run('train', '--out', out, '--preset', 'test', '--steps', '12', '--checkpoint-every', '1', '--resume', '--backend', 'cpu');
    expect(res.code).toBe(1);
    expect(res.err).toMatch(/at step 5 (the loss is (NaN|-?Infinity)|the updated .* hold NaN or ±Infinity), so the step was neither applied nor saved; the checkpoint of step 4 .* is kept/);
    expect(res.err).toMatch(/--learning-rate/);
    expect((await readCheckpointMetadata(path)).step).toBe('4');
  });

  it('the jitted step (the default) trains the same bits as the eager one (jit: false): losses, parameters, Adam and EMA, rolling, standard and mse', async () => {
    const preset = { ...PRESETS.test!, steps: 3, checkpointEvery: 100 };
    const dataset = movingShapesDataset({ clips: 4, frames: preset.clipLength, size: preset.size, seed: 0 });
    for (const mode of ['rolling', 'standard', 'mse'] as const) {
      const runs = [];
      for (const jit of [true, false]) runs.push(await train({ preset, dataset, out: join(dir, `jit-${mode}-${jit}`), seed: 0, mode, steps: 3, jit }));
      const [compiled, eager] = runs as [Awaited<ReturnType<typeof train>>, Awaited<ReturnType<typeof train>>];
      expect(compiled.log.losses, mode).toEqual(eager.log.losses);
      const values = async (s: typeof compiled.state) => Promise.all(r.treeLeaves([s.params, s.opt, s.ema]).map(async (t) => Array.from(await t.toArray())));
      expect(await values(compiled.state), mode).toEqual(await values(eager.state));
      for (const run of runs) r.dispose([run.state.params, run.state.opt, run.state.ema]);
    }
  });

  it('a learning rate of 1e6 (the API): the checkpoint in --out holds finite values only, and the error names the step', async () => {
    const preset = { ...PRESETS.test!, learningRate: 1e6, steps: 12, checkpointEvery: 1 };
    const dataset = movingShapesDataset({ clips: 4, frames: preset.clipLength, size: preset.size, seed: 0 });
    const out = join(dir, 'huge-lr');
    const error = await train({ preset, dataset, out, seed: 0, mode: 'rolling', steps: 12 }).then(() => undefined, (e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    const step = Number(/at step (\d+)/.exec(error!.message)?.[1]);
    expect(step).toBeGreaterThan(0);
    const path = join(out, 'checkpoint.safetensors');
    expect(Number((await readCheckpointMetadata(path)).step)).toBe(step - 1);
    expect(await nonFiniteTensors(path)).toEqual([]);
  });

  it('--learning-rate is an option train accepts (the one the error advises), kept in the checkpoint', async () => {
    const out = join(dir, 'lr');
    expect((await run('train', '--out', out, '--preset', 'test', '--steps', '2', '--learning-rate', '5e-4', '--backend', 'cpu')).code).toBe(0);
    expect(JSON.parse((await readCheckpointMetadata(join(out, 'checkpoint.safetensors'))).preset!).learningRate).toBe(5e-4);
  });
});

describe('checkpoint metadata is decoded with bounds before anything is built from it', () => {
  let good = '';
  beforeAll(async () => {
    good = join(dir, 'good');
    expect((await run('train', '--out', good, '--preset', 'test', '--steps', '2', '--backend', 'cpu')).code).toBe(0);
  });

  /** A copy of the good run folder with the checkpoint's metadata edited. */
  async function edited(name: string, change: (m: Record<string, string>) => Record<string, string>, tree: (t: Record<string, unknown>) => unknown = (t) => t): Promise<string> {
    const out = join(dir, name);
    await cp(good, out, { recursive: true });
    await rewrite(join(out, 'checkpoint.safetensors'), tree, change);
    return out;
  }
  const presetWith = (m: Record<string, string>, p: Record<string, unknown>) => ({ ...m, preset: JSON.stringify({ ...JSON.parse(m.preset!), ...p }) });

  it.each([
    ['clips 1e7', (m: Record<string, string>) => presetWith(m, { clips: 1e7 }), /preset\.clips: expected an integer in \[0, 1000000\], got 10000000/],
    ['size 4096', (m: Record<string, string>) => presetWith(m, { size: 4096 }), /preset\.size: expected an integer in \[1, 512\], got 4096/],
    ['mode bogus', (m: Record<string, string>) => ({ ...m, mode: 'bogus' }), /mode: expected one of 'rolling', 'standard', 'mse', got "bogus"/],
    ['preset null', (m: Record<string, string>) => ({ ...m, preset: 'null' }), /preset: .*got null/],
    ['preset not JSON', (m: Record<string, string>) => ({ ...m, preset: '{oops' }), /preset: not JSON/],
    ['frameShape huge', (m: Record<string, string>) => ({ ...m, frameShape: '[100000,16,1]' }), /frameShape: expected an integer in \[1, 1024\], got 100000/],
  ])('rollout refuses a checkpoint whose metadata has %s (exit 2, naming the field)', async (name, change, message) => {
    const out = await edited(`meta-${name.replace(/\W/g, '-')}`, change);
    const res = await run('rollout', '--checkpoint', out, '--out', join(out, 'r'), '--frames', '2', '--backend', 'cpu');
    expect(res.code).toBe(2);
    expect(res.err).toMatch(/the checkpoint's metadata is invalid/);
    expect(res.err).toMatch(message);
  });

  it.each(['abc', '1e9', '-5', '2.5', ''])('train --resume refuses a checkpoint whose step is %j (exit 2), never trains from it', async (step) => {
    const out = await edited(`step-${JSON.stringify(step).replace(/\W/g, '_')}`, (m) => ({ ...m, step }));
    const res = await run('train', '--out', out, '--preset', 'test', '--steps', '4', '--resume', '--backend', 'cpu');
    expect(res.code).toBe(2);
    expect(res.err).toMatch(new RegExp(`step: expected an integer ≥ 0 written in decimal digits, got ${JSON.stringify(JSON.stringify(step)).slice(1, -1)}`));
    expect((await readSafetensorsMetadata(join(out, 'checkpoint.safetensors'))).step).toBe(step);
  });

  it('a checkpoint without its EMA weights, or missing one of them, is refused by name (exit 2), not a TypeError', async () => {
    const noEma = await edited('no-ema', (m) => m, (t) => ({ params: t.params, opt: t.opt }));
    const a = await run('rollout', '--checkpoint', noEma, '--out', join(noEma, 'r'), '--frames', '2', '--backend', 'cpu');
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/holds no EMA weights/);
    const missing = await edited('missing-weight', (m) => m, (t) => {
      const ema = t.ema as { step: unknown; average: Record<string, unknown> };
      const [first] = Object.keys(ema.average);
      const { [first!]: _dropped, ...rest } = ema.average;
      return { ...t, ema: { ...ema, average: rest } };
    });
    const b = await run('rollout', '--checkpoint', missing, '--out', join(missing, 'r'), '--frames', '2', '--backend', 'cpu');
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/tensor 'ema\.average\.[\w.]+' \(float32 \[[\d,]+\]\) of the model is missing from the checkpoint/);
  });

  it('one NaN weight: rollout fails (exit 2) naming the tensor instead of writing an all-NaN rollout with exit 0', async () => {
    const out = await edited('nan-weight', (m) => m, (t) => {
      const ema = t.ema as { step: unknown; average: unknown };
      let done = false;
      const average = r.treeMap(ema.average, (x) => {
        if (done || x.dtype !== 'float32') return x;
        done = true;
        return r.tidy(() => r.add(x, r.full(x.shape, NaN)));
      });
      return { ...t, ema: { ...ema, average } };
    });
    const res = await run('rollout', '--checkpoint', out, '--out', join(out, 'r'), '--frames', '2', '--backend', 'cpu');
    expect(res.code).toBe(2);
    expect(res.err).toMatch(/1 of \d+ weight tensors hold NaN or ±Infinity \(first: 'ema\.average\.[\w.]+'\)/);
    expect(existsSync(join(out, 'r', 'rollout.npy'))).toBe(false);
  });
});

describe('resume notices a train log shorter or longer than the checkpoint', () => {
  const preset = { ...PRESETS.test!, steps: 6, checkpointEvery: 2 };
  const dataset = () => movingShapesDataset({ clips: 4, frames: preset.clipLength, size: preset.size, seed: 0 });
  const free = (s: { params: unknown; opt: unknown; ema: unknown }) => r.dispose([s.params, s.opt, s.ema]);
  let want: number[] = [];
  beforeAll(async () => {
    const straight = await train({ preset, dataset: dataset(), out: join(dir, 'log-straight'), seed: 0, mode: 'rolling', steps: 6 });
    free(straight.state);
    want = straight.log.losses;
  });

  /** Trains to step 4 of 6 into `out`, then puts the log of step 2 beside the checkpoint of step 4, as a kill between the two renames would. */
  async function killedBetweenRenames(out: string): Promise<void> {
    free((await train({ preset, dataset: dataset(), out, seed: 0, mode: 'rolling', steps: 6, stopAt: 4 })).state);
    await writeFile(join(out, 'train-log.json'), JSON.stringify({ losses: want.slice(0, 2), seconds: 1 }));
  }

  it('the checkpoint carries its own log (one rename commits both): resume continues the losses bit for bit', async () => {
    const out = join(dir, 'log-carried');
    await killedBetweenRenames(out);
    free((await train({ preset, dataset: dataset(), out, seed: 0, mode: 'rolling', steps: 6, resume: true })).state);
    const got = JSON.parse(await readFile(join(out, 'train-log.json'), 'utf8')) as { losses: number[] };
    expect(got.losses).toEqual(want);
  });

  it('a checkpoint without its own log (older format) beside a log of step 2: the missing losses are NaN (null in the JSON) and later ones keep their steps', async () => {
    const out = join(dir, 'log-short');
    await killedBetweenRenames(out);
    await rewrite(join(out, 'checkpoint.safetensors'), (t) => t, ({ log: _log, ...m }) => m);
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      free((await train({ preset, dataset: dataset(), out, seed: 0, mode: 'rolling', steps: 6, resume: true })).state);
      expect(write.mock.calls.map(([m]) => String(m)).join('')).toMatch(/holds 2 losses but the checkpoint is at step 4 .*recorded as NaN/);
    } finally {
      write.mockRestore();
    }
    const got = JSON.parse(await readFile(join(out, 'train-log.json'), 'utf8')) as { losses: (number | null)[] };
    expect(got.losses.length).toBe(6);
    expect(got.losses.slice(0, 2)).toEqual(want.slice(0, 2));
    expect(got.losses.slice(2, 4)).toEqual([null, null]);
    expect(got.losses.slice(4)).toEqual(want.slice(4));
  });

  it('a checkpoint without its own log (older format) beside a log of 6 losses at step 4 (a checkpoint put back): a warning names both counts, and losses 5–6 are trained again', async () => {
    const out = join(dir, 'log-long');
    await killedBetweenRenames(out);
    await rewrite(join(out, 'checkpoint.safetensors'), (t) => t, ({ log: _log, ...m }) => m);
    await writeFile(join(out, 'train-log.json'), JSON.stringify({ losses: [...want.slice(0, 4), 100, 200], seconds: 1 }));
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      free((await train({ preset, dataset: dataset(), out, seed: 0, mode: 'rolling', steps: 6, resume: true })).state);
      expect(write.mock.calls.map(([m]) => String(m)).join('')).toMatch(/train-log\.json holds 6 losses but the checkpoint is at step 4 \(an older checkpoint put back, or a log of another run\); losses 5–6 are dropped, and each step trained from here records its own\. .* delete .*train-log\.json to record them as unknown/);
    } finally {
      write.mockRestore();
    }
    const got = JSON.parse(await readFile(join(out, 'train-log.json'), 'utf8')) as { losses: number[] };
    expect(got.losses).toEqual(want);
  });

  it("a checkpoint whose own log is not one of its step's losses is refused (exit 2 on the command line)", async () => {
    const out = join(dir, 'log-bad');
    await killedBetweenRenames(out);
    await rewrite(join(out, 'checkpoint.safetensors'), (t) => t, (m) => ({ ...m, log: JSON.stringify({ losses: [1, 2, 3], seconds: 0 }) }));
    // The outcome as a string: a resolved run is a tree of tensors too large to print.
    const outcome = await train({ preset, dataset: dataset(), out, seed: 0, mode: 'rolling', steps: 6, resume: true }).then((x) => (free(x.state), 'trained'), (e: Error) => e.message);
    expect(outcome).toMatch(/the training log in its metadata is not one of 4 losses/);
  });
});

describe('a rollout that comes out non-finite fails', () => {
  it('finite but huge weights (training diverged): rollout exits non-zero naming the likely cause, and writes no rollout', async () => {
    const good = join(dir, 'huge-source');
    expect((await run('train', '--out', good, '--preset', 'test', '--steps', '2', '--backend', 'cpu')).code).toBe(0);
    const path = join(good, 'checkpoint.safetensors');
    await rewrite(path, (t) => {
      const ema = t.ema as { step: unknown; average: unknown };
      return { ...t, ema: { ...ema, average: r.treeMap(ema.average, (x) => (x.dtype === 'float32' ? r.tidy(() => r.add(r.mul(x, 1e30), 1e30)) : x)) } };
    });
    const res = await run('rollout', '--checkpoint', good, '--out', join(good, 'r'), '--frames', '2', '--backend', 'cpu');
    expect(res.code).toBe(1);
    expect(res.err).toMatch(/generated values are NaN or ±Infinity.*nothing was written.*an op overflowed while sampling.*--debug-nans/);
    expect(existsSync(join(good, 'r', 'rollout.npy'))).toBe(false);
  });
});

describe('one run owns its --out', () => {
  const preset = { ...PRESETS.test!, steps: 2, checkpointEvery: 2 };
  const dataset = () => movingShapesDataset({ clips: 4, frames: preset.clipLength, size: preset.size, seed: 0 });
  const free = (s: { params: unknown; opt: unknown; ema: unknown }) => r.dispose([s.params, s.opt, s.ema]);

  it('two trainers started together into one folder: one trains, the other is refused naming the owner; the lock goes with the run', async () => {
    const out = join(dir, 'two');
    const results = await Promise.allSettled([0, 1].map(() => train({ preset, dataset: dataset(), out, seed: 0, mode: 'rolling', steps: 2 })));
    const refused = results.filter((x) => x.status === 'rejected');
    expect(refused.length).toBe(1);
    expect(String((refused[0] as PromiseRejectedResult).reason)).toMatch(new RegExp(`another run \\(pid ${process.pid}, started .*\\) is training into this folder`));
    for (const x of results) if (x.status === 'fulfilled') free(x.value.state);
    expect(existsSync(join(out, '.lock'))).toBe(false);
  });

  it('a lock held by a live process is refused on the command line (exit 2); a stale one (its process gone) is taken over', async () => {
    const out = join(dir, 'locked');
    await mkdir(out, { recursive: true });
    const sleeper = spawn('sleep', ['30']);
    try {
      await writeFile(join(out, '.lock'), JSON.stringify({ pid: sleeper.pid, host: hostname(), started: '2026-12-06T00:00:00Z' }));
      const res = await run('train', '--out', out, '--preset', 'test', '--steps', '2', '--backend', 'cpu');
      expect(res.code).toBe(2);
      expect(res.err).toMatch(new RegExp(`--out .*locked: another run \\(pid ${sleeper.pid}, started 2026-12-06T00:00:00Z\\) is training into this folder; wait for it to finish, or pass another --out`));
      expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(false);
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((resolve) => sleeper.once('exit', resolve));
    }
    // Its owner is gone now: the lock is stale.
    free((await train({ preset, dataset: dataset(), out, seed: 0, mode: 'rolling', steps: 2 })).state);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(true);
    expect(existsSync(join(out, '.lock'))).toBe(false);
  });

  it("temporary files a killed write left are deleted when the next run takes the folder; other files are not", async () => {
    const out = join(dir, 'temps');
    await mkdir(out, { recursive: true });
    const left = ['.checkpoint.safetensors.4242.0a1b2c3d4e5f.tmp', '.train-log.json.4242.0a1b2c3d4e5f.tmp'];
    for (const n of [...left, '.notes.txt.4242.0a1b2c3d4e5f.tmp', 'keep.txt']) await writeFile(join(out, n), 'x');
    free((await train({ preset, dataset: dataset(), out, seed: 0, mode: 'rolling', steps: 2 })).state);
    const names = await readdir(out);
    for (const n of left) expect(names).not.toContain(n);
    expect(names).toEqual(expect.arrayContaining(['.notes.txt.4242.0a1b2c3d4e5f.tmp', 'keep.txt', 'checkpoint.safetensors', 'train-log.json']));
  });
});

describe('a bad --data folder is an input error (exit 2) naming the file', () => {
  const clip = (frames: number) => bairExampleFromClip({ aux1: new Uint8Array(frames * BAIR_FRAME_BYTES), actions: new Float32Array(frames * 4) });
  const first = 'traj_0_to_1.tfrecords';
  const folders: Record<string, { make: (d: string) => Promise<void>; says: RegExp }> = {
    'a traj_*.tfrecords that is a folder': { make: (d) => mkdir(join(d, first)), says: /traj_0_to_1\.tfrecords: is a folder, where a TFRecord file was expected; move it out of the way, or rename it/ },
    'a truncated record': { make: (d) => writeFile(join(d, first), encodeTFRecord(clip(30)).subarray(0, 100)), says: /traj_0_to_1\.tfrecords: truncated data in record 0 at byte offset 0/ },
    'a flipped byte': { make: async (d) => { const b = encodeTFRecord(clip(30)); b[500]! ^= 1; await writeFile(join(d, first), b); }, says: /traj_0_to_1\.tfrecords: data CRC mismatch in record 0 at byte offset 0/ },
    'frames that are not 64×64×3': { make: (d) => writeFile(join(d, first), encodeTFRecord(encodeExample(new Map<string, Feature>([['0/image_aux1/encoded', { kind: 'bytes', value: [new Uint8Array(100)] }]])))), says: /traj_0_to_1\.tfrecords: record 0 at byte offset 0: '0\/image_aux1\/encoded' has 100 bytes; expected 12288/ },
    'clips of two lengths': { make: async (d) => { await writeFile(join(d, first), encodeTFRecord(clip(30))); await writeFile(join(d, 'traj_2_to_3.tfrecords'), encodeTFRecord(clip(20))); }, says: /traj_2_to_3\.tfrecords: record 0 has 20 frames, but earlier videos have 30/ },
    'a dangling link': { make: (d) => symlink(join(d, 'gone'), join(d, first)), says: /traj_0_to_1\.tfrecords: no such file or folder \(ENOENT/ },
    'a kolmogorov shard that is a folder': { make: (d) => mkdir(join(d, 'kolmogorov-0000.npy')), says: /kolmogorov-0000\.npy: is a folder, where a file was expected \(EISDIR/ },
    'a kolmogorov shard of int64 values': { make: (d) => writeNpy(join(d, 'kolmogorov-0000.npy'), { shape: [1, 2, 2, 2, 2], data: new BigInt64Array(16) }), says: /kolmogorov-0000\.npy holds '<i8' values, expected floats/ },
    'kolmogorov shards of two clip shapes': {
      make: async (d) => {
        await writeNpy(join(d, 'kolmogorov-0000.npy'), { shape: [1, 12, 4, 4, 2], data: new Float32Array(384) });
        await writeNpy(join(d, 'kolmogorov-0001.npy'), { shape: [1, 12, 8, 8, 2], data: new Float32Array(1536) });
      },
      says: /kolmogorov-0001\.npy holds clips of shape \[12,8,8,2\], but kolmogorov-0000\.npy holds \[12,4,4,2\]; every shard of a folder must hold clips of one shape/,
    },
  };
  it('rollout and eval of a BAIR checkpoint with a --data folder holding a damaged record: exit 2 naming the file and the record', async () => {
    const good = join(dir, 'bair-good');
    await mkdir(good, { recursive: true });
    await writeFile(join(good, first), encodeTFRecord(clip(12)));
    const run1 = join(dir, 'bair-run');
    const trained = await run('train', '--out', run1, '--preset', 'test', '--data', good, '--steps', '1', '--backend', 'cpu');
    expect(trained.code, trained.err).toBe(0);
    const bad = join(dir, 'bair-bad');
    await mkdir(bad, { recursive: true });
    const bytes = encodeTFRecord(clip(12));
    bytes[500]! ^= 1;
    await writeFile(join(bad, first), bytes);
    const ro = await run('rollout', '--checkpoint', run1, '--out', join(dir, 'bair-ro'), '--frames', '1', '--data', bad);
    expect(ro.code).toBe(2);
    expect(ro.err).toMatch(/^--data .*bair-bad: .*bair-bad.traj_0_to_1\.tfrecords: data CRC mismatch in record 0 at byte offset 0$/);
    const standard = join(dir, 'bair-run-standard');
    expect((await run('train', '--out', standard, '--preset', 'test', '--data', good, '--steps', '1', '--backend', 'cpu', '--mode', 'standard')).code).toBe(0);
    const ev = await run('eval', '--rolling', run1, '--standard', standard, '--out', join(dir, 'bair-ev'), '--clips', '1', '--frames', '1', '--data', bad);
    expect(ev.code).toBe(2);
    expect(ev.err).toMatch(/bair-bad.traj_0_to_1\.tfrecords: data CRC mismatch in record 0/);
  });

  for (const [what, { make, says }] of Object.entries(folders)) {
    it(`${what}: exit 2, the file named, no stack`, async () => {
      const data = join(dir, `bad-data-${what.replace(/\W+/g, '-')}`);
      await mkdir(data, { recursive: true });
      await make(data);
      const res = await run('train', '--preset', 'bair', '--data', data, '--out', join(data, 'run'), '--steps', '1');
      expect(res.code).toBe(2);
      expect(res.err).toMatch(says);
      expect(res.err).not.toMatch(/unknown path|\n\s+at /);
    });
  }
});
