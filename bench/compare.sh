#!/usr/bin/env bash
# Compares two builds of weft on every workload of bench/plan.sh: did a
# change make anything slower?
#
#   bench/compare.sh BASE_REV [reps=7] [workers=1,2] [only=pingpong,...]
#                    [threshold=3]
#
# Builds weft-bench (Release) at git revision BASE_REV, in a worktree under
# build-bench/base, and from the working tree (build-bench/new); then, for
# each workload and worker count, runs base and new in alternation (base
# new base new ...) `reps` times, so a drifting machine hits both alike.
# Prints each case's median rate for both and new/base; every run's JSON
# line goes to bench/results/compare-<timestamp>.jsonl. Exit status 1 if a
# case's median got more than `threshold` percent lower. A workload the
# base revision does not know, or that either build reports as skipped, is
# left out (noted on stderr).
#
# Run it on a quiet machine: the figures are only as steady as the machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[[ $# -ge 1 ]] || { sed -n '2,18p' "$0" >&2; exit 2; }
base_rev="$1"
shift
reps=7
workers_list="1,2"
only=""
threshold=3
for arg in "$@"; do
  case "$arg" in
    reps=*) reps="${arg#reps=}" ;;
    workers=*) workers_list="${arg#workers=}" ;;
    only=*) only="${arg#only=}" ;;
    threshold=*) threshold="${arg#threshold=}" ;;
    *) echo "bench/compare.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

# shellcheck source=bench/plan.sh
source "$root/bench/plan.sh"

jobs="${WEFT_BENCH_JOBS:-2}"
build() {  # build <source dir> <build dir>
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_SAMPLES=OFF \
    -DWEFT_BUILD_BENCH=ON >/dev/null
  cmake --build "$2" --target weft-bench -j "$jobs" >/dev/null
}
base_src="$root/build-bench/base-src"
rm -rf "$base_src"
git worktree prune
git worktree add --detach "$base_src" "$base_rev" >/dev/null
trap 'git -C "$root" worktree remove --force "$base_src" >/dev/null 2>&1 || true; rm -f "${plan_file:-}"' EXIT
echo "bench/compare.sh: building weft-bench at $base_rev and from the working tree" >&2
build "$base_src" "$root/build-bench/base"
build "$root" "$root/build-bench/new"

mkdir -p bench/results
results="bench/results/compare-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
plan_file="$(mktemp)"
printf '%s\n' "${plan[@]}" >"$plan_file"
python3 - "$root/build-bench/base/bench/weft-bench" "$root/build-bench/new/bench/weft-bench" \
  "$reps" "$workers_list" "$only" "$threshold" "$results" "$plan_file" <<'PY'
import json, statistics, subprocess, sys
base, new, reps, workers_list, only, threshold, results, plan_file = sys.argv[1:]
reps, threshold = int(reps), float(threshold)
counts = [int(w) for w in workers_list.split(",")]
wanted = set(only.split(",")) if only else None
rows, worst = [], 0.0
with open(results, "w") as out:
    for entry in open(plan_file).read().splitlines():
        name, kind, params, _smoke = entry.split("|")
        if wanted and name not in wanted:
            continue
        for workers in (counts if kind == "mp" else [max(counts)]):
            rates = {"base": [], "new": []}
            not_comparable = None
            for rep in range(reps):
                for impl, binary in (("base", base), ("new", new)):
                    run = subprocess.run([binary, name, *params.split(), f"workers={workers}"],
                                         capture_output=True, text=True, timeout=600)
                    # A workload newer than the base revision, or one whose
                    # module is not built, has nothing to compare.
                    if run.returncode == 2 and "unknown workload" in run.stderr:
                        not_comparable = f"not in {impl}"
                        break
                    if run.returncode != 0:
                        sys.exit(f"{impl} {name} {params} workers={workers} failed: {run.stderr[-400:]}")
                    line = json.loads(run.stdout.strip().splitlines()[-1])
                    if "skipped" in line:
                        not_comparable = f"skipped by {impl}: {line['skipped']}"
                        break
                    line.update(impl=impl, rep=rep + 1, params=params)
                    out.write(json.dumps(line) + "\n")
                    rates[impl].append(float(line["rate"]))
                if not_comparable:
                    break
            if not_comparable:
                print(f"bench/compare.sh: {name} {params} workers={workers}: {not_comparable}",
                      file=sys.stderr)
                continue
            b, n = statistics.median(rates["base"]), statistics.median(rates["new"])
            change = (n / b - 1) * 100
            worst = min(worst, change)
            rows.append((f"{name} {params}", workers, b, n, change, line.get("unit", "")))
print(f"{'case':45} {'w':>2} {'base median':>14} {'new median':>14} {'new/base':>9}")
for case, workers, b, n, change, unit in rows:
    flag = "  <-- slower" if change < -threshold else ""
    print(f"{case:45} {workers:>2} {b:>14.4g} {n:>14.4g} {n / b:>9.3f}{flag}  {unit}")
print(f"runs in {results}; worst change {worst:+.1f}% (threshold -{threshold:g}%)")
sys.exit(1 if worst < -threshold else 0)
PY
