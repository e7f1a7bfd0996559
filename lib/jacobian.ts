// J u for Tweedie's x̂₀(z) = (z + σ_t² s_t(z))/α_t by a central difference (docs/MATH.md §10):
// [x̂₀(z + εu) − x̂₀(z − εu)] / 2ε, which is Jᵀu for a conservative score (J is then
// symmetric). Per row, ε‖u‖ = 10⁻² σ_t: well above float32's rounding of the score, well
// below the scale on which p_t changes, and a row's step never depends on the other rows.
// Two score calls. Used by guidance at x̂₀ and DPS (docs/MATH.md §12).

/** J u per row (rows × D); `scoreAt` evaluates the score at a probe point (its result is read before the next call). */
export async function tweedieJvpByDifferences(
  z: Float32Array, u: Float32Array, alpha: number, sigma: number, rows: number, dim: number,
  scoreAt: (x: Float32Array) => Promise<Float32Array>,
): Promise<Float32Array> {
  const s2 = sigma * sigma, h = 1e-2 * sigma;
  const eps = new Float64Array(rows), probe = new Float32Array(z.length), g = new Float32Array(z.length);
  for (let r = 0; r < rows; r++) {
    let n2 = 0;
    for (let k = r * dim; k < (r + 1) * dim; k++) n2 += u[k] * u[k];
    eps[r] = n2 > 0 ? h / Math.sqrt(n2) : 0;
  }
  for (const sign of [1, -1]) {
    for (let r = 0; r < rows; r++) for (let k = r * dim; k < (r + 1) * dim; k++) probe[k] = z[k] + sign * eps[r] * u[k];
    const s = await scoreAt(probe);
    for (let r = 0; r < rows; r++) {
      const f = eps[r] > 0 ? sign / (2 * eps[r]) : 0;
      for (let k = r * dim; k < (r + 1) * dim; k++) g[k] += (f * (probe[k] + s2 * s[k])) / alpha;
    }
  }
  return g;
}
