/**
 * Command-line options decoded with io-ts into an fp-ts `Either`: every flag arrives as a string and
 * is decoded into a typed config, and a failure lists each bad flag with what was expected.
 */
import { isLeft, left, right, type Either } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';

/** `--name value` and `--flag` (true) pairs; positional words are kept in order. */
export function parseArgv(argv: readonly string[]): { positional: string[]; flags: Record<string, string> } {
  const positional: string[] = [];
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
      else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) flags[a.slice(2)] = argv[++i]!;
      else flags[a.slice(2)] = 'true';
    } else positional.push(a);
  }
  return { positional, flags };
}

const numberFrom = (name: string, integer: boolean, min: number, max: number) =>
  new t.Type<number, string, unknown>(
    name,
    (u): u is number => typeof u === 'number',
    (u, c) => {
      const n = typeof u === 'number' ? u : typeof u === 'string' && u.trim() !== '' ? Number(u) : NaN;
      if (!Number.isFinite(n)) return t.failure(u, c, `expected ${name}, got ${JSON.stringify(u)}`);
      if (integer && !Number.isInteger(n)) return t.failure(u, c, `expected an integer, got ${JSON.stringify(u)}`);
      if (n < min || n > max) return t.failure(u, c, `expected a value in [${min}, ${max}], got ${n}`);
      return t.success(n);
    },
    String,
  );

export const PositiveInt = numberFrom('a positive integer', true, 1, Number.MAX_SAFE_INTEGER);
export const NonNegativeInt = numberFrom('a non-negative integer', true, 0, Number.MAX_SAFE_INTEGER);
export const PositiveNumber = numberFrom('a positive number', false, Number.MIN_VALUE, Number.MAX_VALUE);
export const NonNegativeNumber = numberFrom('a non-negative number', false, 0, Number.MAX_VALUE);
export const Probability = numberFrom('a probability', false, 0, 1);
export const BooleanFromString = new t.Type<boolean, string, unknown>(
  'a boolean',
  (u): u is boolean => typeof u === 'boolean',
  (u, c) => (u === 'true' || u === true ? t.success(true) : u === 'false' || u === false ? t.success(false) : t.failure(u, c, `expected true or false, got ${JSON.stringify(u)}`)),
  String,
);

export function oneOf<const V extends string>(values: readonly V[]): t.Type<V, string, unknown> {
  return new t.Type<V, string, unknown>(
    values.join('|'),
    (u): u is V => typeof u === 'string' && (values as readonly string[]).includes(u),
    (u, c) => (typeof u === 'string' && (values as readonly string[]).includes(u) ? t.success(u as V) : t.failure(u, c, `expected one of ${values.join(', ')}, got ${JSON.stringify(u)}`)),
    (v) => v,
  );
}

/** Decode flags with a codec; unknown flags are an error too (a typo must not be silently ignored). */
export function decodeFlags<C extends t.Props>(command: string, props: C, flags: Record<string, string>, required: readonly (keyof C)[] = []): Either<string, { [K in keyof C]?: t.TypeOf<C[K]> }> {
  const errors: string[] = [];
  for (const k of Object.keys(flags)) if (!(k in props)) errors.push(`--${k}: unknown option for \`rolling ${command}\` (options: ${Object.keys(props).map((p) => `--${p}`).join(', ')})`);
  for (const k of required) if (!(k in flags)) errors.push(`--${String(k)}: required`);
  const codec = t.partial(props);
  const r = codec.decode(flags);
  if (isLeft(r)) {
    for (const e of r.left) {
      const key = e.context.map((c) => c.key).filter(Boolean).join('.');
      errors.push(`--${key}: ${e.message ?? 'invalid value'}`);
    }
  }
  if (errors.length || isLeft(r)) return left(errors.join('\n'));
  return right(r.right as { [K in keyof C]?: t.TypeOf<C[K]> });
}
