/**
 * Checkpoints in the safetensors format (https://github.com/huggingface/safetensors), so PyTorch,
 * JAX and Hugging Face tools read what we write and we read what they write:
 *
 *   bytes 0..8      header size N, unsigned 64-bit little-endian
 *   bytes 8..8+N    a JSON object, padded with spaces so the data starts 8-byte aligned:
 *                   { "__metadata__": { string: string },
 *                     "<path>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, … }
 *   bytes 8+N..     the tensors' little-endian bytes, back to back; offsets are relative to here.
 *
 * A pytree is stored with its key paths joined by '.' ("blocks.0.attention.query.weight"); loading
 * rebuilds nested objects, with arrays where every key of a level is an index. Empty subtrees and
 * non-tensor leaves are not stored: pass `like` (e.g. freshly initialised parameters) to get the
 * exact structure back, with every shape checked against it.
 *
 * Loading validates the whole file before it makes a single tensor (the rules of the reference
 * implementation: header size ≤ 100 MB, offsets that tile the data buffer exactly with no overlap
 * or hole, byte counts that match dtype × shape), and every error names the tensor and the problem.
 */
import { isLeft, left, right, type Either } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { bytesPerElement, fromArray, Tensor, treeMap, type DType, type TypedArray } from '../core/index.js';
import { importNodeModule } from '../core/nodeModule.js';
import { pytreeNodeOf } from '../core/pytree.js';

/** The reference implementation's limit on the header (`MAX_HEADER_SIZE`). */
export const MAX_HEADER_BYTES = 100_000_000;

export type SafetensorsMetadata = Readonly<Record<string, string>>;

export interface Loaded<T> {
  tree: T;
  metadata: Record<string, string>;
}

export interface LoadOptions<T> {
  /** A tree with the expected structure and shapes (its tensors are only read for shape and dtype). */
  like?: T;
}

const DTYPE_NAMES: Record<DType, string> = { float32: 'F32', int32: 'I32', uint32: 'U32', bool: 'BOOL' };
const DTYPES_BY_NAME: Record<string, DType> = { F32: 'float32', I32: 'int32', U32: 'uint32', BOOL: 'bool' };
/** The reference implementation sorts by `Reverse(dtype)` in its enum order: F32 > U32 > I32 > BOOL. */
const WRITE_ORDER: Record<DType, number> = { float32: 0, uint32: 1, int32: 2, bool: 3 };

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  // Typed arrays use the platform's byte order; the format is little-endian.
  throw new Error('safetensors: this module assumes a little-endian platform');
}

// ---------------------------------------------------------------- writing

/** `[path, tensor]` pairs; keys that would make the joined path ambiguous are refused. */
function flattenForSaving(tree: unknown): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  const walk = (node: unknown, path: string): void => {
    if (node instanceof Tensor) {
      if (path === '') throw new Error('safetensors: the root of the tree must be an object or an array, not a single tensor');
      out.push([path, node]);
    } else if (Array.isArray(node)) {
      node.forEach((x, i) => walk(x, path ? `${path}.${i}` : String(i)));
    } else if (node !== null && typeof node === 'object' && Object.getPrototypeOf(node) === Object.prototype) {
      for (const [k, v] of Object.entries(node)) {
        if (k === '' || k.includes('.')) throw new Error(`safetensors: key '${k}' under '${path || '<root>'}' is empty or contains '.', which would make the joined path ambiguous`);
        if (path === '' && k === '__metadata__') throw new Error("safetensors: a top-level key cannot be '__metadata__' (reserved for metadata)");
        walk(v, path ? `${path}.${k}` : k);
      }
    } else if (node !== null && typeof node === 'object' && pytreeNodeOf(node) !== undefined) {
      // A registered class (registerPytreeNode) is stored as its children; load it back with `like`.
      walk(pytreeNodeOf(node)!.flatten(node)[0], path);
    } else if (node !== null && node !== undefined) {
      throw new Error(`safetensors: the leaf at '${path || '<root>'}' is a ${typeof node}, not a tensor; only tensors are stored (put other values in the metadata)`);
    }
  };
  walk(tree, '');
  return out;
}

