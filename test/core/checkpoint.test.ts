/**
 * What the tape keeps, and the transformations that keep less: each rule's declared `saves` (a VJP
 * reads nothing else), `customVjp`, `checkpoint`, and the backward pass of `valueAndGrad` freeing
 * forward values as soon as their last reader is done.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { checkpoint, customVjp, dispose, grad, scoped, tidy, valueAndGrad, vjp, type Tensor } from '../../index.js';
import { describeBackends, peakBytes, read, seedArb, upload } from './harness.js';

function values(seed: number, n: number, lo = -2, hi = 2): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return lo + ((s >>> 8) / 2 ** 24) * (hi - lo);
  });
}

/**
 * Each differentiable primitive, applied to fresh values made inside a scope whose result does not
 * contain the primitive's output: the scope frees every input and output the rule does not declare
 * in `saves`. A VJP that read anything else would fail with "was disposed"; the gradient must equal
 * the one computed with everything kept.
 */
const CASES: [string, number[][], (xs: Tensor[]) => Tensor][] = [
  ['neg', [[3, 4]], ([x]) => o.neg(x!)],
  ['exp', [[3, 4]], ([x]) => o.exp(x!)],
  ['log', [[3, 4]], ([x]) => o.log(o.add(o.square(x!), 0.5))],
  ['expm1', [[3, 4]], ([x]) => o.expm1(x!)],
  ['log1p', [[3, 4]], ([x]) => o.log1p(o.square(x!))],
  ['sin/cos', [[3, 4]], ([x]) => o.add(o.sin(x!), o.cos(x!))],
  ['tanh', [[3, 4]], ([x]) => o.tanh(x!)],
  ['sqrt', [[3, 4]], ([x]) => o.sqrt(o.add(o.square(x!), 0.1))],
  ['erf', [[3, 4]], ([x]) => o.erf(x!)],
  ['erfinv', [[3, 4]], ([x]) => o.erfinv(o.mul(o.tanh(x!), 0.9))],
  ['abs', [[3, 4]], ([x]) => o.abs(x!)],
  ['sigmoid', [[3, 4]], ([x]) => o.sigmoid(x!)],
  ['add/sub (broadcast)', [[3, 4], [4]], ([a, b]) => o.sub(o.add(a!, b!), b!)],
  ['mul', [[3, 4], [3, 1]], ([a, b]) => o.mul(a!, b!)],
  ['div', [[3, 4], [4]], ([a, b]) => o.div(a!, o.add(o.square(b!), 0.5))],
  ['maximum/minimum', [[3, 4], [3, 4]], ([a, b]) => o.add(o.maximum(a!, b!), o.minimum(a!, b!))],
  ['pow', [[3, 4], [3, 4]], ([a, b]) => o.pow(o.add(o.square(a!), 0.5), b!)],
  ['mod', [[3, 4], [3, 4]], ([a, b]) => o.mod(a!, o.add(o.square(b!), 1))],
  ['where', [[3, 4], [3, 4]], ([a, b]) => o.where(o.greater(a!, 0), a!, b!)],
  ['sum/max', [[3, 4]], ([x]) => o.add(o.sum(x!, [1]), o.max(x!, [1]))],
  ['cumsum', [[3, 4]], ([x]) => o.cumsum(x!, 1)],
  ['matmul', [[3, 4], [4, 5]], ([a, b]) => o.matmul(a!, b!)],
  ['transpose/broadcast', [[3, 4]], ([x]) => o.broadcastTo(o.transpose(x!, [1, 0]), [2, 4, 3])],
  ['slice/pad/flip/concat', [[3, 4]], ([x]) => o.concat([o.flip(o.pad(o.slice(x!, [1, 0], [2, 3]), [[1, 0], [0, 2]]), [1]), x!], 1)],
  ['take', [[5, 4]], ([x]) => o.take(x!, o.tensor(new Int32Array([4, 0, 4, 2]), [4]), 0)],
  ['scatterAdd', [[4, 3]], ([x]) => o.scatterAdd(x!, o.tensor(new Int32Array([2, 0, 2, 1]), [4]), 3, 0)],
  ['conv2d', [[2, 5, 5, 3], [3, 3, 3, 2]], ([x, w]) => o.conv2d(x!, w!, { padding: 'same', stride: 2 })],
];

