/**
 * Issue 19: a crafted TFRecord Example is refused by name, in bounded time and memory: no recursion as
 * deep as its groups, no allocation for frames before they are checked.
 */
import { describe, expect, it } from 'vitest';
import { bairVideoFromExample } from '../../experiments/bair.js';
import { decodeExample, MAX_GROUP_DEPTH, type DecodedFeature } from '../../experiments/protobuf.js';

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