function checkMetadata(metadata: SafetensorsMetadata): void {
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new Error(`safetensors: metadata '${k}' must be a string (JSON.stringify it), got ${typeof v}`);
  }
}

/**
 * The file's bytes for a pytree of tensors. Asynchronous because tensor values are read from the
 * backend (a GPU reads asynchronously). Tensors are laid out in the reference writer's order
 * (dtype, widest first, then name), so every tensor's data starts aligned to its element size and
 * the bytes are the ones Python's `safetensors.numpy.save` writes for the same tensors.
 */
export async function serializeSafetensors(tree: unknown, metadata: SafetensorsMetadata = {}): Promise<Uint8Array> {
  checkMetadata(metadata);
  const entries = flattenForSaving(tree).sort(([pa, a], [pb, b]) => WRITE_ORDER[a.dtype] - WRITE_ORDER[b.dtype] || (pa < pb ? -1 : pa > pb ? 1 : 0));
  const values = await Promise.all(entries.map(([, x]) => x.toArray()));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  entries.forEach(([path, x]) => {
    const bytes = x.size * bytesPerElement(x.dtype);
    header[path] = { dtype: DTYPE_NAMES[x.dtype], shape: [...x.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  });
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerBytes + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerBytes);
  let at = 8 + headerBytes;
  values.forEach((v) => {
    out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), at);
    at += v.byteLength;
  });
  return out;
}

/**
 * Write a checkpoint atomically: to a temporary file beside `path`, fsynced, then renamed over
 * `path`, so a crash leaves either the old file or the new one, never half of one.
 */
export async function saveSafetensors(path: string, tree: unknown, metadata: SafetensorsMetadata = {}): Promise<void> {
  const bytes = await serializeSafetensors(tree, metadata);
  // Imported on use so that the rest of this module (and nn) loads in a browser.
  const fs = await importNodeModule<typeof import('node:fs/promises')>('node:fs/promises');
  const { dirname, basename, join } = await importNodeModule<typeof import('node:path')>('node:path');
  const { randomBytes } = await importNodeModule<typeof import('node:crypto')>('node:crypto');
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temporary, 'wx');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    await fs.rename(temporary, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.unlink(temporary).catch(() => undefined);
    throw error;
  }
  // The rename is durable only once the directory entry is; not every platform can fsync one.
  const dir = await fs.open(dirname(path), 'r').catch(() => null);
  if (dir) await dir.sync().catch(() => undefined).finally(() => dir.close());
}

// ---------------------------------------------------------------- reading

const TensorEntry = t.type({
  dtype: t.string,
  shape: t.array(t.number),
  data_offsets: t.tuple([t.number, t.number]),
});

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

interface Parsed {
  entries: Entry[];
  metadata: Record<string, string>;
  dataStart: number;
}

const fail = (message: string): Either<string, never> => left(`safetensors: ${message}`);

/** A value of the header, shown in an error: at most 200 characters, and no stack overflow on deeply nested JSON. */
function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    return '(a value nested too deeply to show)';
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * The header of a file of `fileBytes` bytes, checked against that size. `bytes` is the file's start:
 * the whole file, or (to read the header alone) at least its first 8 + N bytes whenever N passes the
 * size checks, which come before anything past the first 8 bytes is read.
 */
