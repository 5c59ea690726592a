import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import * as nn from '../../nn/index.js';
import { fileWith } from './helpers.js';

/**
 * Written by the reference implementation (Python safetensors 0.8.0, numpy 2.4):
 *   save({"blocks.0.weight": np.array([[1.5, -2, 3.25], [0, 1e-3, -7]], np.float32),
 *         "blocks.1.weight": np.array([0.5], np.float32), "step": np.array(42, np.int32),
 *         "counts": np.array([1, 4294967295, 7], np.uint32), "mask": np.array([1, 0, 1, 1], np.bool_),
 *         "empty": np.zeros((0, 3), np.float32)}, metadata={"config": '{"lr":0.001}', "step": "42"})
 */
const REFERENCE = resolve(__dirname, '../fixtures/nn/reference.safetensors');

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nn-safetensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------- generated pytrees

type Spec = { dtype: r.DType; shape: number[]; values: number[] } | Spec[] | { [k: string]: Spec };

const leaf: fc.Arbitrary<Spec> = fc
  .tuple(fc.constantFrom<r.DType>('float32', 'int32', 'uint32', 'bool'), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }))
  .chain(([dtype, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const value =
      dtype === 'float32'
        ? fc.float({ noNaN: true }).map((v) => Math.fround(v))
        : dtype === 'int32'
          ? fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })
          : dtype === 'uint32'
            ? fc.integer({ min: 0, max: 2 ** 32 - 1 })
            : fc.integer({ min: 0, max: 1 });
    return fc.array(value, { minLength: n, maxLength: n }).map((values) => ({ dtype, shape, values }));
  });

/** Identifier keys: no '.', never all digits (digit keys are how arrays are stored). */
const keyName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,6}$/).filter((k) => k !== '__metadata__');

const { tree: specTree } = fc.letrec<{ tree: Spec; node: Spec }>((tie) => ({
  tree: fc.dictionary(keyName, tie('node'), { minKeys: 1, maxKeys: 4 }),
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.dictionary(keyName, tie('node'), { minKeys: 1, maxKeys: 3 }),
    fc.array(tie('node'), { minLength: 1, maxLength: 3 }),
  ),
}));

function isLeafSpec(s: Spec): s is { dtype: r.DType; shape: number[]; values: number[] } {
  return !Array.isArray(s) && typeof (s as { dtype?: unknown }).dtype === 'string' && Array.isArray((s as { shape?: unknown }).shape);
}

function build(s: Spec): unknown {
  if (isLeafSpec(s)) {
    const arr = r.makeTypedArray(s.dtype, s.values.length);
    s.values.forEach((v, i) => (arr[i] = v));
    return r.fromArray(arr, s.shape, s.dtype);
  }
  if (Array.isArray(s)) return s.map(build);
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, build(v)]));
}

/** A comparable description: structure, dtypes, shapes and bit-exact values. */
async function describeTree(tree: unknown): Promise<unknown> {
  if (tree instanceof r.Tensor) return { dtype: tree.dtype, shape: [...tree.shape], values: Array.from(await tree.toArray()) };
  if (Array.isArray(tree)) return Promise.all(tree.map(describeTree));
  if (tree !== null && typeof tree === 'object') {
    const entries = await Promise.all(Object.entries(tree).map(async ([k, v]) => [k, await describeTree(v)] as const));
    return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : 1)));
  }
  return tree;
}

const metadataArb = fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 12 }), { maxKeys: 3 });

// ---------------------------------------------------------------- hand-made files


const f32 = (name: string, shape: number[], begin: number, end: number) => ({ [name]: { dtype: 'F32', shape, data_offsets: [begin, end] } });

