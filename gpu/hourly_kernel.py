"""The hourly mining margin fused into one CUDA kernel (CuPy RawKernel).

The array version in `gpu.factors.hourly_margin_sums` makes every hour a round trip
through device memory (Philox words, uniforms, normals, prices, gains): a dozen passes of
memory traffic per hour. Here one thread owns a (scenario, month) cell and walks its hours
in registers — Philox, Box–Muller, spike, cap, and max(revenue - price, 0) for up to
`SITES_PER_PASS` sites at once — writing only the per-site sums. Same counters, same
formulas, same float32 arithmetic as the NumPy twin, so the two agree to float32
rounding of the transcendental functions.

The kernel body is plain C++ apart from `__umulhi` and the launch index, so the test
suite also compiles it for the CPU (tests/test_hourly_kernel.py) and checks it against
the NumPy path on machines without a GPU.
"""
from __future__ import annotations

import functools
import math
from types import ModuleType
from typing import Any

import numpy as np

from .philox import CUDA_PHILOX_FN, seed_key

SITES_PER_PASS = 8
THREADS = 256

# Shared by the CUDA build and the CPU test build. Parameters arrive as plain scalars
# and pointers so that both builds call wf_cell identically.
CELL_SOURCE = CUDA_PHILOX_FN + r"""
#define WF_SITES 8

__device__ static inline float wf_u01(unsigned int bits) {
    /* exact: top 23 bits plus one half, times 2^-23 (as gpu.philox.uniform01) */
    return ((float)(bits >> 9) + 0.5f) * 1.1920928955078125e-07f;
}

__device__ static inline float wf_price(float level, float z, float sig, float half_var,
                                        unsigned int spike_bits, float spike_p,
                                        float spike_price, float cap) {
    float p = level * expf(sig * z - half_var);
    if (spike_p > 0.0f && wf_u01(spike_bits) < spike_p) p = spike_price;
    return fminf(p, cap);
}

/* One (scenario i, month mi) cell: sums over sampled hours of max(rev_j - price, 0) for
   sites j0..j0+nj-1. level is (c, mb); revenue and out are (n_sites, c, mb). */
__device__ static void wf_cell(int i, int mi, int c, int mb, int j0, int nj,
                               unsigned int scenario, unsigned int month, int hours,
                               unsigned int stream, unsigned int k0, unsigned int k1,
                               float sig, float half_var, float spike_p, float spike_price,
                               float cap, const float* level, const float* revenue,
                               double* out) {
    const int cell = i * mb + mi;
    const float lv = level[cell];
    float rev[WF_SITES];
    double acc[WF_SITES];
    for (int j = 0; j < nj; ++j) {
        rev[j] = revenue[(j0 + j) * c * mb + cell];
        acc[j] = 0.0;
    }
    const int pairs = (hours + 1) / 2;
    const int second = hours / 2;  /* an odd count uses one hour of the last pair */
    unsigned int x[4];
    for (int h = 0; h < pairs; ++h) {
        wf_philox(scenario, month, (unsigned int)h, stream, k0, k1, x);
        const float u1 = wf_u01(x[0]);
        const float u2 = wf_u01(x[1]);
        const float radius = sqrtf(-2.0f * logf(u1));
        const float angle = 6.2831854820251465f * u2;
        const float pa = wf_price(lv, radius * cosf(angle), sig, half_var, x[2], spike_p,
                                  spike_price, cap);
        for (int j = 0; j < nj; ++j) acc[j] += (double)fmaxf(rev[j] - pa, 0.0f);
        if (h < second) {
            const float pb = wf_price(lv, radius * sinf(angle), sig, half_var, x[3], spike_p,
                                      spike_price, cap);
            for (int j = 0; j < nj; ++j) acc[j] += (double)fmaxf(rev[j] - pb, 0.0f);
        }
    }
    for (int j = 0; j < nj; ++j) out[(j0 + j) * c * mb + cell] = acc[j];
}
"""

CUDA_SOURCE = CELL_SOURCE + r"""
extern "C" __global__ void wf_hourly_margin(
        const unsigned int* scen, int c, int mb, int month0, int j0, int nj, int hours,
        unsigned int stream, unsigned int k0, unsigned int k1, float sig, float half_var,
        float spike_p, float spike_price, float cap, const float* level,
        const float* revenue, double* out) {
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= c * mb) return;
    const int i = t / mb, mi = t % mb;
    wf_cell(i, mi, c, mb, j0, nj, scen[i], (unsigned int)(month0 + mi), hours, stream, k0, k1,
            sig, half_var, spike_p, spike_price, cap, level, revenue, out);
}
"""


@functools.lru_cache(maxsize=1)
def _kernel() -> Any:
    import cupy  # noqa: PLC0415 — CuPy is optional; only a cupy caller reaches this

    return cupy.RawKernel(CUDA_SOURCE, "wf_hourly_margin")


def hourly_margin_sums_fused(xp: ModuleType, seed: int, scen, month0: int, level, revenue,
                             power, k: int, hours: int, stream: int):
    """Fused twin of `gpu.factors.hourly_margin_sums` for CuPy arrays (same arguments,
    same result up to float32 rounding): (n_sites, c, mb) float64."""
    c, mb = level.shape
    n_sites = revenue.shape[0]
    k0, k1 = seed_key(seed)
    sig = float(power.hourly_volatility[k])
    scen32 = xp.ascontiguousarray(scen.astype(xp.uint32))
    level32 = xp.ascontiguousarray(level.astype(xp.float32))
    revenue32 = xp.ascontiguousarray(revenue.astype(xp.float32))
    out = xp.zeros((n_sites, c, mb), dtype=xp.float64)
    cells = c * mb
    grid = (math.ceil(cells / THREADS),)
    for j0 in range(0, n_sites, SITES_PER_PASS):
        nj = min(SITES_PER_PASS, n_sites - j0)
        _kernel()(grid, (THREADS,), (
            scen32, np.int32(c), np.int32(mb), np.int32(month0), np.int32(j0), np.int32(nj),
            np.int32(hours), np.uint32(stream), np.uint32(k0), np.uint32(k1),
            np.float32(sig), np.float32(np.float32(0.5 * sig * sig)),
            np.float32(power.spike_probability[k]), np.float32(power.spike_price[k]),
            np.float32(power.price_cap[k]), level32, revenue32, out))
    return out
