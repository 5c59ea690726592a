/**
 * Issue 16, item 3: every setting of Algorithm 1 and of sampling is on the command line and in the
 * checkpoint (window, clean frames, Bernoulli rate, boundary map Eq. 23 / Eq. 37, noise schedule),
 * sampling uses the checkpoint's, a flag that contradicts it is an error naming both values, and a
 * checkpoint written before the settings existed loads with the defaults it was trained with.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import { runCli } from './runCli.js';
import { cosineSchedule } from '../../diffusion/index.js';
import { decodeCheckpointMetadata } from '../../experiments/checkpointMetadata.js';
import { generate } from '../../experiments/generate.js';
import { buildModel, type DenoiserNetwork } from '../../experiments/model.js';
import { noiseSchedule, PRESETS, SETTING_DEFAULTS, withSettingDefaults, type Preset } from '../../experiments/presets.js';
import { lossFor, readCheckpointMetadata } from '../../experiments/trainer.js';
import { loadSafetensors, readSafetensorsMetadata, saveSafetensors } from '../../nn/index.js';

let dir = '';
const run = (...argv: string[]) => runCli(argv);
const SETTINGS = ['--window', '6', '--clean-frames', '2', '--linear-probability', '0.5', '--init-schedule', 'rescaled', '--logsnr-min=-10', '--logsnr-max', '12', '--logsnr-shift', '1'];
let trained = '';
let plain = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rolling-settings-'));
  trained = join(dir, 'trained');
  plain = join(dir, 'plain');
  const a = await run('train', '--out', trained, '--preset', 'test', '--steps', '1', '--backend', 'cpu', ...SETTINGS);
  expect(a.code, a.err).toBe(0);
  const b = await run('train', '--out', plain, '--preset', 'test', '--steps', '1', '--backend', 'cpu');
  expect(b.code, b.err).toBe(0);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const presetOf = async (run: string) => JSON.parse((await readCheckpointMetadata(join(run, 'checkpoint.safetensors'))).preset!) as Record<string, unknown>;

/** Rewrites a checkpoint's metadata (its tensors as they are). */
async function rewriteMetadata(path: string, change: (m: Record<string, string>) => Record<string, string>): Promise<void> {
  const loaded = await loadSafetensors(path);
  await saveSafetensors(path, loaded.tree, change(loaded.metadata));
  r.dispose(loaded.tree);
}

/** The checkpoint of `from` as one written before the settings existed: its preset JSON without them. */
async function asOldCheckpoint(from: string, name: string): Promise<string> {
  const out = join(dir, name);
  await cp(from, out, { recursive: true });
  await rewriteMetadata(join(out, 'checkpoint.safetensors'), (m) => {
    const { initSchedule: _i, logSnrMin: _a, logSnrMax: _b, logSnrShift: _s, ...old } = JSON.parse(m.preset!) as Record<string, unknown>;
    return { ...m, preset: JSON.stringify(old) };
  });
  return out;
}

describe('train: the settings are options, stored in the checkpoint', () => {
  it('every setting given is in the checkpoint preset; the ones not given are written out with their defaults', async () => {
    expect(await presetOf(trained)).toMatchObject({ name: 'test', window: 6, cleanFrames: 2, linearProbability: 0.5, initSchedule: 'rescaled', logSnrMin: -10, logSnrMax: 12, logSnrShift: 1 });
    expect(await presetOf(plain)).toMatchObject({ window: 4, cleanFrames: 1, linearProbability: 0.8, initSchedule: 'clip', logSnrMin: -15, logSnrMax: 15, logSnrShift: 0 });
    expect((await readCheckpointMetadata(join(trained, 'checkpoint.safetensors'))).mode).toBe('rolling');
  });

  it.each([
    [['--clean-frames', '4'], /--clean-frames 4 with --window 4: the clean frames must be fewer than the window's frames/],
    [['--logsnr-min', '5', '--logsnr-max', '5'], /--logsnr-min 5 and --logsnr-max 5: the minimum must be below the maximum/],
    [['--linear-probability', '1.5'], /--linear-probability: expected a value in \[0, 1\], got 1\.5/],
    [['--init-schedule', 'eq37'], /--init-schedule: expected one of clip, rescaled, got "eq37"/],
    [['--window', '0'], /--window: expected a value in \[1, 1024\], got 0/],
    [['--window', '13'], /--window 13: longer than the 12-frame clips of the preset test; pass a window of at most 12/],
  ])('train %j is a usage error (exit 2) naming the options', async (flags, message) => {
    const res = await run('train', '--out', join(dir, 'never'), '--preset', 'test', '--steps', '1', ...flags);
    expect(res.code).toBe(2);
    expect(res.err).toMatch(message);
  });

  it('train --resume with a setting other than the checkpoint\'s is refused naming both values (exit 2)', async () => {
    const out = join(dir, 'resume-other');
    await cp(plain, out, { recursive: true });
    const res = await run('train', '--out', out, '--preset', 'test', '--steps', '2', '--resume', '--backend', 'cpu', '--init-schedule', 'rescaled');
    expect(res.code).toBe(2);
    expect(res.err).toMatch(/was trained with other settings than this run's: initSchedule "clip" against "rescaled" \(the checkpoint's value first\)/);
  });
});

