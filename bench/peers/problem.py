"""The peers' problem: bench/common.ts identityProblem for J = 25 (the MCGdiff benchmark's
mixture): means 8 (i, j, i, j, ...) for i, j in {-2, ..., 2}, identity covariances, equal
weights; the first max(1, D / 4) coordinates observed at component 0's mean."""


def identity_problem(dim, components, xp, dtype=None):
    """(means J x D, log weights J, observed, latent, y0): arrays of `xp` (numpy or torch),
    float32; observed and latent are slices (the observed coordinates come first), as
    research code indexes them."""
    if components != 25:
        raise ValueError("the peers implement the 25-component grid of bench/common.ts identityProblem")
    means = [[8.0 * ((c // 5 if k % 2 == 0 else c % 5) - 2) for k in range(dim)] for c in range(components)]
    observed = list(range(max(1, dim // 4)))
    latent = list(range(len(observed), dim))
    tensor = getattr(xp, "tensor", None) or xp.asarray
    f32 = xp.float32
    return (
        tensor(means, dtype=f32),
        tensor([-__import__("math").log(components)] * components, dtype=f32),
        slice(0, len(observed)),
        slice(len(observed), dim),
        tensor([means[0][i] for i in observed], dtype=f32),
    )


def blas_library():
    """The BLAS this process loaded (from /proc/self/maps), e.g. 'openblas-pthread'."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "blas" in path:
                    return path.split("/")[-2] if "/blas" not in path else path
    except OSError:
        pass
    return "unknown"
