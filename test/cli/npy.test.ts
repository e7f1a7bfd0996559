// The .npy writer the CLI uses for its output (lib/npy.ts): NumPy's format, version 1.0,
// float32 little-endian in C order, with the header padded to 64 bytes.
import { describe, expect, test } from '@jest/globals';
import { encodeNpy, decodeNpy } from '../../lib/npy';

describe('npy', () => {
  test('round trip, header aligned to 64 bytes and ending in a newline', () => {
    for (const shape of [[3, 2], [1000, 3], [0, 4], [1, 1], [7], [2, 3, 4]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => (i - 3.25) * 1.5e-3 * (i % 7 === 0 ? -1e6 : 1));
      const buf = encodeNpy(data, shape);
      const headerLen = buf.readUInt16LE(8);
      expect((10 + headerLen) % 64).toBe(0);
      expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]));
      const header = buf.subarray(10, 10 + headerLen).toString('latin1');
      expect(header.endsWith('\n')).toBe(true);
      const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
      expect(header.trimEnd()).toBe(`{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }`);
      expect(buf.length).toBe(10 + headerLen + 4 * n);
      const back = decodeNpy(buf);
      expect(back.shape).toEqual(shape);
      expect(Array.from(back.data)).toEqual(Array.from(data));
    }
  });

  test('little-endian float32 bytes in C order', () => {
    const buf = encodeNpy(Float32Array.of(1, 2, 3, -0.5, 0, 1e-3), [2, 3]);
    const dataStart = 10 + buf.readUInt16LE(8);
    expect(dataStart).toBe(128); // the [2, 3] header fits in 128 bytes, like NumPy's
    expect(buf.readFloatLE(dataStart)).toBe(1);
    expect(buf.readFloatLE(dataStart + 12)).toBe(-0.5);
    expect(buf.subarray(dataStart, dataStart + 4)).toEqual(Buffer.from([0, 0, 0x80, 0x3f]));
  });

  test('rejects a shape that does not match the data, and a file that is not .npy', () => {
    expect(() => encodeNpy(new Float32Array(6), [4, 2])).toThrow(RangeError);
    expect(() => encodeNpy(new Float32Array(6), [-2, -3])).toThrow(RangeError);
    expect(() => decodeNpy(Buffer.from('not a numpy file at all'))).toThrow(/magic/);
  });
});
