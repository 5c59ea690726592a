/**
 * Animated GIF89a (www.w3.org/Graphics/GIF/spec-gif89a.txt), for looking at video samples in any
 * browser or image viewer.
 *
 * One global 256-colour palette serves every frame:
 * - grayscale frames use the 256 grays, so they are stored losslessly;
 * - RGB frames use either a palette fitted to the video by median cut over a 5-bit-per-channel
 *   histogram ('adaptive', the default) or the fixed 6x7x6 colour cube ('fixed'; green gets the extra
 *   level because the eye resolves it best). No dithering: it would make frame differences noisy.
 * Each frame is a Graphic Control Extension (its delay) and a full-size image, LZW-compressed with
 * variable-width codes up to 12 bits; the NETSCAPE2.0 application extension makes the animation loop.
 */
import { writeFileAtomic } from './atomicWrite.js';

export type GifOptions = {
  readonly width: number;
  readonly height: number;
  /** 1: grayscale, 3: RGB; pixels are HWC uint8. */
  readonly channels: 1 | 3;
  /** The frames, each `height * width * channels` bytes: one buffer holding them all, or a list. */
  readonly frames: Uint8Array | readonly Uint8Array[];
  /**
   * Time each frame is shown, in milliseconds (stored in hundredths of a second). Default 100.
   * Browsers show delays under 20 ms as 100 ms.
   */
  readonly delayMs?: number;
  /** How many times to repeat the animation; 0 (the default) repeats forever. */
  readonly loop?: number;
  /** Palette for RGB frames. Default 'adaptive'. */
  readonly palette?: 'adaptive' | 'fixed';
};

/** 256 colours, RGB, 768 bytes. */
type Palette = Uint8Array;

function grayPalette(): Palette {
  const palette = new Uint8Array(768);
  for (let k = 0; k < 256; k++) palette.fill(k, 3 * k, 3 * k + 3);
  return palette;
}

const CUBE_LEVELS = [6, 7, 6] as const;

function cubePalette(): Palette {
  const palette = new Uint8Array(768);
  const [levelsR, levelsG, levelsB] = CUBE_LEVELS;
  for (let r = 0; r < levelsR; r++) {
    for (let g = 0; g < levelsG; g++) {
      for (let b = 0; b < levelsB; b++) {
        const k = (r * levelsG + g) * levelsB + b;
        palette[3 * k] = Math.round((255 * r) / (levelsR - 1));
        palette[3 * k + 1] = Math.round((255 * g) / (levelsG - 1));
        palette[3 * k + 2] = Math.round((255 * b) / (levelsB - 1));
      }
    }
  }
  return palette;
}

function cubeIndex(r: number, g: number, b: number): number {
  const [levelsR, levelsG, levelsB] = CUBE_LEVELS;
  const qr = Math.round((r * (levelsR - 1)) / 255);
  const qg = Math.round((g * (levelsG - 1)) / 255);
  const qb = Math.round((b * (levelsB - 1)) / 255);
  return (qr * levelsG + qg) * levelsB + qb;
}

const BINS = 32 * 32 * 32;

function binOf(r: number, g: number, b: number): number {
  return ((r >>> 3) << 10) | ((g >>> 3) << 5) | (b >>> 3);
}

/**
 * Median cut (Heckbert, 1982) on a histogram of 5-bit colours: repeatedly split the box with the
 * most pixels times its widest extent, at the pixel median of that widest channel. Returns the
 * palette (box means) and, for every histogram bin that occurs, its nearest palette entry.
 */
