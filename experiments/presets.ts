/**
 * Named training presets: a model size, a data set and the rolling-diffusion settings that go with
 * them. `demo` is the README's main job: it must finish in a few minutes on 2 CPU cores.
 *
 * Against the paper's hyperparameter tables: `kolmogorov` scales down Table 4 and `bair` Table 5
 * (each preset's comment says what it shares and what it shrinks); Table 6 (Kinetics-600) has no
 * preset, since its data cannot be had here. `demo`, `shapes`, `mnist` and `test` are toy settings
 * of ours with no counterpart in the paper.
 */
import { alphaFromLogSnr, BOUNDARY_MAP_NAMES, cosineSchedule, sigmaFromLogSnr, type BoundaryMapName, type Schedule } from '../diffusion/index.js';

/**
 * The boundary map Algorithm 1 co-trains and Algorithm 3 samples with, by its name in diffusion's
 * `LOCAL_TIME_MAPS`, except that Eq. 23 ('init' there) is called 'clip' here (Table 10's "clipped
 * init"; the name presets, the command line and checkpoints have always used): 'clip' or 'rescaled'
 * (Eq. 37, Appendix G), and any boundary map added to the registry.
 */
export type InitSchedule = 'clip' | Exclude<BoundaryMapName, 'init'>;

/** Every value of `InitSchedule`, from the registry (what `--init-schedule` and a checkpoint accept). */
export const INIT_SCHEDULES: readonly InitSchedule[] = BOUNDARY_MAP_NAMES.map((name) => (name === 'init' ? 'clip' : name));

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
  /** Probability of the linear local times in Algorithm 1 (the paper's β of Section 3.3; what Appendix H measured, and why 0.8: `RollingConfig.linearProbability`). */
  readonly linearProbability: number;
  readonly checkpointEvery: number;
  /** Denoising steps per generated frame at sampling time (the budget of Appendix D). */
  readonly stepsPerFrame: number;
  /** Clips in the generated training set (shapes, kolmogorov). */
  readonly clips: number;
  /** Frames per generated clip. */
  readonly clipLength: number;
  /**
   * The settings below were added after the first checkpoints were written: a preset (or a
   * checkpoint's) without them means the defaults those checkpoints were trained with
   * (`SETTING_DEFAULTS`); `withSettingDefaults` writes them out.
   */
  /** Boundary local times: Eq. 23 ('clip', the default) or Eq. 37 ('rescaled'). */
  readonly initSchedule?: InitSchedule;
  /** λ(1) of the truncated cosine schedule before the shift (default −15, the paper's at every resolution). */
  readonly logSnrMin?: number;
  /** λ(0) of the truncated cosine schedule before the shift (default 15). */
  readonly logSnrMax?: number;
  /** Added to λ(t) everywhere: simple diffusion's 2 log(d_ref / d) (default 0, the plain cosine). */
  readonly logSnrShift?: number;
}

/** What a preset or checkpoint that does not name a setting was trained with. */
export const SETTING_DEFAULTS = { initSchedule: 'clip', logSnrMin: -15, logSnrMax: 15, logSnrShift: 0 } as const satisfies Partial<Preset>;

/** A preset with every setting written out (the defaults where it names none), as checkpoints store it. */
export type FullPreset = Preset & { readonly initSchedule: InitSchedule; readonly logSnrMin: number; readonly logSnrMax: number; readonly logSnrShift: number };

export function withSettingDefaults(p: Preset): FullPreset {
  return {
    ...p,
    initSchedule: p.initSchedule ?? SETTING_DEFAULTS.initSchedule,
    logSnrMin: p.logSnrMin ?? SETTING_DEFAULTS.logSnrMin,
    logSnrMax: p.logSnrMax ?? SETTING_DEFAULTS.logSnrMax,
    logSnrShift: p.logSnrShift ?? SETTING_DEFAULTS.logSnrShift,
  };
}

/**
 * The noise schedule of a preset: the truncated cosine on [logSnrMin, logSnrMax] (VDM; the paper's
 * [−15, 15]), shifted by logSnrShift as simple diffusion shifts it for resolution (Sec. 3.1). With no
 * shift it is `cosineSchedule` itself, so older checkpoints sample exactly as before.
 */
