/**
 * The scalar expression IR (core/expr.ts) and the element-wise primitives defined over it
 * (core/elementwise.ts): the reference evaluator, composition, lowering, and the special functions
 * written once (sigmoid, erf, erfinv) against known values.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decompose, DECOMPOSITIONS, ELEMENTWISE_PRIMS, evaluate, expr as ir, expressionOf, type DType } from '../../core/index.js';

const x = ir.input(0, 'float32');
const y = ir.input(1, 'float32');

describe('scalar expression IR', () => {
  it('every element-wise primitive has an expression whose inputs are 0 … n−1 and whose dtype is the output dtype', () => {
    for (const prim of ELEMENTWISE_PRIMS) {
      const inputs: DType[] = prim === 'where' ? ['bool', 'float32', 'float32'] : ['neg', 'exp', 'log', 'expm1', 'log1p', 'sin', 'cos', 'tanh', 'sqrt', 'erf', 'erfinv', 'floor', 'abs', 'sign', 'sigmoid', 'cast', 'bitcast'].includes(prim) ? ['float32'] : ['float32', 'float32'];
      const out: DType = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'].includes(prim) ? 'bool' : prim === 'bitcast' ? 'uint32' : 'float32';
      const e = expressionOf(prim, inputs, { dtype: out } as never, out);
      expect(ir.arity(e), prim).toBe(inputs.length);
      expect(e.dtype, prim).toBe(out);
      // made once per signature: backends cache their renderings by the object
      expect(expressionOf(prim, inputs, { dtype: out } as never, out)).toBe(e);
    }
  });

  it('a node read twice is one node: topological order lists it once, and use counts say 2', () => {
    const e = ir.mul(ir.exp(x), ir.exp(x));
    expect(ir.topological(e).length).toBe(4);
    const shared = ir.exp(x);
    const f = ir.mul(shared, shared);
    expect(ir.topological(f).length).toBe(3);
    expect(ir.useCounts(f).get(shared)).toBe(2);
  });

  it('compose substitutes inner expressions for inputs, rounding each as a store would', () => {
    const inner = ir.add(x, y);
    const outer = ir.mul(ir.input(0, 'float32'), 2);
    const c = ir.compose(outer, [inner]);
    expect(c.op).toBe('mul');
    expect(c.args[0]!.op).toBe('round');
    expect(c.args[0]!.args[0]).toBe(inner);
    // inputs and constants need no rounding
    expect(ir.compose(outer, [y]).args[0]).toBe(y);
    // float64 evaluation of the composed chain equals the unfused chain (each step stored as float32)
    fc.assert(
      fc.property(fc.float({ noNaN: true }), fc.float({ noNaN: true }), (a, b) => {
        const stepwise = evaluate(outer, [evaluate(inner, [a, b])]);
        expect(Object.is(evaluate(c, [a, b]), stepwise)).toBe(true);
      }),
    );
  });

  it('lower decomposes the composites a backend lacks and refuses nodes with no rendering', () => {
    const e = ir.unary('sigmoid', x);
    const all = ir.lower(e, () => true, DECOMPOSITIONS)!;
    expect(all).toBe(e);
    const basic = ir.lower(e, (op) => op !== 'sigmoid', DECOMPOSITIONS)!;
    expect(ir.topological(basic).some((n) => n.op === 'sigmoid')).toBe(false);
    expect(ir.topological(basic).some((n) => n.op === 'exp')).toBe(true);
    expect(ir.lower(ir.log(x), (op) => op !== 'log', DECOMPOSITIONS)).toBeNull();
  });

  it('the structure key tells structures and constants apart and is the same for equal structures', () => {
    expect(ir.structureKey(ir.add(x, 1))).toBe(ir.structureKey(ir.add(ir.input(0, 'float32'), 1)));
    expect(ir.structureKey(ir.add(x, 1))).not.toBe(ir.structureKey(ir.add(x, 2)));
    expect(ir.structureKey(ir.add(x, 0))).not.toBe(ir.structureKey(ir.add(x, -0)));
    expect(ir.structureKey(ir.add(x, y))).not.toBe(ir.structureKey(ir.add(y, x)));
  });

  it('evaluate follows JavaScript semantics per dtype: wrapping integers, truncating division, floored modulo, 0 for ÷0', () => {
    const i = (k: number) => ir.input(k, 'int32');
    const u = (k: number) => ir.input(k, 'uint32');
    expect(evaluate(ir.add(i(0), i(1)), [2 ** 31 - 1, 1])).toBe(-(2 ** 31));
    expect(evaluate(ir.mul(i(0), i(1)), [65536, 65536])).toBe(0);
    expect(evaluate(ir.div(i(0), i(1)), [-7, 2])).toBe(-3);
    expect(evaluate(ir.div(i(0), i(1)), [7, 0])).toBe(0);
    expect(evaluate(ir.binary('mod', i(0), i(1)), [-7, 3])).toBe(2);
    expect(evaluate(ir.binary('mod', i(0), i(1)), [7, 0])).toBe(0);
    expect(evaluate(ir.binary('shr', u(0), u(1)), [2 ** 32 - 1, 28])).toBe(15);
    expect(evaluate(ir.binary('shr', i(0), i(1)), [-16, 2])).toBe(-4);
    expect(evaluate(ir.sub(u(0), u(1)), [0, 1])).toBe(2 ** 32 - 1);
    expect(evaluate(ir.cast(x, 'int32'), [-2.7])).toBe(-2);
    expect(evaluate(ir.cast(x, 'int32'), [NaN])).toBe(0);
    expect(evaluate(ir.cast(x, 'bool'), [NaN])).toBe(1);
    expect(evaluate(ir.bitcast(x, 'uint32'), [1])).toBe(0x3f800000);
    expect(evaluate(ir.bitcast(u(0), 'float32'), [0xbf800000])).toBe(-1);
    expect(evaluate(ir.select(ir.lt(x, y), x, y), [1, 2])).toBe(1);
  });

  it('float32 evaluation rounds every node; float64 evaluation rounds only the result', () => {
    // (1 + 2⁻²⁴) − 1: lost in float32 at the addition, kept in float64 until the subtraction
    const e = ir.sub(ir.add(x, 2 ** -24), 1);
    expect(evaluate(e, [1], 'float32')).toBe(0);
    expect(evaluate(e, [1], 'float64')).toBe(Math.fround(2 ** -24));
  });

  it('sigmoid is 1 / (1 + exp(−x)) without overflow: tails, ±0, ±Inf, NaN', () => {
    const s = ir.unary('sigmoid', x);
    for (const v of [0, -0, 1, -1, 20, -20, 88, -88, 100, -100, 103, -103]) expect(evaluate(s, [v])).toBe(Math.fround(1 / (1 + Math.exp(-v))));
    expect(evaluate(s, [Infinity])).toBe(1);
    expect(evaluate(s, [-Infinity])).toBe(0);
    expect(evaluate(s, [NaN])).toBeNaN();
    // float32 evaluation keeps the subnormal tail that 1 / (1 + exp(−x)) loses to overflow
    expect(evaluate(s, [-100], 'float32')).toBeGreaterThan(0);
    expect(evaluate(decompose(ir.div(1, ir.add(1, ir.exp(ir.neg(x))))), [-100], 'float32')).toBe(0);
  });

  it('erf matches reference values to float32 precision, is odd, and saturates at ±1', () => {
    const e = ir.unary('erf', x);
    // erf from Abramowitz & Stegun table 7.1 (and mpmath)
    const known: [number, number][] = [[0, 0], [0.1, 0.1124629160182849], [0.25, 0.2763263901682369], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [1.5, 0.9661051464753108], [2, 0.9953222650189527], [3, 0.9999779095030014], [4, 0.9999999845827421]];
    for (const [v, want] of known) {
      expect(Math.abs(evaluate(e, [v]) - want)).toBeLessThan(2e-7);
      expect(evaluate(e, [-v])).toBe(-evaluate(e, [v]));
    }
    expect(evaluate(e, [Infinity])).toBe(1);
    expect(evaluate(e, [-Infinity])).toBe(-1);
    expect(evaluate(e, [NaN])).toBeNaN();
    expect(evaluate(e, [1e-30])).toBe(Math.fround(1e-30 * 1.1283791670955126));
  });

  it('erfinv inverts erf to float32 precision, with ±1 → ±Inf and |x| > 1 → NaN', () => {
    const e = ir.unary('erf', x);
    const inv = ir.unary('erfinv', x);
    fc.assert(
      fc.property(fc.double({ min: -3, max: 3, noNaN: true }), (v) => {
        const back = evaluate(inv, [evaluate(e, [v])]);
        // erf is flat in the tails: compare in erf's image instead
        expect(Math.abs(evaluate(e, [back]) - evaluate(e, [v]))).toBeLessThan(5e-7);
      }),
    );
    expect(evaluate(inv, [1])).toBe(Infinity);
    expect(evaluate(inv, [-1])).toBe(-Infinity);
    expect(evaluate(inv, [1.5])).toBeNaN();
    expect(evaluate(inv, [NaN])).toBeNaN();
    expect(evaluate(inv, [0])).toBe(0);
  });
});
