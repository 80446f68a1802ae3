#!/usr/bin/env bash
# IRC over loopback: weft-chat (samples/chat) against InspIRCd, ngIRCd and
# ircd-hybrid (Debian 12 packages), driven by weft-chat-loadgen
# (loadgen.cpp). Prints Markdown tables on stdout. See README.md.
#
#   bench/chat/run.sh [smoke] [reps=3] [scenarios=rooms,one-room,idle,stalled[,saturation]]
#       [impls=weft,inspircd,ngircd,ircd-hybrid] [duration=10] [out=FILE]
#       [warmup=2] [one_room_rate=MSGS_PER_S] [sendq=1048576] [weft_workers=1] [weft_args="..."]
#       [connect_concurrency=N] [max_other=25] [quiet_wait=30] [nice=0]
#       [build=DIR] [weft_build=DIR] [jobs=2] [keep_runs=0]
#       [sat_args="--rate=1500 --sat-factor=1.1"]
#
#   Prebuilt binaries instead of building: WEFT_CHAT=path LOADGEN=path.
#
# Steps:
#   1. Build, in `build` (default build/chat-bench): the load generator
#      from bench/chat as a CMake project of its own (build/chat-bench/loadgen)
#      and the weft-chat target of the weft tree (Release, no tests, no
#      bench; in weft_build, default build/chat-bench/weft). Check the peers
#      with install-peers.sh --check, and install them if missing (root).
#   2. If saturation, one-room or stalled is asked for and one_room_rate is
#      not given: saturation runs first (one-room, 1,000 clients, offered rate x1.5 per
#      step until a step fails twice; see loadgen.cpp), `reps` times per
#      implementation, alternated. The fixed rate of one-room and stalled is
#      then half of the best PEER's median sustained message rate (weft's
#      own if no peer runs), the same for every implementation. sat_args
#      are extra load generator options for these runs: a finer ramp
#      (--sat-factor) from a higher start (--rate, msg/s) places the limit
#      more closely than the default x1.5 steps from 20 msg/s.
#   3. Every scenario, `reps` rounds, the implementations alternated within
#      each round (weft inspircd ngircd ircd-hybrid weft ...), so a slow drift
#      of a shared machine hits all alike:
#        rooms     1,000 clients in 100 rooms, 10 msg/s each
#        one-room  1,000 clients in one room at the rate of step 2
#        idle      10,000 clients, registered, in no room
#        stalled   one-room at the same rate with one client that never
#                  reads, and the same run without it (stalled_clients 0),
#                  alternated, so the two can be compared pairwise
#      Every run gets a fresh server process on a free port in 17000-17999
#      with a fresh run directory (config, logs, weft's data), and is
#      preceded by a wait (up to quiet_wait s) until other processes use
#      less than max_other % of a CPU; a run during which they used more
#      anyway is marked "noisy" (and counted in the tables).
#   4. Every JSON line (plus rep, noisy, loadavg) is appended to `out`
#      (default bench/results/chat-<UTC time>.jsonl; smoke: under `build`),
#      and the tables of medians are printed, with weft / best peer ratios.
#
# nice=-10 (root only; a machine shared with CPU-bound work): the script
# re-runs itself in a session of its own (setsid) and raises that session's
# autogroup priority to -10, so the servers and the load generator weigh
# more against other sessions' work (with autogroup scheduling a plain nice
# value only weighs within one session). The neighbours still soak up idle
# CPU, so waiting for quiet is then off unless quiet_wait= is given.
#
# smoke: 50 clients, 5 rooms, 2 s, weft only, every scenario once plus a
# two-step saturation; under 60 s once built; exits non-zero if any run
# failed, lost or mangled a message, or was refused by the server.
#
# Server configs: peers/<impl>/*.in, filled with the port, the run
# directory and the send queue (sendq, the same for every server that can
# set it). The servers run as root (InspIRCd with --runasroot; ngIRCd drops
# to `nobody` by itself; ircd-hybrid refuses root outright, so it runs as
# Debian's `irc` user through setpriv), in the foreground, logging into the
# run directory. ircd-hybrid cannot be told not to look up its clients'
# reverse DNS, so it runs in a private mount namespace whose resolv.conf
# names a stub answering NXDOMAIN at once (peers/ircd-hybrid/nxdomain.py).
# Run directories are deleted after a clean run (keep_runs=1 keeps them)
# and kept after a failed one.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

