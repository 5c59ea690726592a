/**
 * PNG images (ISO/IEC 15948, www.w3.org/TR/png-3): an 8-bit encoder for grayscale, gray+alpha, RGB
 * and RGBA, and a small decoder for the same (non-interlaced, 8-bit) kinds, used to check outputs.
 *
 * Layout: the 8-byte signature, then chunks `u32 length (big-endian) | type | data | CRC-32 of type
 * and data`: IHDR, one IDAT holding the zlib stream of filtered scanlines, IEND. Each scanline gets
 * the filter that minimises the sum of absolute filtered bytes, the heuristic the PNG specification
 * recommends (section 12.8), which usually compresses best.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import { crc32 } from './crc32c.js';
import { writeFileAtomic } from './atomicWrite.js';

/** An 8-bit image: `height` rows of `width` pixels of `channels` bytes (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA). */
export type Image = {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 2 | 3 | 4;
  readonly data: Uint8Array;
};

export const PNG_SIGNATURE: readonly number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const COLOR_TYPE_OF_CHANNELS = { 1: 0, 2: 4, 3: 2, 4: 6 } as const;
const CHANNELS_OF_COLOR_TYPE: Readonly<Record<number, 1 | 2 | 3 | 4>> = { 0: 1, 4: 2, 2: 3, 6: 4 };

