import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32, crc32c, crc32cBytewise, maskCrc32c, maskedCrc32c, unmaskCrc32c } from '../../../experiments/formats/crc32c.js';
import { decodeExample, encodeExample, type DecodedFeature, type Feature } from '../../../experiments/formats/protobuf.js';
import { encodeTFRecord, readTFRecords, tfRecords, writeTFRecords } from '../../../experiments/formats/tfrecord.js';

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tfrecord-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

describe('crc32c', () => {
  it('matches the known answers of RFC 3720 (iSCSI) B.4 and the standard check value', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('crc32 (IEEE) matches its standard check value', () => {
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
    expect(crc32(ascii('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });

  it('slicing-by-8 equals the bit-by-bit definition, and a CRC continues across pieces', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (data, cutSeed) => {
        const cut = data.length === 0 ? 0 : cutSeed % (data.length + 1);
        const whole = crc32c(data);
        expect(whole).toBe(crc32cBytewise(data));
        expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(whole);
      }),
      { numRuns: 200 },
    );
  });

  it('the TFRecord mask is invertible and changes the value', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), (crc) => {
        expect(unmaskCrc32c(maskCrc32c(crc))).toBe(crc);
        expect(maskCrc32c(crc)).toBe((((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0);
      }),
    );
    expect(maskCrc32c(0)).toBe(0xa282ead8);
  });
});

// A deliberately separate, naive protobuf writer, so the decoder is not only checked against its own encoder.
type Field = readonly [field: number, wire: 0 | 1 | 2 | 5, payload: Uint8Array | number | bigint];
function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return out;
}
function message(...fields: Field[]): Uint8Array {
  const out: number[] = [];
  for (const [field, wire, payload] of fields) {
    out.push(...varint(field * 8 + wire));
    if (wire === 0) out.push(...varint(payload as number | bigint));
    else if (wire === 2) {
      const bytes = payload as Uint8Array;
      out.push(...varint(bytes.length), ...bytes);
    } else if (wire === 5) {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setFloat32(0, payload as number, true);
      out.push(...b);
    } else {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt(payload as number | bigint), true);
      out.push(...b);
    }
  }
  return Uint8Array.from(out);
}
const floatsPacked = (xs: number[]): Uint8Array => {
  const b = new Uint8Array(4 * xs.length);
  xs.forEach((x, i) => new DataView(b.buffer).setFloat32(4 * i, x, true));
  return b;
};

function normalize(features: Map<string, DecodedFeature>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, f] of features) {
    out[key] =
      f.kind === 'bytes'
        ? { kind: 'bytes', value: f.value.map((v) => Array.from(v)) }
        : f.kind === 'float'
          ? { kind: 'float', value: Array.from(f.value) }
          : { kind: 'int64', value: Array.from(f.value, (v) => v.toString()) };
  }
  return out;
}

const featureArbitrary: fc.Arbitrary<Feature> = fc.oneof(
  fc.record({ kind: fc.constant('bytes' as const), value: fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('float' as const), value: fc.float32Array({ maxLength: 12 }) }),
  fc.record({
    kind: fc.constant('int64' as const),
    value: fc.bigInt64Array({ maxLength: 12 }),
  }),
  fc.record({ kind: fc.constant('int64' as const), value: fc.array(fc.maxSafeInteger(), { maxLength: 12 }) }),
);
const exampleArbitrary = fc.uniqueArray(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 12 }), featureArbitrary), {
  selector: ([key]) => key,
  maxLength: 8,
});

function expected(entries: [string, Feature][]): Record<string, unknown> {
  return normalize(
    new Map(
      entries.map(([key, f]): [string, DecodedFeature] =>
        f.kind === 'int64' ? [key, { kind: 'int64', value: BigInt64Array.from(f.value as ArrayLike<number | bigint>, (v) => BigInt(v)) }] : [key, f],
      ),
    ),
  );
}

