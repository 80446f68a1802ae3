#!/usr/bin/env bash
# Runs the workloads of bench/SPEC.md against weft and its peers (CAF 0.17,
# Erlang/OTP) and writes docs/benchmarks.md and docs/benchmarks.png.
#
#   bench/run.sh [reps=5] [workers=1,2] [smoke] [only=pingpong,ring,...]
#                [impls=weft,caf,erlang]
#
# Steps:
#   1. build weft-bench (Release) and caf-bench, compile the Erlang peer;
#      an implementation that does not build is recorded as unavailable
#      (a failure in smoke mode, otherwise the others still run);
#   2. for each workload and worker count, run the implementations in
#      alternation (weft caf erlang weft caf erlang ...) `reps` times, so
#      slow drifts of a shared machine hit all of them alike; the
#      message-passing workloads run at every worker count, the others at
#      the highest one;
#   3. validate and collect each run's JSON line into
#      bench/results/<timestamp>.jsonl (stderr into <timestamp>.log);
#   4. generate the report (not in smoke mode).
#
# smoke: tiny parameters, one repetition, no report; exits non-zero if any
# run fails (non-zero exit, invalid JSON) or an implementation is missing.
# CI runs `bench/run.sh smoke impls=weft`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

reps=5
workers_list="1,2"
smoke=0
only=""
impls="weft,caf,erlang"
for arg in "$@"; do
  case "$arg" in
    reps=*) reps="${arg#reps=}" ;;
    workers=*) workers_list="${arg#workers=}" ;;
    smoke) smoke=1 ;;
    only=*) only="${arg#only=}" ;;
    impls=*) impls="${arg#impls=}" ;;
    *) echo "bench/run.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
if ((smoke)); then
  reps=1
fi

build_dir="$root/build-bench"
jobs="${WEFT_BENCH_JOBS:-2}"
run_timeout="${WEFT_BENCH_TIMEOUT:-300}"
results_dir="$root/bench/results"
mkdir -p "$results_dir"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
((smoke)) && stamp="smoke-$stamp"
results="$results_dir/$stamp.jsonl"
log="$results_dir/$stamp.log"
: >"$results"
: >"$log"

say() { echo "bench/run.sh: $*" >&2; }

# -- 1. build ----------------------------------------------------------------

declare -A command_of unavailable_reason
IFS=, read -r -a impl_list <<<"$impls"
IFS=, read -r -a worker_counts <<<"$workers_list"
max_workers=0
for w in "${worker_counts[@]}"; do
  if ((w > max_workers)); then max_workers=$w; fi
done

