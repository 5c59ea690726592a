/**
 * A small WebAssembly bytecode assembler: enough of the binary format (Core spec §5, plus the
 * 128-bit SIMD and relaxed-SIMD proposals) to write the wasm backend's kernels in TypeScript and
 * compile them at run time. No text format, no toolchain: a `ModuleBuilder` collects types, one
 * imported memory and functions, and `encode()` writes the bytes.
 *
 * Function bodies are written with a `Code` emitter whose methods are the instructions, named after
 * the text format (`i32.add` → `i32Add`). Structured control takes callbacks and hands them a
 * `Label`; branches name a label and the emitter works out the relative depth, which is the part
 * people get wrong when writing wasm by hand.
 */

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128';

const VALTYPE: Record<ValType, number> = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b };

// ---------------------------------------------------------------- primitive encodings

/** Unsigned LEB128 of a non-negative integer below 2^53 (wasm uses it for u32 and lengths). */
export function unsignedLEB128(value: number): number[] {
  if (!Number.isInteger(value) || value < 0) throw new Error(`unsignedLEB128: ${value} is not a non-negative integer`);
  const out: number[] = [];
  let v = value;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer (an i32.const immediate); values above 2^31 wrap like i32. */
export function signedLEB128(value: number): number[] {
  if (!Number.isInteger(value)) throw new Error(`signedLEB128: ${value} is not an integer`);
  let v = value | 0;
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** A name: its UTF-8 length then its bytes. */
export function encodeName(name: string): number[] {
  const bytes = [...new TextEncoder().encode(name)];
  return [...unsignedLEB128(bytes.length), ...bytes];
}

function f32Bytes(value: number): number[] {
  return [...new Uint8Array(new Float32Array([value]).buffer)];
}

function vec(items: readonly number[][]): number[] {
  return [...unsignedLEB128(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return body.length === 0 ? [] : [id, ...unsignedLEB128(body.length), ...body];
}

// ---------------------------------------------------------------- opcodes

/** The single-byte instructions used here, from the core spec's binary-format index. */
const OP = {
  unreachable: 0x00, nop: 0x01, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b,
  br: 0x0c, brIf: 0x0d, return: 0x0f, call: 0x10, drop: 0x1a, select: 0x1b,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load: 0x28, f32Load: 0x2a, i32Load8U: 0x2d, i32Store: 0x36, f32Store: 0x38, i32Store8: 0x3a,
  i32Const: 0x41, f32Const: 0x43,
  i32Eqz: 0x45, i32Eq: 0x46, i32Ne: 0x47, i32LtS: 0x48, i32LtU: 0x49, i32GtS: 0x4a, i32GtU: 0x4b,
  i32LeS: 0x4c, i32LeU: 0x4d, i32GeS: 0x4e, i32GeU: 0x4f,
  f32Eq: 0x5b, f32Ne: 0x5c, f32Lt: 0x5d, f32Gt: 0x5e, f32Le: 0x5f, f32Ge: 0x60,
  i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32DivS: 0x6d, i32DivU: 0x6e, i32RemS: 0x6f, i32RemU: 0x70,
  i32And: 0x71, i32Or: 0x72, i32Xor: 0x73, i32Shl: 0x74, i32ShrS: 0x75, i32ShrU: 0x76, i32Rotl: 0x77, i32Rotr: 0x78,
  f32Abs: 0x8b, f32Neg: 0x8c, f32Ceil: 0x8d, f32Floor: 0x8e, f32Trunc: 0x8f, f32Nearest: 0x90, f32Sqrt: 0x91,
  f32Add: 0x92, f32Sub: 0x93, f32Mul: 0x94, f32Div: 0x95, f32Min: 0x96, f32Max: 0x97, f32Copysign: 0x98,
  i32TruncF32S: 0xa8, f32ConvertI32S: 0xb2, f32ConvertI32U: 0xb3, i32ReinterpretF32: 0xbc, f32ReinterpretI32: 0xbe,
} as const;

/** SIMD instructions: prefix 0xfd, then the opcode as a u32 LEB128 (SIMD proposal, Appendix). */
export const SIMD = {
  v128Load: 0x00, v128Load32Splat: 0x09, v128Store: 0x0b, v128Const: 0x0c, i8x16Shuffle: 0x0d,
  i32x4Splat: 0x11, f32x4Splat: 0x13,
  i32x4ExtractLane: 0x1b, i32x4ReplaceLane: 0x1c, f32x4ExtractLane: 0x1f, f32x4ReplaceLane: 0x20,
  i32x4Eq: 0x37, i32x4Ne: 0x38, i32x4LtS: 0x39, i32x4GtS: 0x3b,
  f32x4Eq: 0x41, f32x4Ne: 0x42, f32x4Lt: 0x43, f32x4Gt: 0x44, f32x4Le: 0x45, f32x4Ge: 0x46,
  v128Not: 0x4d, v128And: 0x4e, v128Andnot: 0x4f, v128Or: 0x50, v128Xor: 0x51, v128Bitselect: 0x52, v128AnyTrue: 0x53,
  v128Load32Zero: 0x5c,
  f32x4Ceil: 0x67, f32x4Floor: 0x68,
  i8x16NarrowI16x8S: 0x65, i16x8NarrowI32x4S: 0x85, i16x8ExtendLowI8x16U: 0x89, i32x4ExtendLowI16x8U: 0xa9,
  i32x4Shl: 0xab, i32x4ShrS: 0xac, i32x4ShrU: 0xad, i32x4Add: 0xae, i32x4Sub: 0xb1, i32x4Mul: 0xb5,
  i32x4MinS: 0xb6, i32x4MaxS: 0xb8,
  f32x4Abs: 0xe0, f32x4Neg: 0xe1, f32x4Sqrt: 0xe3, f32x4Add: 0xe4, f32x4Sub: 0xe5, f32x4Mul: 0xe6, f32x4Div: 0xe7,
  f32x4Min: 0xe8, f32x4Max: 0xe9, f32x4Pmin: 0xea, f32x4Pmax: 0xeb,
  i32x4TruncSatF32x4S: 0xf8, f32x4ConvertI32x4S: 0xfa,
  /** Relaxed SIMD: a·b + c, fused or not at the engine's choice. */
  f32x4RelaxedMadd: 0x105,
} as const;

// ---------------------------------------------------------------- function bodies

/** A branch target handed to the body of `block`, `loop` and `if`. */
export interface Label {
  readonly depth: number;
}

/** A function's locals; parameters come first, so parameter i is local i. */
export type Local = number;

export class Code {
  readonly bytes: number[] = [];
  private readonly localTypes: ValType[] = [];
  private depth = 0;

  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[]) {}

  /** Declare a new local of the given type and return its index. */
  local(type: ValType): Local {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  /** The local declarations, run-length grouped as the binary format wants. */
  encodeLocals(): number[] {
    const groups: number[][] = [];
    let i = 0;
    while (i < this.localTypes.length) {
      const t = this.localTypes[i]!;
      let j = i;
      while (j < this.localTypes.length && this.localTypes[j] === t) j++;
      groups.push([...unsignedLEB128(j - i), VALTYPE[t]]);
      i = j;
    }
    return vec(groups);
  }

  /** Raw bytes, for instructions without a method. */
  emit(...bytes: number[]): this {
    for (const b of bytes) this.bytes.push(b);
    return this;
  }

  private op(code: number): this {
    this.bytes.push(code);
    return this;
  }

  private simd(code: number): this {
    this.bytes.push(0xfd, ...unsignedLEB128(code));
    return this;
  }

  private memarg(alignLog2: number, offset: number): this {
    return this.emit(...unsignedLEB128(alignLog2), ...unsignedLEB128(offset));
  }

  // structured control

  private structured(opcode: number, result: ValType | undefined, body: (label: Label) => void): this {
    this.emit(opcode, result ? VALTYPE[result] : 0x40);
    this.depth++;
    body({ depth: this.depth });
    this.depth--;
    return this.op(OP.end);
  }

  /** `block`: a branch to its label jumps past its end. */
  block(body: (exit: Label) => void, result?: ValType): this {
    return this.structured(OP.block, result, body);
  }

  /** `loop`: a branch to its label jumps back to its start. */
  loop(body: (top: Label) => void, result?: ValType): this {
    return this.structured(OP.loop, result, body);
  }

  /** `if … else … end` on the i32 condition on the stack. */
  if(then: (exit: Label) => void, otherwise?: (exit: Label) => void, result?: ValType): this {
    this.emit(OP.if, result ? VALTYPE[result] : 0x40);
    this.depth++;
    const label = { depth: this.depth };
    then(label);
    if (otherwise) {
      this.op(OP.else);
      otherwise(label);
    }
    this.depth--;
    return this.op(OP.end);
  }

  private relative(label: Label): number[] {
    const d = this.depth - label.depth;
    if (d < 0) throw new Error('assembler: branch to a label that is no longer open');
    return unsignedLEB128(d);
  }

  br(label: Label): this {
    return this.emit(OP.br, ...this.relative(label));
  }

  brIf(label: Label): this {
    return this.emit(OP.brIf, ...this.relative(label));
  }

  return(): this {
    return this.op(OP.return);
  }

  unreachable(): this {
    return this.op(OP.unreachable);
  }

  call(funcIndex: number): this {
    return this.emit(OP.call, ...unsignedLEB128(funcIndex));
  }

  drop(): this {
    return this.op(OP.drop);
  }

  select(): this {
    return this.op(OP.select);
  }

  /**
   * `for (i = from; i < to; i += step) body()`, signed compare; `from`/`to` are locals or constants
   * (`{ const: n }`), `step` a number or `{ local }`. The body may branch to the returned labels: `exit` breaks, `next` continues.
   */
  forRange(i: Local, from: Local | { const: number }, to: Local | { const: number }, step: number | { local: Local }, body: (loop: { exit: Label; next: Label }) => void): this {
    this.get(from).localSet(i);
    return this.block((exit) => {
      this.loop((top) => {
        this.localGet(i).get(to).i32GeS().brIf(exit);
        this.block((next) => body({ exit, next }));
        this.localGet(i);
        if (typeof step === 'number') this.i32Const(step);
        else this.localGet(step.local);
        this.i32Add().localSet(i).br(top);
      });
    });
  }

  /** Push a local or an i32 constant. */
  get(x: Local | { const: number }): this {
    return typeof x === 'number' ? this.localGet(x) : this.i32Const(x.const);
  }

  // locals

  localGet(i: Local): this {
    return this.emit(OP.localGet, ...unsignedLEB128(i));
  }

  localSet(i: Local): this {
    return this.emit(OP.localSet, ...unsignedLEB128(i));
  }

  localTee(i: Local): this {
    return this.emit(OP.localTee, ...unsignedLEB128(i));
  }

  // memory (offsets are bytes added to the address on the stack)

  i32Load(offset = 0): this {
    return this.op(OP.i32Load).memarg(2, offset);
  }

  i32Load8U(offset = 0): this {
    return this.op(OP.i32Load8U).memarg(0, offset);
  }

  f32Load(offset = 0): this {
    return this.op(OP.f32Load).memarg(2, offset);
  }

  i32Store(offset = 0): this {
    return this.op(OP.i32Store).memarg(2, offset);
  }

  i32Store8(offset = 0): this {
    return this.op(OP.i32Store8).memarg(0, offset);
  }

  f32Store(offset = 0): this {
    return this.op(OP.f32Store).memarg(2, offset);
  }

  // constants

  i32Const(v: number): this {
    return this.emit(OP.i32Const, ...signedLEB128(v));
  }

  f32Const(v: number): this {
    return this.emit(OP.f32Const, ...f32Bytes(v));
  }

  // i32

  i32Eqz(): this { return this.op(OP.i32Eqz); }
  i32Eq(): this { return this.op(OP.i32Eq); }
  i32Ne(): this { return this.op(OP.i32Ne); }
  i32LtS(): this { return this.op(OP.i32LtS); }
  i32LtU(): this { return this.op(OP.i32LtU); }
  i32GtS(): this { return this.op(OP.i32GtS); }
  i32GtU(): this { return this.op(OP.i32GtU); }
  i32LeS(): this { return this.op(OP.i32LeS); }
  i32LeU(): this { return this.op(OP.i32LeU); }
  i32GeS(): this { return this.op(OP.i32GeS); }
  i32GeU(): this { return this.op(OP.i32GeU); }
  i32Add(): this { return this.op(OP.i32Add); }
  i32Sub(): this { return this.op(OP.i32Sub); }
  i32Mul(): this { return this.op(OP.i32Mul); }
  i32DivS(): this { return this.op(OP.i32DivS); }
  i32DivU(): this { return this.op(OP.i32DivU); }
  i32RemS(): this { return this.op(OP.i32RemS); }
  i32RemU(): this { return this.op(OP.i32RemU); }
  i32And(): this { return this.op(OP.i32And); }
  i32Or(): this { return this.op(OP.i32Or); }
  i32Xor(): this { return this.op(OP.i32Xor); }
  i32Shl(): this { return this.op(OP.i32Shl); }
  i32ShrS(): this { return this.op(OP.i32ShrS); }
  i32ShrU(): this { return this.op(OP.i32ShrU); }
  i32Rotl(): this { return this.op(OP.i32Rotl); }
  i32Rotr(): this { return this.op(OP.i32Rotr); }

  // f32

  f32Eq(): this { return this.op(OP.f32Eq); }
  f32Ne(): this { return this.op(OP.f32Ne); }
  f32Lt(): this { return this.op(OP.f32Lt); }
  f32Gt(): this { return this.op(OP.f32Gt); }
  f32Le(): this { return this.op(OP.f32Le); }
  f32Ge(): this { return this.op(OP.f32Ge); }
  f32Abs(): this { return this.op(OP.f32Abs); }
  f32Neg(): this { return this.op(OP.f32Neg); }
  f32Ceil(): this { return this.op(OP.f32Ceil); }
  f32Floor(): this { return this.op(OP.f32Floor); }
  f32Trunc(): this { return this.op(OP.f32Trunc); }
  f32Nearest(): this { return this.op(OP.f32Nearest); }
  f32Sqrt(): this { return this.op(OP.f32Sqrt); }
  f32Add(): this { return this.op(OP.f32Add); }
  f32Sub(): this { return this.op(OP.f32Sub); }
  f32Mul(): this { return this.op(OP.f32Mul); }
  f32Div(): this { return this.op(OP.f32Div); }
  f32Min(): this { return this.op(OP.f32Min); }
  f32Max(): this { return this.op(OP.f32Max); }
  f32Copysign(): this { return this.op(OP.f32Copysign); }
  i32TruncF32S(): this { return this.op(OP.i32TruncF32S); }
  f32ConvertI32S(): this { return this.op(OP.f32ConvertI32S); }
  f32ConvertI32U(): this { return this.op(OP.f32ConvertI32U); }
  i32ReinterpretF32(): this { return this.op(OP.i32ReinterpretF32); }
  f32ReinterpretI32(): this { return this.op(OP.f32ReinterpretI32); }

  // v128

  v128Load(offset = 0): this {
    return this.simd(SIMD.v128Load).memarg(4, offset);
  }

  /** Load one f32/i32 and splat it to all four lanes. */
  v128Load32Splat(offset = 0): this {
    return this.simd(SIMD.v128Load32Splat).memarg(2, offset);
  }

  /** Load 32 bits into lane 0, zeros elsewhere. */
  v128Load32Zero(offset = 0): this {
    return this.simd(SIMD.v128Load32Zero).memarg(2, offset);
  }

  v128Store(offset = 0): this {
    return this.simd(SIMD.v128Store).memarg(4, offset);
  }

  v128Const(bytes: readonly number[]): this {
    if (bytes.length !== 16) throw new Error('v128.const takes 16 bytes');
    return this.simd(SIMD.v128Const).emit(...bytes);
  }

  f32x4Const(a: number, b = a, c = a, d = a): this {
    return this.v128Const([...f32Bytes(a), ...f32Bytes(b), ...f32Bytes(c), ...f32Bytes(d)]);
  }

  i8x16Shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16 || lanes.some((l) => l < 0 || l > 31)) throw new Error('i8x16.shuffle takes 16 lane indices below 32');
    return this.simd(SIMD.i8x16Shuffle).emit(...lanes);
  }

  f32x4ExtractLane(lane: number): this {
    return this.simd(SIMD.f32x4ExtractLane).emit(lane);
  }

  f32x4ReplaceLane(lane: number): this {
    return this.simd(SIMD.f32x4ReplaceLane).emit(lane);
  }

  i32x4ExtractLane(lane: number): this {
    return this.simd(SIMD.i32x4ExtractLane).emit(lane);
  }

  i32x4ReplaceLane(lane: number): this {
    return this.simd(SIMD.i32x4ReplaceLane).emit(lane);
  }

  /** Any SIMD instruction without an immediate, by its opcode in `SIMD`. */
  v(code: number): this {
    return this.simd(code);
  }

  i32x4Splat(): this { return this.simd(SIMD.i32x4Splat); }
  f32x4Splat(): this { return this.simd(SIMD.f32x4Splat); }
  f32x4Add(): this { return this.simd(SIMD.f32x4Add); }
  f32x4Sub(): this { return this.simd(SIMD.f32x4Sub); }
  f32x4Mul(): this { return this.simd(SIMD.f32x4Mul); }
  f32x4Div(): this { return this.simd(SIMD.f32x4Div); }
  f32x4Min(): this { return this.simd(SIMD.f32x4Min); }
  f32x4Max(): this { return this.simd(SIMD.f32x4Max); }
  f32x4RelaxedMadd(): this { return this.simd(SIMD.f32x4RelaxedMadd); }
  i32x4Add(): this { return this.simd(SIMD.i32x4Add); }
  i32x4Sub(): this { return this.simd(SIMD.i32x4Sub); }
  i32x4Mul(): this { return this.simd(SIMD.i32x4Mul); }
  i32x4Shl(): this { return this.simd(SIMD.i32x4Shl); }
  i32x4ShrU(): this { return this.simd(SIMD.i32x4ShrU); }
  v128And(): this { return this.simd(SIMD.v128And); }
  v128Or(): this { return this.simd(SIMD.v128Or); }
  v128Xor(): this { return this.simd(SIMD.v128Xor); }
  v128Bitselect(): this { return this.simd(SIMD.v128Bitselect); }
}

// ---------------------------------------------------------------- modules

export interface MemoryImport {
  module: string;
  name: string;
  /** Pages of 64 KiB. */
  initial: number;
  maximum?: number;
  /** A shared memory (threads proposal) needs a maximum. */
  shared?: boolean;
}

interface FuncDef {
  name: string | null;
  typeIndex: number;
  code: Code;
}

export interface FuncSignature {
  params: readonly ValType[];
  results?: readonly ValType[];
}

export class ModuleBuilder {
  private readonly types: string[] = [];
  private readonly typeBytes: number[][] = [];
  private readonly funcs: FuncDef[] = [];
  private memory: MemoryImport | null = null;

  /** Import the module's one linear memory. */
  importMemory(memory: MemoryImport): this {
    if (memory.shared && memory.maximum === undefined) throw new Error('assembler: a shared memory needs a maximum');
    this.memory = memory;
    return this;
  }

  private typeIndex(params: readonly ValType[], results: readonly ValType[]): number {
    const key = `${params.join(',')}->${results.join(',')}`;
    let i = this.types.indexOf(key);
    if (i < 0) {
      i = this.types.length;
      this.types.push(key);
      this.typeBytes.push([0x60, ...vec(params.map((p) => [VALTYPE[p]])), ...vec(results.map((r) => [VALTYPE[r]]))]);
    }
    return i;
  }

  /**
   * Add a function; `name` exports it (null keeps it internal). Returns its index, for `call`.
   * The body callback receives the emitter; parameter i is local i.
   */
  func(name: string | null, sig: FuncSignature, body: (code: Code, ...params: Local[]) => void): number {
    const results = sig.results ?? [];
    const code = new Code(sig.params, results);
    body(code, ...sig.params.map((_, i) => i));
    this.funcs.push({ name, typeIndex: this.typeIndex(sig.params, results), code });
    return this.funcs.length - 1;
  }

  /** The number of functions so far: the index the next `func` call returns. */
  get functionCount(): number {
    return this.funcs.length;
  }

  encode(): Uint8Array<ArrayBuffer> {
    const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const types = section(1, vec(this.typeBytes));
    let imports: number[] = [];
    if (this.memory) {
      const m = this.memory;
      const limits = m.maximum === undefined ? [0x00, ...unsignedLEB128(m.initial)] : [m.shared ? 0x03 : 0x01, ...unsignedLEB128(m.initial), ...unsignedLEB128(m.maximum)];
      imports = section(2, vec([[...encodeName(m.module), ...encodeName(m.name), 0x02, ...limits]]));
    }
    const functions = section(3, vec(this.funcs.map((f) => unsignedLEB128(f.typeIndex))));
    const exported = this.funcs.map((f, i) => [f, i] as const).filter(([f]) => f.name !== null);
    const exports = section(7, vec(exported.map(([f, i]) => [...encodeName(f.name!), 0x00, ...unsignedLEB128(i)])));
    const bodies = this.funcs.map((f) => {
      const body = [...f.code.encodeLocals(), ...f.code.bytes, OP.end];
      return [...unsignedLEB128(body.length), ...body];
    });
    const code = section(10, vec(bodies));
    // The custom "name" section (function names, subsection 1): profilers (`node --cpu-prof`, the
    // browsers' performance panels) then show `matmul` or `winogradInFwd4` instead of `wasm-function[2]`.
    // Internal functions are named `internal<index>`. Engines ignore it when they run the code.
    const names = vec(this.funcs.map((f, i) => [...unsignedLEB128(i), ...encodeName(f.name ?? `internal${i}`)]));
    const nameSection = section(0, [...encodeName('name'), 1, ...unsignedLEB128(names.length), ...names]);
    return new Uint8Array([...header, ...types, ...imports, ...functions, ...exports, ...code, ...nameSection]);
  }
}
