/**
 * Forward mode composed with everything else: jvp of grad (Hessian-vector products against finite
 * differences of the gradient), grad of jvp, jvp of jvp, linearize, the Jacobian family (jacfwd and
 * jacrev agree on random smooth programs; the Hessian of ½xᵀAx is the symmetric part of A), pytrees,
 * the errors, and no tensor left behind over many calls.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import {
  checkpoint,
  dispose,
  grad,
  hessian,
  jacfwd,
  jacrev,
  jvp,
  key,
  linearize,
  memoryStats,
  normal,
  split,
  stopGradient,
  tidy,
  treeLeaves,
  valueAndGrad,
  type Tensor,
} from '../../index.js';
import { closeTo, describeBackends, errorMessage, hostArb, quantize, read, rng, seedArb, shapeArb, sizeOfShape, upload } from './harness.js';

/** Scalar test functions of one tensor, smooth on [−2, 2], with the ops they exercise. */
const scalarFunctions: [string, (x: Tensor) => Tensor][] = [
  ['Σ sin(x)·exp(x)', (x) => o.sum(o.mul(o.sin(x), o.exp(x)))],
  ['logSumExp', (x) => o.logSumExp(x)],
  ['Σ tanh(x)² / (1 + x²)', (x) => o.sum(o.div(o.square(o.tanh(x)), o.add(o.square(x), 1)))],
  ['mean of gelu ∘ cumsum, and a softmax entropy', (x) => o.add(o.mean(o.gelu(o.cumsum(x, -1))), o.sum(o.mul(o.softmax(x, -1), o.logSoftmax(x, -1))))],
  ['Σ sigmoid(x)·erf(x/2) + Σ x·flip(x)', (x) => o.add(o.sum(o.mul(o.sigmoid(x), o.erf(o.mul(x, 0.5)))), o.sum(o.mul(x, o.flip(x))))],
];

const STENCIL: readonly [number, number][] = [
  [-2, 1 / 12],
  [-1, -8 / 12],
  [1, 8 / 12],
  [2, -1 / 12],
];
const H = 2 ** -7;

/** The fourth-order central difference of `g` along `v` at `x` (float64 on the host), and |g|'s largest value seen. */
async function differenceAlong(g: (x: Tensor) => Tensor, shape: number[], x: number[], v: number[]): Promise<{ fd: number[]; mag: number[] }> {
  const fd = x.map(() => 0);
  const mag = x.map(() => 0);
  for (const [s, w] of STENCIL) {
    const y = tidy(() => g(upload({ shape, data: x.map((xi, i) => xi + s * H * v[i]!) })));
    const values = await read(y);
    y.dispose();
    values.forEach((val, i) => {
      fd[i]! += (w * val) / H;
      mag[i] = Math.max(mag[i]!, Math.abs(val));
    });
  }
  return { fd, mag };
}

/** Values on the 2⁻¹² grid and directions on the 1/32 grid, so x ± k·h·v is exact in float32. */
const pointArb = shapeArb({ minRank: 1, maxRank: 2 }).chain((shape) =>
  fc.tuple(fc.constant(shape), hostArb(shape, { min: -2, max: 2 }), fc.array(fc.integer({ min: -32, max: 32 }), { minLength: sizeOfShape(shape), maxLength: sizeOfShape(shape) })),
);