for impl in "${impl_list[@]}"; do
  case "$impl" in
    weft)
      say "building weft-bench (Release) in $build_dir"
      if cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
          -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_SAMPLES=OFF \
          -DWEFT_BUILD_BENCH=ON >>"$log" 2>&1 &&
        cmake --build "$build_dir" --target weft-bench -j "$jobs" >>"$log" 2>&1; then
        binary="$(find "$build_dir" -name weft-bench -type f -perm -u+x | head -n 1)"
        if [[ -n "$binary" ]]; then
          command_of[weft]="$binary"
        else
          unavailable_reason[weft]="weft-bench built but not found under $build_dir"
        fi
      else
        unavailable_reason[weft]="weft-bench does not build (see $log)"
      fi
      ;;
    caf)
      say "building caf-bench in $build_dir/peers-caf"
      if cmake -S bench/peers/caf -B "$build_dir/peers-caf" -G Ninja \
          -DCMAKE_BUILD_TYPE=Release >>"$log" 2>&1 &&
        cmake --build "$build_dir/peers-caf" -j "$jobs" >>"$log" 2>&1; then
        command_of[caf]="$build_dir/peers-caf/caf-bench"
      else
        unavailable_reason[caf]="caf-bench does not build (is libcaf-dev installed? see $log)"
      fi
      ;;
    erlang)
      export WEFT_ERLANG_PEER_BUILD="$build_dir/peers-erlang"
      if command -v erlc >/dev/null &&
        mkdir -p "$WEFT_ERLANG_PEER_BUILD" &&
        erlc -o "$WEFT_ERLANG_PEER_BUILD" bench/peers/erlang/*.erl >>"$log" 2>&1; then
        command_of[erlang]="$root/bench/peers/erlang/run.sh"
      else
        unavailable_reason[erlang]="Erlang peer does not compile (is erlang-nox installed? see $log)"
      fi
      ;;
    *) say "unknown implementation '$impl' (expected weft, caf, erlang)"; exit 2 ;;
  esac
  if [[ -n "${unavailable_reason[$impl]:-}" ]]; then
    say "$impl unavailable: ${unavailable_reason[$impl]}"
  fi
done

# -- 2. the run plan ---------------------------------------------------------

# name | message passing? | full parameters | smoke parameters
# The workloads and their parameters: bench/plan.sh.
# shellcheck source=bench/plan.sh
source "$root/bench/plan.sh"

selected() {
  [[ -z "$only" ]] && return 0
  [[ ",$only," == *",$1,"* ]]
}

# Writes the machine facts as the first line, for the report.
python3 - "$results" <<'EOF'
import json, os, platform, subprocess, sys, datetime
def first(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
    except Exception:
        return "unknown"
cpu = "unknown"
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
meta = {
    "meta": {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "compiler": first(["c++", "--version"]),
        "os": first(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "loadavg": open("/proc/loadavg").read().split()[0],
    }
}
with open(sys.argv[1], "a") as out:
    out.write(json.dumps(meta) + "\n")
EOF

# -- 3. run --------------------------------------------------------------------

failures=0

# record <impl> <workload> <workers> <rep> <case> <exit status> <stdout file>
# Appends the run's JSON line (tagged with case and rep), or a failure line.
record() {
  python3 - "$@" "$results" <<'EOF'
import json, sys
impl, workload, workers, rep, case, status, out_file, results = sys.argv[1:]
text = open(out_file).read().strip()
failure = None
row = None
if status != "0":
    failure = f"exit status {status}"
else:
    lines = [l for l in text.splitlines() if l.strip()]
    try:
        if len(lines) != 1:
            raise ValueError(f"expected one JSON line, got {len(lines)}")
        row = json.loads(lines[0])
        if not isinstance(row, dict):
            raise ValueError("not a JSON object")
        missing = [k for k in ("bench", "impl", "workers") if k not in row]
        if "skipped" not in row:
            missing += [k for k in ("n", "seconds", "rate", "unit", "peak_rss_kb") if k not in row]
        if missing:
            raise ValueError("missing fields " + ", ".join(missing))
        if row["bench"] != workload:
            raise ValueError(f"bench is {row['bench']!r}, expected {workload!r}")
    except ValueError as e:
        failure = f"invalid output: {e}: {text[:200]!r}"
if failure:
    row = {"bench": workload, "impl": impl, "workers": int(workers), "failed": failure}
row["case"] = case
row["rep"] = int(rep)
# The machine is often shared: keep its load next to the number.
row["loadavg"] = float(open("/proc/loadavg").read().split()[0])
with open(results, "a") as out:
    out.write(json.dumps(row) + "\n")
print(json.dumps(row))
sys.exit(1 if failure else 0)
EOF
}

out_file="$(mktemp)"
trap 'rm -f "$out_file"' EXIT

for entry in "${plan[@]}"; do
  IFS='|' read -r workload kind full_params smoke_params <<<"$entry"
  selected "$workload" || continue
  params="$full_params"
  ((smoke)) && params="$smoke_params"
  case_name="$workload"
  # Cases of one workload that the report shows apart: by their last
  # parameter (plan.sh).
  case "${params##* }" in
    snapshot_every=* | stalled=[1-9]*) case_name="$workload ${params##* }" ;;
  esac
  if [[ "$kind" == mp ]]; then
    counts=("${worker_counts[@]}")
  else
    counts=("$max_workers")
  fi
  for workers in "${counts[@]}"; do
    for ((rep = 1; rep <= reps; rep++)); do
      for impl in "${impl_list[@]}"; do
        if [[ -z "${command_of[$impl]:-}" ]]; then
          if ((rep == 1)); then
            python3 -c 'import json,sys; print(json.dumps({"bench":sys.argv[1],"impl":sys.argv[2],"workers":int(sys.argv[3]),"unavailable":sys.argv[4],"case":sys.argv[5],"rep":1}))' \
              "$workload" "$impl" "$workers" "${unavailable_reason[$impl]}" "$case_name" >>"$results"
            ((smoke)) && failures=$((failures + 1))
          fi
          continue
        fi
        say "$case_name workers=$workers rep $rep/$reps: $impl"
        echo "== $impl $workload $params workers=$workers rep=$rep" >>"$log"
        status=0
        # shellcheck disable=SC2086 # params is a list of key=value words
        timeout "$run_timeout" "${command_of[$impl]}" "$workload" $params \
          "workers=$workers" >"$out_file" 2>>"$log" || status=$?
        if ! record "$impl" "$workload" "$workers" "$rep" "$case_name" \
          "$status" "$out_file" >&2; then
          failures=$((failures + 1))
        fi
      done
    done
  done
done

say "results in $results"

# -- 4. report -----------------------------------------------------------------

if ((smoke)); then
  if ((failures > 0)); then
    say "smoke: $failures run(s) failed or were unavailable (see $log)"
    exit 1
  fi
  say "smoke: all runs passed"
  exit 0
fi

python3 bench/report.py "$results"
if ((failures > 0)); then
  say "$failures run(s) failed; they are listed in the report"
fi