describe('protobuf: tf.train.Example', () => {
  it('decodes a hand-encoded Example (int64, float, bytes; packed)', () => {
    const feature = (list: number, body: Uint8Array): Uint8Array => message([list, 2, body]);
    const entry = (key: string, value: Uint8Array): Uint8Array => message([1, 2, ascii(key)], [2, 2, value]);
    const bytes = message([
      1,
      2,
      message(
        [1, 2, entry('ids', feature(3, message([1, 2, Uint8Array.from([1, ...varint(300), ...varint(-1)])])))],
        [1, 2, entry('xs', feature(2, message([1, 2, floatsPacked([1.5, -2])])))],
        [1, 2, entry('name', feature(1, message([1, 2, ascii('hi')], [1, 2, ascii('')])))],
      ),
    ]);
    expect(normalize(decodeExample(bytes))).toEqual({
      ids: { kind: 'int64', value: ['1', '300', '-1'] },
      xs: { kind: 'float', value: [1.5, -2] },
      name: { kind: 'bytes', value: [[104, 105], []] },
    });
  });

  it('reads unpacked and mixed lists, value-before-key entries, merged repeats, and skips unknown fields', () => {
    const entryValueFirst = (key: string, value: Uint8Array, ...extra: Field[]): Uint8Array =>
      message([2, 2, value], ...extra, [1, 2, ascii(key)]);
    const bytes = message(
      [7, 0, 12345], // unknown Example field
      [
        1,
        2,
        message(
          [9, 1, 77n], // unknown Features field
          [
            1,
            2,
            entryValueFirst(
              'floats',
              message(
                [2, 2, message([1, 5, 1], [4, 0, 3], [1, 2, floatsPacked([2, 3])], [1, 5, 4])],
                [5, 2, ascii('unknown Feature field')],
              ),
              [3, 5, 0.25], // unknown map-entry field
            ),
          ],
          [1, 2, entryValueFirst('ints', message([3, 2, message([1, 0, 5], [1, 2, Uint8Array.from(varint(-7))], [1, 0, 9])]))],
          // A Feature split over two value fields, and its list split over two list fields, merge.
          [1, 2, message([1, 2, ascii('split')], [2, 2, message([1, 2, message([1, 2, ascii('a')])])], [2, 2, message([1, 2, message([1, 2, ascii('b')])])])],
          [1, 2, message([1, 2, ascii('dup')], [2, 2, message([3, 2, message([1, 0, 1])])])],
          [1, 2, message([1, 2, ascii('dup')], [2, 2, message([3, 2, message([1, 0, 2])])])],
          // A oneof set twice: the last kind wins.
          [1, 2, message([1, 2, ascii('oneof')], [2, 2, message([3, 2, message([1, 0, 1])], [2, 2, message([1, 5, 8])])])],
          [1, 2, message([1, 2, ascii('empty-feature')], [2, 2, new Uint8Array(0)])],
        ),
      ],
      [8, 2, ascii('trailing unknown')],
    );
    expect(normalize(decodeExample(bytes))).toEqual({
      floats: { kind: 'float', value: [1, 2, 3, 4] },
      ints: { kind: 'int64', value: ['5', '-7', '9'] },
      split: { kind: 'bytes', value: [[97], [98]] },
      dup: { kind: 'int64', value: ['2'] },
      oneof: { kind: 'float', value: [8] },
    });
  });

  it('skips unknown groups', () => {
    const group = Uint8Array.from([...varint(5 * 8 + 3), ...varint(1 * 8 + 0), 42, ...varint(5 * 8 + 4)]);
    const features = message([1, 2, message([1, 2, ascii('k')], [2, 2, message([3, 2, message([1, 0, 3])])])]);
    const bytes = Uint8Array.from([...group, ...message([1, 2, features])]);
    expect(normalize(decodeExample(bytes))).toEqual({ k: { kind: 'int64', value: ['3'] } });
  });

  it('rejects malformed input with the byte offset', () => {
    const good = encodeExample({ a: { kind: 'float', value: Float32Array.of(1, 2) } });
    expect(() => decodeExample(good.subarray(0, good.length - 3))).toThrow(/protobuf: .* at byte \d+/);
    expect(() => decodeExample(Uint8Array.of(0x0a, 0x80))).toThrow(/truncated varint at byte 1/);
    expect(() => decodeExample(Uint8Array.of(0x0f))).toThrow(/invalid wire type 7/);
  });

  it('round trip: decode(encode(example)) is the example, for every legal layout', () => {
    fc.assert(
      fc.property(exampleArbitrary, fc.boolean(), fc.boolean(), (entries, packed, valueBeforeKey) => {
        const bytes = encodeExample(new Map(entries), { packed, valueBeforeKey });
        expect(normalize(decodeExample(bytes))).toEqual(expected(entries));
      }),
      { numRuns: 200 },
    );
  });

  it('packed and unpacked lists, and either entry order, decode the same', () => {
    fc.assert(
      fc.property(exampleArbitrary, (entries) => {
        const features = Object.fromEntries(entries);
        const reference = normalize(decodeExample(encodeExample(features)));
        for (const options of [{ packed: false }, { valueBeforeKey: true }, { packed: false, valueBeforeKey: true }]) {
          expect(normalize(decodeExample(encodeExample(features, options)))).toEqual(reference);
        }
      }),
      { numRuns: 120 },
    );
  });

  it('the default layout is what TensorFlow writes: packed, key before value', () => {
    const bytes = encodeExample({ a: { kind: 'int64', value: [1, 2] } });
    expect(Array.from(bytes)).toEqual([
      0x0a, 0x0d, 0x0a, 0x0b, 0x0a, 0x01, 0x61, 0x12, 0x06, 0x1a, 0x04, 0x0a, 0x02, 0x01, 0x02,
    ]);
  });

  it('refuses int64 numbers that are not safe integers', () => {
    expect(() => encodeExample({ a: { kind: 'int64', value: [2 ** 60] } })).toThrow(/safe integer/);
  });
});

