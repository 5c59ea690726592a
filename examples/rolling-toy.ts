/**
 * Train a small rolling-diffusion model on a toy data set (bouncing shapes, 16×16, one channel), then
 * sample: Algorithm 3 (`sampleBoundary`) brings a window with two real conditioning frames into the
 * rolling state, and Algorithm 2 (`rollout`) rolls it forward frame by frame. The parameters are saved
 * as safetensors (out/rolling-toy.safetensors), which examples/load_in_pytorch.py reads.
 *
 *   npx tsx examples/rolling-toy.ts [steps]      (default 80 steps: seconds, not a good model;
 *                                                  `npx rolling demo` trains a real one in minutes)
 */
import { mkdir } from 'node:fs/promises';
import { foldIn, key, max, mean, min, mul, sliceAxis, sub, tensor, type Key, type Tensor } from 'rolling-diffusion';
import { adam, minimizeStep, saveSafetensors, uvit, type MinimizeState, type UViTParams } from 'rolling-diffusion/nn';
import { collectFrames, cosineSchedule, rollout, sampleBoundary, trainStep, type RollingConfig } from 'rolling-diffusion/diffusion';
import { movingShapes } from 'rolling-diffusion/experiments';

/** A one-element tensor's value. */
const scalar = async (t: Tensor): Promise<number> => (await t.toArray())[0]!;

const SIZE = 16;
const WINDOW = 6; // W frames in the sliding window…
const CLEAN = 2; // …of which n_cln are clean conditioning frames
const steps = Number(process.argv[2] ?? 80);

/** `count` clips of `frames` frames, [count, frames, SIZE, SIZE, 1] in [−1, 1]. */
function clips(count: number, frames: number, seed: number): Tensor {
  const data = new Float32Array(count * frames * SIZE * SIZE);
  for (let i = 0; i < count; i++) data.set(movingShapes({ frames, size: SIZE, seed: seed + i }), i * frames * SIZE * SIZE);
  return sub(mul(tensor(data, [count, frames, SIZE, SIZE, 1]), 2), 1);
}

const net = uvit({ inChannels: 1, patchSize: 2, channels: [8], blocksPerLevel: 1, transformerDim: 16, transformerBlocks: 1, heads: 2, mlpRatio: 2, fourierDim: 16, condDim: 32, groups: 4 });
const config: RollingConfig = { window: WINDOW, cleanFrames: CLEAN, schedule: cosineSchedule() };
const loss = trainStep((p: UViTParams, z: Tensor, logSnr: Tensor) => net.apply(p, z, logSnr), config); // Algorithm 1

const train = clips(64, WINDOW, 0);
const optimizer = adam({ learningRate: 2e-3 });
const params = net.init(key(0));
let state: MinimizeState<UViTParams, ReturnType<typeof optimizer.init>> = { params, opt: optimizer.init(params) };
const started = Date.now();
for (let step = 0; step < steps; step++) {
  const k: Key = foldIn(key(1), step);
  const first = (step * 8) % 64;
  const batch = sliceAxis(train, 0, first, first + 8);
  state = minimizeStep((p) => loss(p, k, batch), optimizer, state);
  batch.dispose();
  if (step % 20 === 0 || step === steps - 1) console.log(`step ${step}: loss ${(await scalar(state.loss!)).toFixed(4)}`);
}
console.log(`trained ${steps} steps in ${((Date.now() - started) / 1000).toFixed(1)} s`);

// Sampling: condition on the first two frames of a held-out clip.
const heldOut = clips(1, CLEAN, 1000);
const denoiser = (z: Tensor, logSnr: Tensor): Tensor => net.apply(state.params, z, logSnr);
const rollingState = sampleBoundary(denoiser, { window: WINDOW, cleanFrames: CLEAN, schedule: config.schedule, context: heldOut, steps: 8, key: key(2) });
const video = await collectFrames(rollout(denoiser, { window: WINDOW, cleanFrames: CLEAN, schedule: config.schedule, state: rollingState, frames: 8, stepsPerFrame: 2, key: key(3) }));
const [lo, hi] = [await scalar(min(video)), await scalar(max(video))];
console.log(`rolled out a video of shape [${video.shape}] (values ${lo.toFixed(2)} … ${hi.toFixed(2)}, mean ${(await scalar(mean(video))).toFixed(3)})`);
if (video.shape[1] !== 8 || !Number.isFinite(lo) || !Number.isFinite(hi)) throw new Error('the rollout did not give 8 finite frames');

await mkdir('out', { recursive: true });
await saveSafetensors('out/rolling-toy.safetensors', state.params, { format: 'rolling-diffusion-uvit', window: String(WINDOW), cleanFrames: String(CLEAN) });
console.log('saved out/rolling-toy.safetensors (python examples/load_in_pytorch.py out/rolling-toy.safetensors)');
