/**
 * NumPy `.npy` and `.npz` files (numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
 *
 * `.npy`: the magic `\x93NUMPY`, a version (1.0: u16 header length; 2.0: u32; 3.0: u32 and a UTF-8
 * header), then a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
 * padded so the data starts on a 64-byte boundary, then the raw array in C order.
 * `.npz`: a zip archive of `.npy` files (stored or deflated; NumPy forces zip64 local headers), read
 * through its central directory, each entry's CRC-32 checked.
 *
 * Arrays are `{ dtype, shape, data }` with `data` a typed array of the matching element type
 * (little-endian after reading; big-endian files are byte-swapped). Booleans (`|b1`) read as 0/1 in a
 * Uint8Array; half floats (`<f2`) read widened into a Float32Array (dtype stays '<f2'). Fortran-order,
 * structured, string and object arrays are rejected with an error saying so.
 */
import { open, readFile } from 'node:fs/promises';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { crc32 } from './crc32c.js';
import { writeFileAtomic } from './atomicWrite.js';
import { naming } from './fileErrors.js';

export type NpyTypedArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** The dtypes written by `encodeNpy`; reading accepts these, their '>'/'=' forms and '<f2'. */
export type NpyDtype =
  | '|b1'
  | '|i1'
  | '|u1'
  | '<i2'
  | '<u2'
  | '<i4'
  | '<u4'
  | '<i8'
  | '<u8'
  | '<f4'
  | '<f8';

export type NpyArray = {
  /** NumPy's descr string, e.g. '<f4' or '|u1', as found in the file. */
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data: NpyTypedArray;
};

type Kind = 'b' | 'i' | 'u' | 'f';
type ElementType = { readonly kind: Kind; readonly size: number; readonly create: (length: number) => NpyTypedArray };

const ELEMENT_TYPES: Readonly<Record<string, ElementType>> = {
  b1: { kind: 'b', size: 1, create: (n) => new Uint8Array(n) },
  i1: { kind: 'i', size: 1, create: (n) => new Int8Array(n) },
  u1: { kind: 'u', size: 1, create: (n) => new Uint8Array(n) },
  i2: { kind: 'i', size: 2, create: (n) => new Int16Array(n) },
  u2: { kind: 'u', size: 2, create: (n) => new Uint16Array(n) },
  i4: { kind: 'i', size: 4, create: (n) => new Int32Array(n) },
  u4: { kind: 'u', size: 4, create: (n) => new Uint32Array(n) },
  i8: { kind: 'i', size: 8, create: (n) => new BigInt64Array(n) },
  u8: { kind: 'u', size: 8, create: (n) => new BigUint64Array(n) },
  f4: { kind: 'f', size: 4, create: (n) => new Float32Array(n) },
  f8: { kind: 'f', size: 8, create: (n) => new Float64Array(n) },
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// The header: a Python literal. Only what NumPy writes is accepted: dicts, tuples, lists, strings,
// integers, True/False/None.

type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

/** Deepest nesting of dicts, tuples and lists a header may have (NumPy writes 2; structured dtypes a few more). */
const MAX_HEADER_DEPTH = 64;

function parsePythonLiteral(text: string, name: string): PyValue {
  let i = 0;
  let depth = 0;
  const error = (what: string): never => {
    throw new Error(`${name}: cannot parse the .npy header (${what} at character ${i}): ${JSON.stringify(text.slice(0, 200))}${text.length > 200 ? '…' : ''}`);
  };
  const skipSpace = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const sequence = (close: string): PyValue[] => {
    const items: PyValue[] = [];
    for (;;) {
      skipSpace();
      if (text[i] === close) {
        i++;
        return items;
      }
      items.push(value());
      skipSpace();
      if (text[i] === ',') i++;
      else if (text[i] !== close) error(`expected ',' or '${close}'`);
    }
  };
  const value = (): PyValue => {
    skipSpace();
    const c = text[i];
    if ((c === '{' || c === '(' || c === '[') && ++depth > MAX_HEADER_DEPTH) error(`nesting deeper than ${MAX_HEADER_DEPTH} (a corrupt or crafted header)`);
    const result = valueAt(c);
    if (c === '{' || c === '(' || c === '[') depth--;
    return result;
  };
  const valueAt = (c: string | undefined): PyValue => {
    if (c === '{') {
      i++;
      // No prototype: a key '__proto__' is a key like any other (and is refused below as an unknown one).
      const dict: { [key: string]: PyValue } = Object.create(null) as { [key: string]: PyValue };
      for (;;) {
        skipSpace();
        if (text[i] === '}') {
          i++;
          return dict;
        }
        const key = value();
        if (typeof key !== 'string') error('a non-string dict key');
        skipSpace();
        if (text[i] !== ':') error("expected ':'");
        i++;
        if (Object.hasOwn(dict, key as string)) error(`the key ${JSON.stringify(key)} is repeated`);
        dict[key as string] = value();
        skipSpace();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') error("expected ',' or '}'");
      }
    }
    if (c === '(') {
      i++;
      return sequence(')');
    }
    if (c === '[') {
      i++;
      return sequence(']');
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) error('unterminated string');
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const word = /^(-?\d+L?|True|False|None)/.exec(text.slice(i));
    if (word === null) return error('unexpected token');
    i += word[0].length;
    if (word[0] === 'True') return true;
    if (word[0] === 'False') return false;
    if (word[0] === 'None') return null;
    return Number.parseInt(word[0], 10);
  };
  const result = value();
  skipSpace();
  if (i !== text.length) error('trailing characters');
  return result;
}

