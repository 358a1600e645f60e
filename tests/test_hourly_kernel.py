"""The fused CUDA kernel for hourly margins, checked without a GPU: its body is compiled
as C++ for the CPU and must agree with the NumPy array path on the same counters, both
for a market's sites in registers (a compile-time count) and in per-thread slots (the
shared-memory variant); and each hour is drawn once whatever the number of sites."""
from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from wattfolio.gpu.factors import POWER_HOURS, hourly_margin_sums
from wattfolio.gpu.hourly_kernel import (CELL_SOURCE, MAX_SHARED_SITES, SHARED_BYTES, SITES_IN_REGISTERS,
                                         SLOT_BYTES, launch_plan)
from wattfolio.gpu.inputs import PowerParams
from wattfolio.gpu.philox import seed_key

_ARGS = r"""const unsigned int* scen, long long c, long long mb, unsigned int month0, int hours,
        unsigned int stream, unsigned int k0, unsigned int k1, float sig, float half_var,
        float spike_p, float spike_price, float cap, const float* level,
        const float* revenue, double* out"""

# wf_reg<NS> for NS = 1..SITES_IN_REGISTERS through one switch; wf_slots with a buffer of
# slots for one cell at a time (stride 1, as one thread of the shared-memory kernel sees).
_CASES = "\n".join(
    f"        case {n}: wf_cell_reg<{n}>(i, mi, c, mb, scen[i], month0 + (unsigned int)mi, hours,"
    " pw, level, revenue, out); break;" for n in range(1, SITES_IN_REGISTERS + 1))

HARNESS = r"""
#include <math.h>
#include <stdlib.h>
#define __device__
static unsigned long long wf_draws = 0;
#define WF_COUNT_DRAW() (++wf_draws)
static inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
""" + CELL_SOURCE + r"""
extern "C" unsigned long long wf_draw_count(void) { return wf_draws; }

extern "C" void wf_reg(int ns, """ + _ARGS + r""") {
    const wf_power pw = {stream, k0, k1, sig, half_var, spike_p, spike_price, cap};
    for (long long i = 0; i < c; ++i)
        for (long long mi = 0; mi < mb; ++mi)
            switch (ns) {
""" + _CASES + r"""
                default: abort();
            }
}

extern "C" void wf_slots(int ns, """ + _ARGS + r""") {
    const wf_power pw = {stream, k0, k1, sig, half_var, spike_p, spike_price, cap};
    float* rev = (float*)malloc(sizeof(float) * ns);
    double* sum = (double*)malloc(sizeof(double) * ns);
    for (long long i = 0; i < c; ++i)
        for (long long mi = 0; mi < mb; ++mi)
            wf_cell_slots(i, mi, c, mb, scen[i], month0 + (unsigned int)mi, hours, pw, ns, rev, sum,
                          1, level, revenue, out);
    free(rev);
    free(sum);
}
"""


@pytest.fixture(scope="module")
def cpu_kernel(tmp_path_factory):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    d = tmp_path_factory.mktemp("kernel")
    (d / "k.cpp").write_text(HARNESS)
    subprocess.run([cxx, "-O2", "-std=c++14", "-fPIC", "-shared", "-o", str(d / "k.so"), str(d / "k.cpp")],
                   check=True, capture_output=True)
    lib = ctypes.CDLL(str(d / "k.so"))
    P = np.ctypeslib.ndpointer
    args = [ctypes.c_int, P(np.uint32, flags="C"), ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint,
            ctypes.c_int, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_float, ctypes.c_float, ctypes.c_float, ctypes.c_float, ctypes.c_float,
            P(np.float32, flags="C"), P(np.float32, flags="C"), P(np.float64, flags="C")]
    for name in ("wf_reg", "wf_slots"):
        getattr(lib, name).argtypes = args
    lib.wf_draw_count.restype = ctypes.c_ulonglong
    return lib


def _power(sig, spike_p):
    one = lambda v: np.array([v], dtype=np.float64)  # noqa: E731
    return PowerParams(mean_price=one(45), volatility=one(0.5), mean_reversion=one(2),
                       seasonal_amplitude=one(0.1), seasonal_peak_month=np.array([8]),
                       hourly_volatility=one(sig), spike_probability=one(spike_p),
                       spike_price=one(900.0), price_cap=one(300.0))


