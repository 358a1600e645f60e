"""Philox4x32-10, the counter-based generator of Salmon et al. (SC'11), written twice.

A counter-based generator maps (counter, key) to random bits with a fixed bijection, so
any draw can be computed directly from its coordinates without carrying state. The
engine-wide convention is::

    counter = (scenario, month, hour, stream)          four uint32 words
    key     = (seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF)

``stream`` names what the draw is for (power price, bitcoin, a tenant's default, ...),
``hour`` is the sampled hour within the month (0 for monthly factors). Because scenario
``s`` always reads the counters with ``counter[0] == s``, its numbers do not depend on how
scenarios are split into chunks or on which backend runs them.

Two implementations give the same bits: a CuPy ``ElementwiseKernel`` (one thread per
counter, ``__umulhi`` for the high word) and a NumPy twin that does the 32x32->64-bit
products in uint64 and reads the high and low words back through a uint32 view of the
product, processing cache-sized blocks. Both are checked against Random123's known-answer
vectors. Uniforms and normals are float32, the dtype of the hourly paths (monthly factors
cast their normals to float64 afterwards); :func:`uniform01_f64` gives float64 uniforms
for rare events. Both uniform maps are exact, hence bit-identical on both backends.

Every function takes the array namespace ``xp`` as a required keyword. Counter words given
as python ints stay scalars (kernel arguments on CuPy), never copied to the device.
"""
from __future__ import annotations

import functools
import math
import sys
from types import ModuleType
from typing import Any

import numpy

from .backend import as_xp, is_cupy, is_cupy_array

# Round multipliers and Weyl key increments of Philox4x32 (Salmon et al. 2011, Random123).
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
ROUNDS = 10
_MASK32 = 0xFFFFFFFF

# NumPy twin works on blocks of this many counters: its ~3 MB working set stays in cache,
# which measured twice as fast as whole-array passes at 1e6 counters.
_BLOCK = 65536

# The Philox rounds as a CUDA device function: the one copy every kernel that draws in
# registers includes (the elementwise kernel below, gpu/hourly_kernel.py). Plain C apart
# from __umulhi, so tests also compile it for the CPU with __umulhi emulated.
CUDA_PHILOX_FN = r"""
__device__ static inline void wf_philox(unsigned int a0, unsigned int a1, unsigned int a2,
                                        unsigned int a3, unsigned int ka, unsigned int kb,
                                        unsigned int* x) {
    for (int r = 0; r < 10; ++r) {
        if (r > 0) { ka += 0x9E3779B9u; kb += 0xBB67AE85u; }
        const unsigned int hi0 = __umulhi(0xD2511F53u, a0);
        const unsigned int lo0 = 0xD2511F53u * a0;
        const unsigned int hi1 = __umulhi(0xCD9E8D57u, a2);
        const unsigned int lo1 = 0xCD9E8D57u * a2;
        a0 = hi1 ^ a1 ^ ka;
        a1 = lo1;
        a2 = hi0 ^ a3 ^ kb;
        a3 = lo0;
    }
    x[0] = a0; x[1] = a1; x[2] = a2; x[3] = a3;
}
"""

_CUDA_SOURCE = r"""
unsigned int wf_x[4];
wf_philox(c0, c1, c2, c3, k0, k1, wf_x);
x0 = wf_x[0]; x1 = wf_x[1]; x2 = wf_x[2]; x3 = wf_x[3];
"""


@functools.lru_cache(maxsize=1)
def _cupy_kernel() -> Any:
    """The CuPy kernel, built on first use (never at import: CuPy is optional)."""
    import cupy  # noqa: PLC0415

    return cupy.ElementwiseKernel(
        "uint32 c0, uint32 c1, uint32 c2, uint32 c3, uint32 k0, uint32 k1",
        "uint32 x0, uint32 x1, uint32 x2, uint32 x3",
        _CUDA_SOURCE,
        "wattfolio_philox4x32_10",
        preamble=CUDA_PHILOX_FN,
    )


def _as_uint32(name: str, v: Any, xp: ModuleType) -> Any:
    """A uint32 word: a python int in [0, 2**32) stays a scalar (numpy.uint32, passed to a
    kernel as an argument, never copied); an integer array is cast modulo 2**32 in xp."""
    if isinstance(v, bool):
        raise TypeError(f"{name}: must be an integer or an integer array, got {v!r}")
    if isinstance(v, (int, numpy.integer)):
        if not 0 <= int(v) <= _MASK32:
            raise ValueError(f"{name}: must be in [0, 2**32), got {int(v)}")
        return numpy.uint32(v)
    a = as_xp(xp, v)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name}: must be an integer array, got dtype {a.dtype}")
    return a.astype(xp.uint32, copy=False)


