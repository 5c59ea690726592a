/**
 * Issue 19: crafted .npy and .npz files are refused by name before they can exhaust memory.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../../index.js';
import { npyDataset } from '../../../experiments/data/datasets.js';
import { encodeNpz, MAX_NPZ_ENTRY_BYTES, MAX_NPZ_TOTAL_BYTES, parseNpy, parseNpz, readNpz } from '../../../experiments/formats/npy.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rolling-npy-limits-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A version-1.0 .npy with the given header text (padded to 64 bytes as NumPy pads it) and data. */
function npyWithHeader(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  let text = header;
  while ((10 + text.length + 1) % 64 !== 0) text += ' ';
  text += '\n';
  const out = new Uint8Array(10 + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, text.length, true);
  out.set(new TextEncoder().encode(text), 10);
  out.set(data, 10 + text.length);
  return out;
}

describe('.npy: shapes that hold no data or more than the file are refused before allocating', () => {
  it('a 128-byte file of shape (1e8, 12, 0, 0, 1) is refused as data (it would make 10^8 clips)', async () => {
    const path = join(dir, 'empty-huge.npy');
    const bytes = npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000, 12, 0, 0, 1), }");
    expect(bytes.length).toBe(128);
    await writeFile(path, bytes);
    const started = Date.now();
    await expect(npyDataset(path)).rejects.toThrow(/empty-huge\.npy has shape \[100000000,12,0,0,1\], which holds no data/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a dimension too large for a number ([Infinity, 0] once parsed) or a product past 2^53 is refused', () => {
    expect(() => parseNpy(npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': (1${'0'.repeat(400)}, 0), }`), 'inf.npy')).toThrow(/inf\.npy: invalid shape/);
    expect(() => parseNpy(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 0), }"), 'big.npy')).toThrow(/big\.npy: the \.npy shape .* more than 2\^53/);
  });

  it("a header with '__proto__', a repeated key or an extra key is refused, as NumPy refuses it", () => {
    expect(() => parseNpy(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), '__proto__': 1, }", new Uint8Array(4)), 'p.npy')).toThrow(/p\.npy: the \.npy header must have exactly the keys/);
    expect(() => parseNpy(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'shape': (2,), }", new Uint8Array(8)), 'd.npy')).toThrow(/d\.npy: cannot parse the .npy header \(the key "shape" is repeated/);
    expect(() => parseNpy(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 0, }", new Uint8Array(4)), 'e.npy')).toThrow(/e\.npy: .*exactly the keys/);
    expect(parseNpy(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)), 'ok.npy').data).toEqual(new Float32Array(1));
  });
});

describe('.npz: inflation is capped', () => {
  const zeros = (n: number) => ({ x: { shape: [n], data: new Uint8Array(n) } });

  it('a member whose declared inflated size passes the limit is refused before it is inflated', async () => {
    const npz = encodeNpz(zeros(1 << 20), { compress: true });
    expect(npz.length).toBeLessThan(1 << 14);
    await expect(parseNpz(npz, 'bomb.npz', { maxEntryBytes: 1 << 16 })).rejects.toThrow(/bomb\.npz: entry 'x\.npy' declares \d+ bytes once inflated, more than the limit of 65536/);
    const path = join(dir, 'bomb.npz');
    await writeFile(path, npz);
    await expect(readNpz(path, { maxEntryBytes: 1 << 16 })).rejects.toThrow(/bomb\.npz: entry 'x\.npy' declares/);
    expect((await parseNpz(npz, 'bomb.npz')).get('x')!.data.length).toBe(1 << 20);
    expect(MAX_NPZ_ENTRY_BYTES).toBeLessThanOrEqual(2 ** 31);
  });

  it('a member that inflates past the size its directory declares is stopped there (not inflated, then checked)', async () => {
    const npz = encodeNpz(zeros(1 << 20), { compress: true });
    const view = new DataView(npz.buffer, npz.byteOffset, npz.length);
    let central = -1;
    for (let at = npz.length - 4; at >= 0; at--) if (view.getUint32(at, true) === 0x02014b50) { central = at; break; }
    expect(central).toBeGreaterThan(0);
    view.setUint32(central + 24, 1000, true);
    await expect(parseNpz(npz, 'liar.npz')).rejects.toThrow(/liar\.npz: entry 'x\.npy': inflates to more than the 1000 bytes its directory declares/);
  });
});

describe('.npz: the members read together are capped too (overlapping zip bombs)', () => {
  /**
   * A .npz whose directory lists `count` members, 'a.npy', 'b.npy', …, all pointing at the one deflated
   * member of `npz` (the overlapping zip bomb: each is inflated anew), optionally declaring `declared` bytes.
   */
  function overlapping(npz: Uint8Array, count: number, declared?: number): Uint8Array {
    const view = new DataView(npz.buffer, npz.byteOffset, npz.length);
    const eocd = npz.length - 22;
    expect(view.getUint32(eocd, true)).toBe(0x06054b50);
    const directoryOffset = view.getUint32(eocd + 16, true);
    const central = npz.slice(directoryOffset, eocd);
    const out = new Uint8Array(directoryOffset + count * central.length + 22);
    out.set(npz.subarray(0, directoryOffset));
    for (let k = 0; k < count; k++) {
      const entry = central.slice();
      entry[46] = 0x61 + k; // the member's name: 'a.npy', 'b.npy', …
      if (declared !== undefined) new DataView(entry.buffer).setUint32(24, declared, true);
      out.set(entry, directoryOffset + k * central.length);
    }
    const tail = new DataView(out.buffer, out.length - 22);
    tail.setUint32(0, 0x06054b50, true);
    tail.setUint16(8, count, true);
    tail.setUint16(10, count, true);
    tail.setUint32(12, count * central.length, true);
    tail.setUint32(16, directoryOffset, true);
    return out;
  }
  const member = (n: number) => encodeNpz({ x: { shape: [n], data: new Uint8Array(n) } }, { compress: true });

  it('five members sharing one 1 MiB deflate stream (5 MiB from 2 kB) pass the per-member cap but not a total of 4 MiB', async () => {
    const bomb = overlapping(member(1 << 20), 5);
    expect(bomb.length).toBeLessThan(1 << 12);
    expect([...(await parseNpz(bomb, 'bomb.npz')).keys()]).toEqual(['a', 'b', 'c', 'd', 'e']);
    await expect(parseNpz(bomb, 'bomb.npz', { maxTotalBytes: 4 << 20 })).rejects.toThrow(/bomb\.npz: its 5 members declare 52435\d\d bytes in all once inflated, more than the limit of 4194304 \(a zip bomb, e\.g\. members sharing one deflate stream/);
    const path = join(dir, 'overlap.npz');
    await writeFile(path, bomb);
    await expect(readNpz(path, { maxTotalBytes: 4 << 20 })).rejects.toThrow(/overlap\.npz: its 5 members declare/);
    expect((await readNpz(path, { only: ['a', 'b'], maxTotalBytes: 4 << 20 })).size).toBe(2);
  });

  it(`at the default limits: three members each declaring 1 GiB (the per-member limit) are refused from the directory, before any is inflated (total limit ${MAX_NPZ_TOTAL_BYTES})`, async () => {
    const bomb = overlapping(member(1024), 3, MAX_NPZ_ENTRY_BYTES);
    const started = Date.now();
    await expect(parseNpz(bomb, 'gigabytes.npz')).rejects.toThrow(`gigabytes.npz: its 3 members declare ${3 * MAX_NPZ_ENTRY_BYTES} bytes in all once inflated, more than the limit of ${MAX_NPZ_TOTAL_BYTES}`);
    expect(Date.now() - started).toBeLessThan(500);
  });
});

describe('.npy: a header nested deeply is refused by name', () => {
  it('30,000 nested tuples in the shape (a 60 kB header): a named error showing at most 200 characters of the header, not a stack overflow', () => {
    const deep = npyWithHeader(`{'descr': '<f4', 'fortran_order': False, 'shape': ${'('.repeat(30_000)}${')'.repeat(30_000)}, }`);
    let message = '';
    try {
      parseNpy(deep, 'deep.npy');
    } catch (e) {
      expect(e).not.toBeInstanceOf(RangeError);
      message = (e as Error).message;
    }
    expect(message).toMatch(/^deep\.npy: cannot parse the \.npy header \(nesting deeper than 64 \(a corrupt or crafted header\) at character \d+\): "\{'descr'.*…$/);
    expect(message.length).toBeLessThan(400);
    expect(parseNpy(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2), }"), 'ok.npy').shape).toEqual([0, 2]);
  });
});
