#!/usr/bin/env bash
# Echo over loopback: weft-echo (samples/echo) against a plain-C epoll echo
# server (c_echo.c, the floor) and Erlang's gen_tcp (echo.erl), driven by
# weft-echo-loadgen (loadgen.cpp). Prints a Markdown table on stdout.
#
#   bench/echo/run-echo.sh [smoke] [reps=3] [conns=100,1000] [duration=5]
#       [warmup=2] [rate=R1,R2... | rate_fraction=0.25,0.5] [depth=1]
#       [line_bytes=64] [impls=weft,c,erlang] [loadgen_threads=1]
#       [c_threads=1] [weft_workers=c_threads] [max_other=25] [retries=2] [quiet_wait=60] [nice=0]
#       [build=DIR] [weft_build=DIR] [jobs=1] [out=FILE]
#
#   Prebuilt binaries instead of building: WEFT_ECHO=path C_ECHO=path
#   LOADGEN=path ERL_ECHO_DIR=dir-holding-echo.beam.
#
# Steps:
#   1. Build, in `build` (default build/echo-bench): the load generator and
#      the C server from bench/echo as a CMake project of their own, the
#      weft-echo target of the weft tree (Release, no tests, no bench; in
#      weft_build, default BUILD/weft), and echo.beam with erlc. An
#      implementation that cannot be built or found stops the script (use
#      impls= to leave one out).
#   2. For each connection count: max-throughput runs (closed loop, `depth`
#      lines in flight per connection), the servers in alternation (weft c
#      erlang weft c erlang ...) `reps` times, so slow drifts of a shared
#      machine hit all of them alike. Every run gets a fresh server process
#      on a free port (port 0), so no run inherits another's connections.
#   3. Then fixed-rate runs, open loop, latency from the scheduled send time
#      (coordinated omission corrected), at each of `rate`, or by default at
#      each rate_fraction x the C server's median max throughput for that
#      connection count measured in step 2 (without the C server in impls,
#      the lowest median of those that ran). Alternated the same way. Two
#      fractions by default: at half of the pair's capacity the load
#      generator itself is busy (on a small machine it needs about a core
#      at the C server's max), at a quarter it has room.
#   4. Collect every run's JSON line (plus rep, attempts, noisy, loadavg)
#      into out (default BUILD/results-<time>.jsonl) and print medians and
#      the weft/C ratios against the targets (>= 70% of C's throughput, p99
#      within 2x of C's).
#
# Noise: before each run the script waits (up to quiet_wait s) until the
# rest of the machine uses less than max_other % of one CPU; a run in which
# other processes used more than that (the loadgen's other_cpu_pct) is
# repeated up to `retries` times, the quietest attempt kept, and one still
# too noisy is marked "noisy" and counted in the tables. On a machine
# shared with CPU-bound work, nice=-10 (root only) runs the script in a
# session of its own and raises that session's autogroup priority (plain
# nice values only weigh within an autogroup), so the servers and the
# loadgen alike are disturbed less; the neighbours then soak up the idle
# CPU, so with a negative nice the waiting and repeating are off unless
# max_other/retries/quiet_wait are given.
#
# smoke: 10 connections, 1 s, one repetition, each of impls in max mode, at
# 2,000 lines/s, and at 500 lines/s with 4097-byte lines (weft-echo's
# longest); exits non-zero if any line was lost or garbled, a connection
# was closed, or a run failed.
#
# Traffic stays on 127.0.0.1 (the load generator refuses anything else).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

