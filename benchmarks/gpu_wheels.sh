#!/usr/bin/env bash
# Download, here, the wheels a bare GPU machine needs to run wattfolio offline.
#
#     bash benchmarks/gpu_wheels.sh DIR
#
# The device image is assumed to hold CPython 3.12 (manylinux, x86_64) with only NumPy and
# CuPy installed, and no network: everything else the project and its tests import comes
# from DIR (`benchmarks/gpu_run.sh DIR OUT` installs it with `pip install --no-index`).
# The list is the project's runtime dependencies (pyproject.toml), pytest for the suite,
# and setuptools + wheel to build the editable install without an index; pip resolves
# their pure-Python needs (ply, python-dateutil, pygments, ...) for the target platform.
# pytest-xdist lets gpu_run.sh spread the suite over the device machine's cores. NumPy is
# resolved (pandas, scipy and matplotlib name it) but its wheel is dropped: the device's
# own NumPy, the one CuPy was built against, is kept (WF_WITH_NUMPY=1 keeps the wheel as
# a fallback). pandas 3 and contourpy 1.4 need NumPy 2, so older builds that run on NumPy
# 1.26 come too (WF_FALLBACK): pip picks whichever the device's NumPy allows. About 95 MB.
#
# Override the target with WF_PY (default 3.12) and the pins with WF_PINS (a space
# separated requirement list); the defaults are the versions this repository is tested
# with on the CPU.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
mkdir -p "$dir"

py=${WF_PY:-3.12}
pins=${WF_PINS:-"pyomo==6.10.1 highspy==1.16.0 pandas==3.1.1 matplotlib==3.11.2 rich==15.0.0 scipy==1.17.1 pytest==9.0.3 pytest-xdist setuptools>=68 wheel"}

# several manylinux tags: newer wheels are often published for glibc 2.28 only
platforms=(--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux_2_28_x86_64)

fallback=${WF_FALLBACK:-"pandas==2.2.3 contourpy==1.3.2 pytz"}

# shellcheck disable=SC2086  # pins is a word list on purpose
python3 -m pip download $pins \
    -d "$dir" "${platforms[@]}" --python-version "$py" --implementation cp \
    --only-binary=:all:
if [[ -n "$fallback" ]]; then
    # shellcheck disable=SC2086
    python3 -m pip download --no-deps $fallback \
        -d "$dir" "${platforms[@]}" --python-version "$py" --implementation cp \
        --only-binary=:all:
fi

if [[ "${WF_WITH_NUMPY:-0}" != 1 ]]; then
    rm -f "$dir"/numpy-*.whl
fi

n=$(find "$dir" -maxdepth 1 -name '*.whl' | wc -l)
du_h=$(du -sh "$dir" | cut -f1)
echo "gpu_wheels: $n wheels ($du_h) in $dir for CPython $py manylinux x86_64"
