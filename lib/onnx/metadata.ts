// ONNX model metadata (ModelProto.metadata_props, field 14), read from the protobuf
// without a protobuf library: only the top-level fields are walked, and the others (the
// graph, with its weights) are skipped by length, so a model file is never read whole.
import * as fs from 'node:fs';

/** Random access to the model's bytes: `size` bytes, `read(pos, len)` returns up to len of them. */
interface ByteSource {
  size: number;
  read(pos: number, len: number): Uint8Array;
}

/** A position in a ByteSource with the protobuf primitives. */
class Cursor {
  pos = 0;
  constructor(readonly src: ByteSource) {}
  varint(end: number): number {
    const head = this.src.read(this.pos, Math.min(10, end - this.pos));
    let result = 0, scale = 1;
    for (let i = 0; i < head.length; i++) {
      const b = head[i];
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.pos += i + 1;
        return result;
      }
      scale *= 128;
    }
    throw new RangeError('truncated ONNX protobuf');
  }
  skip(wire: number, end: number): void {
    if (wire === 0) this.varint(end);
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      const len = this.varint(end); // (not `pos += varint()`: that would add to the old pos)
      this.pos += len;
    } else if (wire === 5) this.pos += 4;
    else throw new RangeError(`unsupported protobuf wire type ${wire}`);
    if (this.pos > end) throw new RangeError('truncated ONNX protobuf');
  }
}

function walkMetadata(src: ByteSource): Record<string, string> {
  const out: Record<string, string> = {};
  const decoder = new TextDecoder();
  const top = new Cursor(src);
  while (top.pos < src.size) {
    const key = top.varint(src.size);
    const field = Math.floor(key / 8), wire = key % 8;
    if (field === 0) throw new RangeError('field number 0');
    if (field !== 14 || wire !== 2) {
      top.skip(wire, src.size);
      continue;
    }
    // metadata_props: a StringStringEntryProto (key = 1, value = 2).
    const len = top.varint(src.size);
    if (top.pos + len > src.size) throw new RangeError('truncated ONNX protobuf');
    const bytes = src.read(top.pos, len);
    top.pos += len;
    const entry = new Cursor({ size: len, read: (p, l) => bytes.subarray(p, p + l) });
    let k = '', v = '';
    while (entry.pos < len) {
      const kk = entry.varint(len);
      const f = Math.floor(kk / 8), w = kk % 8;
      if ((f === 1 || f === 2) && w === 2) {
        const l = entry.varint(len);
        if (entry.pos + l > len) throw new RangeError('truncated ONNX protobuf');
        const text = decoder.decode(bytes.subarray(entry.pos, entry.pos + l));
        entry.pos += l;
        if (f === 1) k = text;
        else v = text;
      } else {
        entry.skip(w, len);
      }
    }
    out[k] = v;
  }
  return out;
}

/** The `metadata_props` key/value pairs of an ONNX model, from its bytes or its file. */
export function readOnnxMetadata(model: Uint8Array | string): Record<string, string> {
  if (model instanceof Uint8Array) return walkMetadata({ size: model.length, read: (p, l) => model.subarray(p, p + l) });
  const fd = fs.openSync(model, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    return walkMetadata({
      size,
      read: (p, l) => {
        const buf = Buffer.alloc(Math.max(0, Math.min(l, size - p)));
        let got = 0;
        while (got < buf.length) {
          const n = fs.readSync(fd, buf, got, buf.length - got, p + got);
          if (n === 0) break;
          got += n;
        }
        return buf.subarray(0, got);
      },
    });
  } finally {
    fs.closeSync(fd);
  }
}
