/**
 * Issue 19: a crafted safetensors header cannot make loading allocate far more than the file holds.
 */
import { isLeft } from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { dispose } from '../../index.js';
import { decodeSafetensors, MAX_PATH_DEPTH } from '../../nn/safetensors.js';
import { fileWith } from './helpers.js';

/** A file whose tensors are `names`, each one float32 (the header padded to 8 as the format says). */
function fileOf(names: readonly string[]): Uint8Array {
  const header = Object.fromEntries(names.map((n, i) => [n, { dtype: 'F32', shape: [1], data_offsets: [4 * i, 4 * i + 4] }]));
  const json = new TextEncoder().encode(JSON.stringify(header));
  const size = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + size + 4 * names.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(size), true);
  out.fill(0x20, 8, 8 + size);
  out.set(json, 8);
  return out;
}

const errorOf = (bytes: Uint8Array): string => {
  const r = decodeSafetensors(bytes);
  return isLeft(r) ? r.left : 'loaded';
};

describe('safetensors: pytree indices and depth are bounded', () => {
  it("a key 'x.9999999' is refused by name instead of building a 10^7-slot array", () => {
    const started = Date.now();
    expect(errorOf(fileOf(['x.9999999']))).toMatch(/safetensors: index 9999999 under 'x' would build an array of 10000000 slots for 1 tensor path/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a sparse index deep in the tree is refused before any tensor is made; holes within the bound still load as null', () => {
    expect(errorOf(fileOf(['a.b.0', 'a.b.1000']))).toMatch(/index 1000 under 'a.b'/);
    const ok = decodeSafetensors(fileOf(['a.0', 'a.5']));
    expect(isLeft(ok)).toBe(false);
    if (!isLeft(ok)) {
      const a = (ok.right.tree as { a: unknown[] }).a;
      expect(a.length).toBe(6);
      expect(a.slice(1, 5)).toEqual([null, null, null, null]);
      dispose(a);
    }
  });

  it(`a path of more than ${MAX_PATH_DEPTH} segments is refused (no recursion as deep as the name)`, () => {
    expect(errorOf(fileOf([Array.from({ length: MAX_PATH_DEPTH + 1 }, () => 'a').join('.')]))).toMatch(/65 segments, more than the 64/);
    expect(errorOf(fileOf([Array.from({ length: MAX_PATH_DEPTH }, () => 'a').join('.')]))).toBe('loaded');
  });
});

describe('safetensors: what the format does not allow is refused', () => {
  const withHeader = (header: string, data: number[]): Uint8Array => fileWith(undefined, data, header);

  it('data_offsets of three numbers', () => {
    expect(errorOf(withHeader('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}', [0, 0, 0, 0]))).toMatch(/tensor 'x': expected \{ dtype: string, shape: number\[\], data_offsets: \[begin, end\] \}/);
  });

  it('a header that starts with a byte-order mark', () => {
    expect(errorOf(withHeader('\uFEFF{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', [0, 0, 0, 0]))).toMatch(/the header must be a JSON object starting with '\{'/);
  });

  it('a BOOL byte other than 0 or 1, before any tensor is made', () => {
    expect(errorOf(withHeader('{"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}', [1, 0, 2]))).toMatch(/tensor 'm': BOOL element 2 is the byte 2, not 0 or 1/);
    expect(errorOf(withHeader('{"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}', [1, 0, 1]))).toBe('loaded');
  });
});

describe('safetensors: deeply nested header JSON', () => {
  it('a tensor entry of 100,000 nested arrays is refused with a short message, not a stack overflow', () => {
    const header = `{"x":${'['.repeat(100_000)}${']'.repeat(100_000)},"m":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`;
    const json = new TextEncoder().encode(header);
    const size = Math.ceil(json.length / 8) * 8;
    const out = new Uint8Array(8 + size + 4);
    new DataView(out.buffer).setBigUint64(0, BigInt(size), true);
    out.fill(0x20, 8, 8 + size);
    out.set(json, 8);
    const message = errorOf(out);
    expect(message).toMatch(/^safetensors: tensor 'x': expected \{ dtype: string, shape: number\[\], data_offsets: \[begin, end\] \}, got \(a value nested too deeply to show\)$/);
  });
});
