/**
 * The WebGPU backend's renderer of the scalar expression IR (core/expr.ts): an expression becomes
 * WGSL statements, one `let` per node, over typed values (f32, i32, u32; bool is a u32 0/1). Every
 * basic node is native here, most through the helpers of `wgsl.ts` that give JavaScript's results
 * (NaN tested on the bits, integer division by 0, Math.pow's special cases); the composites
 * (sigmoid, erf, erfinv) come decomposed (core/elementwise.ts). A `round` node is where an unfused
 * chain would have stored a tensor: its word is XORed with a uniform that is always 0 (`barrier`),
 * so the compiler cannot contract an operation across it and a fused kernel computes exactly what
 * the separate dispatches compute.
 */
import { DECOMPOSITIONS, expr as ir, type DType, type Expr } from '../../core/index.js';
import { fromBits, helpersFor, toBits, wgslType } from './wgsl.js';

export interface WgslElement {
  /** `let` statements, one per node. */
  readonly statements: string;
  /** The root's value as its u32 word. */
  readonly word: string;
  /** The helper functions the statements call. */
  readonly helpers: string;
}

/** A float32 constant, rounded to float32 here (a WGSL literal that is not exactly an f32 may round either way). */
function floatLiteral(value: number): string {
  const v = Math.fround(value);
  if (Number.isNaN(v)) return 'nan_()';
  if (v === Infinity) return 'inf_()';
  if (v === -Infinity) return '(-inf_())';
  const s = Object.is(v, -0) ? '-0.0' : String(v);
  return `f32(${/[.e]/.test(s) ? s : `${s}.0`})`;
}

function constant(v: number, t: DType): string {
  if (t === 'float32') return floatLiteral(v);
  if (t === 'int32') return `i32(${v | 0})`;
  return `${v >>> 0}u`;
}

const zero = (t: DType): string => (t === 'float32' ? '0.0' : t === 'int32' ? '0i' : '0u');

const FLOAT_UNARY: Partial<Record<ir.Op, string>> = {
  exp: 'exp_', log: 'log_', expm1: 'expm1_', log1p: 'log1p_', sin: 'sin_', cos: 'cos_', tanh: 'tanh_', sqrt: 'sqrt_', floor: 'floor', abs: 'abs', sign: 'sign_',
};
const CMP: Partial<Record<ir.Op, string>> = { eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=' };

/** One node's WGSL value from its operands' names. */
function nodeSource(e: Expr, [a = '', b = '', c = '']: readonly string[], load: (index: number, dtype: DType) => string): string {
  const t = e.dtype;
  const from = e.args[0]?.dtype ?? t;
  const fail = (): never => {
    throw new Error(`webgpu backend: ${e.op} is not defined for ${from}`);
  };
  const cmp = CMP[e.op];
  if (cmp) {
    if (from !== 'float32') return `select(0u, 1u, ${a} ${cmp} ${b})`;
    if (e.op === 'ne') return `select(0u, 1u, isnan_(${a}) || isnan_(${b}) || ${a} != ${b})`;
    return `select(0u, 1u, !isnan_(${a}) && !isnan_(${b}) && ${a} ${cmp} ${b})`;
  }
  switch (e.op) {
    case 'input': return fromBits(t, load(e.value, t));
    case 'const': return constant(e.value, t);
    case 'neg': return t === 'float32' || t === 'int32' ? `-${a}` : fail();
    case 'abs': return t === 'float32' || t === 'int32' ? `abs(${a})` : fail();
    case 'sign': return t === 'float32' ? `sign_(${a})` : t === 'int32' ? `sign(${a})` : fail();
    case 'add': return `${a} + ${b}`;
    case 'sub': return `${a} - ${b}`;
    case 'mul': return `${a} * ${b}`;
    case 'div': return t === 'float32' ? `${a} / ${b}` : t === 'int32' ? `idiv_(${a}, ${b})` : `select(${a} / ${b}, 0u, ${b} == 0u)`;
    case 'max': return t === 'float32' ? `maxf_(${a}, ${b})` : `max(${a}, ${b})`;
    case 'min': return t === 'float32' ? `minf_(${a}, ${b})` : `min(${a}, ${b})`;
    case 'pow': return t === 'float32' ? `powf_(${a}, ${b})` : t === 'int32' ? `ipow_(${a}, ${b})` : `upow_(${a}, ${b})`;
    case 'mod': return t === 'float32' ? `(${a} - ${b} * floor(${a} / ${b}))` : t === 'int32' ? `imod_(${a}, ${b})` : `select(${a} % ${b}, 0u, ${b} == 0u)`;
    case 'bitand': return `${a} & ${b}`;
    case 'bitor': return `${a} | ${b}`;
    case 'bitxor': return `${a} ^ ${b}`;
    case 'shl': return `${a} << (${t === 'int32' ? `bitcast<u32>(${b})` : b} & 31u)`;
    case 'shr': return `${a} >> (${t === 'int32' ? `bitcast<u32>(${b})` : b} & 31u)`;
    case 'select': return `select(${c}, ${b}, ${a} != 0u)`;
    case 'cast':
      if (t === 'bool') return from === 'float32' ? `select(0u, 1u, ${a} != 0.0 || isnan_(${a}))` : `select(0u, 1u, ${a} != ${zero(from)})`;
      if (from === 'float32') return t === 'float32' ? a : t === 'int32' ? `bitcast<i32>(f2bits_(${a}))` : `f2bits_(${a})`;
      if (t === 'float32') return from === 'int32' ? `i2f_(${a})` : `u2f_(${a})`;
      // int32 ↔ uint32 and bool → int: the words are already right.
      return wgslType(t) === wgslType(from) ? a : `bitcast<${wgslType(t)}>(${a})`;
    case 'bitcast': return wgslType(t) === wgslType(from) ? a : `bitcast<${wgslType(t)}>(${a})`;
    case 'round': return fromBits(t, `(${toBits(t, a)} ^ barrier)`);
  }
  const f = FLOAT_UNARY[e.op];
  if (f && t === 'float32') return `${f}(${a})`;
  return fail();
}

const COMPOSITES: readonly ir.Op[] = ir.COMPOSITE_OPS;

/**
 * WGSL for `root`, input k of dtype t read as the u32 word `load(k, t)`; nodes are named `${prefix}N`.
 * A `round` node reads a u32 named `barrier`, which the kernel must declare.
 */
export function renderWgsl(root: Expr, load: (index: number, dtype: DType) => string, prefix = 'v'): WgslElement {
  const e0 = ir.lower(root, (op) => !COMPOSITES.includes(op), DECOMPOSITIONS)!;
  const names = new Map<Expr, string>();
  const lines: string[] = [];
  for (const e of ir.topological(e0)) {
    const name = `${prefix}${names.size}`;
    lines.push(`  let ${name}: ${wgslType(e.dtype)} = ${nodeSource(e, e.args.map((x) => names.get(x)!), load)};`);
    names.set(e, name);
  }
  const statements = lines.join('\n');
  return { statements, word: toBits(e0.dtype, names.get(e0)!), helpers: helpersFor(statements) };
}