smoke=0
reps=3
scenarios="rooms,one-room,idle,stalled"
impls="weft,inspircd,ngircd,ircd-hybrid"
duration=10
warmup=2
one_room_rate=""
sendq=1048576
weft_workers=1
weft_args=()
connect_concurrency=""  # default: per server, see concurrency_of
max_other=25
quiet_wait=30
quiet_wait_given=0
nice=0
build="$root/build/chat-bench"
weft_build=""
jobs=2
keep_runs=0
out=""
impls_given=0
user_sat_args=()
for arg in "$@"; do
  case "$arg" in
    smoke) smoke=1 ;;
    reps=*) reps="${arg#*=}" ;;
    scenarios=*) scenarios="${arg#*=}" ;;
    impls=*) impls="${arg#*=}"; impls_given=1 ;;
    duration=*) duration="${arg#*=}" ;;
    warmup=*) warmup="${arg#*=}" ;;
    one_room_rate=*) one_room_rate="${arg#*=}" ;;
    sendq=*) sendq="${arg#*=}" ;;
    weft_workers=*) weft_workers="${arg#*=}" ;;
    weft_args=*) read -r -a weft_args <<<"${arg#*=}" ;;
    connect_concurrency=*) connect_concurrency="${arg#*=}" ;;
    max_other=*) max_other="${arg#*=}" ;;
    quiet_wait=*) quiet_wait="${arg#*=}"; quiet_wait_given=1 ;;
    nice=*) nice="${arg#*=}" ;;
    build=*) build="${arg#*=}" ;;
    weft_build=*) weft_build="${arg#*=}" ;;
    jobs=*) jobs="${arg#*=}" ;;
    keep_runs=*) keep_runs="${arg#*=}" ;;
    out=*) out="${arg#*=}" ;;
    sat_args=*) read -r -a user_sat_args <<<"${arg#*=}" ;;
    *) echo "run.sh: unknown argument '$arg' (see the header of $0)" >&2; exit 2 ;;
  esac
done

say() { echo "run.sh: $*" >&2; }
die() { say "$*"; exit 1; }

if ((nice < 0)) && [[ -z "${CHAT_RUN_SESSION:-}" ]]; then
  [[ -w /proc/self/autogroup ]] && command -v setsid >/dev/null ||
    die "nice=$nice needs autogroup scheduling (/proc/self/autogroup) and setsid"
  # The inner script writes its pid to a file; INT/TERM are forwarded to
  # it (by that pid), so its cleanup stops the server it runs.
  pidfile="$(mktemp "${TMPDIR:-/tmp}/chat-run-pid.XXXXXX")"
  CHAT_RUN_SESSION="$pidfile" setsid --fork --wait "$BASH" "$0" "$@" &
  session=$!
  trap '[[ -s "$pidfile" ]] && kill -TERM "$(cat "$pidfile")" 2>/dev/null' INT TERM
  rc=0
  while kill -0 "$session" 2>/dev/null; do
    wait "$session" && rc=0 || rc=$?
  done
  rm -f "$pidfile"
  exit "$rc"
fi
if [[ -n "${CHAT_RUN_SESSION:-}" ]]; then
  echo $$ >"$CHAT_RUN_SESSION"
  echo "$nice" >/proc/self/autogroup || die "cannot set this session's autogroup priority to $nice (root only)"
  ((quiet_wait_given)) || quiet_wait=0
fi

# Sizes of each scenario (smoke: tiny).
room_clients=1000
room_count=100
room_rate_per_client=10
one_room_clients=1000
idle_clients=10000
sat_args=()
if ((smoke)); then
  reps=1
  ((impls_given)) || impls=weft
  duration=2
  warmup=0.5
  room_clients=50
  room_count=5
  one_room_clients=50
  idle_clients=50
  quiet_wait=0
  sat_args=(--rate=20 --sat-step=1 --sat-warmup=0.3 --sat-max-steps=2 --drain=2)
