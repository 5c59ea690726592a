/**
 * The numbers behind panel 1, without the DOM: which local-time map, and per frame its local time,
 * logSNR and category (Eqs. 8-10) for one denoising step t → s.
 */
import {
  frameCategories,
  initLocalTimes,
  linearLocalTimes,
  LOCAL_TIME_MAP_NAMES,
  LOCAL_TIME_MAPS,
  localTimeMap,
  type LocalTimeMapName,
  type LocalTimes,
  type Schedule,
} from '../../diffusion/index.js';

/** The maps the panel offers: every row of diffusion's registry, in its order. */
export const MAPS: readonly { readonly name: LocalTimeMapName; readonly title: string; readonly equation: string }[] = LOCAL_TIME_MAP_NAMES.map((name) => ({
  name,
  title: LOCAL_TIME_MAPS[name].title,
  equation: LOCAL_TIME_MAPS[name].equation,
}));

export interface LocalTimeSettings {
  /** W: frames in the window, clean frames included. */
  readonly window: number;
  /** n_cln: clean conditioning frames at the start of the window. */
  readonly cleanFrames: number;
  /** Global diffusion time t ∈ [0, 1]. */
  readonly t: number;
  /** Which map the table (and the forward process) uses. */
  readonly map: LocalTimeMapName;
  /** T: denoising steps per unit of global time; the table's step goes from t to s = max(t − 1/T, 0). */
  readonly steps: number;
}

export interface FrameRow {
  readonly frame: number;
  /** t_w at the global time t. */
  readonly localTime: number;
  /** s_w at the global time s of the next denoising step. */
  readonly nextLocalTime: number;
  /** λ(t_w) = log SNR at the frame's local time (Eq. 2 evaluated locally, Eq. 7). */
  readonly logSnr: number;
  readonly alpha: number;
  readonly sigma: number;
  /** Eqs. 8-10 for the step t → s. */
  readonly category: 'clean' | 'noise' | 'window';
}

/** Global time of the next denoising step: s = max(t − 1/T, 0). */
export function previousTime(t: number, steps: number): number {
  return Math.max(0, t - 1 / steps);
}

export function localTimeRows(settings: LocalTimeSettings, schedule: Schedule): FrameRow[] {
  const map = localTimeMap(settings.map, settings);
  const t = map(settings.t);
  const s = map(previousTime(settings.t, settings.steps));
  const categories = frameCategories(s, t);
  const categoryOf = (w: number): FrameRow['category'] =>
    categories.clean.includes(w) ? 'clean' : categories.noise.includes(w) ? 'noise' : 'window';
  return t.map((tw, w) => ({
    frame: w,
    localTime: tw,
    nextLocalTime: s[w]!,
    logSnr: schedule.logSnr(tw),
    alpha: schedule.alpha(tw),
    sigma: schedule.sigma(tw),
    category: categoryOf(w),
  }));
}

/**
 * The global view of Figure 2 (left) and Section 3.1: the local time of every frame of a video of
 * W + shifts frames as one global time runs from 1 (top) to 0. The first 1/(shifts + 1) of it is
 * Algorithm 3 (init local times, the window at the left edge moving "down vertically"); each later
 * stretch is one shift of Algorithm 2 (linear local times, the window moving "diagonally").
 * Frames left of the window are finished (0), frames right of it not yet drawn from noise (1).
 */
export function globalLocalTimes(window: number, cleanFrames: number, shifts: number): { frames: number; map: LocalTimes } {
  const init = initLocalTimes({ window, cleanFrames });
  const linear = linearLocalTimes({ window, cleanFrames });
  const frames = window + shifts;
  const stages = shifts + 1;
  const map: LocalTimes = (globalTime) => {
    const progress = (1 - globalTime) * stages;
    const stage = Math.min(stages - 1, Math.floor(progress));
    const local = 1 - (progress - stage);
    const times = (stage === 0 ? init : linear)(Math.min(1, Math.max(0, local)));
    return Array.from({ length: frames }, (_, k) => (k < stage ? 0 : k >= stage + window ? 1 : times[k - stage]!));
  };
  return { frames, map };
}
