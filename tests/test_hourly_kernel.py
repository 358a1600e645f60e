"""The fused CUDA kernel for hourly margins, checked without a GPU: its body is compiled
as C++ for the CPU and must agree with the NumPy array path on the same counters."""
from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from wattfolio.gpu.factors import POWER_HOURS, hourly_margin_sums
from wattfolio.gpu.hourly_kernel import CELL_SOURCE, SITES_PER_PASS
from wattfolio.gpu.inputs import PowerParams
from wattfolio.gpu.philox import seed_key

HARNESS = r"""
#include <math.h>
#define __device__
static inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
""" + CELL_SOURCE + r"""
extern "C" void wf_all(const unsigned int* scen, int c, int mb, int month0, int j0, int nj,
                       int hours, unsigned int stream, unsigned int k0, unsigned int k1,
                       float sig, float half_var, float spike_p, float spike_price, float cap,
                       const float* level, const float* revenue, double* out) {
    for (int i = 0; i < c; ++i)
        for (int mi = 0; mi < mb; ++mi)
            wf_cell(i, mi, c, mb, j0, nj, scen[i], (unsigned int)(month0 + mi), hours, stream,
                    k0, k1, sig, half_var, spike_p, spike_price, cap, level, revenue, out);
}
"""


@pytest.fixture(scope="module")
def cpu_kernel(tmp_path_factory):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    d = tmp_path_factory.mktemp("kernel")
    (d / "k.cpp").write_text(HARNESS)
    subprocess.run([cxx, "-O2", "-fPIC", "-shared", "-o", str(d / "k.so"), str(d / "k.cpp")],
                   check=True, capture_output=True)
    lib = ctypes.CDLL(str(d / "k.so"))
    f = lib.wf_all
    P = np.ctypeslib.ndpointer
    f.argtypes = [P(np.uint32, flags="C"), ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                  ctypes.c_int, ctypes.c_int, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
                  ctypes.c_float, ctypes.c_float, ctypes.c_float, ctypes.c_float, ctypes.c_float,
                  P(np.float32, flags="C"), P(np.float32, flags="C"), P(np.float64, flags="C")]
    return f


def _power(sig, spike_p):
    one = lambda v: np.array([v], dtype=np.float64)  # noqa: E731
    return PowerParams(mean_price=one(45), volatility=one(0.5), mean_reversion=one(2),
                       seasonal_amplitude=one(0.1), seasonal_peak_month=np.array([8]),
                       hourly_volatility=one(sig), spike_probability=one(spike_p),
                       spike_price=one(900.0), price_cap=one(300.0))


@pytest.mark.parametrize("hours", [24, 7, 730])
def test_cpu_build_of_cuda_kernel_matches_numpy(cpu_kernel, hours):
    rng = np.random.default_rng(3)
    seed, c, mb, month0 = 12345, 40, 5, 17
    n_sites = SITES_PER_PASS + 2  # exercises a second pass over sites
    scen = np.arange(1000, 1000 + c, dtype=np.int64)
    level = rng.uniform(20, 80, size=(c, mb))
    revenue = rng.uniform(30, 90, size=(n_sites, c, mb))
    power = _power(0.45, 0.02)
    expected = hourly_margin_sums(np, seed, scen, month0, level, revenue, power, 0, hours)

    got = np.zeros((n_sites, c, mb))
    k0, k1 = seed_key(seed)
    sig = 0.45
    for j0 in range(0, n_sites, SITES_PER_PASS):
        nj = min(SITES_PER_PASS, n_sites - j0)
        cpu_kernel(scen.astype(np.uint32), c, mb, month0, j0, nj, hours, POWER_HOURS, k0, k1,
                   np.float32(sig), np.float32(0.5 * sig * sig), np.float32(0.02), np.float32(900.0),
                   np.float32(300.0), np.ascontiguousarray(level, dtype=np.float32),
                   np.ascontiguousarray(revenue, dtype=np.float32), got)
    assert (expected > 0).mean() > 0.9  # most cells earn something: the sums are not trivial
    # float32 exp/log/sin/cos of libm and NumPy differ by an ulp or two; a price an ulp
    # apart moves a near-zero gain (revenue ~ price) by ~4e-6 $/MWh
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-4)