smoke=0
reps=3
conns_list="100,1000"
duration=5
warmup=2
rate=""
rate_fraction=0.25,0.5
depth=1
line_bytes=64
impls="weft,c,erlang"
loadgen_threads=1
c_threads=1
weft_workers=""  # default: c_threads, so both servers get the same threads (0: one per core)
max_other=25
retries=2
quiet_wait=60
nice=0
noise_set=0
build="$root/build/echo-bench"
weft_build=""
jobs=1
out=""
for arg in "$@"; do
  case "$arg" in
    smoke) smoke=1 ;;
    reps=*) reps="${arg#*=}" ;;
    conns=*) conns_list="${arg#*=}" ;;
    duration=*) duration="${arg#*=}" ;;
    warmup=*) warmup="${arg#*=}" ;;
    rate=*) rate="${arg#*=}" ;;
    rate_fraction=*) rate_fraction="${arg#*=}" ;;
    depth=*) depth="${arg#*=}" ;;
    line_bytes=*) line_bytes="${arg#*=}" ;;
    impls=*) impls="${arg#*=}" ;;
    loadgen_threads=*) loadgen_threads="${arg#*=}" ;;
    c_threads=*) c_threads="${arg#*=}" ;;
    weft_workers=*) weft_workers="${arg#*=}" ;;
    max_other=*) max_other="${arg#*=}"; noise_set=1 ;;
    retries=*) retries="${arg#*=}"; noise_set=1 ;;
    quiet_wait=*) quiet_wait="${arg#*=}"; noise_set=1 ;;
    nice=*) nice="${arg#*=}" ;;
    build=*) build="${arg#*=}" ;;
    weft_build=*) weft_build="${arg#*=}" ;;
    jobs=*) jobs="${arg#*=}" ;;
    out=*) out="${arg#*=}" ;;
    *) echo "run-echo.sh: unknown argument '$arg' (see the header of $0)" >&2; exit 2 ;;
  esac
done
# nice<0: run in a new session (a new autogroup) and raise its priority; the
# outer script only forwards INT/TERM to it, so its cleanup still runs.
if ((nice < 0)) && [[ -z "${RUN_ECHO_PIDFILE:-}" && -w /proc/self/autogroup ]] && command -v setsid >/dev/null; then
  pidfile="$(mktemp "${TMPDIR:-/tmp}/run-echo-pid.XXXXXX")"
  RUN_ECHO_PIDFILE="$pidfile" setsid --fork --wait "$BASH" "$0" "$@" &
  session=$!
  trap '[[ -s "$pidfile" ]] && kill -TERM "$(cat "$pidfile")" 2>/dev/null' INT TERM
  rc=0
  while kill -0 "$session" 2>/dev/null; do
    wait "$session" && rc=0 || rc=$?
  done
  rm -f "$pidfile"
  exit "$rc"
fi
priority=(nice -n "$nice")
if [[ -n "${RUN_ECHO_PIDFILE:-}" ]]; then
  echo $$ >"$RUN_ECHO_PIDFILE"
  if echo "$nice" >/proc/self/autogroup 2>/dev/null; then
    priority=()
  else
    echo "run-echo.sh: cannot set the session's autogroup priority to $nice; using plain nice" >&2
  fi
fi
if ((nice < 0 && !noise_set)); then
  retries=0
  quiet_wait=0
fi
if ((smoke)); then
  reps=1
  conns_list=10
  duration=1
  warmup=0.2
  retries=0  # smoke checks correctness; noise does not matter
  quiet_wait=0
fi
# The same number of server threads for weft-echo as for the C floor unless
# asked otherwise: on a machine with few CPUs, shared with the load
# generator, a second server thread takes CPU from the generator, and the
# comparison would then measure thread counts, not servers.
weft_workers="${weft_workers:-$c_threads}"
IFS=',' read -r -a impl_list <<<"$impls"
IFS=',' read -r -a conn_counts <<<"$conns_list"
for impl in "${impl_list[@]}"; do
  case "$impl" in weft | c | erlang) ;; *) echo "run-echo.sh: unknown implementation '$impl' (weft, c, erlang)" >&2; exit 2 ;; esac
done

say() { echo "run-echo.sh: $*" >&2; }
die() { say "$*"; exit 1; }

mkdir -p "$build"
[[ -n "$weft_build" ]] || weft_build="$build/weft"
if [[ -z "$out" ]]; then
  out="$build/results-$(date -u +%Y%m%dT%H%M%SZ)"
  ((smoke)) && out="$out-smoke"
  out="$out.jsonl"
fi
: >"$out"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/run-echo.XXXXXX")"

# -- step 1: build -------------------------------------------------------------

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
wants() { [[ ",$impls," == *",$1,"* ]]; }

