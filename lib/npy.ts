// NumPy .npy files (format version 1.0), float32 little-endian, C order: what the CLI
// writes, readable by numpy.load. Layout (NumPy's format spec, NEP 1):
//   "\x93NUMPY"  major 1  minor 0  HEADER_LEN (uint16 LE)  header  data
// where the header is the repr of a dict, padded with spaces and ended by "\n" so that
// 6 + 2 + 2 + HEADER_LEN is a multiple of 64 (the data starts 64-byte aligned).
import * as os from 'node:os';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
/** NumPy's ARRAY_ALIGN: total header length (magic to "\n") is a multiple of it. */
export const NPY_ALIGN = 64;

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

/** The bytes of a .npy v1.0 file holding `data` (float32, C order) with the given shape. */
export function encodeNpy(data: Float32Array, shape: number[]): Buffer {
  if (!(data instanceof Float32Array)) throw new TypeError('data must be a Float32Array');
  checkShape(shape, data.length);
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeLiteral(shape)}, }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1; // + the final "\n"
  const total = Math.ceil(unpadded / NPY_ALIGN) * NPY_ALIGN;
  const headerLen = total - (MAGIC.length + 4);
  if (headerLen > 0xffff) throw new RangeError(`the .npy header would be ${headerLen} bytes, more than version 1.0 allows (65535)`);
  const header = dict + ' '.repeat(total - unpadded) + '\n';
  const out = Buffer.alloc(total + data.length * 4);
  MAGIC.copy(out, 0);
  out[6] = 1; // major
  out[7] = 0; // minor
  out.writeUInt16LE(headerLen, 8);
  out.write(header, 10, 'latin1');
  if (os.endianness() === 'LE') {
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, total);
  } else {
    for (let i = 0; i < data.length; i++) out.writeFloatLE(data[i], total + 4 * i);
  }
  return out;
}

export interface DecodedNpy {
  data: Float32Array;
  shape: number[];
  descr: string;
  fortranOrder: boolean;
  version: [number, number];
  /** Bytes before the data: magic, version, length field and header. */
  headerLength: number;
}

/** Reads a .npy file of little-endian float32 in C order (what encodeNpy writes). */
export function decodeNpy(buf: Uint8Array): DecodedNpy {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
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
  if (descr !== '<f4') throw new RangeError(`only little-endian float32 ('<f4') is supported, got '${descr}'`);
  if (fortran !== 'False') throw new RangeError('only C-order arrays are supported, got fortran_order True');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      if (!/^\d+$/.test(s)) throw new RangeError(`malformed .npy shape: (${shapeText})`);
      return Number(s);
    });
  const count = shape.reduce((a, n) => a * n, 1);
  if (b.length !== dataStart + 4 * count) throw new RangeError(`the .npy data should be ${4 * count} bytes, got ${b.length - dataStart}`);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = b.readFloatLE(dataStart + 4 * i);
  return { data, shape, descr, fortranOrder: false, version: [major, minor], headerLength: dataStart };
}