export function noiseSchedule(p: Preset): Schedule {
  const { logSnrMin, logSnrMax, logSnrShift: shift } = withSettingDefaults(p);
  const cosine = cosineSchedule({ logSnrMin, logSnrMax });
  if (shift === 0) return cosine;
  const logSnr = (t: number) => cosine.logSnr(t) + shift;
  return { name: `${cosine.name} shifted by ${shift}`, logSnr, alpha: (t) => alphaFromLogSnr(logSnr(t)), sigma: (t) => sigmaFromLogSnr(logSnr(t)), logSnrMin: logSnrMin + shift, logSnrMax: logSnrMax + shift };
}

/** The boundary map's name in diffusion's `LOCAL_TIME_MAPS` ('clip' is its 'init', Eq. 23). */
export function diffusionInitSchedule(p: Preset): BoundaryMapName {
  const name = withSettingDefaults(p).initSchedule;
  return name === 'clip' ? 'init' : name;
}

/** Settings only rolling training reads: a standard-diffusion model is the same whatever they are. */
export const ROLLING_ONLY_SETTINGS: readonly (keyof Preset)[] = ['linearProbability', 'initSchedule'];

/**
 * The settings in which two presets differ, each as `name A against B`, with the defaults written out
 * on both sides (a checkpoint that predates a setting has its default). `ignore` leaves some out.
 */
export function presetDifferences(a: Preset, b: Preset, ignore: readonly string[] = []): string[] {
  const fa = new Map<string, unknown>(Object.entries(withSettingDefaults(a)));
  const fb = new Map<string, unknown>(Object.entries(withSettingDefaults(b)));
  return [...new Set([...fa.keys(), ...fb.keys()])]
    .filter((k) => !ignore.includes(k) && JSON.stringify(fa.get(k)) !== JSON.stringify(fb.get(k)))
    .map((k) => `${k} ${JSON.stringify(fa.get(k))} against ${JSON.stringify(fb.get(k))}`);
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
  /**
   * Kolmogorov flow (Section 5.1). Shared with Table 4: v-parameterisation, the ε-loss weighting,
   * convolutional levels then axial transformer blocks. Scaled down: 32×32 frames of the `tiny` U-ViT
   * (Table 4: 128-1024 channels, 3+3 blocks a level, 8 transformer blocks, 100,000 steps, EMA 0.9999,
   * lr 1e-4; here 3,000 steps, so EMA 0.999 and lr 1e-3), W = 8 with n_cln = 2 (Table 8's rolling
   * rows are 2-2, 2-4, 2-8: `rolling reproduce kolmogorov` trains those), 32 generated clips of 32
   * frames. Those in-memory clips (`--data kolmogorov`) are simulated at the stored 32² and start at
   * the filtered initial field, with no warm-up; for data like Section 5.1's (simulated finer, warmed
   * up into turbulence, held-out trajectories) pass shards of `rolling data kolmogorov --warmup T
   * --simulation-size N --held-out K`, or run `rolling reproduce kolmogorov` (docs/reproduction.md).
   */
  kolmogorov: {
    name: 'kolmogorov', model: 'tiny', data: 'kolmogorov', size: 32, window: 8, cleanFrames: 2, batch: 8, steps: 3000,
    learningRate: 1e-3, warmupSteps: 200, emaDecay: 0.999, linearProbability: 0.8, checkpointEvery: 500,
    stepsPerFrame: 16, clips: 32, clipLength: 32,
  },
  /**
   * BAIR robot pushing as in Section 5.2: 64×64 RGB, condition on 1 frame and predict 15, so W = 16
   * with n_cln = 1 (the paper's "W = 16 (n_cln = 1)"; earlier releases used n_cln = 2, which a
   * checkpoint written then keeps). Shared with Table 5: v-parameterisation, the ε-loss weighting,
   * EMA decay 0.9999, learning rate 1e-4, dropout 0.1, convolutional levels then axial transformer
   * blocks. Scaled down for a CPU: the `small` U-ViT (2×2 patches, levels of 64 and 128 channels with
   * 2 blocks each, 4 transformer blocks of width 256; Table 5: 256-2048 channels, 4+4 blocks a level,
   * 8 transformer blocks, head dimension 128), batch 4 and 20,000 steps (Table 5: 660,000).
   */
  bair: {
    name: 'bair', model: 'small', data: 'bair', size: 64, window: 16, cleanFrames: 1, batch: 4, steps: 20000,
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
