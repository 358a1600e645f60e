"""The fused CUDA kernel for mothballing, checked without a GPU: its path function is
compiled as C for the CPU and must equal the NumPy recursion bit for bit (the rule is
integer counting and one subtraction), on random paths that stop and restart often."""
from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from wattfolio.gpu.mothball import PATH_SOURCE, mothball

HARNESS = r"""
#define __device__
#include <stdbool.h>
""" + PATH_SOURCE + r"""
void wf_all(const double* margin, double* out, long long sites, long long scenarios,
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
def cpu_kernel(tmp_path_factory):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("mothball")
    (d / "k.c").write_text(HARNESS)
    subprocess.run([cc, "-O2", "-fPIC", "-shared", "-o", str(d / "k.so"), str(d / "k.c")],
                   check=True, capture_output=True)
    f = ctypes.CDLL(str(d / "k.so")).wf_all
    P = np.ctypeslib.ndpointer
    f.argtypes = [P(np.float64, flags="C"), P(np.float64, flags="C"), ctypes.c_longlong,
                  ctypes.c_longlong, ctypes.c_longlong, P(np.int64, flags="C"),
                  P(np.int64, flags="C"), P(np.float64, flags="C")]
    return f


def test_cpu_build_of_mothball_kernel_equals_numpy(cpu_kernel):
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
    cpu_kernel(np.ascontiguousarray(margin), got, sites, scenarios, months,
               np.where(patience > 0, patience, never).astype(np.int64),
               np.where(restart > 0, restart, never).astype(np.int64), cost)
    assert (expected == 0).mean() > 0.1 and (expected != margin).any()  # it does stop and restart
    assert np.array_equal(got, expected)
