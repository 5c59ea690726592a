/**
 * Ops made of several primitives clean up after themselves, inside `tidy` or not: calling one and
 * disposing its result leaves the live tensor count and bytes where they were (a primitive behaves
 * that way by construction; `mean(x)` used to leave its sum and lifted divisor behind).
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import * as r from '../../index.js';
import { describeBackends } from './harness.js';

/** Inputs made before counting: x [a, b], y [b, a], and views of them some ops need. */
interface Inputs {
  x: r.Tensor;
  y: r.Tensor;
  positive: r.Tensor;
  vector: r.Tensor;
  doubled: r.Tensor;
  indices: r.Tensor;
  image: r.Tensor;
  filter: r.Tensor;
}

type Op = (x: r.Tensor, y: r.Tensor, i: Inputs) => r.Tensor | r.Tensor[];

/** x: [a, b] float, y: [b, a] float; ops chosen to cover lifted numbers, reductions, layout, gathers. */
const OPS: Record<string, Op> = {
  'mul by a number': (x) => r.mul(x, 0.5),
  'number minus tensor': (x) => r.sub(1, x),
  mean: (x) => r.mean(x, 1),
  variance: (x) => r.variance(x),
  softmax: (x) => r.softmax(x, -1),
  logSoftmax: (x) => r.logSoftmax(x, 0),
  logSumExp: (x) => r.logSumExp(x, -1),
  clip: (x) => r.clip(x, -0.5, 0.5),
  isFinite: (x) => r.isFinite(x),
  isNaN: (x) => r.isNaN(x),
  relu: (x) => r.relu(x),
  gelu: (x) => r.gelu(x),
  geluTanh: (x) => r.geluTanh(x),
  silu: (x) => r.silu(x),
  softplus: (x) => r.softplus(x),
  logSigmoid: (x) => r.logSigmoid(x),
  rsqrt: (_x, _y, i) => r.rsqrt(i.positive),
  ceil: (x) => r.ceil(x),
  matmul: (x, y) => r.matmul(x, y),
  'matmul of a vector': (x, _y, i) => r.matmul(i.vector, x),
  tile: (x) => r.tile(x, [2, 1]),
  repeat: (x) => r.repeat(x, 2, 1),
  pad: (x) => r.pad(x, [[1, 0], [0, 2]]),
  stack: (x) => r.stack([x, x], 1),
  split: (_x, _y, i) => r.splitTensor(i.doubled, 2, 0),
  argmin: (x) => r.argmin(x, 0),
  min: (x) => r.min(x),
  cumsum: (x) => r.cumsum(x, 1),
  oneHot: (_x, _y, i) => r.oneHot(i.indices, 3),
  take: (x, _y, i) => r.take(x, i.indices, 1),
  normal: (x) => r.normal(r.key(x.shape[0]!), x.shape),
  bernoulli: (x) => r.bernoulli(r.key(3), 0.3, x.shape),
  randint: (x) => r.randint(r.key(4), x.shape, 0, 7),
  conv2d: (_x, _y, i) => r.conv2d(i.image, i.filter, { padding: 'same' }),
};

describeBackends('composite ops leave nothing behind', (backend) => {
  it.each(Object.keys(OPS))('%s, outside tidy', (name) => {
    void backend;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), (a, b) => {
        const x = r.normal(r.key(a * 7 + b), [a, b]);
        const y = r.normal(r.key(a * 11 + b), [b, a]);
        const inputs: Inputs = {
          x,
          y,
          positive: r.add(r.abs(x), 0.1),
          vector: r.normal(r.key(b), [a]),
          doubled: r.concat([x, x], 0),
          indices: r.cast(r.argmax(x, 1), 'int32'),
          image: r.reshape(x, [1, a, b, 1]),
          filter: r.ones([3, 3, 1, 2]),
        };
        const before = r.memoryStats();
        r.dispose(OPS[name]!(x, y, inputs));
        const after = r.memoryStats();
        r.dispose(inputs);
        expect(after.tensors, `${name} on [${a}, ${b}]`).toBe(before.tensors);
        expect(after.bytes).toBe(before.bytes);
      }),
      { numRuns: 8 },
    );
  });

  it('gradients through composite ops outside tidy are those computed inside it, and the tape frees nothing it needs', async () => {
    const f = (x: r.Tensor): r.Tensor => r.sum(r.mul(r.gelu(r.softmax(r.mul(x, 3), -1)), r.logSumExp(x, -1, true)));
    const x = r.normal(r.key(9), [3, 4]);
    const [v1, g1] = r.valueAndGrad(f)(x);
    const [v2, g2] = r.tidy(() => r.valueAndGrad(f)(x));
    expect(await v1.toArray()).toEqual(await v2.toArray());
    expect(Array.from(await g1.toArray())).toEqual(Array.from(await g2.toArray()));
    r.dispose([x, v1, g1, v2, g2]);
  });

  it('inside tidy the result goes to the enclosing scope, which frees it unless returned', () => {
    const x = r.normal(r.key(2), [4, 4]);
    const before = r.memoryStats().tensors;
    const kept = r.tidy(() => {
      r.softmax(x, -1);
      return r.mean(x);
    });
    expect(r.memoryStats().tensors).toBe(before + 1);
    r.dispose([kept, x]);
  });
});
