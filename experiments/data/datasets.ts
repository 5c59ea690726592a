/**
 * Video data sets as the trainer sees them: a list of clips of frames [T, H, W, C] scaled to [−1, 1],
 * and a batch sampler that is a pure function of (seed, step). Because a batch depends on nothing
 * else, training resumed from a checkpoint at step k sees exactly the batches an uninterrupted run
 * would have seen.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { foldIn, key, tensor, uniformHost, type Tensor } from '../../core/index.js';
import { BAIR_CHANNELS, BAIR_FRAME_BYTES, BAIR_HEIGHT, BAIR_WIDTH, bairVideos, npzToBair } from './bair.js';
import { simulateKolmogorov } from './kolmogorov.js';
import { readNpy, writeNpy } from '../formats/npy.js';
import { movingDigits } from './movingDigits.js';
import { movingShapes } from './shapes.js';

/**
 * One clip in memory, frames × H × W × C row-major: floats already in [−1, 1], or uint8 pixels that
 * become x/127.5 − 1 only when a batch or clip is read (a quarter of the memory of floats).
 */
export type StoredClip = Float32Array | Uint8Array;

export interface VideoDataset {
  readonly name: string;
  /** [height, width, channels] of every frame. */
  readonly frameShape: readonly [number, number, number];
  /** Each clip: frames × H × W × C, as floats in [−1, 1] or as uint8 pixels (see `StoredClip`). */
  readonly clips: readonly StoredClip[];
  /** Frames per clip. */
  readonly clipLength: number;
  /** How a value in [−1, 1] maps back to the data's units (for pictures and metrics). */
  readonly describe: string;
}

function frameSize(d: VideoDataset): number {
  return d.frameShape[0] * d.frameShape[1] * d.frameShape[2];
}

/** x/127.5 − 1 for every byte, rounded to float32 once, so reading bytes equals converting them up front. */
const BYTE_TO_UNIT = Float32Array.from({ length: 256 }, (_, p) => p / 127.5 - 1);

/** Copies `values` of a stored clip into `out` at `at` as floats in [−1, 1] (bytes map through x/127.5 − 1). */
function readClip(clip: StoredClip, from: number, to: number, out: Float32Array, at: number): void {
  if (clip instanceof Float32Array) {
    out.set(clip.subarray(from, to), at);
    return;
  }
  for (let i = from; i < to; i++) out[at + i - from] = BYTE_TO_UNIT[clip[i]!]!;
}

/** Frames [start, start + frames) of clip `index` as floats in [−1, 1], frames × H × W × C. */
export function clipFrames(d: VideoDataset, index: number, start: number, frames: number): Float32Array {
  // Past the end a float clip would read as zeros and a byte clip as NaN, so a bad range is an error.
  if (!Number.isInteger(index) || index < 0 || index >= d.clips.length) throw new Error(`clipFrames: clip ${index} asked of the ${d.clips.length} clips of ${d.name}`);
  if (!Number.isInteger(start) || !Number.isInteger(frames) || start < 0 || frames < 0 || start + frames > d.clipLength) {
    throw new Error(`clipFrames: frames [${start}, ${start + frames}) asked of the ${d.clipLength}-frame clips of ${d.name}`);
  }
  const fs = frameSize(d);
  const out = new Float32Array(frames * fs);
  readClip(d.clips[index]!, start * fs, (start + frames) * fs, out, 0);
  return out;
}

/**
 * A batch [batch, window, H, W, C]: clip and start frame drawn from the host PRNG keyed by
 * foldIn(key(seed), step), so the same (seed, step) always gives the same batch.
 */
export function sampleBatch(d: VideoDataset, seed: number, step: number, batch: number, window: number): Tensor {
  if (window > d.clipLength) throw new Error(`sampleBatch: window ${window} is longer than the ${d.clipLength}-frame clips of ${d.name}`);
  const u = uniformHost(foldIn(key(seed), step), 2 * batch);
  const fs = frameSize(d);
  const out = new Float32Array(batch * window * fs);
  for (let b = 0; b < batch; b++) {
    const clip = d.clips[Math.min(Math.floor(u[2 * b]! * d.clips.length), d.clips.length - 1)]!;
    const start = Math.min(Math.floor(u[2 * b + 1]! * (d.clipLength - window + 1)), d.clipLength - window);
    readClip(clip, start * fs, (start + window) * fs, out, b * window * fs);
  }
  return tensor(out, [batch, window, ...d.frameShape]);
}

/** The first `frames` frames of clip `index` as [1, frames, H, W, C]. */
export function clipTensor(d: VideoDataset, index: number, frames: number): Tensor {
  return tensor(clipFrames(d, index % d.clips.length, 0, frames), [1, frames, ...d.frameShape]);
}

/** `clips` clips from a per-clip generator of intensities in [0, 1] (seeded seed · 100003 + i), mapped to [−1, 1] as 2x − 1. */
function generatedClips(clips: number, seed: number, clip: (seed: number) => Float32Array, onClip?: (done: number) => void): Float32Array[] {
  return Array.from({ length: clips }, (_, i) => {
    const v = clip(seed * 100_003 + i);
    for (let j = 0; j < v.length; j++) v[j] = v[j]! * 2 - 1;
    onClip?.(i + 1);
    return v;
  });
}

