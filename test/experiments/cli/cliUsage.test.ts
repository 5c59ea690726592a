/**
 * The command line behaves like the tools people know: strict option parsing (node:util parseArgs),
 * `--help`/`-h` per command with every option and its default, `--version`, a refusal to train over a
 * checkpoint without --resume or --force, file errors that name the path with one exit status (2) for
 * usage and input errors, a frame-shape check before any data is generated, and --debug-nans.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../runCli.js';
import { parseCommand, PositiveInt, Switch, type OptionTable } from '../../../experiments/cli/args.js';
import { writeNpy } from '../../../experiments/formats/npy.js';
import { upscaleNearest } from '../../../experiments/cli/plot.js';
import { readCheckpointMetadata } from '../../../experiments/trainer.js';
import { debugNans } from '../../../core/debug.js';

let dir = '';
let run1 = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rolling-usage-'));
  run1 = join(dir, 'run1');
  const r = await cli('train', '--out', run1, '--preset', 'test', '--steps', '1');
  expect(r.code, r.err).toBe(0);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `rolling …` in-process; stdout, stderr (console and progress bars) and the exit status. */
const cli = (...argv: string[]) => runCli(argv, { progress: true });

const COMMANDS = ['train', 'rollout', 'eval', 'data', 'vectors', 'demo'];

describe('rolling --help, -h and --version', () => {
  it('every command answers --help and -h with exit 0, listing each option with its default or "required"', async () => {
    for (const command of COMMANDS) {
      for (const flag of ['--help', '-h']) {
        const r = await cli(command, flag);
        expect(r.code, `${command} ${flag}`).toBe(0);
        expect(r.out).toMatch(new RegExp(`^rolling ${command} — `));
        const options = [...r.out.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]!);
        expect(options.length, command).toBeGreaterThan(0);
        for (const line of r.out.split('\n').filter((l) => /^ {2}--/.test(l))) expect(line, `${command}: ${line}`).toMatch(/\((default: .+|required)\)$/);
        expect(r.out).toContain('-h, --help');
      }
    }
  });

  it('the options the usage used to leave out are listed: demo --seed/--resume, rollout --mode/--backend, eval --backend', async () => {
    const help = async (c: string) => (await cli(c, '--help')).out;
    expect(await help('demo')).toMatch(/--seed S[\s\S]*--resume/);
    expect(await help('rollout')).toMatch(/--mode MODE[\s\S]*--backend NAME/);
    expect(await help('eval')).toMatch(/--backend NAME/);
    expect(await help('rollout')).toMatch(/--frames N +.*\(default: 16\)/);
    expect(await help('train')).toMatch(/--preset NAME +.*\(default: shapes\)/);
  });

  it('every option a help lists is accepted by that command (nothing listed that the parser refuses)', async () => {
    for (const command of COMMANDS) {
      const text = (await cli(command, '--help')).out;
      for (const [, name, value] of text.matchAll(/^ {2}--([a-z-]+)( [A-Z]+)?/gm)) {
        const r = await cli(command, `--${name!}`, ...(value ? ['1'] : []), '--help');
        expect(r.code, `${command} --${name}`).toBe(0);
      }
    }
  });

  it('rolling help <command> prints that help; no command prints the usage with exit 2; --version the package version', async () => {
    expect((await cli('help', 'train')).out).toMatch(/^rolling train — /);
    const none = await cli();
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/Usage: rolling <command>[\s\S]*train[\s\S]*rollout/);
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const v = await cli(flag);
      expect(v.code).toBe(0);
      expect(v.out).toBe(`rolling ${pkg.version}`);
    }
  });
});

