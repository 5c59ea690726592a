import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeNpy,
  encodeNpz,
  parseNpy,
  parseNpz,
  readNpy,
  readNpz,
  writeNpy,
  writeNpz,
  type NpyDtype,
  type NpyTypedArray,
} from '../../../experiments/formats/npy.js';
import { requireBairSample } from '../bairSample.js';


let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'npy-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A .npy file as NumPy lays it out, with the header text and version given by the test. */
function npyBytes(header: string, data: Uint8Array, major = 1): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const total = Math.ceil((prefix + header.length + 1) / 64) * 64;
  const text = new TextEncoder().encode(header.padEnd(total - prefix - 1, ' ') + '\n');
  const out = new Uint8Array(total + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, prefix);
  out.set(data, total);
  return out;
}

const bytesOf = (a: NpyTypedArray): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const plain = (a: NpyTypedArray): unknown[] => Array.from(a as ArrayLike<unknown>);

describe('npy', () => {
  it('parses a version 1.0 file as NumPy writes it', () => {
    const data = Float32Array.of(1, 2, 3, 4, 5, 6.5);
    const parsed = parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", bytesOf(data)));
    expect(parsed.dtype).toBe('<f4');
    expect(parsed.shape).toEqual([2, 3]);
    expect(parsed.data).toBeInstanceOf(Float32Array);
    expect(plain(parsed.data)).toEqual([1, 2, 3, 4, 5, 6.5]);
  });

  it('parses version 2.0 and 3.0 headers, scalars, 1-d shapes and double quotes', () => {
    const ints = Int32Array.of(-1, 7, 2 ** 31 - 1);
    const v2 = parseNpy(npyBytes(`{"descr": "<i4", "fortran_order": False, "shape": (3,)}`, bytesOf(ints), 2));
    expect(v2.shape).toEqual([3]);
    expect(plain(v2.data)).toEqual([-1, 7, 2 ** 31 - 1]);
    const v3 = parseNpy(npyBytes(`{'descr': '<f8', 'fortran_order': False, 'shape': (), }`, bytesOf(Float64Array.of(Math.PI)), 3));
    expect(v3.shape).toEqual([]);
    expect(plain(v3.data)).toEqual([Math.PI]);
  });

  it('reads big-endian data, booleans and half floats', () => {
    const big = new Uint8Array(8);
    new DataView(big.buffer).setInt32(0, -2, false);
    new DataView(big.buffer).setInt32(4, 300, false);
    expect(plain(parseNpy(npyBytes("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", big)).data)).toEqual([-2, 300]);

    const bools = parseNpy(npyBytes("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", Uint8Array.of(1, 0, 2)));
    expect(bools.data).toBeInstanceOf(Uint8Array);
    expect(plain(bools.data)).toEqual([1, 0, 1]);

    const halves = new Uint8Array(8);
    const hv = new DataView(halves.buffer);
    [0x3c00, 0xc000, 0x3800, 0x0001].forEach((bits, k) => hv.setUint16(2 * k, bits, true));
    const half = parseNpy(npyBytes("{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", halves));
    expect(half.dtype).toBe('<f2');
    expect(plain(half.data)).toEqual([1, -2, 0.5, Math.fround(2 ** -24)]);
  });

  it('rejects Fortran order, unsupported dtypes and truncation with errors that say so', () => {
    const data = new Uint8Array(16);
    expect(() => parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", data), 'x.npy')).toThrow(
      /x\.npy: Fortran-order arrays are not supported.*C order/,
    );
    expect(() => parseNpy(npyBytes("{'descr': '<U4', 'fortran_order': False, 'shape': (1,), }", data))).toThrow(
      /unsupported dtype '<U4' \(strings/,
    );
    expect(() => parseNpy(npyBytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", data))).toThrow(/pickle/);
    expect(() =>
      parseNpy(npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", data)),
    ).toThrow(/structured dtypes/);
    expect(() => parseNpy(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", data))).toThrow(
      /truncated .npy data.*needs 24 bytes, the file has 16/,
    );
    expect(() => parseNpy(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))).toThrow(/not a .npy file/);
  });

  const DTYPES: NpyDtype[] = ['|b1', '|i1', '|u1', '<i2', '<u2', '<i4', '<u4', '<i8', '<u8', '<f4', '<f8'];
  const dataArbitrary = (dtype: NpyDtype, n: number): fc.Arbitrary<NpyTypedArray> => {
    const size = { minLength: n, maxLength: n };
    switch (dtype) {
      case '|b1':
        return fc.array(fc.integer({ min: 0, max: 1 }), size).map((a) => Uint8Array.from(a));
      case '|i1':
        return fc.int8Array(size);
      case '|u1':
        return fc.uint8Array(size);
      case '<i2':
        return fc.int16Array(size);
      case '<u2':
        return fc.uint16Array(size);
      case '<i4':
        return fc.int32Array(size);
      case '<u4':
        return fc.uint32Array(size);
      case '<i8':
        return fc.bigInt64Array(size);
      case '<u8':
        return fc.bigUint64Array(size);
      case '<f4':
        return fc.float32Array(size);
      case '<f8':
        return fc.float64Array(size);
    }
  };
  const arrayArbitrary = fc
    .tuple(fc.constantFrom(...DTYPES), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }))
    .chain(([dtype, shape]) =>
      dataArbitrary(dtype, shape.reduce((a, b) => a * b, 1)).map((data) => ({ dtype, shape, data })),
    );

  it('round trip: parseNpy(encodeNpy(array)) is the array, for every dtype and shape', () => {
    fc.assert(
      fc.property(arrayArbitrary, fc.nat({ max: 7 }), (array, misalign) => {
        const bytes = encodeNpy(array);
        expect((bytes.length - array.data.byteLength) % 64).toBe(0);
        // Parse from an odd offset too, where the data cannot be viewed in place and must be copied.
        const shifted = new Uint8Array(bytes.length + misalign);
        shifted.set(bytes, misalign);
        for (const input of [bytes, shifted.subarray(misalign)]) {
          const parsed = parseNpy(input);
          expect(parsed.dtype).toBe(array.dtype);
          expect(parsed.shape).toEqual(array.shape);
          expect(parsed.data.constructor).toBe(array.data.constructor);
          expect(plain(parsed.data)).toEqual(plain(array.data));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('writeNpy and readNpy round trip through a file, atomically', async () => {
    const path = join(dir, 'x.npy');
    await writeNpy(path, { shape: [2, 2], data: Int16Array.of(1, -2, 3, 4) });
    const back = await readNpy(path);
    expect(back).toMatchObject({ dtype: '<i2', shape: [2, 2] });
    expect(plain(back.data)).toEqual([1, -2, 3, 4]);
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a dtype or shape that does not match the data', () => {
    expect(() => encodeNpy({ dtype: '<f8', shape: [2], data: Float32Array.of(1, 2) })).toThrow(/does not match/);
    expect(() => encodeNpy({ shape: [3], data: Float32Array.of(1, 2) })).toThrow(/holds 3 elements but the data has 2/);
  });
});

describe('npz', () => {
  const arrays = {
    weights: { shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) },
    mask: { dtype: '|b1' as const, shape: [3], data: Uint8Array.of(1, 0, 1) },
    step: { shape: [], data: BigInt64Array.of(-5n) },
  };

  it.each([
    ['stored', {}],
    ['deflated', { compress: true }],
    ['zip64', { zip64: true }],
    ['deflated zip64', { compress: true, zip64: true }],
  ])('round trip: a %s archive', async (_, options) => {
    const parsed = await parseNpz(encodeNpz(arrays, options));
    expect([...parsed.keys()]).toEqual(['weights', 'mask', 'step']);
    expect(parsed.get('weights')).toMatchObject({ dtype: '<f4', shape: [2, 3] });
    expect(plain(parsed.get('weights')!.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(parsed.get('mask')!.dtype).toBe('|b1');
    expect(plain(parsed.get('step')!.data)).toEqual([-5n]);
  });

  it('detects a corrupted member by its CRC-32, and a truncated archive', async () => {
    const bytes = encodeNpz({ a: { shape: [4], data: Float64Array.of(1, 2, 3, 4) } });
    const corrupt = bytes.slice();
    corrupt[30 + 'a.npy'.length + 130]! ^= 1;
    await expect(parseNpz(corrupt, 'c.npz')).rejects.toThrow(/c\.npz: entry 'a\.npy': CRC-32 mismatch/);
    await expect(parseNpz(bytes.subarray(0, bytes.length - 30), 't.npz')).rejects.toThrow(/t\.npz: not a zip archive/);
  });

  it('writeNpz and readNpz round trip through a file; `only` picks members', async () => {
    const path = join(dir, 'a.npz');
    await writeNpz(path, arrays, { compress: true });
    const some = await readNpz(path, { only: ['mask'] });
    expect([...some.keys()]).toEqual(['mask']);
    await expect(readNpz(path, { only: ['nope'] })).rejects.toThrow(/no array named 'nope'/);
  });

  it('reads the real BAIR sample written by NumPy (deflate, zip64 local headers)', async () => {
    const npz = await readNpz(requireBairSample());
    expect([...npz.keys()].sort()).toEqual(['action', 'aux1_image', 'image']);
    const aux1 = npz.get('aux1_image')!;
    expect(aux1.dtype).toBe('<i8');
    expect(aux1.shape).toEqual([30, 64, 64, 3]);
    let sum = 0n;
    let outOfRange = 0;
    for (const v of aux1.data as BigInt64Array) {
      sum += v;
      if (v < 0n || v > 255n) outOfRange++;
    }
    expect(outOfRange).toBe(0);
    // Known answers computed with NumPy from the same file.
    expect(sum).toBe(51355693n);
    const at = (t: number, y: number, x: number): number[] =>
      [0, 1, 2].map((c) => Number((aux1.data as BigInt64Array)[((t * 64 + y) * 64 + x) * 3 + c]));
    expect(at(0, 32, 32)).toEqual([142, 65, 22]);
    expect(at(29, 10, 50)).toEqual([206, 202, 197]);
    const action = npz.get('action')!;
    expect(action).toMatchObject({ dtype: '<f8', shape: [30, 4] });
    expect(Array.from(action.data as Float64Array).slice(0, 4)).toEqual([-0.03161339834332466, 0.011031427420675755, 0, 1]);
  });
});
