"""Choice of array namespace: CuPy when a CUDA device answers, NumPy otherwise.

Each entry point asks for one :class:`Backend` and passes its ``xp`` down; kernels never
reach for a bare ``numpy`` themselves. CuPy is imported only inside functions, so
importing this module never touches the GPU driver.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

ENV_VAR = "WATTFOLIO_BACKEND"
NAMES = ("auto", "numpy", "cupy")


class BackendError(ValueError):
    """An array backend was asked for that does not exist or cannot run here."""


@dataclass(frozen=True)
class Backend:
    """An array namespace and its name ("numpy" or "cupy")."""

    name: str
    xp: ModuleType


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device.

    Cached: the driver is probed once per process (probing can take a second).
    Any failure (no CuPy, no driver, broken install) counts as "no device".
    """
    try:
        import cupy  # noqa: PLC0415 - optional dependency, probed lazily

        return int(cupy.cuda.runtime.getDeviceCount()) > 0
    except Exception:  # noqa: BLE001 - every failure means "not usable"
        return False


def get_backend(name: str = "auto") -> Backend:
    """Return the backend called ``name`` ("auto", "numpy" or "cupy").

    "auto" uses the environment variable ``WATTFOLIO_BACKEND`` when it is set, else CuPy
    when a CUDA device answers, else NumPy. Asking for "cupy" (by argument or by the
    environment) where it cannot run raises :class:`BackendError`.
    """
    source = "backend"
    if not isinstance(name, str) or name not in NAMES:
        raise BackendError(f"backend: must be one of {', '.join(NAMES)}, got {name!r}")
    if name == "auto":
        env = os.environ.get(ENV_VAR)
        if env is not None and env.strip() != "":
            name, source = env.strip().lower(), ENV_VAR
            if name not in NAMES:
                raise BackendError(
                    f"{ENV_VAR}: must be one of {', '.join(NAMES)}, got {env!r}")
    if name == "auto":
        name = "cupy" if cuda_available() else "numpy"
    if name == "numpy":
        return Backend("numpy", np)
    if not cuda_available():
        raise BackendError(
            f"{source}: 'cupy' was requested but CuPy is not installed or sees no CUDA "
            "device; use 'numpy' or 'auto'")
    import cupy  # noqa: PLC0415

    return Backend("cupy", cupy)


def array_namespace(a: Any) -> ModuleType:
    """The namespace an array belongs to: cupy for CuPy arrays, numpy for anything else."""
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy  # noqa: PLC0415

        return cupy
    return np


def to_host(a: Any) -> np.ndarray:
    """Copy an array to host memory (CuPy) or pass it through (NumPy / array-likes)."""
    if type(a).__module__.split(".")[0] == "cupy":
        return a.get()
    return np.asarray(a)
