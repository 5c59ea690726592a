import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as r from '../../index';
import { main } from '../../experiments/cli';
import { movingShapesDataset } from '../../experiments/datasets';
import { PRESETS } from '../../experiments/presets';
import { train } from '../../experiments/trainer';
import { loadSafetensors } from '../../nn';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rolling-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}

async function leaves(path: string): Promise<Map<string, number[]>> {
  const { tree } = await loadSafetensors(path);
  const m = new Map<string, number[]>();
  for (const [p, t] of r.treeFlatten(tree)) {
    m.set(p, Array.from(await t.toArray()));
    t.dispose();
  }
  return m;
}

describe('training resumes exactly', () => {
  it('20 steps straight equal 10 steps + resume + 10 steps, bit for bit (params, optimizer state and EMA)', async () => {
    const preset = { ...PRESETS.test!, steps: 20, checkpointEvery: 10 };
    const dataset = movingShapesDataset({ clips: preset.clips, frames: preset.clipLength, size: preset.size, seed: 0 });
    const straight = join(dir, 'straight');
    const split = join(dir, 'split');
    const a = await train({ preset, dataset, out: straight, seed: 3, mode: 'rolling', steps: 20 });
    const b1 = await train({ preset, dataset, out: split, seed: 3, mode: 'rolling', steps: 20, stopAt: 10 });
    expect(b1.log.losses).toEqual(a.log.losses.slice(0, 10));
    r.dispose([b1.state.params, b1.state.opt, b1.state.ema]);
    const b2 = await train({ preset, dataset, out: split, seed: 3, mode: 'rolling', steps: 20, resume: true });
    expect(b2.log.losses).toEqual(a.log.losses);
    const [la, lb] = await Promise.all([leaves(join(straight, 'checkpoint.safetensors')), leaves(join(split, 'checkpoint.safetensors'))]);
    expect([...lb.keys()]).toEqual([...la.keys()]);
    for (const [k, v] of la) expect(lb.get(k), k).toEqual(v);
    r.dispose([a.state.params, a.state.opt, a.state.ema, b2.state.params, b2.state.opt, b2.state.ema]);
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

describe('the rolling command line', () => {
  it('train → rollout → eval end to end on tiny settings', async () => {
    const roll = join(dir, 'roll');
    const std = join(dir, 'std');
    expect((await run('train', '--out', roll, '--preset', 'test', '--steps', '2')).code).toBe(0);
    expect((await run('train', '--out', std, '--preset', 'test', '--steps', '2', '--mode', 'standard')).code).toBe(0);
    const ro = await run('rollout', '--checkpoint', join(roll, 'checkpoint.safetensors'), '--out', join(dir, 'ro'), '--frames', '5');
    expect(ro.code, ro.err).toBe(0);
    for (const f of ['rollout.gif', 'rollout.png', 'rollout.npy']) expect((await stat(join(dir, 'ro', f))).size).toBeGreaterThan(0);
    const gif = await readFile(join(dir, 'ro', 'rollout.gif'));
    expect(gif.subarray(0, 6).toString('latin1')).toBe('GIF89a');
    const ev = await run('eval', '--rolling', join(roll, 'checkpoint.safetensors'), '--standard', join(std, 'checkpoint.safetensors'), '--out', join(dir, 'ev'), '--clips', '2', '--frames', '3');
    expect(ev.code, ev.err).toBe(0);
    expect(ev.out).toMatch(/MSE rolling/);
    const report = JSON.parse(await readFile(join(dir, 'ev', 'eval.json'), 'utf8')) as { results: { rolling: unknown[]; standard: unknown[] } };
    expect(report.results.rolling).toHaveLength(3);
    expect(report.results.standard).toHaveLength(3);
    expect((await stat(join(dir, 'ev', 'eval.png'))).size).toBeGreaterThan(0);
  });

  it('data kolmogorov writes shards that train can read', async () => {
    const data = join(dir, 'kol');
    const d = await run('data', 'kolmogorov', '--out', data, '--clips', '2', '--frames', '12', '--size', '16');
    expect(d.code, d.err).toBe(0);
    const tr = await run('train', '--out', join(dir, 'kt'), '--preset', 'test', '--data', data, '--steps', '1');
    expect(tr.code, tr.err).toBe(0);
  });

  it('bad arguments give a message naming the problem and a non-zero exit', async () => {
    const cases: [string[], RegExp][] = [
      [['train'], /--out: required/],
      [['train', '--out', dir, '--steps', 'many'], /--steps: expected a positive integer/],
      [['train', '--out', dir, '--preset', 'huge'], /--preset: expected one of/],
      [['train', '--out', dir, '--stpes', '3'], /--stpes: unknown option/],
      [['rollout', '--checkpoint', join(dir, 'missing.safetensors'), '--out', dir], /missing\.safetensors/],
      [['data', 'mnist', '--out', dir], /only generated data set is 'kolmogorov'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [argv, message] of cases) {
      const res = await run(...argv);
      expect(res.code, argv.join(' ')).not.toBe(0);
      expect(res.err, argv.join(' ')).toMatch(message);
    }
  });
});
