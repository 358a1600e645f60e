"""GPU plumbing for the test suite: the ``gpu`` marker and a fixture over array backends.

Tests marked ``@pytest.mark.gpu`` run where CuPy sees a CUDA device and are skipped with
the reason "no CUDA device" everywhere else. ``xp_backends`` runs a test once per usable
backend, so one body checks NumPy always and CuPy where it can.
"""
from __future__ import annotations

import pytest

from wattfolio.gpu.backend import Backend, cuda_available, get_backend

BACKEND_NAMES = ["numpy"] + (["cupy"] if cuda_available() else [])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture(params=BACKEND_NAMES)
def xp_backends(request: pytest.FixtureRequest) -> Backend:
    """Each usable backend in turn (numpy, then cupy where a CUDA device exists)."""
    return get_backend(request.param)
