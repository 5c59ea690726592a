/**
 * A minimal protocol-buffer wire-format reader and writer for `tf.train.Example`
 * (tensorflow/core/example/example.proto and feature.proto):
 *
 * ```proto
 * message Example  { Features features = 1; }
 * message Features { map<string, Feature> feature = 1; }
 * message Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
 * message BytesList { repeated bytes value = 1; }
 * message FloatList { repeated float value = 1 [packed = true]; }
 * message Int64List { repeated int64 value = 1 [packed = true]; }
 * ```
 *
 * The decoder follows the protobuf encoding rules (protobuf.dev/programming-guides/encoding), so it
 * reads what any conforming writer emits: repeated scalars packed or unpacked (or both, mixed);
 * map entries with key and value in either order or missing (defaults: "" and an empty Feature);
 * repeated occurrences of an embedded message merge; for a duplicated map key or a oneof set twice,
 * the last one wins; fields it does not know (of any wire type, groups included) are skipped.
 *
 * Decoded byte strings are views into the input buffer (no copy): keep the input alive and unchanged
 * while they are in use, or copy them.
 */

export type BytesFeature = { readonly kind: 'bytes'; readonly value: readonly Uint8Array[] };
export type FloatFeature = { readonly kind: 'float'; readonly value: Float32Array };
/** int64 values: a `BigInt64Array`, or safe integers as plain numbers when writing. */
export type Int64Feature = { readonly kind: 'int64'; readonly value: BigInt64Array | readonly number[] };
export type Feature = BytesFeature | FloatFeature | Int64Feature;
/** What `decodeExample` returns: int64 lists always come back as `BigInt64Array`. */
export type DecodedFeature = BytesFeature | FloatFeature | { readonly kind: 'int64'; readonly value: BigInt64Array };

export type EncodeOptions = {
  /** Write repeated floats and int64s packed (the proto3 default, and what TensorFlow writes). Default true. */
  readonly packed?: boolean;
  /** Write each map entry's value before its key; legal protobuf, used to test readers. Default false. */
  readonly valueBeforeKey?: boolean;
};

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_FIXED32 = 5;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Reading

/** A cursor over `bytes[start, end)`; `position` is absolute within `bytes`, for error messages. */
type Cursor = { readonly bytes: Uint8Array; position: number; readonly end: number };

function fail(message: string, at: number): never {
  throw new Error(`protobuf: ${message} at byte ${at} of the Example`);
}

/** A varint that must fit a JS safe integer (tags and lengths). */
function readVarint(cursor: Cursor): number {
  const start = cursor.position;
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (cursor.position >= cursor.end) fail('truncated varint', start);
    const byte = cursor.bytes[cursor.position++]!;
    result += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      if (!Number.isSafeInteger(result)) fail('varint too large for a length or tag', start);
      return result;
    }
    scale *= 128;
  }
  return fail('varint longer than 10 bytes', start);
}

/** A full 64-bit varint as [low 32 bits, high 32 bits], both unsigned. */
function readVarint64(cursor: Cursor): [number, number] {
  const start = cursor.position;
  let low = 0;
  let high = 0;
  for (let i = 0; i < 10; i++) {
    if (cursor.position >= cursor.end) fail('truncated varint', start);
    const byte = cursor.bytes[cursor.position++]!;
    const bits = byte & 0x7f;
    if (i < 4) low |= bits << (7 * i);
    else if (i === 4) {
      low |= bits << 28;
      high |= bits >>> 4;
    } else high |= bits << (7 * i - 32);
    if ((byte & 0x80) === 0) return [low >>> 0, high >>> 0];
  }
  return fail('varint longer than 10 bytes', start);
}

function readLength(cursor: Cursor): Cursor {
  const at = cursor.position;
  const length = readVarint(cursor);
  const start = cursor.position;
  if (length > cursor.end - start) fail(`length ${length} runs past the end of its message`, at);
  cursor.position = start + length;
  return { bytes: cursor.bytes, position: start, end: start + length };
}

