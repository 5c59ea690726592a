/**
 * Element-wise kernels with NumPy broadcasting that never materialise a broadcast: each input is read
 * through its own strides (0 along stretched axes). Kernels are generated from one-line expressions
 * (`a + b`, `Math.exp(a)`) so that each op gets a tight monomorphic loop; the generator below is the
 * whole trick, and reading one generated body (`kernelSource('add')`) shows what runs.
 */
import { broadcastStrides, type DType, type Shape, type TypedArray } from '../../core';
import { erf, erfinv } from './special';

type Kernel = (out: TypedArray, inputs: TypedArray[], shape: number[], strides: number[][], helpers: Helpers) => void;

interface Helpers {
  erf: (x: number) => number;
  erfinv: (x: number) => number;
}

const helpers: Helpers = { erf, erfinv };

const NAMES = ['a', 'b', 'c', 'd'];

/** Merge axes that every operand walks contiguously, and drop size-1 axes. */
export function collapse(shape: Shape, strides: number[][]): { shape: number[]; strides: number[][] } {
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

function generate(arity: number, expr: string): Kernel {
  const names = NAMES.slice(0, arity);
  const loads = (idx: (k: number) => string) => names.map((v, k) => `const ${v} = x${k}[${idx(k)}];`).join(' ');
  const src = `
    const { erf, erfinv } = H;
    ${names.map((_, k) => `const x${k} = X[${k}];`).join('\n')}
    const n = out.length;
    const rank = shape.length;
    if (rank === 0) { if (n > 0) { ${loads(() => '0')} out[0] = ${expr}; } return; }
    if (rank === 1) {
      ${names.map((_, k) => `const s${k} = S[${k}][0];`).join(' ')}
      if (${names.map((_, k) => `s${k} === 1`).join(' && ')}) {
        for (let i = 0; i < n; i++) { ${loads(() => 'i')} out[i] = ${expr}; }
      } else {
        ${names.map((_, k) => `let o${k} = 0;`).join(' ')}
        for (let i = 0; i < n; i++) { ${loads((k) => `o${k}`)} out[i] = ${expr}; ${names.map((_, k) => `o${k} += s${k};`).join(' ')} }
      }
      return;
    }
    const inner = shape[rank - 1];
    ${names.map((_, k) => `const s${k} = S[${k}][rank - 1];`).join(' ')}
    const idx = new Array(rank - 1).fill(0);
    ${names.map((_, k) => `let base${k} = 0;`).join(' ')}
    for (let i = 0; i < n; ) {
      ${names.map((_, k) => `let o${k} = base${k};`).join(' ')}
      for (let j = 0; j < inner; j++, i++) { ${loads((k) => `o${k}`)} out[i] = ${expr}; ${names.map((_, k) => `o${k} += s${k};`).join(' ')} }
      for (let ax = rank - 2; ax >= 0; ax--) {
        idx[ax]++;
        ${names.map((_, k) => `base${k} += S[${k}][ax];`).join(' ')}
        if (idx[ax] < shape[ax]) break;
        ${names.map((_, k) => `base${k} -= S[${k}][ax] * shape[ax];`).join(' ')}
        idx[ax] = 0;
      }
    }`;
  const f = new Function('out', 'X', 'shape', 'S', 'H', src) as Kernel;
  sources.set(f, src);
  return f;
}

const sources = new Map<Kernel, string>();
const cache = new Map<string, Kernel>();

function kernelFor(arity: number, expr: string): Kernel {
  const key = `${arity}:${expr}`;
  let k = cache.get(key);
  if (!k) cache.set(key, (k = generate(arity, expr)));
  return k;
}

/** The generated source of the kernel for an expression (for learners and debugging). */
export function kernelSource(arity: number, expr: string): string {
  return sources.get(kernelFor(arity, expr))!;
}

/** Run `expr` over broadcast inputs into `out` (already sized to the broadcast shape). */
export function mapElements(expr: string, out: TypedArray, inputs: { data: TypedArray; shape: Shape }[], outShape: Shape): void {
  const strides = inputs.map((x) => broadcastStrides(x.shape, outShape));
  const c = collapse(outShape, strides);
  kernelFor(inputs.length, expr)(out, inputs.map((x) => x.data), c.shape, c.strides, helpers);
}

export const UNARY_EXPR: Record<string, string> = {
  neg: '-a',
  exp: 'Math.exp(a)',
  log: 'Math.log(a)',
  expm1: 'Math.expm1(a)',
  log1p: 'Math.log1p(a)',
  sin: 'Math.sin(a)',
  cos: 'Math.cos(a)',
  tanh: 'Math.tanh(a)',
  sqrt: 'Math.sqrt(a)',
  erf: 'erf(a)',
  erfinv: 'erfinv(a)',
  floor: 'Math.floor(a)',
  abs: 'Math.abs(a)',
  sign: 'Math.sign(a)',
  sigmoid: '1 / (1 + Math.exp(-a))',
};

/** Binary expressions; integer dtypes override where JS doubles would be wrong (wrapping products). */
export function binaryExpr(prim: string, dtype: DType): string {
  const int = dtype !== 'float32';
  switch (prim) {
    case 'add': return 'a + b';
    case 'sub': return 'a - b';
    case 'mul': return int ? 'Math.imul(a, b)' : 'a * b';
    case 'div': return int ? 'Math.trunc(a / b)' : 'a / b';
    case 'max': return int ? '(a > b ? a : b)' : 'Math.max(a, b)';
    case 'min': return int ? '(a < b ? a : b)' : 'Math.min(a, b)';
    case 'pow': return 'Math.pow(a, b)';
    case 'mod': return int ? '(((a % b) + b) % b)' : '(a - b * Math.floor(a / b))';
    case 'bitand': return 'a & b';
    case 'bitor': return 'a | b';
    case 'bitxor': return 'a ^ b';
    case 'shl': return 'a << b';
    case 'shr': return dtype === 'uint32' ? 'a >>> b' : 'a >> b';
    case 'eq': return '(a === b ? 1 : 0)';
    case 'ne': return '(a !== b ? 1 : 0)';
    case 'lt': return '(a < b ? 1 : 0)';
    case 'le': return '(a <= b ? 1 : 0)';
    case 'gt': return '(a > b ? 1 : 0)';
    case 'ge': return '(a >= b ? 1 : 0)';
  }
  throw new Error(`cpu backend: no expression for ${prim}`);
}
