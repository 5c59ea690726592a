/**
 * Issue 19: crash consistency. A trainer killed with SIGKILL at random moments (mid-checkpoint
 * included) always leaves a folder that resumes to exactly what an uninterrupted run gives: the same
 * parameters, optimizer state and EMA, bit for bit, and the same losses.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as r from '../../../index.js';
import { runCli } from '../runCli.js';
import { loadSafetensors } from '../../../nn/index.js';
import { readCheckpointMetadata } from '../../../experiments/trainer.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rolling-crash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Node itself with tsx's loader: the killed process is the trainer (the tsx command would leave its node child running).
const node = (args: string[]) => [process.execPath, ['--import', 'tsx', ...args]] as const;
const cli = fileURLToPath(new URL('../../../experiments/cli/cli.ts', import.meta.url));
const ARGS = ['--preset', 'test', '--steps', '10', '--checkpoint-every', '1', '--backend', 'cpu', '--seed', '5'];

const quiet = async (argv: string[]): Promise<number> => (await runCli(argv)).code;

/**
 * Starts `rolling train` in a child process and SIGKILLs it `extraMs` after its checkpoint first
 * shows step `atStep` (or when it ends): the kill is tied to the run's progress, not to the clock, so
 * it lands mid-run on a fast machine and a slow one alike (a clock-timed kill came after the last step
 * on a quiet machine and made the test vacuous).
 */
async function trainKilled(out: string, atStep: number, extraMs: number): Promise<void> {
  const child = spawn(...node([cli, 'train', '--out', out, ...ARGS]), { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const path = join(out, 'checkpoint.safetensors');
  while (running()) {
    const step = await readCheckpointMetadata(path).then((m) => Number(m.step), () => 0);
    if (step >= atStep) {
      await sleep(extraMs);
      child.kill('SIGKILL');
      break;
    }
    await sleep(5);
  }
  await exited;
}

async function snapshot(out: string): Promise<{ tensors: Map<string, number[]>; losses: unknown }> {
  const { tree, metadata } = await loadSafetensors(join(out, 'checkpoint.safetensors'));
  const tensors = new Map<string, number[]>();
  for (const [p, t] of r.treeFlatten(tree)) {
    tensors.set(p, Array.from(await t.toArray()));
    t.dispose();
  }
  expect(metadata.step).toBe('10');
  return { tensors, losses: (JSON.parse(await readFile(join(out, 'train-log.json'), 'utf8')) as { losses: unknown }).losses };
}

describe('crash consistency', () => {
  it('SIGKILL at random moments, then --resume: every run ends bit for bit where an uninterrupted one does, losses included', async () => {
    const straight = join(dir, 'straight');
    expect(await quiet(['train', '--out', straight, ...ARGS])).toBe(0);
    const want = await snapshot(straight);
    // Kill points from a fixed seed (a bounded count, each run a few seconds): a step in 1..8 and up to
    // 40 ms past it (mid-step or mid-checkpoint).
    let seed = 19;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const killedAt: number[] = [];
    for (let k = 0; k < 4; k++) {
      const out = join(dir, `killed-${k}`);
      await trainKilled(out, 1 + Math.floor(next() * 8), Math.floor(next() * 40));
      killedAt.push(await readCheckpointMetadata(join(out, 'checkpoint.safetensors')).then((m) => Number(m.step), () => 0));
      // A second kill into the same folder, after a resume started (its lock is stale by then).
      const child = spawn(...node([cli, 'train', '--out', out, ...ARGS, '--resume']), { stdio: 'ignore' });
      await new Promise((resolve) => setTimeout(resolve, Math.floor(next() * 1500)));
      child.kill('SIGKILL');
      await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve)));
      expect(await quiet(['train', '--out', out, ...ARGS, '--resume'])).toBe(0);
      const got = await snapshot(out);
      expect(got.losses, `run ${k}`).toEqual(want.losses);
      expect([...got.tensors.keys()]).toEqual([...want.tensors.keys()]);
      for (const [p, v] of want.tensors) expect(got.tensors.get(p), `run ${k}: ${p}`).toEqual(v);
    }
    // Not vacuous: some kill came mid-run, after a checkpoint and before the last.
    expect(killedAt.some((s) => s > 0 && s < 10), `checkpoint steps at the kills: ${killedAt}`).toBe(true);
  }, 120_000);
});
