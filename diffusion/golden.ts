/**
 * Golden vectors: inputs and expected outputs of the paper's maths on fixed grids, as one documented
 * JSON object, so that an implementation in any language (PyTorch, JAX, NumPy) can load the file and
 * compare number for number. `rolling vectors --out golden.json` writes it (experiments/cli/goldenVectors.ts
 * adds the FSD section, which lives in experiments).
 *
 * Every number is computed in float64 by the number-level functions of this package (the tensor-level
 * functions agree with them to float32 precision, which test/diffusion/golden.test.ts checks), so the
 * file does not depend on a backend. Numbers are written as JavaScript's shortest round-trip decimal:
 * parsing them as float64 gives back the exact values. The file's structure is `goldenSchema` (JSON
 * Schema, draft 2020-12; also committed as diffusion/golden.schema.json), and `fields` in the file
 * describes every field, taken from the schema's descriptions.
 */
import { foldIn, key, split, threefry2x32Block, uniformHost } from '../core/index.js';
import { frameCategories, initLocalTimes, linearLocalTimes, localTimeMap, type LocalTimeMapName } from './localTime.js';
import { windowLossWeights } from './loss.js';
import { lossWeighting, type LossWeightingName } from './lossWeighting.js';
import { ddimEpsFromLogSnr, ddimFromLogSnr, posteriorFromLogSnr } from './posteriorCoefficients.js';
import { jsonSchemaFieldDescriptions, type JsonSchema } from './jsonSchema.js';
import { stepCoefficients } from './sampling.js';
import {
  alphaFromLogSnr,
  cosineSchedule,
  interpolatedCosineSchedule,
  linearLogSnrSchedule,
  shiftedCosineSchedule,
  sigmaFromLogSnr,
  type Schedule,
} from './schedule.js';

export const GOLDEN_FORMAT = 'rolling-diffusion-golden';
/** Bumped whenever an expected value or the meaning of a field changes. */
export const GOLDEN_VERSION = 1;

// ---------------------------------------------------------------------------------------------------
// The document's type
// ---------------------------------------------------------------------------------------------------

/** The local-time maps the golden file has cases for: the paper's three. */
export type GoldenLocalTimeMapName = Exclude<LocalTimeMapName, 'standard'>;
export type ScheduleKind = 'cosine' | 'shiftedCosine' | 'interpolatedCosine' | 'linearLogSnr';

export interface GoldenLocalTimeCase {
  map: GoldenLocalTimeMapName;
  window: number;
  cleanFrames: number;
  t: number[];
  localTimes: number[][];
}

export interface GoldenScheduleCase {
  name: string;
  kind: ScheduleKind;
  options: { logSnrMin: number; logSnrMax: number; imageSize?: number; referenceSize?: number; lowReferenceSize?: number; highReferenceSize?: number };
  logSnrMin: number;
  logSnrMax: number;
  logSnr: number[];
  alpha: number[];
  sigma: number[];
}

export interface GoldenPosteriorCase {
  s: number;
  t: number;
  logSnrS: number;
  logSnrT: number;
  zCoef: number;
  xCoef: number;
  variance: number;
}

export interface GoldenDdimCase extends GoldenPosteriorCase {
  eta: number;
  epsForm: { xCoef: number; epsCoef: number; variance: number };
}

export interface GoldenFramePosteriorCase {
  map: GoldenLocalTimeMapName;
  window: number;
  cleanFrames: number;
  steps: number;
  from: number;
  to: number;
  t: number[];
  s: number[];
  clean: number[];
  noise: number[];
  windowFrames: number[];
  zCoef: number[];
  xCoef: number[];
  variance: number[];
}

export interface GoldenLossCase {
  name: string;
  window: number;
  cleanFrames: number;
  weighting: LossWeightingName;
  gamma: number;
  localTimes: number[][];
  logSnr: number[][];
  x: number[][][];
  eps: number[][][];
  vHat: number[][][];
  z: number[][][];
  v: number[][][];
  xHat: number[][][];
  epsHat: number[][][];
  vMse: number[][];
  xMse: number[][];
  epsMse: number[][];
  weights: number[][];
  loss: number;
}

export interface GoldenFsdCase {
  name: string;
  height: number;
  width: number;
  nReal: number;
  nGenerated: number;
  real: number[];
  generated: number[];
  fsd: number;
}

export interface GoldenFsdSection {
  description: string;
  cases: GoldenFsdCase[];
}