fi
((${#user_sat_args[@]} == 0)) || sat_args=("${user_sat_args[@]}")
IFS=',' read -r -a impl_list <<<"$impls"
IFS=',' read -r -a scenario_list <<<"$scenarios"
for impl in "${impl_list[@]}"; do
  case "$impl" in weft | inspircd | ngircd | ircd-hybrid) ;; *) die "unknown implementation '$impl' (weft, inspircd, ngircd, ircd-hybrid)" ;; esac
done
for s in "${scenario_list[@]}"; do
  case "$s" in rooms | one-room | idle | stalled | saturation) ;; *) die "unknown scenario '$s' (rooms, one-room, idle, stalled, saturation)" ;; esac
done
wants_impl() { [[ ",$impls," == *",$1,"* ]]; }
wants_scenario() { [[ ",$scenarios," == *",$1,"* ]]; }

mkdir -p "$build"
build="$(cd "$build" && pwd)"
[[ -n "$weft_build" ]] || weft_build="$build/weft"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
if [[ -z "$out" ]]; then
  if ((smoke)); then out="$build/chat-smoke-$stamp.jsonl"; else out="$root/bench/results/chat-$stamp.jsonl"; fi
fi
mkdir -p "$(dirname "$out")"
touch "$out"
runs_dir="$build/runs-$stamp"
mkdir -p "$runs_dir"

# -- step 1: build ---------------------------------------------------------------

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
loadgen="${LOADGEN:-}"
if [[ -z "$loadgen" ]]; then
  say "building the load generator in $build/loadgen"
  cmake -S "$here" -B "$build/loadgen" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >"$build/loadgen.log" 2>&1 &&
    cmake --build "$build/loadgen" -j"$jobs" >>"$build/loadgen.log" 2>&1 ||
    { cat "$build/loadgen.log" >&2; die "cannot build bench/chat (log above)"; }
  loadgen="$build/loadgen/weft-chat-loadgen"
fi
weft_chat="${WEFT_CHAT:-}"
if wants_impl weft && [[ -z "$weft_chat" ]]; then
  say "building weft-chat (Release) in $weft_build, -j$jobs"
  cmake -S "$root" -B "$weft_build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DWEFT_BUILD_TESTS=OFF \
    -DWEFT_BUILD_BENCH=OFF >"$build/weft.log" 2>&1 &&
    cmake --build "$weft_build" -j"$jobs" --target weft-chat >>"$build/weft.log" 2>&1 ||
    { tail -40 "$build/weft.log" >&2; die "cannot build weft-chat (log above; WEFT_CHAT=path to use a prebuilt one, impls= to leave it out)"; }
  weft_chat="$weft_build/samples/chat/weft-chat"
fi
for f in "$loadgen" ${weft_chat:+"$weft_chat"}; do
  [[ -x "$f" ]] || die "$f: not an executable"
done
ngircd_bin="$build/../chat-peers/ngircd/usr/sbin/ngircd"
if wants_impl inspircd || wants_impl ngircd || wants_impl ircd-hybrid; then
  peers_out="$("$here/install-peers.sh" --check 2>/dev/null)" || peers_out="$("$here/install-peers.sh")" ||
    die "the peer servers are not available (install-peers.sh failed; impls= to leave them out)"
  ngircd_bin="$(sed -n 's/^ngircd=//p' <<<"$peers_out")"
fi

# Servers and the loadgen both need a descriptor per client.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < idle_clients + 100)); then
  die "the descriptor limit ($(ulimit -n)) is below the $idle_clients idle clients; raise it (ulimit -Hn) or run smoke"
fi

# -- servers ---------------------------------------------------------------------------

server_pid=""
server_port=""
server_dir=""
next_port=17000

