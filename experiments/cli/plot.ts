/**
 * Pictures for the command line: a strip of frames (generated above ground truth) and a small line
 * chart, rendered into RGB pixels without any graphics dependency.
 */
import { toBytes } from '../data/datasets.js';

export interface RGBImage {
  width: number;
  height: number;
  channels: 3;
  data: Uint8Array;
}

function blank(width: number, height: number, value = 255): RGBImage {
  return { width, height, channels: 3, data: new Uint8Array(width * height * 3).fill(value) };
}

/** Pixels [height, width, channels] enlarged `scale` times by repeating each pixel (nearest neighbour). */
export function upscaleNearest(data: Uint8Array, width: number, height: number, channels: number, scale: number): Uint8Array {
  if (scale === 1) return data;
  const out = new Uint8Array(data.length * scale * scale);
  const rowBytes = width * scale * channels;
  for (let y = 0; y < height; y++) {
    const row = out.subarray(y * scale * rowBytes, (y * scale + 1) * rowBytes);
    for (let x = 0; x < width; x++) {
      const px = data.subarray((y * width + x) * channels, (y * width + x + 1) * channels);
      for (let k = 0; k < scale; k++) row.set(px, (x * scale + k) * channels);
    }
    for (let k = 1; k < scale; k++) out.copyWithin((y * scale + k) * rowBytes, y * scale * rowBytes, (y * scale + 1) * rowBytes);
  }
  return out;
}

/** Rows of frames ([frames, H, W, C] in [−1, 1] each), scaled by an integer factor, 2-pixel gaps. */
export function frameGrid(rows: readonly Float32Array[], frames: number, h: number, w: number, c: number, scale = 2): RGBImage {
  const gap = 2;
  const width = frames * (w * scale + gap) + gap;
  const height = rows.length * (h * scale + gap) + gap;
  const img = blank(width, height, 40);
  rows.forEach((row, r) => {
    for (let f = 0; f < frames; f++) {
      const { data, channels } = toBytes(row.subarray(f * h * w * c, (f + 1) * h * w * c), c);
      for (let y = 0; y < h * scale; y++) {
        for (let x = 0; x < w * scale; x++) {
          const src = (Math.floor(y / scale) * w + Math.floor(x / scale)) * channels;
          const dst = ((gap + r * (h * scale + gap) + y) * width + gap + f * (w * scale + gap) + x) * 3;
          for (let k = 0; k < 3; k++) img.data[dst + k] = data[src + (channels === 1 ? 0 : k)]!;
        }
      }
    }
  });
  return img;
}

// A 3×5 pixel font: enough for axis numbers and short labels.
const FONT: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111', '4': '101101111001001',
  '5': '111100111001111', '6': '111100111101111', '7': '111001010010010', '8': '111101111101111', '9': '111101111001111',
  '.': '000000000000010', '-': '000000111000000', 'e': '000111101110111', ' ': '000000000000000', ':': '000010000010000',
  A: '010101111101101', B: '110101110101110', C: '011100100100011', D: '110101101101110', E: '111100110100111', F: '111100110100100',
  G: '011100101101011', H: '101101111101101', I: '111010010010111', K: '101110100110101', L: '100100100100111', M: '101111111101101',
  N: '111101101101101', O: '010101101101010', P: '110101110100100', R: '110101110110101', S: '011100010001110', T: '111010010010010',
  U: '101101101101111', V: '101101101101010', W: '101101111111101', X: '101101010101101', Y: '101101010010010',
};

function text(img: RGBImage, s: string, x0: number, y0: number, colour: readonly number[], scale = 2): void {
  let x = x0;
  for (const ch of s.toUpperCase() === s ? s : s.toUpperCase()) {
    const glyph = FONT[ch] ?? FONT[ch.toUpperCase()] ?? FONT[' ']!;
    for (let gy = 0; gy < 5; gy++) {
      for (let gx = 0; gx < 3; gx++) {
        if (glyph[gy * 3 + gx] !== '1') continue;
        for (let sy = 0; sy < scale; sy++) for (let sx = 0; sx < scale; sx++) setPixel(img, x + gx * scale + sx, y0 + gy * scale + sy, colour);
      }
    }
    x += 4 * scale;
  }
}

function setPixel(img: RGBImage, x: number, y: number, colour: readonly number[]): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const o = (Math.round(y) * img.width + Math.round(x)) * 3;
  img.data[o] = colour[0]!;
  img.data[o + 1] = colour[1]!;
  img.data[o + 2] = colour[2]!;
}

function line(img: RGBImage, x0: number, y0: number, x1: number, y1: number, colour: readonly number[]): void {
  const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1) * 2;
  for (let i = 0; i <= n; i++) {
    const x = x0 + ((x1 - x0) * i) / n;
    const y = y0 + ((y1 - y0) * i) / n;
    setPixel(img, x, y, colour);
    setPixel(img, x + 1, y, colour);
  }
}

// Matplotlib's tab10, first eight: Figure 4 draws eight rows.
export const COLOURS: readonly (readonly number[])[] = [[31, 119, 180], [214, 39, 40], [44, 160, 44], [148, 103, 189], [255, 127, 14], [140, 86, 75], [227, 119, 194], [127, 127, 127]];

function fmt(v: number): string {
  return Math.abs(v) >= 100 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : v.toFixed(Math.abs(v) < 1 ? 3 : 1);
}

/** Series of y values against 1…n, one colour each, with a title, y range labels and a legend. */
export function lineChart(title: string, series: readonly { label: string; values: readonly number[] }[], width = 480, height = 300): RGBImage {
  const img = blank(width, height);
  const left = 70, right = 20, top = 40, bottom = 40;
  const all = series.flatMap((s) => s.values.filter(Number.isFinite));
  const lo = Math.min(0, ...all);
  const hi = Math.max(...all, lo + 1e-9);
  const n = Math.max(...series.map((s) => s.values.length), 2);
  const px = (i: number) => left + ((width - left - right) * i) / (n - 1);
  const py = (v: number) => height - bottom - ((height - top - bottom) * (v - lo)) / (hi - lo);
  const axis = [60, 60, 60];
  line(img, left, top, left, height - bottom, axis);
  line(img, left, height - bottom, width - right, height - bottom, axis);
  text(img, title, left, 10, axis);
  text(img, fmt(hi), 4, top - 4, axis);
  text(img, fmt(lo), 4, height - bottom - 8, axis);
  text(img, '1', left - 2, height - bottom + 8, axis);
  text(img, String(n), width - right - 12, height - bottom + 8, axis);
  text(img, 'STEP', (width - 32) / 2, height - bottom + 20, axis);
  series.forEach((s, k) => {
    const c = COLOURS[k % COLOURS.length]!;
    for (let i = 1; i < s.values.length; i++) line(img, px(i - 1), py(s.values[i - 1]!), px(i), py(s.values[i]!), c);
    text(img, s.label, width - right - 120, top + 4 + k * 14, c);
  });
  return img;
}

/** Stack images vertically (centred), for one picture with several charts. */
export function stackImages(images: readonly RGBImage[]): RGBImage {
  const width = Math.max(...images.map((i) => i.width));
  const height = images.reduce((s, i) => s + i.height, 0);
  const out = blank(width, height);
  let y0 = 0;
  for (const img of images) {
    const x0 = Math.floor((width - img.width) / 2);
    for (let y = 0; y < img.height; y++) out.data.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y0 + y) * width + x0) * 3);
    y0 += img.height;
  }
  return out;
}