/** Settings every generated data set takes; `onClip(done)` is told after each clip (for a progress bar). */
interface GeneratedOptions {
  clips?: number;
  frames?: number;
  size?: number;
  seed?: number;
  onClip?: (done: number) => void;
}

/** Bouncing shapes: needs nothing, generated from a seed. Pixels in [0, 1] map to [−1, 1]. */
export function movingShapesDataset(opts: GeneratedOptions & { count?: number; channels?: number } = {}): VideoDataset {
  const frames = opts.frames ?? 32;
  const size = opts.size ?? 32;
  const channels = opts.channels ?? 1;
  const list = generatedClips(opts.clips ?? 256, opts.seed ?? 0, (seed) => movingShapes({ frames, size, count: opts.count ?? 2, seed, channels }), opts.onClip);
  return { name: 'shapes', frameShape: [size, size, channels], clips: list, clipLength: frames, describe: 'intensity in [0, 1] as 2x − 1' };
}

/**
 * Moving MNIST (experiments/data/movingDigits.ts): real digits from the `mnist` package bouncing in the
 * frame, white on black mapped to [−1, 1]. `split: 'test'` draws only digits no 'train' clip shows.
 */
export function movingDigitsDataset(opts: GeneratedOptions & { count?: number; split?: 'train' | 'test' } = {}): VideoDataset {
  const frames = opts.frames ?? 20;
  const size = opts.size ?? 64;
  const split = opts.split ?? 'train';
  const list = generatedClips(opts.clips ?? 256, opts.seed ?? 0, (seed) => movingDigits({ frames, size, count: opts.count ?? 2, seed, split }), opts.onClip);
  return { name: 'mnist', frameShape: [size, size, 1], clips: list, clipLength: frames, describe: `moving MNIST (${split} digits), intensity in [0, 1] as 2x − 1` };
}

/** Velocity scale of Kolmogorov clips: the initial field's maximum speed (Table 7), so values stay in about [−1, 1]. */
export const KOLMOGOROV_VELOCITY_SCALE = 7;

/** Kolmogorov flow simulated in memory (slow for many clips: prefer `rolling data kolmogorov` shards). */
export function kolmogorovDataset(opts: GeneratedOptions = {}): VideoDataset {
  const clips = opts.clips ?? 8;
  const frames = opts.frames ?? 32;
  const size = opts.size ?? 32;
  const list: Float32Array[] = [];
  for (let i = 0; i < clips; i++) {
    const clip = simulateKolmogorov({ frames, size, seed: (opts.seed ?? 0) * 100_003 + i });
    list.push(clip.frames.map((v) => v / KOLMOGOROV_VELOCITY_SCALE));
    opts.onClip?.(i + 1);
  }
  return { name: 'kolmogorov', frameShape: [size, size, 2], clips: list, clipLength: frames, describe: `velocity (u, v) divided by ${KOLMOGOROV_VELOCITY_SCALE}` };
}

/** A shard's file name as `rolling data kolmogorov` writes it: `kolmogorov-0000.npy`. */
export function isKolmogorovShardName(name: string): boolean {
  return /^kolmogorov-\d+\.npy$/.test(name);
}

/**
 * Shards `kolmogorov-*.npy`, each float32 [clips, frames, n, n, 2] in solver units, as written by
 * `rolling data kolmogorov`. The set is named by its folder (as `npyDataset` names its file): these
 * clips were simulated with physics of their own, so sampling must read them again rather than
 * simulate fresh 'kolmogorov' clips.
 */
export async function kolmogorovShards(dir: string): Promise<VideoDataset> {
  const names = (await readdir(dir)).filter(isKolmogorovShardName).sort();
  if (names.length === 0) throw new Error(`kolmogorovShards: no kolmogorov-*.npy shards in ${dir}; write some with \`rolling data kolmogorov --out ${dir}\``);
  const list: Float32Array[] = [];
  let shape: number[] = [];
  for (const n of names) {
    const a = await readNpy(join(dir, n));
    if (a.shape.length !== 5 || a.shape[4] !== 2 || a.shape.includes(0)) throw new Error(`kolmogorovShards: ${n} has shape [${a.shape}], expected [clips, frames, n, n, 2] with every dimension at least 1`);
    if (!(a.data instanceof Float32Array || a.data instanceof Float64Array)) throw new Error(`kolmogorovShards: ${n} holds '${a.dtype}' values, expected floats ('<f4', as \`rolling data kolmogorov\` writes them, or '<f8'): velocities in solver units`);
    if (shape.length > 0 && a.shape.slice(1).join() !== shape.slice(1).join()) throw new Error(`kolmogorovShards: ${n} holds clips of shape [${a.shape.slice(1)}], but ${names[0]} holds [${shape.slice(1)}]; every shard of a folder must hold clips of one shape`);
    shape = [...a.shape];
    const per = a.shape.slice(1).reduce((x, y) => x * y, 1);
    const data = Float32Array.from(a.data as ArrayLike<number>, (v) => v / KOLMOGOROV_VELOCITY_SCALE);
    for (let c = 0; c < a.shape[0]!; c++) list.push(data.slice(c * per, (c + 1) * per));
  }
  return { name: dir, frameShape: [shape[2]!, shape[3]!, 2], clips: list, clipLength: shape[1]!, describe: `velocity (u, v) divided by ${KOLMOGOROV_VELOCITY_SCALE}` };
}

