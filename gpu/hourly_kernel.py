"""The hourly mining margin fused into one CUDA kernel (CuPy RawModule).

The array version in `gpu.factors.hourly_margin_sums` makes every hour a round trip
through device memory (Philox words, uniforms, normals, prices, gains): a dozen passes of
memory traffic per hour. Here one thread owns a (scenario, month) cell and walks its hours
in registers — Philox, Box–Muller, spike, cap — and hands each hour's price to every
mining site of the market, writing only the per-site sums. Each Philox draw is made once
per (scenario, month, hour pair), whatever the number of sites:

- up to `SITES_IN_REGISTERS` sites, the site count is a template parameter: the loop over
  sites is unrolled and revenues and sums live in registers (no run-time-indexed local
  array, which would spill to local memory);
- more sites take one launch whose per-thread revenues and sums live in shared memory,
  12 bytes per site and thread, the block shrunk to fit (`launch_plan`); only past
  `MAX_SHARED_SITES` sites in one market would the hours be drawn again.

Same counters, same formulas, same float32 arithmetic as the NumPy twin, so the two agree
to float32 rounding of the transcendental functions. Offsets are 64-bit. The grid is
(scenario blocks, months), so no thread divides its index.

The kernel body is plain C++ apart from `__umulhi` and the launch index, so the test
suite also compiles it for the CPU (tests/test_hourly_kernel.py) and checks it against
the NumPy path on machines without a GPU.
"""
from __future__ import annotations

import functools
import math
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from .philox import CUDA_PHILOX_FN, seed_key

SITES_IN_REGISTERS = 8
THREADS = 256
SHARED_BYTES = 48 * 1024            # shared memory a block gets without opting in
SLOT_BYTES = 8 + 4                  # a site's double sum and float revenue, per thread
MAX_SHARED_SITES = SHARED_BYTES // (32 * SLOT_BYTES)   # 128: a 32-thread block still fits
MAX_GRID_Y = 65535

# Shared by the CUDA build and the CPU test build. Parameters arrive as plain scalars
# and pointers so that both builds call the cell functions identically.
CELL_SOURCE = CUDA_PHILOX_FN + r"""
#ifndef WF_COUNT_DRAW
#define WF_COUNT_DRAW()
#endif

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

struct wf_power {
    unsigned int stream, k0, k1;
    float sig, half_var, spike_p, spike_price, cap;
};

/* The sampled hours of one (scenario, month) cell: one Philox call per pair of hours,
   each hour's price handed to acc.add (every site of the market). */
template <class Acc>
__device__ static inline void wf_hours(unsigned int scenario, unsigned int month, int hours,
                                       const wf_power& pw, float lv, Acc& acc) {
    const int pairs = (hours + 1) / 2;
    const int second = hours / 2;  /* an odd count uses one hour of the last pair */
    unsigned int x[4];
    for (int h = 0; h < pairs; ++h) {
        wf_philox(scenario, month, (unsigned int)h, pw.stream, pw.k0, pw.k1, x);
        WF_COUNT_DRAW();
        const float u1 = wf_u01(x[0]);
        const float u2 = wf_u01(x[1]);
        const float radius = sqrtf(-2.0f * logf(u1));
        const float angle = 6.2831854820251465f * u2;
        acc.add(wf_price(lv, radius * cosf(angle), pw.sig, pw.half_var, x[2], pw.spike_p,
                         pw.spike_price, pw.cap));
        if (h < second)
            acc.add(wf_price(lv, radius * sinf(angle), pw.sig, pw.half_var, x[3], pw.spike_p,
                             pw.spike_price, pw.cap));
    }
}

/* NS sites, NS known at compile time: the site loop unrolls, rev and sum stay in registers. */
template <int NS>
struct wf_reg_sites {
    float rev[NS];
    double sum[NS];
    __device__ inline void add(float p) {
#pragma unroll
        for (int j = 0; j < NS; ++j) sum[j] += (double)fmaxf(rev[j] - p, 0.0f);
    }
};

/* Any number of sites: a thread's revenues and sums in its own slots, slot j at j * stride. */
struct wf_slot_sites {
    const float* rev;
    double* sum;
    int n, stride;
    __device__ inline void add(float p) {
        for (int j = 0; j < n; ++j) sum[j * stride] += (double)fmaxf(rev[j * stride] - p, 0.0f);
    }
};

/* Cell (scenario row i, month mi): level is (c, mb); revenue and out are (sites, c, mb). */
template <int NS>
__device__ static void wf_cell_reg(long long i, long long mi, long long c, long long mb,
                                   unsigned int scenario, unsigned int month, int hours,
                                   const wf_power& pw, const float* level,
                                   const float* revenue, double* out) {
    const long long cell = i * mb + mi, plane = c * mb;
    wf_reg_sites<NS> acc;
#pragma unroll
    for (int j = 0; j < NS; ++j) {
        acc.rev[j] = revenue[j * plane + cell];
        acc.sum[j] = 0.0;
    }
    wf_hours(scenario, month, hours, pw, level[cell], acc);
#pragma unroll
    for (int j = 0; j < NS; ++j) out[j * plane + cell] = acc.sum[j];
}

__device__ static void wf_cell_slots(long long i, long long mi, long long c, long long mb,
                                     unsigned int scenario, unsigned int month, int hours,
                                     const wf_power& pw, int n_sites, float* rev, double* sum,
                                     int stride, const float* level, const float* revenue,
                                     double* out) {
    const long long cell = i * mb + mi, plane = c * mb;
    for (int j = 0; j < n_sites; ++j) {
        rev[j * stride] = revenue[j * plane + cell];
        sum[j * stride] = 0.0;
    }
    wf_slot_sites acc = {rev, sum, n_sites, stride};
    wf_hours(scenario, month, hours, pw, level[cell], acc);
    for (int j = 0; j < n_sites; ++j) out[j * plane + cell] = sum[j * stride];
}
"""

