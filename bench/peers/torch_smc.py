"""The same samplers as numpy_smc.py in PyTorch (CPU, float32, torch.set_num_threads(threads)):
the SMCDiff bootstrap filter and replacement of MATH.md §3 on bench/common.ts identityProblem,
whole-batch tensors, the mixture score through one matrix product that exploits the identity
covariances (MATH.md §7), batched systematic resampling with torch.searchsorted.

    python3 bench/peers/torch_smc.py --method smc --dim 80 --particles 16 --runs 4000 --steps 20 --threads 2

Prints one JSON line as numpy_smc.py does.
"""
import argparse
import json
import math
import resource
import time

import torch

from problem import identity_problem


def mixture_score(z, alpha, sigma2, means, log_weights, mean_sq):
    """s_t(z) for rows of z (rows x D) under sum_j pi_j N(alpha m_j, (alpha^2 + sigma^2) I)."""
    c = alpha * alpha + sigma2
    quad = ((z * z).sum(dim=1, keepdim=True) - 2 * alpha * (z @ means.T) + alpha * alpha * mean_sq) / c
    r = torch.softmax(log_weights - 0.5 * quad, dim=1)
    return (alpha * (r @ means) - z) / c


def grid(steps, t_max=5.0):
    t = [t_max * i / steps for i in range(steps + 1)]
    return t, [math.exp(-x) for x in t], [1.0 - math.exp(-2.0 * x) for x in t]


def context_path(gen, y0, runs, alphas, sigma2s):
    """Forward context path per run: (S + 1) x runs x d_Y, index 0 = the data (MATH.md §3)."""
    steps = len(alphas) - 1
    path = torch.empty((steps + 1, runs, y0.shape[0]))
    path[0] = y0
    for i in range(1, steps + 1):
        a = alphas[i] / alphas[i - 1]
        v = sigma2s[i] - a * a * sigma2s[i - 1]
        path[i] = a * path[i - 1] + math.sqrt(v) * torch.randn(path[i - 1].shape, generator=gen)
    return path


def smc(problem, particles, runs, steps, seed):
    means, log_weights, obs, lat, y0 = problem
    d, d_y = means.shape[1], y0.shape[0]
    d_x = d - d_y
    mean_sq = (means * means).sum(dim=1)
    gen = torch.Generator().manual_seed(seed)
    t, alphas, sigma2s = grid(steps)
    path = context_path(gen, y0, runs, alphas, sigma2s)
    z = torch.empty((runs, particles, d))
    z[:, :, lat] = torch.randn((runs, particles, d_x), generator=gen)
    z[:, :, obs] = path[steps][:, None, :]
    log_evidence = torch.zeros(runs, dtype=torch.float64)
    base = (torch.arange(runs) * particles)[:, None]
    grid_points = torch.arange(particles, dtype=torch.float32)
    for i in range(steps, 0, -1):
        h = t[i] - t[i - 1]
        v = 2.0 * h
        s = mixture_score(z.reshape(-1, d), alphas[i], sigma2s[i], means, log_weights, mean_sq).reshape(z.shape)
        mu = z + h * (z + 2.0 * s)
        log_w = -((path[i - 1][:, None, :] - mu[:, :, obs]) ** 2).sum(dim=2) / (2 * v) - 0.5 * d_y * math.log(2 * math.pi * v)
        lse = torch.logsumexp(log_w, dim=1)
        log_evidence += (lse - math.log(particles)).double()
        cdf = torch.cumsum(torch.exp(log_w - lse[:, None]), dim=1)
        cdf[:, -1] = 1.0
        u = (torch.rand((runs, 1), generator=gen) + grid_points) / particles
        ancestors = torch.searchsorted(cdf, u).clamp_(max=particles - 1)
        z = mu.reshape(-1, d)[(ancestors + base).reshape(-1)].reshape(z.shape)
        if i > 1:
            z[:, :, lat] += math.sqrt(v) * torch.randn((runs, particles, d_x), generator=gen)
        z[:, :, obs] = path[i - 1][:, None, :]
    choice = torch.randint(0, particles, (runs,), generator=gen)
    return z[torch.arange(runs), choice], log_evidence


def replacement(problem, samples, steps, seed):
    means, log_weights, obs, lat, y0 = problem
    d = means.shape[1]
    d_x = d - y0.shape[0]
    mean_sq = (means * means).sum(dim=1)
    gen = torch.Generator().manual_seed(seed)
    t, alphas, sigma2s = grid(steps)
    path = context_path(gen, y0, samples, alphas, sigma2s)
    z = torch.empty((samples, d))
    z[:, lat] = torch.randn((samples, d_x), generator=gen)
    z[:, obs] = path[steps]
    for i in range(steps, 0, -1):
        h = t[i] - t[i - 1]
        s = mixture_score(z, alphas[i], sigma2s[i], means, log_weights, mean_sq)
        z = z + h * (z + 2.0 * s)
        if i > 1:
            z[:, lat] += math.sqrt(2.0 * h) * torch.randn((samples, d_x), generator=gen)
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
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    problem = identity_problem(a.dim, a.components, torch)
    rows = a.particles * a.runs

    def call(steps):
        with torch.inference_mode():
            if a.method == "smc":
                return smc(problem, a.particles, a.runs, steps, a.seed)
            return replacement(problem, rows, steps, a.seed)

    t0 = time.perf_counter()
    call(2)  # warm-up: allocations, thread pool
    if a.seconds > 0:
        a.steps = max(2, min(1000, round(a.seconds / ((time.perf_counter() - t0) / 2))))
    t0 = time.perf_counter()
    out = call(a.steps)
    seconds = time.perf_counter() - t0
    assert torch.isfinite(out[0] if isinstance(out, tuple) else out).all()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "peer": "torch", "version": torch.__version__, "threads": torch.get_num_threads(), "method": a.method,
        "dim": a.dim, "rows": rows, "steps": a.steps, "seconds": seconds, "rate": rows * a.steps / seconds,
        "cpuSeconds": ru.ru_utime + ru.ru_stime,
    }))


if __name__ == "__main__":
    main()
