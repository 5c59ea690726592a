import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import * as nn from '../../nn/index.js';
import { values } from './helpers.js';

const finite = (min: number, max: number) => fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
const vector = fc.array(finite(-3, 3), { minLength: 1, maxLength: 6 });

function expectClose(actual: number[], expected: number[], rel = 1e-5, abs = 1e-7): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= abs + rel * Math.abs(e))) throw new Error(`entry ${i}: got ${a}, expected ${e}`);
  });
}

/** Values exactly representable in float32, so host references start from the same numbers. */
const f32 = (xs: number[]) => Array.from(Float32Array.from(xs));

async function scalarOf(t: r.Tensor): Promise<number> {
  return (await t.toArray())[0]!;
}

/**
 * Four updates of `packaged` and of `chained` from the same parameters and gradients: each update's
 * leaves bit for bit the same; returns the packaged optimizer's last state and the chain's.
 */
async function expectSameUpdates<S1 extends r.TensorTree, S2 extends r.TensorTree>(packaged: nn.GradientTransformation<S1>, chained: nn.GradientTransformation<S2>, params: r.Tensor[], label: string): Promise<[S1, S2]> {
  let a = packaged.init(params);
  let b = chained.init(params);
  for (let t = 0; t < 4; t++) {
    const grads = params.map((x, j) => r.mul(r.sin(x), j + 1 + t));
    const one = packaged.update(grads, a, params);
    const two = chained.update(grads, b, params);
    for (let j = 0; j < params.length; j++) expect(await values(one.updates[j]!), `${label}, step ${t}`).toEqual(await values(two.updates[j]!));
    a = one.state;
    b = two.state;
  }
  return [a, b];
}

