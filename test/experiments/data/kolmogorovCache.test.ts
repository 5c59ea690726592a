/**
 * Issue 16, item 1: Kolmogorov trajectories like the paper's data, scaled down, cached on disk:
 * deterministic, resumable shard by shard, written atomically, the held-out split disjoint from the
 * training one, and a folder of other settings refused by name.
 */
import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kolmogorovShards } from '../../../experiments/data/datasets.js';
import { buildKolmogorovCache, CACHE_MANIFEST, CacheError, cacheSpecProblems, HELD_OUT_FOLDER, MAX_TRAJECTORIES, trajectorySeed, type KolmogorovCacheSpec } from '../../../experiments/data/kolmogorovCache.js';
import { simulateKolmogorov } from '../../../experiments/data/kolmogorov.js';
import { readNpy } from '../../../experiments/formats/npy.js';
import { runCli } from '../runCli.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rolling-kcache-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** 3 + 2 trajectories of 4 frames, 8² stored from 16², after one frame interval of warm-up: well under a second. */
const SPEC: KolmogorovCacheSpec = { size: 8, simulationSize: 16, frames: 4, warmup: 1.5, frameInterval: 1.5, trajectories: 3, heldOut: 2, perShard: 2, seed: 3 };

const bytes = async (path: string) => readFile(path);