type Header = { readonly descr: string; readonly shape: readonly number[]; readonly dataOffset: number };

function parseHeader(bytes: Uint8Array, name: string): Header {
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) {
    throw new Error(`${name}: not a .npy file (it does not start with \\x93NUMPY)`);
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new Error(`${name}: truncated .npy header`);
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new Error(`${name}: unsupported .npy format version ${major}.${bytes[7]} (supported: 1.0, 2.0, 3.0)`);
  }
  const dataOffset = headerStart + headerLength;
  if (dataOffset > bytes.length) throw new Error(`${name}: truncated .npy header`);
  const headerBytes = bytes.subarray(headerStart, dataOffset);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes).trimEnd();
  const dict = parsePythonLiteral(text, name);
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict)) {
    throw new Error(`${name}: the .npy header is not a dict: ${text}`);
  }
  const keys = Object.keys(dict).sort();
  if (keys.join() !== 'descr,fortran_order,shape') {
    // As NumPy's read_array_header: exactly these three keys.
    throw new Error(`${name}: the .npy header must have exactly the keys 'descr', 'fortran_order' and 'shape', got ${keys.map((k) => `'${k}'`).join(', ')}`);
  }
  const { descr, fortran_order: fortranOrder, shape } = dict;
  if (typeof descr !== 'string') {
    throw new Error(`${name}: structured dtypes are not supported (descr ${JSON.stringify(descr)}); save plain arrays`);
  }
  if (fortranOrder !== false) {
    throw new Error(
      `${name}: Fortran-order arrays are not supported; save with np.ascontiguousarray(x) (C order) instead`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${name}: invalid shape in the .npy header: ${text.slice(0, 200)} (dimensions must be non-negative integers below 2^53)`);
  }
  // Even an empty array's other dimensions must multiply to a count a typed array could have.
  const nonZero = (shape as number[]).reduce((n, d) => (d === 0 ? n : n * d), 1);
  if (nonZero > Number.MAX_SAFE_INTEGER) {
    throw new Error(`${name}: the .npy shape (${(shape as number[]).join(', ')}) multiplies to more than 2^53 elements (a corrupt or crafted header)`);
  }
  return { descr, shape: shape as number[], dataOffset };
}

function elementTypeOf(descr: string, name: string): { type: ElementType; bigEndian: boolean; half: boolean } {
  const order = descr[0];
  const code = descr.slice(1);
  if (order === '<' || order === '>' || order === '|' || order === '=') {
    if (code === 'f2') return { type: ELEMENT_TYPES.f4!, bigEndian: order === '>', half: true };
    const type = ELEMENT_TYPES[code];
    if (type !== undefined) return { type, bigEndian: order === '>' && type.size > 1, half: false };
  }
  const hint =
    code.startsWith('U') || code.startsWith('S')
      ? ' (strings are not supported)'
      : code === 'O'
        ? ' (object arrays need pickle, which is not supported)'
        : code.startsWith('c')
          ? ' (complex numbers are not supported)'
          : '';
  throw new Error(
    `${name}: unsupported dtype '${descr}'${hint}; supported: b1 i1 u1 i2 u2 i4 u4 i8 u8 f2 f4 f8`,
  );
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * Parses a `.npy` file's bytes. When the data is suitably aligned and little-endian, the returned
 * typed array is a view into `bytes` (no copy); otherwise it is a copy. `name` goes into errors.
 */
export function parseNpy(bytes: Uint8Array, name = 'array.npy'): NpyArray {
  const { descr, shape, dataOffset } = parseHeader(bytes, name);
  const { type, bigEndian, half } = elementTypeOf(descr, name);
  const count = shape.reduce((a, b) => a * b, 1);
  const byteSize = half ? 2 : type.size;
  const byteLength = count * byteSize;
  if (bytes.length - dataOffset < byteLength) {
    throw new Error(
      `${name}: truncated .npy data: shape (${shape.join(', ')}) of '${descr}' needs ${byteLength} bytes, ` +
        `the file has ${bytes.length - dataOffset}`,
    );
  }
  const raw = bytes.subarray(dataOffset, dataOffset + byteLength);
  let data: NpyTypedArray;
  if (half) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.length);
    const out = new Float32Array(count);
    for (let k = 0; k < count; k++) out[k] = halfToFloat(view.getUint16(2 * k, !bigEndian));
    data = out;
  } else if (!bigEndian && LITTLE_ENDIAN_HOST && raw.byteOffset % type.size === 0) {
    data = viewAs(type, raw.buffer, raw.byteOffset, count);
  } else {
    data = type.create(count);
    const target = new Uint8Array(data.buffer);
    target.set(raw);
    if (bigEndian !== !LITTLE_ENDIAN_HOST) swapBytes(target, type.size);
  }
  if (type.kind === 'b' && !half) {
    // NumPy writes booleans as 0/1, but any nonzero byte is true.
    const flags = data as Uint8Array;
    if (flags.some((v) => v > 1)) data = flags.map((v) => (v ? 1 : 0));
  }
  return { dtype: descr, shape: [...shape], data };
}

function viewAs(type: ElementType, buffer: ArrayBufferLike, byteOffset: number, length: number): NpyTypedArray {
  const sample = type.create(0);
  const Constructor = sample.constructor as new (buffer: ArrayBufferLike, byteOffset: number, length: number) => NpyTypedArray;
  return new Constructor(buffer, byteOffset, length);
}

function swapBytes(bytes: Uint8Array, size: number): void {
  for (let start = 0; start < bytes.length; start += size) {
    for (let a = start, b = start + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/** Reads and parses a `.npy` file. */
export async function readNpy(path: string): Promise<NpyArray> {
  return parseNpy(new Uint8Array(await naming(path, () => readFile(path))), path);
}

const DTYPE_OF_ARRAY: ReadonlyArray<readonly [new (...args: never[]) => NpyTypedArray, NpyDtype]> = [
  [Int8Array, '|i1'],
  [Uint8Array, '|u1'],
  [Int16Array, '<i2'],
  [Uint16Array, '<u2'],
  [Int32Array, '<i4'],
  [Uint32Array, '<u4'],
  [BigInt64Array, '<i8'],
  [BigUint64Array, '<u8'],
  [Float32Array, '<f4'],
  [Float64Array, '<f8'],
];

/** An array to write: `dtype` may be left out, to be taken from the typed array. */
export type NpyInput = { readonly dtype?: NpyDtype; readonly shape: readonly number[]; readonly data: NpyTypedArray };

/** The dtype NumPy would give a typed array (a Uint8Array maps to '|u1', not '|b1'). */
export function npyDtypeOf(data: NpyTypedArray): NpyDtype {
  for (const [Constructor, dtype] of DTYPE_OF_ARRAY) if (data instanceof Constructor) return dtype;
  throw new Error('npyDtypeOf: not a supported typed array');
}

/**
 * Serializes an array as a version 1.0 `.npy` (2.0 if the header would not fit in 64 KiB), C order,
 * little-endian. `dtype` defaults to the typed array's own and must match its element type
 * ('|b1' goes with a Uint8Array of 0/1).
 */
export function encodeNpy(array: NpyInput): Uint8Array {
  const dtype = array.dtype ?? npyDtypeOf(array.data);
  const natural = npyDtypeOf(array.data);
  if (dtype !== natural && !(dtype === '|b1' && natural === '|u1')) {
    throw new Error(`encodeNpy: dtype '${dtype}' does not match the data (a ${array.data.constructor.name}, '${natural}')`);
  }
  const count = array.shape.reduce((a, b) => a * b, 1);
  if (!array.shape.every((d) => Number.isInteger(d) && d >= 0) || count !== array.data.length) {
    throw new Error(
      `encodeNpy: shape [${array.shape.join(', ')}] holds ${count} elements but the data has ${array.data.length}`,
    );
  }
  const shapeText = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let major = 1;
  let prefix = 10;
  // The data starts at a multiple of 64 bytes; the header ends with '\n' (NEP 1).
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    major = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLength = total - prefix;
  const out = new Uint8Array(total + array.data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  const header = dict.padEnd(headerLength - 1, ' ') + '\n';
  for (let k = 0; k < header.length; k++) out[prefix + k] = header.charCodeAt(k);
  const body = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  out.set(body, total);
  const size = array.data.BYTES_PER_ELEMENT;
  if (!LITTLE_ENDIAN_HOST && size > 1) swapBytes(out.subarray(total), size);
  return out;
}

/** Writes an array as a `.npy` file, atomically. */
export async function writeNpy(path: string, array: NpyInput): Promise<void> {
  await writeFileAtomic(path, encodeNpy(array));
}

// ---------------------------------------------------------------------------------------------
// Zip (APPNOTE.TXT 6.3), the container of `.npz`: read through the central directory.

/** Random access to an archive's bytes: a file handle or an in-memory buffer. */
type Source = { readonly size: number; read(offset: number, length: number): Promise<Uint8Array> };

type ZipEntry = {
  readonly name: string;
  readonly method: number;
  readonly flags: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
};

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const U16_MAX = 0xffff;
// A fixed timestamp keeps archives byte-for-byte reproducible; a zero date would be month 0.
const DOS_DATE_1980_01_01 = (1 << 5) | 1;
const U32_MAX = 0xffffffff;

function u64(view: DataView, at: number): number {
  const value = view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
  if (!Number.isSafeInteger(value)) throw new Error('zip: a 64-bit size or offset exceeds 2^53');
  return value;
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
}

async function readZipDirectory(source: Source, name: string): Promise<ZipEntry[]> {
  const tailLength = Math.min(source.size, 22 + 0xffff + 20);
  const tailStart = source.size - tailLength;
  const tail = await source.read(tailStart, tailLength);
  const tailView = dataView(tail);
  let eocd = -1;
  for (let at = tail.length - 22; at >= 0; at--) {
    if (tailView.getUint32(at, true) === EOCD_SIGNATURE) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${name}: not a zip archive (no end-of-central-directory record)`);
  let count = tailView.getUint16(eocd + 10, true);
  let directorySize = tailView.getUint32(eocd + 12, true);
  let directoryOffset = tailView.getUint32(eocd + 16, true);
  if (count === U16_MAX || directorySize === U32_MAX || directoryOffset === U32_MAX) {
    const locator = eocd - 20;
    if (locator < 0 || tailView.getUint32(locator, true) !== ZIP64_LOCATOR_SIGNATURE) {
      throw new Error(`${name}: zip64 archive without a zip64 end-of-central-directory locator`);
    }
    const recordOffset = u64(tailView, locator + 8);
    const record = dataView(await source.read(recordOffset, 56));
    if (record.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) {
      throw new Error(`${name}: bad zip64 end-of-central-directory record at byte offset ${recordOffset}`);
    }
    count = u64(record, 32);
    directorySize = u64(record, 40);
    directoryOffset = u64(record, 48);
  }
  if (directoryOffset + directorySize > source.size) {
    throw new Error(`${name}: the zip central directory runs past the end of the file (truncated?)`);
  }
  const directory = await source.read(directoryOffset, directorySize);
  const view = dataView(directory);
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let k = 0; k < count; k++) {
    if (at + 46 > directory.length || view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw new Error(`${name}: corrupt zip central directory at byte offset ${directoryOffset + at}`);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localHeaderOffset = view.getUint32(at + 42, true);
    if (at + 46 + nameLength + extraLength + commentLength > directory.length) {
      throw new Error(`${name}: corrupt zip central directory at byte offset ${directoryOffset + at} (an entry runs past its end)`);
    }
    const entryName = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(
      directory.subarray(at + 46, at + 46 + nameLength),
    );
    // Zip64 extended information (header id 1) holds, in order, only the fields saturated above.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = view.getUint16(extra, true);
      const length = view.getUint16(extra + 2, true);
      if (extra + 4 + length > extraEnd) throw new Error(`${name}: corrupt zip extra field in the central directory at byte offset ${directoryOffset + extra}`);
      if (id === 1) {
        let field = extra + 4;
        const need = (size === U32_MAX ? 8 : 0) + (compressedSize === U32_MAX ? 8 : 0) + (localHeaderOffset === U32_MAX ? 8 : 0);
        if (need > length) throw new Error(`${name}: corrupt zip64 extra field in the central directory at byte offset ${directoryOffset + extra}`);
        if (size === U32_MAX) {
          size = u64(view, field);
          field += 8;
        }
        if (compressedSize === U32_MAX) {
          compressedSize = u64(view, field);
          field += 8;
        }
        if (localHeaderOffset === U32_MAX) localHeaderOffset = u64(view, field);
      }
      extra += 4 + length;
    }
    entries.push({ name: entryName, method, flags, crc, compressedSize, size, localHeaderOffset });
    at = extraEnd + commentLength;
  }
  return entries;
}

