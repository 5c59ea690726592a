/**
 * Kolmogorov-flow trajectories as the paper's data (Section 5.1, Appendix E), scaled down and cached
 * on disk: each trajectory is simulated finer than it is stored (`simulationSize` → `size`, Fourier
 * truncation), warmed up into developed turbulence before its first frame, long (frames every
 * `frameInterval` time units), with ν and ρ drawn per trajectory as in Table 7. Training windows are
 * drawn at random offsets along whole trajectories (`sampleBatch`), and held-out trajectories, seeded
 * apart from the training ones, are what evaluation conditions on.
 *
 * Layout of `dir`:
 *   kolmogorov-cache.json        the settings (written first; a folder of other settings is refused)
 *   kolmogorov-NNNN.npy          training shards, float32 [trajectories, frames, size, size, 2]
 *   held-out/kolmogorov-NNNN.npy held-out shards, the same layout
 * so `--data dir` reads the training set and `--data dir/held-out` the held-out one. Each shard is
 * written atomically once all its trajectories are simulated; a run stopped part way resumes at the
 * first shard missing (a shard present with the expected shape is complete by construction).
 * Several processes can fill one cache at once, each its own part (`part: { index, count }`): shards
 * are disjoint files written by rename, so the parts never collide.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../formats/atomicWrite.js';
import { isKolmogorovShardName, writeKolmogorovShard } from './datasets.js';
import { isPowerOfTwo } from '../math/fft.js';
import { simulateKolmogorov } from './kolmogorov.js';
import { readNpy } from '../formats/npy.js';

export const CACHE_MANIFEST = 'kolmogorov-cache.json';
export const HELD_OUT_FOLDER = 'held-out';

/** Trajectories per split at most: the held-out seeds start this far from the training ones. */
export const MAX_TRAJECTORIES = 50_000;

export interface KolmogorovCacheSpec {
  /** Stored frame side (a power of two). */
  readonly size: number;
  /** Solver grid (a power of two ≥ size). */
  readonly simulationSize: number;
  /** Frames per trajectory. */
  readonly frames: number;
  /** Simulated time discarded before frame 0 (the flow develops from the filtered initial field). */
  readonly warmup: number;
  /** Simulated time between stored frames (the paper's 1.5). */
  readonly frameInterval: number;
  /** Training trajectories. */
  readonly trajectories: number;
  /** Held-out trajectories (for evaluation). */
  readonly heldOut: number;
  /** Trajectories per shard file. */
  readonly perShard: number;
  /** Data seed: trajectory i of the training split is simulated from seed · 100003 + i. */
  readonly seed: number;
}

/** A folder of another cache, or settings that cannot be simulated: an input error (exit status 2). */
export class CacheError extends Error {}

/**
 * The solver seed of trajectory `index` of a split. Training trajectories use `seed · 100003 + index`
 * (what `rolling data kolmogorov` always used), held-out ones the same plus MAX_TRAJECTORIES, so the
 * two splits never share a trajectory while each holds at most MAX_TRAJECTORIES.
 */
export function trajectorySeed(seed: number, split: 'train' | 'held-out', index: number): number {
  return seed * 100_003 + (split === 'held-out' ? MAX_TRAJECTORIES : 0) + index;
}

/** Each problem with a spec, as a sentence naming the setting and what it must be. */
export function cacheSpecProblems(s: KolmogorovCacheSpec): string[] {
  const problems: string[] = [];
  const int = (v: number, min: number) => Number.isSafeInteger(v) && v >= min;
  if (!int(s.size, 4) || !isPowerOfTwo(s.size)) problems.push(`size ${s.size} must be a power of two ≥ 4 (the spectral solver and FSD need one)`);
  if (!int(s.simulationSize, 4) || !isPowerOfTwo(s.simulationSize) || s.simulationSize < s.size) problems.push(`simulation size ${s.simulationSize} must be a power of two at least the stored size ${s.size}`);
  if (!int(s.frames, 1)) problems.push(`frames ${s.frames} must be a positive integer`);
  if (!(Number.isFinite(s.warmup) && s.warmup >= 0)) problems.push(`warmup ${s.warmup} must be a non-negative number of time units`);
  if (!(Number.isFinite(s.frameInterval) && s.frameInterval > 0)) problems.push(`frame interval ${s.frameInterval} must be a positive number of time units`);
  if (!int(s.trajectories, 1) || s.trajectories > MAX_TRAJECTORIES) problems.push(`trajectories ${s.trajectories} must be an integer in [1, ${MAX_TRAJECTORIES}]`);
  if (!int(s.heldOut, 0) || s.heldOut > MAX_TRAJECTORIES) problems.push(`held-out trajectories ${s.heldOut} must be an integer in [0, ${MAX_TRAJECTORIES}]`);
  if (!int(s.perShard, 1)) problems.push(`trajectories per shard ${s.perShard} must be a positive integer`);
  if (!int(s.seed, 0) || s.seed > 10_000) problems.push(`seed ${s.seed} must be an integer in [0, 10000]`);
  return problems;
}

const SPEC_KEYS: readonly (keyof KolmogorovCacheSpec)[] = ['size', 'simulationSize', 'frames', 'warmup', 'frameInterval', 'trajectories', 'heldOut', 'perShard', 'seed'];

function shardName(index: number): string {
  return `kolmogorov-${String(index).padStart(4, '0')}.npy`;
}

