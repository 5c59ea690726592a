/**
 * Issue 19: truncated files, flipped bytes and crafted headers end in an error that names the file and
 * the problem (never a TypeError, a RangeError or a crash), in bounded time.
 */
import fc from 'fast-check';
import { isLeft } from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import * as r from '../../../index.js';
import { encodeNpy, encodeNpz, parseNpy, parseNpz } from '../../../experiments/formats/npy.js';
import { decodeExample, encodeExample } from '../../../experiments/formats/protobuf.js';
import { decodeSafetensors, serializeSafetensors } from '../../../nn/safetensors.js';

/** A change to a file: cut it short, flip a byte, or both. */
const damage = (length: number) =>
  fc.oneof(
    fc.record({ cut: fc.integer({ min: 0, max: Math.max(0, length - 1) }), flips: fc.constant([] as [number, number][]) }),
    fc.record({ cut: fc.constant(length), flips: fc.array(fc.tuple(fc.integer({ min: 0, max: length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }) }),
  );

function apply(bytes: Uint8Array, d: { cut: number; flips: [number, number][] }): Uint8Array {
  const out = bytes.slice(0, d.cut);
  for (const [at, x] of d.flips) if (at < out.length) out[at]! ^= x;
  return out;
}

/** The error of `f`, which must be a plain Error (not a TypeError or RangeError), or undefined when it succeeds. */
async function errorOf(f: () => unknown): Promise<Error | undefined> {
  try {
    await f();
    return undefined;
  } catch (e) {
    return e as Error;
  }
}

describe('fuzz: damaged files give named errors, in bounded time', () => {
  it('safetensors: every truncation and flipped byte loads or is refused with a safetensors: message', async () => {
    const bytes = await serializeSafetensors({ a: [r.tensor([1, 2, 3]), r.tensor([[1, 0], [0, 1]], undefined, 'bool')], b: { c: r.tensor(new Int32Array([7, 8]), [2]) } }, { note: 'x' });
    fc.assert(
      fc.property(damage(bytes.length), (d) => {
        const started = Date.now();
        let result;
        try {
          result = decodeSafetensors(apply(bytes, d));
        } catch (e) {
          throw new Error(`threw instead of returning an error: ${(e as Error).stack}`);
        }
        if (isLeft(result)) expect(result.left).toMatch(/^safetensors: /);
        else r.dispose(result.right.tree);
        expect(Date.now() - started).toBeLessThan(500);
      }),
      { numRuns: 400 },
    );
  });

  it('.npy and .npz: every truncation and flipped byte parses or is refused naming the file', async () => {
    const npy = encodeNpy({ shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) });
    const npz = encodeNpz({ x: { shape: [4], data: new Uint8Array([1, 2, 3, 4]) }, y: { shape: [2], data: new Float64Array([0.5, 2]) } }, { compress: true });
    await fc.assert(
      fc.asyncProperty(fc.boolean(), damage(Math.max(npy.length, npz.length)), async (isNpz, d) => {
        const file = isNpz ? npz : npy;
        const damaged = apply(file, { cut: Math.min(d.cut, file.length), flips: d.flips.filter(([at]) => at < file.length) });
        const started = Date.now();
        const e = await errorOf(() => (isNpz ? parseNpz(damaged, 'fuzz.npz') : parseNpy(damaged, 'fuzz.npy')));
        if (e !== undefined) {
          expect(e.constructor, e.stack).toBe(Error);
          expect(e.message).toMatch(isNpz ? /^fuzz\.npz/ : /^fuzz\.npy: /);
        }
        expect(Date.now() - started).toBeLessThan(500);
      }),
      { numRuns: 400 },
    );
  });

  it('TFRecord Examples: every truncation and flipped byte decodes or is refused with a protobuf: message', () => {
    const example = encodeExample({ '0/image_aux1/encoded': { kind: 'bytes', value: [new Uint8Array(16)] }, '0/action': { kind: 'float', value: new Float32Array([1, 2, 3, 4]) } });
    fc.assert(
      fc.property(damage(example.length), (d) => {
        const started = Date.now();
        const e = (() => {
          try {
            decodeExample(apply(example, d));
            return undefined;
          } catch (error) {
            return error as Error;
          }
        })();
        if (e !== undefined) {
          expect(e.constructor, e.stack).toBe(Error);
          expect(e.message).toMatch(/^protobuf: /);
        }
        expect(Date.now() - started).toBeLessThan(500);
      }),
      { numRuns: 400 },
    );
  });
});
