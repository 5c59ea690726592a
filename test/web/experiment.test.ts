/**
 * The explainer's training (panel 3), checked in Node: its step is experiments/step.ts's training
 * step, and it trains the same bits as the hand-written loop it replaced (the loss of
 * `trainStep`/`standardTrainStep` under `valueAndGrad`, Adam, the EMA), batches and keys included.
 */
import { describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import { standardTrainStep, trainStep } from '../../diffusion/index.js';
import * as nn from '../../nn/index.js';
import { createTrainer, EXPERIMENT, makeClips, sampleBatch, SCHEDULE } from '../../web/src/experiment.js';

const leaves = async (tree: unknown) => Promise.all(r.treeLeaves(tree).map(async (t) => Array.from(await t.toArray())));

describe('web: the experiment trains with the shared step', () => {
  for (const method of ['rolling', 'standard'] as const) {
    it(`${method}: losses, parameters and their moving average equal the hand-written eager step's`, async () => {
      const cfg = { ...EXPERIMENT, trainClips: 4 };
      const clips = makeClips(cfg, cfg.trainClips, cfg.clipFrames, 0);
      const seed = 5;
      const trainer = createTrainer(method, cfg, clips, seed);
      const model = (p: nn.UViTParams, z: r.Tensor, l: r.Tensor) => trainer.net.apply(p, z, l);
      const spec = { window: cfg.window, cleanFrames: cfg.cleanFrames, schedule: SCHEDULE };
      const loss = method === 'rolling' ? trainStep(model, spec) : standardTrainStep(model, spec);
      const optimizer = nn.adam({ learningRate: cfg.learningRate });
      const averager = nn.ema({ decay: cfg.emaDecay, warmup: true });
      const root = r.key(seed);
      const params = trainer.net.init(r.foldIn(root, 0));
      let state = { params, opt: optimizer.init(params), ema: averager.init(params) };
      for (let i = 0; i < 2; i++) {
        const next = r.tidy(() => {
          const batch = sampleBatch(cfg, clips, r.foldIn(r.foldIn(root, 1), i));
          const [value, grads] = r.valueAndGrad(loss)(state.params, r.foldIn(r.foldIn(root, 2), i), batch);
          const { updates, state: opt } = optimizer.update(grads, state.opt, state.params);
          const p = nn.applyUpdates(state.params, updates);
          return { params: p, opt, ema: averager.update(p, state.ema), loss: value };
        });
        nn.disposeStale(state, next);
        state = next;
        expect(await trainer.step()).toBe((await next.loss.toArray())[0]);
      }
      expect(await leaves(trainer.params())).toEqual(await leaves(state.params));
      expect(await leaves(trainer.averageParams())).toEqual(await leaves(state.ema.average));
      trainer.dispose();
      r.dispose(state);
    });
  }
});
