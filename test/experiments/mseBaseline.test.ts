/**
 * Issue 16, item 2: the MSE baseline of Table 8 ("MSE (2-k)"): the same U-ViT predicts the next
 * W − n_cln frames from n_cln with an MSE loss, is rolled out autoregressively, and is stored in the
 * checkpoint, sampled by rollout and scored by eval like the other modes.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import { generate } from '../../experiments/generate.js';
import { buildModel } from '../../experiments/model.js';
import { mseLoss, msePredict, mseRollout } from '../../experiments/mseBaseline.js';
import { readNpy } from '../../experiments/formats/npy.js';
import { PRESETS, type Preset } from '../../experiments/presets.js';
import { lossFor, readCheckpointMetadata } from '../../experiments/trainer.js';
import { adam, applyUpdates } from '../../nn/index.js';
import { runCli } from './runCli.js';

let dir = '';
const run = (...argv: string[]) => runCli(argv);
/** 8×8 frames, 2 clean frames, 2 predicted: a window of 4. */
const PRESET: Preset = { ...PRESETS.test!, size: 8, window: 4, cleanFrames: 2, patchSize: 2, channels: [8] };
let mseRun = '';
let rollingRun = '';
let standardRun = '';

beforeAll(async () => {
  await r.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'rolling-mse-'));
  mseRun = join(dir, 'mse');
  rollingRun = join(dir, 'rolling');
  standardRun = join(dir, 'standard');
  for (const [out, mode] of [[mseRun, 'mse'], [rollingRun, 'rolling'], [standardRun, 'standard']] as const) {
    const t = await run('train', '--out', out, '--preset', 'test', '--steps', '1', '--backend', 'cpu', '--mode', mode, '--window', '4', '--clean-frames', '2');
    expect(t.code, t.err).toBe(0);
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A batch [2, 4, 8, 8, 1] of smooth frames that drift: something a regression can learn quickly. */
function batch(): r.Tensor {
  const data = new Float32Array(2 * 4 * 8 * 8);
  for (let b = 0; b < 2; b++) for (let f = 0; f < 4; f++) for (let p = 0; p < 64; p++) data[((b * 4 + f) * 64) + p] = 0.5 * Math.sin((p % 8) / 2 + f * 0.3 + b);
  return r.tensor(data, [2, 4, 8, 8, 1]);
}

describe('MSE baseline', () => {
  it('its loss decreases when the U-ViT is trained on a tiny problem (Adam, 15 steps on one batch)', async () => {
    const model = buildModel(PRESET, [8, 8, 1]);
    const x = batch();
    const loss = r.valueAndGrad(mseLoss(model, PRESET));
    const optimizer = adam({ learningRate: 3e-3 });
    let params = r.keep(model.init(r.key(0)));
    let state = r.keep(optimizer.init(params));
    const losses: number[] = [];
    for (let i = 0; i < 15; i++) {
      const next = r.tidy(() => {
        const [value, grads] = loss(params, r.key(i), x);
        const { updates, state: s } = optimizer.update(grads, state as never, params);
        return { value, params: applyUpdates(params, updates), state: s };
      });
      losses.push((await next.value.toArray())[0]!);
      r.dispose([params, state, next.value]);
      params = next.params;
      state = next.state;
    }
    r.dispose([params, state, x]);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]!);
  });

  it('the loss is the plain mean squared error of the predicted frames, whatever the key, and lossFor routes --mode mse to it', async () => {
    const model = buildModel(PRESET, [8, 8, 1]);
    const params = model.init(r.key(1));
    const x = batch();
    const [a, b, viaTrainer, byHand] = await Promise.all([
      r.tidy(() => mseLoss(model, PRESET)(params, r.key(1), x)).toArray(),
      r.tidy(() => mseLoss(model, PRESET)(params, r.key(2), x)).toArray(),
      r.tidy(() => lossFor(model, PRESET, 'mse')(params, r.key(3), x)).toArray(),
      r.tidy(() => r.mean(r.square(r.sub(r.sliceAxis(x, 1, 2, 4), msePredict(model, params, PRESET, r.sliceAxis(x, 1, 0, 2)))))).toArray(),
    ]);
    expect(a[0]).toBe(b[0]);
    expect(viaTrainer[0]).toBe(a[0]);
    expect(a[0]).toBeCloseTo(byHand[0]!, 6);
    r.dispose([params, x]);
  });

  it('rolls out autoregressively: [B, frames, H, W, C], blocks of W − n_cln each predicted from the last n_cln frames, deterministic, no leaks', async () => {
    const model = buildModel(PRESET, [8, 8, 1]);
    const params = model.init(r.key(4));
    const x = batch();
    const context = r.tidy(() => r.sliceAxis(x, 1, 0, 2));
    const before = r.memoryStats().tensors;
    const seen: number[] = [];
    const video = mseRollout({ model, params, preset: PRESET, context, frames: 5, onFrame: (i) => seen.push(i) });
    expect(video.shape).toEqual([2, 5, 8, 8, 1]);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    const first = msePredict(model, params, PRESET, context);
    const second = msePredict(model, params, PRESET, first);
    const v = await video.toArray();
    const fs = 64;
    const frame = (a: ArrayLike<number>, b: number, f: number, frames: number) => Array.from(a).slice((b * frames + f) * fs, (b * frames + f + 1) * fs);
    const [p1, p2] = [await first.toArray(), await second.toArray()];
    for (let b = 0; b < 2; b++) {
      expect(frame(v, b, 0, 5)).toEqual(frame(p1, b, 0, 2));
      expect(frame(v, b, 1, 5)).toEqual(frame(p1, b, 1, 2));
      expect(frame(v, b, 2, 5)).toEqual(frame(p2, b, 0, 2));
      expect(frame(v, b, 3, 5)).toEqual(frame(p2, b, 1, 2));
    }
    const again = await generate({ model, params, preset: PRESET, mode: 'mse', context, frames: 5, stepsPerFrame: 3, key: r.key(99) });
    expect(Array.from(await again.toArray())).toEqual(Array.from(v));
    r.dispose([video, first, second, again]);
    expect(r.memoryStats().tensors).toBe(before);
    r.dispose([params, x, context]);
  });

  it('a --mode mse checkpoint records its mode, samples with rollout, refuses another --mode, and eval scores it beside rolling and standard', async () => {
    const m = await readCheckpointMetadata(join(mseRun, 'checkpoint.safetensors'));
    expect(m.mode).toBe('mse');
    expect(JSON.parse(m.preset!)).toMatchObject({ window: 4, cleanFrames: 2 });
    const ro = await run('rollout', '--checkpoint', mseRun, '--out', join(dir, 'ro'), '--frames', '3', '--backend', 'cpu');
    expect(ro.code, ro.err).toBe(0);
    expect((await readNpy(join(dir, 'ro', 'rollout.npy'))).shape).toEqual([3, 16, 16, 1]);
    const wrong = await run('rollout', '--checkpoint', mseRun, '--out', join(dir, 'ro2'), '--frames', '1', '--mode', 'rolling', '--backend', 'cpu');
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(/was trained with --mode mse, but --mode rolling was given/);
    const ev = await run('eval', '--rolling', rollingRun, '--standard', standardRun, '--mse', mseRun, '--out', join(dir, 'ev'), '--clips', '2', '--frames', '2', '--steps-per-frame', '1', '--backend', 'cpu');
    expect(ev.code, ev.err).toBe(0);
    expect(ev.out).toMatch(/MSE mse/);
    const json = JSON.parse(await readFile(join(dir, 'ev', 'eval.json'), 'utf8')) as { results: Record<string, unknown[]> };
    expect(Object.keys(json.results)).toEqual(['rolling', 'standard', 'mse']);
    expect(json.results.mse!.length).toBe(2);
    const notMse = await run('eval', '--rolling', rollingRun, '--standard', standardRun, '--mse', rollingRun, '--out', join(dir, 'ev2'), '--backend', 'cpu');
    expect(notMse.code).toBe(2);
    expect(notMse.err).toMatch(/--mse .* was trained in rolling mode, not mse; pass a checkpoint trained with --mode mse/);
  });

  it('train --mode mse without clean frames is refused before anything is written', async () => {
    const t = await run('train', '--out', join(dir, 'nocl'), '--preset', 'test', '--steps', '1', '--backend', 'cpu', '--mode', 'mse', '--clean-frames', '0');
    expect(t.code).toBe(2);
    expect(t.err).toMatch(/--mode mse needs at least one clean frame/);
  });
});
