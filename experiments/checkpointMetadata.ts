/**
 * The metadata `rolling train` writes into a checkpoint, decoded with io-ts before anything is built
 * from it: a checkpoint is a file anyone can edit, and its preset sizes the data and the model. Each
 * number has bounds (a preset of 10^7 clips or 4096-pixel frames would grow past the memory of any
 * machine this runs on), the step is a non-negative integer written in decimal, the mode one of two.
 */
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { INIT_SCHEDULES, withSettingDefaults, type FullPreset, type Preset } from './presets.js';

/** A bad checkpoint (its metadata, its tensors or its values): an input error, exit status 2 on the command line. */
export class CheckpointError extends Error {}

const integer = (min: number, max: number) =>
  new t.Type<number, number, unknown>(
    `an integer in [${min}, ${max}]`,
    (u): u is number => Number.isSafeInteger(u) && (u as number) >= min && (u as number) <= max,
    (u, c) => (Number.isSafeInteger(u) && (u as number) >= min && (u as number) <= max ? t.success(u as number) : t.failure(u, c, `expected an integer in [${min}, ${max}], got ${JSON.stringify(u)}`)),
    (n) => n,
  );

const number = (min: number, max: number, open = false) =>
  new t.Type<number, number, unknown>(
    `a number in ${open ? '(' : '['}${min}, ${max}]`,
    (u): u is number => typeof u === 'number',
    (u, c) => (typeof u === 'number' && Number.isFinite(u) && (open ? u > min : u >= min) && u <= max ? t.success(u) : t.failure(u, c, `expected a number in ${open ? '(' : '['}${min}, ${max}], got ${JSON.stringify(u)}`)),
    (n) => n,
  );

const literals = <const V extends string>(values: readonly V[]) =>
  new t.Type<V, V, unknown>(
    values.join(' | '),
    (u): u is V => typeof u === 'string' && (values as readonly string[]).includes(u),
    (u, c) => (typeof u === 'string' && (values as readonly string[]).includes(u) ? t.success(u as V) : t.failure(u, c, `expected one of ${values.map((v) => `'${v}'`).join(', ')}, got ${JSON.stringify(u)}`)),
    (v) => v,
  );

/** An integer written as `rolling train` writes one: decimal digits, no sign, exponent or leading zero. */
const IntegerString = (min: number) =>
  new t.Type<number, string, unknown>(
    `an integer ≥ ${min} written in decimal`,
    (u): u is number => typeof u === 'number',
    (u, c) => {
      if (typeof u !== 'string' || !/^(0|[1-9][0-9]*)$/.test(u) || !Number.isSafeInteger(Number(u)) || Number(u) < min) {
        return t.failure(u, c, `expected an integer ≥ ${min} written in decimal digits, got ${JSON.stringify(u)}`);
      }
      return t.success(Number(u));
    },
    String,
  );

/** Text holding JSON that `codec` decodes. */
const jsonOf = <A>(codec: t.Type<A, unknown, unknown>, what: string) =>
  new t.Type<A, string, unknown>(
    `JSON of ${what}`,
    codec.is,
    (u, c) => {
      if (typeof u !== 'string') return t.failure(u, c, `expected a string of JSON (${what}), got ${JSON.stringify(u)}`);
      let json: unknown;
      try {
        json = JSON.parse(u);
      } catch (e) {
        return t.failure(u, c, `not JSON (${(e as Error).message})`);
      }
      return codec.validate(json, c);
    },
    (a) => JSON.stringify(a),
  );

/** Bounds well past every preset, well short of what would exhaust memory. */
const PresetCodec = t.intersection([
  t.type({
    name: t.string,
    model: literals(['tiny', 'small']),
    data: literals(['shapes', 'mnist', 'kolmogorov', 'bair']),
    size: integer(1, 512),
    window: integer(1, 1024),
    cleanFrames: integer(0, 1023),
    batch: integer(1, 1024),
    steps: integer(1, 1e9),
    learningRate: number(0, Number.MAX_VALUE, true),
    warmupSteps: integer(0, 1e9),
    emaDecay: number(0, 1),
    linearProbability: number(0, 1),
    checkpointEvery: integer(1, 1e9),
    stepsPerFrame: integer(1, 10_000),
    clips: integer(0, 1_000_000),
    clipLength: integer(1, 100_000),
  }),
  // Settings added later: a checkpoint without them was trained with their defaults (SETTING_DEFAULTS).
  t.partial({
    patchSize: integer(1, 512),
    channels: t.array(integer(1, 4096)),
    initSchedule: literals(INIT_SCHEDULES),
    logSnrMin: number(-100, 100),
    logSnrMax: number(-100, 100),
    logSnrShift: number(-100, 100),
  }),
]);