export interface GoldenVectors {
  format: typeof GOLDEN_FORMAT;
  version: number;
  description: string;
  schema: string;
  conventions: Record<string, string>;
  fields: Record<string, string>;
  localTimes: { description: string; cases: GoldenLocalTimeCase[] };
  frameCategories: { description: string; cases: { s: number[]; t: number[]; clean: number[]; noise: number[]; window: number[] }[] };
  schedules: { description: string; t: number[]; cases: GoldenScheduleCase[] };
  posterior: { description: string; schedule: string; cases: GoldenPosteriorCase[] };
  ddim: { description: string; schedule: string; cases: GoldenDdimCase[] };
  framePosterior: { description: string; schedule: string; cases: GoldenFramePosteriorCase[] };
  lossWeighting: { description: string; gamma: number; logSnr: number[]; cases: { name: LossWeightingName; xWeight: number[]; epsWeight: number[]; vWeight: number[] }[] };
  loss: { description: string; schedule: string; cases: GoldenLossCase[] };
  threefry: {
    description: string;
    blocks: { key: number[]; counter: number[]; output: number[] }[];
    keys: { seed: number; words: number[] }[];
    split: { seed: number; n: number; keys: number[][] }[];
    foldIn: { seed: number; data: number; words: number[] }[];
    uniform: { seed: number; n: number; values: number[] }[];
  };
  fsd?: GoldenFsdSection;
}

// ---------------------------------------------------------------------------------------------------
// The schema (JSON Schema draft 2020-12), the single source of every field's description
// ---------------------------------------------------------------------------------------------------

const num = (description: string): JsonSchema => ({ type: 'number', description });
const int = (description: string, minimum = 0): JsonSchema => ({ type: 'integer', minimum, description });
const str = (description: string): JsonSchema => ({ type: 'string', description });
const arr = (items: JsonSchema, description: string, extra: Record<string, unknown> = {}): JsonSchema => ({ type: 'array', description, items, ...extra });
const ref = (name: string, description: string): JsonSchema => ({ $ref: `#/$defs/${name}`, description });
const obj = (description: string, properties: Record<string, JsonSchema>, optional: readonly string[] = []): JsonSchema => ({
  type: 'object',
  description,
  properties,
  required: Object.keys(properties).filter((k) => !optional.includes(k)),
  additionalProperties: false,
});
const section = (description: string, cases: JsonSchema, more: Record<string, JsonSchema> = {}): JsonSchema =>
  obj(description, { description: str('What this section holds and how it was computed.'), ...more, cases });

const mapName: JsonSchema = { type: 'string', enum: ['linear', 'init', 'rescaled'], description: "Local-time map: 'linear' (Eq. 22), 'init' (Eq. 23 with clean frames at 0), 'rescaled' (Eq. 37, 0-based frames)." };
const weightingName: JsonSchema = { type: 'string', enum: ['x', 'eps', 'v', 'minSnr'], description: "Weighting a(λ): 'x' (1), 'eps' (SNR), 'v' (1 + SNR), 'minSnr' (min(SNR, γ))." };

