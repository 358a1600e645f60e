#!/usr/bin/env bash
# The GPU checks of the scenario engine, as one prepared run on a machine with an NVIDIA GPU.
#
#     bash benchmarks/gpu_run.sh WHEELS_DIR OUT_DIR [--dry-run]
#
# The machine has CuPy and NumPy but not the rest (no network): WHEELS_DIR holds the wheels
# `benchmarks/gpu_wheels.sh WHEELS_DIR` downloaded elsewhere. In about 8 minutes at most
# (WF_BUDGET_S, default 470 s; every step has a cap and is cut to what is left) it
#
#   0. names the device (nvidia-smi) and installs the wheels, then the project (-e, no deps);
#   1. runs the whole test suite with WATTFOLIO_BACKEND=cupy, so the gpu tests run for real
#      (tests/conftest.py: a gpu test that skips fails there), spread over the cores with
#      pytest-xdist (WF_TEST_WORKERS, default 8) when it installed;
#   2. runs benchmarks/scenario_throughput.py --backend all at 10^4, 10^5 and 10^6 scenarios
#      x 144 months x 730 hours on CuPy, NumPy at 10^3 x 730 in the same run (ratios like
#      for like at 10^3, and per scenario-hour between sizes);
#   3. runs `wattfolio plan instances/terawulf.toml --scenarios 100000 --hours 730 --backend
#      cupy` end to end (out-of-sample check included), timed; the same with --quality none,
#      and on NumPy at 10^4 with --quality none (started in the background after the
#      install: on its own core it takes ~1.5 minutes) for a per-scenario ratio;
#   4. profiles a chunk's stages and the transfers with cupyx.profiler.benchmark
#      (benchmarks/gpu_profile.py); with Nsight Systems installed and time left, also
#      the per-kernel table (nsys stats);
#   5. writes every result as JSON into OUT_DIR: run.json (device, versions, each step's
#      exit status and seconds), tests.json, scenario_throughput.json, plans.json,
#      gpu_profile.json; each step's output in OUT_DIR/logs/.
#
# WHEELS_DIR is ~93 MB: more than the device tool's 64 MiB of carried ignored paths, so
# put it in the work tree as an untracked folder that git does not ignore (not `.whl/`,
# which is ignored), e.g. `bash benchmarks/gpu_wheels.sh gpu-wheels`, and never commit it.
#
# --dry-run runs the NumPy parts at tiny sizes and skips everything that needs CuPy or the
# install (it checks that WHEELS_DIR holds a wheel for each package instead): for checking
# this script on a CPU machine.
set -uo pipefail

