/**
 * One run owns its --out: `train` holds `out/.lock` (the owner's pid, host and start time) while it
 * runs, so two trainers never replace each other's checkpoints or pair a checkpoint with another
 * run's log. A lock whose process is gone (killed, crashed) is stale and taken over; so are the
 * temporary files a killed write left behind.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { open, readdir, readFile, stat, unlink } from 'node:fs/promises';

export const LOCK = '.lock';

/** Another run holds the folder: an input error (exit status 2 on the command line). */
export class RunLockError extends Error {}

interface Owner {
  pid: number;
  host: string;
  started: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock file younger than this with unreadable contents may be one being written: not stale yet. */
const UNREADABLE_GRACE_MS = 10_000;

/**
 * Takes the lock of `out` (which exists), or throws a RunLockError naming the owner. Returns the
 * function that releases it.
 */
export async function lockRunFolder(out: string): Promise<() => Promise<void>> {
  const path = join(out, LOCK);
  const me: Owner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(JSON.stringify(me));
      } finally {
        await handle.close();
      }
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) continue; // released meanwhile
    let owner: Owner | undefined;
    try {
      const json = JSON.parse(text) as Partial<Owner>;
      if (Number.isSafeInteger(json.pid) && (json.pid as number) > 0 && typeof json.host === 'string') owner = json as Owner;
    } catch {
      owner = undefined;
    }
    if (owner === undefined) {
      const age = Date.now() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? 0);
      if (age < UNREADABLE_GRACE_MS) throw new RunLockError(`--out ${out}: ${path} is being taken by another run; wait for it, or pass another --out`);
    } else if (owner.host !== me.host || alive(owner.pid)) {
      const where = owner.host === me.host ? `pid ${owner.pid}` : `pid ${owner.pid} on ${owner.host}`;
      throw new RunLockError(`--out ${out}: another run (${where}, started ${owner.started}) is training into this folder; wait for it to finish, or pass another --out (if no such run exists, delete ${path})`);
    }
    // Stale: its owner is gone. Take it over.
    await unlink(path).catch(() => undefined);
  }
  throw new RunLockError(`--out ${out}: could not take ${path} (other runs keep taking it); pass another --out`);
}

/**
 * Deletes the temporary files a killed write of `names` left in `out` (`.NAME.<pid>.<random>.tmp`).
 * Call it holding the lock: then no other run writes these names here, and this one is not writing yet.
 * Returns how many were deleted.
 */
export async function removeStaleTemporaries(out: string, names: readonly string[]): Promise<number> {
  let removed = 0;
  for (const entry of await readdir(out).catch(() => [] as string[])) {
    const match = /^\.(.+)\.(\d+)\.[0-9a-z-]+\.tmp$/.exec(entry);
    if (match === null || !names.includes(match[1]!)) continue;
    await unlink(join(out, entry)).then(() => removed++, () => undefined);
  }
  return removed;
}