describe('optimizers', () => {
  it('one Adam step equals the closed form: m̂ = g, v̂ = g², update = −η g/(|g| + ε)', async () => {
    await fc.assert(
      fc.asyncProperty(vector, finite(1e-4, 1e-1), finite(0.5, 0.99), finite(0.9, 0.9999), async (g0, lr, b1, b2) => {
        const g = f32(g0);
        const params = { w: r.tensor(g.map(() => 1)) };
        const opt = nn.adam({ learningRate: lr, b1, b2, eps: 1e-8 });
        const state = opt.init(params);
        const { updates, state: next } = opt.update({ w: r.tensor(g) }, state, params);
        // m̂ = g and v̂ = g² after one step, whatever β₁ and β₂ are.
        expectClose(await values(updates.w), g.map((v) => (-lr * v) / (Math.abs(v) + 1e-8)), 1e-4, 1e-9);
        expect(await scalarOf(next.step)).toBe(1);
        expectClose(await values((next.mu as { w: r.Tensor }).w), g.map((v) => (1 - b1) * v), 1e-5, 1e-9);
        expectClose(await values((next.nu as { w: r.Tensor }).w), g.map((v) => (1 - b2) * v * v), 1e-5, 1e-9);
      }),
      { numRuns: 30 },
    );
  });

  it('a gradient the size of ε: the update is −η g/(|g| + ε) (ε outside the square root, as optax)', async () => {
    // At |g| ~ ε = 1e-8 the two placements differ by four orders of magnitude: outside, g = ε gives
    // −η/2; inside, √(g² + ε) ≈ 1e-4 gives −η·1e-4. Random gradients rarely come this close to ε.
    // Two leaves, so a whole-tree path and a per-leaf path see the same case; AdamW at θ = 0 adds
    // no decay. Tolerance 1e-3 relative: the float32 moments carry 1 − β₂ = 1e-3 and its bias
    // correction to ~1e-4 relative.
    const lr = 0.1;
    const a = f32([1e-8, -1e-8, 2.5e-9, 4e-8, 0]);
    const b = f32([1e-8, 3e-9]);
    const params = { a: r.zeros([a.length]), b: r.zeros([b.length]) };
    for (const opt of [nn.adam({ learningRate: lr }), nn.adamw({ learningRate: lr, weightDecay: 0.5 })]) {
      const { updates } = opt.update({ a: r.tensor(a), b: r.tensor(b) }, opt.init(params), params);
      expectClose(await values(updates.a), a.map((g) => (-lr * g) / (Math.abs(g) + 1e-8)), 1e-3, 0);
      expectClose(await values(updates.b), b.map((g) => (-lr * g) / (Math.abs(g) + 1e-8)), 1e-3, 0);
    }
  });

  it('Adam over three steps matches a float64 host implementation', async () => {
    const grads = [[0.5, -1, 2], [0.1, 0.3, -0.2], [-2, 0.7, 0.05]].map(f32);
    const [lr, b1, b2, eps] = [1e-2, 0.9, 0.999, 1e-8];
    const opt = nn.adam({ learningRate: lr });
    let params = { w: r.tensor([1, 2, 3]) };
    let state = opt.init(params);
    const host = { w: [1, 2, 3], m: [0, 0, 0], v: [0, 0, 0] };
    for (let t = 1; t <= 3; t++) {
      const g = grads[t - 1]!;
      const out = opt.update({ w: r.tensor(g) }, state, params);
      params = nn.applyUpdates(params, out.updates);
      state = out.state;
      host.m = host.m.map((m, i) => b1 * m + (1 - b1) * g[i]!);
      host.v = host.v.map((v, i) => b2 * v + (1 - b2) * g[i]! ** 2);
      host.w = host.w.map((w, i) => w - (lr * (host.m[i]! / (1 - b1 ** t))) / (Math.sqrt(host.v[i]! / (1 - b2 ** t)) + eps));
    }
    expectClose(await values(params.w), host.w, 1e-5);
  });

  it('AdamW adds the decoupled decay λθ, scaled by the learning rate only', async () => {
    const params = { w: r.tensor([2, -4]) };
    const opt = nn.adamw({ learningRate: 0.1, weightDecay: 0.5 });
    const { updates } = opt.update({ w: r.tensor([3, 0.5]) }, opt.init(params), params);
    expectClose(await values(updates.w), [-0.1 * (3 / (3 + 1e-8) + 0.5 * 2), -0.1 * (0.5 / (0.5 + 1e-8) + 0.5 * -4)]);
    expect(() => opt.update({ w: r.tensor([1, 1]) }, opt.init(params))).toThrow(/^adamw: weight decay needs the parameters/);
  });

  it('adam and adamw are optax chains: chain(scaleByAdam, [addDecayedWeights,] scaleByLearningRate) gives their updates bit for bit, on few leaves and many', async () => {
    const schedule = nn.warmupCosineDecaySchedule({ peak: 1e-2, warmupSteps: 2, decaySteps: 10 });
    for (const leaves of [2, 6]) {
      for (const weightDecay of [0, 0.03]) {
        const packaged = weightDecay ? nn.adamw({ learningRate: schedule, weightDecay, b1: 0.8 }) : nn.adam({ learningRate: schedule, b1: 0.8 });
        const chained = nn.chain(nn.scaleByAdam({ b1: 0.8 }), ...(weightDecay ? [nn.addDecayedWeights(weightDecay)] : []), nn.scaleByLearningRate(schedule));
        const params = Array.from({ length: leaves }, (_, i) => r.normal(r.key(i), [3 + i]));
        const [a, b] = await expectSameUpdates(packaged, chained, params, `${leaves} leaves, λ ${weightDecay}`);
        // The packaged optimizer keeps one step count: its state is scaleByAdam's.
        expect(Object.keys(a).sort()).toEqual(['mu', 'nu', 'step']);
        expect(await values(a.step)).toEqual(await values((b[0] as nn.AdamState).step));
      }
    }
    expect(() => nn.addDecayedWeights(0.1).update({ w: r.tensor([1]) }, {})).toThrow(/^addDecayedWeights: weight decay needs the parameters/);
  });

  it('sgd is an optax chain: chain([trace,] scaleByLearningRate) gives its updates bit for bit, and its state stays { step, momentum? }', async () => {
    const schedule = nn.warmupCosineDecaySchedule({ peak: 0.1, warmupSteps: 2, decaySteps: 10 });
    for (const config of [{}, { momentum: 0.9 }, { momentum: 0.5, nesterov: true }]) {
      const packaged = nn.sgd({ learningRate: schedule, ...config });
      const chained = nn.chain(...(config.momentum ? [nn.trace({ decay: config.momentum, nesterov: config.nesterov })] : []), nn.scaleByLearningRate(schedule));
      const [a] = await expectSameUpdates(packaged, chained, [r.tensor([0.5, -1, 2]), r.tensor([3, 0.25])], JSON.stringify(config));
      expect(Object.keys(a).sort()).toEqual(config.momentum ? ['momentum', 'step'] : ['step']);
    }
  });

  it('SGD: plain, heavy-ball momentum and Nesterov follow optax', async () => {
    const g1 = [1, -2];
    const g2 = [0.5, 0.5];
    const run = async (config: nn.SgdConfig) => {
      const opt = nn.sgd(config);
      const params = { w: r.tensor([0, 0]) };
      const a = opt.update({ w: r.tensor(g1) }, opt.init(params), params);
      const b = opt.update({ w: r.tensor(g2) }, a.state, params);
      return [await values(a.updates.w), await values(b.updates.w)];
    };
    expect(await run({ learningRate: 0.1 })).toEqual([f32([-0.1, 0.2]), f32([-0.05, -0.05])]);
    const [m1, m2] = await run({ learningRate: 0.1, momentum: 0.9 });
    expectClose(m1!, [-0.1, 0.2]);
    expectClose(m2!, [-0.1 * (0.5 + 0.9 * 1), -0.1 * (0.5 + 0.9 * -2)]);
    const [n1] = await run({ learningRate: 0.1, momentum: 0.9, nesterov: true });
    expectClose(n1!, [-0.1 * (1 + 0.9), -0.1 * (-2 - 1.8)]);
  });

  it('clipByGlobalNorm rescales to the max norm only when the norm exceeds it', async () => {
    await fc.assert(
      fc.asyncProperty(vector, vector, finite(0.1, 5), async (a0, b0, maxNorm) => {
        const [a, b] = [f32(a0), f32(b0)];
        const norm = Math.sqrt([...a, ...b].reduce((s, v) => s + v * v, 0));
        const clip = nn.clipByGlobalNorm(maxNorm);
        const { updates } = clip.update({ a: r.tensor(a), nested: [r.tensor(b)] }, clip.init({}));
        const factor = norm > maxNorm ? maxNorm / norm : 1;
        expectClose(await values(updates.a), a.map((v) => v * factor), 1e-5, 1e-6);
        expectClose(await values(updates.nested[0]!), b.map((v) => v * factor), 1e-5, 1e-6);
      }),
      { numRuns: 30 },
    );
  });

  it('clipByGlobalNorm keeps an empty state (optax EmptyState) and refuses a max norm that is not positive', () => {
    expect(nn.clipByGlobalNorm(1).init({ w: r.tensor([1]) })).toEqual({});
    for (const bad of [0, -1, Number.NaN]) expect(() => nn.clipByGlobalNorm(bad)).toThrow(new RegExp(`^clipByGlobalNorm: maxNorm must be positive, got ${bad}$`));
  });

  it('chain refuses a state that is not one entry per transformation', () => {
    const opt = nn.chain(nn.clipByGlobalNorm(1), nn.sgd({ learningRate: 1 }));
    const params = { w: r.tensor([1]) };
    const [clipState] = opt.init(params);
    expect(() => opt.update(params, [clipState!], params)).toThrow(/^chain: expected a state array of 2 entries, got 1$/);
    expect(() => opt.update(params, {} as never, params)).toThrow(/^chain: expected a state array of 2 entries, got object$/);
  });

  it('chain threads the updates through each transformation and keeps a state each', async () => {
    const opt = nn.chain(nn.clipByGlobalNorm(1), nn.sgd({ learningRate: 2 }));
    const params = { w: r.tensor([0, 0]) };
    const state = opt.init(params);
    expect(state.length).toBe(2);
    const { updates, state: next } = opt.update({ w: r.tensor([3, 4]) }, state, params);
    expectClose(await values(updates.w), [-2 * 0.6, -2 * 0.8]);
    expect(await scalarOf((next[1] as nn.SgdState).step)).toBe(1);
  });

  it('a schedule as learning rate is read at the step count before the update (optax)', async () => {
    const opt = nn.sgd({ learningRate: nn.warmupSchedule({ peak: 1, warmupSteps: 4 }) });
    const params = { w: r.tensor([0]) };
    let state = opt.init(params);
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      const out = opt.update({ w: r.tensor([-1]) }, state, params);
      seen.push((await values(out.updates.w))[0]!);
      state = out.state;
    }
    expect(seen).toEqual([0, 0.25, 0.5, 0.75, 1, 1]);
  });
});

