import { describe, expect, it } from 'vitest';
import { formatTable } from '../../../experiments/metrics/evaluate.js';

describe('formatTable: the table the eval command prints', () => {
  it('right-aligns each column to its widest cell; integers as they are, other numbers to 4 significant digits, null and missing cells as –', () => {
    const rows: Record<string, number | string | null>[] = [
      { step: 1, mse: 0.0123456, psnr: Infinity, ssim: null, label: 'a' },
      // The columns are the first row's keys: `extra` is not printed, the missing `label` is a dash.
      { step: 10, mse: 2, psnr: 25.5, ssim: 0.5, extra: 7 },
    ];
    expect(formatTable(rows)).toBe([
      '| step |     mse |     psnr |   ssim | label |',
      '|------|---------|----------|--------|-------|',
      '|    1 | 0.01235 | Infinity |      – |     a |',
      '|   10 |       2 |    25.50 | 0.5000 |     – |',
    ].join('\n'));
  });

  it('a header wider than its cells sets the width; strings are printed as they are', () => {
    expect(formatTable([{ 'MSE rolling': 'x' }, { 'MSE rolling': 'a longer cell' }])).toBe([
      '|   MSE rolling |',
      '|---------------|',
      '|             x |',
      '| a longer cell |',
    ].join('\n'));
    expect(formatTable([{ 'a long header': 3 }])).toBe('| a long header |\n|---------------|\n|             3 |');
  });

  it('no rows: the empty string', () => {
    expect(formatTable([])).toBe('');
  });
});