stop_server() {
  [[ -n "$server_pid" ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 150); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    say "server $server_pid ignored SIGTERM for 15 s; killing it"
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# ircd-hybrid's DNS: a stub that answers NXDOMAIN at once, on a loopback
# address of its own (see peers/ircd-hybrid/nxdomain.py for why).
dns_stub_pid=""
dns_stub_address=127.83.72.53
dns_stub_resolv="$runs_dir/hybrid-resolv.conf"
start_dns_stub() {
  [[ -z "$dns_stub_pid" ]] || return 0
  echo "nameserver $dns_stub_address" >"$dns_stub_resolv"
  python3 "$here/peers/ircd-hybrid/nxdomain.py" "$dns_stub_address" >"$runs_dir/nxdomain.log" 2>&1 &
  dns_stub_pid=$!
  sleep 0.2
  kill -0 "$dns_stub_pid" 2>/dev/null || die "the DNS stub for ircd-hybrid did not start: $(cat "$runs_dir/nxdomain.log")"
}

loadgen_pid=""

cleanup() {
  if [[ -n "$loadgen_pid" ]]; then
    kill -TERM "$loadgen_pid" 2>/dev/null || true
    wait "$loadgen_pid" 2>/dev/null || true
  fi
  stop_server
  if [[ -n "$dns_stub_pid" ]]; then
    kill "$dns_stub_pid" 2>/dev/null || true
    wait "$dns_stub_pid" 2>/dev/null || true
    rm -f "$dns_stub_resolv" "$runs_dir/nxdomain.log"
  fi
  rmdir "$runs_dir" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The next port of 17000-17999 that no socket uses (in any state, so no
# TIME_WAIT of an earlier run is in the way).
pick_port() {
  local tries=0
  while ((tries++ < 1000)); do
    local p=$next_port
    next_port=$((next_port >= 17999 ? 17000 : next_port + 1))
    if [[ -z "$(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null)" ]]; then
      echo "$p"
      return 0
    fi
  done
  die "no free port in 17000-17999"
}

listening() { [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]; }

fill() {  # fill TEMPLATE > FILE
  sed -e "s|@PORT@|$server_port|g" -e "s|@DIR@|$server_dir|g" -e "s|@SENDQ@|$sendq|g" "$1"
}

# start_server IMPL NAME: a fresh server on a free port in a fresh run
# directory; sets server_pid, server_port, server_dir.
start_server() {
  local impl="$1" name="$2"
  server_port="$(pick_port)"
  server_dir="$runs_dir/$name"
  mkdir -p "$server_dir"
  local log="$server_dir/server.out"
  case "$impl" in
    weft)
      # stdbuf: weft-chat prints "IRC on port P" with stdio, which a file
      # would buffer until exit (stdbuf execs it: the pid stays weft-chat's).
      stdbuf -oL "$weft_chat" --irc-port "$server_port" --ws-port 0 --bind 127.0.0.1 --data "$server_dir/data" \
        --workers "$weft_workers" --input-rate 0 --sendq "$sendq" "${weft_args[@]}" >"$log" 2>&1 &
      ;;
    inspircd)
      fill "$here/peers/inspircd/inspircd.conf.in" >"$server_dir/inspircd.conf"
      /usr/sbin/inspircd --config "$server_dir/inspircd.conf" --nofork --nopid --runasroot >"$log" 2>&1 &
      ;;
    ngircd)
      fill "$here/peers/ngircd/ngircd.conf.in" >"$server_dir/ngircd.conf"
      "$ngircd_bin" --config "$server_dir/ngircd.conf" --nodaemon --passive >"$log" 2>&1 &
      ;;
    ircd-hybrid)
      fill "$here/peers/ircd-hybrid/ircd.conf.in" >"$server_dir/ircd.conf"
      chown -R irc:irc "$server_dir"
      start_dns_stub
      # A private mount namespace whose /etc/resolv.conf names the stub
      # (see peers/ircd-hybrid/nxdomain.py); unshare, sh and setpriv all
      # exec, so $! is hybrid's pid.
      unshare --mount sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$dns_stub_resolv" \
        setpriv --reuid irc --regid irc --init-groups /usr/sbin/ircd-hybrid -foreground \
        -configfile "$server_dir/ircd.conf" -logfile "$server_dir/ircd.log" -pidfile "$server_dir/ircd.pid" \
        -klinefile "$server_dir/kline.db" -dlinefile "$server_dir/dline.db" -xlinefile "$server_dir/xline.db" \
        -resvfile "$server_dir/resv.db" >"$log" 2>&1 &
      ;;
  esac
  server_pid=$!
  for _ in $(seq 200); do
    if [[ "$impl" == weft ]] && grep -q "weft-chat: IRC on port $server_port" "$log" 2>/dev/null; then
      return 0
    elif listening "$server_port"; then
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  say "$impl did not start listening on port $server_port within 10 s: $(tail -c 600 "$log" | tr '\n' ' ')"
  stop_server
  return 1
}