export const goldenSchema: JsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'urn:rolling-diffusion:golden-vectors:v1',
  title: 'Rolling Diffusion golden vectors',
  description: 'Inputs and expected outputs of the Rolling Diffusion maths (Ruhe et al., ICML 2024) on fixed grids, for cross-implementation checks.',
  type: 'object',
  $defs: {
    numbers: arr({ type: 'number' }, 'A list of numbers.'),
    integers: arr({ type: 'integer', minimum: 0 }, 'A list of non-negative integers (0-based frame indices).'),
    matrix: arr({ $ref: '#/$defs/numbers' }, 'Rows of numbers: [batch][frame].'),
    frames: arr({ $ref: '#/$defs/matrix' }, 'Pixel values [batch][frame][pixel].'),
    uint32: { type: 'integer', minimum: 0, maximum: 4294967295, description: 'An unsigned 32-bit word.' },
    words: arr({ $ref: '#/$defs/uint32' }, 'Two uint32 words.', { minItems: 2, maxItems: 2 }),
  },
  properties: {
    format: { const: GOLDEN_FORMAT, description: `Always "${GOLDEN_FORMAT}".` },
    version: int('Format version; bumped whenever an expected value or the meaning of a field changes.', 1),
    description: str('What the file is.'),
    schema: str('Where the JSON Schema of this file lives.'),
    conventions: { type: 'object', additionalProperties: { type: 'string' }, description: 'Conventions every section follows (indexing, logSNR, precision), by name.' },
    fields: { type: 'object', additionalProperties: { type: 'string' }, description: 'A description of every field, keyed by its path (a[] is any element of array a).' },
    localTimes: section(
      'Local times of every frame of the window for a global time t (Section 3.2-3.3, Appendix G).',
      arr(
        obj('One map on one window at several global times.', {
          map: mapName,
          window: int('W: frames in the window, clean conditioning frames included.', 1),
          cleanFrames: int('n_cln: clean conditioning frames at the start of the window.'),
          t: ref('numbers', 'Global diffusion times t in [0, 1].'),
          localTimes: ref('matrix', 'localTimes[i][w]: the local time of frame w (0-based) at global time t[i].'),
        }),
        'The cases.',
      ),
    ),
    frameCategories: section(
      'Eqs. 8-10: the clean, noise and window frames of a step from local times t to local times s.',
      arr(
        obj('One step.', {
          s: ref('numbers', 'Local times after the step (s_k <= t_k).'),
          t: ref('numbers', 'Local times before the step.'),
          clean: ref('integers', 'Eq. 8: frames with s_k = t_k = 0 (copied).'),
          noise: ref('integers', 'Eq. 9: frames with s_k = t_k = 1 (fresh noise).'),
          window: ref('integers', 'Eq. 10: every other frame (denoised by the model); s_k = t_k in (0, 1) counts here too.'),
        }),
        'The cases.',
      ),
    ),
    schedules: section(
      'Noise schedules on a grid of t: logSNR λ(t), α(t) = sqrt(sigmoid(λ)), σ(t) = sqrt(sigmoid(−λ)).',
      arr(
        obj('One schedule.', {
          name: str('The schedule as this package names it.'),
          kind: { type: 'string', enum: ['cosine', 'shiftedCosine', 'interpolatedCosine', 'linearLogSnr'], description: "Family: truncated cosine, cosine shifted by 2 log(referenceSize / imageSize), simple diffusion's interpolated cosine, or λ linear in t." },
          options: obj(
            'The options the schedule was built with.',
            {
              logSnrMin: num('λ_min of the unshifted truncated range.'),
              logSnrMax: num('λ_max of the unshifted truncated range.'),
              imageSize: num('d: side of the images (shifted and interpolated schedules).'),
              referenceSize: num('d_ref: reference side of the shifted schedule.'),
              lowReferenceSize: num('Reference side of the interpolated schedule at t = 1.'),
              highReferenceSize: num('Reference side of the interpolated schedule at t = 0.'),
            },
            ['imageSize', 'referenceSize', 'lowReferenceSize', 'highReferenceSize'],
          ),
          logSnrMin: num('λ(1), the noisiest level (shift included).'),
          logSnrMax: num('λ(0), the cleanest level (shift included).'),
          logSnr: ref('numbers', 'λ at each t of schedules.t.'),
          alpha: ref('numbers', 'α at each t of schedules.t.'),
          sigma: ref('numbers', 'σ at each t of schedules.t.'),
        }),
        'The cases.',
      ),
      { t: ref('numbers', 'The grid of t shared by every case.') },
    ),
    posterior: section(
      "Eq. 3: q(z_s | z_t, x) = N(zCoef z_t + xCoef x, variance I) between local times s <= t (MATH.md's stable form).",
      arr(
        obj('One pair (s, t).', {
          s: num('Local time s.'),
          t: num('Local time t >= s.'),
          logSnrS: num('λ(s), the logSNR at s.'),
          logSnrT: num('λ(t), the logSNR at t.'),
          zCoef: num('Coefficient of z_t in the mean: α_{t|s} σ_s² / σ_t².'),
          xCoef: num('Coefficient of x in the mean: α_s σ²_{t|s} / σ_t².'),
          variance: num('σ²_{t|s} σ_s² / σ_t².'),
        }),
        'The cases.',
      ),
      { schedule: str('The schedule λ(t) is taken from.') },
    ),
    ddim: section(
      'DDIM(η) steps between s <= t: in the shape of Eq. 3 (z_s = zCoef z_t + xCoef x̂ + sqrt(variance) ξ) and in ε-form (z_s = xCoef x̂ + epsCoef ε̂ + sqrt(variance) ξ).',
      arr(
        obj('One (s, t, η).', {
          s: num('Local time s.'),
          t: num('Local time t >= s.'),
          eta: num('η in [0, 1]: 0 deterministic, 1 ancestral.'),
          logSnrS: num('λ(s), the logSNR at s.'),
          logSnrT: num('λ(t), the logSNR at t.'),
          zCoef: num('Coefficient of z_t.'),
          xCoef: num('Coefficient of x̂.'),
          variance: num('η² times the posterior variance.'),
          epsForm: obj('The same step in terms of x̂ and ε̂.', {
            xCoef: num('Coefficient of x̂: α_s.'),
            epsCoef: num('sqrt(σ_s² − variance).'),
            variance: num('η² times the posterior variance.'),
          }),
        }),
        'The cases.',
      ),
      { schedule: str('The schedule λ(t) is taken from.') },
    ),
    framePosterior: section(
      "Eqs. 11-15 per frame along a sampler's steps: clean frames copied (1, 0, 0), noise frames fresh N(0, I) (0, 0, 1), window frames Eq. 3.",
      arr(
        obj('One step of a T-step pass of a local-time map from global time `from` to `to`.', {
          map: mapName,
          window: int('W: frames in the window.', 1),
          cleanFrames: int('n_cln: clean conditioning frames.'),
          steps: int('T: steps of the pass.', 1),
          from: num('Global time before the step.'),
          to: num('Global time after the step.'),
          t: ref('numbers', 'Local times before the step.'),
          s: ref('numbers', 'Local times after the step.'),
          clean: ref('integers', 'Clean frames (Eq. 8).'),
          noise: ref('integers', 'Noise frames (Eq. 9).'),
          windowFrames: ref('integers', 'Window frames (Eq. 10).'),
          zCoef: ref('numbers', 'Coefficient of z_t, per frame.'),
          xCoef: ref('numbers', 'Coefficient of x̂, per frame.'),
          variance: ref('numbers', 'Variance of the added noise, per frame.'),
        }),
        'The cases.',
      ),
      { schedule: str('The schedule λ(t) is taken from.') },
    ),
    lossWeighting: section(
      'Loss weightings a(λ) (Eqs. 5, 18, 26) in their three equivalent forms: xWeight multiplies ‖x − x̂‖², epsWeight = xWeight / SNR multiplies ‖ε − ε̂‖², vWeight = xWeight / (1 + SNR) multiplies ‖v − v̂‖².',
      arr(
        obj('One weighting on the logSNR grid.', {
          name: weightingName,
          xWeight: ref('numbers', 'a(λ) at each λ of lossWeighting.logSnr.'),
          epsWeight: ref('numbers', 'a(λ) / SNR.'),
          vWeight: ref('numbers', 'a(λ) / (1 + SNR).'),
        }),
        'The cases.',
      ),
      { gamma: num('γ of Min-SNR-γ.'), logSnr: ref('numbers', 'The grid of λ shared by every case.') },
    ),
    loss: section(
      'The forward process, the parameterizations and the window loss (Eq. 26) on small fixed arrays; per-frame means over pixels.',
      arr(
        obj('One batch.', {
          name: str('What the case exercises.'),
          window: int('W: frames in the window.', 1),
          cleanFrames: int('n_cln: clean conditioning frames.'),
          weighting: weightingName,
          gamma: num('γ (used by minSnr only).'),
          localTimes: ref('matrix', 'Local time of each frame [batch][frame].'),
          logSnr: ref('matrix', 'λ at each local time.'),
          x: ref('frames', 'Data x.'),
          eps: ref('frames', 'Noise ε.'),
          vHat: ref('frames', "A model's v-prediction."),
          z: ref('frames', 'z = α x + σ ε (Eq. 7).'),
          v: ref('frames', 'v = α ε − σ x.'),
          xHat: ref('frames', 'x̂ = α z − σ v̂.'),
          epsHat: ref('frames', 'ε̂ = σ z + α v̂.'),
          vMse: ref('matrix', 'mean over pixels of (v − v̂)².'),
          xMse: ref('matrix', 'mean over pixels of (x − x̂)²; vMse = (1 + SNR) xMse.'),
          epsMse: ref('matrix', 'mean over pixels of (ε − ε̂)²; epsMse = SNR xMse.'),
          weights: ref('matrix', 'vWeight of the weighting at each frame with 0 < t_k < 1, else 0 (clean and pure-noise frames carry no loss).'),
          loss: num('Σ_b Σ_k weights · vMse / (batch · (W − n_cln)): this package\'s normalisation of Eq. 26.'),
        }),
        'The cases.',
      ),
      { schedule: str('The schedule λ(t) is taken from.') },
    ),
    threefry: obj("Threefry-2x32 (20 rounds) and JAX's key derivation on top of it.", {
      description: str('What this section holds.'),
      blocks: arr(
        obj('One block.', { key: ref('words', 'Key words (k0, k1).'), counter: ref('words', 'Counter words (x0, x1).'), output: ref('words', 'The encrypted block.') }),
        'threefry2x32 on single blocks; the first three are the Random123 known answers.',
      ),
      keys: arr(obj('key(seed).', { seed: int('The seed of key(seed).'), words: ref('words', 'The words: high and low 32 bits of the seed (JAX PRNGKey).') }), 'Keys from seeds.'),
      split: arr(
        obj('split(key(seed), n).', { seed: int('The seed of key(seed).'), n: int('How many keys.', 1), keys: arr({ $ref: '#/$defs/words' }, 'The n keys, as words.') }),
        "JAX's random.split.",
      ),
      foldIn: arr(obj('foldIn(key(seed), data).', { seed: int('The seed of key(seed).'), data: int('The folded integer.'), words: ref('words', 'The new key.') }), "JAX's random.fold_in."),
      uniform: arr(
        obj('uniform(key(seed), [n]).', { seed: int('The seed of key(seed).'), n: int('How many values.', 1), values: ref('numbers', 'Float32 values in [0, 1) (top 23 bits of each word), as JAX.') }),
        "JAX's random.uniform.",
      ),
    }),
    fsd: section(
      'Fréchet Spectral Distance (Eq. 27) on fixed frames, computed by experiments/metrics/goldenFsd.ts with experiments/metrics/metrics.ts fsdFromArrays (singular values of X₁X₂ᵀ, MATH.md). Compare with rtol 1e-6: a d×d matrix square root (scipy.linalg.sqrtm) of these rank-deficient covariances takes square roots of round-off and is only that accurate.',
      arr(
        obj('One pair of frame sets.', {
          name: str('What the case exercises.'),
          height: int('Frame height (a power of two).', 1),
          width: int('Frame width (a power of two).', 1),
          nReal: int('Number of real frames.', 2),
          nGenerated: int('Number of generated frames.', 2),
          real: ref('numbers', 'Real frames, [nReal, height, width] row-major.'),
          generated: ref('numbers', 'Generated frames, [nGenerated, height, width] row-major.'),
          fsd: num('FSD on the magnitudes of the unnormalised 2-D DFT of each frame (full grid), covariances with 1/(n − 1).'),
        }),
        'The cases.',
      ),
    ),
  },
  required: ['format', 'version', 'description', 'schema', 'conventions', 'fields', 'localTimes', 'frameCategories', 'schedules', 'posterior', 'ddim', 'framePosterior', 'lossWeighting', 'loss', 'threefry'],
  additionalProperties: false,
};

