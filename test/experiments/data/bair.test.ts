import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BAIR_FRAME_BYTES,
  bairExampleFromClip,
  bairFeaturesFromClip,
  bairVideos,
  npzToBair,
  type BairClip,
  type BairVideo,
} from '../../../experiments/data/bair.js';
import { readNpz } from '../../../experiments/formats/npy.js';
import { encodeExample, type Feature } from '../../../experiments/formats/protobuf.js';
import { writeTFRecords } from '../../../experiments/formats/tfrecord.js';
import { requireBairSample } from '../bairSample.js';



let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bair-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

/** A small synthetic clip whose every byte and float says which clip, frame and position it is. */
function syntheticClip(frames: number, seed: number, withEndEffector = false): BairClip {
  const pixels = (view: number): Uint8Array =>
    Uint8Array.from({ length: frames * BAIR_FRAME_BYTES }, (_, k) => (k * 7 + seed * 13 + view * 101) & 0xff);
  return {
    aux1: pixels(0),
    main: pixels(1),
    actions: Float32Array.from({ length: frames * 4 }, (_, k) => seed + k / 8),
    ...(withEndEffector ? { endEffector: Float32Array.from({ length: frames * 3 }, (_, k) => -seed - k / 4) } : {}),
  };
}

describe('bair', () => {
  it('the real clip, converted to a TFRecord with our writer, reads back pixel-exact with equal actions', async () => {
    const npzPath = requireBairSample();
    const clip = await npzToBair(npzPath);
    const path = join(dir, 'traj_0_to_0.tfrecords');
    await writeTFRecords(path, [bairExampleFromClip(clip)]);

    // Compare against the npz contents read independently, not through npzToBair.
    const npz = await readNpz(npzPath);
    const expectedPixels = (key: string): Uint8Array => {
      // The low 32-bit word of each little-endian int64; the pixels were checked to be 0..255 in npy.test.ts.
      const wide = npz.get(key)!.data as BigInt64Array;
      const words = new Int32Array(wide.buffer, wide.byteOffset, 2 * wide.length);
      return Uint8Array.from({ length: wide.length }, (_, k) => words[2 * k]!);
    };
    const expectedActions = Float32Array.from(npz.get('action')!.data as Float64Array);

    const [aux1] = await collect(bairVideos(path));
    expect(aux1).toBeDefined();
    expect(aux1!.file).toBe(path);
    expect(aux1!.index).toBe(0);
    expect(aux1!.frames.length).toBe(30 * 64 * 64 * 3);
    expect(Buffer.from(aux1!.frames).equals(Buffer.from(expectedPixels('aux1_image')))).toBe(true);
    expect(Array.from(aux1!.actions)).toEqual(Array.from(expectedActions));
    expect(aux1!.endEffector).toBeUndefined();
    // Known answers computed with NumPy from the same file.
    expect(aux1!.frames.reduce((a, b) => a + b, 0)).toBe(51355693);
    const pixel = (video: BairVideo, t: number, y: number, x: number): number[] =>
      Array.from(video.frames.subarray(t * BAIR_FRAME_BYTES + (y * 64 + x) * 3, t * BAIR_FRAME_BYTES + (y * 64 + x) * 3 + 3));
    expect(pixel(aux1!, 0, 32, 32)).toEqual([142, 65, 22]);
    expect(aux1!.actions.reduce((a, b) => a + b, 0)).toBeCloseTo(32.093014, 4);

    const [main] = await collect(bairVideos(path, { view: 'main' }));
    expect(Buffer.from(main!.frames).equals(Buffer.from(expectedPixels('image')))).toBe(true);
    expect(main!.frames.reduce((a, b) => a + b, 0)).toBe(51126006);
    expect(pixel(main!, 15, 40, 20)).toEqual([191, 176, 135]);
  });

  it('reads a folder of traj_*.tfrecords in numeric order, with file and index for each video', async () => {
    const folder = join(dir, 'train');
    await mkdir(folder);
    // Lexicographic order would put 10 before 2.
    const files = [
      ['traj_10_to_11.tfrecords', [3, 4]],
      ['traj_0_to_1.tfrecords', [0, 1]],
      ['traj_2_to_3.tfrecords', [2]],
    ] as const;
    for (const [name, seeds] of files) {
      await writeTFRecords(join(folder, name), seeds.map((s) => bairExampleFromClip(syntheticClip(2, s))));
    }
    await writeFile(join(folder, 'README.txt'), 'not a record file');
    const videos = await collect(bairVideos(folder));
    expect(videos.map((v) => v.actions[0])).toEqual([0, 1, 2, 3, 4]);
    expect(videos.map((v) => [v.file.slice(folder.length + 1), v.index])).toEqual([
      ['traj_0_to_1.tfrecords', 0],
      ['traj_0_to_1.tfrecords', 1],
      ['traj_2_to_3.tfrecords', 0],
      ['traj_10_to_11.tfrecords', 0],
      ['traj_10_to_11.tfrecords', 1],
    ]);
    const expected = syntheticClip(2, 3);
    expect(Buffer.from(videos[3]!.frames).equals(Buffer.from(expected.aux1!))).toBe(true);
  });

  it('counts frames by probing keys, so shorter clips read too, and returns end-effector positions', async () => {
    const path = join(dir, 'short.tfrecords');
    const clip = syntheticClip(5, 9, true);
    await writeTFRecords(path, [bairExampleFromClip(clip)]);
    const [video] = await collect(bairVideos(path, { view: 'main' }));
    expect(video!.frames.length).toBe(5 * BAIR_FRAME_BYTES);
    expect(Buffer.from(video!.frames).equals(Buffer.from(clip.main!))).toBe(true);
    expect(Array.from(video!.actions)).toEqual(Array.from(clip.actions));
    expect(Array.from(video!.endEffector!)).toEqual(Array.from(clip.endEffector!));
  });

  it('ignores unknown feature keys, in any order', async () => {
    const path = join(dir, 'extra.tfrecords');
    const clip = syntheticClip(3, 5);
    const known = [...bairFeaturesFromClip(clip)].reverse();
    const extra: [string, Feature][] = [
      ['3/image_aux1/extra', { kind: 'bytes', value: [new Uint8Array(5)] }],
      ['metadata/robot', { kind: 'int64', value: [7] }],
      ['0/state', { kind: 'float', value: Float32Array.of(1, 2) }],
      ['7/action', { kind: 'float', value: Float32Array.of(1, 2, 3, 4) }],
    ];
    await writeTFRecords(path, [encodeExample(new Map([...extra, ...known]), { packed: false, valueBeforeKey: true })]);
    const [video] = await collect(bairVideos(path));
    expect(video!.frames.length).toBe(3 * BAIR_FRAME_BYTES);
    expect(Buffer.from(video!.frames).equals(Buffer.from(clip.aux1!))).toBe(true);
    expect(Array.from(video!.actions)).toEqual(Array.from(clip.actions));
  });

  it('a bad checksum throws an error naming the file and the byte offset', async () => {
    const path = join(dir, 'traj_256_to_511.tfrecords');
    await writeTFRecords(path, [1, 2].map((s) => bairExampleFromClip(syntheticClip(2, s))));
    const bytes = new Uint8Array(await readFile(path));
    const second = (bytes.length) / 2;
    bytes[second + 12 + 1000]! ^= 0xff;
    await writeFile(path, bytes);
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const video of bairVideos(path)) seen.push(video.index);
      })(),
    ).rejects.toThrow(new RegExp(`traj_256_to_511\\.tfrecords: data CRC mismatch in record 1 at byte offset ${second}\\b`));
    expect(seen).toEqual([0]);
  });

  it('rejects frames that are not 64x64x3 raw bytes, and data without the view, naming file and record', async () => {
    const path = join(dir, 'jpeg.tfrecords');
    await writeTFRecords(path, [
      encodeExample({
        '0/image_aux1/encoded': { kind: 'bytes', value: [Uint8Array.of(0xff, 0xd8, 0xff)] },
        '0/action': { kind: 'float', value: new Float32Array(4) },
      }),
    ]);
    await expect(collect(bairVideos(path))).rejects.toThrow(/jpeg\.tfrecords: record 0 at byte offset 0: '0\/image_aux1\/encoded' has 3 bytes.*JPEG/);
    await expect(collect(bairVideos(path, { view: 'main' }))).rejects.toThrow(/no '0\/image_main\/encoded' feature/);
    const noActions = join(dir, 'no-actions.tfrecords');
    const features = bairFeaturesFromClip(syntheticClip(2, 1));
    features.delete('1/action');
    await writeTFRecords(noActions, [encodeExample(features)]);
    await expect(collect(bairVideos(noActions))).rejects.toThrow(/record 0 at byte offset 0: '1\/action' is missing/);
  });

  it('bairExampleFromClip checks that views and actions agree on the frame count', () => {
    const clip = syntheticClip(2, 0);
    expect(() => bairExampleFromClip({ ...clip, actions: new Float32Array(4) })).toThrow(/actions has 4 values; 2 frames need 8/);
    expect(() => bairExampleFromClip({ actions: clip.actions })).toThrow(/aux1 or a main view/);
    expect(() => bairExampleFromClip({ aux1: new Uint8Array(100), actions: clip.actions })).toThrow(/whole number/);
  });

  it('a folder without traj_*.tfrecords is an error that says so', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await expect(collect(bairVideos(empty))).rejects.toThrow(/no traj_\*\.tfrecords files/);
  });
});
