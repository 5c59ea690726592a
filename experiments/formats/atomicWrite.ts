/**
 * Atomic file writes: nothing half-written is ever left behind (DESIGN.md, principle 5).
 *
 * Data goes to a temporary file in the destination's own directory (a rename is only atomic within
 * one file system), is flushed to disk with fsync, and is then renamed over the destination. A reader
 * therefore sees either the old file or the complete new one; if writing fails, the temporary file is
 * removed and the destination is untouched.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The temporary name used while `path` is being written: hidden, unique per process and call. */
export function temporaryPathFor(path: string): string {
  const suffix = `${process.pid}.${randomBytes(6).toString('hex')}`;
  return join(dirname(path), `.${basename(path)}.${suffix}.tmp`);
}

/**
 * Opens a temporary file beside `path`, lets `write` fill it through the handle (for streaming
 * writers that never hold the whole output in memory), then fsyncs and renames it to `path`.
 * If `write` throws, the temporary file is deleted and the error is rethrown.
 */
export async function withAtomicFile<T>(path: string, write: (handle: FileHandle) => Promise<T>): Promise<T> {
  const temporary = temporaryPathFor(path);
  // 'wx' refuses to follow or clobber anything already at the temporary name.
  const handle = await open(temporary, 'wx');
  let result: T;
  try {
    result = await write(handle);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  try {
    await handle.close();
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
  return result;
}

/** Writes `data` to `path` atomically (temporary file in the same directory, fsync, rename). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  await withAtomicFile(path, (handle) => writeAll(handle, bytes));
}

/** Writes every byte of `bytes` at the handle's current position; a single write may be partial. */
export async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
    written += bytesWritten;
  }
}

/**
 * Makes the rename itself durable. Best effort: some platforms (Windows) and file systems refuse to
 * open or fsync a directory, and the file's contents are already safe by then.
 */
async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch {
    // Durability of the directory entry is an optimisation, not a correctness requirement here.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
