/**
 * The tape (core/trace.ts) from outside: whether a transformation is recording, what `grad` leaves
 * behind, every check of a cotangent (vjp's and customVjp's) with its whole message, and which custom
 * steps the backward pass runs and with which cotangents.
 */
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { customVjp, dispose, grad, isTracing, jvp, keep, memoryStats, stopGradient, tidy, valueAndGrad, vjp, vmap, type Tensor } from '../../index.js';
import { bindHook } from '../../core/trace.js';
import { describeBackends, errorMessage, read, upload } from './harness.js';

/** sin as a custom step whose backward records the live tensor count when the backward pass reaches it. */
const probeStep = (record: (live: number) => void) =>
  customVjp(
    (t: Tensor) => o.sin(t),
    (_args, cts) => {
      record(memoryStats().tensors);
      return [cts[0]!];
    },
  );

describeBackends('the tape', () => {
  it('isTracing is true exactly while a grad or vjp records', () => {
    const seen: boolean[] = [isTracing()];
    const x = upload({ shape: [3], data: [1, 2, 3] });
    dispose(grad((a: Tensor) => (seen.push(isTracing()), o.sum(a)))(x));
    seen.push(isTracing());
    tidy(() => vjp((a: Tensor) => (seen.push(isTracing()), o.exp(a)), x));
    seen.push(isTracing());
    expect(seen).toEqual([false, true, false, true, false]);
    x.dispose();
  });

  it('grad leaves only the gradient behind, valueAndGrad the value and the gradient', () => {
    const x = upload({ shape: [4], data: [0.5, -1, 2, 3] });
    const f = (a: Tensor) => o.sum(o.exp(o.mul(a, a)));
    let before = memoryStats().tensors;
    const g = grad(f)(x);
    expect(memoryStats().tensors).toBe(before + 1);
    before = memoryStats().tensors;
    const [value, g2] = valueAndGrad(f)(x);
    expect(memoryStats().tensors).toBe(before + 2);
    dispose([x, g, value, g2]);
  });

  it('a loss of shape [1] or [1, 1] (size 1) is differentiated like a scalar one: the gradient of its sum', async () => {
    const x = upload({ shape: [3], data: [1, 2, 3] });
    for (const shape of [[1], [1, 1]]) {
      const [value, g] = valueAndGrad((a: Tensor) => o.reshape(o.sum(o.mul(a, a)), shape))(x);
      expect([value.shape, await read(value), await read(g)]).toEqual([shape, [14], [2, 4, 6]]);
      dispose([value, g]);
    }
    x.dispose();
  });

  it("vjp refuses a cotangent of another dtype or rank than the output's, with the whole message", () => {
    const x = upload({ shape: [3], data: [1, 2, 3] });
    expect(
      errorMessage(() => {
        const [, pullback] = vjp((a: Tensor) => o.exp(a), x);
        pullback(o.zeros([3], 'int32'));
      }),
    ).toBe('vjp: cotangent 0 is int32[3] but the output is float32[3]');
    expect(
      errorMessage(() => {
        const [, pullback] = vjp((a: Tensor) => o.exp(a), x);
        pullback(o.zeros([1, 3]));
      }),
    ).toBe('vjp: cotangent 0 is float32[1,3] but the output is float32[3]');
    // Fewer axes, each matching the output's first ones: only the rank tells them apart.
    const x2 = upload({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] });
    expect(
      errorMessage(() => {
        const [, pullback] = vjp((a: Tensor) => o.exp(a), x2);
        pullback(o.zeros([2]));
      }),
    ).toBe('vjp: cotangent 0 is float32[2] but the output is float32[2,3]');
    dispose([x, x2]);
  });

  it("customVjp refuses a backward that returns too few cotangents, null for a wanted one, or one of another dtype, rank, shape or kind than its argument's", () => {
    const x = upload({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] });
    const y = upload({ shape: [2, 3], data: [1, 1, 1, 1, 1, 1] });
    const failing = (backward: () => readonly (Tensor | null)[]) =>
      errorMessage(() => {
        const f = customVjp((a: Tensor, b: Tensor) => o.mul(a, b), backward);
        grad((a: Tensor) => o.sum(f(a, y)))(x);
      });
    expect(failing(() => [o.zeros([2, 3])])).toBe('customVjp: backward returned 1 cotangents for 2 tensor arguments');
    const argument = 'but the argument is float32[2,3]';
    expect(failing(() => [null, null])).toBe(`customVjp: backward's cotangent 0 is null ${argument}`);
    expect(failing(() => [o.zeros([2, 3], 'int32'), null])).toBe(`customVjp: backward's cotangent 0 is int32[2,3] ${argument}`);
    expect(failing(() => [o.zeros([6]), null])).toBe(`customVjp: backward's cotangent 0 is float32[6] ${argument}`);
    expect(failing(() => [o.zeros([2]), null])).toBe(`customVjp: backward's cotangent 0 is float32[2] ${argument}`);
    expect(failing(() => [o.zeros([2, 4]), null])).toBe(`customVjp: backward's cotangent 0 is float32[2,4] ${argument}`);
    expect(failing(() => [2 as unknown as Tensor, null])).toBe(`customVjp: backward's cotangent 0 is 2 ${argument}`);
    // An unwanted cotangent may be null, but one that is given is checked like the others.
    expect(failing(() => [o.onesLike(x), o.zeros([4])])).toBe("customVjp: backward's cotangent 1 is float32[4] but the argument is float32[2,3]");
    // Unwanted cotangents may be null, and wanted ones pass when they match.
    expect(failing(() => [o.onesLike(x), null])).toBe('');
    dispose([x, y]);
  });

  it('a custom step gets zeros of the right shape for an output the loss does not read, and is not pulled back when the loss reads none', async () => {
    const x = upload({ shape: [3], data: [1, 2, 3] });
    const received: number[][][] = [];
    // Copies of the cotangents, kept past the backward pass's scope and read afterwards (WebGPU reads asynchronously only).
    const copies: Tensor[] = [];
    let calls = 0;
    const pair = customVjp(
      (a: Tensor) => [o.mul(a, 2), o.reshape(o.mul(a, 3), [3, 1])] as const,
      ([a], cts) => {
        calls++;
        received.push(cts.map((c) => c.shape.slice()));
        copies.push(...keep(cts.map((c) => o.reshape(o.add(c, 0), [c.size]))));
        return [o.add(o.mul(cts[0]!, 2), o.mul(o.reshape(cts[1]!, a!.shape), 3))];
      },
    );
    // The loss reads the first output only: d/dx Σ 2x = 2, and the second output's cotangent is zeros [3, 1].
    const g = grad((a: Tensor) => o.sum(pair(a)[0]))(x);
    expect(await read(g)).toEqual([2, 2, 2]);
    for (const c of copies) received.push([await read(c)]);
    dispose(copies);
    expect(received).toEqual([[[3], [3, 1]], [[1, 1, 1]], [[0, 0, 0]]]);
    expect(calls).toBe(1);
    // The loss reads neither output: the custom step is on the tape but nothing flows into it.
    const g2 = grad((a: Tensor) => (pair(a), o.sum(o.mul(a, 5))))(x);
    expect(await read(g2)).toEqual([5, 5, 5]);
    expect(calls).toBe(1);
    dispose([x, g, g2]);
  });

  it("valueAndGrad's backward pass frees saved forward values after their last reader and cotangents once consumed: live tensors grow by one per layer, where keeping the forward values grows by three", () => {
    const x = upload({ shape: [8], data: [1, 2, 3, 4, 5, 6, 7, 8].map((v) => v / 10) });
    /** Live tensors (above those before the call) when the backward pass reaches its last step: a custom step at the chain's start. */
    const liveAtLastStep = (depth: number, streamed: boolean): number => {
      let live = -1;
      const probe = customVjp(
        (t: Tensor) => o.mul(t, 1),
        (_args, cts) => {
          live = memoryStats().tensors;
          return [cts[0]!];
        },
      );
      const f = (a: Tensor) => {
        let h = probe(a);
        for (let i = 0; i < depth; i++) h = o.tanh(o.mul(o.sin(h), h));
        return o.sum(h);
      };
      const before = memoryStats().tensors;
      const result = streamed ? valueAndGrad(f)(x) : tidy(() => {
        const [y, pullback] = vjp(f, x);
        return [y, pullback(o.onesLike(y))] as const;
      });
      dispose(result);
      return live - before;
    };
    // Per layer, sin saves its input, mul both of its own and tanh its output (the next layer's h);
    // mul's output is read by no VJP, so it stays until the scope ends: one tensor per layer. vjp's
    // pullback (which may be called again) keeps the saved values as well: three per layer. h fans
    // out to sin and mul, so its two cotangents are summed, and the summed ones must be freed too.
    // Holding the saved values, or any cotangent, until the scope ends is what the streamed pass must not do.
    const growth = (streamed: boolean) => liveAtLastStep(32, streamed) - liveAtLastStep(4, streamed);
    expect(growth(true)).toBeLessThanOrEqual(28);
    expect(growth(false)).toBeGreaterThanOrEqual(2 * 28);
    // Exactly: one per layer streamed; three per layer kept, the values the rules' `saves` name and no
    // more (a rule made to save its output too, or all its inputs, keeps mul's output: four).
    expect(growth(true)).toBe(28);
    expect(growth(false)).toBe(3 * 28);
    x.dispose();
  });

  it('a tape records only primitives on values it tracks: inside vjp, a scope frees the intermediates of a computation on constants, and keeps those the backward pass reads', () => {
    const x = upload({ shape: [3], data: [0.1, 0.2, 0.3] });
    const k = upload({ shape: [3], data: [0.4, 0.5, 0.6] });
    const kept: number[] = [];
    tidy(() => {
      vjp((a: Tensor) => {
        let before = memoryStats().tensors;
        const c = tidy(() => o.exp(o.exp(o.exp(k))));
        kept.push(memoryStats().tensors - before);
        before = memoryStats().tensors;
        const d = tidy(() => o.exp(o.exp(o.exp(a))));
        kept.push(memoryStats().tensors - before);
        return o.sum(o.mul(c, d));
      }, x);
    });
    // On the constant: its result alone. On the argument: exp saves its output, so all three stay.
    expect(kept).toEqual([1, 3]);
    dispose([x, k]);
  });

  it('a primitive without a VJP (a comparison, argmax, bit ops) is not recorded: nothing of it is kept for the backward pass, and gradients through where are unchanged', async () => {
    const x = upload({ shape: [4], data: [0.5, -1, 2, -0.25] });
    const kept: number[] = [];
    let g: Tensor | undefined;
    tidy(() => {
      const [, pullback] = vjp((a: Tensor) => {
        const before = memoryStats().tensors;
        // sin(a) is read by greater alone (sin saves its input, not its output), and greater,
        // argmax and the bit ops pass no gradient: the scope must free all of them.
        const mask = tidy(() => {
          const s = o.sin(a);
          o.argmax(s, 0);
          o.bitwiseAnd(o.cast(s, 'int32'), 1);
          return o.greater(s, 0);
        });
        kept.push(memoryStats().tensors - before);
        return o.sum(o.where(mask, o.mul(a, 3), a));
      }, x);
      g = keep(pullback(o.scalar(1))[0]);
    });
    // The mask alone, the scope's result; recorded, greater kept sin(a) as well, and the
    // argmax and bit-op entries their inputs and outputs.
    expect(kept).toEqual([1]);
    expect(await read(g!)).toEqual([3, 1, 3, 1]);
    dispose([x, g!]);
  });

  it("a custom step's backward is used by the tape that tracks its argument, also inside an outer tape that does not, and only by that tape", async () => {
    const x = upload({ shape: [3], data: [1, 2, 3] });
    const y = upload({ shape: [3], data: [1, 1, 1] });
    let calls = 0;
    // A backward that is deliberately not the derivative (10, not 2), to see which path ran.
    const step = customVjp(
      (a: Tensor) => o.mul(a, 2),
      (_args, cts) => {
        calls++;
        return [o.mul(cts[0]!, 10)];
      },
    );
    // The inner tape tracks x, the outer one b alone: inner value Σ 2x·b, inner gradient 10·b.
    // d/db (Σ 2x·b + Σ 10·b) = 2x + 10. The outer tape, which does not track x, must not record the
    // custom step: it would pull it back a second time, for a cotangent no one wants.
    const g = grad((b: Tensor) => {
      const [value, gx] = valueAndGrad((a: Tensor) => o.sum(o.mul(step(a), b)))(x);
      return o.add(value, o.sum(gx));
    })(y);
    expect(await read(g)).toEqual([12, 14, 16]);
    expect(calls).toBe(1);
    dispose([x, y, g]);
  });

  it('under jvp (also around a tape) and vmap, a custom step is its function, differentiated and batched through its primitives', async () => {
    const x = upload({ shape: [3], data: [1, 2, 3] });
    const t = upload({ shape: [3], data: [1, 0.5, -1] });
    let calls = 0;
    const step = customVjp(
      (a: Tensor) => o.mul(o.mul(a, a), 2),
      (_args, cts) => {
        calls++;
        return [o.mul(cts[0]!, 10)];
      },
    );
    const [y, ty] = jvp((a: Tensor) => step(a), [x], [t]);
    // d(2a²) = 4a·t.
    expect([await read(y), await read(ty)]).toEqual([[2, 8, 18], [4, 4, -12]]);
    const xs = upload({ shape: [2, 3], data: [1, 2, 3, -1, -2, -3] });
    const ys = vmap((a: Tensor) => step(a))(xs);
    expect(await read(ys)).toEqual([2, 8, 18, 2, 8, 18]);
    // A tape inside a jvp: the step is differentiated through its primitives by both (4a, tangent 4t).
    const [gx, tgx] = jvp((b: Tensor) => grad((a: Tensor) => o.sum(step(a)))(b), [x], [t]);
    expect([await read(gx), await read(tgx)]).toEqual([[4, 8, 12], [4, 2, -4]]);
    expect(calls).toBe(0);
    dispose([x, t, y, ty, xs, ys, gx, tgx]);
  });

  it("the backward pass frees a custom step's unwanted cotangents, the zeros it fills in for an output no one reads, and its saved argument after its last reader", () => {
    const x = upload({ shape: [8], data: [1, 2, 3, 4, 5, 6, 7, 8].map((v) => v / 10) });
    const k = upload({ shape: [8], data: [8, 7, 6, 5, 4, 3, 2, 1].map((v) => v / 10) });
    /**
     * Σ late(probe(x)) under valueAndGrad, with two custom steps: the live tensors when `probe` (first
     * in the chain, last pulled back) starts its backward, less those when `late` started its own.
     */
    const change = (late: (h: Tensor, watch: () => void) => Tensor): number => {
      let atProbe = -1;
      let atLate = -1;
      const probe = probeStep((n) => (atProbe = n));
      dispose(valueAndGrad((a: Tensor) => o.sum(late(probe(a), () => (atLate = memoryStats().tensors))))(x));
      return atProbe - atLate;
    };
    // Two outputs, the loss reading the first: the second's cotangent is filled in with zeros.
    const pair = (h: Tensor, watch: () => void) =>
      customVjp(
        (t: Tensor) => [o.mul(t, 2), o.mul(t, 3)] as const,
        (_args, cts) => (watch(), [o.add(o.mul(cts[0]!, 2), o.mul(cts[1]!, 3))]),
      )(h)[0];
    // A second argument, k, that no tape tracks: its cotangent is not wanted, given or not.
    const scaled = (giveUnwanted: boolean) => (h: Tensor, watch: () => void) =>
      customVjp(
        (t: Tensor, c: Tensor) => o.mul(t, c),
        ([t, c], cts) => (watch(), [o.mul(cts[0]!, c!), giveUnwanted ? o.mul(cts[0]!, t!) : null]),
      )(h, k);
    // Between the two: the cotangent late returns for probe's output (+1); the cotangent of late's
    // output, consumed (−1); probe's output, whose last reader is late (−1); and for `pair` the zeros
    // (−1). An unwanted cotangent is freed as soon as it is returned: it adds nothing.
    expect([change(pair), change(scaled(true)), change(scaled(false))]).toEqual([-2, -1, -1]);
    dispose([x, k]);
  });

  it('a pullback never frees the cotangent its caller passed, also where it goes straight into a custom step', async () => {
    const x = upload({ shape: [3], data: [1, 2, 3] });
    const ct = upload({ shape: [3], data: [1, 1, 1] });
    const step = customVjp(
      (a: Tensor) => o.mul(a, 2),
      (_args, cts) => [o.mul(cts[0]!, 2)],
    );
    const [gx] = tidy(() => {
      const [, pullback] = vjp((a: Tensor) => step(a), x);
      return pullback(ct);
    });
    expect(ct.disposed).toBe(false);
    expect(await read(gx!)).toEqual([2, 2, 2]);
    dispose([x, ct, gx!]);
  });

  it('the backward pass frees a value saved by a step no cotangent reaches, when it passes that step', () => {
    const x = upload({ shape: [8], data: [1, 2, 3, 4, 5, 6, 7, 8].map((v) => v / 10) });
    /** Live tensors (above those before the call) when the backward pass reaches a custom step at the chain's start. */
    const atProbe = (deadBranch: boolean): number => {
      let live = -1;
      const probe = probeStep((n) => (live = n));
      const before = memoryStats().tensors;
      dispose(
        valueAndGrad((a: Tensor) => {
          const h = probe(a);
          // exp saves its output; the loss does not read it, so no cotangent reaches exp's step.
          if (deadBranch) o.exp(h);
          return o.sum(h);
        })(x),
      );
      return live - before;
    };
    expect(atProbe(true)).toBe(atProbe(false));
    x.dispose();
  });

  it("jit's hook sees every primitive bind runs, flagged where a batching rule ran in its place", () => {
    const x = upload({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] });
    const seen: string[] = [];
    bindHook.record = (prim, _inputs, _params, _out, batched) => void seen.push(batched ? `${prim} (batched)` : prim);
    try {
      tidy(() => {
        o.exp(x);
        vmap((a: Tensor) => o.exp(a))(x);
      });
    } finally {
      bindHook.record = null;
    }
    // The plain exp; under vmap, vmap's own reshape of the batched input, the batching rule's exp on
    // the batched values, and then the exp it stood in for, flagged.
    expect(seen).toEqual(['exp', 'reshape', 'exp', 'exp (batched)']);
    x.dispose();
  });

  it('a primitive without a VJP (bitcast) passes no cotangent on: the gradient through it is zero, not an error', async () => {
    const x = upload({ shape: [3], data: [1, 2, 3] });
    // The second term keeps x on a differentiable path too; the bug below is what happens without it.
    const g = grad((a: Tensor) => o.sum(o.add(o.bitcast(o.bitcast(a, 'int32'), 'float32'), o.mul(a, 0))))(x);
    expect(await read(g)).toEqual([0, 0, 0]);
    dispose([x, g]);
  });

  // Found with this file's mutants (test/MUTATION.md): the streamed backward pass had freed the
  // argument's alias after the last entry that saved it, and the zero gradient was made from it.
  it('an argument that reaches the loss only through a primitive without a VJP gets a zero gradient', async () => {
    const x = upload({ shape: [3], data: [1, 2, 3] });
    try {
      const g = grad((a: Tensor) => o.sum(o.bitcast(o.bitcast(a, 'int32'), 'float32')))(x);
      expect(await read(g)).toEqual([0, 0, 0]);
      g.dispose();
    } finally {
      x.dispose();
    }
  });

  it('an argument the loss does not read gets zeros of its own shape and dtype', async () => {
    const x = upload({ shape: [3], data: [1, 2, 3] });
    const unused = upload({ shape: [2, 2], data: [1, 2, 3, 4] });
    const [gx, gUnused] = grad(([a]: Tensor[]) => o.sum(o.mul(a!, 2)))([x, unused]);
    expect(await read(gx!)).toEqual([2, 2, 2]);
    expect([gUnused!.shape, gUnused!.dtype]).toEqual([[2, 2], 'float32']);
    expect(await read(gUnused!)).toEqual([0, 0, 0, 0]);
    dispose([x, unused, gx!, gUnused!]);
  });

  it('stopGradient under vmap keeps each example and stops only its gradient: d/dx Σ stop(x)·x = x', async () => {
    const x = upload({ shape: [2, 3], data: [1, 2, 3, 4, 5, 6] });
    const y = vmap((a: Tensor) => o.mul(stopGradient(a), 2))(x);
    expect([y.shape, await read(y)]).toEqual([[2, 3], [2, 4, 6, 8, 10, 12]]);
    const g = grad((b: Tensor) => o.sum(vmap((a: Tensor) => o.mul(stopGradient(a), a))(b)))(x);
    expect(await read(g)).toEqual([1, 2, 3, 4, 5, 6]);
    dispose([x, y, g]);
  });

  it('errors name the entry point: valueAndGrad (and grad through it) for the loss, stopGradient and customVjp for a freed tensor', () => {
    const x = upload({ shape: [3], data: [1, 2, 3] });
    const notScalar = 'valueAndGrad: the function must return a scalar, got shape [3]; reduce it with sum or mean';
    expect(errorMessage(() => grad((a: Tensor) => o.mul(a, 2))(x))).toBe(notScalar);
    expect(errorMessage(() => valueAndGrad((a: Tensor) => o.mul(a, 2))(x))).toBe(notScalar);
    const freed = o.mul(x, 2);
    freed.dispose();
    expect(errorMessage(() => stopGradient(freed))).toMatch(/^stopGradient: tensor #\d+ .* was disposed/);
    const returnsFreed = customVjp(
      (a: Tensor) => {
        const y = o.mul(a, 2);
        y.dispose();
        return y;
      },
      (_args, cts) => cts,
    );
    expect(errorMessage(() => grad((a: Tensor) => o.sum(returnsFreed(a)))(x))).toMatch(/^customVjp: tensor #\d+ .* was disposed/);
    x.dispose();
  });
});