describe('the settings are used: training and sampling read them from the preset', () => {
  const preset = (p: Partial<Preset>) => withSettingDefaults({ ...PRESETS.test!, ...p });
  const model = buildModel(PRESETS.test!, [16, 16, 1]);
  let params: unknown;
  beforeAll(async () => {
    // The command line runs above chose the cpu backend; the model lives there too.
    await r.setBackend('cpu');
    params = model.init(r.key(3));
  });
  afterAll(() => r.dispose(params));

  it('the loss of Algorithm 1 changes with the boundary map (all init draws) and with the noise schedule', async () => {
    const batch = r.normal(r.key(1), [2, 4, 16, 16, 1]);
    const loss = async (p: Partial<Preset>) => (await r.tidy(() => lossFor(model, preset(p), 'rolling')(params, r.key(2), batch)).item()) as number;
    const clip = await loss({ linearProbability: 0, initSchedule: 'clip' });
    expect(await loss({ linearProbability: 0, initSchedule: 'rescaled' })).not.toBe(clip);
    expect(await loss({ linearProbability: 0, initSchedule: 'clip', logSnrShift: 2 })).not.toBe(clip);
    // With every draw linear the boundary map is never used.
    expect(await loss({ linearProbability: 1, initSchedule: 'rescaled' })).toBe(await loss({ linearProbability: 1, initSchedule: 'clip' }));
    batch.dispose();
  });

  it('the noise schedule: the truncated cosine on [logSnrMin, logSnrMax], shifted by logSnrShift; unshifted defaults are cosineSchedule() itself', () => {
    const s = noiseSchedule(preset({ logSnrMin: -10, logSnrMax: 12, logSnrShift: 1 }));
    expect(s.logSnr(0)).toBeCloseTo(13, 10);
    expect(s.logSnr(1)).toBeCloseTo(-9, 10);
    expect(s.alpha(0.3) ** 2 + s.sigma(0.3) ** 2).toBeCloseTo(1, 12);
    const old = noiseSchedule(PRESETS.test!);
    const cosine = cosineSchedule();
    for (const t of [0, 0.25, 0.5, 1]) expect(old.logSnr(t)).toBe(cosine.logSnr(t));
  });

  /** The logSNR of each frame at every model call of a one-frame rollout (the boundary phase, then one step). */
  async function logSnrs(p: Partial<Preset>): Promise<number[]> {
    const calls: number[] = [];
    const spy: DenoiserNetwork = { ...model, apply: (w, z, l) => (calls.push(...l.toArraySync()), model.apply(w, z, l)) };
    const context = r.zeros([1, 1, 16, 16, 1]);
    const video = await generate({ model: spy, params, preset: preset(p), mode: 'rolling', context, frames: 1, stepsPerFrame: 1, key: r.key(0) });
    r.dispose([video, context]);
    return calls;
  }

  it('sampling (Algorithm 3) walks Eq. 23 or Eq. 37 as the preset says, with its noise schedule', async () => {
    const clip = await logSnrs({ initSchedule: 'clip' });
    const rescaled = await logSnrs({ initSchedule: 'rescaled' });
    expect(clip.length).toBeGreaterThan(0);
    expect(rescaled).not.toEqual(clip);
    const shifted = await logSnrs({ initSchedule: 'clip', logSnrShift: 2 });
    shifted.forEach((l, i) => expect(l).toBeCloseTo(clip[i]! + 2, 4));
  });
});

