import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32 as ourCrc32 } from '../../../experiments/formats/crc32c.js';
import { encodeGif, writeGif, type GifOptions } from '../../../experiments/formats/gif.js';
import { decodePng, encodePng, MAX_PNG_BYTES, writePng, type Image } from '../../../experiments/formats/png.js';

// Node >= 20.15 has zlib.crc32, an implementation independent of ours; older Node falls back to ours,
// which the tfrecord tests check against known answers.
const crc32: (data: Uint8Array) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? (d) => zlib.crc32(d) : (d) => ourCrc32(d);

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'image-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Chunk = { type: string; data: Uint8Array };

/** Walks a PNG's chunks, checking the signature and every CRC independently of png.ts. */
function pngChunks(bytes: Uint8Array): Chunk[] {
  expect(Array.from(bytes.subarray(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const chunks: Chunk[] = [];
  let at = 8;
  while (at < bytes.length) {
    const length = view.getUint32(at);
    const type = new TextDecoder().decode(bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    expect(view.getUint32(at + 8 + length), `CRC of ${type}`).toBe(crc32(bytes.subarray(at + 4, at + 8 + length)));
    chunks.push({ type, data });
    at += 12 + length;
  }
  expect(at).toBe(bytes.length);
  return chunks;
}

/** Undoes PNG's five scanline filters (spec section 9), written here without looking at png.ts. */
function unfilter(raw: Uint8Array, width: number, height: number, bpp: number): Uint8Array {
  const stride = width * bpp;
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const left = x >= bpp ? out[y * stride + x - bpp]! : 0;
      const up = y > 0 ? out[(y - 1) * stride + x]! : 0;
      const upLeft = x >= bpp && y > 0 ? out[(y - 1) * stride + x - bpp]! : 0;
      let predictor = 0;
      if (filter === 1) predictor = left;
      else if (filter === 2) predictor = up;
      else if (filter === 3) predictor = Math.floor((left + up) / 2);
      else if (filter === 4) {
        const p = left + up - upLeft;
        const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
        predictor = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      } else expect(filter).toBe(0);
      out[y * stride + x] = (raw[y * (stride + 1) + 1 + x]! + predictor) & 0xff;
    }
  }
  return out;
}

const imageArbitrary: fc.Arbitrary<Image> = fc
  .record({
    width: fc.integer({ min: 1, max: 12 }),
    height: fc.integer({ min: 1, max: 12 }),
    channels: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const),
    smooth: fc.boolean(),
  })
  .chain(({ width, height, channels, smooth }) => {
    const n = width * height * channels;
    // Smooth gradients make the encoder pick the predicting filters, noise mostly filter 0.
    const data = smooth
      ? fc.integer({ min: 0, max: 255 }).map((s) => Uint8Array.from({ length: n }, (_, k) => (s + k * 3 + Math.floor(k / (width * channels)) * 5) & 0xff))
      : fc.uint8Array({ minLength: n, maxLength: n });
    return data.map((d) => ({ width, height, channels, data: d }));
  });

describe('png', () => {
  it('has a valid signature, IHDR, chunk CRCs, and IDAT that inflates and unfilters to the pixels', () => {
    fc.assert(
      fc.property(imageArbitrary, (image) => {
        const chunks = pngChunks(encodePng(image));
        expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
        const ihdr = new DataView(chunks[0]!.data.buffer, chunks[0]!.data.byteOffset, 13);
        expect(chunks[0]!.data.length).toBe(13);
        expect(ihdr.getUint32(0)).toBe(image.width);
        expect(ihdr.getUint32(4)).toBe(image.height);
        expect(ihdr.getUint8(8)).toBe(8);
        expect(ihdr.getUint8(9)).toBe({ 1: 0, 2: 4, 3: 2, 4: 6 }[image.channels]);
        expect([ihdr.getUint8(10), ihdr.getUint8(11), ihdr.getUint8(12)]).toEqual([0, 0, 0]);
        const raw = new Uint8Array(zlib.inflateSync(chunks[1]!.data));
        expect(raw.length).toBe(image.height * (image.width * image.channels + 1));
        const pixels = unfilter(raw, image.width, image.height, image.channels);
        expect(Buffer.from(pixels).equals(Buffer.from(image.data))).toBe(true);
        expect(chunks[2]!.data.length).toBe(0);
      }),
      { numRuns: 120 },
    );
  });

  it('decodePng inverts encodePng', () => {
    fc.assert(
      fc.property(imageArbitrary, (image) => {
        const back = decodePng(encodePng(image));
        expect({ ...back, data: Array.from(back.data) }).toEqual({ ...image, data: Array.from(image.data) });
      }),
      { numRuns: 100 },
    );
  });

  it('decodePng rejects a damaged chunk by its CRC', () => {
    const bytes = encodePng({ width: 2, height: 2, channels: 1, data: Uint8Array.of(0, 64, 128, 255) });
    bytes[8 + 8 + 3]! ^= 1;
    expect(() => decodePng(bytes)).toThrow(/CRC mismatch in IHDR chunk at byte offset 8/);
  });

  it('refuses data of the wrong size', () => {
    expect(() => encodePng({ width: 2, height: 2, channels: 3, data: new Uint8Array(11) })).toThrow(/needs 12 bytes, got 11/);
  });

  /** A grayscale PNG whose IHDR says `width`×`height` and whose one IDAT holds `idat` (chunk CRCs valid). */
  function craftedPng(width: number, height: number, idat: Uint8Array): Uint8Array {
    const chunkOf = (type: string, data: Uint8Array) => {
      const out = new Uint8Array(12 + data.length);
      const view = new DataView(out.buffer);
      view.setUint32(0, data.length);
      for (let k = 0; k < 4; k++) out[4 + k] = type.charCodeAt(k);
      out.set(data, 8);
      view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
      return out;
    };
    const header = new Uint8Array(13);
    new DataView(header.buffer).setUint32(0, width);
    new DataView(header.buffer).setUint32(4, height);
    header[8] = 8;
    const parts = [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), chunkOf('IHDR', header), chunkOf('IDAT', idat), chunkOf('IEND', new Uint8Array(0))];
    return Uint8Array.from(parts.flatMap((p) => Array.from(p)));
  }

  it('a 1×1 image whose 16 kB IDAT inflates to 16 MiB is refused once inflation passes the 2 bytes its header declares', () => {
    const png = craftedPng(1, 1, new Uint8Array(zlib.deflateSync(new Uint8Array(16 << 20))));
    expect(png.length).toBeLessThan(20_000);
    expect(() => decodePng(png)).toThrow('decodePng: the image data inflates to more than the 2 bytes its 1x1 header declares (stopped there; a corrupt or crafted file)');
    expect(Array.from(decodePng(craftedPng(1, 1, new Uint8Array(zlib.deflateSync(Uint8Array.of(0, 7))))).data)).toEqual([7]);
  });

  it(`a header claiming 100000×100000 pixels is refused before anything is inflated (limit ${MAX_PNG_BYTES} bytes, maxBytes raises it)`, () => {
    const png = craftedPng(100_000, 100_000, new Uint8Array(zlib.deflateSync(new Uint8Array(10))));
    expect(() => decodePng(png)).toThrow('decodePng: the header declares a 100000x100000 image of 10000100000 bytes of scanlines, more than the limit of 268435456');
    expect(() => decodePng(craftedPng(4, 4, new Uint8Array(zlib.deflateSync(new Uint8Array(20)))), { maxBytes: 19 })).toThrow(/of 20 bytes of scanlines, more than the limit of 19/);
    expect(() => decodePng(craftedPng(0, 5, new Uint8Array(zlib.deflateSync(new Uint8Array(5)))))).toThrow(/declares a 0x5 image; width and height must be at least 1/);
  });

  it('writePng writes the file atomically', async () => {
    const sub = await mkdtemp(join(dir, 'png-'));
    const path = join(sub, 'x.png');
    const image: Image = { width: 3, height: 1, channels: 3, data: Uint8Array.of(255, 0, 0, 0, 255, 0, 0, 0, 255) };
    await writePng(path, image);
    expect(Array.from(decodePng(new Uint8Array(await readFile(path))).data)).toEqual(Array.from(image.data));
    expect(await readdir(sub)).toEqual(['x.png']);
  });
});

