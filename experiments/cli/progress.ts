/** A terminal progress bar for long loops: step, bar, named figures, rate and ETA on one line. */

export interface Progress {
  update(step: number, figures?: Record<string, number | string>): void;
  done(message?: string): void;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function format(v: number | string): string {
  if (typeof v === 'string') return v;
  return Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4);
}

/**
 * Steps per second and seconds left, counting only the steps run since `startStep` (a resumed run
 * must not credit this session with the steps of the checkpoint it started from).
 */
export function rateAndEta(o: { step: number; total: number; startStep: number; elapsedSeconds: number }): { stepsPerSecond: number; etaSeconds: number } {
  const stepsPerSecond = Math.max(o.step - o.startStep, 0) / Math.max(o.elapsedSeconds, 1e-9);
  return { stepsPerSecond, etaSeconds: Math.max(o.total - o.step, 0) / stepsPerSecond };
}

/**
 * On a TTY the line is redrawn in place; elsewhere (CI, pipes) a line is printed every `logEvery`
 * steps so logs stay readable. Without `startStep` the bar starts one step before its first update,
 * so a loop resumed at step k (first update k + 1) is credited only with the steps it runs.
 */
export function progressBar(label: string, total: number, opts: { stream?: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>; logEvery?: number; startStep?: number; now?: () => number } = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = Boolean(stream.isTTY);
  const now = opts.now ?? Date.now;
  const start = now();
  let first = opts.startStep;
  const logEvery = opts.logEvery ?? Math.max(1, Math.round(total / 10));
  const line = (step: number, figures: Record<string, number | string>, startStep: number): string => {
    const { stepsPerSecond: rate, etaSeconds: eta } = rateAndEta({ step, total, startStep, elapsedSeconds: (now() - start) / 1000 });
    const width = 24;
    const filled = Math.min(width, Math.max(0, Math.round((width * step) / Math.max(total, 1))));
    const bar = '='.repeat(Math.max(filled - 1, 0)) + (filled > 0 ? '>' : '') + ' '.repeat(width - filled);
    const figs = Object.entries(figures).map(([k, v]) => `${k} ${format(v)}`).join(' | ');
    return `${label} ${step}/${total} [${bar}] ${figs}${figs ? ' | ' : ''}${rate.toFixed(2)} it/s | ETA ${duration(eta)}`;
  };
  return {
    update(step, figures = {}) {
      first ??= step - 1;
      if (tty) stream.write(`\r${line(step, figures, first)}\x1b[K`);
      else if (step % logEvery === 0 || step === total) stream.write(`${line(step, figures, first)}\n`);
    },
    done(message) {
      if (tty) stream.write('\n');
      if (message) stream.write(`${message}\n`);
    },
  };
}