describe('learning-rate schedules', () => {
  const at = async (s: nn.LearningRateSchedule, step: number) => scalarOf(s(step));

  it('constant, warmup, cosine decay and warmup-cosine match the optax formulas', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 300 }), finite(1e-4, 1), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 200 }), finite(0, 0.5), async (step, peak, warmup, decay, alpha) => {
        expect(await at(nn.constantSchedule(peak), step)).toBeCloseTo(peak, 6);
        expect(await at(nn.warmupSchedule({ init: 0.1 * peak, peak, warmupSteps: warmup }), step)).toBeCloseTo(0.1 * peak + (0.9 * peak * Math.min(step, warmup)) / warmup, 5);
        const cosine = (s: number, d: number) => 0.5 * (1 + Math.cos((Math.PI * Math.min(s, d)) / d));
        expect(await at(nn.cosineDecaySchedule({ init: peak, decaySteps: decay, alpha }), step)).toBeCloseTo(peak * ((1 - alpha) * cosine(step, decay) + alpha), 5);
        const end = alpha * peak;
        const wc = nn.warmupCosineDecaySchedule({ peak, warmupSteps: warmup, decaySteps: warmup + decay, end });
        const expected = step < warmup ? (peak * step) / warmup : end + (peak - end) * cosine(step - warmup, decay);
        expect(await at(wc, step)).toBeCloseTo(expected, 5);
      }),
      { numRuns: 40 },
    );
  });

  it('a peak of 0 gives a schedule of 0 everywhere (end / peak is not taken), and step counts must leave room', async () => {
    const zero = nn.warmupCosineDecaySchedule({ peak: 0, warmupSteps: 2, decaySteps: 6 });
    for (const step of [0, 1, 2, 3, 6, 10]) expect(await at(zero, step)).toBe(0);
    expect(() => nn.warmupSchedule({ peak: 1, warmupSteps: 0 })).toThrow(/^warmupSchedule: warmupSteps must be positive, got 0$/);
    expect(() => nn.cosineDecaySchedule({ init: 1, decaySteps: 0 })).toThrow(/^cosineDecaySchedule: decaySteps must be positive, got 0$/);
    expect(() => nn.warmupCosineDecaySchedule({ peak: 1, warmupSteps: 5, decaySteps: 5 })).toThrow(/^warmupCosineDecaySchedule: decaySteps \(5\) must exceed warmupSteps \(5\)$/);
    // The smallest legal values are accepted.
    expect(await at(nn.warmupSchedule({ peak: 1, warmupSteps: 1 }), 1)).toBe(1);
    expect(await at(nn.warmupCosineDecaySchedule({ peak: 1, warmupSteps: 0, decaySteps: 1 }), 1)).toBeCloseTo(0, 6);
  });

  it('schedules run on the int32 step tensor an optimizer state holds', async () => {
    const s = nn.cosineDecaySchedule({ init: 2, decaySteps: 10 });
    expect(await scalarOf(s(r.scalar(5, 'int32')))).toBeCloseTo(1, 6);
  });
});