// An independent GIF reader: block structure (spec sections 17-26) and LZW decoding (appendix F).
type DecodedGif = {
  width: number;
  height: number;
  palette: Uint8Array;
  loop: number | undefined;
  frames: { delay: number; disposal: number; indices: Uint8Array }[];
};

function lzwDecode(data: Uint8Array, minCodeSize: number, pixels: number): Uint8Array {
  const clear = 1 << minCodeSize;
  const end = clear + 1;
  let dictionary: number[][] = [];
  const reset = (): void => {
    dictionary = Array.from({ length: clear + 2 }, (_, k) => (k < clear ? [k] : []));
  };
  reset();
  let codeSize = minCodeSize + 1;
  let bit = 0;
  const out: number[] = [];
  let previous: number[] | undefined;
  for (;;) {
    if (bit + codeSize > data.length * 8) throw new Error('LZW data ended without an end code');
    let code = 0;
    for (let k = 0; k < codeSize; k++, bit++) code |= ((data[bit >> 3]! >> (bit & 7)) & 1) << k;
    if (code === clear) {
      reset();
      codeSize = minCodeSize + 1;
      previous = undefined;
      continue;
    }
    if (code === end) break;
    let entry: number[];
    if (code < dictionary.length) entry = dictionary[code]!;
    else if (code === dictionary.length && previous !== undefined) entry = [...previous, previous[0]!];
    else throw new Error(`LZW code ${code} out of range (table has ${dictionary.length})`);
    if (previous !== undefined && dictionary.length < 4096) dictionary.push([...previous, entry[0]!]);
    out.push(...entry);
    if (dictionary.length === 1 << codeSize && codeSize < 12) codeSize++;
    previous = entry;
  }
  expect(out.length).toBe(pixels);
  return Uint8Array.from(out);
}