/** The shards of one split: [path, first trajectory, trajectories in it]. */
function shardsOf(dir: string, count: number, perShard: number): [string, number, number][] {
  return Array.from({ length: Math.ceil(count / perShard) }, (_, s) => [join(dir, shardName(s)), s * perShard, Math.min(perShard, count - s * perShard)]);
}

/** True when `path` is a shard of the expected shape (written by the atomic rename, so complete). */
async function shardDone(path: string, shape: readonly number[]): Promise<boolean> {
  if (!(await stat(path).then((s) => s.isFile(), () => false))) return false;
  try {
    const a = await readNpy(path);
    return a.shape.join() === shape.join() && a.data instanceof Float32Array;
  } catch {
    return false;
  }
}

/** Part `index` of `count` (1-based): the share of the shards one of `count` processes simulates. */
export interface CachePart {
  readonly index: number;
  readonly count: number;
}

export interface CacheResult {
  /** The folder of training shards (`--data` for training). */
  readonly train: string;
  /** The folder of held-out shards (absent when the spec asks for none). */
  readonly heldOut: string;
  /** Trajectories simulated by this call (0 when the cache, or this call's part of it, was complete). */
  readonly simulated: number;
  /** Trajectories found already cached. */
  readonly cached: number;
}

/**
 * Simulates what `dir` lacks of the cache `spec` describes and returns where the splits are. Called
 * again on a complete cache it simulates nothing. `onTrajectory(done, total)` is told after each
 * trajectory (done counts the cached ones too), for a progress bar.
 */
export async function buildKolmogorovCache(dir: string, spec: KolmogorovCacheSpec, o: { onTrajectory?: (done: number, total: number) => void; part?: CachePart } = {}): Promise<CacheResult> {
  const problems = cacheSpecProblems(spec);
  const part = o.part ?? { index: 1, count: 1 };
  if (!(Number.isSafeInteger(part.count) && part.count >= 1 && Number.isSafeInteger(part.index) && part.index >= 1 && part.index <= part.count)) {
    problems.push(`part ${part.index}/${part.count} must be K/N with 1 ≤ K ≤ N`);
  }
  if (problems.length > 0) throw new CacheError(`Kolmogorov data: ${problems.join('; ')}`);
  await mkdir(spec.heldOut > 0 ? join(dir, HELD_OUT_FOLDER) : dir, { recursive: true });
  const manifest = join(dir, CACHE_MANIFEST);
  const wanted = Object.fromEntries(SPEC_KEYS.map((k) => [k, spec[k]]));
  const text = await readFile(manifest, 'utf8').catch(() => undefined);
  if (text !== undefined) {
    let have: Record<string, unknown> = {};
    try {
      have = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new CacheError(`${manifest}: not JSON; it is not a Kolmogorov cache this program wrote: delete ${dir}, or pass another folder`);
    }
    const differences = SPEC_KEYS.filter((k) => have[k] !== spec[k]).map((k) => `${k} ${JSON.stringify(have[k])} (cached) against ${JSON.stringify(spec[k])}`);
    if (differences.length > 0) {
      throw new CacheError(`${dir} caches Kolmogorov data of other settings: ${differences.join(', ')}; pass another folder, or delete ${dir} to simulate it anew`);
    }
  } else {
    const stray = (await readdir(dir)).filter(isKolmogorovShardName);
    if (stray.length > 0) {
      throw new CacheError(`${dir} holds ${stray.length} Kolmogorov shard(s) but no ${CACHE_MANIFEST}, so their settings are unknown (an older \`rolling data\` wrote them); pass another folder, or delete those shards`);
    }
    await writeFileAtomic(manifest, JSON.stringify({ ...wanted, note: 'Kolmogorov flow trajectories (velocity u, v in solver units), written by rolling' }, null, 2));
  }
  const jobs = [
    ...shardsOf(dir, spec.trajectories, spec.perShard).map(([p, first, n]) => ({ path: p, first, n, split: 'train' as const })),
    ...shardsOf(join(dir, HELD_OUT_FOLDER), spec.heldOut, spec.perShard).map(([p, first, n]) => ({ path: p, first, n, split: 'held-out' as const })),
  ];
  // Part K of N simulates every N-th shard (of both splits, in order), so N processes share the work.
  const mine = jobs.filter((_, ordinal) => ordinal % part.count === part.index - 1);
  const total = mine.reduce((s, j) => s + j.n, 0);
  let done = 0;
  let simulated = 0;
  const todo: typeof jobs = [];
  for (const job of mine) {
    if (await shardDone(job.path, [job.n, spec.frames, spec.size, spec.size, 2])) done += job.n;
    else todo.push(job);
  }
  const cached = done;
  if (cached > 0) o.onTrajectory?.(done, total);
  for (const job of todo) {
    const clips: Float32Array[] = [];
    for (let i = 0; i < job.n; i++) {
      const seed = trajectorySeed(spec.seed, job.split, job.first + i);
      clips.push(simulateKolmogorov({ frames: spec.frames, size: spec.size, simulationSize: spec.simulationSize, warmup: spec.warmup, frameInterval: spec.frameInterval, seed }).frames);
      simulated++;
      o.onTrajectory?.(++done, total);
    }
    await writeKolmogorovShard(job.path, clips, spec.frames, spec.size);
  }
  return { train: dir, heldOut: join(dir, HELD_OUT_FOLDER), simulated, cached };
}
