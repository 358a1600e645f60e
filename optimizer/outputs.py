"""Safe output: a run's files appear together, whole, or not at all, and nothing that
is not wattfolio's is replaced.

An output folder (`--out DIR`) is owned by wattfolio. It may be missing, empty, or a
folder wattfolio wrote before (it holds `.wattfolio.json`, or only wattfolio's
file names); anything else is refused (exit 2) before any computing starts.

A run writes its whole set into a temporary sibling folder, `.DIR.wattfolio-tmp-PID`,
copies in (hard links) the files of the previous set that it does not rewrite (so
`plan` then `frontier` into one folder keep both), writes the manifest last, and swaps
the folder in with one atomic rename (`renameat2(RENAME_EXCHANGE)` where the kernel has
it). A reader, a kill or Ctrl-C therefore sees the old complete set or the new one.
A lock, `flock` on the sibling `.DIR.wattfolio.lock`, keeps a second run out of the
same folder (exit 2); the run that holds the lock removes the temporary folders a killed
run left behind.

Single files (`--samples`, `--cash`, `init --out`) are written to a temporary file
beside the target and renamed over it; an existing target that is not a regular file
(a device such as /dev/null, a FIFO, a folder) is never replaced.
"""
from __future__ import annotations

import ctypes
import errno
import json
import math
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Union

import numpy as np

from .errors import OutputError

Content = Union[bytes, str, Callable[[Path], None]]  # a writer receives the temp path

MANIFEST = ".wattfolio.json"   # the set's manifest, written last
# what wattfolio writes into an output folder: a folder holding only these is ours
KNOWN_FILES = {"plan.json", "decisions.csv", "npv_samples.npy", "npv_samples.parquet", "report.html",
               "npv_samples.parquet", "cash_quantiles.parquet",
               "frontier.json", "frontier.csv", "frontier.svg",
               "sensitivity.json", "sensitivity.csv", "tornado.svg", MANIFEST}
SPECIAL_ROOTS = ("/proc", "/sys", "/dev")
PAUSE_ENV = "WATTFOLIO_TEST_PAUSE_BETWEEN_WRITES"   # test hook: seconds between writes

_locks: dict[str, int] = {}   # output folder (resolved) -> the fd holding its flock


def _fail(option: str, path: Any, why: str) -> OutputError:
    return OutputError([f"{option}: {path}: {why}"])


def _special(p: Path) -> bool:
    s = str(p)
    return any(s == r or s.startswith(r + "/") for r in SPECIAL_ROOTS)