def _run(lib, n_sites, hours, c=40, mb=5):
    rng = np.random.default_rng(3)
    seed, month0, sig = 12345, 17, 0.45
    scen = np.arange(1000, 1000 + c, dtype=np.int64)
    level = rng.uniform(20, 80, size=(c, mb))
    revenue = rng.uniform(30, 90, size=(n_sites, c, mb))
    expected = hourly_margin_sums(np, seed, scen, month0, level, revenue, _power(sig, 0.02), 0, hours)
    got = np.full((n_sites, c, mb), np.nan)
    k0, k1 = seed_key(seed)
    level32 = np.ascontiguousarray(level, dtype=np.float32)
    revenue32 = np.ascontiguousarray(revenue, dtype=np.float32)
    before = lib.wf_draw_count()
    for launch in launch_plan(n_sites):   # the launches the CuPy path makes, run on the CPU
        fn = lib.wf_slots if launch.shared_bytes else lib.wf_reg
        part = np.empty((launch.nj, c, mb))
        fn(launch.nj, scen.astype(np.uint32), c, mb, month0, hours, POWER_HOURS, k0, k1,
           np.float32(sig), np.float32(0.5 * sig * sig), np.float32(0.02), np.float32(900.0),
           np.float32(300.0), level32, np.ascontiguousarray(revenue32[launch.j0:launch.j0 + launch.nj]), part)
        got[launch.j0:launch.j0 + launch.nj] = part
    return expected, got, lib.wf_draw_count() - before


@pytest.mark.parametrize("n_sites", [1, 3, SITES_IN_REGISTERS, SITES_IN_REGISTERS + 2])
@pytest.mark.parametrize("hours", [24, 7, 730])
def test_cpu_build_of_cuda_kernel_matches_numpy(cpu_kernel, hours, n_sites):
    c, mb = 40, 5
    expected, got, draws = _run(cpu_kernel, n_sites, hours, c, mb)
    assert (expected > 0).mean() > 0.9  # most cells earn something: the sums are not trivial
    # float32 exp/log/sin/cos of libm and NumPy differ by an ulp or two; a price an ulp
    # apart moves a near-zero gain (revenue ~ price) by ~4e-6 $/MWh
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-4)
    # one Philox call per (scenario, month, hour pair), however many sites share it
    assert draws == c * mb * ((hours + 1) // 2)


def test_launch_plan_draws_each_hour_once():
    for n in range(1, 3 * MAX_SHARED_SITES + 5):
        plan = launch_plan(n)
        assert [(p.j0, p.nj) for p in plan] == [(j, min(MAX_SHARED_SITES, n - j))
                                                for j in range(0, n, MAX_SHARED_SITES)]
        if n <= MAX_SHARED_SITES:
            assert len(plan) == 1   # one launch: each hour drawn once for every site
        for p in plan:
            assert p.threads % 32 == 0 and 32 <= p.threads <= 256
            if p.nj <= SITES_IN_REGISTERS:
                assert p.kernel == f"wf_hourly_margin_reg<{p.nj}>" and p.shared_bytes == 0
            else:
                assert p.kernel == "wf_hourly_margin_slots"
                assert p.shared_bytes == SLOT_BYTES * p.nj * p.threads <= SHARED_BYTES


def test_offsets_are_64_bit():
    # (sites x scenarios x months) past 2**31 must not wrap: every offset is long long
    assert "int cell" not in CELL_SOURCE and "long long cell = i * mb + mi, plane = c * mb;" in CELL_SOURCE


def test_every_cuda_source_compiles_as_cpp(tmp_path):
    """The launch wrappers too (the template kernels instantiated, the shared-memory one, the
    recursions and the Poisson elementwise body), with the CUDA keywords as C++ shims:
    catches a syntax or template error before a GPU machine does."""
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    from wattfolio.gpu.factors import _POISSON_SOURCE
    from wattfolio.gpu.hourly_kernel import CUDA_SOURCE
    from wattfolio.gpu.recursions import CUDA_SOURCE as RECURSIONS

    shims = r"""
#include <math.h>
#define __device__
#define __global__
#define __shared__
struct wf_dim3 { unsigned int x, y, z; };
static wf_dim3 blockIdx, blockDim, threadIdx;
static inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
"""
    args = "0, 1, 1, 0u, 24, 0u, 0u, 0u, 0.f, 0.f, 0.f, 0.f, 0.f, 0, 0, 0"
    calls = "\n".join(f"    wf_hourly_margin_reg<{n}>({args});" for n in range(1, SITES_IN_REGISTERS + 1))
    src = (shims + CUDA_SOURCE + RECURSIONS + "\nvoid wf_instantiate() {\n" + calls
           + f"\n    wf_hourly_margin_slots(9, {args});\n}}\n"
           + "void wf_poisson(double u, double lam, int k_max, long long& count) {\n" + _POISSON_SOURCE + "}\n")
    (tmp_path / "all.cpp").write_text(src)
    res = subprocess.run([cxx, "-std=c++14", "-fsyntax-only", "-Wall", "-Wno-unknown-pragmas", "-Werror",
                          str(tmp_path / "all.cpp")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