function medianCutPalette(frames: readonly Uint8Array[]): { palette: Palette; indexOfBin: Uint8Array } {
  const counts = new Float64Array(BINS);
  const sums = new Float64Array(BINS * 3);
  for (const frame of frames) {
    for (let p = 0; p < frame.length; p += 3) {
      const bin = binOf(frame[p]!, frame[p + 1]!, frame[p + 2]!);
      counts[bin]!++;
      sums[3 * bin] += frame[p]!;
      sums[3 * bin + 1] += frame[p + 1]!;
      sums[3 * bin + 2] += frame[p + 2]!;
    }
  }
  const used: number[] = [];
  for (let bin = 0; bin < BINS; bin++) if (counts[bin]! > 0) used.push(bin);
  const channel = (bin: number, c: number): number => (bin >>> (10 - 5 * c)) & 31;
  type Box = { bins: number[]; pixels: number; extent: number; axis: number };
  const makeBox = (bins: number[]): Box => {
    let pixels = 0;
    let extent = -1;
    let axis = 0;
    for (const bin of bins) pixels += counts[bin]!;
    for (let c = 0; c < 3; c++) {
      let low = 31;
      let high = 0;
      for (const bin of bins) {
        const v = channel(bin, c);
        if (v < low) low = v;
        if (v > high) high = v;
      }
      if (high - low > extent) {
        extent = high - low;
        axis = c;
      }
    }
    return { bins, pixels, extent, axis };
  };
  const boxes: Box[] = used.length > 0 ? [makeBox(used)] : [];
  while (boxes.length < 256) {
    let best = -1;
    let bestScore = 0;
    boxes.forEach((box, k) => {
      const score = box.extent > 0 ? box.pixels * box.extent : 0;
      if (score > bestScore) {
        bestScore = score;
        best = k;
      }
    });
    if (best < 0) break;
    const box = boxes[best]!;
    const sorted = [...box.bins].sort((a, b) => channel(a, box.axis) - channel(b, box.axis));
    let seen = 0;
    let cut = 1;
    for (; cut < sorted.length; cut++) {
      seen += counts[sorted[cut - 1]!]!;
      if (seen >= box.pixels / 2) break;
    }
    // Both halves must keep at least one bin, even when one bin holds most of the pixels.
    cut = Math.min(Math.max(cut, 1), sorted.length - 1);
    boxes.splice(best, 1, makeBox(sorted.slice(0, cut)), makeBox(sorted.slice(cut)));
  }
  const palette = new Uint8Array(768);
  boxes.forEach((box, k) => {
    const total = [0, 0, 0];
    for (const bin of box.bins) for (let c = 0; c < 3; c++) total[c]! += sums[3 * bin + c]!;
    for (let c = 0; c < 3; c++) palette[3 * k + c] = Math.round(total[c]! / box.pixels);
  });
  const indexOfBin = new Uint8Array(BINS);
  for (const bin of used) {
    const r = sums[3 * bin]! / counts[bin]!;
    const g = sums[3 * bin + 1]! / counts[bin]!;
    const b = sums[3 * bin + 2]! / counts[bin]!;
    let nearest = 0;
    let nearestDistance = Infinity;
    for (let k = 0; k < boxes.length; k++) {
      const d = (palette[3 * k]! - r) ** 2 + (palette[3 * k + 1]! - g) ** 2 + (palette[3 * k + 2]! - b) ** 2;
      if (d < nearestDistance) {
        nearestDistance = d;
        nearest = k;
      }
    }
    indexOfBin[bin] = nearest;
  }
  return { palette, indexOfBin };
}

/** Palette indices for every frame, and the palette. */
function quantize(options: GifOptions, frames: readonly Uint8Array[]): { palette: Palette; indexed: Uint8Array[] } {
  if (options.channels === 1) return { palette: grayPalette(), indexed: [...frames] };
  const pixels = options.width * options.height;
  if ((options.palette ?? 'adaptive') === 'fixed') {
    const indexed = frames.map((frame) => {
      const out = new Uint8Array(pixels);
      for (let p = 0; p < pixels; p++) out[p] = cubeIndex(frame[3 * p]!, frame[3 * p + 1]!, frame[3 * p + 2]!);
      return out;
    });
    return { palette: cubePalette(), indexed };
  }
  const { palette, indexOfBin } = medianCutPalette(frames);
  const indexed = frames.map((frame) => {
    const out = new Uint8Array(pixels);
    for (let p = 0; p < pixels; p++) out[p] = indexOfBin[binOf(frame[3 * p]!, frame[3 * p + 1]!, frame[3 * p + 2]!)]!;
    return out;
  });
  return { palette, indexed };
}

/** A growable byte buffer. */
type ByteSink = { bytes: Uint8Array; length: number };

function reserve(sink: ByteSink, extra: number): void {
  if (sink.length + extra <= sink.bytes.length) return;
  const grown = new Uint8Array(Math.max(sink.bytes.length * 2, sink.length + extra));
  grown.set(sink.bytes.subarray(0, sink.length));
  sink.bytes = grown;
}

function pushBytes(sink: ByteSink, values: ArrayLike<number>): void {
  reserve(sink, values.length);
  for (let k = 0; k < values.length; k++) sink.bytes[sink.length++] = values[k]!;
}

function push(sink: ByteSink, ...values: number[]): void {
  pushBytes(sink, values);
}

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

function pushU16(sink: ByteSink, value: number): void {
  push(sink, value & 0xff, (value >>> 8) & 0xff);
}

const MIN_CODE_SIZE = 8;
const MAX_CODES = 4096;

/**
 * GIF's variant of LZW (spec appendix F): codes are written least-significant bit first, start at
 * MIN_CODE_SIZE + 1 bits and widen when the next code to assign no longer fits; at 4096 codes the
 * encoder emits a clear code and starts a fresh table.
 */
