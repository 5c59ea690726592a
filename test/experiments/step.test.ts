/**
 * experiments/step.ts, the training step of `rolling train`, the web page and bench/trainStep.ts, with
 * any `StepLoss` (the preset's path is checked through `train` in reliability.test.ts): compiled and
 * eager give the same bits, with and without an EMA, and the carry holds an EMA only with an averager.
 */
import { describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import { cosineSchedule } from '../../diffusion/index.js';
import * as nn from '../../nn/index.js';
import { createTrainingStep, diffusionStepLoss, type TrainCarry } from '../../experiments/step.js';

const leaves = async (tree: unknown) => Promise.all(r.treeLeaves(tree).map(async (t) => Array.from(await t.toArray())));

describe('the training step with any StepLoss', () => {
  // A toy model: v̂ = w · z + b, per channel.
  type Params = { w: r.Tensor; b: r.Tensor };
  const model = (p: Params, z: r.Tensor) => r.add(r.mul(z, p.w), p.b);
  const config = { window: 4, cleanFrames: 1, schedule: cosineSchedule() };
  const batch = r.keep(r.uniform(r.key(9), [2, 4, 3, 3, 2]));

  for (const mode of ['rolling', 'standard'] as const) {
    for (const withEma of [true, false]) {
      it(`${mode}${withEma ? ', with an EMA' : ''}: jitted and eager steps give the same losses and state, bit for bit`, async () => {
        const optimizer = nn.adam({ learningRate: 0.05 });
        const averager = withEma ? nn.ema({ decay: 0.9, warmup: true }) : undefined;
        const stepLoss = diffusionStepLoss(model, config, mode);
        const start = (): TrainCarry<Params, nn.AdamState> => {
          const params = { w: r.full([2], 0.5), b: r.zeros([2]) };
          return averager ? { params, opt: optimizer.init(params), ema: averager.init(params) } : { params, opt: optimizer.init(params) };
        };
        const results = [];
        for (const jit of [true, false]) {
          const step = createTrainingStep({ loss: stepLoss, optimizer, averager, jit });
          let state = start();
          const losses: number[] = [];
          for (let i = 0; i < 3; i++) {
            const { loss, ...next } = r.tidy(() => step(state, batch, r.foldIn(r.key(1), i)));
            nn.disposeStale(state, next);
            state = next;
            losses.push((await loss.toArray())[0]!);
            loss.dispose();
          }
          expect(step.stats() === null, `jit ${jit}`).toBe(!jit);
          expect(state.ema === undefined).toBe(!withEma);
          results.push({ losses, state: await leaves(state) });
          step.clear();
          r.dispose(state);
        }
        expect(results[0]).toEqual(results[1]);
        expect(results[0]!.losses.every(Number.isFinite)).toBe(true);
      });
    }
  }
});
