"""Philox4x32-10 and its helpers against published vectors, an independent scalar
reference, exact arithmetic and distribution checks; plus backend selection."""
from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest

from wattfolio.gpu import philox
from wattfolio.gpu.backend import BackendError, cuda_available, get_backend, to_host
from wattfolio.gpu.philox import (box_muller, draw, normals, philox4x32_10, philox_block, uniform01,
                        uniform01_f64, uniforms)

# Known answers: the three "philox4x32 10" lines of Random123's tests/kat_vectors
# (github.com/DEShawResearch/random123, tests/kat_vectors lines 27-29 at commit 9545ff64).
# Format: counter[4] key[2] -> expected[4].
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def reference_philox(ctr: tuple[int, ...], key: tuple[int, ...]) -> tuple[int, ...]:
    """Philox4x32-10 on python ints, straight from the paper's round definition.

    Independent of the vectorised code: arbitrary-precision products, explicit masks.
    """
    m0, m1, w0, w1, mask = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85, 0xFFFFFFFF
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + w0) & mask, (k1 + w1) & mask
        p0, p1 = m0 * c0, m1 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & mask, (p0 >> 32) ^ c3 ^ k1, p0 & mask
    return c0, c1, c2, c3


def test_reference_reproduces_kat() -> None:
    # Guards the reference itself before it is used to judge the vectorised code.
    for ctr, key, expected in KAT:
        assert reference_philox(ctr, key) == expected


def test_kat_block_form(xp_backends) -> None:
    xp = xp_backends.xp
    counters = xp.asarray([k[0] for k in KAT], dtype=xp.uint32)
    keys = xp.asarray([k[1] for k in KAT], dtype=xp.uint32)
    out = to_host(philox_block(counters, keys, xp=xp))
    assert out.dtype == np.uint32 and out.shape == (3, 4)
    np.testing.assert_array_equal(out, np.array([k[2] for k in KAT], dtype=np.uint32))


def test_kat_scalar_ints() -> None:
    for ctr, key, expected in KAT:
        got = philox4x32_10(*ctr, *key, xp=np)
        assert all(g.dtype == np.uint32 and g.shape == () for g in got)
        assert tuple(int(g) for g in got) == expected


@pytest.mark.gpu
def test_kat_cupy() -> None:
    import cupy

    counters = cupy.asarray([k[0] for k in KAT], dtype=cupy.uint32)
    keys = cupy.asarray([k[1] for k in KAT], dtype=cupy.uint32)
    out = philox_block(counters, keys, xp=cupy)
    assert isinstance(out, cupy.ndarray)
    np.testing.assert_array_equal(out.get(), np.array([k[2] for k in KAT], dtype=np.uint32))


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_cuda_kernel_body_kat_on_host(tmp_path) -> None:
    # GPU tests run only where a device exists; this checks the CUDA kernel's source on any
    # machine by compiling its body as C, with __umulhi emulated by a 64-bit product.
    calls = "".join(f"k({', '.join(hex(v) + 'u' for v in ctr + key)});" for ctr, key, _ in KAT)
    c_src = (
        "#include <stdio.h>\n#include <stdint.h>\n"
        "static unsigned int __umulhi(unsigned int a, unsigned int b)"
        " { return (unsigned int)(((uint64_t)a * b) >> 32); }\n"
        "#define __device__\n" + philox.CUDA_PHILOX_FN +
        "static void k(unsigned int c0, unsigned int c1, unsigned int c2, unsigned int c3,"
        " unsigned int k0, unsigned int k1) {\n unsigned int x0, x1, x2, x3;\n"
        + philox._CUDA_SOURCE
        + '\n printf("%08x %08x %08x %08x\\n", x0, x1, x2, x3);\n}\n'
        + "int main(void) { " + calls + " return 0; }\n"
    )
    (tmp_path / "k.c").write_text(c_src)
    subprocess.run(["cc", "-O1", "-o", str(tmp_path / "k"), str(tmp_path / "k.c")],
                   check=True, capture_output=True)
    lines = subprocess.run([str(tmp_path / "k")], check=True, capture_output=True,
                           text=True).stdout.split("\n")
    for line, (_, _, expected) in zip(lines, KAT):
        assert tuple(int(w, 16) for w in line.split()) == expected


def test_matches_reference_across_blocks() -> None:
    # More counters than one NumPy block, with per-element keys, so block edges and the
    # array-key schedule are both exercised; spot-check against the scalar reference.
    n = 2 * philox._BLOCK + 37
    rng = np.random.default_rng(11)
    words = rng.integers(0, 2**32, size=(6, n), dtype=np.uint64).astype(np.uint32)
    got = np.stack(philox4x32_10(*words, xp=np), axis=-1)
    edges = [0, 1, philox._BLOCK - 1, philox._BLOCK, philox._BLOCK + 1, 2 * philox._BLOCK, n - 1]
    for i in edges + list(rng.integers(0, n, size=150)):
        ref = reference_philox(tuple(int(w) for w in words[:4, i]),
                               tuple(int(w) for w in words[4:, i]))
        assert tuple(int(g) for g in got[i]) == ref, i