function lzw(indices: Uint8Array): Uint8Array {
  const clearCode = 1 << MIN_CODE_SIZE;
  const endCode = clearCode + 1;
  const out: ByteSink = { bytes: new Uint8Array(Math.max(64, indices.length)), length: 0 };
  let bitBuffer = 0;
  let bitCount = 0;
  let codeSize = MIN_CODE_SIZE + 1;
  const emit = (code: number): void => {
    bitBuffer |= code << bitCount;
    bitCount += codeSize;
    while (bitCount >= 8) {
      reserve(out, 1);
      out.bytes[out.length++] = bitBuffer & 0xff;
      bitBuffer >>>= 8;
      bitCount -= 8;
    }
  };
  let table = new Map<number, number>();
  let nextCode = endCode + 1;
  emit(clearCode);
  if (indices.length === 0) {
    emit(endCode);
  } else {
    let prefix = indices[0]!;
    for (let p = 1; p < indices.length; p++) {
      const k = indices[p]!;
      const key = (prefix << 8) | k;
      const found = table.get(key);
      if (found !== undefined) {
        prefix = found;
        continue;
      }
      emit(prefix);
      if (nextCode === MAX_CODES) {
        emit(clearCode);
        table = new Map();
        nextCode = endCode + 1;
        codeSize = MIN_CODE_SIZE + 1;
      } else {
        // The decoder adds its entry one code later, so it widens exactly when this entry needs it.
        if (nextCode >= 1 << codeSize) codeSize++;
        table.set(key, nextCode++);
      }
      prefix = k;
    }
    emit(prefix);
    emit(endCode);
  }
  if (bitCount > 0) push(out, bitBuffer & 0xff);
  return out.bytes.subarray(0, out.length);
}

function splitFrames(options: GifOptions): Uint8Array[] {
  const frameBytes = options.width * options.height * options.channels;
  if (!(options.frames instanceof Uint8Array)) {
    options.frames.forEach((frame, k) => {
      if (frame.length !== frameBytes) {
        throw new Error(`encodeGif: frame ${k} has ${frame.length} bytes; ${options.width}x${options.height}x${options.channels} needs ${frameBytes}`);
      }
    });
    return [...options.frames];
  }
  const all = options.frames;
  if (all.length === 0 || all.length % frameBytes !== 0) {
    throw new Error(`encodeGif: ${all.length} bytes is not a whole, positive number of ${options.width}x${options.height}x${options.channels} frames`);
  }
  return Array.from({ length: all.length / frameBytes }, (_, k) => all.subarray(k * frameBytes, (k + 1) * frameBytes));
}

/** Encodes frames as a looping animated GIF89a. */
export function encodeGif(options: GifOptions): Uint8Array {
  const { width, height, channels } = options;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 0xffff || height > 0xffff) {
    throw new Error(`encodeGif: width and height must be integers in 1..65535, got ${width}x${height}`);
  }
  if (channels !== 1 && channels !== 3) throw new Error(`encodeGif: channels must be 1 (gray) or 3 (RGB), got ${channels}`);
  const frames = splitFrames(options);
  if (frames.length === 0) throw new Error('encodeGif: no frames');
  const delay = Math.max(0, Math.min(0xffff, Math.round((options.delayMs ?? 100) / 10)));
  const loop = options.loop ?? 0;
  if (!Number.isInteger(loop) || loop < 0 || loop > 0xffff) throw new Error(`encodeGif: loop must be an integer in 0..65535, got ${loop}`);
  const { palette, indexed } = quantize(options, frames);

  const sink: ByteSink = { bytes: new Uint8Array(1024 + frames.length * width * height), length: 0 };
  pushBytes(sink, ascii('GIF89a'));
  pushU16(sink, width);
  pushU16(sink, height);
  // Global colour table present, 8 bits of colour resolution, unsorted, 2^(7+1) = 256 entries.
  push(sink, 0xf7, 0, 0);
  pushBytes(sink, palette);
  push(sink, 0x21, 0xff, 11, ...ascii('NETSCAPE2.0'), 3, 1);
  pushU16(sink, loop);
  push(sink, 0);
  for (const frame of indexed) {
    // Graphic Control Extension: disposal 1 (leave in place), no transparency.
    push(sink, 0x21, 0xf9, 4, 1 << 2);
    pushU16(sink, delay);
    push(sink, 0, 0);
    // Image Descriptor: the full canvas, no local colour table, not interlaced.
    push(sink, 0x2c);
    pushU16(sink, 0);
    pushU16(sink, 0);
    pushU16(sink, width);
    pushU16(sink, height);
    push(sink, 0, MIN_CODE_SIZE);
    const data = lzw(frame);
    for (let at = 0; at < data.length; at += 255) {
      const block = data.subarray(at, at + 255);
      push(sink, block.length);
      pushBytes(sink, block);
    }
    push(sink, 0);
  }
  push(sink, 0x3b);
  return sink.bytes.slice(0, sink.length);
}

/** Writes frames as a looping animated GIF file, atomically. */
export async function writeGif(path: string, options: GifOptions): Promise<void> {
  await writeFileAtomic(path, encodeGif(options));
}
