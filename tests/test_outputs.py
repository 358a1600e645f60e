"""Outputs: paths checked before any work, sets swapped in whole, a lock per folder,
leftovers cleaned, devices and other special files never replaced, CSV cells escaped."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wattfolio.errors import OutputError
from wattfolio.outputs import (MANIFEST, check_output_dir, check_output_file, csv_cell,
                               release_output_dir, write_file, write_outputs)

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "instances" / "tiny.toml")


def run(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "wattfolio.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, **kw)


def test_check_output_dir_refuses(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    for bad, why in [(f, "is a file"), ("/dev/null", "system path"), ("/proc/self/x", "system path"),
                     (tmp_path / "missing" / "out", "does not exist"), ("/", "")]:
        with pytest.raises(OutputError) as e:
            check_output_dir(bad)
        assert why in str(e.value)
    mine = tmp_path / "user"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="did not write"):
        check_output_dir(mine)
    assert (mine / "notes.txt").read_text() == "keep"


def test_check_output_file_refuses(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for bad, why in [(tmp_path, "is a folder"), ("/dev/null", "system path"), (fifo, "not a regular"),
                     (tmp_path / "no" / "x.npy", "does not exist"), ("/proc/x.npy", "system path")]:
        with pytest.raises(OutputError) as e:
            check_output_file(bad)
        assert why in str(e.value)
    assert check_output_file(tmp_path / "ok.npy") == (tmp_path / "ok.npy").resolve()


def test_read_only_parent(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK) and os.geteuid() == 0:
            pytest.skip("root writes read-only folders")
        with pytest.raises(OutputError, match="not writable"):
            check_output_file(ro / "x.npy")
    finally:
        ro.chmod(0o700)


def test_device_is_never_replaced(tmp_path):
    from wattfolio.cli.main import main

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target in ("/dev/null", str(fifo)):
        before = os.stat(target)
        assert main(["evaluate", TINY, "--plan", "nowhere.json", "--samples", target]) == 2
        after = os.stat(target)
        assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino
        with pytest.raises(OutputError):
            write_file(target, b"x")
        assert not stat.S_ISREG(os.stat(target).st_mode)


def test_sets_swap_whole_and_keep_other_sets(tmp_path):
    out = tmp_path / "out"
    write_outputs(out, {"plan.json": "{}", "frontier.csv": "a"}, kind="plan")
    write_outputs(out, {"sensitivity.csv": "s"}, kind="sensitivity")
    write_outputs(out, {"plan.json": "{\"v\": 2}"}, kind="plan")      # stale frontier.csv goes
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([MANIFEST, "plan.json", "sensitivity.csv"])
    assert json.loads((out / MANIFEST).read_text())["files"] == ["plan.json", "sensitivity.csv"]
    assert not [p for p in tmp_path.iterdir() if "wattfolio-tmp" in p.name or "wattfolio-old" in p.name]


def test_leftovers_of_a_killed_run_are_cleaned(tmp_path):
    out = tmp_path / "out"
    write_outputs(out, {"plan.json": "{}"})
    junk = tmp_path / ".out.wattfolio-tmp-99999"
    junk.mkdir()
    (junk / "plan.json").write_text("half")
    write_outputs(out, {"plan.json": "{\"v\": 2}"})
    assert not junk.exists()


def test_lock_keeps_a_second_run_out(tmp_path):
    out = tmp_path / "out"
    check_output_dir(out)
    try:
        p = run("plan", TINY, "--out", out, "--scenarios", "50", "--quality", "none")
        _, err = p.communicate(timeout=120)
        assert p.returncode == 2 and "another wattfolio run" in err
    finally:
        release_output_dir(out)


def test_csv_cells_are_escaped():
    assert [csv_cell(v) for v in ["=1+1", "+x", "-x", "@x", "ok", -1.5, 3]] == \
        ["'=1+1", "'+x", "'-x", "'@x", "ok", -1.5, 3]


def _set(out: Path):
    """(seed, complete?) of the set in `out`."""
    man = json.loads((out / MANIFEST).read_text())
    complete = all((out / n).is_file() for n in man["files"])
    return json.loads((out / "plan.json").read_text())["seed"], complete


def test_sigkill_leaves_old_or_new_set(tmp_path):
    out = tmp_path / "out"
    p = run("plan", TINY, "--out", out, "--scenarios", "50", "--quality", "none", "--seed", "1")
    assert p.wait(timeout=300) == 0
    seen = set()
    for delay in (0.0, 0.7, 1.9, 30.0):   # while writing the set, before the swap, after it
        p = run("plan", TINY, "--out", out, "--scenarios", "50", "--quality", "none", "--seed", "2",
                env={"WATTFOLIO_TEST_PAUSE_BETWEEN_WRITES": "0.5"})
        t0 = time.time()
        while not list(tmp_path.glob(".out.wattfolio-tmp-*")) and p.poll() is None and time.time() - t0 < 120:
            time.sleep(0.02)
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        seed, complete = _set(out)
        assert complete and seed in (1, 2)
        seen.add(seed)
        if seed == 2:   # reset to the old set for the next kill point
            r = run("plan", TINY, "--out", out, "--scenarios", "50", "--quality", "none", "--seed", "1")
            assert r.wait(timeout=300) == 0
    assert seen == {1, 2}
    r = run("plan", TINY, "--out", out, "--scenarios", "50", "--quality", "none", "--seed", "3")
    assert r.wait(timeout=300) == 0
    assert not list(tmp_path.glob(".out.wattfolio-tmp-*")) and _set(out) == (3, True)
