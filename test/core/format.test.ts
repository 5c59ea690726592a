/**
 * A tensor reads like an array: `console.log` prints dtype, shape and values (as NumPy and JAX do),
 * `item()` reads a scalar and `array()` nested values.
 */
import { inspect } from 'node:util';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { formatTensor } from '../../core/format.js';
import { getBackend, tensor, type Tensor } from '../../index.js';
import { describeBackends } from './harness.js';

describeBackends('format', (backend) => {
  it('util.inspect (console.log) prints dtype, shape and values, not the storage', () => {
    if (!getBackend().readSync) {
      // A GPU's values cannot be read synchronously: the text says how to read them instead.
      const t = tensor([1, 2]);
      expect(inspect(t)).toBe(`Tensor(float32[2]) <on ${backend}: await t.array() to read the values>`);
      t.dispose();
      return;
    }
    const cases: [Tensor, string][] = [
      [o.scalar(3), 'Tensor(float32[]) 3'],
      [tensor([1.5, -2, 0.1]), 'Tensor(float32[3]) [1.5,  -2, 0.1]'],
      [tensor([[1, 2, 3], [4, 5, 6]], undefined, 'int32'), 'Tensor(int32[2,3])\n[[1, 2, 3],\n [4, 5, 6]]'],
      [tensor([true, false]), 'Tensor(bool[2]) [true, false]'],
      [o.zeros([2, 1, 2]), 'Tensor(float32[2,1,2])\n[[[0, 0]],\n\n [[0, 0]]]'],
      [o.zeros([0]), 'Tensor(float32[0]) []'],
    ];
    for (const [t, want] of cases) {
      expect(inspect(t)).toBe(want);
      expect(inspect({ t })).toContain('Tensor(');
      t.dispose();
    }
    const t = tensor([1]);
    t.dispose();
    expect(inspect(t)).toBe('Tensor(float32[1]) <disposed>');
    expect(inspect(t)).not.toMatch(/storage|refs/);
  });

  it('large tensors are summarized with ... along each long axis, as NumPy does', () => {
    if (!getBackend().readSync) return;
    const t = o.reshape(o.arange(2000), [40, 50]);
    const text = inspect(t);
    expect(text.split('\n')).toHaveLength(1 + 7);
    expect(text).toContain('[   0,    1,    2, ...,   47,   48,   49]');
    expect(text).toContain(' ...,\n');
    expect(text.endsWith('[1950, 1951, 1952, ..., 1997, 1998, 1999]]')).toBe(true);
    t.dispose();
  });

  it('values a backend cannot read synchronously are not printed, and the note says how to read them', () => {
    expect(formatTensor([2], 'float32', null, 'on webgpu: await t.array() to read the values')).toBe('Tensor(float32[2]) <on webgpu: await t.array() to read the values>');
  });

  it('item() reads a one-element tensor of any rank; other sizes are an error naming the shape', async () => {
    const s = o.scalar(2.5);
    const b = tensor([[true]]);
    const v = tensor([1, 2]);
    expect(await s.item()).toBe(2.5);
    expect(await b.item()).toBe(true);
    await expect(v.item()).rejects.toThrow('item: the tensor float32[2] has 2 elements, not one; read it with array() or toArray()');
    for (const t of [s, b, v]) t.dispose();
  });

  it('property: array() gives back the nested array a tensor was made from', async () => {
    const nested = fc.integer({ min: 1, max: 3 }).chain((rank) =>
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: rank, maxLength: rank }).chain((shape) => {
        const build = (d: number): fc.Arbitrary<unknown> => (d === shape.length ? fc.integer({ min: -100, max: 100 }) : fc.array(build(d + 1), { minLength: shape[d]!, maxLength: shape[d]! }));
        return build(0);
      }),
    );
    await fc.assert(
      fc.asyncProperty(nested, async (values) => {
        const t = tensor(values as number[]);
        const back = await t.array();
        t.dispose();
        expect(back).toEqual(values);
      }),
      { numRuns: 50 },
    );
  });
});
