// Rotated coordinates x̄ = V_r^T x of a state row and the update x ← x + V_O δ (docs/MATH.md §8,
// "Rotation lemma"), for the samplers that work in the basis of A's right singular vectors: a
// dense V_r^T (masks and matrices) costs O(|O| D) per row, an operator's SVD its callbacks.
import type { ObservationSvd } from '../observation';

export interface Rotation {
  /** (V_r^T x)_i for i in `coords`, into out[i] (out has length r; other entries untouched). */
  project(row: Float32Array, coords: ArrayLike<number>, out: Float64Array): void;
  /** row ← row + Σ_{i ∈ coords} v_i delta[i]. */
  liftAdd(row: Float32Array, coords: ArrayLike<number>, delta: Float64Array): void;
}

export function rotation(svd: ObservationSvd, dim: number): Rotation {
  const vt = svd.vt;
  if (vt) {
    return {
      project(row, coords, out) {
        for (let j = 0; j < coords.length; j++) {
          const i = coords[j], base = i * dim;
          let acc = 0;
          for (let c = 0; c < dim; c++) acc += vt[base + c] * row[c];
          out[i] = acc;
        }
      },
      liftAdd(row, coords, delta) {
        for (let c = 0; c < dim; c++) {
          let acc = row[c];
          for (let j = 0; j < coords.length; j++) acc += vt[coords[j] * dim + c] * delta[coords[j]];
          row[c] = acc;
        }
      },
    };
  }
  const x = new Float64Array(dim), d = new Float64Array(svd.rank);
  return {
    project(row, coords, out) {
      x.set(row);
      const p = svd.project(x);
      for (let j = 0; j < coords.length; j++) out[coords[j]] = p[coords[j]];
    },
    liftAdd(row, coords, delta) {
      d.fill(0);
      for (let j = 0; j < coords.length; j++) d[coords[j]] = delta[coords[j]];
      const lifted = svd.lift(d);
      for (let c = 0; c < dim; c++) row[c] = row[c] + lifted[c];
    },
  };
}