def philox4x32_10(c0: Any, c1: Any, c2: Any, c3: Any, k0: Any, k1: Any, *,
                  xp: ModuleType) -> tuple[Any, Any, Any, Any]:
    """Philox4x32 with 10 rounds on broadcastable counter words c0..c3 and key words k0, k1.

    Inputs are python ints in [0, 2**32) or integer arrays (cast to uint32); returns four
    uint32 arrays of the broadcast shape, in ``xp``'s memory.
    """
    names = ("c0", "c1", "c2", "c3", "k0", "k1")
    words = [_as_uint32(n, v, xp) for n, v in zip(names, (c0, c1, c2, c3, k0, k1))]
    if is_cupy(xp):
        if not any(is_cupy_array(w) for w in words):  # all scalars: the kernel needs a shape
            words[0] = xp.asarray(words[0])
        return tuple(_cupy_kernel()(*words))
    return _philox_numpy(*(numpy.asarray(w) for w in words))


def _philox_numpy(c0: numpy.ndarray, c1: numpy.ndarray, c2: numpy.ndarray,
                  c3: numpy.ndarray, k0: numpy.ndarray, k1: numpy.ndarray,
                  ) -> tuple[numpy.ndarray, ...]:
    """NumPy twin of the kernel: same rounds, vectorised over blocks of counters."""
    shape = numpy.broadcast_shapes(*(w.shape for w in (c0, c1, c2, c3, k0, k1)))
    n = math.prod(shape)
    out = [numpy.empty(n, numpy.uint32) for _ in range(4)]
    if n == 0:
        return tuple(o.reshape(shape) for o in out)
    flat = [numpy.broadcast_to(w, shape).reshape(-1) for w in (c0, c1, c2, c3)]
    scalar_key = k0.size == 1 and k1.size == 1
    if scalar_key:
        a, b = int(k0.reshape(-1)[0]), int(k1.reshape(-1)[0])
        round_keys = [numpy.array([[(a + r * PHILOX_W0) & _MASK32],
                                   [(b + r * PHILOX_W1) & _MASK32]], numpy.uint32)
                      for r in range(ROUNDS)]
    else:
        keys = [numpy.broadcast_to(k, shape).reshape(-1) for k in (k0, k1)]
        weyl = numpy.array([[PHILOX_W0], [PHILOX_W1]], numpy.uint32)

    B = min(_BLOCK, n)
    # Rows hold (c0, c2): the words that get multiplied, so one ufunc call does both
    # products. The products go to two alternating uint64 buffers; their uint32 halves are
    # read through a view, so the low words need no copy: the row-reversed low halves of
    # the previous round *are* the new (c1, c3).
    c02_buf = numpy.empty((2, B), numpy.uint32)
    c13_buf = numpy.empty((2, B), numpy.uint32)
    key_buf = numpy.empty((2, B), numpy.uint32)
    prod = [numpy.empty((2, B), numpy.uint64) for _ in range(2)]
    lo_word, hi_word = (0, 1) if sys.byteorder == "little" else (1, 0)
    halves = [p.view(numpy.uint32).reshape(2, B, 2) for p in prod]
    hi_rev = [h[..., hi_word][::-1] for h in halves]
    lo_rev = [h[..., lo_word][::-1] for h in halves]
    mult = numpy.array([[PHILOX_M0], [PHILOX_M1]], numpy.uint64)

    for s in range(0, n, B):
        e = min(n, s + B)
        m = e - s
        c02 = c02_buf[:, :m]
        c13 = c13_buf[:, :m]
        c02[0], c02[1] = flat[0][s:e], flat[2][s:e]
        c13[0], c13[1] = flat[1][s:e], flat[3][s:e]
        if not scalar_key:
            kk = key_buf[:, :m]
            kk[0], kk[1] = keys[0][s:e], keys[1][s:e]
        for r in range(ROUNDS):
            j = r & 1
            numpy.multiply(c02, mult, out=prod[j][:, :m])
            # new c0 = hi(M1*c2) ^ c1 ^ k0 ; new c2 = hi(M0*c0) ^ c3 ^ k1
            numpy.bitwise_xor(hi_rev[j][:, :m], c13, out=c02)
            if scalar_key:
                c02 ^= round_keys[r]
            else:
                if r > 0:
                    kk += weyl  # uint32 arithmetic wraps modulo 2**32, as the key schedule does
                c02 ^= kk
            c13 = lo_rev[j][:, :m]
        out[0][s:e], out[2][s:e] = c02[0], c02[1]
        out[1][s:e], out[3][s:e] = c13[0], c13[1]
    return tuple(o.reshape(shape) for o in out)


