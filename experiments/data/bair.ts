/**
 * The BAIR robot pushing data set (softmotion30_44k; Ebert et al., 2017), as used in the paper's
 * video-prediction experiments.
 *
 * On disk: TFRecord files `traj_{a}_to_{b}.tfrecords`, one `tf.train.Example` per video, with for
 * each frame i = 0..29 the keys
 *   `{i}/image_aux1/encoded`, `{i}/image_main/encoded`: raw uint8 RGB, 64x64x3 row-major (12,288
 *     bytes; not JPEG, despite the name); aux1 is the standard view for video prediction;
 *   `{i}/action`: 4 floats;  `{i}/endeffector_pos`: 3 floats.
 * Frames are counted by probing keys from i = 0 until one is missing, so shorter clips are read too.
 *
 * `npzToBair` reads the real sample clip shipped as `bair_sample.npz` (int64 pixels, float64
 * actions) and `bairExampleFromClip` turns a clip back into an Example, so tests and the `data`
 * command can write genuine-format TFRecords.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeExample, encodeExample, type DecodedFeature, type Feature } from '../formats/protobuf.js';
import { tfRecords } from '../formats/tfrecord.js';
import { readNpz, type NpyArray } from '../formats/npy.js';

export const BAIR_FRAMES = 30;
export const BAIR_HEIGHT = 64;
export const BAIR_WIDTH = 64;
export const BAIR_CHANNELS = 3;
export const BAIR_FRAME_BYTES = BAIR_HEIGHT * BAIR_WIDTH * BAIR_CHANNELS;
export const BAIR_ACTION_SIZE = 4;
export const BAIR_END_EFFECTOR_SIZE = 3;

export type BairView = 'aux1' | 'main';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export type BairVideo = {
  /** frameCount frames of 64*64*3 uint8, HWC, one after another (30*12288 bytes for a full clip). */
  readonly frames: Uint8Array;
  /** frameCount * 4 floats: the action taken at each frame. */
  readonly actions: Float32Array;
  /** frameCount * 3 floats, when every frame has `{i}/endeffector_pos`. */
  readonly endEffector?: Float32Array;
  /** The TFRecord file this video came from, and its record index in that file. */
  readonly file: string;
  readonly index: number;
};

/** A clip to write: one or both camera views plus per-frame actions (and optionally positions). */
export type BairClip = {
  /** frames * 12288 bytes, HWC uint8: the `image_aux1` view. */
  readonly aux1?: Uint8Array;
  /** frames * 12288 bytes, HWC uint8: the `image_main` view. */
  readonly main?: Uint8Array;
  /** frames * 4 floats. */
  readonly actions: Float32Array;
  /** frames * 3 floats. */
  readonly endEffector?: Float32Array;
};

function imageKey(i: number, view: BairView): string {
  return `${i}/image_${view}/encoded`;
}

/** Numbers in a name compare as numbers: traj_2_to_3 < traj_10_to_11. */
function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** A BAIR TFRecord file's name as softmotion30_44k has them: `traj_{a}_to_{b}.tfrecords`. */
export function isBairRecordName(name: string): boolean {
  return name.startsWith('traj_') && name.endsWith('.tfrecords');
}

/** The TFRecord files `path` stands for: itself, or a folder's `traj_*.tfrecords` in numeric order. */
export async function bairFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  const names = (await readdir(path)).filter(isBairRecordName);
  if (names.length === 0) {
    throw new Error(`${path}: no traj_*.tfrecords files in this folder (BAIR keeps them in train/ and test/ subfolders)`);
  }
  return names.sort(naturalCompare).map((n) => join(path, n));
}

function floatsOf(feature: DecodedFeature | undefined, expected: number, what: () => string): Float32Array {
  if (feature === undefined) throw new Error(`${what()} is missing`);
  if (feature.kind !== 'float') throw new Error(`${what()} should be a float_list, found a ${feature.kind} list`);
  if (feature.value.length !== expected) {
    throw new Error(`${what()} should hold ${expected} floats, found ${feature.value.length}`);
  }
  return feature.value;
}

/** The raw pixels of one frame feature, or an error naming the key when it is not one 64×64×3 image. */
function checkedPixels(features: ReadonlyMap<string, DecodedFeature>, key: string, where: string): Uint8Array {
  const image = features.get(key)!;
  if (image.kind !== 'bytes' || image.value.length !== 1) {
    throw new Error(`${where}: '${key}' should be a bytes_list of one image`);
  }
  const pixels = image.value[0]!;
  if (pixels.length !== BAIR_FRAME_BYTES) {
    throw new Error(
      `${where}: '${key}' has ${pixels.length} bytes; expected ${BAIR_FRAME_BYTES} raw bytes ` +
        `(${BAIR_HEIGHT}x${BAIR_WIDTH}x${BAIR_CHANNELS} uint8; JPEG-encoded frames are not supported)`,
    );
  }
  return pixels;
}