/**
 * The most bytes one `.npz` member may hold once inflated, unless `maxEntryBytes` says otherwise:
 * generous (a BAIR clip is 1.1 MB) but finite, so a zip bomb (2 MB that inflate to gigabytes) is
 * refused, from its declared size before anything is read, or while inflating when it lies.
 */
export const MAX_NPZ_ENTRY_BYTES = 2 ** 30;

function checkDeclaredSize(entry: ZipEntry, name: string, maxEntryBytes: number): void {
  if (entry.size > maxEntryBytes) {
    throw new Error(`${name}: entry '${entry.name}' declares ${entry.size} bytes once inflated, more than the limit of ${maxEntryBytes} (a zip bomb or a corrupt directory; raise maxEntryBytes to read it)`);
  }
}

async function readZipEntry(source: Source, entry: ZipEntry, name: string, maxEntryBytes: number): Promise<Uint8Array> {
  const where = `${name}: entry '${entry.name}'`;
  if (entry.flags & 1) throw new Error(`${where} is encrypted, which is not supported`);
  checkDeclaredSize(entry, name, maxEntryBytes);
  if (entry.method === 0 && entry.compressedSize !== entry.size) {
    throw new Error(`${where} is stored (not compressed) but its sizes differ: ${entry.compressedSize} stored, ${entry.size} declared`);
  }
  const local = await source.read(entry.localHeaderOffset, 30);
  const view = dataView(local);
  if (local.length < 30 || view.getUint32(0, true) !== LOCAL_SIGNATURE) {
    throw new Error(`${where}: bad local header at byte offset ${entry.localHeaderOffset}`);
  }
  const dataOffset = entry.localHeaderOffset + 30 + view.getUint16(26, true) + view.getUint16(28, true);
  if (dataOffset + entry.compressedSize > source.size) {
    throw new Error(`${where}: data runs past the end of the file at byte offset ${dataOffset} (truncated?)`);
  }
  const compressed = await source.read(dataOffset, entry.compressedSize);
  let data: Uint8Array;
  if (entry.method === 0) data = compressed;
  else if (entry.method === 8) {
    try {
      // Inflated chunk by chunk, stopping as soon as the output passes the declared size.
      data = new Uint8Array(inflateRawSync(compressed, { maxOutputLength: Math.max(1, entry.size) }));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new Error(`${where}: inflates to more than the ${entry.size} bytes its directory declares (stopped there; a zip bomb or corrupt data at byte offset ${dataOffset})`);
      }
      throw new Error(`${where}: corrupt deflate data at byte offset ${dataOffset} (${(error as Error).message})`);
    }
  } else throw new Error(`${where}: compression method ${entry.method} is not supported (only stored and deflate)`);
  if (data.length !== entry.size) {
    throw new Error(`${where}: expected ${entry.size} bytes after decompression, got ${data.length}`);
  }
  if (crc32(data) !== entry.crc) throw new Error(`${where}: CRC-32 mismatch (data at byte offset ${dataOffset})`);
  return data;
}

