/**
 * Bad arguments are errors naming the op and the argument: never a silent NaN, a bool tensor of image
 * bytes, the argument handed back unchanged, or a TypeError from deep inside.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { bernoulli, foldIn, key, normal, permutation, randint, split, tensor, uniform, type DType, type Key, type Tensor } from '../../index.js';
import { describeBackends, errorMessage, read } from './harness.js';

const bad = <T>(x: unknown) => x as T;

describeBackends('argument checks', () => {
  it('values that are not numbers are refused by tensor, scalar and full, naming the element', () => {
    expect(errorMessage(() => tensor(bad(['a', 'b'])))).toBe('tensor: element 0 (in row-major order) is the string "a"; values must be numbers or booleans');
    expect(errorMessage(() => tensor(bad([[1, 2], [3, undefined]])))).toMatch(/^tensor: element 3 .* is undefined/);
    expect(errorMessage(() => tensor(bad([tensor([1])])))).toMatch(/element 0 .* an instance of class Tensor.*join tensors with stack or concat/);
    expect(errorMessage(() => tensor(bad(undefined)))).toMatch(/^tensor: values are undefined; pass a number/);
    expect(errorMessage(() => tensor(bad({ a: 1 })))).toMatch(/^tensor: values are a plain object/);
    expect(errorMessage(() => o.scalar(bad('1')))).toMatch(/^scalar: the value is the string "1", not a number/);
    expect(errorMessage(() => o.full([2], bad(null)))).toMatch(/^full: the value is null, not a number/);
  });

  it('element-wise ops name the op and the argument for undefined, strings, arrays of tensors and typed arrays', () => {
    const t = tensor([1, 2]);
    expect(errorMessage(() => o.add(bad(undefined), 1))).toBe('add: argument a is undefined, not a tensor or a number');
    expect(errorMessage(() => o.mul(t, bad('2')))).toBe('mul: argument b is the string "2", not a tensor or a number');
    expect(errorMessage(() => o.square(bad([t, t])))).toBe('square: argument x is an array of 2 tensors, not a tensor; join them into one tensor with stack or concat first');
    expect(errorMessage(() => o.exp(bad([t, t])))).toMatch(/^exp: argument x is an array of 2 tensors, not a tensor/);
    expect(errorMessage(() => o.sqrt(bad(new Float32Array(2))))).toMatch(/^sqrt: argument x is a Float32Array, not a tensor; make it a tensor with tensor\(values, shape\) first/);
    expect(errorMessage(() => o.where(bad(true), t, t))).toMatch(/^where: argument cond is the boolean true, not a tensor/);
    expect(errorMessage(() => o.where(o.greater(t, 1), t, bad('x')))).toMatch(/^where: argument b is the string "x"/);
    expect(errorMessage(() => o.matmul(t, bad({ shape: [2] })))).toMatch(/^matmul: argument b is a plain object, not a tensor/);
    expect(errorMessage(() => o.concat([t, bad(3)]))).toMatch(/^concat: argument xs\[1\] is the number 3, not a tensor; make it a tensor with scalar\(3\) first/);
    expect(errorMessage(() => o.stack(bad(t)))).toMatch(/^stack: the tensors must come as an array, got an instance of class Tensor/);
    t.dispose();
  });

  it('sum([1, 2, 3]) and the other reductions and shape ops refuse a JS array instead of returning it unchanged', () => {
    for (const [name, op] of [
      ['sum', () => o.sum(bad([1, 2, 3]))],
      ['mean', () => o.mean(bad([1, 2, 3]))],
      ['max', () => o.max(bad([1, 2, 3]))],
      ['min', () => o.min(bad([1, 2, 3]))],
      ['softmax', () => o.softmax(bad([1, 2, 3]))],
      ['reshape', () => o.reshape(bad([1, 2, 3]), [3, 1])],
      ['transpose', () => o.transpose(bad([1, 2, 3]))],
      ['slice', () => o.slice(bad([1, 2, 3]), [0])],
      ['cast', () => o.cast(bad([1, 2, 3]), 'int32')],
    ] as const) {
      expect(errorMessage(op), name).toBe(`${name}: argument x is an array of 3 numbers, not a tensor; make it a tensor with tensor([...]) first`);
    }
  });

  it('typed arrays keep their numbers: Uint8Array image bytes become int32, never bool; Float64Array becomes float32', async () => {
    const cases: [ArrayBufferView & ArrayLike<number>, DType, number[]][] = [
      [new Uint8Array([1, 200, 255]), 'int32', [1, 200, 255]],
      [new Uint8ClampedArray([0, 255]), 'int32', [0, 255]],
      [new Int8Array([-128, 127]), 'int32', [-128, 127]],
      [new Int16Array([-300, 300]), 'int32', [-300, 300]],
      [new Uint16Array([65535]), 'int32', [65535]],
      [new Int32Array([-5]), 'int32', [-5]],
      [new Uint32Array([4294967295]), 'uint32', [4294967295]],
      [new Float32Array([0.5]), 'float32', [0.5]],
      [new Float64Array([0.1, 1e40]), 'float32', [Math.fround(0.1), Infinity]],
    ];
    for (const [values, dtype, want] of cases) {
      const t = tensor(values);
      expect(t.dtype, values.constructor.name).toBe(dtype);
      expect(await read(t), values.constructor.name).toEqual(want);
      t.dispose();
    }
    // An explicit dtype still wins (a mask from bytes is asked for, never guessed).
    const mask = tensor(new Uint8Array([0, 3]), undefined, 'bool');
    expect(mask.dtype).toBe('bool');
    mask.dispose();
    expect(errorMessage(() => tensor(new BigInt64Array(2)))).toMatch(/^tensor: a BigInt64Array cannot be made a tensor/);
  });

  it('property: any Uint8Array round-trips through tensor() exactly', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), async (bytes) => {
        const t = tensor(bytes);
        const back = await read(t);
        t.dispose();
        expect(back).toEqual(Array.from(bytes));
      }),
      { numRuns: 50 },
    );
  });

  it('an unknown dtype is an error naming the op and the dtype', () => {
    const t = tensor([1]);
    const want = (op: string, d: string) => `${op}: unknown dtype '${d}'; the dtypes are float32, int32, uint32, bool`;
    expect(errorMessage(() => o.zeros([2], bad('float64')))).toBe(`${want('zeros', 'float64')} (float32 is the only float dtype)`);
    expect(errorMessage(() => o.ones([2], bad('int64')))).toBe(want('ones', 'int64'));
    expect(errorMessage(() => o.full([2], 1, bad('f32')))).toBe(want('full', 'f32'));
    expect(errorMessage(() => o.scalar(1, bad('uint8')))).toBe(want('scalar', 'uint8'));
    expect(errorMessage(() => o.arange(3, undefined, 1, bad('float')))).toBe(want('arange', 'float'));
    expect(errorMessage(() => tensor([1], undefined, bad('half')))).toBe(want('tensor', 'half'));
    expect(errorMessage(() => o.cast(t, bad('int8')))).toBe(want('cast', 'int8'));
    expect(errorMessage(() => o.bitcast(t, bad(undefined)))).toMatch(/^bitcast: unknown dtype undefined/);
    t.dispose();
  });

  it('a bad key is an error naming the op and what was passed', () => {
    const t = tensor([0, 1], undefined, 'uint32');
    const k = key(0);
    expect(errorMessage(() => normal(bad(t), [2]))).toBe('normal: the key must be a PRNG key from key(seed), split or foldIn, got a tensor (uint32[2])');
    expect(errorMessage(() => uniform(bad(split(k)), [2]))).toMatch(/^uniform: .* got an array of 2 keys \(take one of them: split returns an array\)/);
    expect(errorMessage(() => bernoulli(bad(7), 0.5, [2]))).toMatch(/^bernoulli: .* got the number 7; use key\(7\)/);
    expect(errorMessage(() => randint(bad(undefined), [2], 0, 3))).toMatch(/^randint: .* got undefined/);
    expect(errorMessage(() => permutation(bad({ words: [0, 0] }), 3))).toMatch(/^permutation: .* got a plain object/);
    expect(errorMessage(() => split(bad<Key>('key')))).toMatch(/^split: .* got the string "key"/);
    expect(errorMessage(() => foldIn(bad<Key>(null), 1))).toMatch(/^foldIn: .* got null/);
    t.dispose();
  });

  it('composite ops name themselves, not the primitive they are made of', () => {
    for (const [name, op] of [
      ['relu', o.relu], ['gelu', o.gelu], ['geluTanh', o.geluTanh], ['silu', o.silu], ['softplus', o.softplus], ['logSigmoid', o.logSigmoid],
      ['rsqrt', o.rsqrt], ['ceil', o.ceil], ['isNaN', o.isNaN], ['isFinite', o.isFinite], ['argmin', o.argmin],
    ] as const) {
      expect(errorMessage(() => op(bad([1, 2]))), name).toBe(`${name}: argument x is an array of 2 numbers, not a tensor; make it a tensor with tensor([...]) first`);
    }
    expect(errorMessage(() => o.dot(bad(undefined), bad(undefined)))).toBe('dot: argument a is undefined, not a tensor');
  });

  it('a non-tensor reaching a primitive directly names the primitive', () => {
    expect(errorMessage(() => o.neg(bad<Tensor>(undefined)))).toBe('neg: argument x is undefined, not a tensor');
    expect(errorMessage(() => o.take(tensor([1, 2]), bad([0])))).toMatch(/^take: argument indices is an array of 1 number/);
  });
});
