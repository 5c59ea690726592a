import { describe, expect, it } from 'vitest';
import { progressBar, rateAndEta } from '../../experiments/progress';

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
});
