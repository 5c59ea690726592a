/**
 * How a tensor reads to a person: nested values (tfjs's `array()`), and the text `console.log` and
 * the Node REPL print (shape, dtype and values, as NumPy and JAX print arrays) instead of the object's
 * internals.
 */
import type { DType, TypedArray } from './dtype.js';

export type Nested = number | boolean | Nested[];

/** Flat row-major values as nested arrays shaped like `shape` (booleans for bool). */
export function nest(flat: TypedArray, shape: readonly number[], dtype: DType): Nested {
  const build = (depth: number, offset: number, stride: number): Nested => {
    if (depth === shape.length) return dtype === 'bool' ? flat[offset] !== 0 : flat[offset]!;
    const inner = stride / shape[depth]!;
    return Array.from({ length: shape[depth]! }, (_, i) => build(depth + 1, offset + i * inner, inner));
  };
  let size = 1;
  for (const d of shape) size *= d;
  return build(0, 0, size);
}

/** Above this many elements only the first and last few along each axis are printed, as NumPy does. */
const SUMMARY_THRESHOLD = 1000;
const EDGE_ITEMS = 3;

function formatValue(v: number, dtype: DType): string {
  if (dtype === 'bool') return v !== 0 ? 'true' : 'false';
  if (dtype !== 'float32' || !Number.isFinite(v) || Number.isInteger(v)) return String(v);
  // float32 holds about 7 significant digits; more would print the float64 widening's noise.
  return String(Number(v.toPrecision(7)));
}

/**
 * `Tensor(float32[2,3]) [[1, 2, 3], [4, 5, 6]]`-style text; `values` is null when they cannot be
 * read synchronously (a GPU backend) or the tensor was disposed, and `note` says which.
 */
export function formatTensor(shape: readonly number[], dtype: DType, values: TypedArray | null, note: string): string {
  const head = `Tensor(${dtype}[${shape.join(',')}])`;
  if (values === null) return `${head} <${note}>`;
  const summarize = values.length > SUMMARY_THRESHOLD;
  const render = (depth: number, offset: number, stride: number, indent: string, leaf: (i: number) => string): string => {
    if (depth === shape.length) return leaf(offset);
    const n = shape[depth]!;
    const inner = stride / n;
    const items: string[] = [];
    const skip = summarize && n > 2 * EDGE_ITEMS;
    for (let i = 0; i < n; i++) {
      if (skip && i === EDGE_ITEMS) {
        items.push('...');
        i = n - EDGE_ITEMS - 1;
        continue;
      }
      items.push(render(depth + 1, offset + i * inner, inner, `${indent} `, leaf));
    }
    const sep = depth < shape.length - 1 ? `,${'\n'.repeat(shape.length - depth - 1)}${indent} ` : ', ';
    return `[${items.join(sep)}]`;
  };
  // Two passes: the first finds the widest value shown, so columns line up as NumPy's do.
  let width = 0;
  render(0, 0, values.length, '', (i) => {
    width = Math.max(width, formatValue(values[i]!, dtype).length);
    return '';
  });
  if (dtype === 'bool') width = 0;
  const body = render(0, 0, values.length, '', (i) => formatValue(values[i]!, dtype).padStart(width));
  return shape.length >= 2 ? `${head}\n${body}` : `${head} ${body}`;
}