_KERNEL_ARGS = r"""const unsigned int* scen, long long c, long long mb, unsigned int month0, int hours,
        unsigned int stream, unsigned int k0, unsigned int k1, float sig, float half_var,
        float spike_p, float spike_price, float cap, const float* level,
        const float* revenue, double* out"""

CUDA_SOURCE = CELL_SOURCE + r"""
template <int NS>
__global__ void wf_hourly_margin_reg(""" + _KERNEL_ARGS + r""") {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= c) return;
    const long long mi = blockIdx.y;
    const wf_power pw = {stream, k0, k1, sig, half_var, spike_p, spike_price, cap};
    wf_cell_reg<NS>(i, mi, c, mb, scen[i], month0 + (unsigned int)mi, hours, pw, level,
                    revenue, out);
}

extern "C" __global__ void wf_hourly_margin_slots(int n_sites, """ + _KERNEL_ARGS + r""") {
    extern __shared__ double wf_slots[];
    const int t = threadIdx.x, stride = blockDim.x;
    double* sum = wf_slots;                                          /* n_sites x stride */
    float* rev = (float*)(wf_slots + (long long)n_sites * stride);  /* n_sites x stride */
    const long long i = (long long)blockIdx.x * blockDim.x + t;
    if (i >= c) return;
    const long long mi = blockIdx.y;
    const wf_power pw = {stream, k0, k1, sig, half_var, spike_p, spike_price, cap};
    wf_cell_slots(i, mi, c, mb, scen[i], month0 + (unsigned int)mi, hours, pw, n_sites,
                  rev + t, sum + t, stride, level, revenue, out);
}
"""

_REG_NAMES = tuple(f"wf_hourly_margin_reg<{n}>" for n in range(1, SITES_IN_REGISTERS + 1))


class Launch(NamedTuple):
    """One kernel launch over a market's sites j0..j0+nj-1."""

    j0: int
    nj: int
    kernel: str          # a name of the module (a `wf_hourly_margin_reg<n>` or the slots one)
    threads: int
    shared_bytes: int


def launch_plan(n_sites: int) -> list[Launch]:
    """The launches that cover `n_sites` sites of one market: one (registers up to
    `SITES_IN_REGISTERS`, shared-memory slots up to `MAX_SHARED_SITES`), so each hour is
    drawn once; more sites than that are split into launches of `MAX_SHARED_SITES`."""
    plan = []
    for j0 in range(0, n_sites, MAX_SHARED_SITES):
        nj = min(MAX_SHARED_SITES, n_sites - j0)
        if nj <= SITES_IN_REGISTERS:
            plan.append(Launch(j0, nj, f"wf_hourly_margin_reg<{nj}>", THREADS, 0))
            continue
        threads = min(THREADS, SHARED_BYTES // (SLOT_BYTES * nj) // 32 * 32)
        plan.append(Launch(j0, nj, "wf_hourly_margin_slots", threads, SLOT_BYTES * nj * threads))
    return plan


@functools.lru_cache(maxsize=1)
def _module() -> Any:
    import cupy  # noqa: PLC0415 — CuPy is optional; only a cupy caller reaches this

    return cupy.RawModule(code=CUDA_SOURCE, options=("--std=c++14",), name_expressions=_REG_NAMES)


def hourly_margin_sums_fused(xp: ModuleType, seed: int, scen, month0: int, level, revenue,
                             power, k: int, hours: int, stream: int):
    """Fused twin of `gpu.factors.hourly_margin_sums` for CuPy arrays (same arguments,
    same result up to float32 rounding): (n_sites, c, mb) float64."""
    c, mb = level.shape
    n_sites = revenue.shape[0]
    if mb > MAX_GRID_Y:
        raise ValueError(f"months: at most {MAX_GRID_Y} per launch, got {mb}")
    k0, k1 = seed_key(seed)
    sig = float(power.hourly_volatility[k])
    scen32 = xp.ascontiguousarray(scen.astype(xp.uint32))
    level32 = xp.ascontiguousarray(level.astype(xp.float32))
    revenue32 = xp.ascontiguousarray(revenue.astype(xp.float32))
    out = xp.empty((n_sites, c, mb), dtype=xp.float64)   # every cell of every site is written
    if c == 0 or mb == 0:
        return out
    args = (scen32, np.int64(c), np.int64(mb), np.uint32(month0), np.int32(hours),
            np.uint32(stream), np.uint32(k0), np.uint32(k1), np.float32(sig),
            np.float32(np.float32(0.5 * sig * sig)), np.float32(power.spike_probability[k]),
            np.float32(power.spike_price[k]), np.float32(power.price_cap[k]), level32)
    mod = _module()
    for launch in launch_plan(n_sites):
        j = slice(launch.j0, launch.j0 + launch.nj)
        grid = (math.ceil(c / launch.threads), mb)
        if launch.shared_bytes:
            mod.get_function(launch.kernel)(grid, (launch.threads,),
                                            (np.int32(launch.nj), *args, revenue32[j], out[j]),
                                            shared_mem=launch.shared_bytes)
        else:
            mod.get_function(launch.kernel)(grid, (launch.threads,), (*args, revenue32[j], out[j]))
    return out