/**
 * Reads one decoded BAIR Example. `where` names it in errors (file and record). Throws if the first
 * frame of the view is missing, or a present frame is not 12,288 raw bytes.
 */
export function bairVideoFromExample(
  features: ReadonlyMap<string, DecodedFeature>,
  view: BairView,
  where: string,
): { frames: Uint8Array; actions: Float32Array; endEffector?: Float32Array } {
  let frameCount = 0;
  while (features.has(imageKey(frameCount, view))) frameCount++;
  if (frameCount === 0) {
    const sample = [...features.keys()].slice(0, 4).join(', ');
    throw new Error(`${where}: no '${imageKey(0, view)}' feature; is this BAIR data? (keys: ${sample}, ...)`);
  }
  // Every frame is checked before frameCount × 12,288 bytes are allocated: a record of 400k one-byte
  // "frames" must not cost 4.9 GB. After the check the allocation equals the pixel bytes already read.
  for (let i = 0; i < frameCount; i++) checkedPixels(features, imageKey(i, view), where);
  const frames = new Uint8Array(frameCount * BAIR_FRAME_BYTES);
  const actions = new Float32Array(frameCount * BAIR_ACTION_SIZE);
  const hasEndEffector = Array.from({ length: frameCount }, (_, i) => features.has(`${i}/endeffector_pos`)).every(Boolean);
  const endEffector = hasEndEffector ? new Float32Array(frameCount * BAIR_END_EFFECTOR_SIZE) : undefined;
  for (let i = 0; i < frameCount; i++) {
    frames.set(checkedPixels(features, imageKey(i, view), where), i * BAIR_FRAME_BYTES);
    const action = floatsOf(features.get(`${i}/action`), BAIR_ACTION_SIZE, () => `${where}: '${i}/action'`);
    actions.set(action, i * BAIR_ACTION_SIZE);
    if (endEffector !== undefined) {
      const position = floatsOf(
        features.get(`${i}/endeffector_pos`),
        BAIR_END_EFFECTOR_SIZE,
        () => `${where}: '${i}/endeffector_pos'`,
      );
      endEffector.set(position, i * BAIR_END_EFFECTOR_SIZE);
    }
  }
  return endEffector === undefined ? { frames, actions } : { frames, actions, endEffector };
}

/**
 * The videos of a BAIR TFRecord file, or of every `traj_*.tfrecords` in a folder (in numeric order),
 * one at a time, streaming. The `aux1` camera view by default. A bad checksum or truncated file
 * throws an error naming the file and byte offset; a malformed Example, one naming file and record.
 */
export async function* bairVideos(
  path: string,
  options: { readonly view?: BairView } = {},
): AsyncGenerator<BairVideo, void, undefined> {
  const view = options.view ?? 'aux1';
  for (const file of await bairFiles(path)) {
    for await (const record of tfRecords(file)) {
      const where = `${file}: record ${record.index} at byte offset ${record.offset}`;
      let features: Map<string, DecodedFeature>;
      try {
        features = decodeExample(record.data);
      } catch (error) {
        throw new Error(`${where}: ${(error as Error).message}`);
      }
      yield { ...bairVideoFromExample(features, view, where), file, index: record.index };
    }
  }
}

function checkLength(what: string, array: ArrayLike<unknown>, frames: number, perFrame: number): void {
  if (array.length !== frames * perFrame) {
    throw new Error(`bairExampleFromClip: ${what} has ${array.length} values; ${frames} frames need ${frames * perFrame}`);
  }
}