/** Every field's description from the schema (`goldenSchema` by default), keyed by path (`a[]` stands for any element of `a`). */
export function schemaFieldDescriptions(schema: JsonSchema = goldenSchema, root: JsonSchema = schema, prefix = ''): Record<string, string> {
  return jsonSchemaFieldDescriptions(schema, root, prefix);
}

// ---------------------------------------------------------------------------------------------------
// The vectors
// ---------------------------------------------------------------------------------------------------

const DEFAULT_COSINE = cosineSchedule();

/** Deterministic pixel values k/16 ∈ [−1.25, 1.25]: exact in float32, so tensor code sees the same inputs. */
function pattern(count: number, salt: number): number[] {
  return Array.from({ length: count }, (_, i) => ((((i + 1) * 37 + salt * 101) % 41) - 20) / 16);
}

function frames(batch: number, window: number, pixels: number, salt: number): number[][][] {
  const flat = pattern(batch * window * pixels, salt);
  return Array.from({ length: batch }, (_, b) => Array.from({ length: window }, (_, w) => flat.slice((b * window + w) * pixels, (b * window + w + 1) * pixels)));
}

/** The maps of the golden file, in its order. */
const GOLDEN_MAPS: readonly GoldenLocalTimeMapName[] = ['linear', 'init', 'rescaled'];