describe('strict parsing', () => {
  it('a missing value is an error, never `true`: `train --out --steps 2` trains nowhere', async () => {
    const r = await cli('train', '--out', '--steps', '2');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out: expects a value \(--out DIR\)/);
    expect(existsSync(join(process.cwd(), 'true'))).toBe(false);
    const last = await cli('train', '--preset', 'test', '--out');
    expect(last.code).toBe(2);
    expect(last.err).toMatch(/--out: expects a value/);
  });

  it('a switch given a value, an unknown option and a short option nobody declared are errors naming them', async () => {
    const cases: [string[], RegExp][] = [
      [['train', '--out', dir, '--resume=yes'], /--resume: a switch takes no value/],
      [['train', '--out', dir, '--stpes', '3'], /--stpes: unknown option for `rolling train` \(options: --out, .*--help\)/],
      [['rollout', '-x'], /-x: unknown option for `rolling rollout`/],
      [['eval', '--rolling=a', '--standard', 'b', '--out', dir, '--clips', '0'], /--clips: expected a value in \[1, /],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toMatch(message);
    }
  });

  it('property: parseCommand gives back every value written as --name value or --name=value, and defaults for the rest', () => {
    const table = {
      steps: { codec: PositiveInt, value: 'N', default: 7, help: '' },
      name: { codec: PositiveInt, value: 'N', help: '' },
      on: { codec: Switch, kind: 'switch', help: '' },
    } as const satisfies OptionTable;
    fc.assert(
      fc.property(fc.option(fc.integer({ min: 1, max: 1e6 })), fc.option(fc.integer({ min: 1, max: 1e6 })), fc.boolean(), fc.boolean(), (steps, name, on, equals) => {
        const argv = [...(steps === null ? [] : equals ? [`--steps=${steps}`] : ['--steps', String(steps)]), ...(name === null ? [] : ['--name', String(name)]), ...(on ? ['--on'] : [])];
        const r = parseCommand('t', table, argv);
        expect(r._tag).toBe('Right');
        if (r._tag === 'Right' && !r.right.help) expect(r.right.options).toEqual({ steps: steps ?? 7, name: name ?? undefined, on });
      }),
    );
  });
});

describe('runs, checkpoints and files', () => {
  it('training into --out that holds a checkpoint is refused, naming --resume and --force; --force trains over it', async () => {
    const again = await cli('train', '--out', run1, '--preset', 'test', '--steps', '1');
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/--out .*run1: .*checkpoint\.safetensors already holds a checkpoint \(step 1 of 1\); pass --resume to continue it, or --force to train over it/);
    const copy = join(dir, 'forced');
    expect((await cli('train', '--out', copy, '--preset', 'test', '--steps', '1', '--seed', '3')).code).toBe(0);
    const forced = await cli('train', '--out', copy, '--preset', 'test', '--steps', '1', '--force');
    expect(forced.code, forced.err).toBe(0);
    expect((await readCheckpointMetadata(join(copy, 'checkpoint.safetensors'))).seed).toBe('0');
    const both = await cli('train', '--out', copy, '--preset', 'test', '--resume', '--force');
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/--resume and --force contradict each other/);
    const demo = await cli('demo', '--out', run1, '--steps', '1');
    expect(demo.code).toBe(2);
    expect(demo.err).toMatch(/already holds a checkpoint/);
  });

  it('a run folder is accepted where a checkpoint is expected; a missing path or an empty folder is exit 2 naming it', async () => {
    const ro = await cli('rollout', '--checkpoint', run1, '--out', join(dir, 'ro'), '--frames', '2');
    expect(ro.code, ro.err).toBe(0);
    expect((await stat(join(dir, 'ro', 'rollout.npy'))).size).toBeGreaterThan(0);
    await mkdir(join(dir, 'empty'));
    const missing = join(dir, 'nowhere.safetensors');
    const cases: [string[], RegExp][] = [
      [['rollout', '--checkpoint', missing, '--out', dir], /^--checkpoint .*nowhere\.safetensors: no such file or folder/],
      [['rollout', '--checkpoint', join(dir, 'empty'), '--out', dir], /^--checkpoint .*empty: the folder .*empty holds no checkpoint\.safetensors/],
      [['eval', '--rolling', missing, '--standard', run1, '--out', dir], /^--rolling .*nowhere\.safetensors: no such file or folder/],
      [['eval', '--rolling', run1, '--standard', join(dir, 'empty'), '--out', dir], /^--standard .*empty: the folder/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.err, argv.join(' ')).toMatch(message);
      expect(r.err).not.toMatch(/ENOENT|EISDIR/);
    }
  });

  it('a file that is not what it claims, or an --out that is a file, is exit 2 naming the path', async () => {
    const notNpy = join(dir, 'broken.npy');
    await writeFile(notNpy, 'not a numpy file');
    const r = await cli('train', '--out', join(dir, 'broken-run'), '--preset', 'test', '--data', notNpy);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^--data .*broken\.npy: /);
    const file = join(dir, 'a-file');
    await writeFile(file, '');
    const out = await cli('vectors', '--out', join(file, 'golden.json'));
    expect(out.code).toBe(2);
    expect(out.err).toMatch(/a-file.*(not a folder|no such file)/);
  });

  it('rollout checks the frame shape before generating data: a 16×16×1 checkpoint with --data kolmogorov stops at once', async () => {
    const started = Date.now();
    const r = await cli('rollout', '--checkpoint', run1, '--out', join(dir, 'ro-kol'), '--data', 'kolmogorov');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/frames of kolmogorov are \[16,16,2\], but .*run1.checkpoint\.safetensors was trained on \[16,16,1\] frames/);
    expect(r.err).not.toMatch(/data \(kolmogorov/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(existsSync(join(dir, 'ro-kol'))).toBe(false);
  });

  it('generated data shows a progress bar, and rollout generates only the clips up to --clip', async () => {
    const r = await cli('rollout', '--checkpoint', run1, '--out', join(dir, 'ro-clip'), '--frames', '1', '--clip', '2');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/data \(shapes, 3 clips\)/);
    const train = await cli('train', '--out', join(dir, 'run-bar'), '--preset', 'test', '--steps', '1');
    expect(train.err).toMatch(/data \(shapes, 8 clips\)/);
  });
});