/**
 * The most bytes all the members read from one `.npz` may hold together, unless `maxTotalBytes` says
 * otherwise. The per-member cap alone does not bound an archive: its directory may list many members
 * whose data is one and the same deflate stream (an overlapping zip bomb), each inflated anew.
 */
export const MAX_NPZ_TOTAL_BYTES = 2 ** 31;

/** Limits on what reading a `.npz` may inflate (see `MAX_NPZ_ENTRY_BYTES`, `MAX_NPZ_TOTAL_BYTES`). */
export type NpzLimits = { readonly maxEntryBytes?: number; readonly maxTotalBytes?: number };

async function readNpzFrom(source: Source, name: string, only: readonly string[] | undefined, limits: NpzLimits): Promise<Map<string, NpyArray>> {
  const maxEntryBytes = limits.maxEntryBytes ?? MAX_NPZ_ENTRY_BYTES;
  const maxTotalBytes = limits.maxTotalBytes ?? MAX_NPZ_TOTAL_BYTES;
  // np.load names an entry `x` for the member `x.npy`.
  const keyOf = (entry: ZipEntry) => (entry.name.endsWith('.npy') ? entry.name.slice(0, -4) : entry.name);
  const wanted = (await readZipDirectory(source, name)).filter((e) => !e.name.endsWith('/') && (only === undefined || only.includes(keyOf(e))));
  // Each member inflates to at most its declared size, so the declared sizes bound what is read, before any of it is.
  for (const entry of wanted) checkDeclaredSize(entry, name, maxEntryBytes);
  const total = wanted.reduce((n, e) => n + e.size, 0);
  if (total > maxTotalBytes) {
    throw new Error(`${name}: its ${wanted.length} members declare ${total} bytes in all once inflated, more than the limit of ${maxTotalBytes} (a zip bomb, e.g. members sharing one deflate stream, or a corrupt directory; raise maxTotalBytes to read it)`);
  }
  const result = new Map<string, NpyArray>();
  for (const entry of wanted) {
    result.set(keyOf(entry), parseNpy(await readZipEntry(source, entry, name, maxEntryBytes), `${name}/${entry.name}`));
  }
  if (only !== undefined) {
    const missing = only.filter((k) => !result.has(k));
    if (missing.length > 0) {
      throw new Error(`${name}: no array named ${missing.map((m) => `'${m}'`).join(', ')} in this .npz`);
    }
  }
  return result;
}

