/** Canvas drawing: video frames, the local-time maps of Figure 2 and line charts. */
import type { LocalTimes } from '../../diffusion/index.js';

export type Rgb = readonly [number, number, number];

export const CLEAN_COLOUR: Rgb = [46, 158, 88];
export const NOISE_COLOUR: Rgb = [150, 150, 150];

/** Viridis, a few stops: dark purple (local time near 1, noisy) to yellow (near 0, almost clean). */
const VIRIDIS: readonly Rgb[] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

function lerp(a: number, b: number, u: number): number {
  return a + (b - a) * u;
}

/** Colour of a window frame at local time t ∈ (0, 1): yellow near clean, purple near noise. */
export function windowColour(localTime: number): Rgb {
  const u = Math.min(1, Math.max(0, 1 - localTime)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const f = u - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  return [lerp(a[0], b[0], f), lerp(a[1], b[1], f), lerp(a[2], b[2], f)];
}

/** Eqs. 8-10 read on one frame at one time (a zero-length step s = t): clean, noise or window. */
export function categoryOf(localTime: number): 'clean' | 'noise' | 'window' {
  if (localTime === 0) return 'clean';
  if (localTime === 1) return 'noise';
  return 'window';
}

export function colourOfLocalTime(localTime: number): Rgb {
  const c = categoryOf(localTime);
  return c === 'clean' ? CLEAN_COLOUR : c === 'noise' ? NOISE_COLOUR : windowColour(localTime);
}

export function css([r, g, b]: Rgb): string {
  return `rgb(${Math.round(r)}, ${Math.round(g)}, ${Math.round(b)})`;
}

function context2d(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('web: this browser gives no 2-D canvas context');
  return ctx;
}

/**
 * Draw frame `index` of a video stored as [frames, height, width, channels] (row-major) onto a
 * canvas of the frame's size; values in [lo, hi] map to 0…255, out-of-range values are clipped.
 * One channel is drawn as grey.
 */
export function drawFrame(
  canvas: HTMLCanvasElement,
  video: ArrayLike<number>,
  index: number,
  height: number,
  width: number,
  channels: number,
  [lo, hi]: readonly [number, number] = [-1, 1],
): void {
  canvas.width = width;
  canvas.height = height;
  const ctx = context2d(canvas);
  const image = ctx.createImageData(width, height);
  const base = index * height * width * channels;
  const scale = 255 / (hi - lo);
  for (let p = 0; p < height * width; p++) {
    for (let k = 0; k < 3; k++) {
      const v = video[base + p * channels + (channels === 1 ? 0 : Math.min(k, channels - 1))]!;
      image.data[4 * p + k] = Math.max(0, Math.min(255, (v - lo) * scale));
    }
    image.data[4 * p + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

const MAP_MARGIN = { left: 34, right: 8, top: 8, bottom: 26 };

/**
 * Figure 2, interactively: rows are global times t (1 at the top), columns frames, each cell
 * coloured by its local time and category. A line marks the current t, if given.
 */
export function drawLocalTimeMap(canvas: HTMLCanvasElement, localTimes: LocalTimes, window: number, currentT: number | null, options: { frameLabel?: string; rows?: number } = {}): void {
  const ctx = context2d(canvas);
  const { width, height } = canvas;
  const plotW = width - MAP_MARGIN.left - MAP_MARGIN.right;
  const plotH = height - MAP_MARGIN.top - MAP_MARGIN.bottom;
  const rows = options.rows ?? Math.max(1, Math.round(plotH));
  ctx.clearRect(0, 0, width, height);
  const cellW = plotW / window;
  const cellH = plotH / rows;
  for (let r = 0; r < rows; r++) {
    // Row r covers t ∈ [1 − (r+1)/rows, 1 − r/rows]; its centre is where the map is evaluated.
    const t = 1 - (r + 0.5) / rows;
    const times = localTimes(t);
    for (let w = 0; w < window; w++) {
      ctx.fillStyle = css(colourOfLocalTime(times[w]!));
      ctx.fillRect(MAP_MARGIN.left + w * cellW, MAP_MARGIN.top + r * cellH, Math.ceil(cellW), Math.ceil(cellH));
    }
  }
  ctx.strokeStyle = 'rgba(255, 255, 255, 0.35)';
  ctx.lineWidth = 1;
  for (let w = 1; w < window && cellW >= 4; w++) {
    const x = Math.round(MAP_MARGIN.left + w * cellW) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, MAP_MARGIN.top);
    ctx.lineTo(x, MAP_MARGIN.top + plotH);
    ctx.stroke();
  }
  if (currentT !== null) {
    const y = MAP_MARGIN.top + (1 - currentT) * plotH;
    ctx.strokeStyle = '#e0245e';
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(MAP_MARGIN.left - 4, y);
    ctx.lineTo(MAP_MARGIN.left + plotW, y);
    ctx.stroke();
  }

  ctx.fillStyle = '#333';
  ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const tick of [0, 0.5, 1]) ctx.fillText(String(tick), MAP_MARGIN.left - 6, MAP_MARGIN.top + (1 - tick) * plotH);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const every = Math.max(1, Math.ceil(window / 12));
  for (let w = 0; w < window; w += every) ctx.fillText(String(w), MAP_MARGIN.left + (w + 0.5) * cellW, MAP_MARGIN.top + plotH + 3);
  ctx.fillText(options.frameLabel ?? 'frame w', MAP_MARGIN.left + plotW / 2, MAP_MARGIN.top + plotH + 13);
}

/** Tick labels: 0.56, 12, 9.4k, 1.9M. */
function compact(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(2)}M`;
  if (a >= 1e3) return `${(v / 1e3).toPrecision(2)}k`;
  return v === 0 ? '0' : v.toPrecision(2);
}

export interface Series {
  readonly label: string;
  readonly colour: string;
  readonly values: readonly number[];
}

/** Exponential moving average, for a readable curve over noisy per-step losses. */
export function smooth(values: readonly number[], factor = 0.9): number[] {
  const out: number[] = [];
  let m = values[0] ?? 0;
  for (const v of values) {
    m = factor * m + (1 - factor) * v;
    out.push(out.length === 0 ? v : m);
  }
  return out;
}

/** A line chart of several series against their index: raw values faint and smoothed ones solid, or raw with points. */
export function drawLineChart(canvas: HTMLCanvasElement, series: readonly Series[], options: { xLabel: string; yLabel: string; smoothing?: boolean }): void {
  const ctx = context2d(canvas);
  const { width, height } = canvas;
  const m = { left: 48, right: 12, top: 12, bottom: 30 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  ctx.clearRect(0, 0, width, height);
  const all = series.flatMap((s) => s.values.filter(Number.isFinite));
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const yMax = all.length ? Math.max(...all) * 1.05 : 1;
  const yMin = 0;
  const x = (i: number): number => m.left + (i / (n - 1)) * plotW;
  const y = (v: number): number => m.top + (1 - (v - yMin) / (yMax - yMin || 1)) * plotH;

  ctx.strokeStyle = '#bbb';
  ctx.lineWidth = 1;
  ctx.strokeRect(m.left + 0.5, m.top + 0.5, plotW, plotH);
  ctx.fillStyle = '#333';
  ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const frac of [0, 0.5, 1]) {
    const v = yMin + frac * (yMax - yMin);
    ctx.fillText(compact(v), m.left - 4, y(v));
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  ctx.fillText(`${options.xLabel} (0 … ${n - 1})`, m.left + plotW / 2, m.top + plotH + 8);
  ctx.save();
  ctx.translate(10, m.top + plotH / 2 + 24);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(options.yLabel, 0, -6);
  ctx.restore();

  const line = (values: readonly number[], colour: string, widthPx: number, alpha: number): void => {
    ctx.strokeStyle = colour;
    ctx.globalAlpha = alpha;
    ctx.lineWidth = widthPx;
    ctx.beginPath();
    values.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
    ctx.stroke();
    ctx.globalAlpha = 1;
  };
  series.forEach((s) => {
    if (s.values.length === 0) return;
    if (options.smoothing ?? true) {
      line(s.values, s.colour, 1, 0.3);
      line(smooth(s.values), s.colour, 2, 1);
    } else {
      line(s.values, s.colour, 2, 1);
      ctx.fillStyle = s.colour;
      s.values.forEach((v, i) => ctx.fillRect(x(i) - 2, y(v) - 2, 4, 4));
    }
  });
  // The legend, top right on a white box so that it stays readable over the curves.
  ctx.font = '11px system-ui, sans-serif';
  const legendW = Math.max(...series.map((s) => ctx.measureText(s.label).width)) + 26;
  const legendX = m.left + plotW - legendW - 6;
  ctx.fillStyle = 'rgba(255, 255, 255, 0.9)';
  ctx.fillRect(legendX, m.top + 4, legendW, 14 * series.length + 6);
  series.forEach((s, k) => {
    const top = m.top + 8 + 14 * k;
    ctx.fillStyle = s.colour;
    ctx.fillRect(legendX + 6, top + 4, 12, 3);
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    ctx.fillText(s.label, legendX + 22, top);
  });
}
