/**
 * TFRecord files (tensorflow/core/lib/io/record_writer.cc): a sequence of records, each framed as
 *
 *   u64 length (little-endian) | u32 masked CRC-32C of those 8 bytes | data | u32 masked CRC-32C of data
 *
 * The reader streams through a file handle (12 header bytes, then data + 4 CRC bytes per record),
 * so a file is never held in memory whole, and verifies both checksums. A bad checksum or a truncated
 * record throws an Error naming the file, the record's index and the byte offset at which that record
 * starts, e.g. `traj_0.tfrecords: data CRC mismatch in record 3 at byte offset 12345`.
 *
 * Records are uncompressed (TFRecordOptions compression_type ''), as in the BAIR data set.
 */
import { open } from 'node:fs/promises';
import { maskedCrc32c } from './crc32c.js';
import { withAtomicFile, writeAll } from './atomicWrite.js';
import { naming } from './fileErrors.js';

const HEADER_BYTES = 12;
const FOOTER_BYTES = 4;

/** One record of a TFRecord file, with where it came from (for error messages further on). */
export type TFRecord = {
  readonly data: Uint8Array;
  /** 0-based position of the record in its file. */
  readonly index: number;
  /** Byte offset of the record's length field in the file. */
  readonly offset: number;
};

function readU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/**
 * Streams the records of a TFRecord file, checking both CRCs of each. Every yielded `data` is a fresh
 * buffer that the caller may keep. The file is closed when iteration ends, fails or is abandoned.
 */
export async function* tfRecords(path: string): AsyncGenerator<TFRecord, void, undefined> {
  const handle = await naming(path, () => open(path, 'r'));
  try {
    const info = await naming(path, () => handle.stat());
    if (info.isDirectory()) throw new Error(`${path}: is a folder, where a TFRecord file was expected; move it out of the way, or rename it so it does not end in .tfrecords`);
    const size = info.size;
    const header = new Uint8Array(HEADER_BYTES);
    let offset = 0;
    for (let index = 0; offset < size; index++) {
      const where = `in record ${index} at byte offset ${offset}`;
      const headerRead = await naming(path, () => readFully(handle, header, offset));
      if (headerRead < HEADER_BYTES) {
        throw new Error(
          `${path}: truncated header ${where}: expected ${HEADER_BYTES} bytes, the file ends after ${headerRead}`,
        );
      }
      // The length's own CRC is checked before the length is trusted for anything.
      if (maskedCrc32c(header.subarray(0, 8)) !== readU32(header, 8)) {
        throw new Error(`${path}: length CRC mismatch ${where}`);
      }
      const length = readU32(header, 0) + readU32(header, 4) * 2 ** 32;
      const available = size - offset - HEADER_BYTES;
      if (length + FOOTER_BYTES > available) {
        throw new Error(
          `${path}: truncated data ${where}: the header announces ${length} data bytes + ${FOOTER_BYTES} CRC bytes, ` +
            `the file has ${available} left`,
        );
      }
      const body = new Uint8Array(length + FOOTER_BYTES);
      const bodyRead = await naming(path, () => readFully(handle, body, offset + HEADER_BYTES));
      if (bodyRead < body.length) {
        throw new Error(`${path}: truncated data ${where}: the file ended while reading (it changed while being read?)`);
      }
      const data = body.subarray(0, length);
      if (maskedCrc32c(data) !== readU32(body, length)) {
        throw new Error(`${path}: data CRC mismatch ${where}`);
      }
      yield { data, index, offset };
      offset += HEADER_BYTES + length + FOOTER_BYTES;
    }
  } finally {
    await handle.close();
  }
}

/** Streams the data of each record of a TFRecord file (see `tfRecords`). */
export async function* readTFRecords(path: string): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const record of tfRecords(path)) yield record.data;
}

type ReadHandle = { read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }> };

/** Reads until `buffer` is full or the file ends; returns the number of bytes read. */
async function readFully(handle: ReadHandle, buffer: Uint8Array, position: number): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** The 12-byte header (length and its masked CRC) that precedes a record of `length` bytes. */
export function tfRecordHeader(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) throw new Error(`TFRecord length ${length} is not a valid size`);
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint32(0, length % 2 ** 32, true);
  view.setUint32(4, Math.floor(length / 2 ** 32), true);
  view.setUint32(8, maskedCrc32c(header.subarray(0, 8)), true);
  return header;
}

/** One record in its on-disk framing: header, data, masked CRC of the data. */
export function encodeTFRecord(data: Uint8Array): Uint8Array {
  const framed = new Uint8Array(HEADER_BYTES + data.length + FOOTER_BYTES);
  framed.set(tfRecordHeader(data.length), 0);
  framed.set(data, HEADER_BYTES);
  new DataView(framed.buffer).setUint32(HEADER_BYTES + data.length, maskedCrc32c(data), true);
  return framed;
}

/**
 * Writes `records` as a TFRecord file at `path`, atomically: records stream into a temporary file
 * beside it, which is renamed over `path` only once every record is written. Returns the number of
 * records written.
 */
export async function writeTFRecords(
  path: string,
  records: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<number> {
  return withAtomicFile(path, async (handle) => {
    let count = 0;
    for await (const data of records) {
      await writeAll(handle, encodeTFRecord(data));
      count++;
    }
    return count;
  });
}
