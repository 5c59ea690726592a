/**
 * The transformations: grad, valueAndGrad, vjp, stopGradient — higher order, pytrees, aux outputs,
 * broadcasting, unused inputs, and the shape of the backward pass itself.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import {
  dispose,
  getBackend,
  grad,
  stopGradient,
  tidy,
  treeLeaves,
  valueAndGrad,
  vjp,
  type Backend,
  type Tensor,
} from '../../index.js';
import { checkGrad, closeTo, describeBackends, type Host, hostArb, read, REALS, seedArb, shapeArb, upload } from './harness.js';

/** Read every tensor leaf of a tree into a tree of shapes+values (for toEqual), then free them. */
async function readTree(tree: unknown): Promise<unknown> {
  const walk = async (t: unknown): Promise<unknown> => {
    if (Array.isArray(t)) return Promise.all(t.map(walk));
    if (t !== null && typeof t === 'object' && Object.getPrototypeOf(t) === Object.prototype) {
      const entries = await Promise.all(Object.entries(t as Record<string, unknown>).map(async ([k, v]) => [k, await walk(v)] as const));
      return Object.fromEntries(entries);
    }
    if (t !== null && typeof t === 'object' && 'shape' in t) {
      const x = t as Tensor;
      return { shape: [...x.shape], dtype: x.dtype, data: await read(x) };
    }
    return t;
  };
  const out = await walk(tree);
  dispose(tree);
  return out;
}

const vec = (data: number[]): Host => ({ shape: [data.length], data });

