/**
 * Named training presets: a model size, a data set and the rolling-diffusion settings that go with
 * them. `demo` is the README's main job: it must finish in a few minutes on 2 CPU cores.
 */

export interface Preset {
  readonly name: string;
  /** The U-ViT preset of nn/uvit. */
  readonly model: 'tiny' | 'small';
  /** Overrides the U-ViT preset's space-to-depth patch size (smaller: finer detail, more compute). */
  readonly patchSize?: number;
  /** Overrides the U-ViT preset's widths per convolutional level (one entry per level). */
  readonly channels?: readonly number[];
  readonly data: 'shapes' | 'mnist' | 'kolmogorov' | 'bair';
  /** Frame side in pixels (the data set is generated or must have this size). */
  readonly size: number;
  readonly window: number;
  readonly cleanFrames: number;
  readonly batch: number;
  readonly steps: number;
  readonly learningRate: number;
  readonly warmupSteps: number;
  /**
   * EMA decay of the weights used for sampling. The paper uses 0.9999 over 100k+ steps; a run of a
   * few hundred steps needs a shorter memory, and the EMA warms up as (1 + t)/(10 + t).
   */
  readonly emaDecay: number;
  /** Probability of the linear local times in Algorithm 1 (the paper's β of Section 3.3). */
  readonly linearProbability: number;
  readonly checkpointEvery: number;
  /** Denoising steps per generated frame at sampling time (the budget of Appendix D). */
  readonly stepsPerFrame: number;
  /** Clips in the generated training set (shapes, kolmogorov). */
  readonly clips: number;
  /** Frames per generated clip. */
  readonly clipLength: number;
}

export const PRESETS: Readonly<Record<string, Preset>> = {
  /**
   * 16×16 frames at pixel level (no patches) with two convolutional levels, 16×16×16 and 8×8×32,
   * and the transformer at 4×4. Measured on 2 cores (wasm), 1,500 steps each: with 2×2 patches and
   * one level (1 min of training, loss 0.111) samples come out as textured blobs, the 2×2 patch
   * grid visible; this layout (3.4 min, loss 0.071) gives smooth, clean shapes. Moving MNIST at
   * 32×32 with 2×2 patches and the same two levels (3.8 min, loss 0.096) gives fragments, not digits.
   */
  demo: {
    name: 'demo', model: 'tiny', patchSize: 1, channels: [16, 32], data: 'shapes', size: 16, window: 8, cleanFrames: 2, batch: 8, steps: 1500,
    learningRate: 2e-3, warmupSteps: 40, emaDecay: 0.99, linearProbability: 0.8, checkpointEvery: 100,
    stepsPerFrame: 8, clips: 256, clipLength: 32,
  },
  shapes: {
    name: 'shapes', model: 'tiny', patchSize: 2, data: 'shapes', size: 16, window: 8, cleanFrames: 2, batch: 8, steps: 800,
    learningRate: 2e-3, warmupSteps: 80, emaDecay: 0.99, linearProbability: 0.8, checkpointEvery: 500,
    stepsPerFrame: 16, clips: 1024, clipLength: 32,
  },
  /**
   * Moving MNIST at 32×32 (digits of 14 pixels, the original's proportions), 2 digits a clip, with
   * the demo's two convolutional levels on 2×2 patches. Measured on 2 cores (wasm): 1,500 steps
   * (3.8 min, loss 0.096) and these 6,000 (16 min, loss 0.076) both sample fragments of strokes
   * that move with the digits, not digits; the same model at pixel level, 1,500 steps (16 min, loss
   * 0.066), samples noise. Readable digits need a wider model and longer training than that.
   */
  mnist: {
    name: 'mnist', model: 'tiny', patchSize: 2, channels: [16, 32], data: 'mnist', size: 32, window: 8, cleanFrames: 2, batch: 8, steps: 6000,
    learningRate: 2e-3, warmupSteps: 100, emaDecay: 0.995, linearProbability: 0.8, checkpointEvery: 500,
    stepsPerFrame: 16, clips: 1024, clipLength: 24,
  },
  kolmogorov: {
    name: 'kolmogorov', model: 'tiny', data: 'kolmogorov', size: 32, window: 8, cleanFrames: 2, batch: 8, steps: 3000,
    learningRate: 1e-3, warmupSteps: 200, emaDecay: 0.999, linearProbability: 0.8, checkpointEvery: 500,
    stepsPerFrame: 16, clips: 32, clipLength: 32,
  },
  bair: {
    name: 'bair', model: 'small', data: 'bair', size: 64, window: 16, cleanFrames: 2, batch: 4, steps: 20000,
    learningRate: 1e-4, warmupSteps: 1000, emaDecay: 0.9999, linearProbability: 0.8, checkpointEvery: 1000,
    stepsPerFrame: 32, clips: 0, clipLength: 30,
  },
  /** For tests: a handful of steps on tiny frames. */
  test: {
    name: 'test', model: 'tiny', data: 'shapes', size: 16, window: 4, cleanFrames: 1, batch: 2, steps: 4,
    learningRate: 1e-3, warmupSteps: 1, emaDecay: 0.9, linearProbability: 0.8, checkpointEvery: 2,
    stepsPerFrame: 2, clips: 8, clipLength: 12,
  },
};

export function presetNames(): string[] {
  return Object.keys(PRESETS);
}