describe('EMA', () => {
  it('after n steps the average equals dⁿ θ₀ + (1 − d) Σₖ dⁿ⁻ᵏ θₖ', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(vector.map(f32), { minLength: 1, maxLength: 6 }), finite(0.5, 0.999), async (seq, decay) => {
        const width = seq[0]!.length;
        const thetas = seq.map((v) => Array.from({ length: width }, (_, i) => v[i % v.length]!));
        const e = nn.ema({ decay });
        const theta0 = thetas[0]!;
        let state = e.init({ w: r.tensor(theta0) });
        for (const th of thetas.slice(1)) state = e.update({ w: r.tensor(th) }, state);
        const n = thetas.length - 1;
        const expected = theta0.map((v, i) => decay ** n * v + thetas.slice(1).reduce((s, th, k) => s + (1 - decay) * decay ** (n - 1 - k) * th[i]!, 0));
        expectClose(await values(state.average.w), expected, 1e-4, 1e-5);
        expect(await scalarOf(state.step)).toBe(n);
      }),
      { numRuns: 30 },
    );
  });

  it('with warmup the decay is min(d, (1 + t)/(10 + t)); the default decay is 0.9999', async () => {
    const e = nn.ema({ decay: 0.99, warmup: true });
    let state = e.init({ w: r.tensor([0]) });
    state = e.update({ w: r.tensor([1]) }, state);
    expectClose(await values(state.average.w), [1 - 1 / 10]);
    const plain = nn.ema();
    const s2 = plain.update({ w: r.tensor([1]) }, plain.init({ w: r.tensor([0]) }));
    expectClose(await values(s2.average.w), [1e-4], 1e-3);
  });

  it('decay 1 keeps θ₀ forever, decay 0 follows the parameters; a decay outside [0, 1] is refused', async () => {
    const run = async (decay: number) => {
      const e = nn.ema({ decay });
      let state = e.init({ w: r.tensor([1, -2]) });
      for (const th of [[3, 4], [0.5, 7]]) state = e.update({ w: r.tensor(th) }, state);
      return values(state.average.w);
    };
    expect(await run(1)).toEqual([1, -2]);
    expect(await run(0)).toEqual([0.5, 7]);
    for (const bad of [-0.01, 1.01, Number.NaN]) expect(() => nn.ema({ decay: bad })).toThrow(new RegExp(`^ema: decay must be in \\[0, 1\\], got ${bad}$`));
  });

  it('the weight of the new parameters is 1 − d to float32 precision, not 1 − float32(d) (off by 1.7e-4 for d = 0.9999)', async () => {
    // float32(0.9999) = 0.99989998…, so 1 − float32(d) = 1.000166e-4: relative error 1.7e-4, which the
    // default decay's test above (tolerance 1e-3) does not see. From 0 to 1 in one step the average
    // is exactly the weight, so it must be float32(1e-4) to one rounding.
    for (const decay of [0.9999, 0.999, 0.9]) {
      const e = nn.ema({ decay });
      const s = e.update({ w: r.tensor([1]) }, e.init({ w: r.tensor([0]) }));
      expectClose(await values(s.average.w), [1 - decay], 1e-7, 0);
    }
  });

  it('the average survives disposing the parameters it started from', async () => {
    const params = { w: r.tensor([1, 2]) };
    const state = nn.ema({ decay: 0.5 }).init(params);
    r.dispose(params);
    expect(await values(state.average.w)).toEqual([1, 2]);
  });
});