const TIME_GRID = [0, 0.05, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 1];

function localTimeSection(): GoldenVectors['localTimes'] {
  const windows: { window: number; cleanFrames: number }[] = [];
  for (let window = 1; window <= 6; window++) for (let cleanFrames = 0; cleanFrames < window; cleanFrames++) windows.push({ window, cleanFrames });
  for (const window of [8, 16]) for (const cleanFrames of [0, 1, window / 2, window - 1]) windows.push({ window, cleanFrames });
  const cases: GoldenLocalTimeCase[] = [];
  for (const map of GOLDEN_MAPS) {
    for (const spec of windows) cases.push({ map, ...spec, t: TIME_GRID, localTimes: TIME_GRID.map((t) => localTimeMap(map, spec)(t)) });
  }
  return {
    description: 'Eq. 22 (linear), Eq. 23 (init, clean frames held at 0, the rest on W − n_cln frames) and Eq. 37 (rescaled, 0-based) for W = 1…6 with every n_cln and W = 8, 16 with n_cln ∈ {0, 1, W/2, W − 1}.',
    cases,
  };
}

function frameCategorySection(): GoldenVectors['frameCategories'] {
  const steps: [number[], number[]][] = [
    [[0, 0, 0.25, 0.5], [0, 0.25, 0.5, 0.75]],
    [[0, 1 / 3, 2 / 3, 1], [0, 1 / 3, 2 / 3, 1]],
    [[0, 0.9, 1, 1], [0, 1, 1, 1]],
    [[0, 0, 0, 0], [0, 0, 0.1, 1]],
    [[0.5], [0.5]],
    [[1], [1]],
    [[0], [0]],
    [[0, 0.2, 0.6, 0.95, 1], [0.1, 0.3, 0.7, 1, 1]],
  ];
  return {
    description: 'Eqs. 8-10 on hand-picked steps covering every category and its edges; frame indices are 0-based.',
    cases: steps.map(([s, t]) => ({ s, t, ...frameCategories(s, t) })),
  };
}

interface ScheduleSpec {
  kind: ScheduleKind;
  options: GoldenScheduleCase['options'];
  make: () => Schedule;
}

const SCHEDULES: ScheduleSpec[] = [
  { kind: 'cosine', options: { logSnrMin: -15, logSnrMax: 15 }, make: () => cosineSchedule() },
  { kind: 'cosine', options: { logSnrMin: -20, logSnrMax: 20 }, make: () => cosineSchedule({ logSnrMin: -20, logSnrMax: 20 }) },
  { kind: 'shiftedCosine', options: { logSnrMin: -15, logSnrMax: 15, imageSize: 32, referenceSize: 64 }, make: () => shiftedCosineSchedule({ imageSize: 32, referenceSize: 64 }) },
  { kind: 'shiftedCosine', options: { logSnrMin: -15, logSnrMax: 15, imageSize: 128, referenceSize: 64 }, make: () => shiftedCosineSchedule({ imageSize: 128, referenceSize: 64 }) },
  { kind: 'shiftedCosine', options: { logSnrMin: -15, logSnrMax: 15, imageSize: 256, referenceSize: 64 }, make: () => shiftedCosineSchedule({ imageSize: 256, referenceSize: 64 }) },
  {
    kind: 'interpolatedCosine',
    options: { logSnrMin: -15, logSnrMax: 15, imageSize: 512, lowReferenceSize: 32, highReferenceSize: 256 },
    make: () => interpolatedCosineSchedule({ imageSize: 512, lowReferenceSize: 32, highReferenceSize: 256 }),
  },
  { kind: 'linearLogSnr', options: { logSnrMin: -15, logSnrMax: 15 }, make: () => linearLogSnrSchedule() },
];

