"""The SMCDiff bootstrap filter and replacement sampler of MATH.md §3 in NumPy, written the
way research code writes them: whole-batch arrays (runs x particles x D), the mixture score
through one matrix product that exploits the identity covariances (C_t = (alpha^2 + sigma^2) I,
MATH.md §7), systematic resampling of every run at once. The peer of condiff's `smc` and
`replacement` in bench/mixture-structure.ts, on the same problem (bench/common.ts
identityProblem): OU schedule T = 5, uniform grid, Euler kernel (MATH.md §2), resampling at
every step, float32 throughout.

    python3 bench/peers/numpy_smc.py --method smc --dim 80 --particles 16 --runs 4000 --steps 20

Prints one JSON line: particle-steps/s of the timed call (after a short warm-up call), the
seconds, and the process's CPU seconds (bench/common.ts compares them with the machine's).
Threads: the BLAS's (--threads, or OPENBLAS_NUM_THREADS); elementwise work is NumPy's single
thread.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

# The BLAS reads its thread count when NumPy loads: --threads, unless the environment says.
if "--threads" in sys.argv:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", sys.argv[sys.argv.index("--threads") + 1])

import numpy as np  # noqa: E402

from problem import identity_problem, blas_library  # noqa: E402

F32 = np.float32


def mixture_score(z, alpha, sigma2, means, log_weights, mean_sq):
    """s_t(z) for rows of z (rows x D) under sum_j pi_j N(alpha m_j, (alpha^2 + sigma^2) I)."""
    c = alpha * alpha + sigma2
    zm = z @ means.T                                          # rows x J
    quad = ((z * z).sum(axis=1, keepdims=True) - 2 * alpha * zm + alpha * alpha * mean_sq) / c
    lp = log_weights - 0.5 * quad
    lp -= lp.max(axis=1, keepdims=True)
    r = np.exp(lp)
    r /= r.sum(axis=1, keepdims=True)
    return (alpha * (r @ means) - z) / c


def grid(steps, t_max=5.0):
    t = np.linspace(0.0, t_max, steps + 1)
    return t, np.exp(-t), 1.0 - np.exp(-2.0 * t)


def context_path(rng, y0, runs, alphas, sigma2s):
    """Forward context path per run: (S + 1) x runs x d_Y, index 0 = the data (MATH.md §3)."""
    steps = len(alphas) - 1
    path = np.empty((steps + 1, runs, y0.shape[0]), dtype=F32)
    path[0] = y0
    for i in range(1, steps + 1):
        a = alphas[i] / alphas[i - 1]
        v = sigma2s[i] - a * a * sigma2s[i - 1]
        path[i] = a * path[i - 1] + math.sqrt(v) * rng.standard_normal(path[i - 1].shape, dtype=F32)
    return path


def smc(problem, particles, runs, steps, seed):
    means, log_weights, obs, lat, y0 = problem
    d, d_y = means.shape[1], y0.shape[0]
    d_x = d - d_y
    mean_sq = (means * means).sum(axis=1)
    rng = np.random.default_rng(seed)
    t, alphas, sigma2s = grid(steps)
    path = context_path(rng, y0, runs, alphas, sigma2s)
    z = np.empty((runs, particles, d), dtype=F32)
    z[:, :, lat] = rng.standard_normal((runs, particles, d_x), dtype=F32)
    z[:, :, obs] = path[steps][:, None, :]
    log_evidence = np.zeros(runs)
    starts = np.repeat(np.arange(runs) * particles, particles)
    for i in range(steps, 0, -1):
        h = t[i] - t[i - 1]
        v = 2.0 * h
        s = mixture_score(z.reshape(-1, d), alphas[i], sigma2s[i], means, log_weights, mean_sq).reshape(z.shape)
        mu = z + h * (z + 2.0 * s)
        y_next = path[i - 1][:, None, :]
        log_w = -((y_next - mu[:, :, obs]) ** 2).sum(axis=2) / (2 * v) - 0.5 * d_y * math.log(2 * math.pi * v)
        mx = log_w.max(axis=1, keepdims=True)
        w = np.exp(log_w - mx)
        total = w.sum(axis=1, keepdims=True)
        log_evidence += (np.log(total / particles) + mx)[:, 0]
        cdf = np.cumsum(w / total, axis=1)
        cdf[:, -1] = 1.0
        u = (rng.random((runs, 1)) + np.arange(particles)) / particles
        # One search for every run: run r's CDF and points shifted into (r, r + 1].
        ancestors = np.searchsorted((cdf + np.arange(runs)[:, None]).ravel(), (u + np.arange(runs)[:, None]).ravel())
        ancestors = np.clip(ancestors, starts, starts + particles - 1)
        mu = mu.reshape(-1, d)[ancestors].reshape(z.shape)
        z = mu
        if i > 1:
            z[:, :, lat] += math.sqrt(v) * rng.standard_normal((runs, particles, d_x), dtype=F32)
        z[:, :, obs] = path[i - 1][:, None, :]
    choice = rng.integers(0, particles, runs)
    return z[np.arange(runs), choice], log_evidence


def replacement(problem, samples, steps, seed):
    means, log_weights, obs, lat, y0 = problem
    d = means.shape[1]
    d_x = d - y0.shape[0]
    mean_sq = (means * means).sum(axis=1)
    rng = np.random.default_rng(seed)
    t, alphas, sigma2s = grid(steps)
    path = context_path(rng, y0, samples, alphas, sigma2s)
    z = np.empty((samples, d), dtype=F32)
    z[:, lat] = rng.standard_normal((samples, d_x), dtype=F32)
    z[:, obs] = path[steps]
    for i in range(steps, 0, -1):
        h = t[i] - t[i - 1]
        s = mixture_score(z, alphas[i], sigma2s[i], means, log_weights, mean_sq)
        z = z + h * (z + 2.0 * s)
        if i > 1:
            z[:, lat] += math.sqrt(2.0 * h) * rng.standard_normal((samples, d_x), dtype=F32)
        z[:, obs] = path[i - 1]
    return z


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--method", choices=["smc", "replacement"], default="smc")
    p.add_argument("--dim", type=int, default=80)
    p.add_argument("--components", type=int, default=25)
    p.add_argument("--particles", type=int, default=16)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--seconds", type=float, default=0.0, help="pick the steps for about this long (after the warm-up)")
    p.add_argument("--threads", type=int, default=2, help="the BLAS's threads (read before NumPy loads)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    problem = identity_problem(a.dim, a.components, np)
    rows = a.particles * a.runs

    def call(steps):
        if a.method == "smc":
            return smc(problem, a.particles, a.runs, steps, a.seed)
        return replacement(problem, rows, steps, a.seed)

    t0 = time.perf_counter()
    call(2)  # warm-up: allocations, BLAS threads
    if a.seconds > 0:
        a.steps = max(2, min(1000, round(a.seconds / ((time.perf_counter() - t0) / 2))))
    t0 = time.perf_counter()
    out = call(a.steps)
    seconds = time.perf_counter() - t0
    assert np.isfinite(out[0] if isinstance(out, tuple) else out).all()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "peer": "numpy", "version": np.__version__, "blas": blas_library(), "threads": a.threads, "method": a.method, "dim": a.dim,
        "rows": rows, "steps": a.steps, "seconds": seconds, "rate": rows * a.steps / seconds,
        "cpuSeconds": ru.ru_utime + ru.ru_stime,
    }))


if __name__ == "__main__":
    main()
