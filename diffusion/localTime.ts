/**
 * Local-time maps of rolling diffusion (Section 3.2-3.3, Appendix G): a global diffusion time
 * t ∈ [0, 1] becomes one local time per frame of the sliding window, and the schedule is evaluated
 * at that local time (Eqs. 7 and 24).
 *
 * Indexing: frames are 0-based here, w ∈ {0, …, W − 1}, exactly as Section 3.2 defines the local
 * index ("w ∈ {0, . . . , W − 1}") and as Eq. 7 indexes frames k ∈ {0, …, K − 1}. The sums and
 * products "w = 0 … W" of Eqs. 24 and 26 have W + 1 terms and are read as w = 0 … W − 1; Eq. 32's
 * k = 1 … K is the same frames counted from 1. Eq. 37 is the one place where the indexing changes the
 * result; see rescaledInitLocalTimes. The first n_cln frames of the window are the clean conditioning
 * frames; Algorithm 2's z^{n_cln} is then the first generated frame, as in code.
 *
 * Linear local times (Eq. 21) for W = 4, n_cln = 0, to check by hand:
 *
 * | t   | w = 0 | w = 1 | w = 2 | w = 3 |
 * |-----|-------|-------|-------|-------|
 * | 0   | 0     | 0.25  | 0.5   | 0.75  |
 * | 0.5 | 0.125 | 0.375 | 0.625 | 0.875 |
 * | 1   | 0.25  | 0.5   | 0.75  | 1     |
 *
 * Each row at t = 1 is the row at t = 0 shifted left by one frame (consistency under moving the
 * window, Section 3.2). With n_cln = 1 (Eq. 22) the same W = 4 gives (0, 0, 1/3, 2/3) at t = 0 and
 * (0, 1/3, 2/3, 1) at t = 1: frame 0 stays clean and the other three follow Eq. 21 with W − n_cln = 3.
 */

/** A map from the global diffusion time t to the local time of every window frame. */
export type LocalTimes = (t: number) => number[];

/**
 * The sliding window, the one name for the pair (W, n_cln) everywhere in the package: W frames, the
 * first n_cln of them clean conditioning frames. Where a function computes with n_cln (training,
 * sampling) its options make `cleanFrames` required; the local-time maps read an absent one as 0
 * (Eq. 21 is Eq. 22 with n_cln = 0).
 */
export interface WindowSpec {
  /** W: the number of frames in the sliding window, clean conditioning frames included. */
  readonly window: number;
  /** n_cln: the number of clean conditioning frames at the start of the window (0 when absent). */
  readonly cleanFrames?: number;
}

/** @deprecated The same type as {@link WindowSpec}, its former name here. */
export type WindowOptions = WindowSpec;

/** clip: R → [0, 1] of Eq. 22. */
export function clipToUnitInterval(x: number): number {
  return Math.min(1, Math.max(0, x));
}

function checkWindow(where: string, { window, cleanFrames = 0 }: WindowSpec): void {
  if (!(Number.isInteger(window) && window >= 1)) {
    throw new RangeError(`${where}: window must be an integer >= 1, got ${String(window)}`);
  }
  if (!(Number.isInteger(cleanFrames) && cleanFrames >= 0 && cleanFrames < window)) {
    throw new RangeError(
      `${where}: cleanFrames must be an integer with 0 <= cleanFrames < window (${window}), got ${String(cleanFrames)}`,
    );
  }
}

function checkGlobalTime(where: string, t: number): void {
  if (!(t >= 0 && t <= 1)) {
    throw new RangeError(`${where}: t must be a number in [0, 1], got ${String(t)}`);
  }
}

/**
 * Builds a window map from a per-generated-frame rule. Clean frames are held at local time 0 for
 * every t: they are the conditioning frames x of Algorithm 3, never noised.
 */
function windowMap(
  where: string,
  options: WindowSpec,
  generatedFrameTime: (m: number, generated: number, t: number) => number,
): LocalTimes {
  checkWindow(where, options);
  const { window, cleanFrames = 0 } = options;
  const generated = window - cleanFrames;
  return (t) => {
    checkGlobalTime(where, t);
    return Array.from({ length: window }, (_, w) =>
      w < cleanFrames ? 0 : clipToUnitInterval(generatedFrameTime(w - cleanFrames, generated, t)),
    );
  };
}

/**
 * Eq. 22: t_w = clip((w + t − n_cln) / (W − n_cln)); Eq. 21 when n_cln = 0.
 * (w − n_cln) + t is summed in that order so that the consistency of Section 3.2,
 * t_w(0) = t_{w−1}(1), holds exactly in floating point.
 */
export function linearLocalTimes(options: WindowSpec): LocalTimes {
  checkWindow('linearLocalTimes', options);
  const { window, cleanFrames = 0 } = options;
  return (t) => {
    checkGlobalTime('linearLocalTimes', t);
    return Array.from({ length: window }, (_, w) => clipToUnitInterval((w - cleanFrames + t) / (window - cleanFrames)));
  };
}