if [[ $# -lt 2 || $# -gt 3 || ( $# -eq 3 && "$3" != "--dry-run" ) ]]; then
    echo "usage: $0 WHEELS_DIR OUT_DIR [--dry-run]" >&2
    exit 2
fi
wheels=$(cd "$1" && pwd) || { echo "gpu_run: no such folder $1" >&2; exit 2; }
mkdir -p "$2/logs" && out=$(cd "$2" && pwd)
dry=0
[[ $# -eq 3 ]] && dry=1
cd "$(dirname "$0")/.." || exit 2
py=${PYTHON:-python3}
budget=${WF_BUDGET_S:-470}
t_start=$(date +%s)
steps="$out/steps.jsonl"
: > "$steps"
packages=(pyomo highspy pandas matplotlib rich scipy pytest pytest-xdist)

left() { echo $(( budget - ($(date +%s) - t_start) )); }

# run_step NAME CAP CMD...: run CMD with a timeout of min(CAP, time left), output to
# logs/NAME.log, a line of steps.jsonl; returns CMD's status (124: cut by the timeout)
run_step() {
    local name=$1 cap=$2
    shift 2
    local limit
    limit=$(left)
    (( limit > cap )) && limit=$cap
    if (( limit < 5 )); then
        echo "{\"step\": \"$name\", \"status\": \"skipped: budget spent\"}" >> "$steps"
        echo "gpu_run: $name skipped (budget spent)"
        return 125
    fi
    echo "gpu_run: $name (at most ${limit}s) ..."
    local t0 t1 rc
    t0=$(date +%s.%N)
    timeout --kill-after=5 "$limit" "$@" > "$out/logs/$name.log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $secs, \"limit_s\": $limit, \"timed_out\": $([[ $rc -eq 124 || $rc -eq 137 ]] && echo true || echo false)}" >> "$steps"
    echo "gpu_run: $name rc=$rc in ${secs}s"
    return $rc
}

# ---- 0. the device and the install ------------------------------------------------------
if (( dry )); then
    device="none (dry run)"
else
    device=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
    device=${device:-unknown (nvidia-smi failed)}
fi
echo "gpu_run: device: $device"
nvidia-smi > "$out/logs/nvidia-smi.log" 2>&1 || true

if (( dry )); then
    missing=()
    for p in "${packages[@]}" setuptools; do
        ls "$wheels"/"$(echo "$p" | tr - _)"-*.whl > /dev/null 2>&1 \
            || ls "$wheels"/"$p"-*.whl > /dev/null 2>&1 || missing+=("$p")
    done
    if (( ${#missing[@]} )); then
        echo "{\"step\": \"install\", \"status\": \"dry run: no wheel for ${missing[*]}\"}" >> "$steps"
        echo "gpu_run: dry run: no wheel in $wheels for: ${missing[*]}"
    else
        echo "{\"step\": \"install\", \"status\": \"dry run: a wheel for every package\"}" >> "$steps"
    fi
    # with a NumPy wheel to stand for the device's (WF_DRY_NUMPY=DIR holding one, and
    # WF_DRY_NUMPY_VERSION), check that pip resolves the install offline for CPython 3.12
    if [[ -n "${WF_DRY_NUMPY:-}" ]]; then
        echo "numpy==${WF_DRY_NUMPY_VERSION:-2.2.6}" > "$out/constraints.txt"
        run_step install_resolve 120 "$py" -m pip install --dry-run --ignore-requires-python --no-index \
            --find-links "$wheels" --find-links "$WF_DRY_NUMPY" -c "$out/constraints.txt" \
            --target "$out/dry_target" --python-version 3.12 --implementation cp \
            --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux_2_28_x86_64 --only-binary=:all: "${packages[@]}"
    fi
else
    "$py" -c 'import numpy; print("numpy==" + numpy.__version__)' > "$out/constraints.txt"
    # keep the device's NumPy (CuPy's); fall back to the wheel dir's only if it cannot do
    if ! run_step install 150 "$py" -m pip install --no-index --find-links "$wheels" \
            -c "$out/constraints.txt" "${packages[@]}"; then
        run_step install_any_numpy 150 "$py" -m pip install --no-index --find-links "$wheels" "${packages[@]}"
    fi
    run_step install_project 60 "$py" -m pip install --no-index --find-links "$wheels" --no-deps -e .
    run_step cupy_check 30 "$py" -c 'import cupy; n = cupy.cuda.runtime.getDeviceCount(); print(cupy.__version__, n); assert n > 0'
fi

# ---- 3c. NumPy plan in the background (a CPU job: it does not compete with the GPU) -----
np_scen=10000 np_hours=730
(( dry )) && np_scen=200 np_hours=8
np_limit=$(( $(left) - 30 ))
(( np_limit > 330 )) && np_limit=330
np_pid=
if (( np_limit >= 10 )); then
(
    t0=$(date +%s.%N)
    timeout --kill-after=5 "$np_limit" "$py" -m wattfolio.cli plan instances/terawulf.toml \
        --scenarios "$np_scen" --hours "$np_hours" --backend numpy --quality none \
        --out "$out/plan_numpy_noq" > "$out/logs/plan_numpy_noq.log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    echo "{\"step\": \"plan_numpy_noq\", \"rc\": $rc, \"seconds\": $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'), \"limit_s\": $np_limit, \"background\": true}" > "$out/logs/plan_numpy_noq.json"
) &
np_pid=$!
else
    echo "{\"step\": \"plan_numpy_noq\", \"status\": \"skipped: budget spent\"}" >> "$steps"
fi

# ---- 1. the test suite on CuPy ----------------------------------------------------------
xdist=()
if "$py" -c 'import xdist' > /dev/null 2>&1; then
    xdist=(-n "${WF_TEST_WORKERS:-8}")
fi
if (( dry )); then
    # shellcheck disable=SC2086  # WF_DRY_TESTS is a list of test files
    WATTFOLIO_BACKEND=numpy run_step tests 200 "$py" -m pytest -q -rfEs -p no:cacheprovider ${xdist[@]+"${xdist[@]}"} \
        --junitxml "$out/tests.xml" ${WF_DRY_TESTS:-tests/test_device_traffic.py tests/test_hourly_kernel.py tests/test_recursion_kernels.py}
else
    WATTFOLIO_BACKEND=cupy run_step tests 200 "$py" -m pytest -q -rfEs -p no:cacheprovider ${xdist[@]+"${xdist[@]}"} \
        --junitxml "$out/tests.xml"
fi

# ---- 2. throughput ----------------------------------------------------------------------
if (( dry )); then
    run_step throughput 110 "$py" benchmarks/scenario_throughput.py --backend numpy --sizes 200 \
        --hours 8 --numpy-sizes 200 --numpy-hours 8 --repeats 1 --out "$out/scenario_throughput.json"
else
    run_step throughput 110 "$py" benchmarks/scenario_throughput.py --backend all \
        --sizes 10000,100000,1000000 --hours 730 --numpy-sizes 1000 --numpy-hours 730 --repeats 1 \
        --out "$out/scenario_throughput.json"
fi

# ---- 3. the plan, end to end ------------------------------------------------------------
if (( ! dry )); then
    run_step plan_cupy 110 "$py" -m wattfolio.cli plan instances/terawulf.toml --scenarios 100000 \
        --hours 730 --backend cupy --out "$out/plan_cupy"
    run_step plan_cupy_noq 60 "$py" -m wattfolio.cli plan instances/terawulf.toml --scenarios 100000 \
        --hours 730 --backend cupy --quality none --out "$out/plan_cupy_noq"
fi

# ---- 4. profile -------------------------------------------------------------------------
if (( dry )); then
    run_step profile 60 "$py" benchmarks/gpu_profile.py --backend numpy --scenarios 300 --hours 8 \
        --chunk 128 --repeat 1 --out "$out/gpu_profile.json"
else
    run_step profile 60 "$py" benchmarks/gpu_profile.py --scenarios 100000 --hours 730 --repeat 5 \
        --out "$out/gpu_profile.json"
fi

# the NumPy plan: wait for it, but not past the budget
if [[ -n "$np_pid" ]]; then
    while kill -0 "$np_pid" 2> /dev/null && (( $(left) > 15 )); do sleep 2; done
    if kill -0 "$np_pid" 2> /dev/null; then
        pkill -TERM -P "$np_pid" 2> /dev/null   # its timeout, and through it the plan
        echo "{\"step\": \"plan_numpy_noq\", \"status\": \"stopped: budget spent\"}" >> "$steps"
    fi
    wait "$np_pid" 2> /dev/null
    [[ -f "$out/logs/plan_numpy_noq.json" ]] && cat "$out/logs/plan_numpy_noq.json" >> "$steps"
fi

if (( ! dry )) && command -v nsys > /dev/null 2>&1 && (( $(left) > 70 )); then
    run_step nsys 60 nsys profile --force-overwrite true -o "$out/nsys_profile" "$py" benchmarks/gpu_profile.py \
        --scenarios 32768 --hours 730 --repeat 1 --out "$out/gpu_profile_nsys.json" \
        && run_step nsys_stats 30 nsys stats --force-export=true -r cuda_gpu_kern_sum,cuda_gpu_mem_time_sum \
            -f csv -o "$out/nsys" "$out/nsys_profile.nsys-rep"
fi

# ---- 5. the JSON summaries ----------------------------------------------------------------
WF_OUT="$out" WF_DEVICE="$device" WF_DRY="$dry" WF_BUDGET="$budget" WF_T0="$t_start" \
WF_NP_SCEN="$np_scen" "$py" - <<'EOF'
import csv, glob, json, os, platform, time
import xml.etree.ElementTree as ET

out, device, dry = os.environ["WF_OUT"], os.environ["WF_DEVICE"], os.environ["WF_DRY"] == "1"


def write(name, doc):
    doc = {"device": device, "dry_run": dry, **doc}
    tmp = os.path.join(out, name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(out, name))


steps = [json.loads(line) for line in open(os.path.join(out, "steps.jsonl")) if line.strip()]
by = {s["step"]: s for s in steps}

tests = {"status": "not run"}
xml = os.path.join(out, "tests.xml")
if os.path.exists(xml):
    suites = ET.parse(xml).getroot()
    suites = [suites] if suites.tag == "testsuite" else list(suites)
    tests = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    tests["seconds"] = sum(float(s.get("time", 0)) for s in suites)
    bad, skipped = [], []
    for s in suites:
        for case in s.iter("testcase"):
            name = f"{case.get('classname')}::{case.get('name')}"
            if case.find("failure") is not None or case.find("error") is not None:
                bad.append(name)
            elif case.find("skipped") is not None:
                skipped.append(f"{name}: {case.find('skipped').get('message', '')}")
    tests.update(failed=bad, skipped_tests=skipped,
                 backend="numpy (dry run)" if dry else "cupy (WATTFOLIO_BACKEND=cupy)")
write("tests.json", tests)


def plan(name, scenarios):
    s = by.get(name, {})
    doc = {"step": s, "scenarios": scenarios}
    path = os.path.join(out, name, "plan.json")
    if os.path.exists(path):
        p = json.load(open(path))
        doc.update(stats=p.get("stats"), solver=p.get("solver"), backend=p.get("backend"))
    return doc


plans = {"note": "wall seconds of the whole command (load, valuation, MIP and cuts, report); "
                 "the ratio is per in-sample scenario between the --quality none runs",
         "plan_cupy": plan("plan_cupy", 100000), "plan_cupy_noq": plan("plan_cupy_noq", 100000),
         "plan_numpy_noq": plan("plan_numpy_noq", int(os.environ["WF_NP_SCEN"]))}
cp, nq = by.get("plan_cupy_noq", {}), by.get("plan_numpy_noq", {})
if cp.get("rc") == 0 and nq.get("rc") == 0:
    plans["numpy_over_cupy_seconds_per_scenario"] = (
        (nq["seconds"] / int(os.environ["WF_NP_SCEN"])) / (cp["seconds"] / 100000))
write("plans.json", plans)

nsys = {}
for path in glob.glob(os.path.join(out, "nsys_*.csv")):
    with open(path) as f:
        nsys[os.path.basename(path)[:-4]] = list(csv.DictReader(f))
if nsys:
    write("nsys_stats.json", nsys)

versions = {"python": platform.python_version()}
for mod in ("numpy", "cupy", "pyomo", "highspy", "pandas", "scipy"):
    try:
        versions[mod] = __import__(mod).__version__
    except Exception as e:  # noqa: BLE001
        versions[mod] = f"missing ({type(e).__name__})"
write("run.json", {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "budget_s": int(os.environ["WF_BUDGET"]),
                   "total_s": round(time.time() - int(os.environ["WF_T0"]), 1),
                   "versions": versions, "steps": steps,
                   "files": sorted({"run.json", *(os.path.basename(p) for p in glob.glob(os.path.join(out, "*.json")))})})
print(f"gpu_run: wrote {out}/run.json, tests.json, plans.json"
      + (", nsys_stats.json" if nsys else ""))
EOF
echo "gpu_run: done in $(( $(date +%s) - t_start ))s (budget ${budget}s), results in $out"