# -- one run ----------------------------------------------------------------------------

# Busy CPU of the whole machine over one second, in % of one CPU.
machine_busy() {
  local a b
  a="$(awk '/^cpu / { print $2 + $3 + $4 + $9 }' /proc/stat)"
  sleep 1
  b="$(awk '/^cpu / { print $2 + $3 + $4 + $9 }' /proc/stat)"
  awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%d", (b - a) * 100 / hz }'
}

wait_quiet() {
  ((quiet_wait > 0)) || return 0
  local waited=0 busy
  while busy="$(machine_busy)"; ((busy > max_other && waited < quiet_wait)); do
    ((waited == 0)) && say "the machine is busy ($busy% of a CPU used by others); waiting up to ${quiet_wait}s"
    sleep 1
    waited=$((waited + 2))
  done
}

run_count=0
failures=0

# How many clients the loadgen sets up at once (connecting, registering,
# joining). Set-up is not measured, but it must work and not take forever:
# ngIRCd listens with a backlog of 10 (hard-coded) and accepts one
# connection per turn of its main loop, so more than 8 at once overflow its
# accept queue, and the kernel drops handshakes until clients are reset;
# InspIRCd completes a registration only in its once-a-second background
# pass (an idle InspIRCd answers NICK/USER exactly 1 s later), so it needs
# many at once to set up 10,000 clients in reasonable time. weft-chat and
# hybrid take either.
concurrency_of() {
  if [[ -n "$connect_concurrency" ]]; then echo "$connect_concurrency"
  elif [[ "$1" == ngircd ]]; then echo 8
  else echo 500
  fi
}

# run_one IMPL REP LABEL LOADGEN-ARGS...: one fresh server, one loadgen run,
# one JSON line appended to $out (a failed run gets a line saying so).
run_one() {
  local impl="$1" rep="$2" label="$3"
  shift 3
  run_count=$((run_count + 1))
  local name
  name="$(printf '%03d-%s-%s' "$run_count" "$label" "$impl")"
  wait_quiet
  local tag line err
  tag="\"rep\": $rep, \"label\": \"$label\", \"loadavg\": $(cut -d' ' -f1 /proc/loadavg)"
  if ! start_server "$impl" "$name"; then
    echo "{\"bench\": \"chat\", \"label\": \"$label\", \"impl\": \"$impl\", \"failed\": true, \"ok\": false, \"error\": \"server did not start\", $tag}" >>"$out"
    failures=$((failures + 1))
    return 0
  fi
  err="$server_dir/loadgen.err"
  # In the background with a wait, so a signal's trap runs at once.
  "$loadgen" --impl="$impl" --port="$server_port" --server-pid="$server_pid" \
    --connect-concurrency="$(concurrency_of "$impl")" "$@" >"$server_dir/loadgen.out" 2>"$err" &
  loadgen_pid=$!
  wait "$loadgen_pid" || true
  loadgen_pid=""
  line="$(head -1 "$server_dir/loadgen.out")"
  stop_server
  if [[ "$line" != "{"*"}" ]]; then
    line="{\"bench\": \"chat\", \"label\": \"$label\", \"impl\": \"$impl\", \"failed\": true, \"ok\": false, \"error\": \"load generator failed: $(tail -c 300 "$err" | tr -d '"\\' | tr '\n' ' ')\"}"
  fi
  local other noisy=false
  other="$(sed -n 's/.*"other_cpu_pct": \([-0-9.]*\).*/\1/p' <<<"$line" | cut -d. -f1)"
  [[ -n "$other" ]] && ((other > max_other)) && noisy=true
  echo "${line%\}}, $tag, \"noisy\": $noisy}" >>"$out"
  if [[ "$line" == *'"ok": true'* ]]; then
    ((keep_runs)) || rm -rf "$server_dir"
  else
    failures=$((failures + 1))
    say "$impl $label rep $rep: NOT OK (run directory kept: $server_dir): $(head -c 400 "$err" | tr '\n' ' ')"
  fi
  say "$(printf '%-11s %-9s rep %s: ' "$impl" "$label" "$rep")$(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
if r.get("failed"):
    print("FAILED:", r.get("error", "?"))
else:
    rate, p50, p99, rss, cpu, lost, other = (r[k] for k in ("rate", "p50_us", "p99_us", "rss_kb_per_client", "cpu_pct", "lost", "other_cpu_pct"))
    print(f"{rate:,.0f} deliveries/s, p50 {p50:,.0f} us, p99 {p99:,.0f} us, RSS/client {rss:.2f} KiB, CPU {cpu:.0f}%, "
          f"lost {lost}, others {other:.0f}% CPU" + ("" if r["ok"] else "  NOT OK"))
' "$line")"
}