/** Builds a schedule from a golden case's kind and options (what a reader of the file does). */
export function scheduleFromGolden(kind: ScheduleKind, options: GoldenScheduleCase['options']): Schedule {
  const { logSnrMin, logSnrMax, imageSize, referenceSize, lowReferenceSize, highReferenceSize } = options;
  switch (kind) {
    case 'cosine':
      return cosineSchedule({ logSnrMin, logSnrMax });
    case 'shiftedCosine':
      return shiftedCosineSchedule({ logSnrMin, logSnrMax, imageSize: imageSize!, referenceSize: referenceSize! });
    case 'interpolatedCosine':
      return interpolatedCosineSchedule({ logSnrMin, logSnrMax, imageSize: imageSize!, lowReferenceSize: lowReferenceSize!, highReferenceSize: highReferenceSize! });
    case 'linearLogSnr':
      return linearLogSnrSchedule({ logSnrMin, logSnrMax });
  }
}

function scheduleSection(): GoldenVectors['schedules'] {
  const t = [0, 1e-4, ...Array.from({ length: 31 }, (_, i) => (i + 1) / 32), 1 - 1e-4, 1];
  return {
    description: 'Each schedule on a grid of 35 times: 0, 1e-4, k/32 for k = 1…31, 1 − 1e-4, 1. λ(0) = logSnrMax and λ(1) = logSnrMin exactly.',
    t,
    cases: SCHEDULES.map(({ kind, options, make }) => {
      const schedule = make();
      return {
        name: schedule.name,
        kind,
        options,
        logSnrMin: schedule.logSnrMin,
        logSnrMax: schedule.logSnrMax,
        logSnr: t.map(schedule.logSnr),
        alpha: t.map(schedule.alpha),
        sigma: t.map(schedule.sigma),
      };
    }),
  };
}

const PAIR_GRID = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1];
const PAIRS: [number, number][] = PAIR_GRID.flatMap((s) => PAIR_GRID.filter((t) => t >= s).map((t): [number, number] => [s, t]));

function posteriorSection(): GoldenVectors['posterior'] {
  return {
    description: `Eq. 3 for every pair s <= t of {${PAIR_GRID.join(', ')}} (s = t gives (1, 0, 0)).`,
    schedule: DEFAULT_COSINE.name,
    cases: PAIRS.map(([s, t]) => {
      const logSnrS = DEFAULT_COSINE.logSnr(s);
      const logSnrT = DEFAULT_COSINE.logSnr(t);
      return { s, t, logSnrS, logSnrT, ...posteriorFromLogSnr(logSnrS, logSnrT) };
    }),
  };
}

function ddimSection(): GoldenVectors['ddim'] {
  return {
    description: `DDIM(η) for η ∈ {0, 0.5, 1} and every pair s <= t of {${PAIR_GRID.join(', ')}}; η = 1 equals the posterior.`,
    schedule: DEFAULT_COSINE.name,
    cases: [0, 0.5, 1].flatMap((eta) =>
      PAIRS.map(([s, t]) => {
        const logSnrS = DEFAULT_COSINE.logSnr(s);
        const logSnrT = DEFAULT_COSINE.logSnr(t);
        return { s, t, eta, logSnrS, logSnrT, ...ddimFromLogSnr(logSnrS, logSnrT, eta), epsForm: ddimEpsFromLogSnr(logSnrS, logSnrT, eta) };
      }),
    ),
  };
}

function framePosteriorSection(): GoldenVectors['framePosterior'] {
  const passes: { map: GoldenLocalTimeMapName; window: number; cleanFrames: number; steps: number }[] = [
    { map: 'linear', window: 4, cleanFrames: 1, steps: 4 },
    { map: 'init', window: 3, cleanFrames: 1, steps: 3 },
    { map: 'rescaled', window: 3, cleanFrames: 0, steps: 3 },
  ];
  const cases: GoldenFramePosteriorCase[] = [];
  for (const pass of passes) {
    const local = localTimeMap(pass.map, pass);
    for (let i = pass.steps; i >= 1; i--) {
      const from = i / pass.steps;
      const to = (i - 1) / pass.steps;
      const t = local(from);
      const s = local(to);
      const { clean, noise, window } = frameCategories(s, t);
      const coefficients = stepCoefficients(s, t, { schedule: DEFAULT_COSINE });
      cases.push({
        ...pass,
        from,
        to,
        t,
        s,
        clean,
        noise,
        windowFrames: window,
        zCoef: coefficients.map((c) => c.zCoef),
        xCoef: coefficients.map((c) => c.xCoef),
        variance: coefficients.map((c) => c.variance),
      });
    }
  }
  return {
    description: 'The ancestral sampler\'s per-frame coefficients along whole passes: linear (W = 4, n_cln = 1), init (W = 3, n_cln = 1) and rescaled (W = 3) maps, global time i/T → (i − 1)/T.',
    schedule: DEFAULT_COSINE.name,
    cases,
  };
}

