/** Shape arithmetic shared by the core and the backends. */

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function shapeEq(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fmt(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

/** NumPy broadcasting: align on the right, size-1 axes stretch. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = rank - s.length + i;
      const d = s[i]!;
      const o = out[j]!;
      if (o === 1) out[j] = d;
      else if (d !== 1 && d !== o) {
        throw new Error(`${op}: shapes cannot be broadcast together: ${shapes.map(fmt).join(' and ')} (axis ${j}: ${o} vs ${d})`);
      }
    }
  }
  return out;
}

/**
 * Strides with which an input of `shape` is read to fill an output of `outShape` under broadcasting:
 * 0 along stretched axes.
 */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const st = stridesOf(shape);
  const out = new Array<number>(outShape.length).fill(0);
  const off = outShape.length - shape.length;
  for (let i = 0; i < shape.length; i++) out[off + i] = shape[i] === 1 ? 0 : st[i]!;
  return out;
}

export function normalizeAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) {
    throw new Error(`${op}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

export function normalizeAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = [...new Set(list.map((a) => normalizeAxis(op, a, rank)))];
  return out.sort((a, b) => a - b);
}

export function assertShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${fmt(shape)}: dimensions must be non-negative integers`);
  }
}

/**
 * Merge axes that every operand walks contiguously, and drop size-1 axes: the iteration space of a
 * strided element-wise kernel, as small as the strides allow (every backend uses it).
 */
export function collapseStrides(shape: Shape, strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const dims: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (d === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, k) => st[k]![last] === s[i]! * d)) {
      dims[last] = dims[last]! * d;
      strides.forEach((s, k) => (st[k]![last] = s[i]!));
    } else {
      dims.push(d);
      strides.forEach((s, k) => st[k]!.push(s[i]!));
    }
  }
  return { shape: dims, strides: st };
}