describe('--debug-nans', () => {
  it('stops training at the first op that overflows, naming it (exit 1); without it nothing names the op', async () => {
    // Frames of 3e38: squaring them overflows float32 in the loss.
    const data = join(dir, 'huge.npy');
    await writeNpy(data, { shape: [2, 12, 16, 16, 1], data: new Float32Array(2 * 12 * 16 * 16).fill(3e38) });
    const plain = await cli('train', '--out', join(dir, 'nan-plain'), '--preset', 'test', '--steps', '1', '--data', data, '--backend', 'cpu');
    // Without the mode the error advises it but names no op.
    expect(plain.err).not.toMatch(/debug-nans: \w+ produced/);
    expect(plain.err).toMatch(/at step 1 the loss is NaN.*--debug-nans/);
    const debug = await cli('train', '--out', join(dir, 'nan-debug'), '--preset', 'test', '--steps', '1', '--data', data, '--backend', 'cpu', '--debug-nans');
    expect(debug.code).toBe(1);
    expect(debug.err).toMatch(/debug-nans: \w+ produced (-?Infinity|NaN) at index \d+ of its float32\[[\d,]*\] output from finite inputs float32\[/);
    expect(debugNans.on).toBe(false);
  });
});

describe('pictures', () => {
  it('property: upscaleNearest repeats each pixel into a scale × scale block', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.constantFrom(1, 3), fc.integer({ min: 1, max: 4 }), fc.integer(), (w, h, c, s, seed) => {
        const src = Uint8Array.from({ length: w * h * c }, (_, i) => (seed + i * 7919) & 255);
        const big = upscaleNearest(src, w, h, c, s);
        expect(big.length).toBe(src.length * s * s);
        for (let y = 0; y < h * s; y++) {
          for (let x = 0; x < w * s; x++) {
            for (let k = 0; k < c; k++) expect(big[(y * w * s + x) * c + k]).toBe(src[(Math.floor(y / s) * w + Math.floor(x / s)) * c + k]);
          }
        }
      }),
      { numRuns: 50 },
    );
  });
});