/** The features of a clip, keyed as in the BAIR TFRecords. */
export function bairFeaturesFromClip(clip: BairClip): Map<string, Feature> {
  const reference = clip.aux1 ?? clip.main;
  if (reference === undefined) throw new Error('bairExampleFromClip: a clip needs an aux1 or a main view');
  if (reference.length % BAIR_FRAME_BYTES !== 0 || reference.length === 0) {
    throw new Error(`bairExampleFromClip: ${reference.length} bytes of frames is not a whole number of 64x64x3 frames`);
  }
  const frames = reference.length / BAIR_FRAME_BYTES;
  if (clip.aux1 !== undefined) checkLength('aux1', clip.aux1, frames, BAIR_FRAME_BYTES);
  if (clip.main !== undefined) checkLength('main', clip.main, frames, BAIR_FRAME_BYTES);
  checkLength('actions', clip.actions, frames, BAIR_ACTION_SIZE);
  if (clip.endEffector !== undefined) checkLength('endEffector', clip.endEffector, frames, BAIR_END_EFFECTOR_SIZE);
  const features = new Map<string, Feature>();
  for (let i = 0; i < frames; i++) {
    const frame = (pixels: Uint8Array): Feature => ({
      kind: 'bytes',
      value: [pixels.subarray(i * BAIR_FRAME_BYTES, (i + 1) * BAIR_FRAME_BYTES)],
    });
    if (clip.main !== undefined) features.set(imageKey(i, 'main'), frame(clip.main));
    if (clip.aux1 !== undefined) features.set(imageKey(i, 'aux1'), frame(clip.aux1));
    features.set(`${i}/action`, {
      kind: 'float',
      value: clip.actions.slice(i * BAIR_ACTION_SIZE, (i + 1) * BAIR_ACTION_SIZE),
    });
    if (clip.endEffector !== undefined) {
      features.set(`${i}/endeffector_pos`, {
        kind: 'float',
        value: clip.endEffector.slice(i * BAIR_END_EFFECTOR_SIZE, (i + 1) * BAIR_END_EFFECTOR_SIZE),
      });
    }
  }
  return features;
}

/** A serialized `tf.train.Example` of a clip, in the BAIR layout, ready for `writeTFRecords`. */
export function bairExampleFromClip(clip: BairClip): Uint8Array {
  return encodeExample(bairFeaturesFromClip(clip));
}

function pixelsFrom(array: NpyArray, name: string): Uint8Array {
  const { shape, data } = array;
  if (shape.length !== 4 || shape[1] !== BAIR_HEIGHT || shape[2] !== BAIR_WIDTH || shape[3] !== BAIR_CHANNELS) {
    throw new Error(`${name}: expected shape (frames, 64, 64, 3), found (${shape.join(', ')})`);
  }
  if (data instanceof Uint8Array) return data.slice();
  const out = new Uint8Array(data.length);
  if ((data instanceof BigInt64Array || data instanceof BigUint64Array) && LITTLE_ENDIAN_HOST) {
    // Converting each element through BigInt is ~10x slower than reading both 32-bit halves.
    const words = new Int32Array(data.buffer, data.byteOffset, 2 * data.length);
    let k = 0;
    for (; k < data.length; k++) {
      const low = words[2 * k]!;
      if (words[2 * k + 1] !== 0 || low < 0 || low > 255) break;
      out[k] = low;
    }
    if (k === data.length) return out;
  }
  for (let k = 0; k < data.length; k++) {
    const value = Number(data[k]!);
    if (!Number.isInteger(value) || value < 0 || value > 255) {
      throw new Error(`${name}: pixel value ${value} at flat index ${k} is not an integer in 0..255`);
    }
    out[k] = value;
  }
  return out;
}

/**
 * Reads a clip from the `.npz` layout of `bair_sample.npz` (thuml/iVideoGPT): `aux1_image` and
 * `image` (frames, 64, 64, 3) integer pixels, `action` (frames, 4) floats. Either view may be absent,
 * not both; pixels must be integers in 0..255.
 */
export async function npzToBair(path: string): Promise<BairClip> {
  const arrays = await readNpz(path);
  const aux1Array = arrays.get('aux1_image');
  const mainArray = arrays.get('image');
  const actionArray = arrays.get('action');
  if (aux1Array === undefined && mainArray === undefined) {
    throw new Error(`${path}: neither 'aux1_image' nor 'image' is in this .npz (found: ${[...arrays.keys()].join(', ')})`);
  }
  if (actionArray === undefined) throw new Error(`${path}: no 'action' array in this .npz`);
  const aux1 = aux1Array === undefined ? undefined : pixelsFrom(aux1Array, `${path}/aux1_image`);
  const main = mainArray === undefined ? undefined : pixelsFrom(mainArray, `${path}/image`);
  const frames = (aux1 ?? main)!.length / BAIR_FRAME_BYTES;
  if (actionArray.shape.length !== 2 || actionArray.shape[0] !== frames || actionArray.shape[1] !== BAIR_ACTION_SIZE) {
    throw new Error(`${path}/action: expected shape (${frames}, 4), found (${actionArray.shape.join(', ')})`);
  }
  const actions = Float32Array.from(actionArray.data as ArrayLike<number | bigint>, (x) => Number(x));
  return {
    ...(aux1 === undefined ? {} : { aux1 }),
    ...(main === undefined ? {} : { main }),
    actions,
  };
}
