"""Atomic output: a run's files appear together, whole, or not at all.

Everything is first written into a temporary folder beside the destination; only
when every file is complete are they moved into place with os.replace (atomic on one
file system), so an interrupted run leaves no half-written plan.json.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Union

import numpy as np

Content = Union[bytes, str, Callable[[Path], None]]  # a writer receives the temp path


def write_outputs(directory: str | os.PathLike, files: Mapping[str, Content]) -> list[Path]:
    """Write `files` (name -> bytes | text | writer(path)) into `directory` atomically."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".wattfolio-", dir=out))
    try:
        for name, content in files.items():
            target = staging / name
            if callable(content):
                content(target)
            elif isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        written = []
        for name in files:
            os.replace(staging / name, out / name)
            written.append(out / name)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_file(path: str | os.PathLike, content: Content) -> Path:
    """One file, atomically."""
    p = Path(path)
    return write_outputs(p.parent if str(p.parent) else ".", {p.name: content})[0]


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