/** Protobuf's own recursion limit: groups nested deeper are refused, not followed down the stack. */
export const MAX_GROUP_DEPTH = 100;

/**
 * The most byte strings and features (map entries) one Example may hold. Each costs two encoded bytes
 * but about 120 bytes of memory once decoded (an object per value), so without a cap a 20 MB record
 * of empty byte strings decodes into 1.2 GB; with it, into at most about 130 MB. A BAIR Example holds
 * 30 frames × (2 views + 2 float lists) = about 150 of them.
 */
export const MAX_EXAMPLE_ITEMS = 2 ** 20;

function skipField(cursor: Cursor, wireType: number, fieldNumber: number, tagAt: number, depth = 0): void {
  switch (wireType) {
    case WIRE_VARINT:
      readVarint64(cursor);
      return;
    case WIRE_FIXED64:
      advance(cursor, 8, tagAt);
      return;
    case WIRE_LENGTH_DELIMITED:
      readLength(cursor);
      return;
    case WIRE_FIXED32:
      advance(cursor, 4, tagAt);
      return;
    case WIRE_START_GROUP:
      // A group (proto2's deprecated nested message) runs until the END_GROUP with its field number.
      if (depth >= MAX_GROUP_DEPTH) fail(`groups nested more than ${MAX_GROUP_DEPTH} deep (protobuf's recursion limit; a corrupt or crafted record)`, tagAt);
      for (;;) {
        const innerAt = cursor.position;
        if (innerAt >= cursor.end) fail(`unterminated group ${fieldNumber}`, tagAt);
        const tag = readVarint(cursor);
        if ((tag & 7) === WIRE_END_GROUP) {
          if (Math.floor(tag / 8) !== fieldNumber) fail('mismatched end of group', innerAt);
          return;
        }
        skipField(cursor, tag & 7, Math.floor(tag / 8), innerAt, depth + 1);
      }
    default:
      fail(`invalid wire type ${wireType}`, tagAt);
  }
}

function advance(cursor: Cursor, count: number, at: number): void {
  if (cursor.end - cursor.position < count) fail('truncated fixed-width field', at);
  cursor.position += count;
}

/** Calls `onField` for each field of the message under `cursor`, which must consume or skip it. */
function forEachField(
  cursor: Cursor,
  onField: (fieldNumber: number, wireType: number, tagAt: number) => boolean,
): void {
  while (cursor.position < cursor.end) {
    const tagAt = cursor.position;
    const tag = readVarint(cursor);
    const fieldNumber = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (fieldNumber === 0) fail('field number 0', tagAt);
    if (wireType === WIRE_END_GROUP) fail('unexpected end of group', tagAt);
    if (!onField(fieldNumber, wireType, tagAt)) skipField(cursor, wireType, fieldNumber, tagAt);
  }
}

/** Accumulates one Feature's oneof across repeated occurrences (protobuf merge semantics). */
type FeatureBuilder =
  | { kind: 'none' }
  | { kind: 'bytes'; values: Uint8Array[] }
  | { kind: 'float'; parts: Float32Array[] }
  | { kind: 'int64'; low: number[]; high: number[] };

function readFloatsPacked(cursor: Cursor): Float32Array {
  const body = readLength(cursor);
  const byteLength = body.end - body.position;
  if (byteLength % 4 !== 0) fail(`packed float list of ${byteLength} bytes is not a multiple of 4`, body.position);
  const out = new Float32Array(byteLength / 4);
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(out.buffer).set(body.bytes.subarray(body.position, body.end));
  } else {
    const view = new DataView(body.bytes.buffer, body.bytes.byteOffset + body.position, byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  }
  return out;
}

function readFloatFixed32(cursor: Cursor, at: number): number {
  advance(cursor, 4, at);
  const b = cursor.bytes;
  const p = cursor.position - 4;
  return new DataView(b.buffer, b.byteOffset + p, 4).getFloat32(0, true);
}

/** Counts the byte strings and features an Example decodes into, refusing more than its limit. */
type ItemBudget = { left: number; readonly limit: number };

