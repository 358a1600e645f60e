"""Property-based fuzz of the command line: mutated instances and plan files never give
a traceback, exit 0, 2 or 3 only, write nothing non-finite, and every plan written
passes `evaluate`.

Seeded (`derandomize=True`) and bounded for CI; a longer local run:
    WATTFOLIO_FUZZ_EXAMPLES=2000 python3 -m pytest -q tests/test_fuzz.py
(the count applies to each of the two fuzz tests).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from wattfolio.cli.main import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "instances" / "tiny.toml"
EXAMPLES = int(os.environ.get("WATTFOLIO_FUZZ_EXAMPLES", "0"))
FUZZ = settings(derandomize=True, deadline=None, database=None,
                max_examples=EXAMPLES or 20, suppress_health_check=list(HealthCheck))
PLAN_FUZZ = settings(derandomize=True, deadline=None, database=None,
                     max_examples=EXAMPLES or 40, suppress_health_check=list(HealthCheck))
OK_EXITS = {0, 2, 3}
COUNT = {"instances": 0, "plans_run": 0, "plan_files": 0}


# ------------------------------------------------------------------ TOML and running

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        r = repr(v)
        return r if any(c in r for c in ".eE") else r + ".0"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}"
                               for k, x in v.items() if x is not None) + "}"
    return json.dumps(str(v))


def to_toml(data: dict) -> str:
    return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in data.items() if v is not None)


def cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:   # argparse
            rc = e.code if isinstance(e.code, int) else 2
    text = out.getvalue() + err.getvalue()
    assert "Traceback" not in text, text
    assert rc in OK_EXITS, (rc, text)
    return rc, text


NONFINITE = re.compile(r"(?<![A-Za-z_])(nan|NaN|-?inf|-?Infinity)(?![A-Za-z_])")


def check_written(out: Path, instance: Path) -> None:
    """No non-finite number in any written file; the plan passes `evaluate`."""
    doc = json.loads((out / "plan.json").read_text(encoding="utf-8"),
                     parse_constant=lambda c: pytest.fail(f"plan.json holds {c}"))
    assert not NONFINITE.search((out / "decisions.csv").read_text(encoding="utf-8"))
    assert np.isfinite(np.load(out / "npv_samples.npy")).all()
    for name in ("frontier.csv", "sensitivity.csv"):
        if (out / name).exists():
            assert not NONFINITE.search((out / name).read_text(encoding="utf-8"))
    rc, text = cli("evaluate", instance, "--plan", out / "plan.json", "--scenarios", doc["scenarios"],
                   "--seed", doc["seed"], "--json")
    assert rc == 0, text


# ------------------------------------------------------------------ mutations

BASE = tomllib.loads(TINY.read_text(encoding="utf-8"))


def _paths(v, prefix=()):
    if isinstance(v, dict):
        yield prefix
        for k, x in v.items():
            yield from _paths(x, prefix + (k,))
    elif isinstance(v, list):
        yield prefix
        for i, x in enumerate(v):
            yield from _paths(x, prefix + (i,))
    else:
        yield prefix


def _nested(depth: int):
    v: object = 1
    for _ in range(depth):
        v = [v]
    return v


ODD_TEXT = ["=SUM(A1:A9)", "+1", "-2", "@cmd", "$x$", "$\\frac{1}{0}$", "a$b", "ü∑ß—😀", "", " ",
            "\t=1", "<script>", "a\nb", "2026-13", "0000-00", "x" * 300]
EXTREME = [0, -1, 1, 2 ** 31, 2 ** 63, -2 ** 63, 10 ** 30, 1e-300, 1e-12, 1 - 1e-13, 1e15, 1e30,
           1e200, 1e300, 1e308, -1e308, 50.0, 100.0, 730, 731, math.nan, math.inf, -math.inf, 0.5]

values = st.one_of(
    st.sampled_from(EXTREME),
    st.sampled_from(ODD_TEXT),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-2 ** 70, max_value=2 ** 70),
    st.booleans(),
    st.text(max_size=12),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.sampled_from(["id", "x", "=", "$a$"]), st.integers(0, 3), max_size=2),
    st.integers(1, 400).map(_nested),
)


def _apply(doc, path, op, value):
    if not path:
        return doc
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    if op == "delete":
        if isinstance(parent, dict):
            parent.pop(key, None)
        else:
            parent.pop(key)
    elif op == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    elif op == "scale":   # a plausible number, often still valid
        old = parent[key]
        if isinstance(old, (int, float)) and not isinstance(old, bool):
            parent[key] = type(old)(old * value) if isinstance(old, float) else int(old * value)
    elif op == "retext":  # odd text where text was (ids, names, tenants)
        if isinstance(parent[key], str):
            parent[key] = value
    else:
        parent[key] = value
    return doc


@st.composite
def mutated(draw, base):
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 2))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["set", "set", "delete", "duplicate", "scale", "scale", "retext"]))
        value = (draw(st.sampled_from([0.0, 0.5, 0.9, 1.1, 2.0, 10.0, 1e3, 1e6])) if op == "scale"
                 else draw(st.sampled_from(ODD_TEXT)) if op == "retext" else draw(values))
        doc = _apply(doc, path, op, value)
    return doc


# ------------------------------------------------------------------ the fuzz tests

@FUZZ
@given(doc=mutated(BASE))
def test_fuzz_instances(doc):
    COUNT["instances"] += 1
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "inst.toml"
        try:
            f.write_text(to_toml(doc), encoding="utf-8")
        except UnicodeEncodeError:   # a lone surrogate: not a file a user can write
            return
        rc, _ = cli("validate", f)
        if rc != 0:
            return
        out = Path(d) / "out"
        COUNT["plans_run"] += 1
        rc, text = cli("plan", f, "--out", out, "--scenarios", "50", "--quality", "none")
        if rc == 0:
            check_written(out, f)
        else:
            assert not (out / "plan.json").exists(), text
            assert text.strip(), "an exit without a cause"


@pytest.fixture(scope="module")
def tiny_plan(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzzplan") / "out"
    rc, text = cli("plan", TINY, "--out", out, "--scenarios", "50", "--quality", "none")
    assert rc == 0, text
    return json.loads((out / "plan.json").read_text())


@PLAN_FUZZ
@given(data=st.data())
def test_fuzz_plan_files(tiny_plan, data):
    COUNT["plan_files"] += 1
    doc = data.draw(mutated({k: tiny_plan[k] for k in ("schema", "decisions", "financing")}
                            | {"extra": {"sites": [{"id": "mine"}]}}))
    doc.pop("extra", None) if data.draw(st.booleans()) else None
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "plan.json"
        try:
            f.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
        except (UnicodeEncodeError, RecursionError, ValueError):
            return
        rc, text = cli("evaluate", TINY, "--plan", f, "--scenarios", "20", "--json")
        if rc == 0:
            assert not NONFINITE.search(text)


def test_fuzz_counts_reported():
    """Prints the counts (visible with -s) so a long run can quote them."""
    print(f"fuzz counts: {COUNT}, examples setting {EXAMPLES or 'default'}")
