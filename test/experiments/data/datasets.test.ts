import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../../index.js';
import { BAIR_FRAME_BYTES, bairExampleFromClip, npzToBair } from '../../../experiments/data/bair.js';
import { bairDataset, bairNpzDataset, clipFrames, clipTensor, npyDataset, sampleBatch, type VideoDataset } from '../../../experiments/data/datasets.js';
import { writeNpy } from '../../../experiments/formats/npy.js';
import { writeTFRecords } from '../../../experiments/formats/tfrecord.js';
import { requireBairSample } from '../bairSample.js';



let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datasets-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The same data set with every clip converted to float32 up front, as the loaders used to do. */
function convertedUpFront(d: VideoDataset): VideoDataset {
  return { ...d, clips: d.clips.map((c) => (c instanceof Uint8Array ? Float32Array.from(c, (p) => p / 127.5 - 1) : c)) };
}

async function batchValues(d: VideoDataset, seed: number, step: number, batch: number, window: number): Promise<Float32Array> {
  const t = sampleBatch(d, seed, step, batch, window);
  try {
    return (await t.toArray()) as Float32Array;
  } finally {
    t.dispose();
  }
}

async function expectSameBatches(d: VideoDataset, seeds: readonly [number, number][], batch: number, window: number): Promise<void> {
  const reference = convertedUpFront(d);
  for (const [seed, step] of seeds) {
    const a = await batchValues(d, seed, step, batch, window);
    const b = await batchValues(reference, seed, step, batch, window);
    expect(a.length).toBe(batch * window * d.frameShape.reduce((x, y) => x * y, 1));
    expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), `seed ${seed} step ${step}`).toBe(true);
  }
}

describe('datasets keep uint8 pixels and convert per batch', () => {
  it('uint8 clips: every batch and clip equals the one of the clips converted to float32 up front, bit for bit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ h: fc.integer({ min: 1, max: 4 }), w: fc.integer({ min: 1, max: 4 }), c: fc.integer({ min: 1, max: 3 }), clips: fc.integer({ min: 1, max: 4 }), length: fc.integer({ min: 1, max: 6 }) }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 1, max: 3 }),
        async (s, seed, step, batch) => {
          const per = s.length * s.h * s.w * s.c;
          const clips = Array.from({ length: s.clips }, (_, i) => Uint8Array.from({ length: per }, (_, k) => (k * 37 + i * 101 + seed) & 0xff));
          const d: VideoDataset = { name: 'bytes', frameShape: [s.h, s.w, s.c], clips, clipLength: s.length, describe: 'uint8' };
          const window = 1 + (step % s.length);
          await expectSameBatches(d, [[seed, step]], batch, window);
          const a = clipTensor(d, step, s.length);
          const b = clipTensor(convertedUpFront(d), step, s.length);
          expect(Array.from(await a.toArray())).toEqual(Array.from(await b.toArray()));
          a.dispose();
          b.dispose();
        },
      ),
      { numRuns: 25 },
    );
  });

  it('all 256 byte values map to x/127.5 − 1, so 0 → −1 and 255 → 1', async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, p) => p);
    const d: VideoDataset = { name: 'ramp', frameShape: [1, 256, 1], clips: [bytes], clipLength: 1, describe: 'uint8' };
    const t = clipTensor(d, 0, 1);
    const v = Array.from(await t.toArray());
    t.dispose();
    expect(v).toEqual(Array.from(Float32Array.from(bytes, (p) => p / 127.5 - 1)));
    expect([v[0], v[255]]).toEqual([-1, 1]);
  });

  it('bairDataset holds the real clip as 368,640 uint8 bytes (a quarter of float32), and its batches equal the float conversion', async () => {
    const clip = await npzToBair(requireBairSample());
    const path = join(dir, 'traj_0_to_255.tfrecords');
    await writeTFRecords(path, [bairExampleFromClip(clip)]);
    const d = await bairDataset(path);
    expect(d.frameShape).toEqual([64, 64, 3]);
    expect(d.clipLength).toBe(30);
    expect(d.clips).toHaveLength(1);
    expect(d.clips[0]).toBeInstanceOf(Uint8Array);
    expect(d.clips[0]!.byteLength).toBe(30 * BAIR_FRAME_BYTES);
    expect(Buffer.from(d.clips[0]!.buffer, d.clips[0]!.byteOffset, d.clips[0]!.byteLength).equals(Buffer.from(clip.aux1!))).toBe(true);
    await expectSameBatches(d, [[0, 0], [3, 7], [1, 123]], 2, 16);
    // The .npz holds the same video.
    const n = await bairNpzDataset(requireBairSample());
    expect(n.clipLength).toBe(30);
    expect(Buffer.from(n.clips[0]!.buffer, n.clips[0]!.byteOffset, n.clips[0]!.byteLength).equals(Buffer.from(clip.aux1!))).toBe(true);
  });

  it('bairDataset refuses videos of different lengths, naming the file and record', async () => {
    const path = join(dir, 'mixed.tfrecords');
    const clipOf = (frames: number) => ({ aux1: new Uint8Array(frames * BAIR_FRAME_BYTES), actions: new Float32Array(frames * 4) });
    await writeTFRecords(path, [bairExampleFromClip(clipOf(3)), bairExampleFromClip(clipOf(2))]);
    await expect(bairDataset(path)).rejects.toThrow(/mixed\.tfrecords: record 1 has 2 frames, but earlier videos have 3/);
  });

  it('npyDataset keeps uint8 videos as bytes and converts them per batch, like floats converted up front', async () => {
    const path = join(dir, 'videos.npy');
    const data = Uint8Array.from({ length: 3 * 5 * 4 * 4 * 2 }, (_, k) => (k * 29) & 0xff);
    await writeNpy(path, { shape: [3, 5, 4, 4, 2], data });
    const d = await npyDataset(path);
    expect(d.frameShape).toEqual([4, 4, 2]);
    expect(d.clipLength).toBe(5);
    expect(d.clips.map((c) => c.constructor.name)).toEqual(['Uint8Array', 'Uint8Array', 'Uint8Array']);
    await expectSameBatches(d, [[0, 0], [5, 9]], 4, 3);
  });

  it('clipFrames refuses frames past the end of a clip (float or uint8), naming the clip length and the range asked', () => {
    const frame = 2 * 2 * 1;
    for (const clip of [new Float32Array(3 * frame), new Uint8Array(3 * frame)]) {
      const d: VideoDataset = { name: 'short', frameShape: [2, 2, 1], clips: [clip], clipLength: 3, describe: 'test' };
      expect(clipFrames(d, 0, 1, 2)).toHaveLength(2 * frame);
      expect(() => clipFrames(d, 0, 2, 2)).toThrow(/clipFrames: frames \[2, 4\) asked of the 3-frame clips of short/);
      expect(() => clipFrames(d, 0, -1, 1)).toThrow(/frames \[-1, 0\) asked of the 3-frame clips/);
      expect(() => clipFrames(d, 1, 0, 1)).toThrow(/clipFrames: clip 1 asked of the 1 clips of short/);
    }
  });
});