function spend(budget: ItemBudget, at: number): void {
  if (--budget.left < 0) {
    fail(`more than ${budget.limit} byte strings and features in one Example (a crafted or corrupt record; a BAIR Example holds about 150; decodeExample's maxItems raises the limit)`, at);
  }
}

function readFeature(cursor: Cursor, builder: FeatureBuilder, budget: ItemBudget): FeatureBuilder {
  let current = builder;
  forEachField(cursor, (listField, listWire) => {
    if (listWire !== WIRE_LENGTH_DELIMITED || listField < 1 || listField > 3) return false;
    const list = readLength(cursor);
    if (listField === 1) {
      const values: Uint8Array[] = current.kind === 'bytes' ? current.values : [];
      forEachField(list, (field, wire, tagAt) => {
        if (field !== 1 || wire !== WIRE_LENGTH_DELIMITED) return false;
        spend(budget, tagAt);
        const value = readLength(list);
        values.push(list.bytes.subarray(value.position, value.end));
        return true;
      });
      current = { kind: 'bytes', values };
    } else if (listField === 2) {
      const parts: Float32Array[] = current.kind === 'float' ? current.parts : [];
      let loose: number[] = [];
      forEachField(list, (field, wire, tagAt) => {
        if (field !== 1) return false;
        if (wire === WIRE_LENGTH_DELIMITED) {
          if (loose.length > 0) parts.push(Float32Array.from(loose));
          loose = [];
          parts.push(readFloatsPacked(list));
          return true;
        }
        if (wire === WIRE_FIXED32) {
          loose.push(readFloatFixed32(list, tagAt));
          return true;
        }
        return false;
      });
      if (loose.length > 0) parts.push(Float32Array.from(loose));
      current = { kind: 'float', parts };
    } else {
      const low: number[] = current.kind === 'int64' ? current.low : [];
      const high: number[] = current.kind === 'int64' ? current.high : [];
      const push = (c: Cursor): void => {
        const [l, h] = readVarint64(c);
        low.push(l);
        high.push(h);
      };
      forEachField(list, (field, wire) => {
        if (field !== 1) return false;
        if (wire === WIRE_LENGTH_DELIMITED) {
          const packed = readLength(list);
          while (packed.position < packed.end) push(packed);
          return true;
        }
        if (wire === WIRE_VARINT) {
          push(list);
          return true;
        }
        return false;
      });
      current = { kind: 'int64', low, high };
    }
    return true;
  });
  return current;
}

