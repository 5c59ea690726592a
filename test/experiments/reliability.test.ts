/**
 * Issue 19: a NaN never reaches the checkpoint, crafted files cannot exhaust memory, bad checkpoint
 * metadata is refused by name.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as r from '../../index.js';
import { main } from '../../experiments/cli.js';
import { movingShapesDataset } from '../../experiments/datasets.js';
import { PRESETS } from '../../experiments/presets.js';
import { readCheckpointMetadata, train } from '../../experiments/trainer.js';
import { loadSafetensors, saveSafetensors } from '../../nn/index.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rolling-reliability-'));
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
  it('NaN optimizer state: resume stops at the step it breaks (counted as checkpoints count), keeps the last checkpoint and advises --learning-rate', async () => {
    const out = join(dir, 'nan-opt');
    expect((await run('train', '--out', out, '--preset', 'test', '--steps', '4', '--backend', 'cpu')).code).toBe(0);
    const path = join(out, 'checkpoint.safetensors');
    await rewrite(path, (t) => ({ ...t, opt: r.treeMap(t.opt, (x) => (x.dtype === 'float32' ? r.full(x.shape, NaN) : x)) }));
    const res = await run('train', '--out', out, '--preset', 'test', '--steps', '12', '--checkpoint-every', '1', '--resume', '--backend', 'cpu');
    expect(res.code).toBe(1);
    expect(res.err).toMatch(/at step 5 the updated parameters .*hold NaN/);
    expect(res.err).toMatch(/the checkpoint of step 4 .* is kept/);
    expect(res.err).toMatch(/--learning-rate/);
    expect((await readCheckpointMetadata(path)).step).toBe('4');
    // The parameters and EMA of the kept checkpoint are the good ones (the injected NaN is in opt only).
    expect((await nonFiniteTensors(path)).filter((p) => !p.startsWith('opt.'))).toEqual([]);
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