# median_saturation IMPLS...: the median sustained msgs/s of the best of
# IMPLS (by their medians), 0 if none.
best_saturation() {
  python3 - "$out" "$@" <<'EOF'
import json, statistics, sys
path, impls = sys.argv[1], sys.argv[2:]
runs = [json.loads(l) for l in open(path) if l.strip()]
best = 0
for impl in impls:
    v = [r["msgs_per_s"] for r in runs if r.get("label") == "saturation" and r["impl"] == impl and not r.get("failed") and r["rate"] > 0]
    if v:
        best = max(best, statistics.median(v))
print(f"{best:.2f}")
EOF
}

# -- steps 2 and 3 ------------------------------------------------------------------------

say "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs; results: $out"
common=(--duration="$duration" --warmup="$warmup")
if wants_scenario saturation || wants_scenario one-room || wants_scenario stalled; then
  if [[ -z "$one_room_rate" ]]; then
    for rep in $(seq "$reps"); do
      for impl in "${impl_list[@]}"; do
        run_one "$impl" "$rep" saturation --scenario=one-room --saturation --clients="$one_room_clients" "${sat_args[@]}"
      done
    done
    peers=()
    for impl in "${impl_list[@]}"; do [[ "$impl" == weft ]] || peers+=("$impl"); done
    ((${#peers[@]})) || peers=("${impl_list[@]}")
    best="$(best_saturation "${peers[@]}")"
    one_room_rate="$(awk -v b="$best" 'BEGIN { printf "%.2f", b / 2 }')"
    if awk -v r="$one_room_rate" 'BEGIN { exit !(r <= 0) }'; then
      one_room_rate=20
      say "no saturation result to take half of; one-room runs at $one_room_rate msg/s"
    else
      say "one-room and stalled run at $one_room_rate msg/s: half of the best of ${peers[*]}'s median saturation ($best msg/s)"
    fi
  fi
fi
for rep in $(seq "$reps"); do
  for scenario in "${scenario_list[@]}"; do
    for impl in "${impl_list[@]}"; do
      case "$scenario" in
        rooms)
          run_one "$impl" "$rep" rooms --scenario=rooms --clients="$room_clients" --rooms="$room_count" \
            --rate="$((room_clients * room_rate_per_client))" "${common[@]}"
          ;;
        one-room)
          run_one "$impl" "$rep" one-room --scenario=one-room --clients="$one_room_clients" --rate="$one_room_rate" "${common[@]}"
          ;;
        idle)
          run_one "$impl" "$rep" idle --scenario=idle --clients="$idle_clients" --duration="$duration"
          ;;
        stalled)
          run_one "$impl" "$rep" stalled --scenario=stalled --clients="$one_room_clients" --rate="$one_room_rate" --stalled=1 "${common[@]}"
          run_one "$impl" "$rep" stalled-baseline --scenario=stalled --clients="$one_room_clients" --rate="$one_room_rate" --stalled=0 "${common[@]}"
          ;;
      esac
    done
  done
