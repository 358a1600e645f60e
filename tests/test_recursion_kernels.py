"""The fused CUDA kernels for recursions in time (gpu/recursions.py), checked without a
GPU: their path functions are compiled as C for the CPU, with the round-to-nearest
intrinsics as plain IEEE products and sums and contraction into FMA turned off (as the
intrinsics force on the device), and must equal the NumPy loops bit for bit."""
from __future__ import annotations

import ctypes
import math
import shutil
import subprocess

import numpy as np
import pytest

from wattfolio.gpu.recursions import PATH_SOURCE, linear_recursion, mothball

HARNESS = r"""
#define __device__
#include <stdbool.h>
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
""" + PATH_SOURCE + r"""
void wf_linear_all(const double* d, double* x, long long rows, long long months, double phi) {
    for (long long r = 0; r < rows; ++r) wf_linear_path(d + r * months, x + r * months, months, phi);
}

void wf_mothball_all(const double* margin, double* out, long long sites, long long scenarios,
                     long long months, const long long* stop_limit, const long long* start_limit,
                     const double* cost) {
    for (long long p = 0; p < sites * scenarios; ++p) {
        const long long site = p / scenarios;
        wf_mothball_path(margin + p * months, out + p * months, months, stop_limit[site],
                         start_limit[site], cost[site]);
    }
}
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("recursions")
    (d / "k.c").write_text(HARNESS)
    subprocess.run([cc, "-O2", "-ffp-contract=off", "-fPIC", "-shared", "-o", str(d / "k.so"), str(d / "k.c")],
                   check=True, capture_output=True)
    so = ctypes.CDLL(str(d / "k.so"))
    P = np.ctypeslib.ndpointer
    so.wf_linear_all.argtypes = [P(np.float64, flags="C"), P(np.float64, flags="C"), ctypes.c_longlong,
                                 ctypes.c_longlong, ctypes.c_double]
    so.wf_mothball_all.argtypes = [P(np.float64, flags="C"), P(np.float64, flags="C"), ctypes.c_longlong,
                                   ctypes.c_longlong, ctypes.c_longlong, P(np.int64, flags="C"),
                                   P(np.int64, flags="C"), P(np.float64, flags="C")]
    return so


@pytest.mark.parametrize("phi", [math.exp(-3.0 / 12.0), 0.999, 0.0])
def test_cpu_build_of_linear_recursion_kernel_equals_numpy(lib, phi):
    d = np.random.default_rng(4).normal(size=(257, 300))
    expected = linear_recursion(np, d, phi)
    got = np.empty_like(d)
    lib.wf_linear_all(np.ascontiguousarray(d), got, d.shape[0], d.shape[1], phi)
    assert np.array_equal(got, expected)
    # and it is the recursion: x_m = phi x_{m-1} + d_m
    np.testing.assert_allclose(expected[:, 1:], phi * expected[:, :-1] + d[:, 1:], rtol=0, atol=1e-12)


def test_linear_recursion_rows_do_not_depend_on_each_other():
    d = np.random.default_rng(8).normal(size=(64, 144))
    whole = linear_recursion(np, d, 0.97)
    for rows in (slice(0, 1), slice(3, 10), slice(5, 64)):
        assert np.array_equal(linear_recursion(np, d[rows], 0.97), whole[rows])


def test_cpu_build_of_mothball_kernel_equals_numpy(lib):
    rng = np.random.default_rng(5)
    sites, scenarios, months = 5, 300, 144
    # slow swings around zero with noise: long losing and paying runs, exact zeros too
    trend = np.sin(np.arange(months) / rng.uniform(3, 9, size=(sites, scenarios, 1)))
    margin = np.round(trend * 50 + rng.normal(0, 20, size=(sites, scenarios, months)))
    patience = np.array([3, 1, 0, 6, 2])
    restart = np.array([2, 0, 3, 1, 4])
    cost = np.array([100.0, 5.0, 0.0, 12.5, 0.3])
    expected = mothball(np, margin, patience, restart, cost)
    never = np.iinfo(np.int64).max
    got = np.empty_like(margin)
    lib.wf_mothball_all(np.ascontiguousarray(margin), got, sites, scenarios, months,
                        np.where(patience > 0, patience, never).astype(np.int64),
                        np.where(restart > 0, restart, never).astype(np.int64), cost)
    assert (expected == 0).mean() > 0.1 and (expected != margin).any()  # it does stop and restart
    assert np.array_equal(got, expected)


@pytest.mark.gpu
def test_cupy_recursions_equal_numpy_bit_for_bit():
    import cupy

    d = np.random.default_rng(4).normal(size=(300, 200))
    assert np.array_equal(cupy.asnumpy(linear_recursion(cupy, cupy.asarray(d), 0.93)), linear_recursion(np, d, 0.93))
    m = np.round(np.random.default_rng(6).normal(0, 30, size=(3, 200, 144)))
    args = (np.array([3, 0, 2]), np.array([2, 3, 0]), np.array([10.0, 0.0, 2.5]))
    assert np.array_equal(cupy.asnumpy(mothball(cupy, cupy.asarray(m), *args)), mothball(np, m, *args))