function lossWeightingSection(): GoldenVectors['lossWeighting'] {
  const logSnr = [-20, ...Array.from({ length: 13 }, (_, i) => -15 + 2.5 * i), Math.log(5), 20].sort((a, b) => a - b);
  const gamma = 5;
  return {
    description: 'Each weighting on a λ grid of −20, −15…15 by 2.5, log 5 (where Min-SNR-5 bends) and 20; γ = 5.',
    gamma,
    logSnr,
    cases: (['x', 'eps', 'v', 'minSnr'] as LossWeightingName[]).map((name) => {
      const w = lossWeighting(name, { gamma });
      return { name, xWeight: logSnr.map(w.xWeight), epsWeight: logSnr.map(w.epsWeight), vWeight: logSnr.map(w.vWeight) };
    }),
  };
}

const perPixelMean = (a: number[], b: number[]): number => a.reduce((s, ai, i) => s + (ai - b[i]!) ** 2, 0) / a.length;

function lossCase(name: string, window: number, cleanFrames: number, weighting: LossWeightingName, localTimes: number[][], pixels: number, salt: number): GoldenLossCase {
  const schedule = DEFAULT_COSINE;
  const gamma = 5;
  const batch = localTimes.length;
  const x = frames(batch, window, pixels, salt);
  const eps = frames(batch, window, pixels, salt + 1);
  const vHat = frames(batch, window, pixels, salt + 2);
  const logSnr = localTimes.map((row) => row.map((t) => schedule.logSnr(t)));
  const each = (f: (b: number, k: number, p: number, alpha: number, sigma: number) => number): number[][][] =>
    x.map((ex, b) => ex.map((frame, k) => frame.map((_, p) => f(b, k, p, alphaFromLogSnr(logSnr[b]![k]!), sigmaFromLogSnr(logSnr[b]![k]!)))));
  const z = each((b, k, p, a, s) => a * x[b]![k]![p]! + s * eps[b]![k]![p]!);
  const v = each((b, k, p, a, s) => a * eps[b]![k]![p]! - s * x[b]![k]![p]!);
  const xHat = each((b, k, p, a, s) => a * z[b]![k]![p]! - s * vHat[b]![k]![p]!);
  const epsHat = each((b, k, p, a, s) => s * z[b]![k]![p]! + a * vHat[b]![k]![p]!);
  const mse = (u: number[][][], w: number[][][]) => u.map((ex, b) => ex.map((frame, k) => perPixelMean(frame, w[b]![k]!)));
  const vMse = mse(v, vHat);
  const weights = windowLossWeights(localTimes, { schedule, weighting, gamma });
  const total = vMse.reduce((sum, row, b) => sum + row.reduce((s, m, k) => s + m * weights[b]![k]!, 0), 0);
  return {
    name,
    window,
    cleanFrames,
    weighting,
    gamma,
    localTimes,
    logSnr,
    x,
    eps,
    vHat,
    z,
    v,
    xHat,
    epsHat,
    vMse,
    xMse: mse(x, xHat),
    epsMse: mse(eps, epsHat),
    weights,
    loss: total / (batch * Math.max(window - cleanFrames, 1)),
  };
}

function lossSection(): GoldenVectors['loss'] {
  const w4 = { window: 4, cleanFrames: 1 };
  const rows = [linearLocalTimes(w4)(0.3), initLocalTimes(w4)(0.6)];
  return {
    description: 'Small batches through Eq. 7, the v-parameterization and Eq. 26. Inputs are multiples of 1/16 (exact in float32).',
    schedule: DEFAULT_COSINE.name,
    cases: [
      lossCase('W = 4, n_cln = 1: a linear row (t = 0.3) and an init row (t = 0.6, with a pure-noise frame), v weighting', 4, 1, 'v', rows, 3, 1),
      lossCase('the same batch with Min-SNR-5', 4, 1, 'minSnr', rows, 3, 1),
      lossCase('W = 2, n_cln = 0 at t = 1 (the newest frame is pure noise), ε weighting', 2, 0, 'eps', [linearLocalTimes({ window: 2 })(1)], 4, 7),
      lossCase('W = 3, n_cln = 2 at t = 0.5, x weighting', 3, 2, 'x', [linearLocalTimes({ window: 3, cleanFrames: 2 })(0.5)], 2, 11),
    ],
  };
}