done

# -- step 4: report --------------------------------------------------------------------------

say "raw results: $out"
python3 - "$out" <<'EOF'
import json, statistics, sys

runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
order = ["weft", "inspircd", "ngircd", "ircd-hybrid"]
names = {"weft": "weft-chat", "inspircd": "InspIRCd 3.15", "ngircd": "ngIRCd 26.1", "ircd-hybrid": "ircd-hybrid 8.2.43"}
nan = float("nan")

def med(rs, key):
    vals = [r[key] for r in rs if key in r and r[key] is not None and r[key] >= 0]
    return statistics.median(vals) if vals else nan

def fmt(v, digits=0):
    return "n/a" if v != v else f"{v:,.{digits}f}"

def by_impl(label):
    out = {}
    for r in runs:
        if r.get("label") == label:
            out.setdefault(r["impl"], []).append(r)
    return sorted(out.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 9)

def counts(rs):
    good = [r for r in rs if not r.get("failed")]
    bad = sum(1 for r in rs if not r.get("ok"))
    noisy = sum(1 for r in rs if r.get("noisy"))
    return good, f"{len(rs) - bad}/{len(rs)}", noisy

def drained(r):
    if "drained" in r:
        return r["drained"]
    return not any(s.get("why", "").startswith("not every delivery") for s in r.get("steps", []))

def lost_cell(good):
    """Lost deliveries; '(late)' when runs ended with the server still behind."""
    lost = sum(r.get("lost", 0) for r in good)
    behind = sum(1 for r in good if not drained(r))
    wrong = sum(r.get("misdelivered", 0) for r in good)
    cell = f"{lost:,}"
    if behind:
        cell += f" (not drained in {behind}/{len(good)}: behind, may be late)"
    if wrong:
        cell += f", {wrong:,} misdelivered"
    return cell

def ratio_row(label, values, lower_is_better, what):
    weft = values.get("weft", nan)
    peers = [v for k, v in values.items() if k != "weft" and v == v]
    if weft != weft or not peers:
        return
    best = min(peers) if lower_is_better else max(peers)
    print(f"\nweft / best peer, {what}: {fmt(weft / best if best else nan, 2)}"
          f" ({'lower' if lower_is_better else 'higher'} is better for weft)")

first = next((r for r in runs if not r.get("failed") and r.get("label") != "saturation"), {})
reps = max((r.get("rep", 0) for r in runs), default=0)
print(f"IRC over loopback, {reps} repetition(s), medians; {first.get('duration_s', '?')} s measured per run; "
      f"load average at the runs' start {min((r.get('loadavg', 0) for r in runs), default=0):.2f}-"
      f"{max((r.get('loadavg', 0) for r in runs), default=0):.2f}. 'ok' = runs without a lost, mangled or refused message.")