describe('rollout and eval use the checkpoint\'s settings; a flag that contradicts one is an error', () => {
  it('flags equal to the checkpoint\'s are accepted (exit 0)', async () => {
    const res = await run('rollout', '--checkpoint', trained, '--out', join(dir, 'ro-same'), '--frames', '1', '--backend', 'cpu', ...SETTINGS, '--mode', 'rolling');
    expect(res.code, res.err).toBe(0);
  });

  it.each([
    [['--init-schedule', 'clip'], /was trained with --init-schedule rescaled, but --init-schedule clip was given; a model samples with the settings it was trained with: drop that option, or pass the checkpoint's values/],
    [['--window', '4', '--logsnr-shift', '0'], /was trained with --window 6, --logsnr-shift 1, but --window 4, --logsnr-shift 0 was given; .*drop those options/],
    [['--mode', 'standard'], /was trained with --mode rolling, but --mode standard was given/],
    [['--linear-probability', '0.8', '--clean-frames', '2'], /was trained with --linear-probability 0\.5, but --linear-probability 0\.8 was given/],
  ])('rollout %j on a checkpoint trained otherwise: exit 2 naming both values, nothing written', async (flags, message) => {
    const out = join(dir, `ro-${flags.join('-')}`);
    const res = await run('rollout', '--checkpoint', trained, '--out', out, '--frames', '1', '--backend', 'cpu', ...flags);
    expect(res.code).toBe(2);
    expect(res.err).toMatch(message);
    await expect(readFile(join(out, 'rollout.npy'))).rejects.toThrow();
  });

  it('eval compares a rolling model trained with another Bernoulli rate and boundary map with a standard one (settings standard training ignores), and refuses two rolling checkpoints', async () => {
    const std = join(dir, 'std');
    expect((await run('train', '--out', std, '--preset', 'test', '--steps', '1', '--backend', 'cpu', '--mode', 'standard')).code).toBe(0);
    const rolling = join(dir, 'rolling-other-rate');
    expect((await run('train', '--out', rolling, '--preset', 'test', '--steps', '1', '--backend', 'cpu', '--linear-probability', '0.1', '--init-schedule', 'rescaled')).code).toBe(0);
    const ok = await run('eval', '--rolling', rolling, '--standard', std, '--out', join(dir, 'ev'), '--clips', '1', '--frames', '2', '--backend', 'cpu');
    expect(ok.code, ok.err).toBe(0);
    const shifted = await run('eval', '--rolling', trained, '--standard', std, '--out', join(dir, 'ev-bad'), '--clips', '1', '--frames', '2');
    expect(shifted.code).toBe(2);
    expect(shifted.err).toMatch(/not comparable: preset window 6 against 4, cleanFrames 2 against 1, logSnrMin -10 against -15, logSnrMax 12 against 15, logSnrShift 1 against 0/);
    const twoRolling = await run('eval', '--rolling', rolling, '--standard', plain, '--out', join(dir, 'ev-bad'), '--clips', '1', '--frames', '2');
    expect(twoRolling.code).toBe(2);
    expect(twoRolling.err).toMatch(/--standard .*plain.checkpoint\.safetensors was trained in rolling mode, not standard; eval compares a rolling checkpoint \(--rolling\) with a standard one \(--standard\)/);
  });
});

describe('a checkpoint written before the settings existed', () => {
  it('decodes with the defaults it was trained with', async () => {
    const old = await asOldCheckpoint(plain, 'old-decode');
    const path = join(old, 'checkpoint.safetensors');
    const raw = await readSafetensorsMetadata(path);
    expect(JSON.parse(raw.preset!)).not.toHaveProperty('initSchedule');
    expect(decodeCheckpointMetadata(raw, path).preset).toMatchObject(SETTING_DEFAULTS);
  });

  it('rolls out exactly as the same checkpoint with the defaults written out, and contradicting flags name the defaults', async () => {
    const old = await asOldCheckpoint(plain, 'old-rollout');
    const a = await run('rollout', '--checkpoint', old, '--out', join(dir, 'ro-old'), '--frames', '2', '--backend', 'cpu');
    expect(a.code, a.err).toBe(0);
    const b = await run('rollout', '--checkpoint', plain, '--out', join(dir, 'ro-new'), '--frames', '2', '--backend', 'cpu');
    expect(b.code, b.err).toBe(0);
    expect(await readFile(join(dir, 'ro-old', 'rollout.npy'))).toEqual(await readFile(join(dir, 'ro-new', 'rollout.npy')));
    const c = await run('rollout', '--checkpoint', old, '--out', join(dir, 'ro-old-bad'), '--frames', '2', '--init-schedule', 'rescaled', '--logsnr-max', '20');
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/was trained with --init-schedule clip, --logsnr-max 15, but --init-schedule rescaled, --logsnr-max 20 was given/);
  });

  it('resumes (its defaults equal the preset\'s), and the checkpoint it writes has them written out', async () => {
    const old = await asOldCheckpoint(plain, 'old-resume');
    const res = await run('train', '--out', old, '--preset', 'test', '--steps', '2', '--resume', '--backend', 'cpu');
    expect(res.code, res.err).toBe(0);
    expect(await presetOf(old)).toMatchObject(SETTING_DEFAULTS);
    expect((await readCheckpointMetadata(join(old, 'checkpoint.safetensors'))).step).toBe('2');
  });
});