describeBackends('autodiff', () => {
  it('second order: the gradient of sum(grad(sum ∘ sin)) is −sin', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb().chain((s) => hostArb(s, { min: -4, max: 4 })), async (x) => {
        const g = tidy(() => grad((t: Tensor) => o.sum(grad((u: Tensor) => o.sum(o.sin(u)))(t)))(upload(x)));
        const expected = Array.from(x.data, (v) => -Math.sin(v));
        closeTo(await read(g), expected, { rtol: 1e-6, atol: 1e-6, label: '−sin' });
        expect([...g.shape]).toEqual(x.shape);
        dispose(g);
      }),
      { numRuns: 20 },
    );
  });

  it('grad of grad of x³ is 6x, and the third derivative of x⁴ is 24x', async () => {
    const xs = [-2, -0.5, 0, 1, 3];
    const [d2, d3] = tidy(() => {
      const x = upload(vec(xs));
      const cube = (t: Tensor) => o.sum(o.mul(o.mul(t, t), t));
      const quartic = (t: Tensor) => o.sum(o.pow(t, 4));
      const d1 = (f: (t: Tensor) => Tensor) => (t: Tensor) => o.sum(grad(f)(t));
      return [grad(d1(cube))(x), grad(d1(d1(quartic)))(x)];
    });
    expect(await read(d2!)).toEqual(xs.map((v) => 6 * v));
    closeTo(await read(d3!), xs.map((v) => 24 * v), { rtol: 1e-6, atol: 1e-5, label: 'x⁴‴' });
    dispose([d2, d3]);
  });

  it('no perturbation confusion: d/dx [x · d/dy (x + y)] = 1, and grad(x ↦ Σ grad(y ↦ Σ x·y)(c)) = 1', async () => {
    // Siskind & Pearlmutter's example: tagging both derivatives alike would give 2.
    const [a, b, c] = tidy(() => {
      const x = upload(vec([1, 2, 3]));
      const cs = upload(vec([5, -1, 0.5]));
      const inner = (xx: Tensor) => grad((y: Tensor) => o.sum(o.add(xx, y)))(o.onesLike(xx));
      const first = grad((xx: Tensor) => o.sum(o.mul(xx, inner(xx))))(x);
      const second = grad((xx: Tensor) => o.sum(grad((y: Tensor) => o.sum(o.mul(xx, y)))(cs)))(x);
      // The inner derivative is taken at the outer variable itself: d/dx [x · (∂/∂y x·y)|_{y=x}] = 2x
      // (confusing the two would differentiate x·x inside and give 4x).
      const third = grad((xx: Tensor) => o.sum(o.mul(xx, grad((y: Tensor) => o.sum(o.mul(xx, y)))(xx))))(x);
      return [first, second, third];
    });
    expect(await read(a!)).toEqual([1, 1, 1]);
    expect(await read(b!)).toEqual([1, 1, 1]);
    expect(await read(c!)).toEqual([2, 4, 6]);
    dispose([a, b, c]);
  });

  it('nested grads of the same function at different points stay independent (Hessian of a quadratic form)', async () => {
    // f(x) = ½ xᵀ A x with A symmetric: ∇f = A x and the Hessian-vector product ∇(vᵀ∇f) = A v.
    const A = [2, 1, 0, 1, 3, -1, 0, -1, 4];
    const v = [1, -2, 0.5];
    const hv = tidy(() => {
      const a = upload({ shape: [3, 3], data: A });
      const f = (x: Tensor) => o.mul(o.sum(o.mul(x, o.matmul(a, x))), 0.5);
      return grad((x: Tensor) => o.sum(o.mul(grad(f)(x), upload(vec(v)))))(upload(vec([0.3, -0.7, 1.1])));
    });
    expect(await read(hv)).toEqual([0, -5.5, 4]);
    dispose(hv);
  });

  it('pytrees in and out: gradients mirror the input tree; vjp takes and returns trees', async () => {
    const params = () => ({ layers: [{ w: upload({ shape: [2, 2], data: [1, 2, 3, 4] }), b: upload(vec([0.5, -0.5])) }], scale: upload({ shape: [], data: [2] }), n: 3, none: null });
    const loss = (p: ReturnType<typeof params>, x: Tensor) => o.mul(o.sum(o.add(o.matmul(x, p.layers[0]!.w), p.layers[0]!.b)), p.scale);
    const g = tidy(() => grad(loss)(params(), upload({ shape: [1, 2], data: [1, -1] })));
    expect(await readTree(g)).toEqual({
      layers: [{ w: { shape: [2, 2], dtype: 'float32', data: [2, 2, -2, -2] }, b: { shape: [2], dtype: 'float32', data: [2, 2] } }],
      scale: { shape: [], dtype: 'float32', data: [-4] },
      // A number is differentiated as a float32 scalar (as JAX takes a Python float), not handed back
      // as its own "gradient"; null is an empty subtree.
      n: { shape: [], dtype: 'float32', data: [0] },
      none: null,
    });

    const res = tidy(() => {
      const x = upload(vec([1, 2]));
      const y = upload(vec([3, 4]));
      const [out, pullback] = vjp((pair: { x: Tensor; y: Tensor }) => ({ prod: o.mul(pair.x, pair.y), parts: [o.sum(pair.x), o.neg(pair.y)] }), { x, y });
      const [ct] = pullback({ prod: upload(vec([1, 1])), parts: [upload({ shape: [], data: [10] }), upload(vec([1, 2]))] });
      return { out, ct };
    });
    expect(await readTree(res)).toEqual({
      out: { prod: { shape: [2], dtype: 'float32', data: [3, 8] }, parts: [{ shape: [], dtype: 'float32', data: [3] }, { shape: [2], dtype: 'float32', data: [-3, -4] }] },
      // d/dx = y·1 + 10; d/dy = x·1 − [1, 2]
      ct: { x: { shape: [2], dtype: 'float32', data: [13, 14] }, y: { shape: [2], dtype: 'float32', data: [0, 0] } },
    });
  });

  it('stopGradient blocks the gradient: ∇ Σ x·sg(x) = x, not 2x', async () => {
    const g = tidy(() => grad((x: Tensor) => o.sum(o.mul(x, stopGradient(x))))(upload(vec([1, -2, 3]))));
    expect(await read(g)).toEqual([1, -2, 3]);
    dispose(g);
    // A function of sg(x) alone has zero gradient.
    const z = tidy(() => grad((x: Tensor) => o.sum(o.exp(stopGradient(x))))(upload(vec([1, 2]))));
    expect(await read(z)).toEqual([0, 0]);
    dispose(z);
  });

  it('hasAux: aux passes through undifferentiated and cannot poison the gradient', async () => {
    const [[loss, aux], g] = tidy(() =>
      valueAndGrad((x: Tensor) => [o.sum(o.square(x)), { root: o.sqrt(x), count: 3 }] as const, { hasAux: true })(upload(vec([0, 1, 2]))),
    );
    expect(await read(loss)).toEqual([5]);
    expect(await read(aux.root)).toEqual([0, 1, Math.fround(Math.SQRT2)]);
    expect(aux.count).toBe(3);
    // sqrt′(0) = ∞: a zero cotangent pushed through aux would make 0·∞ = NaN in the first entry.
    expect(await read(g)).toEqual([0, 2, 4]);
    dispose([loss, aux, g]);
    const g2 = tidy(() => grad((x: Tensor) => [o.sum(x), o.log(x)], { hasAux: true })(upload(vec([0, 1]))));
    expect(await read(g2)).toEqual([1, 1]);
    dispose(g2);
  });

  it('broadcast inputs receive summed gradients, in their own shapes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 })),
        async ([m, n, lead]) => {
          const x = { shape: [m, 1], data: Array.from({ length: m }, (_, i) => i + 1) };
          const y = { shape: [lead, 1, n], data: Array.from({ length: lead * n }, (_, i) => i - 2) };
          const [gx, gy] = tidy(() => grad(([a, b]: Tensor[]) => o.sum(o.mul(o.add(a!, b!), 2)))([upload(x), upload(y)]));
          expect([...gx!.shape]).toEqual([m, 1]);
          expect([...gy!.shape]).toEqual([lead, 1, n]);
          expect(await read(gx!)).toEqual(new Array(m).fill(2 * n * lead));
          expect(await read(gy!)).toEqual(new Array(lead * n).fill(2 * m));
          dispose([gx, gy]);
        },
      ),
      { numRuns: 10 },
    );
  });

  it('a parameter the function does not use gets zeros of its shape and dtype', async () => {
    const g = tidy(() => grad((p: { used: Tensor; unused: Tensor; int: Tensor }) => o.sum(p.used))({ used: upload(vec([1, 2])), unused: upload({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }), int: upload({ shape: [2], data: [1, 2], dtype: 'int32' }) }));
    expect(await readTree(g)).toEqual({
      used: { shape: [2], dtype: 'float32', data: [1, 1] },
      unused: { shape: [2, 3], dtype: 'float32', data: [0, 0, 0, 0, 0, 0] },
      int: { shape: [2], dtype: 'int32', data: [0, 0] },
    });
    // A constant function: every gradient is zero.
    const c = tidy(() => grad((_x: Tensor) => o.scalar(3))(upload(vec([1, 2]))));
    expect(await read(c)).toEqual([0, 0]);
    dispose(c);
  });

  it('a tidy inside the differentiated function keeps what the tape needs, and nothing leaks after', async () => {
    const { memoryStats } = await import('../../index.js');
    const x = upload(vec([1, 2]));
    const before = memoryStats();
    const g = grad((t: Tensor) => tidy(() => o.sum(o.mul(o.sin(t), o.exp(t)))))(x);
    // d/dx sin·exp = (cos + sin)·exp
    closeTo(await read(g), [1, 2].map((v) => (Math.cos(v) + Math.sin(v)) * Math.exp(v)), { rtol: 1e-6, atol: 0, label: 'grad through tidy' });
    expect(memoryStats().tensors).toBe(before.tensors + 1);
    // Second order through scopes on both levels.
    const h = grad((t: Tensor) => tidy(() => o.sum(grad((u: Tensor) => tidy(() => o.sum(o.sin(u))))(t))))(x);
    closeTo(await read(h), [1, 2].map((v) => -Math.sin(v)), { rtol: 1e-6, atol: 0, label: '−sin through tidy' });
    dispose([g, h]);
    expect(memoryStats()).toEqual(before);
    dispose(x);
  });

  it('the identity and a repeated output: cotangents pass through and add up', async () => {
    const r = tidy(() => {
      const [, pb1] = vjp((x: Tensor) => x, upload(vec([1, 2])));
      const [, pb2] = vjp((x: Tensor) => [x, x], upload(vec([1, 2])));
      return [pb1(upload(vec([3, 4])))[0], pb2([upload(vec([1, 1])), upload(vec([2, 3]))])[0]];
    });
    expect(await read(r[0]!)).toEqual([3, 4]);
    expect(await read(r[1]!)).toEqual([3, 4]);
    dispose(r);
  });

  it('vjp with a non-scalar output pulls back any cotangent: for x ↦ x², c ↦ 2xc', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb().chain((s) => fc.tuple(hostArb(s), hostArb(s))), async ([x, c]) => {
        const [y, g] = tidy(() => {
          const [out, pb] = vjp((t: Tensor) => o.mul(t, t), upload(x));
          return [out, pb(upload(c))[0]];
        });
        expect(await read(y!)).toEqual(Array.from(x.data, (v) => Math.fround(v * v)));
        // Both operands of mul are x: the two cotangents c·x add up to exactly 2·fround(c·x).
        expect(await read(g!)).toEqual(Array.from(x.data, (v, i) => Math.fround(c.data[i]! * v) * 2));
        dispose([y, g]);
      }),
      { numRuns: 15 },
    );
  });

  it('ties share the cotangent evenly (maximum, max) and relu′(0) = 0', async () => {
    const r = tidy(() => [
      grad(([a, b]: Tensor[]) => o.sum(o.maximum(a!, b!)))([upload(vec([1, 2])), upload(vec([1, 3]))]),
      grad((x: Tensor) => o.sum(o.max(x, 1)))(upload({ shape: [2, 3], data: [1, 5, 5, 2, 2, 2] })),
      grad((x: Tensor) => o.min(x))(upload(vec([4, 1, 1, 3]))),
      grad((x: Tensor) => o.sum(o.relu(x)))(upload(vec([-1, 0, 2]))),
    ]);
    const [mm, mx, mn, rl] = r as [Tensor[], Tensor, Tensor, Tensor];
    expect(await read(mm[0]!)).toEqual([0.5, 0]);
    expect(await read(mm[1]!)).toEqual([0.5, 1]);
    closeTo(await read(mx), [0, 0.5, 0.5, 1 / 3, 1 / 3, 1 / 3], { rtol: 1e-7, atol: 0, label: 'max ties' });
    expect(await read(mn)).toEqual([0, 0.5, 0.5, 0]);
    expect(await read(rl)).toEqual([0, 0, 1]);
    dispose(r);
  });

  // Second-order checks: the backward pass is made of differentiable ops, so the gradient function
  // itself passes checkGrad (its VJP is a Hessian-vector product).
  const secondOrder: [string, (x: Tensor) => Tensor, { min: number; max: number }][] = [
    ['tanh', (x) => o.sum(o.tanh(x)), REALS],
    ['exp·sin', (x) => o.sum(o.mul(o.exp(x), o.sin(x))), REALS],
    ['softmax', (x) => o.sum(o.mul(o.softmax(x), o.arange(x.shape[x.rank - 1] ?? 1))), REALS],
    ['logSumExp', (x) => o.logSumExp(x), REALS],
    ['variance', (x) => o.variance(x), REALS],
    ['gelu', (x) => o.sum(o.gelu(x)), REALS],
    ['sqrt∘(1+x²)', (x) => o.sum(o.sqrt(o.add(o.square(x), 1))), REALS],
    ['cumsum²', (x) => o.sum(o.square(o.cumsum(x, 0))), REALS],
  ];
  for (const [name, f, domain] of secondOrder) {
    it(`Hessian-vector products of ${name} match finite differences of its gradient`, async () => {
      await fc.assert(
        fc.asyncProperty(shapeArb({ minRank: 1, maxRank: 3 }).chain((s) => hostArb(s, domain)), seedArb, async (x, seed) => {
          await checkGrad((t) => grad(f)(t!), [x], { seed, name: `∇${name}` });
        }),
        { numRuns: 10 },
      );
    });
  }

  it('Hessian-vector products through matmul and conv2d (im2col ↔ col2im) match finite differences', async () => {
    const x = { shape: [1, 4, 5, 2], data: Array.from({ length: 40 }, (_, i) => Math.sin(i)) };
    const w = { shape: [3, 2, 2, 3], data: Array.from({ length: 36 }, (_, i) => Math.cos(i) / 2) };
    const m = { shape: [3, 4], data: Array.from({ length: 12 }, (_, i) => (i % 5) - 2) };
    const conv = (xx: Tensor, ww: Tensor) => o.sum(o.tanh(o.conv2d(xx, ww, { stride: [2, 1], padding: 'same', dilation: [1, 2] })));
    await checkGrad((xx, ww) => grad(([a, b]: Tensor[]) => conv(a!, b!))([xx!, ww!]), [x, w], { seed: 7, name: '∇conv2d' });
    await checkGrad((mm) => grad((t: Tensor) => o.sum(o.tanh(o.matmul(t, o.transpose(t)))))(mm!), [m], { seed: 8, name: '∇matmul' });
  });

  // ------------------------------------------------------------ the backward pass of matmul
  /** Run `fn` with the current backend's `run` wrapped to log every primitive and its output size. */
  function spy<T>(fn: () => T): { result: T; calls: { prim: string; size: number; shape: number[] }[] } {
    const backend: Backend = getBackend();
    const original = backend.run;
    const calls: { prim: string; size: number; shape: number[] }[] = [];
    backend.run = ((prim, inputs, params, out) => {
      calls.push({ prim, size: out.shape.reduce((n, d) => n * d, 1), shape: [...out.shape] });
      return original.call(backend, prim, inputs, params, out);
    }) as Backend['run'];
    try {
      return { result: fn(), calls };
    } finally {
      backend.run = original;
    }
  }

  const [M, K, N, B] = [5, 7, 11, 3];
  const matmulCases: [string, number[], number[], (a: Tensor, b: Tensor) => Tensor, string[]][] = [
    ['[M,K] @ [K,N]', [M, K], [K, N], o.matmul, []],
    ['[B,M,K] @ [K,N] (leading axes folded into M)', [B, M, K], [K, N], o.matmul, []],
    ['[B,M,K] @ [B,K,N]', [B, M, K], [B, K, N], o.matmul, []],
    // b's batch of one broadcasts: its cotangent is summed over the batch (a [1,K,N] sum, no more).
    ['[B,M,K] @ [1,K,N] (broadcast batch)', [B, M, K], [1, K, N], o.matmul, ['sum']],
    ['[K] @ [K,N] and vector cases', [K], [K, N], o.matmul, []],
    ['matmulPrim(aᵀ, bᵀ) with transpose flags', [1, K, M], [1, N, K], (a, b) => o.matmulPrim(a, b, true, true), []],
    ['matmulPrim(a, bᵀ)', [1, M, K], [1, N, K], (a, b) => o.matmulPrim(a, b, false, true), []],
    ['matmulPrim(aᵀ, b)', [1, K, M], [1, K, N], (a, b) => o.matmulPrim(a, b, true, false), []],
  ];
  for (const [name, as, bs, mm, extra] of matmulCases) {
    it(`the VJP of matmul is made of matmuls, with no M×K×N intermediate: ${name}`, async () => {
      const size = (s: number[]) => s.reduce((n, d) => n * d, 1);
      const outs = tidy(() => {
        const a = upload({ shape: as, data: Array.from({ length: size(as) }, (_, i) => Math.sin(i)) });
        const b = upload({ shape: bs, data: Array.from({ length: size(bs) }, (_, i) => Math.cos(i)) });
        const [y, pullback] = vjp(mm, a, b);
        const ct = o.onesLike(y);
        const { result, calls } = spy(() => pullback(ct));
        return { result, calls, a, b };
      });
      const prims = outs.calls.map((c) => c.prim);
      expect(prims.filter((p) => p === 'matmul')).toHaveLength(2);
      expect(prims.every((p) => p === 'matmul' || extra.includes(p))).toBe(true);
      for (const c of outs.calls) expect(c.size).toBeLessThan(M * K * N);
      // And the values are right: with a ones cotangent, ∂/∂a = 1 bᵀ (row sums of b), checked on the host.
      await checkGrad(mm, [
        { shape: as, data: Array.from({ length: size(as) }, (_, i) => Math.sin(i)) },
        { shape: bs, data: Array.from({ length: size(bs) }, (_, i) => Math.cos(i)) },
      ], { name });
      dispose(outs.result);
      dispose([outs.a, outs.b]);
    });
  }

  it('the VJP of conv2d is im2col (the patches rebuilt, not kept), col2im and matmuls, never a kernel-sized blow-up of the output', () => {
    const [n, h, w, c, co, k] = [2, 6, 6, 3, 4, 3];
    const r = tidy(() => {
      const x = upload({ shape: [n, h, w, c], data: new Array(n * h * w * c).fill(0.5) });
      const wt = upload({ shape: [k, k, c, co], data: new Array(k * k * c * co).fill(0.25) });
      // im2col named: 'auto' takes Winograd F(4×4) for this 6×6 output (its VJP is tested in winograd.test.ts).
      const [y, pb] = vjp((a: Tensor, b: Tensor) => o.conv2d(a, b, { padding: 'same', algorithm: 'im2col' }), x, wt);
      const ct = o.onesLike(y);
      return spy(() => pb(ct));
    });
    const prims = r.calls.map((call) => call.prim).sort();
    expect(prims).toEqual(['col2im', 'im2col', 'matmul', 'matmul']);
    dispose(r.result);
  });

  it('grad and valueAndGrad leave nothing behind but their results', async () => {
    const { memoryStats } = await import('../../index.js');
    const x = upload({ shape: [4, 3], data: Array.from({ length: 12 }, (_, i) => i / 10) });
    const before = memoryStats();
    const [v, g] = valueAndGrad((t: Tensor) => o.sum(o.tanh(o.matmul(t, o.transpose(t)))))(x);
    expect(memoryStats().tensors).toBe(before.tensors + 2);
    dispose([v, g]);
    const gg = grad((t: Tensor) => o.sum(grad((u: Tensor) => o.sum(o.sin(u)))(t)))(x);
    expect(memoryStats().tensors).toBe(before.tensors + 1);
    dispose([gg, x]);
    expect(treeLeaves([v, g, gg]).every((t) => t.disposed)).toBe(true);
  });
});
