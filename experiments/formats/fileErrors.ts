/**
 * Node's file errors do not always say which file: `read` on a folder opened as a file fails with
 * EISDIR and no path. Readers pass what they catch through `withFilePath`, so the command line's
 * message (experiments/cli/cli.ts) names the file.
 */

/** `error` with `path` recorded on it when it is a Node file error that names no path; other errors as they are. */
export function withFilePath(error: unknown, path: string): unknown {
  const err = error as NodeJS.ErrnoException;
  if (error instanceof Error && typeof err.code === 'string' && err.path === undefined) err.path = path;
  return error;
}

/** `work()`, with a file error it throws naming `path` (see `withFilePath`). */
export async function naming<T>(path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    throw withFilePath(e, path);
  }
}
