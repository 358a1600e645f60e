"""PNG screenshots of a report, a frontier or a tornado chart, rendered in headless Chromium.

    python3 -m wattfolio.report.screenshot PAGE.html|CHART.svg OUT.png [--width W] [--height H]

The pictures in `docs/` are made this way from a real run, so the README shows what a
board sees. Chromium renders the page offline (file://, no network), as
`tests/test_report.py` checks it does.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str | None:
    """The first Chromium-family binary on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(page: str | Path, out: str | Path, *, width: int = 1200, height: int = 1600) -> Path:
    """Render `page` (an HTML page or an SVG) to the PNG `out`.

    Parameters
    ----------
    page : path
        The file to render.
    out : path
        The PNG to write.
    width, height : int
        The window, CSS pixels.

    Returns
    -------
    Path
        `out`.

    Raises
    ------
    RuntimeError
        Without a Chromium binary, or when it fails.
    """
    exe = browser()
    if exe is None:
        raise RuntimeError("no Chromium binary on PATH (apt-get install chromium)")
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory() as profile:
        cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--screenshot={out}", Path(page).resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("page")
    ap.add_argument("out")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=1600)
    args = ap.parse_args(argv)
    try:
        print(screenshot(args.page, args.out, width=args.width, height=args.height))
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