describeBackends('forward mode composed', () => {
  for (const [name, f] of scalarFunctions) {
    it(`jvp of grad (a Hessian-vector product) equals the finite difference of the gradient: ${name}`, async () => {
      await fc.assert(
        fc.asyncProperty(pointArb, async ([shape, xh, vi]) => {
          const x = Array.from(xh.data, quantize);
          const v = vi.map((k) => k / 32);
          const hv = tidy(() => jvp(grad(f), [upload({ shape, data: x })], [upload({ shape, data: v })])[1]);
          const analytic = await read(hv);
          hv.dispose();
          const { fd, mag } = await differenceAlong(grad(f), shape, x, v);
          // Noise of a float32 gradient (a few ulps of its size) amplified by the stencil, Σ|w|/h = 1.5/h.
          const scale = Math.max(1, ...mag);
          closeTo(analytic, fd, { rtol: 1e-3, atol: (2 ** -18 * scale * 1.5) / H + 1e-4, label: `${name} at [${shape}]` });
        }),
        { numRuns: 8 },
      );
    });
  }

  it('grad of a function that calls jvp, and jvp of jvp, agree with the Hessian-vector product', async () => {
    await fc.assert(
      fc.asyncProperty(pointArb, seedArb, async ([shape, xh, vi], seed) => {
        const rand = rng(seed);
        const x = upload({ ...xh, data: Array.from(xh.data, quantize) });
        const v = upload({ shape, data: vi.map((k) => k / 32) });
        const w = upload({ shape, data: vi.map(() => Math.round(rand() * 64 - 32) / 32) });
        const f = scalarFunctions[seed % scalarFunctions.length]![1];
        const results = tidy(() => {
          const hv = jvp(grad(f), [x], [v])[1];
          // ∇ₓ ⟨∇f(x), v⟩ = H v (H symmetric): reverse over forward.
          const gj = grad((a: Tensor) => jvp(f, [a], [v])[1])(x);
          // wᵀ H v, forward over forward.
          const jj = jvp((a: Tensor) => jvp(f, [a], [v])[1], [x], [w])[1];
          return { hv, gj, jj, whv: o.sum(o.mul(w, hv)) };
        });
        const [hv, gj, jj, whv] = await Promise.all([results.hv, results.gj, results.jj, results.whv].map(read));
        const scale = Math.max(1, ...hv!.map(Math.abs));
        closeTo(gj!, hv!, { rtol: 1e-4, atol: 1e-5 * scale, label: 'grad of jvp vs jvp of grad' });
        closeTo(jj!, whv!, { rtol: 1e-4, atol: 1e-5 * scale * sizeOfShape(shape), label: 'jvp of jvp vs wᵀ(jvp of grad)' });
        dispose([results, x, v, w]);
      }),
      { numRuns: 10 },
    );
  });

  it('the Hessian of the quadratic form ½xᵀAx is the symmetric part of A', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }).chain((n) => fc.tuple(hostArb([n, n]), hostArb([n]))), async ([a, xh]) => {
        const n = xh.shape[0]!;
        const A = upload(a);
        const x = upload(xh);
        const h = hessian((z: Tensor) => o.mul(o.sum(o.mul(z, o.matmul(A, z))), 0.5))(x);
        expect(h.shape).toEqual([n, n]);
        const expected = Array.from({ length: n * n }, (_, k) => (a.data[k]! + a.data[(k % n) * n + Math.floor(k / n)]!) / 2);
        closeTo(await read(h), expected, { rtol: 1e-6, atol: 1e-6, label: `n = ${n}` });
        dispose([A, x, h]);
      }),
      { numRuns: 10 },
    );
  });

  it('hessian of a function of a pytree: blocks [...a.shape, ...b.shape], symmetric across the diagonal', async () => {
    const p = { u: upload({ shape: [2], data: [0.5, -1] }), v: upload({ shape: [3], data: [0.25, 1, -0.5] }) };
    const f = (q: typeof p) => o.sum(o.mul(o.tanh(o.matmul(o.reshape(q.u, [2, 1]), o.reshape(q.v, [1, 3]))), o.sin(q.v)));
    const h = hessian(f)(p);
    expect(h.u.u.shape).toEqual([2, 2]);
    expect(h.u.v.shape).toEqual([2, 3]);
    expect(h.v.u.shape).toEqual([3, 2]);
    expect(h.v.v.shape).toEqual([3, 3]);
    const uv = await read(h.u.v);
    const vu = await read(h.v.u);
    closeTo(uv, Array.from({ length: 6 }, (_, k) => vu[(k % 3) * 2 + Math.floor(k / 3)]!), { rtol: 1e-5, atol: 1e-6, label: 'H_uv = H_vuᵀ' });
    dispose([p, h]);
  });

  it('jacfwd equals jacrev on random smooth programs (pytree in, pytree out)', async () => {
    const steps = ['sin', 'tanh', 'square', 'matmul', 'softmax', 'cumsum', 'mulFlip', 'sigmoid', 'logSumExp'] as const;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...steps), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), seedArb, async (program, n, m, seed) => {
        const rand = rng(seed);
        const host = (shape: number[]) => upload({ shape, data: Array.from({ length: sizeOfShape(shape) }, () => quantize(rand() * 2 - 1)) });
        const x = { a: host([n]), b: host([m, n]) };
        const mats = program.map(() => host([n, n]));
        const f = (p: typeof x): [Tensor, { last: Tensor }] => {
          let h = o.add(p.b, p.a);
          program.forEach((step, i) => {
            if (step === 'sin') h = o.sin(h);
            else if (step === 'tanh') h = o.tanh(h);
            else if (step === 'square') h = o.mul(o.square(h), 0.5);
            else if (step === 'matmul') h = o.matmul(h, mats[i]!);
            else if (step === 'softmax') h = o.softmax(h, -1);
            else if (step === 'cumsum') h = o.cumsum(h, 0);
            else if (step === 'mulFlip') h = o.mul(h, o.flip(h, 1));
            else if (step === 'sigmoid') h = o.sigmoid(h);
            else h = o.sub(h, o.logSumExp(h, 1, true));
          });
          return [o.sum(h, 0), { last: o.mul(h, p.a) }];
        };
        const fwd = jacfwd(f)(x);
        const rev = jacrev(f)(x);
        const lf = treeLeaves(fwd);
        const lr = treeLeaves(rev);
        expect(lf.map((t) => t.shape)).toEqual(lr.map((t) => t.shape));
        expect(fwd[0].a.shape).toEqual([n, n]);
        expect(fwd[1].last.b.shape).toEqual([m, n, m, n]);
        for (let i = 0; i < lf.length; i++) closeTo(await read(lf[i]!), await read(lr[i]!), { rtol: 1e-4, atol: 1e-5, label: `leaf ${i} of ${program.join(' ∘ ')}` });
        dispose([x, mats, fwd, rev]);
      }),
      { numRuns: 15 },
    );
  });

  it('the Jacobian of x ↦ A x is A, by both modes, with empty and scalar edge cases', async () => {
    const A = upload({ shape: [3, 2], data: [1, 2, 3, 4, 5, 6] });
    const x = upload({ shape: [2], data: [0.5, -0.25] });
    const lin = (z: Tensor) => o.matmul(A, z);
    const [jf, jr] = [jacfwd(lin)(x), jacrev(lin)(x)];
    expect(await read(jf)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await read(jr)).toEqual([1, 2, 3, 4, 5, 6]);
    const s = upload({ shape: [], data: [0.5] });
    const [ds, de] = [jacfwd((z: Tensor) => o.mul(z, z))(s), jacrev((z: Tensor) => o.zeros([0, 2]))(x)];
    expect(ds.shape).toEqual([]);
    expect(await read(ds)).toEqual([1]);
    expect(de.shape).toEqual([0, 2, 2]);
    dispose([A, x, jf, jr, s, ds, de]);
  });

  it('linearize gives the same J·t as jvp, for several tangents from one forward pass', async () => {
    const x = upload({ shape: [2, 3], data: [0.1, -0.5, 1, 1.5, -2, 0.25] });
    const f = (z: Tensor) => [o.tanh(o.matmul(z, o.transpose(z))), o.logSoftmax(z, -1)];
    const tangents = [upload({ shape: [2, 3], data: [1, 0, 0, 0, 0, 0] }), upload({ shape: [2, 3], data: [0.5, -1, 2, 0, 1, -0.5] })];
    const results = tidy(() => {
      const [, at] = linearize(f, x);
      return tangents.map((t) => [at(t), jvp(f, [x], [t])[1]]);
    });
    for (const [lin, fwd] of results) {
      for (let k = 0; k < 2; k++) closeTo(await read(lin![k]!), await read(fwd![k]!), { rtol: 1e-5, atol: 1e-6, label: `output ${k}` });
    }
    dispose([x, tangents, results]);
  });

  it('pytrees: numbers are lifted, structure and shapes are checked by path, integer primals hold still', async () => {
    const p = { w: upload({ shape: [2], data: [1, 2] }), b: 3, n: upload({ shape: [2], data: [4, 5], dtype: 'int32' }) };
    const t = { w: upload({ shape: [2], data: [1, -1] }), b: 0.5, n: upload({ shape: [2], data: [0, 0], dtype: 'int32' }) };
    const [y, ty] = jvp((q: typeof p) => ({ s: o.mul(q.w, q.b), i: o.mul(q.n, 2), c: o.ones([1]) }), [p], [t]);
    expect(await read(ty.s)).toEqual([3 + 0.5, -3 + 1]);
    expect(ty.i.dtype).toBe('int32');
    expect(await read(ty.i)).toEqual([0, 0]);
    expect(await read(ty.c)).toEqual([0]);
    expect(errorMessage(() => jvp((q: typeof p) => q.w, [p], [{ ...t, w: upload({ shape: [3], data: [1, 2, 3] }) }]))).toMatch(/jvp: the tangent at '0\.w' is float32\[3\] but its primal is float32\[2\]/);
    expect(errorMessage(() => jvp((q: { w: Tensor }) => q.w, [{ w: p.w }], [{ v: t.w } as unknown as { w: Tensor }]))).toMatch(/jvp: the tangents differ in structure from the primals/);
    expect(errorMessage(() => jvp((a: Tensor) => a, [p.w], [] as unknown as [Tensor]))).toMatch(/1 primals but 0 tangents/);
    dispose([p, t, y, ty]);
  });

  it('stopGradient stops tangents; checkpoint and conv2d (custom pullbacks) are differentiated through under jvp', async () => {
    const x = upload({ shape: [1, 4, 4, 2], data: Array.from({ length: 32 }, (_, i) => Math.sin(i)) });
    const w = upload({ shape: [3, 3, 2, 2], data: Array.from({ length: 36 }, (_, i) => Math.cos(i) / 4) });
    const v = upload({ shape: [1, 4, 4, 2], data: Array.from({ length: 32 }, (_, i) => ((i % 5) - 2) / 4) });
    const f = (z: Tensor) => o.sum(o.square(o.tanh(o.conv2d(z, w, { padding: 'same' }))));
    const [ts, tc, tf] = tidy(() => jvp((z: Tensor) => [o.mul(stopGradient(z), 2), checkpoint(f)(z), f(z)], [x], [v])[1]);
    expect((await read(ts)).every((e) => e === 0)).toBe(true);
    closeTo(await read(tc), await read(tf), { rtol: 1e-6, atol: 1e-6, label: 'checkpoint' });
    // The same Hessian-vector product through the checkpointed block, and the tape's usual path.
    const [h1, h2] = tidy(() => [jvp(grad(checkpoint(f)), [x], [v])[1], jvp(grad(f), [x], [v])[1]]);
    closeTo(await read(h1), await read(h2), { rtol: 1e-5, atol: 1e-6, label: 'hvp through checkpoint' });
    dispose([x, w, v, ts, tc, tf, h1, h2]);
  });

  it('no perturbation confusion: d/dx [x · d/dy (x·y)] at y = 1 is 2x (2x + 1 if the inner jvp saw the outer tangent)', async () => {
    const x = upload({ shape: [], data: [1.5] });
    const one = upload({ shape: [], data: [1] });
    const d = tidy(() => jvp((a: Tensor) => o.mul(a, jvp((y: Tensor) => o.mul(a, y), [one], [one])[1]), [x], [one])[1]);
    expect(await read(d)).toEqual([3]);
    dispose([x, one, d]);
  });

  it('jvp, jvp of grad, grad of jvp, linearize and the Jacobians leave nothing behind over many calls', async () => {
    const [k1, k2] = split(key(5));
    const x = tidy(() => normal(k1!, [3, 4]));
    const v = tidy(() => normal(k2!, [3, 4]));
    const s = tidy(() => normal(k2!, [3]));
    const f = (z: Tensor) => o.sum(o.mul(o.gelu(o.matmul(z, o.transpose(z))), o.mean(z)));
    const round = () => {
      const outs = [
        ...jvp(f, [x], [v]),
        ...jvp(grad(f), [x], [v]),
        grad((z: Tensor) => jvp(f, [z], [v])[1])(x),
        tidy(() => linearize(f, x)[1](v)),
        jacfwd((z: Tensor) => o.tanh(z))(x),
        jacrev(f)(x),
        hessian((z: Tensor) => o.sum(o.sin(z)))(s),
        ...valueAndGrad((z: Tensor) => jvp(f, [z], [v])[1])(x),
      ];
      dispose(outs);
    };
    round();
    const before = memoryStats();
    for (let i = 0; i < 40; i++) round();
    expect(memoryStats()).toEqual(before);
    dispose([x, v, s, k1, k2]);
  });
});
