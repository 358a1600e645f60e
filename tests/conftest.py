"""GPU plumbing for the test suite: the ``gpu`` marker and a fixture over array backends.

Tests marked ``@pytest.mark.gpu`` run where CuPy sees a CUDA device and are skipped with
the reason "no CUDA device" everywhere else. ``xp_backends`` runs a test once per usable
backend, so one body checks NumPy always and CuPy where it can.

``WATTFOLIO_BACKEND`` gives a run its meaning (as linopy's ``--run-gpu`` does):

- ``cupy``: the run is a GPU run. It stops at once if CuPy sees no device (a GPU run
  that skipped its GPU tests would pass for nothing); every ``gpu`` test runs, and one
  that skips anyway fails; "auto" backends (the CLI, the API) resolve to CuPy;
- ``numpy``: a CPU run even where a device exists: ``gpu`` tests skip, ``xp_backends``
  is NumPy only;
- unset or ``auto``: whatever the machine has.
"""
from __future__ import annotations

import os

import pytest

from wattfolio.gpu.backend import ENV_VAR, Backend, cuda_available, get_backend

REQUESTED = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
GPU_RUN = REQUESTED == "cupy"
USE_CUPY = cuda_available() and REQUESTED != "numpy"
BACKEND_NAMES = ["numpy"] + (["cupy"] if USE_CUPY else [])


def pytest_configure(config: pytest.Config) -> None:
    if GPU_RUN and not cuda_available():
        raise pytest.UsageError(f"{ENV_VAR}=cupy: CuPy is not installed or sees no CUDA device")


def pytest_report_header(config: pytest.Config) -> str:
    line = f"wattfolio backends: {', '.join(BACKEND_NAMES)} ({ENV_VAR}={REQUESTED})"
    if USE_CUPY:
        import cupy  # noqa: PLC0415

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        line += f"; device: {name}, CuPy {cupy.__version__}"
    return line


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if USE_CUPY:
        return
    reason = f"{ENV_VAR}=numpy" if REQUESTED == "numpy" else "no CUDA device"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """In a GPU run a ``gpu`` test must not skip: its skip becomes a failure."""
    outcome = yield
    report = outcome.get_result()
    if GPU_RUN and report.skipped and item.get_closest_marker("gpu") is not None:
        report.outcome = "failed"
        report.longrepr = f"gpu test skipped in a {ENV_VAR}=cupy run: {report.longrepr}"


@pytest.fixture(params=BACKEND_NAMES)
def xp_backends(request: pytest.FixtureRequest) -> Backend:
    """Each usable backend in turn (numpy, then cupy where a CUDA device exists)."""
    return get_backend(request.param)