function loadError(bytes: Uint8Array, like?: unknown): string {
  try {
    nn.deserializeSafetensors(bytes, like === undefined ? {} : { like });
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected the file to be refused');
}

describe('safetensors', () => {
  it('round-trips random pytrees of every dtype and shape (including scalars and empty tensors) with metadata', async () => {
    await fc.assert(
      fc.asyncProperty(specTree, metadataArb, async (spec, metadata) => {
        const tree = build(spec);
        const bytes = await nn.serializeSafetensors(tree, metadata);
        const loaded = nn.deserializeSafetensors(bytes);
        expect(await describeTree(loaded.tree)).toEqual(await describeTree(tree));
        expect(loaded.metadata).toEqual(metadata);
        const exact = nn.deserializeSafetensors(bytes, { like: tree });
        expect(await describeTree(exact.tree)).toEqual(await describeTree(tree));
        r.dispose([tree, loaded.tree, exact.tree]);
      }),
      { numRuns: 60 },
    );
  });

  it('lays the file out as the format says: 8-byte LE size, space-padded JSON, aligned contiguous data', async () => {
    const tree = { b: r.tensor([1, -2]), a: r.scalar(7, 'int32'), c: r.tensor([true, false, true]), u: r.tensor(Uint32Array.from([5])) };
    const bytes = await nn.serializeSafetensors(tree, { step: '10', config: '{"x":1}' });
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const n = Number(view.getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd().length).toBeGreaterThan(n - 8);
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    const header = JSON.parse(text);
    expect(Object.keys(header)).toEqual(['__metadata__', 'b', 'u', 'a', 'c']);
    expect(header.__metadata__).toEqual({ step: '10', config: '{"x":1}' });
    expect(header.b).toEqual({ dtype: 'F32', shape: [2], data_offsets: [0, 8] });
    expect(header.u).toEqual({ dtype: 'U32', shape: [1], data_offsets: [8, 12] });
    expect(header.a).toEqual({ dtype: 'I32', shape: [], data_offsets: [12, 16] });
    expect(header.c).toEqual({ dtype: 'BOOL', shape: [3], data_offsets: [16, 19] });
    expect(bytes.length).toBe(8 + n + 19);
    const data = new DataView(bytes.buffer, bytes.byteOffset + 8 + n);
    expect([data.getFloat32(0, true), data.getFloat32(4, true), data.getUint32(8, true), data.getInt32(12, true)]).toEqual([1, -2, 5, 7]);
    expect(Array.from(bytes.subarray(8 + n + 16))).toEqual([1, 0, 1]);
  });

  it('nested paths are joined with "." and rebuilt into objects and arrays', async () => {
    const tree = { blocks: [{ w: r.tensor([1]) }, { w: r.tensor([2]) }], out: { bias: r.tensor([3]) } };
    const bytes = await nn.serializeSafetensors(tree);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(Object.keys(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))))).toEqual(['blocks.0.w', 'blocks.1.w', 'out.bias']);
    const { tree: back } = nn.deserializeSafetensors<typeof tree>(bytes);
    expect(Array.isArray(back.blocks)).toBe(true);
    expect(Array.from(await back.blocks[1]!.w.toArray())).toEqual([2]);
  });

  it('writes exactly the bytes of the reference implementation, and reads its files', async () => {
    const tree = {
      blocks: [{ weight: r.tensor([[1.5, -2.0, 3.25], [0.0, 1e-3, -7.0]]) }, { weight: r.tensor([0.5]) }],
      step: r.scalar(42, 'int32'),
      counts: r.tensor(Uint32Array.from([1, 4294967295, 7])),
      mask: r.tensor([true, false, true, true]),
      empty: r.zeros([0, 3]),
    };
    const reference = new Uint8Array(await readFile(REFERENCE));
    const ours = await nn.serializeSafetensors(tree, { config: '{"lr":0.001}', step: '42' });
    expect(Buffer.from(ours).equals(Buffer.from(reference))).toBe(true);
    const loaded = nn.deserializeSafetensors(reference, { like: tree });
    expect(await describeTree(loaded.tree)).toEqual(await describeTree(tree));
    expect(loaded.metadata).toEqual({ config: '{"lr":0.001}', step: '42' });
  });

  it('saves atomically (no temporary file left, an existing file replaced whole) and loads back', async () => {
    const path = join(dir, 'model.safetensors');
    const model = nn.mlp({ inFeatures: 3, hiddenFeatures: 4 });
    const params = model.init(r.key(0));
    await nn.saveSafetensors(path, params, { step: '1' });
    const other = model.init(r.key(1));
    await nn.saveSafetensors(path, other, { step: '2' });
    expect(await readdir(dir)).toEqual(['model.safetensors']);
    const { tree, metadata } = await nn.loadSafetensors(path, { like: params });
    expect(metadata).toEqual({ step: '2' });
    expect(await describeTree(tree)).toEqual(await describeTree(other));
    // A tree that cannot be written leaves the previous file untouched and nothing beside it.
    const before = await readFile(path);
    await expect(nn.saveSafetensors(path, { bad: 3 })).rejects.toThrow(/leaf at 'bad' is a number/);
    expect((await readFile(path)).equals(before)).toBe(true);
    expect(await readdir(dir)).toEqual(['model.safetensors']);
    await writeFile(join(dir, 'broken.safetensors'), new Uint8Array(4));
    await expect(nn.loadSafetensors(join(dir, 'broken.safetensors'))).rejects.toThrow(/too short.*broken\.safetensors/);
  });

  it('an optimizer state and an EMA round-trip through a checkpoint and resume identically', async () => {
    const params = nn.linear({ inFeatures: 2, outFeatures: 2 }).init(r.key(3));
    const opt = nn.chain(nn.clipByGlobalNorm(1), nn.adamw({ learningRate: nn.cosineDecaySchedule({ init: 0.1, decaySteps: 10 }) }));
    const grads = r.treeMap(params, (p) => r.onesLike(p));
    const first = opt.update(grads, opt.init(params), params);
    const averager = nn.ema({ decay: 0.9 });
    const checkpoint = { params, opt: first.state, ema: averager.update(params, averager.init(params)) };
    const bytes = await nn.serializeSafetensors(checkpoint, { step: '1' });
    const template = { params, opt: opt.init(params), ema: averager.init(params) };
    const { tree } = nn.deserializeSafetensors(bytes, { like: template });
    expect(await describeTree(tree)).toEqual(await describeTree(checkpoint));
    const resumed = opt.update(grads, tree.opt, tree.params);
    const direct = opt.update(grads, first.state, params);
    expect(await describeTree(resumed)).toEqual(await describeTree(direct));
  });

  describe('refuses damaged files, naming the tensor and the problem', () => {
    const good = fileWith({ ...f32('a', [2], 0, 8), ...f32('b', [1], 8, 12) }, new Uint8Array(12));

    it('accepts the well-formed file these cases start from', () => {
      expect(Object.keys(nn.deserializeSafetensors(good).tree as object)).toEqual(['a', 'b']);
    });

    it('a file too short for the header size', () => {
      expect(loadError(new Uint8Array(5))).toMatch(/5 bytes, too short to hold the 8-byte header size/);
    });

    it('a truncated file: the last tensor runs past the end', () => {
      expect(loadError(good.subarray(0, good.length - 2))).toMatch(/tensor 'b': data_offsets \[8, 12\] exceed the data buffer of 10 bytes/);
    });

    it('a header size beyond the file', () => {
      const bytes = good.slice();
      new DataView(bytes.buffer).setBigUint64(0, 4096n, true);
      expect(loadError(bytes)).toMatch(/header size 4096 reaches beyond the end of the file/);
    });

    it('a header size above the 100 MB limit', () => {
      const bytes = good.slice();
      new DataView(bytes.buffer).setBigUint64(0, 2n ** 40n, true);
      expect(loadError(bytes)).toMatch(/exceeds the 100000000-byte limit/);
    });

    it('a header that is not JSON', () => {
      expect(loadError(fileWith(null, [], '{"a": {"dtype": "F32",'))).toMatch(/not valid JSON/);
      expect(loadError(fileWith(null, [], '[1, 2]'))).toMatch(/must be a JSON object/);
      const bytes = good.slice();
      bytes[9] = 0xff;
      expect(loadError(bytes)).toMatch(/not valid UTF-8/);
    });

    it('an entry without dtype, shape or offsets', () => {
      expect(loadError(fileWith({ w: { dtype: 'F32', shape: [1] } }, new Uint8Array(4)))).toMatch(/tensor 'w': expected \{ dtype: string, shape: number\[\], data_offsets/);
      expect(loadError(fileWith({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)))).toMatch(/tensor 'w': invalid shape/);
      expect(loadError(fileWith({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, new Uint8Array(4)))).toMatch(/tensor 'w': invalid data_offsets \[4, 0\]/);
    });

    it('overlapping offsets', () => {
      expect(loadError(fileWith({ ...f32('a', [2], 0, 8), ...f32('b', [1], 4, 8) }, new Uint8Array(8)))).toMatch(/tensor '(a|b)' .* overlaps tensor '(a|b)'/);
    });

    it('a hole between tensors', () => {
      expect(loadError(fileWith({ ...f32('a', [1], 0, 4), ...f32('b', [1], 8, 12) }, new Uint8Array(12)))).toMatch(/bytes \[4, 8\) before tensor 'b' belong to no tensor/);
    });

    it('bytes after the last tensor', () => {
      expect(loadError(fileWith(f32('a', [1], 0, 4), new Uint8Array(8)))).toMatch(/4 bytes after the last tensor 'a'/);
    });

    it('a dtype and shape that disagree with the byte count', () => {
      expect(loadError(fileWith(f32('w', [2, 3], 0, 20), new Uint8Array(20)))).toMatch(/tensor 'w': dtype F32 and shape \[2,3\] need 24 bytes but data_offsets \[0, 20\] span 20/);
    });

    it('an unsupported dtype', () => {
      expect(loadError(fileWith({ w: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)))).toMatch(/tensor 'w': unsupported dtype 'F16'/);
    });

    it('metadata that is not a map of strings', () => {
      expect(loadError(fileWith({ __metadata__: { step: 3 }, ...f32('a', [1], 0, 4) }, new Uint8Array(4)))).toMatch(/__metadata__ 'step' must be a string/);
    });

    it('paths that cannot form a tree', () => {
      expect(loadError(fileWith({ ...f32('a', [1], 0, 4), ...f32('a.b', [1], 4, 8) }, new Uint8Array(8)))).toMatch(/tensor 'a(\.b)?' .*(leaf|parent)/);
    });

    it('with `like`: a shape, dtype or set of tensors that does not match the model', async () => {
      const like = { a: r.zeros([2]), b: r.zeros([1]) };
      expect(loadError(good, { a: r.zeros([3]), b: r.zeros([1]) })).toMatch(/tensor 'a': the file has shape \[2\] but the model expects \[3\]/);
      expect(loadError(good, { a: r.zeros([2], 'int32'), b: r.zeros([1]) })).toMatch(/tensor 'a': the file has dtype F32 but the model expects I32/);
      expect(loadError(good, { ...like, c: r.zeros([1]) })).toMatch(/tensor 'c' \(F32 \[1\]\) is missing from the file/);
      expect(loadError(good, { a: like.a })).toMatch(/the file has tensor 'b', which the model does not have/);
      expect(Object.keys(nn.deserializeSafetensors(good, { like }).tree)).toEqual(['a', 'b']);
    });

    it('no tensor is made from a file that is refused', () => {
      const before = r.memoryStats().tensors;
      loadError(good.subarray(0, good.length - 1));
      loadError(good, { a: r.zeros([3]) });
      expect(r.memoryStats().tensors).toBe(before + 1);
    });
  });

  describe('readSafetensorsMetadata reads the header alone, validated as loading validates it', () => {
    const good = fileWith({ __metadata__: { step: '7', preset: '{"w":4}' }, ...f32('a', [2], 0, 8), ...f32('b', [1], 8, 12) }, new Uint8Array(12));
    const written = async (name: string, bytes: Uint8Array): Promise<string> => {
      const path = join(dir, name);
      await writeFile(path, bytes);
      return path;
    };

    it('gives the metadata of a good file, ours and the reference implementation\'s', async () => {
      expect(await nn.readSafetensorsMetadata(await written('meta-good.safetensors', good))).toEqual({ step: '7', preset: '{"w":4}' });
      expect(await nn.readSafetensorsMetadata(REFERENCE)).toEqual({ config: '{"lr":0.001}', step: '42' });
    });

    it('a header size above the 100 MB limit is refused (before anything that large is allocated), naming the file', async () => {
      const bytes = good.slice();
      new DataView(bytes.buffer).setBigUint64(0, BigInt(nn.MAX_HEADER_BYTES) + 8n, true);
      const path = await written('meta-huge.safetensors', bytes);
      await expect(nn.readSafetensorsMetadata(path)).rejects.toThrow(/header size 100000008 exceeds the 100000000-byte limit .*meta-huge\.safetensors/);
    });

    it('a truncated file is refused: a header past the end, a tensor past the end, or under 8 bytes', async () => {
      await expect(nn.readSafetensorsMetadata(await written('meta-cut-header.safetensors', good.subarray(0, 20)))).rejects.toThrow(/header size \d+ reaches beyond the end of the file \(20 bytes\)/);
      await expect(nn.readSafetensorsMetadata(await written('meta-cut-data.safetensors', good.subarray(0, good.length - 2)))).rejects.toThrow(/tensor 'b': data_offsets \[8, 12\] exceed the data buffer of 10 bytes/);
      await expect(nn.readSafetensorsMetadata(await written('meta-tiny.safetensors', new Uint8Array(5)))).rejects.toThrow(/5 bytes, too short to hold the 8-byte header size/);
    });

    it('a header that is not UTF-8 or not JSON is refused', async () => {
      const bytes = good.slice();
      bytes[9] = 0xff;
      await expect(nn.readSafetensorsMetadata(await written('meta-utf8.safetensors', bytes))).rejects.toThrow(/not valid UTF-8/);
      await expect(nn.readSafetensorsMetadata(await written('meta-json.safetensors', fileWith(null, [], '{"a": {"dtype": "F32",')))).rejects.toThrow(/not valid JSON/);
    });
  });

  it('refuses to write trees whose paths would be ambiguous', async () => {
    await expect(nn.serializeSafetensors({ 'a.b': r.zeros([1]) })).rejects.toThrow(/key 'a.b' under '<root>' .* contains '\.'/);
    await expect(nn.serializeSafetensors(r.zeros([1]))).rejects.toThrow(/root of the tree must be an object or an array/);
    await expect(nn.serializeSafetensors({ a: r.zeros([1]) }, { n: 3 as unknown as string })).rejects.toThrow(/metadata 'n' must be a string/);
  });
});
