/**
 * Golden vectors (diffusion/golden.ts, experiments/cli/goldenVectors.ts): regenerating them is stable and
 * gives the committed test/fixtures/golden.json byte for byte, the file validates against the committed
 * JSON Schema, every field is described, every entry agrees with the live functions (the tensor-level
 * ones to float32 precision), and the hand-checked anchors of MATH.md and JAX are in it.
 *
 * After an intended change of a golden value: bump GOLDEN_VERSION, then regenerate the fixture with
 * `rolling vectors --out test/fixtures/golden.json`.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as r from '../../index.js';
import {
  ddimCoefficients, ddimEpsFromLogSnr, diffuse, epsFromV, frameCategories, framePosteriorCoefficients, GOLDEN_FORMAT, GOLDEN_VERSION, goldenSchema,
  goldenVectors, initLocalTimes, linearLocalTimes, logSnrTensor, lossWeighting, perFrameMse, posteriorCoefficients, posteriorFromLogSnr,
  rescaledInitLocalTimes, scheduleFromGolden, serializeGoldenVectors, stepCoefficients, validateJsonSchema, vFromXEps, windowLoss, windowLossWeights,
  xFromV, cosineSchedule, type GoldenFsdSection, type GoldenVectors, type JsonSchema,
} from '../../diffusion/index.js';
import { fsdBruteForce, fsdFromArrays } from '../../experiments/metrics/metrics.js';
import { allGoldenVectors, writeGoldenVectors } from '../../experiments/cli/goldenVectors.js';

const FIXTURE = new URL('../fixtures/golden.json', import.meta.url);
const SCHEMA = new URL('../../diffusion/golden.schema.json', import.meta.url);
const fixtureText = readFileSync(FIXTURE, 'utf8');
const golden = JSON.parse(fixtureText) as GoldenVectors;
const schema = JSON.parse(readFileSync(SCHEMA, 'utf8')) as JsonSchema;
const maps = { linear: linearLocalTimes, init: initLocalTimes, rescaled: rescaledInitLocalTimes };

/** |a − e| ≤ rtol |e| + atol, element-wise over nested arrays. */
function expectClose(actual: unknown, expected: unknown, rtol: number, atol: number, path = '$'): void {
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual), `${path} is not an array`).toBe(true);
    expect((actual as unknown[]).length, `${path}: length`).toBe(expected.length);
    expected.forEach((e, i) => expectClose((actual as unknown[])[i], e, rtol, atol, `${path}[${i}]`));
    return;
  }
  const a = actual as number;
  const e = expected as number;
  if (!(Math.abs(a - e) <= rtol * Math.abs(e) + atol)) expect.fail(`${path}: got ${a}, expected ${e}`);
}

const video = (frames: number[][][]) => r.tensor(Float32Array.from(frames.flat(2)), [frames.length, frames[0]!.length, frames[0]![0]!.length]);
async function nested(t: r.Tensor, shape: readonly number[]): Promise<number[][][]> {
  const data = Array.from(await t.toArray());
  t.dispose();
  const [b, f, p] = shape as [number, number, number];
  return Array.from({ length: b }, (_, i) => Array.from({ length: f }, (_, k) => data.slice((i * f + k) * p, (i * f + k + 1) * p)));
}