describeBackends('saved values', () => {
  for (const [name, shapes, f] of CASES) {
    it(`${name}: the VJP reads only what its rule saves (everything else freed by a scope) and the gradient is unchanged`, async () => {
      await fc.assert(
        fc.asyncProperty(seedArb, async (seed) => {
          const xs = shapes.map((s, i) => upload({ shape: s, data: values(seed + i, s.reduce((a, b) => a * b, 1)) }));
          const weight = (y: Tensor) => o.mul(y, o.tensor(values(seed + 99, y.size), [...y.shape]));
          const kept = grad((ys: Tensor[]) => o.sum(weight(f(ys))))(xs);
          // Fresh inputs (made in the scope) and an output the scope does not return.
          const lean = scoped((ys: Tensor[]) => o.mul(f(ys.map((y) => o.mul(y, 1))), 1));
          const freed = grad((ys: Tensor[]) => o.sum(weight(lean(ys))))(xs);
          for (let i = 0; i < xs.length; i++) expect(await read(freed[i]!)).toEqual(await read(kept[i]!));
          dispose([xs, kept, freed]);
        }),
        { numRuns: 5 },
      );
    });
  }

  it('checkpoint: the same value and the same gradients, bit for bit, and second derivatives through it', async () => {
    await fc.assert(
      fc.asyncProperty(seedArb, fc.integer({ min: 1, max: 6 }), async (seed, n) => {
        const w = upload({ shape: [n, n], data: values(seed, n * n) });
        const x = upload({ shape: [3, n], data: values(seed + 1, 3 * n) });
        const block = (p: { w: Tensor }, h: Tensor) => o.tanh(o.matmul(o.silu(o.matmul(h, p.w)), p.w));
        const loss = (b: typeof block) => (p: { w: Tensor }) => o.sum(o.square(b(p, x)));
        const [v1, g1] = valueAndGrad(loss(block))({ w });
        const [v2, g2] = valueAndGrad(loss(checkpoint(block)))({ w });
        expect(await read(v2)).toEqual(await read(v1));
        expect(await read(g2.w)).toEqual(await read(g1.w));
        // A Hessian-vector product: d/dw <∇L(w), u>.
        const u = upload({ shape: [n, n], data: values(seed + 2, n * n) });
        const hvp = (b: typeof block) => grad((ww: Tensor) => o.sum(o.mul(grad(loss(b))({ w: ww }).w, u)))(w);
        const h1 = hvp(block);
        const h2 = hvp(checkpoint(block));
        const [a, b] = [await read(h1), await read(h2)];
        a.forEach((v, i) => expect(Math.abs(b[i]! - v)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(v))));
        dispose([w, x, u, v1, g1, v2, g2, h1, h2]);
      }),
      { numRuns: 10 },
    );
  });

  it('checkpoint keeps less for the backward pass: a block with large intermediates peaks lower, with equal gradients', async () => {
    const x = upload({ shape: [512, 64], data: values(7, 512 * 64) });
    const w = upload({ shape: [64, 64], data: values(8, 64 * 64, -0.1, 0.1) });
    const block = (p: Tensor, h: Tensor) => o.tanh(o.sigmoid(o.exp(o.tanh(o.matmul(h, p)))));
    const loss = (b: typeof block) => (p: Tensor) => {
      let h = x;
      for (let i = 0; i < 4; i++) h = b(p, h);
      return o.sum(h);
    };
    const plain = peakBytes(() => grad(loss(block))(w));
    const lean = peakBytes(() => grad(loss(checkpoint(block)))(w));
    expect(await read(lean.result)).toEqual(await read(plain.result));
    // Plain keeps 4 [512, 64] values (128 KiB each) per block for the backward pass (the matmul's
    // input and three outputs), 16 in all; checkpointed, each block's input, plus one block's
    // values while it is recomputed: 8.
    expect(lean.peak).toBeLessThan(plain.peak - 6 * 512 * 64 * 4);
    dispose([x, w, plain.result, lean.result]);
  });

  it('valueAndGrad frees forward values during the backward pass: its peak is below holding them all', async () => {
    const x = upload({ shape: [128, 128], data: values(3, 128 * 128, -0.5, 0.5) });
    const ws = Array.from({ length: 12 }, (_, i) => upload({ shape: [128, 128], data: values(10 + i, 128 * 128, -0.1, 0.1) }));
    // 12 layers, each saving its [128, 128] input; the backward pass makes a [128, 128] gradient per
    // layer. Holding the forward values to the end adds them to all the gradients.
    const f = (p: Tensor[]) => {
      let h = x;
      for (const w of p) h = o.tanh(o.matmul(h, w));
      return o.sum(h);
    };
    const streamed = peakBytes(() => tidy(() => valueAndGrad(f)(ws)));
    const held = peakBytes(() =>
      tidy(() => {
        const [y, pb] = vjp(f, ws);
        return [y, pb(o.onesLike(y))[0]] as const;
      }),
    );
    const [gs, gh] = [streamed.result[1], held.result[1]];
    for (let i = 0; i < ws.length; i++) expect(await read(gs[i]!)).toEqual(await read(gh[i]!));
    expect(streamed.peak).toBeLessThan(held.peak - 8 * 128 * 128 * 4);
    dispose([x, ws, streamed.result, held.result]);
  });

  it('customVjp: its backward replaces the pullback, unwanted cotangents may be null, and a wrong cotangent is a clear error', async () => {
    const clipGrad = customVjp(
      (x: Tensor, y: Tensor) => o.mul(x, y),
      ([, y], [g], wanted) => [wanted[0] ? o.clip(o.mul(g!, y), -1, 1) : null, wanted[1] ? o.zerosLike(y) : null],
    );
    const x = upload({ shape: [3], data: [1, 2, 3] });
    const y = upload({ shape: [3], data: [0.5, 4, -9] });
    const g = grad((a: Tensor) => o.sum(clipGrad(a, y)))(x);
    expect(await read(g)).toEqual([0.5, 1, -1]);
    const bad = customVjp(
      (a: Tensor) => o.mul(a, 2),
      () => [o.zeros([4])],
    );
    expect(() => grad((a: Tensor) => o.sum(bad(a)))(x)).toThrow(/customVjp: backward's cotangent 0 is float32\[4\] but the argument is float32\[3\]/);
    dispose([x, y, g]);
  });
});

it('conv2d names a non-tensor argument', () => {
  expect(() => o.conv2d([1, 2] as unknown as Tensor, o.zeros([1, 1, 1, 1]))).toThrow(/conv2d.*x/);
});

it('valueAndGrad with aux: an intermediate returned as aux (and read by the backward pass) survives the early freeing', async () => {
  const x = o.tensor([0.5, -1, 2]);
  const [[loss, aux], g] = valueAndGrad(
    (t: Tensor) => {
      const h = o.tanh(t);
      const e = o.exp(h);
      return [o.sum(e), { h, e, nested: [e] }] as const;
    },
    { hasAux: true },
  )(x);
  const h = [0.5, -1, 2].map(Math.tanh);
  expect(Array.from(await aux.h.toArray()).map((v, i) => Math.abs(v - h[i]!) < 1e-6)).toEqual([true, true, true]);
  expect(Array.from(await aux.nested[0]!.toArray())).toEqual(Array.from(await aux.e.toArray()));
  const want = h.map((v) => Math.exp(v) * (1 - v * v));
  Array.from(await g.toArray()).forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-5));
  dispose([x, loss, aux, g]);
});