/** Parses an in-memory `.npz` archive into its arrays, keyed as np.load keys them (no '.npy'). */
export async function parseNpz(bytes: Uint8Array, name = 'arrays.npz', options: NpzLimits = {}): Promise<Map<string, NpyArray>> {
  const source: Source = {
    size: bytes.length,
    read: async (offset, length) => bytes.subarray(offset, Math.min(bytes.length, offset + length)),
  };
  return readNpzFrom(source, name, undefined, options);
}

/**
 * Reads a `.npz` file into its arrays, keyed as np.load keys them (no '.npy'). Only the central
 * directory and the requested members are read from disk; `only` restricts which (all by default).
 */
export async function readNpz(path: string, options: NpzLimits & { readonly only?: readonly string[] } = {}): Promise<Map<string, NpyArray>> {
  const handle = await naming(path, () => open(path, 'r'));
  try {
    const size = (await naming(path, () => handle.stat())).size;
    const source: Source = {
      size,
      read: async (offset, length) => {
        const buffer = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
        let filled = 0;
        while (filled < buffer.length) {
          const { bytesRead } = await naming(path, () => handle.read(buffer, filled, buffer.length - filled, offset + filled));
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        return buffer.subarray(0, filled);
      },
    };
    return await readNpzFrom(source, path, options.only, options);
  } finally {
    await handle.close();
  }
}

export type NpzOptions = {
  /** Deflate each member, as np.savez_compressed does. Default false (stored, as np.savez). */
  readonly compress?: boolean;
  /** Write zip64 records even where 32 bits suffice, as archives over 4 GiB need. Default false. */
  readonly zip64?: boolean;
};

/** Serializes arrays as a `.npz` (a zip of `<name>.npy` members). */
export function encodeNpz(
  arrays: ReadonlyMap<string, NpyInput> | Readonly<Record<string, NpyInput>>,
  options: NpzOptions = {},
): Uint8Array {
  const items = arrays instanceof Map ? [...arrays.entries()] : Object.entries(arrays);
  const encoder = new TextEncoder();
  const zip64 = options.zip64 ?? false;
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [key, array] of items) {
    const name = encoder.encode(`${key}.npy`);
    const raw = encodeNpy(array);
    const compressed = options.compress ? new Uint8Array(deflateRawSync(raw)) : raw;
    const crc = crc32(raw);
    const method = options.compress ? 8 : 0;
    const needs64 = zip64 || raw.length >= U32_MAX || offset >= U32_MAX;
    const local = new Uint8Array(30 + name.length + (needs64 ? 20 : 0));
    const lv = dataView(local);
    lv.setUint32(0, LOCAL_SIGNATURE, true);
    lv.setUint16(4, needs64 ? 45 : 20, true);
    lv.setUint16(6, 0x800, true);
    lv.setUint16(8, method, true);
    lv.setUint16(12, DOS_DATE_1980_01_01, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, needs64 ? U32_MAX : compressed.length, true);
    lv.setUint32(22, needs64 ? U32_MAX : raw.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, needs64 ? 20 : 0, true);
    local.set(name, 30);
    if (needs64) {
      const at = 30 + name.length;
      lv.setUint16(at, 1, true);
      lv.setUint16(at + 2, 16, true);
      lv.setBigUint64(at + 4, BigInt(raw.length), true);
      lv.setBigUint64(at + 12, BigInt(compressed.length), true);
    }
    const central = new Uint8Array(46 + name.length + (needs64 ? 28 : 0));
    const cv = dataView(central);
    cv.setUint32(0, CENTRAL_SIGNATURE, true);
    cv.setUint16(4, needs64 ? 45 : 20, true);
    cv.setUint16(6, needs64 ? 45 : 20, true);
    cv.setUint16(8, 0x800, true);
    cv.setUint16(10, method, true);
    cv.setUint16(14, DOS_DATE_1980_01_01, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, needs64 ? U32_MAX : compressed.length, true);
    cv.setUint32(24, needs64 ? U32_MAX : raw.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, needs64 ? 28 : 0, true);
    cv.setUint32(42, needs64 ? U32_MAX : offset, true);
    central.set(name, 46);
    if (needs64) {
      const at = 46 + name.length;
      cv.setUint16(at, 1, true);
      cv.setUint16(at + 2, 24, true);
      cv.setBigUint64(at + 4, BigInt(raw.length), true);
      cv.setBigUint64(at + 12, BigInt(compressed.length), true);
      cv.setBigUint64(at + 20, BigInt(offset), true);
    }
    locals.push(local, compressed);
    centrals.push(central);
    offset += local.length + compressed.length;
  }
  const directoryOffset = offset;
  const directorySize = centrals.reduce((n, c) => n + c.length, 0);
  const tail: Uint8Array[] = [];
  if (zip64 || directoryOffset >= U32_MAX || items.length >= U16_MAX) {
    const record = new Uint8Array(56);
    const rv = dataView(record);
    rv.setUint32(0, ZIP64_EOCD_SIGNATURE, true);
    rv.setBigUint64(4, 44n, true);
    rv.setUint16(12, 45, true);
    rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(items.length), true);
    rv.setBigUint64(32, BigInt(items.length), true);
    rv.setBigUint64(40, BigInt(directorySize), true);
    rv.setBigUint64(48, BigInt(directoryOffset), true);
    const locator = new Uint8Array(20);
    const lv = dataView(locator);
    lv.setUint32(0, ZIP64_LOCATOR_SIGNATURE, true);
    lv.setBigUint64(8, BigInt(directoryOffset + directorySize), true);
    lv.setUint32(16, 1, true);
    tail.push(record, locator);
  }
  const eocd = new Uint8Array(22);
  const ev = dataView(eocd);
  const saturate = zip64 || tail.length > 0;
  ev.setUint32(0, EOCD_SIGNATURE, true);
  ev.setUint16(8, saturate ? U16_MAX : items.length, true);
  ev.setUint16(10, saturate ? U16_MAX : items.length, true);
  ev.setUint32(12, saturate ? U32_MAX : directorySize, true);
  ev.setUint32(16, saturate ? U32_MAX : directoryOffset, true);
  tail.push(eocd);
  const parts = [...locals, ...centrals, ...tail];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Writes arrays as a `.npz` file (readable by np.load), atomically. */
export async function writeNpz(
  path: string,
  arrays: ReadonlyMap<string, NpyInput> | Readonly<Record<string, NpyInput>>,
  options: NpzOptions = {},
): Promise<void> {
  await writeFileAtomic(path, encodeNpz(arrays, options));
}
