/**
 * Issue 19: a crafted TFRecord Example is refused by name, in bounded time and memory: no recursion as
 * deep as its groups, no allocation for frames before they are checked.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bairVideoFromExample } from '../../../experiments/data/bair.js';
import { maskedCrc32c } from '../../../experiments/formats/crc32c.js';
import { readTFRecords, tfRecordHeader } from '../../../experiments/formats/tfrecord.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rolling-record-limits-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
import { decodeExample, encodeExample, MAX_EXAMPLE_ITEMS, MAX_GROUP_DEPTH, type DecodedFeature, type Feature } from '../../../experiments/formats/protobuf.js';

/** An Example holding only an unknown field 15 made of `depth` nested groups. */
function nestedGroups(depth: number): Uint8Array {
  const out = new Uint8Array(2 * depth);
  out.fill((15 << 3) | 3, 0, depth);
  out.fill((15 << 3) | 4, depth);
  return out;
}

describe('protobuf: nested groups are bounded', () => {
  it(`100,000 nested groups are refused by name (protobuf's limit of ${MAX_GROUP_DEPTH}), not a stack overflow`, () => {
    expect(() => decodeExample(nestedGroups(100_000))).toThrow(/protobuf: groups nested more than 100 deep .* at byte 100 of the Example/);
    expect(() => decodeExample(nestedGroups(101))).toThrow(/groups nested more than 100 deep/);
  });

  it('groups up to the limit are skipped as unknown fields', () => {
    expect(decodeExample(nestedGroups(MAX_GROUP_DEPTH)).size).toBe(0);
  });
});

describe('BAIR: frames are checked before their memory is allocated', () => {
  it('an Example of 400,000 one-byte frames is refused naming the first, without allocating 400,000 × 12,288 bytes', () => {
    const one: DecodedFeature = { kind: 'bytes', value: [new Uint8Array(1)] };
    const features = new Map<string, DecodedFeature>(Array.from({ length: 400_000 }, (_, i) => [`${i}/image_aux1/encoded`, one] as [string, DecodedFeature]));
    const started = Date.now();
    expect(() => bairVideoFromExample(features, 'aux1', 'crafted.tfrecords record 0')).toThrow(/crafted\.tfrecords record 0: '0\/image_aux1\/encoded' has 1 bytes; expected 12288 raw bytes/);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

/** An Example with one feature 'k' whose bytes_list holds `count` empty byte strings (2 bytes each on the wire). */
function emptyByteStrings(count: number): Uint8Array {
  return encodeExample(new Map<string, Feature>([['k', { kind: 'bytes', value: Array.from({ length: count }, () => new Uint8Array(0)) }]]));
}

describe('protobuf: the values an Example decodes into are bounded', () => {
  it(`more than ${MAX_EXAMPLE_ITEMS} byte strings (2 MB that would decode into 120 MB of objects, 60 times its size) are refused by name`, () => {
    const crafted = emptyByteStrings(MAX_EXAMPLE_ITEMS);
    expect(crafted.length).toBeLessThan(2.1e6);
    expect(() => decodeExample(crafted)).toThrow(new RegExp(`protobuf: more than ${MAX_EXAMPLE_ITEMS} byte strings and features in one Example \\(a crafted or corrupt record; .*\\) at byte \\d+ of the Example`));
    expect((decodeExample(crafted, { maxItems: MAX_EXAMPLE_ITEMS + 1 }).get('k') as { value: readonly Uint8Array[] }).value.length).toBe(MAX_EXAMPLE_ITEMS);
  });

  it('features count too: maxItems features pass, one more is refused', () => {
    const features = (n: number) => encodeExample(new Map<string, Feature>(Array.from({ length: n }, (_, i) => [`f${i}`, { kind: 'float', value: new Float32Array([i]) }] as [string, Feature])));
    expect(decodeExample(features(10), { maxItems: 10 }).size).toBe(10);
    expect(() => decodeExample(features(11), { maxItems: 10 })).toThrow(/more than 10 byte strings and features in one Example/);
  });
});

describe('TFRecord: a length field is trusted only as far as the file reaches', () => {
  /** A file whose one record announces `length` data bytes (its length CRC valid) and holds `have` bytes after the header. */
  async function crafted(name: string, length: number, have: number): Promise<string> {
    const path = join(dir, name);
    const bytes = new Uint8Array(12 + have);
    bytes.set(tfRecordHeader(length));
    await writeFile(path, bytes);
    return path;
  }
  const drain = async (path: string) => {
    for await (const record of readTFRecords(path)) void record;
  };

  for (const [what, length] of [['1 GiB', 2 ** 30], ['2^50 bytes', 2 ** 50], ['2^53 − 1 bytes', Number.MAX_SAFE_INTEGER]] as const) {
    it(`a 20-byte file whose length field (with a valid CRC) announces ${what} is refused as truncated, before anything that size is allocated`, async () => {
      const path = await crafted(`huge-${length}.tfrecords`, length, 8);
      const started = Date.now();
      await expect(drain(path)).rejects.toThrow(`${path}: truncated data in record 0 at byte offset 0: the header announces ${length} data bytes + 4 CRC bytes, the file has 8 left`);
      expect(Date.now() - started).toBeLessThan(500);
    });
  }

  it('the length is checked against what is left after earlier records, not against the whole file', async () => {
    const path = join(dir, 'second.tfrecords');
    const first = new Uint8Array(12 + 3 + 4);
    first.set(tfRecordHeader(3));
    new DataView(first.buffer).setUint32(15, maskedCrc32c(new Uint8Array(3)), true);
    const second = new Uint8Array(12 + 30);
    second.set(tfRecordHeader(40));
    const file = new Uint8Array(first.length + second.length);
    file.set(first);
    file.set(second, first.length);
    await writeFile(path, file);
    await expect(drain(path)).rejects.toThrow(`${path}: truncated data in record 1 at byte offset 19: the header announces 40 data bytes + 4 CRC bytes, the file has 30 left`);
  });
});