export async function writeKolmogorovShard(path: string, clips: readonly Float32Array[], frames: number, size: number): Promise<void> {
  const data = new Float32Array(clips.length * frames * size * size * 2);
  clips.forEach((c, i) => data.set(c, i * c.length));
  await writeNpy(path, { shape: [clips.length, frames, size, size, 2], data });
}

/**
 * BAIR robot pushing from TFRecords (a file or a folder of traj_*.tfrecords); uint8 pixels map to [−1, 1].
 *
 * Memory: the pixels stay uint8 and become floats one batch at a time, so a 30-frame video costs
 * 30 × 64 × 64 × 3 = 368,640 bytes: about 16 GB for the 43,264 training videos of softmotion30_44k
 * (it would be 65 GB as float32). Pass `limit` to hold fewer. Every video must have the same number
 * of frames; one that differs is an error naming its file and record.
 */
export async function bairDataset(path: string, opts: { limit?: number; view?: 'aux1' | 'main' } = {}): Promise<VideoDataset> {
  const list: Uint8Array[] = [];
  let length = 0;
  for await (const v of bairVideos(path, { view: opts.view })) {
    const frames = v.frames.length / BAIR_FRAME_BYTES;
    if (list.length === 0) length = frames;
    else if (frames !== length) throw new Error(`bairDataset: ${v.file}: record ${v.index} has ${frames} frames, but earlier videos have ${length}; every clip must have the same length`);
    list.push(v.frames);
    if (opts.limit && list.length >= opts.limit) break;
  }
  if (list.length === 0) throw new Error(`bairDataset: no videos in ${path}`);
  return { name: 'bair', frameShape: [BAIR_HEIGHT, BAIR_WIDTH, BAIR_CHANNELS], clips: list, clipLength: length, describe: 'uint8 RGB as x/127.5 − 1' };
}

/**
 * One BAIR clip from an `.npz` laid out as `bair_sample.npz` (`aux1_image` or `image`, and `action`;
 * see `npzToBair`): a data set of a single video, the `aux1` view when present. Pixels stay uint8.
 */
export async function bairNpzDataset(path: string): Promise<VideoDataset> {
  const clip = await npzToBair(path);
  const frames = (clip.aux1 ?? clip.main)!;
  return { name: 'bair', frameShape: [BAIR_HEIGHT, BAIR_WIDTH, BAIR_CHANNELS], clips: [frames], clipLength: frames.length / BAIR_FRAME_BYTES, describe: 'uint8 RGB as x/127.5 − 1' };
}

/**
 * A `.npy` of videos [N, T, H, W, C] (or one video [T, H, W, C]); uint8 maps to [−1, 1] (kept as bytes,
 * converted per batch), floats are taken as they are.
 */
export async function npyDataset(path: string): Promise<VideoDataset> {
  const a = await readNpy(path);
  const shape = a.shape.length === 4 ? [1, ...a.shape] : [...a.shape];
  if (shape.length !== 5) throw new Error(`npyDataset: ${path} has shape [${a.shape}]; expected [N, T, H, W, C] or [T, H, W, C]`);
  // A zero dimension holds no data, yet N alone would make N clips (10^8 from a 128-byte file).
  if (shape.includes(0)) throw new Error(`npyDataset: ${path} has shape [${a.shape}], which holds no data (a dimension is 0); expected [N, T, H, W, C] videos with every dimension at least 1`);
  const per = shape.slice(1).reduce((x, y) => x * y, 1);
  const isBytes = a.data instanceof Uint8Array;
  const all: StoredClip = isBytes || a.data instanceof Float32Array ? a.data : Float32Array.from(a.data as ArrayLike<number | bigint>, Number);
  const list = Array.from({ length: shape[0]! }, (_, i) => all.subarray(i * per, (i + 1) * per));
  return { name: path, frameShape: [shape[2]!, shape[3]!, shape[4]!], clips: list, clipLength: shape[1]!, describe: isBytes ? 'uint8 as x/127.5 − 1' : 'as stored' };
}

/** Frames in [−1, 1] → uint8 pixels for pictures (the first three channels; 2 channels show as a 3rd of zeros). */
export function toBytes(frames: ArrayLike<number>, channels: number): { data: Uint8Array; channels: 1 | 3 } {
  const n = frames.length / channels;
  const outC: 1 | 3 = channels === 1 ? 1 : 3;
  const out = new Uint8Array(n * outC);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < outC; c++) {
      const v = c < channels ? frames[i * channels + c]! : -1;
      out[i * outC + c] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
    }
  }
  return { data: out, channels: outC };
}