function threefrySection(): GoldenVectors['threefry'] {
  const blocks: [number, number, number, number][] = [
    [0x00000000, 0x00000000, 0x00000000, 0x00000000],
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3],
    [0, 0, 0, 1],
    [0, 0, 1, 0],
    [0, 42, 0, 0],
    [0x12345678, 0x9abcdef0, 7, 11],
  ];
  const words = (k: { words: readonly [number, number] }): number[] => [k.words[0], k.words[1]];
  return {
    description: "Threefry-2x32 (20 rounds, Random123) blocks, then JAX's PRNGKey, split, fold_in and uniform (float32) built on it, in JAX's original layout (jax_threefry_partitionable=False, the default before JAX 0.5; set it to compare with a newer JAX).",
    blocks: blocks.map(([k0, k1, x0, x1]) => ({ key: [k0, k1], counter: [x0, x1], output: threefry2x32Block(k0, k1, x0, x1) })),
    keys: [0, 1, 42, 2 ** 32 + 5].map((seed) => ({ seed, words: words(key(seed)) })),
    split: [
      { seed: 0, n: 2 },
      { seed: 0, n: 3 },
      { seed: 42, n: 2 },
    ].map(({ seed, n }) => ({ seed, n, keys: split(key(seed), n).map(words) })),
    foldIn: [
      { seed: 0, data: 0 },
      { seed: 0, data: 1 },
      { seed: 0, data: 42 },
      { seed: 42, data: 7 },
    ].map(({ seed, data }) => ({ seed, data, words: words(foldIn(key(seed), data)) })),
    uniform: [
      { seed: 0, n: 8 },
      { seed: 42, n: 5 },
    ].map(({ seed, n }) => ({ seed, n, values: uniformHost(key(seed), n) })),
  };
}

/** -0 becomes 0 (JSON has no −0) and anything not finite is an error: the file must round-trip. */
function normalise<T>(value: T, path = '$'): T {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`goldenVectors: ${path} is ${value}; golden values must be finite`);
    return (Object.is(value, -0) ? 0 : value) as T;
  }
  if (Array.isArray(value)) return value.map((v, i) => normalise(v, `${path}[${i}]`)) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v, `${path}.${k}`)])) as T;
  }
  return value;
}

/**
 * The golden vectors. `extra` adds sections computed elsewhere (experiments adds `fsd`, which the
 * diffusion package cannot compute without importing experiments); each must be declared in
 * `goldenSchema` and must not replace a built-in section.
 */
export function goldenVectors(extra: { readonly fsd?: GoldenFsdSection } & Record<string, unknown> = {}): GoldenVectors {
  const core = {
    localTimes: localTimeSection(),
    frameCategories: frameCategorySection(),
    schedules: scheduleSection(),
    posterior: posteriorSection(),
    ddim: ddimSection(),
    framePosterior: framePosteriorSection(),
    lossWeighting: lossWeightingSection(),
    loss: lossSection(),
    threefry: threefrySection(),
  };
  const declared = (goldenSchema.properties ?? {}) as Record<string, JsonSchema>;
  for (const name of Object.keys(extra)) {
    if (name in core) throw new Error(`goldenVectors: the extra section "${name}" would replace a built-in section`);
    if (!(name in declared)) throw new Error(`goldenVectors: the extra section "${name}" is not declared in goldenSchema`);
  }
  const sections = { ...core, ...extra };
  const present = new Set(['format', 'version', 'description', 'schema', 'conventions', 'fields', ...Object.keys(sections)]);
  const fields = Object.fromEntries(Object.entries(schemaFieldDescriptions()).filter(([path]) => present.has(path.split(/[.[]/)[0]!)));
  return normalise({
    format: GOLDEN_FORMAT,
    version: GOLDEN_VERSION,
    description:
      'Golden vectors of Rolling Diffusion Models (Ruhe et al., ICML 2024) from the TypeScript reference implementation: inputs and expected outputs of local-time maps, schedules, posteriors, samplers\' coefficients, loss identities, the PRNG and FSD, for checking other implementations.',
    schema: 'diffusion/golden.schema.json (JSON Schema draft 2020-12)',
    conventions: {
      frames: 'Frames are 0-based, w ∈ {0, …, W − 1}; the first n_cln frames of a window are the clean conditioning frames.',
      time: 'Global and local diffusion times are in [0, 1]; local time 0 is clean data, 1 is pure noise.',
      logSnr: 'λ = log SNR = log(α²/σ²); variance preserving, α² = sigmoid(λ), σ² = sigmoid(−λ).',
      arrays: 'Batches are [batch][frame][pixel] nested arrays; FSD frames are flat row-major arrays.',
      precision: 'Values are float64 computed by number-level code, written as shortest round-trip decimals. Compare float64 code with rtol 1e-12 (exact maps and integers exactly), float32 code with rtol 1e-5 and atol 1e-6.',
      fields: '`fields` maps every field path (a[] is any element of the array a) to its description.',
    },
    fields,
    ...sections,
  }) as GoldenVectors;
}

/** The file's text: two-space indentation, arrays of numbers and strings on one line, a final newline. */
export function serializeGoldenVectors(value: unknown): string {
  const render = (v: unknown, depth: number): string => {
    const pad = '  '.repeat(depth + 1);
    const close = '  '.repeat(depth);
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      if (v.every((e) => e === null || typeof e !== 'object')) return `[${v.map((e) => JSON.stringify(e)).join(', ')}]`;
      return `[\n${v.map((e) => pad + render(e, depth + 1)).join(',\n')}\n${close}]`;
    }
    if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v).filter(([, e]) => e !== undefined);
      if (entries.length === 0) return '{}';
      return `{\n${entries.map(([k, e]) => `${pad}${JSON.stringify(k)}: ${render(e, depth + 1)}`).join(',\n')}\n${close}}`;
    }
    return JSON.stringify(v);
  };
  return `${render(value, 0)}\n`;
}
