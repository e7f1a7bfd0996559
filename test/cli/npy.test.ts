// The .npy reader and writer of the public API and the CLI (lib/npy.ts): NumPy's format,
// version 1.0, little-endian float32, float64 or int32 in C order, with the header padded to
// 64 bytes; and, where python3 has NumPy, numpy.load and numpy.save agreeing with them.
import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeNpy, decodeNpy } from '../../lib/npy';
import * as api from '../../lib/index';

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

  test('a header that claims more than the file holds, or a malformed shape, is refused before anything is allocated', () => {
    // The header of a (2,) float32 file, its shape text replaced (the padding keeps the length).
    const withShape = (tuple: string) => {
      const buf = encodeNpy(Float32Array.of(1, 2), [2]);
      const headerLen = buf.readUInt16LE(8);
      const header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }`.padEnd(headerLen - 1) + '\n';
      return Buffer.concat([buf.subarray(0, 10), Buffer.from(header, 'latin1'), buf.subarray(10 + headerLen)]);
    };
    expect(decodeNpy(withShape('(2,)')).shape).toEqual([2]);
    // 16 GiB claimed by a file of 8 data bytes: an error, not an allocation.
    expect(() => decodeNpy(withShape('(4294967296,)'))).toThrow(/^the \.npy data should be 17179869184 bytes, got 8$/);
    expect(() => decodeNpy(withShape('(1000000000000,)'))).toThrow(/^the \.npy data should be 4000000000000 bytes/);
    expect(() => decodeNpy(withShape('(2,,1)'))).toThrow(/^malformed \.npy shape: \(2,,1\)$/);
    expect(decodeNpy(withShape('(1, 2)')).shape).toEqual([1, 2]);
  });

  test('float64 and int32: round trips with their NumPy type strings, exact bits', () => {
    const f8 = Float64Array.of(-Infinity, Math.PI, -0, 1e-308, 5e-324, Number.MAX_VALUE, NaN);
    const i4 = Int32Array.of(-(2 ** 31), -1, 0, 1, 2 ** 31 - 1, 42);
    const f8Bytes = encodeNpy(f8);
    const i4Bytes = encodeNpy(i4, [2, 3]);
    expect(f8Bytes.toString('latin1')).toContain("{'descr': '<f8', 'fortran_order': False, 'shape': (7,), }");
    expect(i4Bytes.toString('latin1')).toContain("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }");
    const f8Back = decodeNpy(f8Bytes, 'float64');
    expect(f8Back.data).toBeInstanceOf(Float64Array);
    expect(f8Back.dtype).toBe('float64');
    expect(Buffer.from(f8Back.data.buffer)).toEqual(Buffer.from(f8.buffer));
    const i4Back = decodeNpy(i4Bytes);
    expect(i4Back.data).toBeInstanceOf(Int32Array);
    expect(i4Back).toMatchObject({ descr: '<i4', dtype: 'int32', shape: [2, 3] });
    expect(Array.from(i4Back.data)).toEqual(Array.from(i4));
    // A view into a larger buffer, at an offset that is no multiple of 8, reads the same.
    const padded = new Uint8Array(f8Bytes.length + 3);
    padded.set(f8Bytes, 3);
    expect(Buffer.from(decodeNpy(padded.subarray(3), 'float64').data.buffer)).toEqual(Buffer.from(f8.buffer));
  });

  test('the expected dtype, and other input, is checked', () => {
    const f4 = encodeNpy(Float32Array.of(1, 2));
    expect(() => decodeNpy(f4, 'float64')).toThrow(/^expected a float64 \('<f8'\) array, got '<f4' \(float32\)$/);
    expect(() => decodeNpy(f4, 'int8' as 'int32')).toThrow(/^expected must be one of float32, float64, int32, got "int8"$/);
    expect(() => encodeNpy(new Uint8Array(4) as unknown as Float32Array)).toThrow(/^data must be a Float32Array, Float64Array or Int32Array, got Uint8Array$/);
    expect(() => encodeNpy([1, 2] as unknown as Float32Array)).toThrow(TypeError);
    expect(() => decodeNpy('x' as unknown as Uint8Array)).toThrow(/^bytes must be a Buffer or Uint8Array, got string$/);
    const bigEndian = Buffer.from(encodeNpy(Float64Array.of(1)).toString('latin1').replace('<f8', '>f8'), 'latin1');
    expect(() => decodeNpy(bigEndian)).toThrow(/only little-endian float32, float64 and int32 .* got '>f8'/);
    const truncated = encodeNpy(Float64Array.of(1, 2)).subarray(0, -1);
    expect(() => decodeNpy(truncated)).toThrow(/^the \.npy data should be 16 bytes, got 15$/);
  });

  test('exported from the package entry point', () => {
    expect(api.encodeNpy).toBe(encodeNpy);
    expect(api.decodeNpy).toBe(decodeNpy);
  });

  const numpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
  if (!numpy) console.log('npy: NumPy cross-check skipped (python3 with numpy not found)');
  (numpy ? test : test.skip)('NumPy reads what encodeNpy writes, and encodeNpy reads what NumPy writes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'condiff-npy-'));
    try {
      fs.writeFileSync(path.join(dir, 'f4.npy'), encodeNpy(Float32Array.of(1.5, -2, 3.25, 0), [2, 2]));
      fs.writeFileSync(path.join(dir, 'f8.npy'), encodeNpy(Float64Array.of(Math.PI, -1e-300, 2 ** 60)));
      fs.writeFileSync(path.join(dir, 'i4.npy'), encodeNpy(Int32Array.of(-7, 2 ** 31 - 1), [1, 2]));
      const script = [
        'import numpy as np, sys, math',
        'd = sys.argv[1]',
        'a = np.load(d + "/f4.npy"); assert a.dtype == np.float32 and a.shape == (2, 2) and a.tolist() == [[1.5, -2.0], [3.25, 0.0]], a',
        'b = np.load(d + "/f8.npy"); assert b.dtype == np.float64 and b.shape == (3,) and b.tolist() == [math.pi, -1e-300, 2.0 ** 60], b',
        'c = np.load(d + "/i4.npy"); assert c.dtype == np.int32 and c.shape == (1, 2) and c.tolist() == [[-7, 2 ** 31 - 1]], c',
        'np.save(d + "/from-numpy-f8.npy", np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]]))',
        'np.save(d + "/from-numpy-i4.npy", np.arange(5, dtype="<i4"))',
      ].join('\n');
      const r = spawnSync('python3', ['-c', script, dir], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const f8 = decodeNpy(fs.readFileSync(path.join(dir, 'from-numpy-f8.npy')), 'float64');
      expect(f8.shape).toEqual([2, 3]);
      expect(Array.from(f8.data)).toEqual([0.1, 0.2, 0.3, 1, 2, 3]);
      expect(Array.from(decodeNpy(fs.readFileSync(path.join(dir, 'from-numpy-i4.npy')), 'int32').data)).toEqual([0, 1, 2, 3, 4]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