describe('golden vectors: the file', () => {
  it('regenerating is stable: two runs give deep-equal objects and the same text', () => {
    const a = allGoldenVectors();
    const b = allGoldenVectors();
    expect(a).toEqual(b);
    expect(serializeGoldenVectors(a)).toBe(serializeGoldenVectors(b));
  });

  it('equals the committed test/fixtures/golden.json, byte for byte', () => {
    const regenerated = allGoldenVectors();
    expect(JSON.parse(serializeGoldenVectors(regenerated))).toEqual(regenerated);
    expect(golden).toEqual(regenerated);
    expect(serializeGoldenVectors(regenerated)).toBe(fixtureText);
  });

  it('has its format, version and every section, FSD included', () => {
    expect(golden.format).toBe(GOLDEN_FORMAT);
    expect(golden.version).toBe(GOLDEN_VERSION);
    expect(Object.keys(golden)).toEqual(['format', 'version', 'description', 'schema', 'conventions', 'fields', 'localTimes', 'frameCategories', 'schedules', 'posterior', 'ddim', 'framePosterior', 'lossWeighting', 'loss', 'threefry', 'fsd']);
    expect(goldenVectors().fsd).toBeUndefined();
  });

  it('the committed diffusion/golden.schema.json is goldenSchema, a draft 2020-12 schema', () => {
    expect(schema).toEqual(goldenSchema);
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  });

  it('validates against the schema', () => {
    expect(validateJsonSchema(golden, schema)).toEqual([]);
    expect(validateJsonSchema(goldenVectors(), schema)).toEqual([]);
  });

  it('the validator rejects what the schema forbids', () => {
    const broken = JSON.parse(fixtureText) as Record<string, any>;
    delete broken.version;
    broken.extra = 1;
    broken.localTimes.cases[0].map = 'cubic';
    broken.localTimes.cases[0].window = 0;
    broken.threefry.blocks[0].output = [1, 2, 3];
    broken.threefry.keys[0].words[0] = 2 ** 32;
    broken.schedules.t[0] = 'zero';
    broken.format = 'other';
    const errors = validateJsonSchema(broken, schema);
    expect(errors).toEqual(
      expect.arrayContaining([
        '$: missing required property "version"',
        '$: unexpected property "extra"',
        expect.stringMatching(/^\$\.localTimes\.cases\[0\]\.map: "cubic" is not one of/),
        '$.localTimes.cases[0].window: 0 < minimum 1',
        '$.threefry.blocks[0].output: 3 items > maxItems 2',
        '$.threefry.keys[0].words[0]: 4294967296 > maximum 4294967295',
        '$.schedules.t[0]: expected number, got string',
        expect.stringMatching(/^\$\.format: expected "rolling-diffusion-golden"/),
      ]),
    );
    expect(errors).toHaveLength(8);
    expect(() => validateJsonSchema(1, { type: 'number', multipleOf: 2 })).toThrow(/unsupported keyword "multipleOf"/);
    expect(() => goldenVectors({ localTimes: 1 })).toThrow(/would replace a built-in section/);
    expect(() => goldenVectors({ mine: 1 })).toThrow(/not declared in goldenSchema/);
  });

  it('describes every field it has', () => {
    const missing: string[] = [];
    const walk = (value: unknown, path: string): void => {
      if (path && !(path in golden.fields)) missing.push(path);
      if (path === 'fields' || path === 'conventions') return;
      if (Array.isArray(value)) value.forEach((v) => typeof v === 'object' && v !== null && !Array.isArray(v) && walk(v, `${path}[]`));
      else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
    };
    walk(golden, '');
    expect([...new Set(missing)]).toEqual([]);
    for (const text of Object.values(golden.fields)) expect(text.length).toBeGreaterThan(3);
  });

  it('writeGoldenVectors writes the same text atomically, leaving no temporary file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'golden-'));
    try {
      const path = join(dir, 'golden.json');
      const written = await writeGoldenVectors(path);
      expect(await readFile(path, 'utf8')).toBe(serializeGoldenVectors(written));
      expect(await readdir(dir)).toEqual(['golden.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('golden vectors: how the file is made', () => {
  it('the text: two-space indentation, arrays of plain values on one line, others one element a line, empty arrays and objects closed, undefined left out', () => {
    const text = serializeGoldenVectors({ a: [], b: {}, c: [1, null, 'x'], d: [1, { e: 2 }], f: undefined, g: null });
    expect(text).toBe('{\n  "a": [],\n  "b": {},\n  "c": [1, null, "x"],\n  "d": [\n    1,\n    {\n      "e": 2\n    }\n  ],\n  "g": null\n}\n');
  });

  it('−0 is written as 0 and a value that is not finite is refused with its path, in an extra section as in the built-in ones', () => {
    const fsd = { cases: [{ value: -0, values: [1, -0] }] } as unknown as GoldenFsdSection;
    const made = goldenVectors({ fsd }).fsd as unknown as { cases: { value: number; values: number[] }[] };
    expect(Object.is(made.cases[0]!.value, 0)).toBe(true);
    expect(Object.is(made.cases[0]!.values[1], 0)).toBe(true);
    const bad = { cases: [{ value: 1, values: [1, Number.NaN] }] } as unknown as GoldenFsdSection;
    expect(() => goldenVectors({ fsd: bad })).toThrow('goldenVectors: $.fsd.cases[0].values[1] is NaN; golden values must be finite');
  });

  it('`fields` describes the sections present: the FSD fields only with the FSD section', () => {
    const without = Object.keys(goldenVectors().fields);
    expect(without.filter((path) => path.startsWith('fsd'))).toEqual([]);
    expect(without).toContain('localTimes.cases[].map');
    expect(Object.keys(allGoldenVectors().fields)).toContain('fsd');
  });

  it('scheduleFromGolden passes each kind its λ range (also where it differs from the defaults)', () => {
    for (const kind of ['cosine', 'linearLogSnr'] as const) {
      const s = scheduleFromGolden(kind, { logSnrMin: -7, logSnrMax: 9 });
      expect([s.logSnr(0), s.logSnr(1)].map((x) => Number(x.toFixed(9)))).toEqual([9, -7]);
    }
  });
});

describe('golden vectors: every entry matches the live functions', () => {
  it('local times (Eqs. 22, 23, 37)', () => {
    for (const c of golden.localTimes.cases) {
      const map = maps[c.map](c);
      c.t.forEach((t, i) => expect(map(t)).toEqual(c.localTimes[i]));
    }
  });

  it('frame categories (Eqs. 8-10)', () => {
    for (const c of golden.frameCategories.cases) expect(frameCategories(c.s, c.t)).toEqual({ clean: c.clean, noise: c.noise, window: c.window });
  });

  it('schedules', () => {
    for (const c of golden.schedules.cases) {
      const s = scheduleFromGolden(c.kind, c.options);
      expect(s.name).toBe(c.name);
      expect([s.logSnrMin, s.logSnrMax]).toEqual([c.logSnrMin, c.logSnrMax]);
      expect(golden.schedules.t.map(s.logSnr)).toEqual(c.logSnr);
      expect(golden.schedules.t.map(s.alpha)).toEqual(c.alpha);
      expect(golden.schedules.t.map(s.sigma)).toEqual(c.sigma);
    }
  });

  it('posterior (Eq. 3) and DDIM', () => {
    const schedule = cosineSchedule();
    expect(golden.posterior.schedule).toBe(schedule.name);
    for (const c of golden.posterior.cases) {
      expect([schedule.logSnr(c.s), schedule.logSnr(c.t)]).toEqual([c.logSnrS, c.logSnrT]);
      expect(posteriorCoefficients(schedule, c.s, c.t)).toEqual({ zCoef: c.zCoef, xCoef: c.xCoef, variance: c.variance });
    }
    for (const c of golden.ddim.cases) {
      expect(ddimCoefficients(schedule, c.s, c.t, c.eta)).toEqual({ zCoef: c.zCoef, xCoef: c.xCoef, variance: c.variance });
      expect(ddimEpsFromLogSnr(c.logSnrS, c.logSnrT, c.eta)).toEqual(c.epsForm);
    }
  });

  it('per-frame coefficients along sampler passes (Eqs. 11-15)', () => {
    const schedule = cosineSchedule();
    for (const c of golden.framePosterior.cases) {
      const map = maps[c.map](c);
      expect([map(c.from), map(c.to)]).toEqual([c.t, c.s]);
      expect(frameCategories(c.s, c.t)).toEqual({ clean: c.clean, noise: c.noise, window: c.windowFrames });
      const expected = c.zCoef.map((zCoef, k) => ({ zCoef, xCoef: c.xCoef[k], variance: c.variance[k] }));
      expect(stepCoefficients(c.s, c.t, { schedule })).toEqual(expected);
      expect(framePosteriorCoefficients(schedule, c.s, c.t)).toEqual(expected);
    }
  });

  it('loss weightings', () => {
    for (const c of golden.lossWeighting.cases) {
      const w = lossWeighting(c.name, { gamma: golden.lossWeighting.gamma });
      expect(golden.lossWeighting.logSnr.map(w.xWeight)).toEqual(c.xWeight);
      expect(golden.lossWeighting.logSnr.map(w.epsWeight)).toEqual(c.epsWeight);
      expect(golden.lossWeighting.logSnr.map(w.vWeight)).toEqual(c.vWeight);
    }
  });

  it('the loss identities hold in the file (float64): vMse = (1 + SNR) xMse, epsMse = SNR xMse', () => {
    for (const c of golden.loss.cases) {
      c.xMse.forEach((row, b) =>
        row.forEach((xMse, k) => {
          const snr = Math.exp(c.logSnr[b]![k]!);
          expectClose(c.vMse[b]![k], (1 + snr) * xMse, 1e-9, 1e-15);
          expectClose(c.epsMse[b]![k], snr * xMse, 1e-9, 1e-15);
        }),
      );
    }
  });

  it('the tensor-level process and window loss reproduce the loss cases (float32)', async () => {
    const schedule = cosineSchedule();
    for (const c of golden.loss.cases) {
      const shape = [c.x.length, c.window, c.x[0]![0]!.length];
      expect(c.localTimes.map((row) => row.map((t) => schedule.logSnr(t)))).toEqual(c.logSnr);
      expect(windowLossWeights(c.localTimes, { schedule, weighting: c.weighting, gamma: c.gamma })).toEqual(c.weights);
      const logSnr = logSnrTensor(c.logSnr);
      const [x, eps, vHat] = [video(c.x), video(c.eps), video(c.vHat)];
      const z = diffuse(x, logSnr, eps);
      const v = vFromXEps(x, eps, logSnr);
      expectClose(await nested(r.tidy(() => diffuse(x, logSnr, eps)), shape), c.z, 1e-5, 1e-6);
      expectClose(await nested(r.tidy(() => vFromXEps(x, eps, logSnr)), shape), c.v, 1e-5, 1e-6);
      expectClose(await nested(xFromV(z, vHat, logSnr), shape), c.xHat, 1e-5, 1e-6);
      expectClose(await nested(epsFromV(z, vHat, logSnr), shape), c.epsHat, 1e-5, 1e-6);
      const vMse = perFrameMse(v, vHat);
      const perFrame = Array.from(await vMse.toArray());
      expectClose(perFrame, c.vMse.flat(), 1e-5, 1e-6);
      const loss = windowLoss(v, vHat, c.weights, c.window - c.cleanFrames);
      expectClose((await loss.toArray())[0], c.loss, 1e-5, 1e-6);
      r.dispose([logSnr, x, eps, vHat, z, v, vMse, loss]);
    }
  });

  it('Threefry-2x32 and the keys built on it', async () => {
    for (const c of golden.threefry.blocks) expect(r.threefry2x32Block(c.key[0]!, c.key[1]!, c.counter[0]!, c.counter[1]!)).toEqual(c.output);
    for (const c of golden.threefry.keys) expect([...r.key(c.seed).words]).toEqual(c.words);
    for (const c of golden.threefry.split) expect(r.split(r.key(c.seed), c.n).map((k) => [...k.words])).toEqual(c.keys);
    for (const c of golden.threefry.foldIn) expect([...r.foldIn(r.key(c.seed), c.data).words]).toEqual(c.words);
    for (const c of golden.threefry.uniform) {
      expect(r.uniformHost(r.key(c.seed), c.n)).toEqual(c.values);
      const u = r.uniform(r.key(c.seed), [c.n]);
      expect(Array.from(await u.toArray())).toEqual(c.values);
      u.dispose();
    }
  });

  it('FSD (Eq. 27), also against the d×d brute force', () => {
    for (const c of golden.fsd!.cases) {
      expect(fsdFromArrays(c.real, c.nReal, c.generated, c.nGenerated, c.height, c.width)).toBe(c.fsd);
      // The d×d path drops eigenvalues at round-off level (rank-deficient spectra: |X[k]| = |X[−k]|),
      // so the two routes agree to float64 round-off (measured ≤ 4e-14 relative; 1e-12 leaves margin).
      expectClose(fsdBruteForce(c.real, c.nReal, c.generated, c.nGenerated, c.height, c.width), c.fsd, 1e-12, 1e-12);
    }
  });
});

describe('golden vectors: hand-checked anchors', () => {
  it('Threefry known answers of MATH.md (Random123) and JAX split(PRNGKey(0))', () => {
    const hex = (words: number[]) => words.map((w) => `0x${w.toString(16).padStart(8, '0')}`);
    expect(golden.threefry.blocks.slice(0, 3).map((b) => hex(b.output))).toEqual([
      ['0x6b200159', '0x99ba4efe'],
      ['0x1cb996fc', '0xbb002be7'],
      ['0xc4923a9c', '0x483df7a0'],
    ]);
    expect(golden.threefry.split[0]).toEqual({ seed: 0, n: 2, keys: [[4146024105, 967050713], [2718843009, 1272950319]] });
  });

  it('the W = 4 tables of localTime.ts and the schedule endpoints', () => {
    const find = (map: string, window: number, cleanFrames: number) => golden.localTimes.cases.find((c) => c.map === map && c.window === window && c.cleanFrames === cleanFrames)!;
    const lin = find('linear', 4, 0);
    expect(lin.localTimes[lin.t.indexOf(0)]).toEqual([0, 0.25, 0.5, 0.75]);
    expect(lin.localTimes[lin.t.indexOf(0.5)]).toEqual([0.125, 0.375, 0.625, 0.875]);
    expect(lin.localTimes[lin.t.indexOf(1)]).toEqual([0.25, 0.5, 0.75, 1]);
    const lin1 = find('linear', 4, 1);
    expect(lin1.localTimes[lin1.t.indexOf(0)]).toEqual([0, 0, 1 / 3, 2 / 3]);
    expect(lin1.localTimes[lin1.t.indexOf(1)]).toEqual([0, 1 / 3, 2 / 3, 1]);
    const init1 = find('init', 4, 1);
    expect(init1.localTimes[init1.t.indexOf(1)]).toEqual([0, 1, 1, 1]);
    const cos = golden.schedules.cases[0]!;
    expect([cos.logSnr[0], cos.logSnr.at(-1)]).toEqual([15, -15]);
    expect(cos.alpha.every((a, i) => Math.abs(a * a + cos.sigma[i]! ** 2 - 1) < 1e-15)).toBe(true);
  });

  it('posterior: s = t is the identity and DDIM(η = 1) is the posterior', () => {
    for (const c of golden.posterior.cases.filter((p) => p.s === p.t)) expect([c.zCoef, c.xCoef, c.variance]).toEqual([1, 0, 0]);
    for (const c of golden.ddim.cases.filter((d) => d.eta === 1)) {
      const p = posteriorFromLogSnr(c.logSnrS, c.logSnrT);
      expectClose([c.zCoef, c.xCoef, c.variance], [p.zCoef, p.xCoef, p.variance], 1e-12, 1e-300);
    }
  });

  it('FSD is 0 for identical and for circularly shifted sets', () => {
    expect(golden.fsd!.cases.filter((c) => c.name.includes('0 up to round-off')).map((c) => c.fsd)).toEqual([0, 0]);
  });
});