sat = by_impl("saturation")
if sat:
    print("\n### Saturation: one room of 1,000 clients, offered rate raised per step (x1.5 unless sat_args say otherwise) until a step fails twice\n")
    print("| server | sustained deliveries/s | msgs/s | p50 us | p99 us | server CPU % | loadgen-bound runs | ok | noisy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    values = {}
    for impl, rs in sat:
        good, ok, noisy = counts(rs)
        values[impl] = med(good, "rate")
        print(f"| {names.get(impl, impl)} | {fmt(values[impl])} | {fmt(med(good, 'msgs_per_s'), 1)} | {fmt(med(good, 'p50_us'))} | "
              f"{fmt(med(good, 'p99_us'))} | {fmt(med(good, 'cpu_pct'))} | {sum(1 for r in good if r.get('loadgen_bound'))} | {ok} | {noisy} |")
    ratio_row("saturation", values, False, "sustained deliveries/s")

for label, title in (("rooms", "rooms: 1,000 clients in 100 rooms of 10, 10 msg/s each"),
                     ("one-room", "one-room: 1,000 clients in one room, at half the best peer's saturation rate")):
    rows = by_impl(label)
    if not rows:
        continue
    print(f"\n### {title}\n")
    print("| server | msgs/s | deliveries/s | p50 us | p99 us | max us | server CPU % | RSS KiB/client | lost | ok | noisy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    values = {}
    for impl, rs in rows:
        good, ok, noisy = counts(rs)
        values[impl] = med(good, "p99_us")
        print(f"| {names.get(impl, impl)} | {fmt(med(good, 'msgs_per_s'), 1)} | {fmt(med(good, 'rate'))} | {fmt(med(good, 'p50_us'))} | "
              f"{fmt(values[impl])} | {fmt(med(good, 'max_us'))} | {fmt(med(good, 'cpu_pct'))} | "
              f"{fmt(med(good, 'rss_kb_per_client'), 2)} | {lost_cell(good)} | {ok} | {noisy} |")
    ratio_row(label, values, True, "p99")

rows = by_impl("idle")
if rows:
    print(f"\n### idle: clients registered, in no room\n")
    print("| server | clients | RSS KiB/client | RSS before -> after KiB | server CPU % idle | set-up s | ok | noisy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    values = {}
    for impl, rs in rows:
        good, ok, noisy = counts(rs)
        values[impl] = med(good, "rss_kb_per_client")
        print(f"| {names.get(impl, impl)} | {fmt(med(good, 'clients'))} | {fmt(values[impl], 2)} | "
              f"{fmt(med(good, 'rss_before_kb'))} -> {fmt(med(good, 'rss_after_kb'))} | {fmt(med(good, 'cpu_pct'), 1)} | "
              f"{fmt(med(good, 'setup_ms') / 1000, 1)} | {ok} | {noisy} |")
    ratio_row("idle", values, True, "RSS per client")

stalled = dict(by_impl("stalled"))
baseline = dict(by_impl("stalled-baseline"))
if stalled:
    print(f"\n### stalled: one-room with one client that never reads, against the same run without it\n")
    print("| server | msgs/s | p99 us without | p99 us with | with / without | max us with | stalled client dropped | lost | ok | noisy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for impl in [i for i in order if i in stalled] + [i for i in stalled if i not in order]:
        rs = stalled[impl]
        good, ok, noisy = counts(rs)
        base_good, _, _ = counts(baseline.get(impl, []))
        with_p99, without_p99 = med(good, "p99_us"), med(base_good, "p99_us")
        dropped = sum(1 for r in good if r.get("stalled_dropped"))
        print(f"| {names.get(impl, impl)} | {fmt(med(good, 'msgs_per_s'), 1)} | {fmt(without_p99)} | {fmt(with_p99)} | "
              f"{fmt(with_p99 / without_p99 if without_p99 else nan, 2)} | {fmt(med(good, 'max_us'))} | {dropped}/{len(good)} | "
              f"{lost_cell(good)} | {ok} | {noisy} |")

failed = [r for r in runs if not r.get("ok")]
if failed:
    print(f"\n{len(failed)} run(s) not ok:")
    for r in failed:
        what = r.get("error") or f"lost {r.get('lost')}{'' if drained(r) else ' (not drained)'}, garbled {r.get('garbled')}, " \
               f"duplicates {r.get('duplicates')}, misdelivered {r.get('misdelivered', 0)}, closed by the server " \
               f"{r.get('closed_by_server')}, server errors {r.get('server_errors')}, overloaded {r.get('overloaded')}"
        print(f"- {r['impl']} {r.get('label')} rep {r.get('rep')}: {what}")
EOF

# The chart beside the results (docs/chat-benchmarks.png is a copy of one).
if ((!smoke)); then
  python3 "$here/chart.py" "$out" "${out%.jsonl}.png" || say "no chart (see above)"
fi

if ((smoke)); then
  ((failures == 0)) || die "smoke: FAILED ($failures of $run_count runs not ok; see above and $out)"
  say "smoke: passed ($run_count runs, every message delivered intact)"
fi