loadgen="${LOADGEN:-}"
c_echo="${C_ECHO:-}"
need_tools=0
[[ -n "$loadgen" ]] || need_tools=1
if wants c && [[ -z "$c_echo" ]]; then need_tools=1; fi
if ((need_tools)); then
  say "building the load generator and the C server in $build/tools"
  cmake -S "$here" -B "$build/tools" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >"$scratch/tools.log" 2>&1 &&
    cmake --build "$build/tools" -j"$jobs" >>"$scratch/tools.log" 2>&1 ||
    { cat "$scratch/tools.log" >&2; die "cannot build bench/echo (log above)"; }
  loadgen="${loadgen:-$build/tools/weft-echo-loadgen}"
  c_echo="${c_echo:-$build/tools/c-echo-server}"
fi
weft_echo="${WEFT_ECHO:-}"
if wants weft && [[ -z "$weft_echo" ]]; then
  say "building weft-echo (Release) in $weft_build, -j$jobs"
  cmake -S "$root" -B "$weft_build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF \
    -DWEFT_BUILD_BENCH=OFF >"$scratch/weft.log" 2>&1 &&
    cmake --build "$weft_build" -j"$jobs" --target weft-echo >>"$scratch/weft.log" 2>&1 ||
    { tail -40 "$scratch/weft.log" >&2; die "cannot build weft-echo (log above)"; }
  weft_echo="$weft_build/samples/echo/weft-echo"
fi
erl_dir="${ERL_ECHO_DIR:-}"
if wants erlang; then
  command -v erl >/dev/null || die "erl not found: install Erlang/OTP (Debian: apt-get install erlang-nox) or leave it out with impls=weft,c"
  if [[ -z "$erl_dir" ]]; then
    erl_dir="$build/erlang"
    mkdir -p "$erl_dir"
    erlc -o "$erl_dir" "$here/echo.erl" || die "erlc failed on $here/echo.erl"
  fi
fi
for f in "$loadgen" ${c_echo:+"$c_echo"} ${weft_echo:+"$weft_echo"}; do
  [[ -x "$f" ]] || die "$f: not an executable"
done

# -- servers ------------------------------------------------------------------------

server_pid=""
server_port=""