/**
 * Eq. 23 with clean frames: t_w = 0 for w < n_cln, else clip((w − n_cln) / (W − n_cln) + t).
 *
 * The paper writes Eq. 23 only for n_cln = 0, t_w = clip(w/W + t), but Algorithm 1 and Algorithm 3
 * use t^init_w(n_cln). Decision: the n_cln conditioning frames are held at 0 (Algorithm 3 concatenates
 * clean x with noise for the other W − n_cln frames) and the generated frames get Eq. 23 on a window of
 * W − n_cln frames, the same shift Eq. 22 applies to Eq. 21. Then, with M = W − n_cln:
 * init(0) = linear(0), init(1) = (0, …, 0, 1, …, 1), and on [0, 1/M] init(τ) = linear(M τ), so
 * init(1/M) = linear(1): the paper's claim "t^init_w(1/W) = t^lin_w(1)" with W replaced by M.
 * Clipping alone would not hold clean frames at 0: for w = n_cln − 1, (w − n_cln)/M + t > 0 once t > 1/M.
 */
export function initLocalTimes(options: WindowSpec): LocalTimes {
  return windowMap('initLocalTimes', options, (m, generated, t) => m / generated + t);
}

/**
 * Eq. 37 (Appendix G): t_w = w/W + t (1 − w/W), on the W − n_cln generated frames, clean frames at 0.
 *
 * Eq. 37 is ambiguous. The text says "at t = 1/W the local times are (1/W, 2/W, …, W/W)"; that holds
 * for no single t under either indexing (0-based: t_w(1/W) = (w + 1)/W − w/W²). Decision: w is 0-based
 * as everywhere else in Section 3.2, so the schedule ends, at t = 0, in the rolling state
 * linear(0) = (0, 1/W, …, (W − 1)/W): the same state Eq. 23 and Algorithm 3 end in and the one
 * Algorithm 2 starts from. Algorithm 2's first shift (emit the clean frame, append a fresh noise frame)
 * turns it into linear(1) = (1/W, …, W/W), the state Appendix G names. Eq. 37 is Eq. 23 with the clip
 * replaced by a rescaling, 1 − t_w = (1 − t)(1 − w/W): every generated frame reaches 1 exactly at
 * t = 1 and no frame is clean or pure noise for t ∈ (0, 1), which is what Appendix G wants to avoid.
 * (With 1-based w the last frame would sit at local time 1 for every t, a redundant noise frame.)
 * Computed as (m + t (M − m)) / M so that both t = 0 (m/M) and t = 1 (exactly 1) are exact.
 */
export function rescaledInitLocalTimes(options: WindowSpec): LocalTimes {
  return windowMap('rescaledInitLocalTimes', options, (m, generated, t) => (m + t * (generated - m)) / generated);
}

/**
 * Eq. 20: t_w = g((w + t) / W) for a monotonically increasing g: [0, 1] → [0, 1], with clean frames
 * as in Eq. 22 (held at 0, the rest using W − n_cln). Any such g keeps the consistency of Section 3.2,
 * since frame w at t = 0 and frame w − 1 at t = 1 both evaluate g(w / W). The result is clipped to
 * [0, 1] in case g strays outside it by rounding.
 */
export function localTimes(g: (u: number) => number, options: WindowSpec): LocalTimes {
  return windowMap('localTimes', options, (m, generated, t) => g((m + t) / generated));
}

/**
 * Standard (non-rolling) diffusion in the same window, the baseline of Section 5 (Section 5.1:
 * "we iteratively generate W − n_cln frames"): clean frames at 0 (Eq. 8), every generated frame at
 * the one global t, i.e. the ordinary process of Eq. 1 on the W − n_cln frames given the n_cln
 * conditioning frames.
 */
export function standardLocalTimes(options: WindowSpec): LocalTimes {
  return windowMap('standardLocalTimes', options, (_m, _generated, t) => t);
}

/** A registry row: how to build a local-time map for a window, and what it is. */
export interface LocalTimeMapEntry {
  readonly make: (window: WindowSpec) => LocalTimes;
  /** Its name in a sentence ("rescaled init"). */
  readonly title: string;
  /** Where the paper defines it. */
  readonly equation: string;
  /**
   * A boundary map: it runs from pure noise (every generated frame at 1 when t = 1) to the rolling
   * state linear(0) at t = 0, so Algorithm 1 may co-train it with t^lin and Algorithm 3 sample with
   * it (`initSchedule`).
   */
  readonly boundary: boolean;
}

/**
 * Every local-time map of the package by name: the one table training, sampling, the golden vectors,
 * the command line and the web page read. A new map is a function above and a row here; a boundary
 * row becomes a value of `initSchedule` (and of the command line's `--init-schedule`).
 */