def test_scalar_key_equals_broadcast_key() -> None:
    c = np.arange(1000, dtype=np.uint32)
    a = philox4x32_10(c, 5, 6, 7, 0xA4093822, 0x299F31D0, xp=np)
    b = philox4x32_10(c, 5, 6, 7, np.full(1000, 0xA4093822, np.uint32),
                      np.full(1000, 0x299F31D0, np.uint64), xp=np)  # wider int dtype is cast
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_broadcasting_shapes_and_values() -> None:
    scen = np.arange(3, dtype=np.int64).reshape(3, 1)
    month = np.arange(4, dtype=np.int32).reshape(1, 4)
    got = philox4x32_10(scen, month, 9, 2, 17, 0, xp=np)
    assert all(g.shape == (3, 4) and g.dtype == np.uint32 for g in got)
    for s in range(3):
        for m in range(4):
            assert tuple(int(g[s, m]) for g in got) == reference_philox((s, m, 9, 2), (17, 0))


def test_empty_input() -> None:
    got = philox4x32_10(np.zeros(0, np.uint32), 0, 0, 0, 0, 0, xp=np)
    assert all(g.shape == (0,) for g in got)


def test_draw_key_from_seed() -> None:
    lo, hi = 0x89ABCDEF, 0x01234567
    seed = (hi << 32) | lo
    got = draw(seed, 4, 5, 6, 7, xp=np)
    assert tuple(int(g) for g in got) == reference_philox((4, 5, 6, 7), (lo, hi))


def test_chunk_invariance() -> None:
    # Scenario s always reads counters (s, ...): splitting the scenario range changes nothing.
    month = np.arange(12).reshape(1, 12)
    whole = uniforms(7, np.arange(1000).reshape(-1, 1), month, 3, 1, xp=np)
    first = uniforms(7, np.arange(500).reshape(-1, 1), month, 3, 1, xp=np)
    second = uniforms(7, np.arange(500, 1000).reshape(-1, 1), month, 3, 1, xp=np)
    for w, a, b in zip(whole, first, second):
        np.testing.assert_array_equal(w, np.concatenate([a, b], axis=0))
    zw = normals(7, np.arange(1000), 0, 0, 2, xp=np)
    za = normals(7, np.arange(500), 0, 0, 2, xp=np)
    zb = normals(7, np.arange(500, 1000), 0, 0, 2, xp=np)
    for w, a, b in zip(zw, za, zb):
        np.testing.assert_array_equal(w, np.concatenate([a, b]))


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"scenario: must be in \[0, 2\*\*32\), got -1"):
        draw(1, -1, 0, 0, 0, xp=np)
    with pytest.raises(ValueError, match=r"seed: must be in \[0, 2\*\*64\), got 18446744073709551616"):
        draw(2**64, 0, 0, 0, 0, xp=np)
    with pytest.raises(TypeError, match="month: must be an integer array, got dtype float64"):
        draw(1, 0, np.array([0.5]), 0, 0, xp=np)
    with pytest.raises(TypeError, match="seed"):
        draw(1.5, 0, 0, 0, 0, xp=np)
    with pytest.raises(ValueError, match=r"counters: last axis must have length 4, got shape \(2, 3\)"):
        philox_block(np.zeros((2, 3), np.uint32), np.zeros((2, 2), np.uint32), xp=np)


def test_uniform01_exact_and_strictly_inside() -> None:
    # Extremes: bits 0 -> (0 + 0.5) / 2**23 = 2**-24; all ones -> (2**23 - 0.5) / 2**23.
    bits = np.array([0, 1, 511, 512, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF], dtype=np.uint32)
    u = uniform01(bits, xp=np)
    assert u.dtype == np.float32
    expected = [2.0**-24, 2.0**-24, 2.0**-24, 3 * 2.0**-24, 0.5 - 2.0**-24, 0.5 + 2.0**-24,
                1.0 - 2.0**-24]
    assert u.tolist() == expected
    # Exactness on random words: the float32 result equals the float64 formula exactly.
    w = np.random.default_rng(3).integers(0, 2**32, 100_000, dtype=np.uint64)
    u = uniform01(w.astype(np.uint32), xp=np)
    exact = ((w >> 9).astype(np.float64) + 0.5) / 2.0**23
    np.testing.assert_array_equal(u.astype(np.float64), exact)
    assert u.min() > 0.0 and u.max() < 1.0


def test_uniform01_f64() -> None:
    u = uniform01_f64(np.array([0, 0xFFFFFFFF], dtype=np.uint32), xp=np)
    assert u.dtype == np.float64
    assert u.tolist() == [2.0**-33, 1.0 - 2.0**-33]