function decodeGif(bytes: Uint8Array): DecodedGif {
  const text = (a: number, b: number): string => new TextDecoder().decode(bytes.subarray(a, b));
  const u16 = (at: number): number => bytes[at]! | (bytes[at + 1]! << 8);
  expect(text(0, 6)).toBe('GIF89a');
  const width = u16(6);
  const height = u16(8);
  const packed = bytes[10]!;
  expect(packed & 0x80).toBe(0x80);
  const tableSize = 3 * (2 << (packed & 7));
  const palette = bytes.subarray(13, 13 + tableSize);
  let at = 13 + tableSize;
  const subBlocks = (): Uint8Array => {
    const parts: number[] = [];
    for (;;) {
      const size = bytes[at++]!;
      if (size === 0) return Uint8Array.from(parts);
      parts.push(...bytes.subarray(at, at + size));
      at += size;
    }
  };
  let loop: number | undefined;
  let delay = -1;
  let disposal = -1;
  const frames: DecodedGif['frames'] = [];
  for (;;) {
    const introducer = bytes[at++];
    if (introducer === 0x3b) break;
    if (introducer === 0x21) {
      const label = bytes[at++];
      if (label === 0xff) {
        const blockSize = bytes[at++]!;
        const identifier = text(at, at + blockSize);
        at += blockSize;
        const body = subBlocks();
        if (identifier === 'NETSCAPE2.0') {
          expect(body[0]).toBe(1);
          loop = body[1]! | (body[2]! << 8);
        }
      } else if (label === 0xf9) {
        const body = subBlocks();
        expect(body.length).toBe(4);
        disposal = (body[0]! >> 2) & 7;
        delay = body[1]! | (body[2]! << 8);
      } else subBlocks();
    } else if (introducer === 0x2c) {
      const [left, top, w, h] = [u16(at), u16(at + 2), u16(at + 4), u16(at + 6)];
      expect([left, top, w, h]).toEqual([0, 0, width, height]);
      expect(bytes[at + 8]! & 0xc0).toBe(0); // no local colour table, not interlaced
      at += 9;
      const minCodeSize = bytes[at++]!;
      frames.push({ delay, disposal, indices: lzwDecode(subBlocks(), minCodeSize, w * h) });
    } else throw new Error(`unexpected block introducer ${introducer} at byte ${at - 1}`);
  }
  expect(at).toBe(bytes.length);
  return { width, height, palette, loop, frames };
}

function colours(gif: DecodedGif, frame: number): Uint8Array {
  const { indices } = gif.frames[frame]!;
  const out = new Uint8Array(indices.length * 3);
  indices.forEach((index, p) => out.set(gif.palette.subarray(3 * index, 3 * index + 3), 3 * p));
  return out;
}

