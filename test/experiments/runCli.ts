/** Runs the `rolling` command in-process for the experiments tests. */
import { vi } from 'vitest';
import { main } from '../../experiments/cli/cli.js';

export interface CliRun {
  code: number;
  /** What went to console.log, lines joined. */
  out: string;
  /** What went to console.error, and with `progress: true` what went to stderr (progress bars). */
  err: string;
}

/** `rolling …argv` with its output captured (progress bars dropped unless `progress`) and its exit status. */
export async function runCli(argv: readonly string[], options: { progress?: boolean } = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (options.progress ? err.push(String(s)) > 0 : true));
  try {
    const code = await main([...argv]);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
    write.mockRestore();
  }
}
