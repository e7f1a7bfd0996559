// NumPy .npy files (format version 1.0) of little-endian float32, float64 or int32 in C
// order: what the CLI writes and what numpy.load reads, so samples, logEvidence, ess and
// logWeights travel to Python as they are. Layout (NumPy's format spec, NEP 1):
//   "\x93NUMPY"  major 1  minor 0  HEADER_LEN (uint16 LE)  header  data
// where the header is the repr of a dict, padded with spaces and ended by "\n" so that
// 6 + 2 + 2 + HEADER_LEN is a multiple of 64 (the data starts 64-byte aligned).
import * as os from 'node:os';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
/** NumPy's ARRAY_ALIGN: total header length (magic to "\n") is a multiple of it. */
export const NPY_ALIGN = 64;

/** The arrays a .npy file can hold here, by NumPy dtype. */
export type NpyData = Float32Array | Float64Array | Int32Array;
export type NpyDtype = 'float32' | 'float64' | 'int32';
interface NpyArrayTypes {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
}

/** NumPy's type strings (descr) for each dtype; '<' is little-endian. */
const DESCR: Record<NpyDtype, string> = { float32: '<f4', float64: '<f8', int32: '<i4' };
const ARRAY: { [K in NpyDtype]: new (n: number) => NpyArrayTypes[K] } = { float32: Float32Array, float64: Float64Array, int32: Int32Array };

function dtypeOf(data: unknown): NpyDtype | undefined {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  return undefined;
}

function shapeLiteral(shape: readonly number[]): string {
  // Python tuple repr: (), (K,), (K, D), …
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

function checkShape(shape: unknown, length: number): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`shape must be an array of non-negative integers, got ${typeof shape}`);
  let count = 1;
  shape.forEach((n, i) => {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`shape[${i}] must be a non-negative integer, got ${String(n)}`);
    }
    count *= n;
  });
  if (count !== length) throw new RangeError(`shape [${shape.join(', ')}] holds ${count} values, but the data has ${length}`);
  return shape as number[];
}

/**
 * The bytes of a .npy v1.0 file holding `data` (C order) with the given shape (default: one
 * dimension, [data.length]). Float32Array is written as '<f4', Float64Array as '<f8',
 * Int32Array as '<i4': `numpy.load` gives float32, float64 and int32 arrays.
 */
export function encodeNpy(data: NpyData, shape: readonly number[] = [data?.length]): Buffer {
  const dtype = dtypeOf(data);
  if (dtype === undefined) throw new TypeError(`data must be a Float32Array, Float64Array or Int32Array, got ${describe(data)}`);
  checkShape(shape, data.length);
  const dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeLiteral(shape)}, }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1; // + the final "\n"
  const total = Math.ceil(unpadded / NPY_ALIGN) * NPY_ALIGN;
  const headerLen = total - (MAGIC.length + 4);
  if (headerLen > 0xffff) throw new RangeError(`the .npy header would be ${headerLen} bytes, more than version 1.0 allows (65535)`);
  const header = dict + ' '.repeat(total - unpadded) + '\n';
  const out = Buffer.alloc(total + data.byteLength);
  MAGIC.copy(out, 0);
  out[6] = 1; // major
  out[7] = 0; // minor
  out.writeUInt16LE(headerLen, 8);
  out.write(header, 10, 'latin1');
  if (os.endianness() === 'LE') {
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, total);
  } else {
    const size = data.BYTES_PER_ELEMENT;
    for (let i = 0; i < data.length; i++) {
      const at = total + size * i;
      if (dtype === 'float32') out.writeFloatLE(data[i], at);
      else if (dtype === 'float64') out.writeDoubleLE(data[i], at);
      else out.writeInt32LE(data[i], at);
    }
  }
  return out;
}

export interface DecodedNpy<T extends NpyData = NpyData> {
  data: T;
  shape: number[];
  /** NumPy's type string: '<f4', '<f8' or '<i4'. */
  descr: string;
  dtype: NpyDtype;
  fortranOrder: boolean;
  version: [number, number];
  /** Bytes before the data: magic, version, length field and header. */
  headerLength: number;
}

/**
 * Reads a .npy file of little-endian float32, float64 or int32 in C order (what encodeNpy
 * and numpy.save write for those dtypes). With `expected`, a file of another dtype is a
 * RangeError, and the data's type is known to TypeScript.
 */
export function decodeNpy<D extends NpyDtype>(bytes: Uint8Array, expected: D): DecodedNpy<NpyArrayTypes[D]>;
export function decodeNpy(bytes: Uint8Array): DecodedNpy;
export function decodeNpy(bytes: Uint8Array, expected?: NpyDtype): DecodedNpy {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`bytes must be a Buffer or Uint8Array, got ${describe(bytes)}`);
  if (expected !== undefined && !(expected in DESCR)) throw new RangeError(`expected must be one of float32, float64, int32, got ${JSON.stringify(expected)}`);
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) throw new RangeError('not a .npy file: the magic string \\x93NUMPY is missing');
  const major = b[6], minor = b[7];
  let headerLen: number, start: number;
  if (major === 1) {
    headerLen = b.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (b.length < 12) throw new RangeError('truncated .npy header');
    headerLen = b.readUInt32LE(8);
    start = 12;
  } else {
    throw new RangeError(`unsupported .npy format version ${major}.${minor}`);
  }
  const dataStart = start + headerLen;
  if (b.length < dataStart) throw new RangeError('truncated .npy header');
  const header = b.subarray(start, dataStart).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new RangeError(`malformed .npy header: ${JSON.stringify(header)}`);
  const dtype = (Object.keys(DESCR) as NpyDtype[]).find((d) => DESCR[d] === descr);
  if (dtype === undefined) throw new RangeError(`only little-endian float32, float64 and int32 ('<f4', '<f8', '<i4') are supported, got '${descr}'`);
  if (expected !== undefined && dtype !== expected) throw new RangeError(`expected a ${expected} ('${DESCR[expected]}') array, got '${descr}' (${dtype})`);
  if (fortran !== 'False') throw new RangeError('only C-order arrays are supported, got fortran_order True');
  // Python writes (), (n,) and (n, m): only a trailing comma may be empty ((2,,3) is not a shape).
  const parts = shapeText.split(',').map((s) => s.trim());
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 1 && parts[0] === '') parts.pop();
  const shape = parts.map((s) => {
    if (!/^\d+$/.test(s)) throw new RangeError(`malformed .npy shape: (${shapeText})`);
    return Number(s);
  });
  const count = shape.reduce((a, n) => a * n, 1);
  const size = dtype === 'float64' ? 8 : 4;
  // Against the bytes there are before allocating: a header may claim any shape.
  if (b.length !== dataStart + size * count) throw new RangeError(`the .npy data should be ${size * count} bytes, got ${b.length - dataStart}`);
  const data = new ARRAY[dtype](count);
  if (os.endianness() === 'LE') {
    // A copy, so the data is aligned whatever the offset of `bytes` in its buffer.
    b.copy(Buffer.from(data.buffer, data.byteOffset, data.byteLength), 0, dataStart);
  } else {
    for (let i = 0; i < count; i++) {
      const at = dataStart + size * i;
      data[i] = dtype === 'float32' ? b.readFloatLE(at) : dtype === 'float64' ? b.readDoubleLE(at) : b.readInt32LE(at);
    }
  }
  return { data, shape, descr, dtype, fortranOrder: false, version: [major, minor], headerLength: dataStart };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return typeof v;
}