/** Elements a preset's generated data set may hold: ten times the largest preset's (mnist: 25M). */
export const MAX_GENERATED_ELEMENTS = 2 ** 28;

const FrameShape = t.tuple([integer(1, 1024), integer(1, 1024), integer(1, 4)]);

const MetadataCodec = t.intersection([
  t.type({
    mode: literals(['rolling', 'standard', 'mse']),
    preset: jsonOf(PresetCodec as unknown as t.Type<Preset, unknown, unknown>, 'a preset'),
    frameShape: jsonOf(FrameShape, '[height, width, channels]'),
  }),
  // Sampling needs no step; resuming does (and refuses a checkpoint without one).
  t.partial({ step: IntegerString(0), steps: IntegerString(1), seed: IntegerString(0), data: t.string, format: t.string }),
]);

export interface CheckpointMetadata {
  readonly step?: number;
  readonly steps?: number;
  readonly seed?: number;
  readonly mode: 'rolling' | 'standard' | 'mse';
  /** Every setting written out: the defaults for one the checkpoint predates. */
  readonly preset: FullPreset;
  readonly frameShape: [number, number, number];
  /** The metadata as stored (strings). */
  readonly raw: Record<string, string>;
}

/** The metadata of the checkpoint at `path`, decoded and bounded, or a `CheckpointError` naming the field, the value and the fix. */
export function decodeCheckpointMetadata(m: Record<string, string>, path: string): CheckpointMetadata {
  if (m.preset === undefined || m.frameShape === undefined) throw new CheckpointError(`${path}: not a rolling checkpoint (no preset in its metadata); train one with \`rolling train\``);
  const decoded = MetadataCodec.decode(m);
  if (isLeft(decoded)) {
    const problems = decoded.left.map((e) => {
      const field = e.context.map((c) => c.key).filter((k) => k !== '' && !/^[0-9]+$/.test(k)).join('.');
      return `${field || 'metadata'}: ${e.message ?? `got ${JSON.stringify(e.value)}`}`;
    });
    throw new CheckpointError(`${path}: the checkpoint's metadata is invalid (${[...new Set(problems)].join('; ')}); it was not written by \`rolling train\` or was edited: train again, or restore the file`);
  }
  const d = decoded.right;
  const p = d.preset;
  const problems: string[] = [];
  if (p.cleanFrames >= p.window) problems.push(`preset.cleanFrames ${p.cleanFrames} must be less than preset.window ${p.window}`);
  if (p.window > p.clipLength) problems.push(`preset.window ${p.window} exceeds preset.clipLength ${p.clipLength}`);
  if (p.clips * p.clipLength * p.size * p.size > MAX_GENERATED_ELEMENTS) problems.push(`preset clips × clipLength × size² = ${p.clips * p.clipLength * p.size * p.size} exceeds ${MAX_GENERATED_ELEMENTS}`);
  if (p.channels !== undefined && (p.channels.length === 0 || p.channels.length > 8)) problems.push(`preset.channels has ${p.channels.length} levels, expected 1 to 8`);
  const full = withSettingDefaults(p);
  if (full.logSnrMin >= full.logSnrMax) problems.push(`preset.logSnrMin ${full.logSnrMin} must be less than preset.logSnrMax ${full.logSnrMax}`);
  if (problems.length > 0) throw new CheckpointError(`${path}: the checkpoint's metadata is invalid (${problems.join('; ')}); train again, or restore the file`);
  return { step: d.step, steps: d.steps, seed: d.seed, mode: d.mode, preset: full, frameShape: d.frameShape as [number, number, number], raw: { ...m } };
}
