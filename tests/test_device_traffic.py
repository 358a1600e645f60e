"""No host-device copy inside the valuation's chunk loop.

The engine moves its inputs to the device once per valuation (`gpu.device`); inside the
loop over scenario chunks nothing may cross. On the CPU this is checked by running the
engine on a NumPy namespace whose ``asarray`` (the one host-to-device step of the code)
is counted: the count must not grow with the number of chunks, and no call may happen
between two chunks. Where CuPy has a device, the same runs count real copies: CuPy stages
every host-to-device copy of an array through pinned memory, so a counting pinned-memory
allocator sees each one; and `cupyx.allow_synchronize(False)` fails any wait for the
device (a device-to-host copy, a ``float()`` of a device value) inside the loop.
"""
from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from wattfolio.gpu.backend import Backend, get_backend, is_cupy, to_host
from wattfolio.gpu.device import device_inputs
from wattfolio.gpu.risk import summary
from wattfolio.gpu.valuation import _value_chunk, discount_factors, simulate_value_table, valuation_months
from wattfolio.instance.load import load_instance
from wattfolio.planning.catalog import build_catalog
from wattfolio.planning.valuation import engine_inputs

ROOT = Path(__file__).resolve().parents[1]
S = 96


class CountingNumpy(types.ModuleType):
    """NumPy, with every ``asarray`` / ``array`` call counted."""

    def __init__(self) -> None:
        super().__init__("counting_numpy")
        self.calls = 0

    def __getattr__(self, name):
        return getattr(np, name)

    def asarray(self, *args, **kwargs):
        self.calls += 1
        return np.asarray(*args, **kwargs)

    def array(self, *args, **kwargs):
        self.calls += 1
        return np.array(*args, **kwargs)


@pytest.fixture(scope="module", params=["tiny", "vivopower"])
def case(request):
    inst = load_instance(ROOT / "instances" / f"{request.param}.toml").with_plan(scenarios=S, hours_per_month=4)
    cat = build_catalog(inst)
    return inst, engine_inputs(inst, cat), np.linspace(0.0, 1.0, len(cat))


def _run(inputs, backend, chunk, quantities):
    marks = []
    counter = backend.xp if isinstance(backend.xp, CountingNumpy) else None
    vt = simulate_value_table(inputs, S, backend, chunk=chunk, plan_quantities=quantities,
                              progress=lambda done, total: marks.append(counter.calls if counter else 0))
    return vt, marks


def test_counting_namespace_is_numpy_to_the_engine():
    xp = CountingNumpy()
    assert not is_cupy(xp) and xp.float32 is np.float32


@pytest.mark.parametrize("chunk", [S, S // 3, 7])
def test_asarray_calls_do_not_grow_with_the_chunks(case, chunk):
    _, inputs, q = case
    one = CountingNumpy()
    ref, _ = _run(inputs, Backend("numpy", one), S, q)
    xp = CountingNumpy()
    vt, marks = _run(inputs, Backend("numpy", xp), chunk, q)
    assert one.calls > 0                      # the inputs do move, once, before the loop
    assert xp.calls == one.calls, (xp.calls, one.calls)
    assert len(marks) == -(-S // chunk) and len(set(marks)) == 1   # none between two chunks
    assert np.array_equal(vt.npv, ref.npv) and np.array_equal(vt.baseline_npv, ref.baseline_npv)
    plain = simulate_value_table(inputs, S, get_backend("numpy"), chunk=chunk, plan_quantities=q)
    assert np.array_equal(plain.npv, vt.npv)  # the wrapper changes nothing but the count


def test_summary_moves_its_figures_in_one_transfer(monkeypatch):
    import wattfolio.gpu.risk as risk

    calls = []
    monkeypatch.setattr(risk, "to_host", lambda a: calls.append(1) or to_host(a))
    summary(np.random.default_rng(1).normal(size=500), 0.9)
    assert len(calls) == 1


# ---------------------------------------------------------------------------------------
# the same on the device


@pytest.fixture
def counted_pinned():
    """Count CuPy's pinned staging buffers: one per host-to-device copy of an array."""
    cupy = pytest.importorskip("cupy")
    pool = cupy.cuda.PinnedMemoryPool()
    sizes: list[int] = []

    def alloc(size):
        sizes.append(size)
        return pool.malloc(size)

    cupy.cuda.set_pinned_memory_allocator(alloc)
    try:
        yield sizes
    finally:
        cupy.cuda.set_pinned_memory_allocator(cupy.get_default_pinned_memory_pool().malloc)


@pytest.mark.gpu
@pytest.mark.parametrize("chunk", [S // 3, 7])
def test_no_copy_to_the_device_inside_the_chunk_loop(case, counted_pinned, chunk):
    _, inputs, q = case
    be = get_backend("cupy")
    simulate_value_table(inputs, S, be, chunk=S, plan_quantities=q)  # compile the kernels first
    n0 = len(counted_pinned)
    _, marks = _run(inputs, be, S, q)
    one_chunk = len(counted_pinned) - n0
    n0 = len(counted_pinned)
    seen = []
    simulate_value_table(inputs, S, be, chunk=chunk, plan_quantities=q,
                         progress=lambda d, t: seen.append(len(counted_pinned)))
    assert one_chunk > 0
    assert len(counted_pinned) - n0 == one_chunk
    assert len(set(seen)) == 1


@pytest.mark.gpu
def test_no_wait_for_the_device_inside_a_chunk(case):
    cupyx = pytest.importorskip("cupyx")
    _, inputs, q = case
    be = get_backend("cupy")
    xp = be.xp
    simulate_value_table(inputs, S, be, chunk=S, plan_quantities=q)  # compile the kernels first
    dev = device_inputs(xp, inputs)
    h = inputs.horizon
    disc, _ = discount_factors(xp, valuation_months(inputs), h.discount_rate)
    disc_end = (1.0 + h.discount_rate) ** (-h.months / 12.0)
    out = {"npv": xp.zeros((inputs.actions.n, S)), "baseline_npv": xp.zeros(S),
           "plan_cash": xp.zeros((S, h.months))}
    weights = xp.asarray(q)
    be.synchronize()
    with cupyx.allow_synchronize(False):
        for s0 in range(0, S, 32):
            _value_chunk(xp, dev, s0, min(S, s0 + 32), disc, disc_end, out, weights)
    ref = simulate_value_table(inputs, S, be, chunk=32, plan_quantities=q)
    assert np.array_equal(to_host(out["npv"]), to_host(ref.npv))
