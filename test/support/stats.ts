// Distribution functions for the statistical tests: log Gamma, the regularized incomplete
// gamma function and the chi-square survival function. Standard numerical methods: the
// Lanczos approximation (g = 7, nine coefficients) and the series / continued-fraction
// evaluation of Q(a, x) (as described in Numerical Recipes, ch. 6.2).
const { exp, log, abs, sin, PI } = Math;

/** log Gamma (Lanczos, g = 7). */
export function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return log(PI / sin(PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * log(2 * PI) + (x + 0.5) * log(t) - t + log(a);
}

/** Regularized upper incomplete gamma Q(a, x) (Numerical Recipes gser / gcf). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const gln = lnGamma(a);
  if (x < a + 1) {
    let ap = a, sum = 1 / a, del = sum;
    for (let n = 0; n < 10000; n++) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (abs(del) < abs(sum) * 1e-15) break;
    }
    return 1 - sum * exp(-x + a * log(x) - gln);
  }
  let b = x + 1 - a, c = 1 / 1e-300, d = 1 / b, h = d;
  for (let i = 1; i < 10000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (abs(del - 1) < 1e-15) break;
  }
  return exp(-x + a * log(x) - gln) * h;
}

/** P(chi-square_dof > stat). */
export function chiSquareSurvival(stat: number, dof: number): number {
  return gammaQ(dof / 2, stat / 2);
}

