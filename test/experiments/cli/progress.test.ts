import { describe, expect, it } from 'vitest';
import { progressBar, rateAndEta } from '../../../experiments/cli/progress.js';

describe('progress', () => {
  it('rate and ETA count only the steps run since the start step (a resumed run)', () => {
    // Resumed at step 900 of 1000; 50 steps in 10 s: 5 steps/s, 50 steps left → 10 s.
    expect(rateAndEta({ step: 950, total: 1000, startStep: 900, elapsedSeconds: 10 })).toEqual({ stepsPerSecond: 5, etaSeconds: 10 });
    // Counting from 0 would claim 95 steps/s and an ETA under a second.
    expect(rateAndEta({ step: 950, total: 1000, startStep: 0, elapsedSeconds: 10 }).stepsPerSecond).toBe(95);
    expect(rateAndEta({ step: 900, total: 1000, startStep: 900, elapsedSeconds: 0 }).etaSeconds).toBe(Infinity);
  });

  it('the bar prints the resumed rate and ETA, and survives a step past the total', () => {
    const lines: string[] = [];
    let clock = 0;
    const stream = { isTTY: false, write: (s: string) => lines.push(s) > 0 };
    const bar = progressBar('train', 1000, { stream, startStep: 900, logEvery: 50, now: () => clock });
    clock = 10_000;
    bar.update(950, { loss: 0.5 });
    expect(lines).toEqual([expect.stringMatching(/^train 950\/1000 \[=+>\s*\] loss 0\.5000 \| 5\.00 it\/s \| ETA 10s\n$/)]);
    bar.update(951);
    expect(lines).toHaveLength(1);
    expect(() => bar.update(1100)).not.toThrow();
  });

  it('without a start step the bar starts one step before its first update, so a resumed loop is credited only with its own steps', () => {
    const lines: string[] = [];
    let clock = 0;
    const stream = { isTTY: false, write: (s: string) => lines.push(s) > 0 };
    // A loop resumed at step 900 reports 901 first; 50 steps in 10 s are 5 steps/s, not 95.
    const bar = progressBar('train', 1000, { stream, logEvery: 50, now: () => clock });
    clock = 200;
    bar.update(901);
    clock = 10_000;
    bar.update(950);
    expect(lines).toEqual([expect.stringMatching(/^train 950\/1000 .* 5\.00 it\/s \| ETA 10s\n$/)]);
    // A loop from the start (first update 1) counts every step.
    const fresh: string[] = [];
    clock = 0;
    const from0 = progressBar('rollout', 4, { stream: { isTTY: false, write: (s: string) => fresh.push(s) > 0 }, logEvery: 4, now: () => clock });
    clock = 1000;
    from0.update(1);
    clock = 2000;
    from0.update(4);
    expect(fresh).toEqual([expect.stringMatching(/^rollout 4\/4 .* 2\.00 it\/s \| ETA 0s\n$/)]);
  });
});