def test_uniforms_statistics() -> None:
    n = 1_000_000
    u0, u1, u2, u3 = uniforms(2024, np.arange(n), 0, 0, 0, xp=np)
    se = math.sqrt(1.0 / 12.0 / n)  # s.e. of the mean of U(0,1)
    for u in (u0, u1, u2, u3):
        assert abs(float(u.mean(dtype=np.float64)) - 0.5) < 5 * se
        # Var of U(0,1) is 1/12; the s.e. of the sample variance is sqrt(1/180/n).
        assert abs(float(u.var(dtype=np.float64)) - 1 / 12) < 5 * math.sqrt(1 / 180 / n)
    # Words of one counter, and neighbouring counters, are uncorrelated.
    for a, b in ((u0, u1), (u2, u3), (u0[:-1], u0[1:])):
        assert abs(float(np.corrcoef(a, b)[0, 1])) < 5 / math.sqrt(n)
    # Different streams give different numbers.
    v0 = uniforms(2024, np.arange(n), 0, 0, 1, xp=np)[0]
    assert abs(float(np.corrcoef(u0, v0)[0, 1])) < 5 / math.sqrt(n)


def test_box_muller_normals() -> None:
    n = 200_000
    z0, z1 = normals(99, np.arange(n), 3, 0, 4, xp=np)
    assert z0.dtype == np.float32 and z1.dtype == np.float32
    for z in (z0, z1):
        z64 = z.astype(np.float64)
        assert abs(z64.mean()) < 5 / math.sqrt(n)
        assert abs(z64.var() - 1.0) < 5 * math.sqrt(2.0 / n)
        # Kolmogorov-Smirnov distance to the normal CDF; 1.95/sqrt(n) is the 0.1% level.
        zs = np.sort(z64)
        cdf = 0.5 * (1.0 + np.vectorize(math.erf)(zs / math.sqrt(2.0)))
        ecdf_hi = np.arange(1, n + 1) / n
        d = max(np.max(ecdf_hi - cdf), np.max(cdf - (ecdf_hi - 1.0 / n)))
        assert d < 1.95 / math.sqrt(n)
    assert abs(float(np.corrcoef(z0, z1)[0, 1])) < 5 / math.sqrt(n)


def test_box_muller_hand_values() -> None:
    # u1 = exp(-1/2) gives radius sqrt(-2 ln u1) = 1; u2 = 1/4 puts the angle at pi/2.
    z0, z1 = box_muller(np.float32(math.exp(-0.5)), np.float32(0.25), xp=np)
    assert abs(float(z0)) < 1e-6 and abs(float(z1) - 1.0) < 1e-6


@pytest.mark.gpu
def test_numpy_cupy_bit_identical_uniforms() -> None:
    import cupy

    n = 1_000_000
    scen = np.arange(n, dtype=np.int64)
    host = uniforms(123456789012, scen, 7, 300, 5, xp=np)
    dev = uniforms(123456789012, cupy.asarray(scen), 7, 300, 5, xp=cupy)
    for h, d in zip(host, dev):
        np.testing.assert_array_equal(h, d.get())
    # Normals go through log/cos/sin, which may differ by an ulp between libraries.
    zh = normals(5, scen, 1, 0, 0, xp=np)
    zd = normals(5, cupy.asarray(scen), 1, 0, 0, xp=cupy)
    for h, d in zip(zh, zd):
        np.testing.assert_allclose(h, d.get(), rtol=1e-5, atol=1e-6)


# --- backend selection (gpu/backend.py) ----------------------------------------------

def test_backend_explicit_numpy(monkeypatch) -> None:
    monkeypatch.setenv("WATTFOLIO_BACKEND", "cupy")  # explicit names ignore the env
    b = get_backend("numpy")
    assert b.name == "numpy" and b.xp is np


def test_backend_env_and_errors(monkeypatch) -> None:
    monkeypatch.setenv("WATTFOLIO_BACKEND", "numpy")
    assert get_backend().name == "numpy"
    monkeypatch.setenv("WATTFOLIO_BACKEND", "tpu")
    with pytest.raises(BackendError, match="WATTFOLIO_BACKEND: .*got 'tpu'"):
        get_backend()
    with pytest.raises(BackendError, match="got 'torch'"):
        get_backend("torch")
    monkeypatch.delenv("WATTFOLIO_BACKEND")
    from wattfolio.gpu.compiled import available
    assert get_backend().name == ("cupy" if cuda_available() else "numba" if available() else "numpy")
    monkeypatch.setenv("WATTFOLIO_BACKEND", "numba")
    assert get_backend().name == ("numba" if available() else "")
    x = np.arange(3)
    assert to_host(x) is x


@pytest.mark.skipif(cuda_available(), reason="needs a machine without CUDA")
def test_backend_cupy_unavailable_is_clear(monkeypatch) -> None:
    monkeypatch.delenv("WATTFOLIO_BACKEND", raising=False)
    with pytest.raises(BackendError, match="'cupy' was requested"):
        get_backend("cupy")