def philox_block(counters: Any, keys: Any, *, xp: ModuleType) -> Any:
    """Array form: counters uint32 (..., 4) and keys uint32 (..., 2) -> uint32 (..., 4)."""
    counters = as_xp(xp, counters)
    keys = as_xp(xp, keys)
    if counters.ndim < 1 or counters.shape[-1] != 4:
        raise ValueError(f"counters: last axis must have length 4, got shape {counters.shape}")
    if keys.ndim < 1 or keys.shape[-1] != 2:
        raise ValueError(f"keys: last axis must have length 2, got shape {keys.shape}")
    words = philox4x32_10(counters[..., 0], counters[..., 1], counters[..., 2],
                          counters[..., 3], keys[..., 0], keys[..., 1], xp=xp)
    return xp.stack(words, axis=-1)


def seed_key(seed: int) -> tuple[int, int]:
    """The Philox key of a 64-bit seed: (low word, high word)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, numpy.integer)):
        raise TypeError(f"seed: must be an integer, got {seed!r}")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed: must be in [0, 2**64), got {seed}")
    return seed & _MASK32, (seed >> 32) & _MASK32


def draw(seed: int, scenario: Any, month: Any, hour: Any, stream: Any, *,
         xp: ModuleType) -> tuple[Any, Any, Any, Any]:
    """The four uint32 words at counter (scenario, month, hour, stream) under ``seed``.

    Counter components broadcast; integer arrays of any dtype are taken modulo 2**32.
    """
    k0, k1 = seed_key(seed)
    parts = [_as_uint32(n, v, xp) for n, v in
             (("scenario", scenario), ("month", month), ("hour", hour), ("stream", stream))]
    return philox4x32_10(*parts, k0, k1, xp=xp)


def uniform01(bits: Any, *, xp: ModuleType) -> Any:
    """float32 uniforms strictly inside (0, 1) from uint32 words, computed exactly.

    Uses the top 23 bits: ``((bits >> 9) + 0.5) * 2**-23``. Every step is exact in float32
    (a 23-bit integer plus one half needs 24 significant bits), so both backends give the
    same bits; the extremes are 2**-24 and 1 - 2**-24. (Taking 24 bits would need 25
    significant bits: the top word would round up to exactly 1.0.)
    """
    top = xp.right_shift(as_xp(xp, bits, xp.uint32), xp.uint32(9))
    u = top.astype(xp.float32)
    u += xp.float32(0.5)
    u *= xp.float32(2.0**-23)
    return u


def uniform01_f64(bits: Any, *, xp: ModuleType) -> Any:
    """float64 uniforms strictly inside (0, 1): ``(bits + 0.5) * 2**-32``, exact.

    For rare events (spike hours, defaults) where 2**-23 steps would bias small
    probabilities.
    """
    u = as_xp(xp, bits, xp.uint32).astype(xp.float64)
    u += 0.5
    u *= 2.0**-32
    return u


def box_muller(u1: Any, u2: Any, *, xp: ModuleType) -> tuple[Any, Any]:
    """Two independent float32 standard normals from two uniforms in (0, 1).

    ``u1`` must be > 0 (as :func:`uniform01` guarantees); its floor 2**-24 caps |z| at
    about 5.8 sigma. Transcendentals differ by an ulp or so between backends, so normals
    agree closely, not bit for bit.
    """
    u1 = as_xp(xp, u1, xp.float32)
    u2 = as_xp(xp, u2, xp.float32)
    radius = xp.sqrt(xp.float32(-2.0) * xp.log(u1))
    angle = xp.float32(2.0 * math.pi) * u2
    return radius * xp.cos(angle), radius * xp.sin(angle)


def normals(seed: int, scenario: Any, month: Any, hour: Any, stream: Any, *,
            xp: ModuleType) -> tuple[Any, Any]:
    """Two float32 standard normals per counter (from words 0 and 1; 2 and 3 are unused)."""
    x0, x1, _, _ = draw(seed, scenario, month, hour, stream, xp=xp)
    return box_muller(uniform01(x0, xp=xp), uniform01(x1, xp=xp), xp=xp)


def uniforms(seed: int, scenario: Any, month: Any, hour: Any, stream: Any, *,
             xp: ModuleType) -> tuple[Any, Any, Any, Any]:
    """Four float32 uniforms in (0, 1) per counter."""
    return tuple(uniform01(w, xp=xp)
                 for w in draw(seed, scenario, month, hour, stream, xp=xp))