function checkImage(image: Image, who: string): void {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`${who}: width and height must be positive integers, got ${width}x${height}`);
  }
  if (![1, 2, 3, 4].includes(channels)) throw new Error(`${who}: channels must be 1, 2, 3 or 4, got ${channels}`);
  if (data.length !== width * height * channels) {
    throw new Error(
      `${who}: a ${width}x${height} image with ${channels} channels needs ${width * height * channels} bytes, got ${data.length}`,
    );
  }
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Filters a scanline with filter type `type` into `out` (without the type byte). */
function filterRow(type: number, row: Uint8Array, previous: Uint8Array, bpp: number, out: Uint8Array): void {
  for (let x = 0; x < row.length; x++) {
    const a = x >= bpp ? row[x - bpp]! : 0;
    const b = previous[x]!;
    const c = x >= bpp ? previous[x - bpp]! : 0;
    const predictor = type === 0 ? 0 : type === 1 ? a : type === 2 ? b : type === 3 ? (a + b) >>> 1 : paeth(a, b, c);
    out[x] = (row[x]! - predictor) & 0xff;
  }
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let k = 0; k < 4; k++) out[4 + k] = type.charCodeAt(k);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encodes an 8-bit image as PNG bytes. */
export function encodePng(image: Image): Uint8Array {
  checkImage(image, 'encodePng');
  const { width, height, channels, data } = image;
  const stride = width * channels;
  const filtered = new Uint8Array(height * (stride + 1));
  const candidate = new Uint8Array(stride);
  const zeros = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = data.subarray(y * stride, (y + 1) * stride);
    const previous = y > 0 ? data.subarray((y - 1) * stride, y * stride) : zeros;
    let bestType = 0;
    let bestCost = Infinity;
    for (let type = 0; type < 5; type++) {
      filterRow(type, row, previous, channels, candidate);
      let cost = 0;
      // Bytes are read as signed, so small negative residues count as small.
      for (let x = 0; x < stride; x++) cost += candidate[x]! < 128 ? candidate[x]! : 256 - candidate[x]!;
      if (cost < bestCost) {
        bestCost = cost;
        bestType = type;
      }
    }
    const at = y * (stride + 1);
    filtered[at] = bestType;
    filterRow(bestType, row, previous, channels, filtered.subarray(at + 1, at + 1 + stride));
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header[8] = 8; // bit depth
  header[9] = COLOR_TYPE_OF_CHANNELS[channels];
  // Bytes 10-12: compression 0 (deflate), filter method 0 (adaptive), interlace 0 (none).
  const parts = [
    Uint8Array.from(PNG_SIGNATURE),
    chunk('IHDR', header),
    chunk('IDAT', new Uint8Array(deflateSync(filtered, { level: 9 }))),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Writes an image as a PNG file, atomically. */
export async function writePng(path: string, image: Image): Promise<void> {
  await writeFileAtomic(path, encodePng(image));
}

/**
 * The most bytes of filtered scanlines (height × (width × channels + 1)) `decodePng` inflates unless
 * `maxBytes` says otherwise: an 8192×8192 RGBA image. The header's size is checked against it before
 * anything is inflated, and inflation stops at the size the header declares, so a small file cannot
 * claim (or inflate to) gigabytes.
 */
export const MAX_PNG_BYTES = 2 ** 28;

/**
 * Decodes a non-interlaced 8-bit grayscale, gray+alpha, RGB or RGBA PNG (what `encodePng` writes,
 * and what most tools write for such images), checking every chunk CRC.
 */
export function decodePng(bytes: Uint8Array, options: { readonly maxBytes?: number } = {}): Image {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, k) => bytes[k] !== b)) throw new Error('decodePng: not a PNG (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let offset = 8;
  let header: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  for (;;) {
    if (offset + 12 > bytes.length) throw new Error(`decodePng: truncated chunk at byte offset ${offset}`);
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    if (offset + 12 + length > bytes.length) throw new Error(`decodePng: truncated ${type} chunk at byte offset ${offset}`);
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (crc32(bytes.subarray(offset + 4, offset + 8 + length)) !== view.getUint32(offset + 8 + length)) {
      throw new Error(`decodePng: CRC mismatch in ${type} chunk at byte offset ${offset}`);
    }
    offset += 12 + length;
    if (type === 'IHDR') header = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
  }
  if (header === undefined || header.length !== 13) throw new Error('decodePng: missing or malformed IHDR');
  const hv = new DataView(header.buffer, header.byteOffset, 13);
  const width = hv.getUint32(0);
  const height = hv.getUint32(4);
  const channels = CHANNELS_OF_COLOR_TYPE[header[9]!];
  if (header[8] !== 8 || channels === undefined || header[12] !== 0) {
    throw new Error(`decodePng: only non-interlaced 8-bit gray/RGB(A) images are supported (depth ${header[8]}, colour type ${header[9]}, interlace ${header[12]})`);
  }
  const stride = width * channels;
  const expected = height * (stride + 1);
  const maxBytes = options.maxBytes ?? MAX_PNG_BYTES;
  if (width < 1 || height < 1) throw new Error(`decodePng: the header declares a ${width}x${height} image; width and height must be at least 1`);
  if (expected > maxBytes) {
    throw new Error(`decodePng: the header declares a ${width}x${height} image of ${expected} bytes of scanlines, more than the limit of ${maxBytes} (a corrupt or crafted file; pass maxBytes to read it)`);
  }
  const compressed = new Uint8Array(idat.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of idat) {
    compressed.set(part, at);
    at += part.length;
  }
  let raw: Uint8Array;
  try {
    // Inflated chunk by chunk, stopping as soon as the output passes what the header declares.
    raw = new Uint8Array(inflateSync(compressed, { maxOutputLength: expected }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new Error(`decodePng: the image data inflates to more than the ${expected} bytes its ${width}x${height} header declares (stopped there; a corrupt or crafted file)`);
    }
    throw new Error(`decodePng: corrupt image data (${(error as Error).message})`);
  }
  if (raw.length < expected) throw new Error('decodePng: image data is shorter than the header says');
  const data = new Uint8Array(height * stride);
  const zeros = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const type = raw[y * (stride + 1)]!;
    if (type > 4) throw new Error(`decodePng: invalid filter type ${type} on row ${y}`);
    const filtered = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = data.subarray(y * stride, (y + 1) * stride);
    const previous = y > 0 ? data.subarray((y - 1) * stride, y * stride) : zeros;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? row[x - channels]! : 0;
      const b = previous[x]!;
      const c = x >= channels ? previous[x - channels]! : 0;
      const predictor = type === 0 ? 0 : type === 1 ? a : type === 2 ? b : type === 3 ? (a + b) >>> 1 : paeth(a, b, c);
      row[x] = (filtered[x]! + predictor) & 0xff;
    }
  }
  return { width, height, channels, data };
}