stop_server() {
  [[ -n "$server_pid" ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    say "server $server_pid ignored SIGTERM for 5 s; killing it"
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

cleanup() {
  stop_server
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a fresh server on a free port; sets server_pid and server_port.
start_server() {
  local impl="$1"
  : >"$scratch/server.out"
  case "$impl" in
    weft) "${priority[@]}" "$weft_echo" 0 "$weft_workers" >"$scratch/server.out" 2>&1 & ;;
    c) "${priority[@]}" "$c_echo" 0 "$c_threads" >"$scratch/server.out" 2>&1 & ;;
    erlang) "${priority[@]}" erl -noshell -pa "$erl_dir" -run echo start 0 >"$scratch/server.out" 2>&1 & ;;
  esac
  server_pid=$!
  server_port=""
  for _ in $(seq 100); do
    server_port="$(sed -n 's/.*listening on port \([0-9][0-9]*\).*/\1/p' "$scratch/server.out" | head -1)"
    [[ -n "$server_port" ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  say "$impl server did not report its port: $(head -c 500 "$scratch/server.out")"
  stop_server
  return 1
}

# -- one run ------------------------------------------------------------------------

# Busy CPU of the whole machine over one second, in % of one CPU.
machine_busy() {
  local a b
  a="$(awk '/^cpu / { print $2 + $3 + $4 + $9 }' /proc/stat)"
  sleep 1
  b="$(awk '/^cpu / { print $2 + $3 + $4 + $9 }' /proc/stat)"
  awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%d", (b - a) * 100 / hz }'
}

# Waits, up to quiet_wait s, until other processes leave the machine alone.
wait_quiet() {
  local waited=0 busy
  while busy="$(machine_busy)"; ((busy > max_other && waited < quiet_wait)); do
    ((waited == 0)) && say "the machine is busy ($busy% of a CPU used by others); waiting up to ${quiet_wait}s"
    sleep 1
    waited=$((waited + 2))
  done
}

# attempt IMPL MODE CONNECTIONS RATE: one server, one loadgen run; the JSON
# line in $attempt_line (empty on failure, with the reason in $attempt_error).
attempt() {
  local impl="$1" mode="$2" connections="$3" target="$4"
  attempt_line=""
  attempt_error=""
  wait_quiet
  if ! start_server "$impl"; then
    attempt_error="server did not start"
    return 0
  fi
  local args=(--impl="$impl" --port="$server_port" --host=127.0.0.1 --mode="$mode" --connections="$connections"
    --line-bytes="$line_bytes" --warmup="$warmup" --duration="$duration" --drain=5 --threads="$loadgen_threads"
    --server-pid="$server_pid")
  if [[ "$mode" == rate ]]; then args+=(--rate="$target"); else args+=(--depth="$depth"); fi
  local limit line
  limit="$(awk -v w="$warmup" -v d="$duration" 'BEGIN { printf "%d", w + d + 5 + 60 }')"
  if line="$(timeout "$limit" "${priority[@]}" "$loadgen" "${args[@]}" 2>"$scratch/loadgen.err")" && [[ "$line" == "{"*"}" ]]; then
    attempt_line="$line"
  else
    attempt_error="load generator failed: $(head -c 300 "$scratch/loadgen.err" | tr -d '"\\\n')"
  fi
  stop_server
}

other_cpu_of() { sed -n 's/.*"other_cpu_pct":\([-0-9.]*\).*/\1/p' <<<"$1" | cut -d. -f1; }

# run_one IMPL MODE CONNECTIONS REP [RATE]: one JSON line appended to $out;
# a noisy run is repeated (see the header), the quietest attempt kept.
run_one() {
  local impl="$1" mode="$2" connections="$3" rep="$4" target="${5:-0}"
  local best="" best_other=999999 tries=0 other
  while :; do
    attempt "$impl" "$mode" "$connections" "$target"
    tries=$((tries + 1))
    if [[ -z "$attempt_line" ]]; then
      say "$impl $mode c=$connections rep $rep failed: $attempt_error"
      break
    fi
    other="$(other_cpu_of "$attempt_line")"
    other="${other:-0}"
    if ((other < best_other)); then
      best="$attempt_line"
      best_other="$other"
    fi
    ((best_other <= max_other || tries > retries)) && break
    say "$impl $mode c=$connections rep $rep: other processes used $other% of a CPU meanwhile; again"
  done
  local tag="\"rep\":$rep,\"attempts\":$tries,\"noisy\":$( ((best_other > max_other)) && echo true || echo false),\"loadavg\":$(cut -d' ' -f1 /proc/loadavg)"
  if [[ -z "$best" ]]; then
    echo "{\"impl\":\"$impl\",\"mode\":\"$mode\",\"connections\":$connections,\"line_bytes\":$line_bytes,\"target_rate\":$target,\"failed\":true,$tag,\"reason\":\"$attempt_error\"}" >>"$out"
    return 0
  fi
  echo "${best%\}},$tag}" >>"$out"
  say "$(printf '%-6s %-4s c=%-5s rep %s: %s' "$impl" "$mode" "$connections" "$rep" \
    "$(sed 's/.*"achieved_rate":\([0-9.]*\).*"p99_us":\([0-9.]*\).*"send_lag_p99_us":\([0-9.]*\).*"errors":\([0-9]*\).*"other_cpu_pct":\([-0-9.]*\).*/\1 lines\/s, p99 \2 us (loadgen lag p99 \3 us), errors \4, others used \5% CPU/' <<<"$best")")"
}

# median_max CONNECTIONS IMPL: median achieved rate of the max runs so far.
median_max() {
  python3 - "$out" "$1" "$2" <<'EOF'
import json, statistics, sys
path, conns, impl = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = [json.loads(l) for l in open(path) if l.strip()]
rates = [r["achieved_rate"] for r in runs
         if not r.get("failed") and r["mode"] == "max" and r["connections"] == conns and r["impl"] == impl]
print(int(statistics.median(rates)) if rates else 0)
EOF
}

# -- steps 2 and 3 ----------------------------------------------------------------

say "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (other work on the machine skews every server)"
for connections in "${conn_counts[@]}"; do
  for rep in $(seq "$reps"); do
    for impl in "${impl_list[@]}"; do run_one "$impl" max "$connections" "$rep"; done
  done
  if ((smoke)); then
    fixed_rates=(2000)
  elif [[ -n "$rate" ]]; then
    IFS=',' read -r -a fixed_rates <<<"$rate"
  else
    base=0
    if wants c; then
      base="$(median_max "$connections" c)"
    else
      for impl in "${impl_list[@]}"; do
        m="$(median_max "$connections" "$impl")"
        if ((base == 0 || (m > 0 && m < base))); then base="$m"; fi
      done
    fi
    ((base > 0)) || die "no max-throughput result for $connections connections to derive the fixed rates from; pass rate="
    fixed_rates=()
    IFS=',' read -r -a fractions <<<"$rate_fraction"
    for f in "${fractions[@]}"; do fixed_rates+=("$(awk -v b="$base" -v f="$f" 'BEGIN { printf "%d", b * f }')"); done
  fi
  for fixed in "${fixed_rates[@]}"; do
    say "fixed rate for $connections connections: $fixed lines/s"
    for rep in $(seq "$reps"); do
      for impl in "${impl_list[@]}"; do run_one "$impl" rate "$connections" "$rep" "$fixed"; done
    done
  done
  if ((smoke)); then
    saved_bytes="$line_bytes"
    line_bytes=4097
    for impl in "${impl_list[@]}"; do run_one "$impl" rate "$connections" 1 500; done
    line_bytes="$saved_bytes"
  fi
done

# -- step 4: report -------------------------------------------------------------------

say "raw results: $out"
echo "Server threads: weft-echo $( ((weft_workers > 0)) && echo "$weft_workers worker(s)" || echo "one worker per CPU"), C server $c_threads thread(s), load generator $loadgen_threads thread(s)."
echo
python3 - "$out" <<'EOF'
import json, statistics, sys

runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
order = {"weft": 0, "c": 1, "erlang": 2}
names = {"weft": "weft-echo", "c": "C epoll", "erlang": "Erlang gen_tcp"}
nan = float("nan")

def med(rs, key):
    vals = [r[key] for r in rs if key in r]
    return statistics.median(vals) if vals else nan

def fmt(v, digits=0):
    return "n/a" if v != v else f"{v:,.{digits}f}"

def ratio(a, b):
    return a / b if a == a and b == b and b > 0 else nan

def groups(mode):
    """(connections, line bytes, target rate) -> impl -> runs, in table order."""
    out = {}
    for r in runs:
        if r["mode"] == mode:
            key = (r["connections"], r["line_bytes"], round(r.get("target_rate", 0)))
            out.setdefault(key, {}).setdefault(r["impl"], []).append(r)
    return {k: dict(sorted(v.items(), key=lambda kv: order.get(kv[0], 9))) for k, v in sorted(out.items())}

def summary(rs):
    good = [r for r in rs if not r.get("failed")]
    errors = sum(r["errors"] for r in good) + len(rs) - len(good)
    noisy = f"{sum(1 for r in good if r.get('noisy'))}/{len(rs)}"
    return good, errors, noisy

ok = [r for r in runs if not r.get("failed")]
first = ok[0] if ok else {}
print(f"Echo over loopback, {first.get('line_bytes', '?')}-byte lines, {max((r['rep'] for r in runs), default=0)} "
      f"repetition(s), medians; {first.get('duration_s', '?')} s measured after {first.get('warmup_s', '?')} s warm-up "
      f"per run; load average at the runs' start {min(r['loadavg'] for r in runs):.2f}-{max(r['loadavg'] for r in runs):.2f}.")
print()
print(f"Max throughput (closed loop, {first.get('depth', 1) or 1} line(s) in flight per connection):")
print()
print("| connections | server | lines/s (median) | min - max | server CPU % | loadgen CPU % | others' CPU % | noisy runs | errors |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
max_median = {}
for (conns, _, _), by_impl in groups("max").items():
    for impl, rs in by_impl.items():
        good, errors, noisy = summary(rs)
        rates = [r["achieved_rate"] for r in good]
        max_median[(conns, impl)] = med(good, "achieved_rate")
        span = f"{fmt(min(rates))} - {fmt(max(rates))}" if rates else "n/a"
        print(f"| {conns} | {names.get(impl, impl)} | {fmt(max_median[(conns, impl)])} | {span} | "
              f"{fmt(med(good, 'server_cpu_pct'))} | {fmt(med(good, 'loadgen_cpu_pct'))} | "
              f"{fmt(med(good, 'other_cpu_pct'))} | {noisy} | {errors} |")
print()
print("Latency at fixed rates (open loop; from the scheduled send time, coordinated omission corrected;")
print("a loadgen lag near the p99 means the machine or the load generator, not the server, set the tail):")
print()
print("| connections | line bytes | target lines/s | server | achieved | p50 us | p99 us | p999 us | loadgen lag p99 us | server CPU % | others' CPU % | noisy runs | errors |")
print("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
p99_median = {}
for (conns, lb, target), by_impl in groups("rate").items():
    for impl, rs in by_impl.items():
        good, errors, noisy = summary(rs)
        p99_median[(conns, lb, target, impl)] = med(good, "p99_us")
        overloaded = " (overloaded)" if any(r.get("overloaded") for r in good) else ""
        print(f"| {conns} | {lb} | {fmt(target)} | {names.get(impl, impl)} | {fmt(med(good, 'achieved_rate'))}{overloaded} | "
              f"{fmt(med(good, 'p50_us'), 1)} | {fmt(med(good, 'p99_us'), 1)} | {fmt(med(good, 'p999_us'), 1)} | "
              f"{fmt(med(good, 'send_lag_p99_us'), 1)} | {fmt(med(good, 'server_cpu_pct'))} | "
              f"{fmt(med(good, 'other_cpu_pct'))} | {noisy} | {errors} |")
print()
print("Against the C floor (targets: throughput >= 0.70 of C, p99 <= 2.0x C):")
print()
print("| connections | weft/C max throughput | fixed rate lines/s | weft/C p99 | Erlang/C max throughput | Erlang/C p99 | weft meets both |")
print("|---:|---:|---:|---:|---:|---:|---|")
for (conns, lb, target), by_impl in groups("rate").items():
    if lb != first.get("line_bytes"):
        continue
    wt = ratio(max_median.get((conns, "weft"), nan), max_median.get((conns, "c"), nan))
    et = ratio(max_median.get((conns, "erlang"), nan), max_median.get((conns, "c"), nan))
    c_p99 = p99_median.get((conns, lb, target, "c"), nan)
    wl = ratio(p99_median.get((conns, lb, target, "weft"), nan), c_p99)
    el = ratio(p99_median.get((conns, lb, target, "erlang"), nan), c_p99)
    verdict = "n/a" if wt != wt or wl != wl else ("yes" if wt >= 0.70 and wl <= 2.0 else "no")
    print(f"| {conns} | {fmt(wt, 2)} | {fmt(target)} | {fmt(wl, 2)} | {fmt(et, 2)} | {fmt(el, 2)} | {verdict} |")
EOF

if ((smoke)); then
  python3 - "$out" <<'EOF' || die "smoke: FAILED (a run failed, or lines were lost or garbled; raw results above)"
import json, sys
bad = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("failed"):
        bad.append(f"{r['impl']} {r['mode']}: {r.get('reason')}")
    elif r["errors"] or r["lost"] or r["garbled"] or r["closed_by_server"] or r["sent"] == 0 \
            or r["sent"] != r["received"] or r["overloaded"]:
        bad.append(f"{r['impl']} {r['mode']} {r['line_bytes']}-byte lines: sent {r['sent']}, received {r['received']}, "
                   f"lost {r['lost']}, garbled {r['garbled']}, closed {r['closed_by_server']}, overloaded {r['overloaded']}")
for b in bad:
    print("smoke:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
  say "smoke: passed (every line echoed intact)"
fi