describe('gif', () => {
  it('grayscale: GIF89a, the NETSCAPE2.0 loop, one image per frame, pixels exact', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (width, height, count, loop, delayMs, seed) => {
          const frames = Array.from({ length: count }, (_, f) =>
            Uint8Array.from({ length: width * height }, (_, k) => (Math.imul(k + 31 * f, 2654435761) ^ seed) >>> 24),
          );
          const gif = decodeGif(encodeGif({ width, height, channels: 1, frames, delayMs, loop }));
          expect([gif.width, gif.height, gif.loop, gif.frames.length]).toEqual([width, height, loop, count]);
          for (let f = 0; f < count; f++) {
            expect(gif.frames[f]!.delay).toBe(Math.round(delayMs / 10));
            expect(Array.from(gif.frames[f]!.indices)).toEqual(Array.from(frames[f]!));
          }
          expect(Array.from(gif.palette.subarray(3 * 77, 3 * 78))).toEqual([77, 77, 77]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('LZW survives a full code table (clear codes mid-stream) and long runs', () => {
    const width = 160;
    const height = 120;
    const noise = Uint8Array.from({ length: width * height }, (_, k) => Math.imul(k, 2246822519) >>> 24);
    const flat = new Uint8Array(width * height).fill(9);
    const gif = decodeGif(encodeGif({ width, height, channels: 1, frames: [noise, flat] }));
    expect(gif.loop).toBe(0);
    expect(Buffer.from(gif.frames[0]!.indices).equals(Buffer.from(noise))).toBe(true);
    expect(Buffer.from(gif.frames[1]!.indices).equals(Buffer.from(flat))).toBe(true);
  });

  it('RGB, adaptive palette: a video with few colours comes back exactly', () => {
    const width = 16;
    const height = 16;
    const palette = Array.from({ length: 40 }, (_, c) => [(c * 53) & 0xf8, (c * 97) & 0xf8, (c * 151) & 0xf8]);
    const all = Uint8Array.from({ length: 3 * width * height * 3 }, (_, k) => palette[Math.floor(k / 3) % 37 % 40]![k % 3]!);
    const gif = decodeGif(encodeGif({ width, height, channels: 3, frames: all, delayMs: 50 }));
    expect(gif.frames.length).toBe(3);
    for (let f = 0; f < 3; f++) {
      const frame = all.subarray(f * width * height * 3, (f + 1) * width * height * 3);
      expect(Array.from(colours(gif, f))).toEqual(Array.from(frame));
    }
  });

  it('RGB, both palettes: every pixel lands near its colour', () => {
    const options = (palette: GifOptions['palette']): GifOptions => ({
      width: 24,
      height: 20,
      channels: 3,
      frames: Uint8Array.from({ length: 2 * 24 * 20 * 3 }, (_, k) => (k * 37 + Math.floor(k / 72) * 11) & 0xff),
      palette,
    });
    for (const [palette, tolerance] of [['fixed', 26], ['adaptive', 40]] as const) {
      const input = options(palette);
      const gif = decodeGif(encodeGif(input));
      expect(gif.frames.length).toBe(2);
      const frames = input.frames as Uint8Array;
      for (let f = 0; f < 2; f++) {
        const got = colours(gif, f);
        const want = frames.subarray(f * 1440, (f + 1) * 1440);
        let worst = 0;
        for (let k = 0; k < got.length; k++) worst = Math.max(worst, Math.abs(got[k]! - want[k]!));
        expect(worst, palette).toBeLessThanOrEqual(tolerance);
      }
    }
  });

  it('refuses frames of the wrong size', () => {
    expect(() => encodeGif({ width: 4, height: 4, channels: 3, frames: new Uint8Array(47) })).toThrow(/not a whole/);
    expect(() => encodeGif({ width: 4, height: 4, channels: 1, frames: [new Uint8Array(16), new Uint8Array(15)] })).toThrow(/frame 1 has 15 bytes/);
  });

  it('writeGif writes the file atomically', async () => {
    const sub = await mkdtemp(join(dir, 'gif-'));
    const path = join(sub, 'clip.gif');
    await writeGif(path, { width: 2, height: 2, channels: 1, frames: new Uint8Array(8), delayMs: 200 });
    const gif = decodeGif(new Uint8Array(await readFile(path)));
    expect(gif.frames.map((f) => f.delay)).toEqual([20, 20]);
    expect(await readdir(sub)).toEqual(['clip.gif']);
  });
});