function parseHeader(bytes: Uint8Array, fileBytes: number = bytes.length): Either<string, Parsed> {
  if (fileBytes < 8) return fail(`the file is ${fileBytes} bytes, too short to hold the 8-byte header size (truncated?)`);
  const size = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (size > BigInt(MAX_HEADER_BYTES)) return fail(`the header size ${size} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt file, or not a safetensors file)`);
  const headerBytes = Number(size);
  if (8 + headerBytes > fileBytes) return fail(`the header size ${headerBytes} reaches beyond the end of the file (${fileBytes} bytes): the file is truncated or corrupt`);
  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, so it is refused below as JSON would refuse it.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerBytes));
  } catch {
    return fail('the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) return fail(`the header must be a JSON object starting with '{', got ${JSON.stringify(text.slice(0, 20))}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`the header is not valid JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return fail('the header must be a JSON object');
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fail('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') return fail(`__metadata__ '${k}' must be a string, got ${preview(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    const decoded = TensorEntry.decode(raw);
    const offsetCount = (raw as { data_offsets?: unknown } | null)?.data_offsets;
    if (isLeft(decoded) || !Array.isArray(offsetCount) || offsetCount.length !== 2) return fail(`tensor '${name}': expected { dtype: string, shape: number[], data_offsets: [begin, end] }, got ${preview(raw)}`);
    const { dtype: dtypeName, shape, data_offsets: [begin, end] } = decoded.right;
    const dtype = DTYPES_BY_NAME[dtypeName];
    if (dtype === undefined) return fail(`tensor '${name}': unsupported dtype '${dtypeName}' (this framework reads ${Object.keys(DTYPES_BY_NAME).join(', ')})`);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return fail(`tensor '${name}': invalid shape ${JSON.stringify(shape)} (dimensions must be non-negative integers)`);
    if (![begin, end].every((o) => Number.isSafeInteger(o) && o >= 0) || end < begin) return fail(`tensor '${name}': invalid data_offsets [${begin}, ${end}]`);
    entries.push({ name, dtype, shape, begin, end });
  }
  const dataStart = 8 + headerBytes;
  const dataBytes = fileBytes - dataStart;
  for (const e of entries) {
    if (e.end > dataBytes) return fail(`tensor '${e.name}': data_offsets [${e.begin}, ${e.end}] exceed the data buffer of ${dataBytes} bytes (the file is truncated or corrupt)`);
    const need = e.shape.reduce((n, d) => n * d, 1) * bytesPerElement(e.dtype);
    if (need !== e.end - e.begin) {
      return fail(`tensor '${e.name}': dtype ${DTYPE_NAMES[e.dtype]} and shape [${e.shape}] need ${need} bytes but data_offsets [${e.begin}, ${e.end}] span ${e.end - e.begin}`);
    }
  }
  const ordered = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const e of ordered) {
    if (e.begin < covered) return fail(`tensor '${e.name}' (bytes [${e.begin}, ${e.end})) overlaps tensor '${previous!.name}' (bytes [${previous!.begin}, ${previous!.end}))`);
    if (e.begin > covered) return fail(`bytes [${covered}, ${e.begin}) before tensor '${e.name}' belong to no tensor (a hole in the data)`);
    covered = e.end;
    previous = e;
  }
  if (covered !== dataBytes) return fail(`the data buffer has ${dataBytes - covered} bytes after the last tensor${previous ? ` '${previous.name}'` : ''} that belong to no tensor`);
  return right({ entries, metadata, dataStart });
}

/** Deepest key path loading rebuilds (segments joined by '.'); deeper names come from crafted files. */
export const MAX_PATH_DEPTH = 64;

/**
 * Empty slots an array level may have beyond one per filled index (an index that held an empty
 * subtree comes back as null): a key `x.999999999` alone would otherwise build a 10^9-slot array.
 */
export const MAX_EXTRA_EMPTY_INDICES = 16;

/** Canonical array index: "0", "12", not "01" or "-1". */
const isIndex = (k: string): boolean => /^(0|[1-9][0-9]*)$/.test(k);

type Node = Map<string, Node | Entry>;

function buildTree(entries: readonly Entry[], make: (e: Entry) => Tensor): Either<string, unknown> {
  const root: Node = new Map();
  for (const e of entries) {
    const parts = e.name.split('.');
    if (parts.some((p) => p === '')) return fail(`tensor '${e.name}': a path with an empty segment cannot be rebuilt into a tree`);
    if (parts.length > MAX_PATH_DEPTH) return fail(`tensor '${e.name.slice(0, 80)}…': its path has ${parts.length} segments, more than the ${MAX_PATH_DEPTH} loading rebuilds (a crafted or corrupt file)`);
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const next = node.get(parts[i]!);
      if (next === undefined) node.set(parts[i]!, (node = new Map()));
      else if (next instanceof Map) node = next;
      else return fail(`tensor '${e.name}' lies under tensor '${next.name}', which is a leaf`);
    }
    const last = parts[parts.length - 1]!;
    if (node.has(last)) return fail(`tensor '${e.name}' is also the parent of other tensors`);
    node.set(last, e);
  }
  // Array lengths are checked over the whole tree before any tensor is made.
  const tooSparse = (node: Node, path: string): string | undefined => {
    const keys = [...node.keys()];
    if (keys.length > 0 && keys.every(isIndex)) {
      const length = keys.reduce((m, k) => Math.max(m, Number(k)), 0) + 1;
      if (length > 2 * keys.length + MAX_EXTRA_EMPTY_INDICES) {
        return `index ${length - 1} under '${path || '<root>'}' would build an array of ${length} slots for ${keys.length} tensor path${keys.length === 1 ? '' : 's'} (at most twice as many slots plus ${MAX_EXTRA_EMPTY_INDICES} are rebuilt): a crafted or corrupt file; load it with \`like\` to read tensors by name`;
      }
    }
    for (const [k, v] of node) {
      if (v instanceof Map) {
        const found = tooSparse(v, path ? `${path}.${k}` : k);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  };
  const sparse = tooSparse(root, '');
  if (sparse !== undefined) return fail(sparse);
  const materialise = (node: Node): unknown => {
    const keys = [...node.keys()];
    const value = (v: Node | Entry): unknown => (v instanceof Map ? materialise(v) : make(v));
    if (keys.length > 0 && keys.every(isIndex)) {
      const length = keys.reduce((m, k) => Math.max(m, Number(k)), 0) + 1;
      // Indices that held no tensor (an empty subtree when saved) come back as null.
      return Array.from({ length }, (_, i) => (node.has(String(i)) ? value(node.get(String(i))!) : null));
    }
    return Object.fromEntries(keys.map((k) => [k, value(node.get(k)!)]));
  };
  return right(materialise(root));
}

function checkAgainst<T>(entries: readonly Entry[], like: T): Either<string, Map<string, Entry>> {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const expected = new Map<string, Tensor>();
  treeMap(like, (leaf, path) => {
    expected.set(path, leaf);
    return leaf;
  });
  for (const [path, leaf] of expected) {
    const e = byName.get(path);
    if (e === undefined) return fail(`tensor '${path}' (${DTYPE_NAMES[leaf.dtype]} [${leaf.shape}]) is missing from the file`);
    if (e.shape.length !== leaf.shape.length || e.shape.some((d, i) => d !== leaf.shape[i])) {
      return fail(`tensor '${path}': the file has shape [${e.shape}] but the model expects [${leaf.shape}]`);
    }
    if (e.dtype !== leaf.dtype) return fail(`tensor '${path}': the file has dtype ${DTYPE_NAMES[e.dtype]} but the model expects ${DTYPE_NAMES[leaf.dtype]}`);
  }
  for (const e of entries) if (!expected.has(e.name)) return fail(`the file has tensor '${e.name}', which the model does not have`);
  return right(byName);
}

/**
 * Decode a safetensors file into a pytree, or a message saying what is wrong with it. Nothing is
 * allocated unless the whole file is valid.
 */
export function decodeSafetensors<T = unknown>(bytes: Uint8Array, options: LoadOptions<T> = {}): Either<string, Loaded<T>> {
  const parsed = parseHeader(bytes);
  if (isLeft(parsed)) return parsed;
  const { entries, metadata, dataStart } = parsed.right;
  for (const e of entries) {
    if (e.dtype !== 'bool') continue;
    // The format stores a boolean as one byte, 0 or 1; anything else is damage, not "true".
    const at = bytes.subarray(dataStart + e.begin, dataStart + e.end).findIndex((b) => b > 1);
    if (at >= 0) return fail(`tensor '${e.name}': BOOL element ${at} is the byte ${bytes[dataStart + e.begin + at]}, not 0 or 1 (a corrupt file)`);
  }
  const make = (e: Entry): Tensor => {
    // A copy starting at offset 0 is aligned for any element size, whatever the file's layout.
    const raw = bytes.slice(dataStart + e.begin, dataStart + e.end);
    const size = e.shape.reduce((n, d) => n * d, 1);
    const data = viewAs(e.dtype, raw.buffer, size);
    return fromArray(data, e.shape, e.dtype);
  };
  if (options.like !== undefined) {
    const checked = checkAgainst(entries, options.like);
    if (isLeft(checked)) return checked;
    const byName = checked.right;
    return right({ tree: treeMap(options.like, (_leaf, path) => make(byName.get(path)!)), metadata });
  }
  const built = buildTree(entries, make);
  if (isLeft(built)) return built;
  return right({ tree: built.right as T, metadata });
}

function viewAs(dtype: DType, buffer: ArrayBufferLike, size: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(buffer, 0, size);
    case 'int32': return new Int32Array(buffer, 0, size);
    case 'uint32': return new Uint32Array(buffer, 0, size);
    case 'bool': return new Uint8Array(buffer, 0, size);
  }
}

/** `decodeSafetensors`, throwing the message as an Error. */
export function deserializeSafetensors<T = unknown>(bytes: Uint8Array, options: LoadOptions<T> = {}): Loaded<T> {
  const r = decodeSafetensors(bytes, options);
  if (isLeft(r)) throw new Error(r.left);
  return r.right;
}

/** Read a checkpoint; errors name the file, the tensor and the problem. */
export async function loadSafetensors<T = unknown>(path: string, options: LoadOptions<T> = {}): Promise<Loaded<T>> {
  const fs = await importNodeModule<typeof import('node:fs/promises')>('node:fs/promises');
  const bytes = new Uint8Array(await fs.readFile(path));
  const r = decodeSafetensors(bytes, options);
  if (isLeft(r)) throw new Error(`${r.left} (in ${path})`);
  return r.right;
}

/**
 * The metadata of a safetensors file, read from its header alone: 8 bytes, then the N header bytes,
 * never the tensors. The header is validated as loading would validate it (size limit, UTF-8, JSON,
 * entries whose offsets tile the data the file's size leaves), so a file this accepts is one
 * `loadSafetensors` reads, bar damage inside the tensor bytes.
 */
export async function readSafetensorsMetadata(path: string): Promise<Record<string, string>> {
  const fs = await importNodeModule<typeof import('node:fs/promises')>('node:fs/promises');
  const handle = await fs.open(path, 'r');
  try {
    const fileBytes = (await handle.stat()).size;
    const prefix = new Uint8Array(8);
    await readFully(handle, prefix, 0);
    const size = fileBytes >= 8 ? new DataView(prefix.buffer).getBigUint64(0, true) : 0n;
    // A size over the limit or past the end is refused by parseHeader from the prefix alone, so nothing that large is allocated.
    const fits = size <= BigInt(MAX_HEADER_BYTES) && 8n + size <= BigInt(fileBytes);
    const bytes = new Uint8Array(8 + (fits ? Number(size) : 0));
    bytes.set(prefix);
    await readFully(handle, bytes.subarray(8), 8);
    const r = parseHeader(bytes, fileBytes);
    if (isLeft(r)) throw new Error(`${r.left} (in ${path})`);
    return r.right.metadata;
  } finally {
    await handle.close();
  }
}

/** Reads `into.length` bytes from `position`, or as many as the file has there (a read may return fewer than asked). */
async function readFully(handle: import('node:fs/promises').FileHandle, into: Uint8Array, position: number): Promise<void> {
  for (let at = 0; at < into.length; ) {
    const { bytesRead } = await handle.read(into, at, into.length - at, position + at);
    if (bytesRead === 0) return;
    at += bytesRead;
  }
}
