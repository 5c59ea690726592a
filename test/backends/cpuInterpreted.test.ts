/**
 * The CPU backend without generated code: where `new Function` is forbidden (a page whose
 * Content-Security-Policy lacks 'unsafe-eval'), element-wise ops run core's `evaluator` per element.
 * They must give what the generated kernels give: bit for bit on every node but the composite sigmoid
 * (the generated code computes 1/(1 + e^−x) directly, the evaluator its decomposition), on boundary
 * and random values, with broadcasting; and a real EvalError from `new Function` must select that path.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { expr as ir, makeTypedArray, type DType, type Expr } from '../../index.js';
import { createCpuBackend } from '../../backends/cpu/index.js';
import { mapElements, setCpuCodegen } from '../../backends/cpu/elementwise.js';

const cpu = createCpuBackend();
afterEach(() => void setCpuCodegen(undefined));

const f = (k: number) => ir.input(k, 'float32');
const i = (k: number) => ir.input(k, 'int32');
const EDGES = [0, -0, Infinity, -Infinity, NaN, 1, -1, 0.5, 1e-45, 3.4028234663852886e38, 88.7, -103.9];

const CASES: { name: string; expr: Expr; inputs: DType[]; tol: number }[] = [
  ...(['neg', 'abs', 'sign', 'floor', 'sqrt', 'exp', 'log', 'expm1', 'log1p', 'sin', 'cos', 'tanh', 'erf', 'erfinv'] as const).map((op) => ({ name: op, expr: ir.unary(op, f(0)), inputs: ['float32' as DType], tol: 0 })),
  // Generated: 1/(1 + exp(−x)); interpreted: the decomposition (core/elementwise.ts). A few ulp apart.
  { name: 'sigmoid', expr: ir.unary('sigmoid', f(0)), inputs: ['float32'], tol: 1e-6 },
  ...(['add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'mod'] as const).map((op) => ({ name: op, expr: ir.binary(op, f(0), f(1)), inputs: ['float32', 'float32'] as DType[], tol: 0 })),
  ...(['add', 'mul', 'div', 'mod', 'shl', 'shr', 'bitxor'] as const).map((op) => ({ name: `${op} int32`, expr: ir.binary(op, i(0), i(1)), inputs: ['int32', 'int32'] as DType[], tol: 0 })),
  { name: 'lt', expr: ir.lt(f(0), f(1)), inputs: ['float32', 'float32'], tol: 0 },
  { name: 'select', expr: ir.select(ir.lt(f(0), f(1)), f(0), ir.mul(f(1), 2)), inputs: ['float32', 'float32'], tol: 0 },
  { name: 'cast float32 → int32', expr: ir.cast(f(0), 'int32'), inputs: ['float32'], tol: 0 },
  { name: 'a chain: (x − y)·y + exp(x)', expr: ir.add(ir.mul(ir.sub(f(0), f(1)), f(1)), ir.unary('exp', f(0))), inputs: ['float32', 'float32'], tol: 0 },
];

function run(e: Expr, dtypes: readonly DType[], columns: readonly number[][], shapes: readonly number[][], outShape: number[]): number[] {
  const inputs = dtypes.map((t, k) => {
    const data = makeTypedArray(t, columns[k]!.length);
    columns[k]!.forEach((v, j) => (data[j] = v));
    return { data, shape: shapes[k]! };
  });
  const out = makeTypedArray(e.dtype, outShape.reduce((a, b) => a * b, 1));
  mapElements(e, out, inputs, outShape);
  return [...out];
}

const value = (t: DType): fc.Arbitrary<number> =>
  t === 'float32' ? fc.oneof(fc.constantFrom(...EDGES), fc.float(), fc.float({ min: -10, max: 10 })) : fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -9, max: 9 }));

describe('CPU backend without generated code (Content-Security-Policy without unsafe-eval)', () => {
  for (const c of CASES) {
    it(`${c.name}: interpreted equals generated${c.tol ? ` within ${c.tol}` : ', bit for bit'}, with the second input broadcast along rows`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.infiniteStream(fc.tuple(...c.inputs.map(value))), (rows, cols, stream) => {
          // Input 0 is [rows, cols]; a second input is [1, cols] (broadcast over rows), a third [rows, 1].
          const shapes = c.inputs.map((_, k) => (k === 0 ? [rows, cols] : k === 1 ? [1, cols] : [rows, 1]));
          const draws = [...stream.take(rows * cols)];
          const columns = c.inputs.map((_, k) => draws.slice(0, shapes[k]![0]! * shapes[k]![1]!).map((d) => d[k]!));
          setCpuCodegen(true);
          const generated = run(c.expr, c.inputs, columns, shapes, [rows, cols]);
          setCpuCodegen(false);
          const interpreted = run(c.expr, c.inputs, columns, shapes, [rows, cols]);
          interpreted.forEach((v, j) => {
            const g = generated[j]!;
            if (Object.is(v, g) || (Number.isNaN(v) && Number.isNaN(g))) return;
            expect(c.tol > 0 && Math.abs(v - g) <= c.tol * (Math.abs(g) + 1), `${c.name} element ${j}: interpreted ${v}, generated ${g}`).toBe(true);
          });
        }),
        { numRuns: 40 },
      );
    });
  }

  it('an EvalError from new Function selects the interpreted path, and the backend still computes', async () => {
    const original = globalThis.Function;
    const forbidden = function forbidden(): never {
      throw new EvalError("Refused to evaluate a string as JavaScript because 'unsafe-eval' is not an allowed source of script");
    } as unknown as FunctionConstructor;
    let result: number[];
    try {
      globalThis.Function = forbidden;
      setCpuCodegen(undefined);
      const a = cpu.upload(new Float32Array([1, 2, 3]), 'float32');
      const b = cpu.upload(new Float32Array([0.5, -1, 4]), 'float32');
      const out = cpu.runExpression!(ir.add(ir.mul(f(0), f(1)), ir.unary('log', f(0))), [{ buffer: a, shape: [3], dtype: 'float32' }, { buffer: b, shape: [3], dtype: 'float32' }], { shape: [3], dtype: 'float32' });
      result = [...(await cpu.read(out, 'float32', 3))];
      // The probe ran under the forbidding constructor and chose the interpreter.
      expect(setCpuCodegen(undefined)).toBe(false);
    } finally {
      globalThis.Function = original;
    }
    expect(result).toEqual([Math.fround(0.5 + Math.log(1)), Math.fround(-2 + Math.log(2)), Math.fround(12 + Math.log(3))]);
  });
});