describe('memory', () => {
  it('memoryStats stays flat over many tidy training steps that dispose the previous state', async () => {
    const layer = nn.mlp({ inFeatures: 4, hiddenFeatures: 8 });
    const optimizer = nn.chain(nn.clipByGlobalNorm(1), nn.adamw({ learningRate: nn.warmupCosineDecaySchedule({ peak: 1e-2, warmupSteps: 5, decaySteps: 50 }) }));
    const averager = nn.ema({ decay: 0.9 });
    const x = r.normal(r.key(0), [16, 4]);
    const y = r.sin(x);
    const params = layer.init(r.key(1));
    let state = { params, opt: optimizer.init(params), avg: averager.init(params), loss: r.scalar(0) };
    const lossFn = (p: nn.MlpParams) => r.mean(r.square(r.sub(layer.apply(p, x), y)));
    const initialLoss = await scalarOf(r.tidy(() => lossFn(params)));
    const counts: number[] = [];
    const bytes: number[] = [];
    for (let i = 0; i < 60; i++) {
      const next = r.tidy(() => {
        const [loss, grads] = r.valueAndGrad(lossFn)(state.params);
        const { updates, state: opt } = optimizer.update(grads, state.opt, state.params);
        const newParams = nn.applyUpdates(state.params, updates);
        return { params: newParams, opt, avg: averager.update(newParams, state.avg), loss };
      });
      nn.disposeStale(state, next);
      state = next;
      counts.push(r.memoryStats().tensors);
      bytes.push(r.memoryStats().bytes);
    }
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(new Set(bytes.slice(1)).size).toBe(1);
    expect(await scalarOf(state.loss)).toBeLessThan(initialLoss);
  });

  it('minimizeStep is the tidy step + disposeStale loop, bit for bit, and keeps memory flat', async () => {
    const layer = nn.mlp({ inFeatures: 3, hiddenFeatures: 5 });
    const optimizer = nn.adam({ learningRate: 1e-2 });
    const x = r.normal(r.key(2), [8, 3]);
    const y = r.cos(x);
    const lossFn = (p: nn.MlpParams) => r.mean(r.square(r.sub(layer.apply(p, x), y)));
    const p0 = layer.init(r.key(3));
    // By hand, on a copy of the parameters.
    let manual = { params: r.tidy(() => r.treeMap(p0, (t) => r.add(t, 0))), opt: optimizer.init(p0), loss: r.scalar(0) };
    let state: nn.MinimizeState<nn.MlpParams, nn.AdamState> = { params: p0, opt: optimizer.init(p0) };
    const counts: number[] = [];
    for (let i = 0; i < 30; i++) {
      const next = r.tidy(() => {
        const [loss, grads] = r.valueAndGrad(lossFn)(manual.params);
        const { updates, state: opt } = optimizer.update(grads, manual.opt, manual.params);
        return { params: nn.applyUpdates(manual.params, updates), opt, loss };
      });
      nn.disposeStale(manual, next);
      manual = next;
      const previous = state;
      state = nn.minimizeStep(lossFn, optimizer, state);
      expect(previous.params.hidden.weight.disposed).toBe(true);
      expect(await scalarOf(state.loss!)).toBe(await scalarOf(manual.loss));
      counts.push(r.memoryStats().tensors);
    }
    expect(await values(state.params.out.weight)).toEqual(await values(manual.params.out.weight));
    expect(new Set(counts.slice(1)).size).toBe(1);
    r.dispose([state, manual, x, y]);
  });

  it('minimizeStep and jitMinimizeStep with an EMA are the hand step + averager.update, bit for bit; without its state they say so', async () => {
    const layer = nn.mlp({ inFeatures: 3, hiddenFeatures: 5 });
    const optimizer = nn.chain(nn.clipByGlobalNorm(1), nn.adam({ learningRate: 1e-2 }));
    const averager = nn.ema({ decay: 0.9, warmup: true });
    const x = r.normal(r.key(2), [8, 3]);
    const y = r.cos(x);
    const loss = (p: nn.MlpParams, xx: r.Tensor, yy: r.Tensor) => r.mean(r.square(r.sub(layer.apply(p, xx), yy)));
    const copy = (p: nn.MlpParams) => r.tidy(() => r.treeMap(p, (t) => r.add(t, 0)));
    const p0 = layer.init(r.key(3));
    const start = (p: nn.MlpParams) => ({ params: p, opt: optimizer.init(p), ema: averager.init(p) });
    let manual: ReturnType<typeof start> & { loss?: r.Tensor } = start(copy(p0));
    let eager: nn.MinimizeState<nn.MlpParams, ReturnType<typeof optimizer.init>> = start(copy(p0));
    let jitted: typeof eager = start(p0);
    const step = nn.jitMinimizeStep(loss, optimizer, { ema: averager });
    for (let i = 0; i < 6; i++) {
      const next = r.tidy(() => {
        const [value, grads] = r.valueAndGrad(loss)(manual.params, x, y);
        const { updates, state: opt } = optimizer.update(grads, manual.opt, manual.params);
        const params = nn.applyUpdates(manual.params, updates);
        return { params, opt, ema: averager.update(params, manual.ema), loss: value };
      });
      nn.disposeStale(manual, next);
      manual = next;
      eager = nn.minimizeStep((p) => loss(p, x, y), optimizer, eager, { ema: averager });
      jitted = step(jitted, x, y);
      for (const s of [eager, jitted]) {
        expect(await scalarOf(s.loss!)).toBe(await scalarOf(manual.loss!));
        expect(await values(s.ema!.average.out.weight)).toEqual(await values(manual.ema.average.out.weight));
        expect(await values(s.params.hidden.weight)).toEqual(await values(manual.params.hidden.weight));
      }
    }
    expect(step.stats().traces).toBeLessThanOrEqual(2);
    expect(() => nn.minimizer(loss, optimizer, { ema: averager })({ params: manual.params, opt: manual.opt }, x, y)).toThrow(/^minimizer: the step updates an EMA, so the state needs one/);
    step.clear();
    r.dispose([manual, eager, jitted, x, y]);
  });

  it('disposeStale keeps the tensors the next state still holds', () => {
    const shared = r.tensor([1]);
    const old = r.tensor([2]);
    nn.disposeStale({ a: shared, b: old }, { a: shared });
    expect(shared.disposed).toBe(false);
    expect(old.disposed).toBe(true);
  });
});