def _check_parent(parent: Path, option: str, shown: Any) -> None:
    try:
        st = os.stat(parent)
    except FileNotFoundError:
        raise _fail(option, shown, f"its folder {parent} does not exist") from None
    except OSError as e:
        raise _fail(option, shown, f"its folder {parent} cannot be read ({e.strerror})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise _fail(option, shown, f"{parent} is not a folder")
    try:  # a probe: catches read-only mounts and /proc-like file systems os.access misses
        fd, probe = tempfile.mkstemp(prefix=".wattfolio-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise _fail(option, shown, f"its folder {parent} is not writable ({e.strerror})") from None


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """Refuse, before any work, a file target wattfolio must not or cannot write: a
    folder, a device, FIFO or other non-regular file, a path under /proc, /sys or /dev,
    a missing or read-only parent. Raises OutputError (exit 2)."""
    p = Path(path)
    real = Path(os.path.realpath(p))
    if _special(real):
        raise _fail(option, path, f"{real} is a system path, not a file to write")
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise _fail(option, path, f"cannot be checked ({e.strerror})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise _fail(option, path, "is a folder; give a file name")
        if not stat.S_ISREG(st.st_mode):
            raise _fail(option, path, "exists and is not a regular file; not replaced")
    _check_parent(real.parent, option, path)
    return real


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Refuse, before any work, an output folder wattfolio must not or cannot write,
    and take its lock (held until the process ends, or `release_output_dir`).

    Refused (OutputError, exit 2): an existing file or device where a folder is
    wanted, a path under /proc, /sys or /dev, a missing or read-only parent, a folder
    with files that are not wattfolio's, and a folder another run is writing."""
    p = Path(path)
    real = Path(os.path.realpath(p))
    if _special(real):
        raise _fail(option, path, f"{real} is a system path, not an output folder")
    if real.parent == real:
        raise _fail(option, path, "is a file-system root, not an output folder")
    _check_parent(real.parent, option, path)
    _lock(real, option, path)
    try:
        _recover(real)
        _check_owned(real, option, path)
    except BaseException:
        release_output_dir(real)
        raise
    return real


def _check_owned(real: Path, option: str, shown: Any) -> None:
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        what = "a file" if stat.S_ISREG(st.st_mode) else "not a folder"
        raise _fail(option, shown, f"exists and is {what}; give a folder")
    names = os.listdir(real)
    if not names:
        return
    if MANIFEST not in names and not set(names) <= KNOWN_FILES:
        odd = sorted(set(names) - KNOWN_FILES)[:3]
        raise _fail(option, shown, "is a folder with files wattfolio did not write "
                    f"({', '.join(odd)}...); give a new or empty folder")
    for n in names:
        if not stat.S_ISREG(os.lstat(real / n).st_mode):
            raise _fail(option, shown, f"holds {n}, which is not a regular file; not replaced")


def _lock_path(real: Path) -> Path:
    return real.parent / f".{real.name}.wattfolio.lock"


def _lock(real: Path, option: str = "--out", shown: Any = None) -> None:
    import fcntl

    key = str(real)
    if key in _locks:
        return
    lp = _lock_path(real)
    try:
        fd = os.open(lp, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise _fail(option, shown or real, f"cannot create the lock {lp} ({e.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _fail(option, shown or real, f"the lock {lp} is not a regular file")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise _fail(option, shown or real, f"another wattfolio run is writing this folder "
                    f"(lock {lp}); wait for it or choose another --out") from None
    _locks[key] = fd


def release_output_dir(path: str | os.PathLike) -> None:
    fd = _locks.pop(os.path.realpath(path), None)
    if fd is not None:
        os.close(fd)   # the lock file stays (removing it would race another run's open)


def _leftovers(real: Path) -> list[Path]:
    prefix = f".{real.name}.wattfolio-"
    return [real.parent / n for n in os.listdir(real.parent)
            if n.startswith(prefix) and (n[len(prefix):].startswith(("tmp-", "old-")))]


def _recover(real: Path) -> None:
    """With the lock held: undo what a killed run left. A swap without RENAME_EXCHANGE
    has a moment with the folder moved aside; put it back, then drop temp folders."""
    left = _leftovers(real)
    if not os.path.lexists(real):
        olds = [p for p in left if ".wattfolio-old-" in p.name and (p / MANIFEST).exists()]
        if olds:
            os.rename(max(olds, key=lambda p: p.stat().st_mtime), real)
    for p in _leftovers(real):
        shutil.rmtree(p, ignore_errors=True)
    if os.path.isdir(real) and not os.path.islink(real):   # staging of older versions
        for n in os.listdir(real):
            if n.startswith(".wattfolio-") and n != MANIFEST and (real / n).is_dir():
                shutil.rmtree(real / n, ignore_errors=True)


def _pause() -> None:
    s = os.environ.get(PAUSE_ENV)
    if s:
        time.sleep(float(s))


def _put(target: Path, content: Content) -> None:
    if callable(content):
        content(target)
    elif isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content, encoding="utf-8")


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def write_outputs(directory: str | os.PathLike, files: Mapping[str, Content],
                  kind: str = "outputs") -> list[Path]:
    """Write `files` (name -> bytes | text | writer(path)) as one set into the output
    folder `directory`: all of them appear at once, or none (see the module's text).

    Files of the previous contents are kept, except those an earlier set of the same
    `kind` ("plan", "frontier", ...) wrote and this one does not (a stale frontier.csv
    of an earlier `plan --frontier` goes)."""
    real = Path(os.path.realpath(directory))
    held = str(real) in _locks
    if not held:
        check_output_dir(directory)
    try:
        staging = real.parent / f".{real.name}.wattfolio-tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            old_names: list[str] = []
            sets: dict[str, list[str]] = {}
            if real.is_dir():
                try:
                    sets = dict(json.loads((real / MANIFEST).read_text(encoding="utf-8"))["sets"])
                except (OSError, ValueError, KeyError, TypeError):
                    sets = {}
                stale = set(sets.pop(kind, []))
                for n in os.listdir(real):
                    if (n in files or n == MANIFEST or n in stale
                            or not stat.S_ISREG(os.lstat(real / n).st_mode)):
                        continue
                    try:
                        os.link(real / n, staging / n)
                    except OSError:
                        shutil.copy2(real / n, staging / n)
                    old_names.append(n)
            for name, content in files.items():
                if os.sep in name or name in ("", ".", "..", MANIFEST):
                    raise ValueError(f"not an output file name: {name!r}")
                _put(staging / name, content)
                _pause()
            sets = {k: sorted(set(v) & set(old_names)) for k, v in sets.items()}
            sets[kind] = sorted(files)
            manifest = {"wattfolio": 1, "files": sorted([*files, *old_names]), "sets": sets,
                        "pid": os.getpid(), "time": time.time()}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            for n in os.listdir(staging):
                with open(staging / n, "rb") as f:
                    os.fsync(f.fileno())
            _fsync_dir(staging)
            _pause()
            if not os.path.lexists(real):
                os.rename(staging, real)
            elif _exchange(staging, real):
                shutil.rmtree(staging, ignore_errors=True)   # now the old set
            else:
                old = real.parent / f".{real.name}.wattfolio-old-{os.getpid()}"
                os.rename(real, old)
                os.rename(staging, real)
                shutil.rmtree(old, ignore_errors=True)
            _fsync_dir(real.parent)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return [real / n for n in files]
    finally:
        if not held:
            release_output_dir(real)


def write_file(path: str | os.PathLike, content: Content, option: str = "--out") -> Path:
    """One file, atomically: a temporary file beside it, renamed over it. Its folder is
    created if needed; an existing target that is not a regular file is refused."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    check_output_file(p, option)
    real = Path(os.path.realpath(p))
    fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.wattfolio-tmp-", dir=real.parent)
    os.close(fd)
    try:
        _put(Path(tmp), content)
        _pause()
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        try:   # re-check right before the rename: never replace a non-regular file
            st = os.lstat(real)
            if not stat.S_ISREG(st.st_mode):
                raise _fail(option, path, "exists and is not a regular file; not replaced")
        except FileNotFoundError:
            pass
        os.replace(tmp, real)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return p


def csv_cell(v: Any) -> Any:
    """A text cell a spreadsheet would read as a formula (=, +, -, @, and tab/CR that
    some strip first) gets a leading single quote; numbers are left as they are."""
    if isinstance(v, str) and v and v[0] in "=+-@\t\r":
        return "'" + v
    return v


def csv_safe(df):
    """A DataFrame with every text cell passed through `csv_cell` (headers too)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(csv_cell)
    out.columns = [csv_cell(c) for c in out.columns]
    return out


def _plain(v: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays to Python, NaN and infinities to null
    (strict JSON has no NaN; the report reads null as "not available")."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return _plain(v.tolist())
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def to_json(doc: Any) -> str:
    """Strict JSON text of a result document (see `_plain`)."""
    return json.dumps(_plain(doc), indent=2, allow_nan=False) + "\n"