export const LOCAL_TIME_MAPS = {
  linear: { make: linearLocalTimes, title: 'linear', equation: 'Eq. 22; Eq. 21 when n_cln = 0', boundary: false },
  init: { make: initLocalTimes, title: 'init', equation: 'Eq. 23', boundary: true },
  rescaled: { make: rescaledInitLocalTimes, title: 'rescaled init', equation: 'Eq. 37', boundary: true },
  standard: { make: standardLocalTimes, title: 'standard', equation: 'Eq. 1 on the generated frames (Section 5)', boundary: false },
} as const satisfies Record<string, LocalTimeMapEntry>;

/** The name of a local-time map in `LOCAL_TIME_MAPS`. */
export type LocalTimeMapName = keyof typeof LOCAL_TIME_MAPS;

/** The names of the boundary maps (Eq. 23 'init', Eq. 37 'rescaled'): the values of `initSchedule`. */
export type BoundaryMapName = { [N in LocalTimeMapName]: (typeof LOCAL_TIME_MAPS)[N]['boundary'] extends true ? N : never }[LocalTimeMapName];

/** The names in `LOCAL_TIME_MAPS`, in its order. */
export const LOCAL_TIME_MAP_NAMES = Object.keys(LOCAL_TIME_MAPS) as LocalTimeMapName[];

/** The boundary maps' names, in the registry's order. */
export const BOUNDARY_MAP_NAMES = LOCAL_TIME_MAP_NAMES.filter((name): name is BoundaryMapName => LOCAL_TIME_MAPS[name].boundary);

/** The map called `name` for `window`. */
export function localTimeMap(name: LocalTimeMapName, window: WindowSpec): LocalTimes {
  const entry: LocalTimeMapEntry | undefined = LOCAL_TIME_MAPS[name];
  if (!entry) throw new RangeError(`localTimeMap: unknown map '${String(name)}'; the maps are ${LOCAL_TIME_MAP_NAMES.join(', ')}`);
  return entry.make(window);
}

/**
 * The boundary schedule Algorithm 1 co-trains with t^lin and Algorithm 3 samples with: t^init of
 * Eq. 23 (with the clean-frame shift) by default, or any boundary map of the registry by name
 * (`initSchedule: 'rescaled'`, Eq. 37 of Appendix G).
 */
export function boundaryLocalTimes(c: WindowSpec & { readonly initSchedule?: BoundaryMapName | undefined }): LocalTimes {
  const name = c.initSchedule ?? 'init';
  if (!(BOUNDARY_MAP_NAMES as readonly string[]).includes(name)) {
    throw new RangeError(`boundaryLocalTimes: initSchedule must be one of ${BOUNDARY_MAP_NAMES.join(', ')}, got '${String(name)}'`);
  }
  return localTimeMap(name, { window: c.window, cleanFrames: c.cleanFrames ?? 0 });
}

/** Frame indices of Eqs. 8-10 for a step from local times t to local times s (s_k ≤ t_k). */
export type FrameCategories = {
  /** Eq. 8: s_k = t_k = 0, copied (Eq. 12). */
  readonly clean: number[];
  /** Eq. 9: s_k = t_k = 1, fresh noise (Eq. 13). */
  readonly noise: number[];
  /** Eq. 10: s_k ∈ [0, 1), t_k ∈ (s_k, 1], the only frames the model denoises (Eq. 15). */
  readonly window: number[];
};

/**
 * Eqs. 8-10: splits frames into clean, noise and window for a step from local times t to s.
 *
 * Eqs. 8-10 leave out frames with s_k = t_k ∈ (0, 1), which arise only for a zero-length step s = t.
 * Decision: they count as window frames (the posterior of a zero-length step is the identity, so
 * treating them as window is exact), which makes the three sets a partition of 0 … K − 1 for every
 * valid input. s_k > t_k is not a denoising step and throws.
 */
export function frameCategories(s: readonly number[], t: readonly number[]): FrameCategories {
  if (s.length !== t.length) {
    throw new RangeError(`frameCategories: s and t must have the same length, got ${s.length} and ${t.length}`);
  }
  const clean: number[] = [];
  const noise: number[] = [];
  const window: number[] = [];
  for (let k = 0; k < t.length; k++) {
    const sk = s[k];
    const tk = t[k];
    if (!(sk >= 0 && sk <= 1 && tk >= 0 && tk <= 1)) {
      throw new RangeError(`frameCategories: local times must be in [0, 1], got s[${k}]=${sk}, t[${k}]=${tk}`);
    }
    if (sk > tk) {
      throw new RangeError(`frameCategories: need s[k] <= t[k], got s[${k}]=${sk} > t[${k}]=${tk}`);
    }
    if (tk === 0) clean.push(k);
    else if (sk === 1) noise.push(k);
    else window.push(k);
  }
  return { clean, noise, window };
}
