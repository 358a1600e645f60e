"""Choice of array namespace: CuPy when a CUDA device answers, NumPy otherwise.

The pattern of scikit-learn's ``utils/_array_api.py``: each entry point resolves one
:class:`Backend` (:func:`get_backend`, the device is probed once per process) and passes
it, or its ``xp``, down. Every function of ``gpu/`` takes ``xp`` as a required argument;
none falls back to NumPy on its own, and none asks ``xp.__name__``: :func:`is_cupy` is
the one test of which namespace it is. Data cross between host and device only at the
edges: ``xp.asarray`` on host data is the one host-to-device copy (the engine does it
once per valuation, `gpu.device.device_inputs`), :func:`to_host` the one way back.
CuPy is imported only inside functions, so importing this module never touches the GPU
driver.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

ENV_VAR = "WATTFOLIO_BACKEND"
NAMES = ("auto", "numpy", "numba", "cupy")


class BackendError(ValueError):
    """An array backend was asked for that does not exist or cannot run here."""


@dataclass(frozen=True)
class Backend:
    """An array namespace and its name, resolved once per entry point: "cupy" (CUDA),
    "numba" (NumPy arrays, the hot loops compiled: `gpu.compiled`) or "numpy" (the
    vectorised reference)."""

    name: str
    xp: ModuleType

    @property
    def is_cupy(self) -> bool:
        return self.name == "cupy"

    @property
    def compiled(self) -> bool:
        """True when the CPU kernels of `gpu.compiled` run the hot loops."""
        return self.name == "numba"

    def synchronize(self) -> None:
        """Wait for the device's queued work (timing); nothing to wait for on NumPy."""
        if self.is_cupy:
            self.xp.cuda.Device().synchronize()


def is_cupy(xp: Any) -> bool:
    """True when ``xp`` is the CuPy namespace (or a Backend on CuPy): the one such check."""
    if isinstance(xp, Backend):
        return xp.is_cupy
    return getattr(xp, "__name__", None) == "cupy"


def is_cupy_array(a: Any) -> bool:
    """True for a CuPy array (device memory)."""
    return type(a).__module__.split(".")[0] == "cupy"


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


@functools.lru_cache(maxsize=1)
def numba_available() -> bool:
    """True when Numba imports, so that `gpu.compiled`'s kernels can run."""
    try:
        import numba  # noqa: F401, PLC0415 - optional dependency, probed once
        return True
    except Exception:  # noqa: BLE001 - a broken install counts as "not available"
        return False


def get_backend(name: str = "auto") -> Backend:
    """Return the backend called ``name`` ("auto", "numpy", "numba" or "cupy").

    "auto" uses the environment variable ``WATTFOLIO_BACKEND`` when it is set, else CuPy
    when a CUDA device answers, else the compiled CPU kernels when Numba imports, else
    NumPy. Asking for "cupy" or "numba" (by argument or by the environment) where it
    cannot run raises :class:`BackendError`.
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
        name = "cupy" if cuda_available() else ("numba" if numba_available() else "numpy")
    if name == "numpy":
        return Backend("numpy", np)
    if name == "numba":
        if not numba_available():
            raise BackendError(f"{source}: 'numba' was requested but Numba does not import; "
                               "use 'numpy' or 'auto'")
        return Backend("numba", np)
    if not cuda_available():
        raise BackendError(
            f"{source}: 'cupy' was requested but CuPy is not installed or sees no CUDA "
            "device; use 'numpy' or 'auto'")
    import cupy  # noqa: PLC0415

    return Backend("cupy", cupy)


def array_namespace(a: Any) -> ModuleType:
    """The namespace an array belongs to: cupy for CuPy arrays, numpy for anything else."""
    if is_cupy_array(a):
        import cupy  # noqa: PLC0415

        return cupy
    return np


def to_host(a: Any) -> np.ndarray:
    """Copy an array to host memory (CuPy) or pass it through (NumPy / array-likes)."""
    if is_cupy_array(a):
        return a.get()
    return np.asarray(a)


def as_xp(xp: ModuleType, a: Any, dtype: Any = None) -> Any:
    """``a`` as an array of ``xp`` with ``dtype``, for functions that accept host or device
    input. An array already in ``xp``'s memory is used as it is (cast only when its dtype
    differs); host data given to CuPy are copied with ``xp.asarray``. On NumPy nothing
    crosses: host data are NumPy arrays already (``numpy.asarray``, never ``xp.asarray``,
    so that a namespace wrapper counting ``xp.asarray`` counts only real copies)."""
    if is_cupy(xp):
        if not is_cupy_array(a):
            return xp.asarray(a, dtype=dtype)
    elif not isinstance(a, np.ndarray):
        a = np.asarray(a, dtype=dtype)
    return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