/**
 * CRC-32C in its MSB-first form: the polynomial 0x1EDC6F41 unreflected, each byte bit-reversed on the
 * way in and the register reversed on the way out. It shares no code or table with experiments/formats/crc32c.ts
 * (reflected, 0x82F63B78), so the golden bytes below are not checked against the code under test.
 */
function reverseBits(value: number, bits: number): number {
  let out = 0;
  for (let i = 0; i < bits; i++) out = (out << 1) | ((value >>> i) & 1);
  return out >>> 0;
}
function independentCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc = (crc ^ (reverseBits(byte, 8) << 24)) >>> 0;
    for (let k = 0; k < 8; k++) crc = crc & 0x80000000 ? ((crc << 1) ^ 0x1edc6f41) >>> 0 : (crc << 1) >>> 0;
  }
  return (reverseBits(crc, 32) ^ 0xffffffff) >>> 0;
}
/** The mask from tensorflow/core/lib/hash/crc32c.h, unwound: rotate left 15 after subtracting the delta. */
const unmaskIndependently = (masked: number): number => {
  const rotated = (masked - 0xa282ead8) >>> 0;
  return ((rotated << 15) | (rotated >>> 17)) >>> 0;
};
const hex = (text: string): Uint8Array => Uint8Array.from(text.match(/../g) ?? [], (byte) => parseInt(byte, 16));
const u32le = (bytes: Uint8Array): number => new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);

/** test/fixtures/tfrecord/spec.tfrecord field by field (how it was made: its README.md). */
const SPEC_RECORDS = [
  { data: 'hello', length: '0500000000000000', lengthCrc: 'eab2043e', bytes: '68656c6c6f', dataCrc: 'bb1f1c19' },
  { data: '', length: '0000000000000000', lengthCrc: '29039807', bytes: '', dataCrc: 'd8ea82a2' },
  { data: '123456789', length: '0900000000000000', lengthCrc: '37f97139', bytes: '313233343536373839', dataCrc: 'e5b08ac7' },
];
const SPEC_FILE = fileURLToPath(new URL('../../fixtures/tfrecord/spec.tfrecord', import.meta.url));

