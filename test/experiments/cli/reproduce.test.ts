/**
 * Issue 16, item 4: `rolling reproduce kolmogorov` end to end at the tiny scale: every row of
 * Table 8 trained with 2 seeds, scored on held-out trajectories, the table (Table 8's layout), the
 * JSON and Figure 4 written; run again it skips what is finished (counted), and bad input exits 2.
 */
import { mkdtemp, readdir, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_GENERATED_ELEMENTS } from '../../../experiments/checkpointMetadata.js';
import { cacheSpecProblems } from '../../../experiments/data/kolmogorovCache.js';
import { kolmogorovShards } from '../../../experiments/data/datasets.js';
import { readCheckpointMetadata, train } from '../../../experiments/trainer.js';
import { formatTable8, reproduceKolmogorov, REPRODUCE_SCALES, rowLabel, rowPreset, TABLE_8_ROWS } from '../../../experiments/cli/reproduce.js';
import { runCli } from '../runCli.js';

let dir = '';
let out = '';
let first = { code: -1, out: '', err: '' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rolling-reproduce-'));
  out = join(dir, 'tiny');
  first = await runCli(['reproduce', 'kolmogorov', '--out', out, '--scale', 'tiny', '--backend', 'cpu'], { progress: true });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('rolling reproduce kolmogorov', () => {
  it('trains every row of Table 8 with 2 seeds and writes the table, the JSON and Figure 4', async () => {
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/trained 16 run\(s\), evaluated 16, skipped 0 finished/);
    // Progress: each run announced, training steps and rollout frames counted.
    expect(first.err).toMatch(/\[1\/16\] MSE \(2-2\) seed 0: training 2 steps/);
    expect(first.err).toMatch(/\[16\/16\] Rolling Diffusion \(2-8\) seed 1: training 2 steps/);
    expect(first.err).toMatch(/rollout Standard Diffusion \(2-4\) seed 1 4\/4/);
    const table = await readFile(join(out, 'table.md'), 'utf8');
    expect(table).toMatch(/\| Method \| 1 \| 2 \| 4 \|/);
    for (const row of TABLE_8_ROWS) expect(table).toContain(`| ${rowLabel(row)} |`);
    expect(table).toMatch(/velocity \/ 7: multiply by 49 for physical units/);
    expect(table).toMatch(/mean ± sample sd over 2 seeds/);
    const json = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { steps: number[]; rows: { label: string; seeds: number; perStep: { step: number; fsd: { mean: number; sd: number }; mse: { mean: number } }[] }[]; runs: unknown[]; note: string; cost: { trainSeconds: number } };
    expect(json.steps).toEqual([1, 2, 4]);
    expect(json.rows.map((r) => r.label)).toEqual(TABLE_8_ROWS.map(rowLabel));
    expect(json.runs.length).toBe(16);
    for (const row of json.rows) {
      expect(row.seeds).toBe(2);
      for (const s of row.perStep) {
        expect(Number.isFinite(s.fsd.mean) && s.fsd.mean >= 0).toBe(true);
        expect(Number.isFinite(s.mse.mean) && s.mse.mean > 0).toBe(true);
      }
    }
    expect(json.note).toMatch(/horizontal velocity/);
    expect(json.cost.trainSeconds).toBeGreaterThan(0);
    const png = await readFile(join(out, 'figure4.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect((await readdir(join(out, 'data', 'held-out'))).length).toBeGreaterThan(0);
  });

  it('resumes: finished runs are skipped, a run with a complete checkpoint is only scored, a lost run is trained again', async () => {
    const again = await runCli(['reproduce', 'kolmogorov', '--out', out, '--scale', 'tiny', '--backend', 'cpu']);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/trained 0 run\(s\), evaluated 0, skipped 16 finished/);
    await unlink(join(out, 'runs', 'rolling-2-4-seed1', 'result.json'));
    await rm(join(out, 'runs', 'mse-2-2-seed0'), { recursive: true });
    const resumed = await runCli(['reproduce', 'kolmogorov', '--out', out, '--scale', 'tiny', '--backend', 'cpu'], { progress: true });
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/trained 1 run\(s\), evaluated 2, skipped 14 finished/);
    expect(resumed.err).toMatch(/Rolling Diffusion \(2-4\) seed 1: checkpoint complete, evaluating/);
    // Its training cost is the checkpoint's logged training time, not the 0 s of this call's.
    const scored = JSON.parse(await readFile(join(out, 'runs', 'rolling-2-4-seed1', 'result.json'), 'utf8')) as { trainSeconds: number };
    const ck = JSON.parse(await readFile(join(out, 'runs', 'rolling-2-4-seed1', 'train-log.json'), 'utf8')) as { seconds: number };
    expect(ck.seconds).toBeGreaterThan(0);
    expect(scored.trainSeconds).toBe(ck.seconds);
    // The data cache is read, not simulated again.
    expect(resumed.err).not.toMatch(/data \(Kolmogorov[^\n]* 1\/5/);
  });

  it('a run stopped mid-training continues from its checkpoint', async () => {
    const row = TABLE_8_ROWS[5]!;
    const scale = REPRODUCE_SCALES.tiny;
    const other = join(dir, 'stopped');
    const runDir = join(other, 'runs', 'rolling-2-2-seed0');
    const dataset = await kolmogorovShards(join(out, 'data'));
    await train({ preset: rowPreset(scale, row), dataset, out: runDir, seed: 0, mode: 'rolling', steps: scale.training.steps, stopAt: 1 });
    expect((await readCheckpointMetadata(join(runDir, 'checkpoint.safetensors'))).step).toBe('1');
    const lines: string[] = [];
    const r = await reproduceKolmogorov({ out: other, scale, seeds: 1, rows: [row], data: join(out, 'data'), log: (l) => lines.push(l) });
    expect(r).toMatchObject({ trained: 1, evaluated: 1, skipped: 0 });
    expect(lines.join('\n')).toMatch(/Rolling Diffusion \(2-2\) seed 0: training 2 steps from step 1/);
    expect((await readCheckpointMetadata(join(runDir, 'checkpoint.safetensors'))).step).toBe('2');
  });

  it('bad input exits 2 with what to do', async () => {
    const cases: [string[], RegExp][] = [
      [['reproduce', 'shapes', '--out', join(dir, 'x')], /the only experiment is 'kolmogorov'.*run `rolling reproduce kolmogorov --out DIR`/],
      [['reproduce', '--out', join(dir, 'x')], /the only experiment is 'kolmogorov' \(Table 8 and Figure 4\); got nothing/],
      [['reproduce', 'kolmogorov', '--out', join(dir, 'x'), '--scale', 'huge'], /--scale: expected one of tiny, small, paper, got "huge"/],
      [['reproduce', 'kolmogorov', '--out', join(dir, 'x'), '--seeds', '0'], /--seeds: expected a value in \[1, 20\], got 0/],
      [['reproduce', 'kolmogorov'], /--out: required/],
      // Another scale in a folder of the tiny one is refused before anything is simulated.
      [['reproduce', 'kolmogorov', '--out', out, '--scale', 'small'], /holds a reproduction at scale 'tiny'; pass --scale tiny to resume it, or another --out/],
    ];
    for (const [argv, message] of cases) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toMatch(message);
    }
  });

  it('the help says how to fill the small scale\'s cache with rolling data, and that cache is the one reproduce asks for', async () => {
    const help = await runCli(['reproduce', '--help']);
    expect(help.code).toBe(0);
    const line = /--scale small: rolling data (kolmogorov .*)/.exec(help.out)?.[1];
    expect(line).toBeDefined();
    // The tiny scale's sizes with the small scale's command line shape: the manifests must agree.
    const tiny = REPRODUCE_SCALES.tiny.data;
    const cache = join(dir, 'prefilled');
    const args = ['data', 'kolmogorov', '--out', cache, '--clips', '1', '--shards', String(tiny.trajectories), '--frames', String(tiny.frames), '--size', String(tiny.size), '--simulation-size', String(tiny.simulationSize), '--warmup', String(tiny.warmup), '--frame-interval', String(tiny.frameInterval), '--held-out', String(tiny.heldOut)];
    expect(line!.split(' ').filter((w) => w.startsWith('--')).sort()).toEqual(args.filter((w) => w.startsWith('--')).sort());
    expect((await runCli(args)).code).toBe(0);
    const manifest = JSON.parse(await readFile(join(cache, 'kolmogorov-cache.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({ ...tiny, perShard: 1, seed: 0 });
  });

  it('the table shows mean ± sample sd over seeds, in Table 8\'s layout', () => {
    const aggregate = { label: 'MSE (2-2)', mode: 'mse' as const, seeds: 2, fsd: [{ mean: 1.5, sd: 0.25 }], mse: [{ mean: 0.02, sd: 0.001 }] };
    const table = formatTable8([aggregate], [1], { scale: 'tiny', clips: 4 });
    expect(table).toContain('| Method | 1 |');
    expect(table).toContain('| MSE (2-2) | 1.50 ± 0.250 / 0.0200 ± 0.00100 |');
  });

  it('every row trains with 2 clean frames and W − 2 generated ones; the settings at each scale are valid presets', () => {
    for (const scale of Object.values(REPRODUCE_SCALES)) {
      for (const row of TABLE_8_ROWS) {
        const p = rowPreset(scale, row);
        expect(p.cleanFrames).toBe(2);
        expect(p.window - p.cleanFrames).toBe(row.generated);
        expect(p.window).toBeLessThanOrEqual(scale.data.frames);
      }
      // A checkpoint whose preset sizes a larger data set than this is refused when loaded.
      expect(scale.data.trajectories * scale.data.frames * scale.data.size ** 2).toBeLessThanOrEqual(MAX_GENERATED_ELEMENTS);
      expect(cacheSpecProblems({ ...scale.data, seed: 0 })).toEqual([]);
      expect(scale.data.heldOut * scale.startsPerTrajectory).toBeGreaterThanOrEqual(2);
      expect(scale.data.frames).toBeGreaterThanOrEqual(2 + scale.rolloutFrames);
    }
  });
});