describe('Kolmogorov cache', () => {
  it('writes training shards, held-out shards and a manifest; each trajectory is the solver run of its seed, warmed up and truncated', async () => {
    const a = join(dir, 'a');
    const seen: number[] = [];
    const r = await buildKolmogorovCache(a, SPEC, { onTrajectory: (done, total) => seen.push(done * 100 + total) });
    expect(r).toMatchObject({ simulated: 5, cached: 0 });
    expect(seen).toEqual([105, 205, 305, 405, 505]);
    expect((await readdir(a)).sort()).toEqual([HELD_OUT_FOLDER, 'kolmogorov-0000.npy', 'kolmogorov-0001.npy', CACHE_MANIFEST]);
    expect((await readNpy(join(a, 'kolmogorov-0000.npy'))).shape).toEqual([2, 4, 8, 8, 2]);
    expect((await readNpy(join(a, 'kolmogorov-0001.npy'))).shape).toEqual([1, 4, 8, 8, 2]);
    expect((await readNpy(join(a, HELD_OUT_FOLDER, 'kolmogorov-0000.npy'))).shape).toEqual([2, 4, 8, 8, 2]);
    const third = simulateKolmogorov({ frames: 4, size: 8, simulationSize: 16, warmup: 1.5, frameInterval: 1.5, seed: trajectorySeed(3, 'train', 2) });
    expect(Array.from((await readNpy(join(a, 'kolmogorov-0001.npy'))).data as Float32Array)).toEqual(Array.from(third.frames));
    // The training set reads as one data set of long trajectories, scaled by 1/7.
    const d = await kolmogorovShards(a);
    expect(d.clips.length).toBe(3);
    expect(d.clipLength).toBe(4);
    // No temporary file is left behind.
    expect((await readdir(a)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('is deterministic: two caches of one spec are byte for byte equal', async () => {
    const b = join(dir, 'b');
    await buildKolmogorovCache(b, SPEC);
    for (const name of ['kolmogorov-0000.npy', 'kolmogorov-0001.npy', join(HELD_OUT_FOLDER, 'kolmogorov-0000.npy')]) {
      expect((await bytes(join(dir, 'a', name))).equals(await bytes(join(b, name))), name).toBe(true);
    }
  });

  it('resumes: a complete cache simulates nothing, and a lost shard is simulated again, alone and identically', async () => {
    const c = join(dir, 'c');
    await buildKolmogorovCache(c, SPEC);
    expect(await buildKolmogorovCache(c, SPEC)).toMatchObject({ simulated: 0, cached: 5 });
    await unlink(join(c, 'kolmogorov-0001.npy'));
    // A shard cut short (as by a crash of a non-atomic writer) counts as missing too.
    const held = join(c, HELD_OUT_FOLDER, 'kolmogorov-0000.npy');
    await writeFile(held, (await bytes(held)).subarray(0, 100));
    const dones: number[] = [];
    expect(await buildKolmogorovCache(c, SPEC, { onTrajectory: (done) => dones.push(done) })).toMatchObject({ simulated: 3, cached: 2 });
    expect(dones).toEqual([2, 3, 4, 5]);
    expect((await bytes(join(c, 'kolmogorov-0001.npy'))).equals(await bytes(join(dir, 'a', 'kolmogorov-0001.npy')))).toBe(true);
    expect((await bytes(held)).equals(await bytes(join(dir, 'a', HELD_OUT_FOLDER, 'kolmogorov-0000.npy')))).toBe(true);
  });

  it('two parts fill one cache: each simulates its own shards, and together they equal the cache built at once', async () => {
    const p = join(dir, 'parts');
    // Shards in order: train 0 (2 trajectories), train 1 (1), held-out 0 (2); part 1/2 takes the 1st and 3rd.
    expect(await buildKolmogorovCache(p, SPEC, { part: { index: 1, count: 2 } })).toMatchObject({ simulated: 4, cached: 0 });
    expect((await readdir(p)).filter((n) => n.endsWith('.npy'))).toEqual(['kolmogorov-0000.npy']);
    expect(await buildKolmogorovCache(p, SPEC, { part: { index: 2, count: 2 } })).toMatchObject({ simulated: 1, cached: 0 });
    expect(await buildKolmogorovCache(p, SPEC)).toMatchObject({ simulated: 0, cached: 5 });
    for (const name of ['kolmogorov-0000.npy', 'kolmogorov-0001.npy', join(HELD_OUT_FOLDER, 'kolmogorov-0000.npy')]) {
      expect((await bytes(join(p, name))).equals(await bytes(join(dir, 'a', name))), name).toBe(true);
    }
    await expect(buildKolmogorovCache(p, SPEC, { part: { index: 3, count: 2 } })).rejects.toThrow(/part 3\/2 must be K\/N with 1 ≤ K ≤ N/);
    const bad = await runCli(['data', 'kolmogorov', '--out', join(dir, 'badpart'), '--part', '0/2']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--part: expected K\/N with 1 ≤ K ≤ N \(e\.g\. 1\/2 and 2\/2 in two shells\), got "0\/2"/);
  });

  it('held-out trajectories are never training trajectories: disjoint seeds for every index, different flows', async () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: MAX_TRAJECTORIES - 1 }), fc.integer({ min: 0, max: MAX_TRAJECTORIES - 1 }), (seed, i, j) => trajectorySeed(seed, 'train', i) !== trajectorySeed(seed, 'held-out', j)),
    );
    const train = await kolmogorovShards(join(dir, 'a'));
    const held = await kolmogorovShards(join(dir, 'a', HELD_OUT_FOLDER));
    for (const h of held.clips) for (const t of train.clips) expect(Array.from(h.subarray(0, 16))).not.toEqual(Array.from(t.subarray(0, 16)));
  });

  it('refuses a folder cached with other settings, naming each, and shards without a manifest', async () => {
    await expect(buildKolmogorovCache(join(dir, 'a'), { ...SPEC, warmup: 30, frames: 5 })).rejects.toThrow(/caches Kolmogorov data of other settings: frames 4 \(cached\) against 5, warmup 1\.5 \(cached\) against 30; pass another folder, or delete .* to simulate it anew/);
    const bare = join(dir, 'bare');
    await buildKolmogorovCache(bare, SPEC);
    await unlink(join(bare, CACHE_MANIFEST));
    await expect(buildKolmogorovCache(bare, SPEC)).rejects.toThrow(CacheError);
    await expect(buildKolmogorovCache(bare, SPEC)).rejects.toThrow(/holds 2 Kolmogorov shard\(s\) but no kolmogorov-cache\.json/);
  });

  it('names every bad setting of a spec', () => {
    expect(cacheSpecProblems(SPEC)).toEqual([]);
    const problems = cacheSpecProblems({ ...SPEC, size: 12, simulationSize: 4, frames: 0, warmup: -1, trajectories: MAX_TRAJECTORIES + 1 });
    expect(problems.join('\n')).toMatch(/size 12 must be a power of two/);
    expect(problems.join('\n')).toMatch(/simulation size 4 must be a power of two at least the stored size 12/);
    expect(problems.join('\n')).toMatch(/frames 0 must be a positive integer/);
    expect(problems.join('\n')).toMatch(/warmup -1 must be a non-negative/);
    expect(problems.join('\n')).toMatch(/trajectories 50001 must be an integer in \[1, 50000\]/);
  });

  it('rolling data kolmogorov --held-out writes the held-out split, resumes, and exits 2 on a folder of other settings', async () => {
    const out = join(dir, 'cli');
    const args = ['data', 'kolmogorov', '--out', out, '--clips', '2', '--shards', '1', '--frames', '3', '--size', '8', '--simulation-size', '16', '--warmup', '1.5', '--held-out', '2'];
    const first = await runCli(args, { progress: true });
    expect(first.code, first.err).toBe(0);
    expect(first.err).toMatch(/and 2 held-out trajectories to .*held-out/);
    expect((await readNpy(join(out, HELD_OUT_FOLDER, 'kolmogorov-0000.npy'))).shape).toEqual([2, 3, 8, 8, 2]);
    const again = await runCli(args, { progress: true });
    expect(again.code, again.err).toBe(0);
    expect(again.err).toMatch(/4 were cached, 0 simulated now/);
    const other = await runCli([...args.slice(0, -2), '--held-out', '3']);
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/rolling data: .* caches Kolmogorov data of other settings: heldOut 2 \(cached\) against 3/);
  });
});
