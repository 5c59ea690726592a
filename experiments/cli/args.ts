/**
 * Command-line options: each command declares a table of its options (codec, default, help line);
 * `node:util`'s `parseArgs` splits the words in strict mode, as the tools people know do (an unknown
 * option, a missing value — `--out --steps 2` — or a value given to a switch is an error, never
 * `true` or a silently ignored word), and io-ts decodes every value into a typed config in an fp-ts
 * `Either`; a failure lists each bad option with what was expected. The same table writes
 * `rolling <command> --help`, so the help lists every option with its default.
 */
import { parseArgs } from 'node:util';
import { isLeft, left, right, type Either } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';

/** A number option's codec: `integer` or any finite number, in [min, max]. */
export const numberFrom = (name: string, integer: boolean, min: number, max: number) =>
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
export function oneOf<const V extends string>(values: readonly V[]): t.Type<V, string, unknown> {
  return new t.Type<V, string, unknown>(
    values.join('|'),
    (u): u is V => typeof u === 'string' && (values as readonly string[]).includes(u),
    (u, c) => (typeof u === 'string' && (values as readonly string[]).includes(u) ? t.success(u as V) : t.failure(u, c, `expected one of ${values.join(', ')}, got ${JSON.stringify(u)}`)),
    (v) => v,
  );
}

/** One option of a command. */
export interface OptionSpec {
  /** Decodes the option's text (a switch's codec sees a boolean). */
  readonly codec: t.Type<any, any, unknown>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** `switch`: present or not (`--resume`), takes no value. Otherwise the option takes one value. */
  readonly kind?: 'switch';
  /** The value's placeholder in the help (`N`, `DIR`). */
  readonly value?: string;
  readonly help: string;
  readonly required?: boolean;
  /** Applied when the option is not given (and shown in the help). */
  readonly default?: string | number | boolean;
  /** A default that depends on something else (the preset, the checkpoint), shown in the help only. */
  readonly defaultText?: string;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** Decoded options: an option with a default or required is always present. */
export type Options<T extends OptionTable> = {
  -readonly [K in keyof T]: T[K] extends { readonly kind: 'switch' } ? boolean : T[K] extends { readonly default: unknown } | { readonly required: true } ? t.TypeOf<T[K]['codec']> : t.TypeOf<T[K]['codec']> | undefined;
};

/** A switch's codec: `parseArgs` gives `true` when it is present (a value given to it is an error there). */
export const Switch = t.boolean;

/** What parsing a command's words gives: the help was asked for, or the options and positional words. */
export type Parsed<T extends OptionTable> = { readonly help: true } | { readonly help: false; readonly options: Options<T>; readonly positional: string[] };

/**
 * Split `argv` with `parseArgs` (strict) and decode every option with its codec. `-h`/`--help`
 * anywhere asks for the help (as in git, npm and every POSIX tool) and nothing else is checked.
 */
export function parseCommand<T extends OptionTable>(command: string, table: T, argv: readonly string[]): Either<string, Parsed<T>> {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, spec] of Object.entries(table)) config[name] = { type: spec.kind === 'switch' ? 'boolean' : 'string' };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: config, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (e) {
    if (argv.includes('--help') || argv.includes('-h')) return right({ help: true });
    return left(explainParseError(command, table, e as Error & { code?: string }));
  }
  if (parsed.values.help) return right({ help: true });
  const errors: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    const given = parsed.values[name];
    if (given === undefined) {
      if (spec.required) errors.push(`--${name}: required`);
      else out[name] = spec.kind === 'switch' ? false : spec.default;
      continue;
    }
    const r = spec.codec.decode(given);
    if (isLeft(r)) for (const e of r.left) errors.push(`--${name}: ${e.message ?? `expected ${spec.codec.name}, got ${JSON.stringify(given)}`}`);
    else out[name] = r.right;
  }
  if (errors.length) return left(errors.join('\n'));
  return right({ help: false, options: out as Options<T>, positional: parsed.positionals });
}

/** `parseArgs`' errors, said in the command's words (and with the known options for a typo). */
function explainParseError(command: string, table: OptionTable, e: Error & { code?: string }): string {
  const option = /'(-{1,2}[^' ]+)/.exec(e.message)?.[1] ?? '';
  const names = Object.keys(table).map((n) => `--${n}`).join(', ');
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `${option}: unknown option for \`rolling ${command}\` (options: ${names}, --help)`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return table[option.replace(/^-+/, '')]?.kind === 'switch'
        ? `${option}: a switch takes no value (write ${option} alone)`
        : `${option}: expects a value (${option} ${table[option.replace(/^-+/, '')]?.value ?? 'VALUE'}); a value starting with '-' is written ${option}=VALUE`;
    default:
      return e.message;
  }
}

/** `rolling <command> --help`: the usage line, then every option with its value, meaning and default. */
export function formatHelp(command: string, summary: string, usage: string, table: OptionTable, notes = ''): string {
  const rows = Object.entries(table).map(([name, spec]) => {
    const left = `--${name}${spec.kind === 'switch' ? '' : ` ${spec.value ?? 'VALUE'}`}`;
    const dflt = spec.required ? ' (required)' : spec.defaultText !== undefined ? ` (default: ${spec.defaultText})` : spec.default !== undefined ? ` (default: ${spec.default})` : spec.kind === 'switch' ? ' (default: off)' : '';
    return [left, `${spec.help}${dflt}`] as const;
  });
  rows.push(['-h, --help', 'show this help']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  const lines = rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`);
  return `rolling ${command} — ${summary}\n\nUsage: ${usage}\n\nOptions:\n${lines.join('\n')}${notes ? `\n\n${notes}` : ''}`;
}