function buildFeature(builder: FeatureBuilder): DecodedFeature | undefined {
  switch (builder.kind) {
    case 'none':
      return undefined;
    case 'bytes':
      return { kind: 'bytes', value: builder.values };
    case 'float': {
      if (builder.parts.length === 1) return { kind: 'float', value: builder.parts[0]! };
      const total = builder.parts.reduce((n, p) => n + p.length, 0);
      const value = new Float32Array(total);
      let offset = 0;
      for (const part of builder.parts) {
        value.set(part, offset);
        offset += part.length;
      }
      return { kind: 'float', value };
    }
    case 'int64': {
      const value = new BigInt64Array(builder.low.length);
      for (let i = 0; i < value.length; i++) {
        const high = builder.high[i]!;
        const low = builder.low[i]!;
        // Small non-negative values are the common case; skip BigInt arithmetic for them.
        value[i] = high === 0 ? BigInt(low) : BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low));
      }
      return { kind: 'int64', value };
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a serialized `tf.train.Example` into its feature map. A Feature whose oneof is unset
 * carries no values and is left out of the map. Throws on malformed input, naming the byte offset,
 * and on more than `maxItems` byte strings and features (`MAX_EXAMPLE_ITEMS` by default).
 */
export function decodeExample(bytes: Uint8Array, options: { readonly maxItems?: number } = {}): Map<string, DecodedFeature> {
  const limit = options.maxItems ?? MAX_EXAMPLE_ITEMS;
  const budget: ItemBudget = { left: limit, limit };
  const builders = new Map<string, FeatureBuilder>();
  const example: Cursor = { bytes, position: 0, end: bytes.length };
  forEachField(example, (field, wire) => {
    if (field !== 1 || wire !== WIRE_LENGTH_DELIMITED) return false;
    const features = readLength(example);
    forEachField(features, (entryField, entryWire, entryAt) => {
      if (entryField !== 1 || entryWire !== WIRE_LENGTH_DELIMITED) return false;
      spend(budget, entryAt);
      const entry = readLength(features);
      let key = '';
      const value: Cursor[] = [];
      forEachField(entry, (f, w, tagAt) => {
        if (w !== WIRE_LENGTH_DELIMITED || (f !== 1 && f !== 2)) return false;
        const body = readLength(entry);
        if (f === 1) {
          try {
            key = utf8.decode(body.bytes.subarray(body.position, body.end));
          } catch {
            fail('feature key is not valid UTF-8', tagAt);
          }
        } else value.push(body);
        return true;
      });
      // A map entry is a message: several value fields merge, and the key may come after them.
      let builder: FeatureBuilder = { kind: 'none' };
      for (const part of value) builder = readFeature(part, builder, budget);
      builders.set(key, builder);
      return true;
    });
    return true;
  });
  const result = new Map<string, DecodedFeature>();
  for (const [key, builder] of builders) {
    const feature = buildFeature(builder);
    if (feature !== undefined) result.set(key, feature);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Writing: sizes are computed first, then everything is written into one buffer, so a large
// Example (a BAIR clip is ~750 kB) is copied once.

function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function splitInt64(value: bigint | number): [number, number] {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`int64 feature value ${value} is not a safe integer; pass a BigInt64Array`);
    if (value >= 0) return [value % 2 ** 32, Math.floor(value / 2 ** 32)];
    value = BigInt(value);
  }
  const unsigned = BigInt.asUintN(64, value);
  return [Number(unsigned & 0xffffffffn), Number(unsigned >> 32n)];
}

function varint64Size(low: number, high: number): number {
  let size = 1;
  while (high !== 0 || low > 127) {
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
    size++;
  }
  return size;
}

type Writer = { readonly bytes: Uint8Array; readonly view: DataView; position: number };

function writeVarint(w: Writer, value: number): void {
  while (value >= 128) {
    w.bytes[w.position++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  w.bytes[w.position++] = value;
}

function writeVarint64(w: Writer, low: number, high: number): void {
  while (high !== 0 || low > 127) {
    w.bytes[w.position++] = (low & 0x7f) | 0x80;
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
  }
  w.bytes[w.position++] = low;
}

function tag(field: number, wire: number): number {
  return field * 8 + wire;
}

/** Sizes of the parts of one feature, kept so writing need not recompute them. */
type FeaturePlan = {
  readonly key: Uint8Array;
  readonly feature: Feature;
  readonly int64: readonly [number, number][];
  readonly payloadSize: number; // packed payload (floats/int64) or 0
  readonly listSize: number; // body of BytesList / FloatList / Int64List
  readonly featureSize: number; // body of Feature
  readonly entrySize: number; // body of the map entry
};

function planFeature(keyText: string, feature: Feature, packed: boolean): FeaturePlan {
  const key = new TextEncoder().encode(keyText);
  let payloadSize = 0;
  let listSize = 0;
  let int64: [number, number][] = [];
  switch (feature.kind) {
    case 'bytes':
      for (const v of feature.value) listSize += 1 + varintSize(v.length) + v.length;
      break;
    case 'float': {
      const n = feature.value.length;
      payloadSize = 4 * n;
      listSize = packed ? (n > 0 ? 1 + varintSize(payloadSize) + payloadSize : 0) : 5 * n;
      break;
    }
    case 'int64': {
      int64 = Array.from(feature.value as ArrayLike<bigint | number>, (v) => splitInt64(v));
      for (const [low, high] of int64) payloadSize += varint64Size(low, high);
      listSize = packed ? (int64.length > 0 ? 1 + varintSize(payloadSize) + payloadSize : 0) : int64.length + payloadSize;
      break;
    }
  }
  const featureSize = 1 + varintSize(listSize) + listSize;
  const entrySize = 1 + varintSize(key.length) + key.length + 1 + varintSize(featureSize) + featureSize;
  return { key, feature, int64, payloadSize, listSize, featureSize, entrySize };
}

function writeFeature(w: Writer, plan: FeaturePlan, packed: boolean): void {
  const { feature } = plan;
  const listField = feature.kind === 'bytes' ? 1 : feature.kind === 'float' ? 2 : 3;
  writeVarint(w, tag(listField, WIRE_LENGTH_DELIMITED));
  writeVarint(w, plan.listSize);
  switch (feature.kind) {
    case 'bytes':
      for (const v of feature.value) {
        writeVarint(w, tag(1, WIRE_LENGTH_DELIMITED));
        writeVarint(w, v.length);
        w.bytes.set(v, w.position);
        w.position += v.length;
      }
      return;
    case 'float':
      if (packed) {
        if (feature.value.length === 0) return;
        writeVarint(w, tag(1, WIRE_LENGTH_DELIMITED));
        writeVarint(w, plan.payloadSize);
        for (const x of feature.value) {
          w.view.setFloat32(w.position, x, true);
          w.position += 4;
        }
      } else {
        for (const x of feature.value) {
          writeVarint(w, tag(1, WIRE_FIXED32));
          w.view.setFloat32(w.position, x, true);
          w.position += 4;
        }
      }
      return;
    case 'int64':
      if (packed) {
        if (plan.int64.length === 0) return;
        writeVarint(w, tag(1, WIRE_LENGTH_DELIMITED));
        writeVarint(w, plan.payloadSize);
        for (const [low, high] of plan.int64) writeVarint64(w, low, high);
      } else {
        for (const [low, high] of plan.int64) {
          writeVarint(w, tag(1, WIRE_VARINT));
          writeVarint64(w, low, high);
        }
      }
      return;
  }
}

/**
 * Serializes a `tf.train.Example` with the given features, in the map's (or object's) key order.
 * Int64 values given as numbers must be safe integers.
 */
export function encodeExample(
  features: ReadonlyMap<string, Feature> | Readonly<Record<string, Feature>>,
  options: EncodeOptions = {},
): Uint8Array {
  const packed = options.packed ?? true;
  const entries: Iterable<[string, Feature]> =
    features instanceof Map ? features.entries() : Object.entries(features as Readonly<Record<string, Feature>>);
  const plans: FeaturePlan[] = [];
  let featuresSize = 0;
  for (const [key, feature] of entries) {
    const plan = planFeature(key, feature, packed);
    plans.push(plan);
    featuresSize += 1 + varintSize(plan.entrySize) + plan.entrySize;
  }
  const total = 1 + varintSize(featuresSize) + featuresSize;
  const bytes = new Uint8Array(total);
  const w: Writer = { bytes, view: new DataView(bytes.buffer), position: 0 };
  writeVarint(w, tag(1, WIRE_LENGTH_DELIMITED));
  writeVarint(w, featuresSize);
  for (const plan of plans) {
    writeVarint(w, tag(1, WIRE_LENGTH_DELIMITED));
    writeVarint(w, plan.entrySize);
    const writeKey = (): void => {
      writeVarint(w, tag(1, WIRE_LENGTH_DELIMITED));
      writeVarint(w, plan.key.length);
      bytes.set(plan.key, w.position);
      w.position += plan.key.length;
    };
    const writeValue = (): void => {
      writeVarint(w, tag(2, WIRE_LENGTH_DELIMITED));
      writeVarint(w, plan.featureSize);
      writeFeature(w, plan, packed);
    };
    if (options.valueBeforeKey) {
      writeValue();
      writeKey();
    } else {
      writeKey();
      writeValue();
    }
  }
  if (w.position !== total) throw new Error(`protobuf: internal size mismatch (${w.position} != ${total})`);
  return bytes;
}