describe('tfrecord: bytes as the specification (and TensorFlow) writes them', () => {
  it('the independent CRC-32C gives the standard check value and the RFC 3720 (iSCSI) B.4 vectors', () => {
    expect(independentCrc32c(ascii('123456789'))).toBe(0xe3069283);
    expect(independentCrc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(independentCrc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(independentCrc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(independentCrc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('the golden file is length, masked CRC of the length, data, masked CRC of the data, per record', async () => {
    const file = new Uint8Array(await readFile(SPEC_FILE));
    expect(Array.from(file)).toEqual(Array.from(hex(SPEC_RECORDS.map((r) => r.length + r.lengthCrc + r.bytes + r.dataCrc).join(''))));
    for (const record of SPEC_RECORDS) {
      expect(new TextDecoder().decode(hex(record.bytes))).toBe(record.data);
      expect(unmaskIndependently(u32le(hex(record.lengthCrc)))).toBe(independentCrc32c(hex(record.length)));
      expect(unmaskIndependently(u32le(hex(record.dataCrc)))).toBe(independentCrc32c(hex(record.bytes)));
    }
    // The third record's data is the check string, so its stored CRC unmasks to the check value itself.
    expect(unmaskIndependently(u32le(hex(SPEC_RECORDS[2]!.dataCrc)))).toBe(0xe3069283);
  });

  it('the library reads the golden file and writes it again byte for byte', async () => {
    const read = await collect(readTFRecords(SPEC_FILE));
    expect(read.map((data) => new TextDecoder().decode(data))).toEqual(SPEC_RECORDS.map((r) => r.data));
    const path = join(dir, 'spec-rewritten.tfrecord');
    await writeTFRecords(path, SPEC_RECORDS.map((r) => ascii(r.data)));
    expect(Array.from(new Uint8Array(await readFile(path)))).toEqual(Array.from(new Uint8Array(await readFile(SPEC_FILE))));
    expect(Array.from(encodeTFRecord(ascii('hello')))).toEqual(Array.from(hex('0500000000000000eab2043e68656c6c6fbb1f1c19')));
  });
});

describe('tfrecord', () => {
  it('frames a record as length, masked length CRC, data, masked data CRC', () => {
    const data = ascii('hello');
    const framed = encodeTFRecord(data);
    const view = new DataView(framed.buffer);
    expect(framed.length).toBe(8 + 4 + 5 + 4);
    expect(view.getBigUint64(0, true)).toBe(5n);
    expect(view.getUint32(8, true)).toBe(maskedCrc32c(framed.subarray(0, 8)));
    expect(Array.from(framed.subarray(12, 17))).toEqual(Array.from(data));
    expect(view.getUint32(17, true)).toBe(maskCrc32c(crc32c(data)));
  });

  it('round trip: what writeTFRecords writes, readTFRecords reads back, in order', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }), async (records) => {
        const path = join(dir, `roundtrip_${run++}.tfrecords`);
        expect(await writeTFRecords(path, records)).toBe(records.length);
        const back = await collect(readTFRecords(path));
        expect(back.map((r) => Array.from(r))).toEqual(records.map((r) => Array.from(r)));
        const expectedSize = records.reduce((n, r) => n + 16 + r.length, 0);
        expect((await readFile(path)).length).toBe(expectedSize);
      }),
      { numRuns: 25 },
    );
  });

  it('reports each record with its index and byte offset, and accepts async iterables', async () => {
    const path = join(dir, 'offsets.tfrecords');
    async function* source(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(10);
      yield new Uint8Array(0);
      yield new Uint8Array(3);
    }
    await writeTFRecords(path, source());
    const records = await collect(tfRecords(path));
    expect(records.map((r) => [r.index, r.offset, r.data.length])).toEqual([
      [0, 0, 10],
      [1, 26, 0],
      [2, 42, 3],
    ]);
  });

  describe('every corruption gives a clear error naming the file and byte offset', () => {
    // Records of 100, 200 and 50 bytes: they start at offsets 0, 116 and 332.
    const records = [100, 200, 50].map((n, k) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + k) & 0xff));
    const cases: [string, (bytes: Uint8Array) => Uint8Array, RegExp, number][] = [
      ['a flipped byte in the length', (b) => flip(b, 116 + 1), /length CRC mismatch in record 1 at byte offset 116\b/, 1],
      ['a flipped byte in the length CRC', (b) => flip(b, 116 + 10), /length CRC mismatch in record 1 at byte offset 116\b/, 1],
      ['a flipped byte in the data', (b) => flip(b, 116 + 12 + 150), /data CRC mismatch in record 1 at byte offset 116\b/, 1],
      ['a flipped byte in the data CRC', (b) => flip(b, 116 + 12 + 200 + 3), /data CRC mismatch in record 1 at byte offset 116\b/, 1],
      ['a truncated tail (inside the data)', (b) => b.subarray(0, b.length - 7), /truncated data in record 2 at byte offset 332\b/, 2],
      ['a truncated tail (inside the header)', (b) => b.subarray(0, 332 + 5), /truncated header in record 2 at byte offset 332\b/, 2],
      ['a truncated tail (only the data CRC missing)', (b) => b.subarray(0, b.length - 1), /truncated data in record 2 at byte offset 332\b/, 2],
    ];
    function flip(bytes: Uint8Array, at: number): Uint8Array {
      const copy = bytes.slice();
      copy[at]! ^= 0x10;
      return copy;
    }
    it.each(cases)('%s', async (_, corrupt, message, goodRecords) => {
      const clean = join(dir, `clean.tfrecords`);
      await writeTFRecords(clean, records);
      const name = `traj_${goodRecords}_corrupt_${Math.random().toString(36).slice(2)}.tfrecords`;
      const path = join(dir, name);
      await writeFile(path, corrupt(new Uint8Array(await readFile(clean))));
      const seen: Uint8Array[] = [];
      const error = await (async () => {
        try {
          for await (const record of readTFRecords(path)) seen.push(record);
        } catch (e) {
          return e as Error;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(Error);
      expect(error!.message).toContain(name);
      expect(error!.message).toMatch(message);
      // Records before the damage stream out intact before the error.
      expect(seen.length).toBe(goodRecords);
    });
  });

  it('writes atomically: a failing source leaves neither the file nor a temporary file behind', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const path = join(sub, 'out.tfrecords');
    function* failing(): Generator<Uint8Array> {
      yield new Uint8Array(5);
      throw new Error('source failed');
    }
    await expect(writeTFRecords(path, failing())).rejects.toThrow('source failed');
    expect(await readdir(sub)).toEqual([]);
    await writeTFRecords(path, [ascii('old')]);
    await expect(writeTFRecords(path, failing())).rejects.toThrow('source failed');
    expect((await collect(readTFRecords(path))).map((r) => new TextDecoder().decode(r))).toEqual(['old']);
    expect(await readdir(sub)).toEqual(['out.tfrecords']);
  });

  it('streams: the first record of a 3 GiB file (sparse: one real record, then a hole) comes back without reading the rest', async () => {
    // Node cannot hold a 3 GiB file in one Buffer (its limit is 2 GiB), so a reader that loaded the
    // whole file would throw here; a streaming one reads 12 + n + 4 bytes and yields. The hole
    // reads as zeros, whose length field 0 with a zero CRC is invalid: the second record fails.
    const path = join(dir, 'huge.tfrecords');
    const record = encodeTFRecord(new TextEncoder().encode('first record'));
    const handle = await open(path, 'w');
    await handle.write(record, 0, record.length, 0);
    await handle.truncate(3 * 2 ** 30);
    await handle.close();
    const it = readTFRecords(path)[Symbol.asyncIterator]();
    const before = process.memoryUsage().rss;
    const first = await it.next();
    expect(new TextDecoder().decode(first.value as Uint8Array)).toBe('first record');
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 2 ** 20);
    await expect(it.next()).rejects.toThrow(/huge\.tfrecords: .*record 1 at byte offset 28/);
    await rm(path);
  });

  it('names the file when it does not exist', async () => {
    await expect(collect(readTFRecords(join(dir, 'missing.tfrecords')))).rejects.toThrow(/missing\.tfrecords/);
  });
});
