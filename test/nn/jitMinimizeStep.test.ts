/**
 * jitMinimizeStep: the jitted training step equals minimizeStep bit for bit (loss and parameters,
 * step after step, with clipping, a schedule and Adam's state), traces once, frees the previous state
 * and keeps memory flat.
 */
import { expect, it } from 'vitest';
import * as r from '../../index.js';
import * as nn from '../../nn/index.js';
import { describeBackends } from '../core/harness.js';

describeBackends('jitMinimizeStep', () => {
  it('equals minimizeStep bit for bit over 30 steps, traces once, and keeps live tensors flat', async () => {
    const layer = nn.mlp({ inFeatures: 3, hiddenFeatures: 6 });
    const optimizer = nn.chain(nn.clipByGlobalNorm(1), nn.adam({ learningRate: nn.warmupCosineDecaySchedule({ peak: 1e-2, warmupSteps: 5, decaySteps: 50 }) }));
    const x = r.normal(r.key(2), [8, 3]);
    const y = r.cos(x);
    const loss = (p: nn.MlpParams, xx: r.Tensor, yy: r.Tensor) => r.mean(r.square(r.sub(layer.apply(p, xx), yy)));
    const p0 = layer.init(r.key(3));
    const copy = r.tidy(() => r.treeMap(p0, (t) => r.add(t, 0)));
    let eager: nn.MinimizeState<nn.MlpParams, ReturnType<typeof optimizer.init>> = { params: copy, opt: optimizer.init(copy) };
    let jitted: typeof eager = { params: p0, opt: optimizer.init(p0) };
    const step = nn.jitMinimizeStep(loss, optimizer);
    const counts: number[] = [];
    for (let i = 0; i < 30; i++) {
      eager = nn.minimizeStep((p) => loss(p, x, y), optimizer, eager);
      const previous = jitted;
      jitted = step(jitted, x, y);
      expect(previous.params.hidden.weight.disposed).toBe(true);
      expect((await jitted.loss!.toArray())[0]).toBe((await eager.loss!.toArray())[0]);
      counts.push(r.memoryStats().tensors);
    }
    for (const k of ['hidden', 'out'] as const) {
      expect(Array.from(await jitted.params[k].weight.toArray())).toEqual(Array.from(await eager.params[k].weight.toArray()));
      expect(Array.from(await jitted.params[k].bias!.toArray())).toEqual(Array.from(await eager.params[k].bias!.toArray()));
    }
    expect(new Set(counts.slice(2)).size).toBe(1);
    expect(step.stats().traces).toBeLessThanOrEqual(2); // the initial state may share buffers differently
    expect(step.stats().kernels).toBeLessThan(step.stats().primitives);
    r.dispose([eager, jitted, x, y]);
    step.clear();
  });
});
