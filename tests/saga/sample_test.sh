#!/usr/bin/env bash
# weft-saga end to end: usage errors, kill -9 at random points with failures
# injected, the ledger verdict after recovery, and the debug shell listing
# and resuming stuck sagas.
#   sample_test.sh <weft-saga> <weft-shell>
# WEFT_SAGA_CRASH_ROUNDS sets how many runs are killed: 50 by default, 200
# in the stress configuration (WEFT_STRESS=1).
set -u
saga=$1
shell=$2
work=$(mktemp -d)
bg=""
cleanup() {
  [ -n "$bg" ] && kill -9 "$bg" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# -- usage ------------------------------------------------------------------------
"$saga" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no command: exit 2 expected"
"$saga" run --orders 3 >/dev/null 2>&1; [ $? -eq 2 ] || fail "run without --data: exit 2 expected"
"$saga" run --data "$work/x" --fail-rate 2 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--fail-rate 2: exit 2 expected"
"$saga" status --data "$work/none" >/dev/null 2>&1; [ $? -eq 1 ] || fail "status of nothing: exit 1 expected"
"$saga" --help | grep -q "weft-saga status --data DIR" || fail "--help"

# -- kill -9 at random points ---------------------------------------------------------
data="$work/crash"
rounds=${WEFT_SAGA_CRASH_ROUNDS:-50}
per_round=${WEFT_SAGA_ORDERS_PER_ROUND:-400}
orders=0
killed=0
for round in $(seq 1 "$rounds"); do
  # Startup (recovery included) takes tens of ms; the kill lands anywhere
  # from the recovery to the last orders.
  ms=$((RANDOM % 150 + 5))
  "$saga" run --data "$data" --orders "$per_round" --fail-rate 0.1 --crash-after-ms "$ms" >"$work/run.out" 2>&1
  rc=$?
  [ $rc -eq 137 ] && killed=$((killed + 1))
  # Killed (137), or finished before the kill came (0).
  [ $rc -eq 137 ] || [ $rc -eq 0 ] || { cat "$work/run.out"; fail "round $round: exit $rc"; }
  orders=$((orders + per_round))
  "$saga" status --data "$data" >"$work/status.out" || { cat "$work/status.out"; fail "round $round: the ledger is not exact after kill -9 at $ms ms"; }
done
"$saga" run --data "$data" --orders 0 >"$work/run.out" 2>&1 || { cat "$work/run.out"; fail "the last run"; }
grep -q "^resuming " "$work/run.out" || fail "the run did not say what it resumed"
"$saga" status --data "$data" >"$work/status.out"
rc=$?
cat "$work/status.out"
[ $rc -eq 0 ] || fail "status: exit $rc"
grep -qx "in flight 0" "$work/status.out" || fail "sagas still in flight"
grep -qx "ledger: exact" "$work/status.out" || fail "ledger"
completed=$(sed -n 's/^completed //p' "$work/status.out")
compensated=$(sed -n 's/^compensated //p' "$work/status.out")
stuck=$(sed -n 's/^stuck //p' "$work/status.out")
# A killed run may die before it has registered all its orders (their
# starts were never acknowledged); a run that finished registered all.
ended=$((completed + compensated + stuck))
at_least=$(( (rounds - killed) * per_round ))
[ $ended -ge $at_least ] && [ $ended -le $orders ] || fail "$ended sagas ended; expected $at_least..$orders"
# No permanent compensation failure is injected: nothing may be stuck.
[ "$stuck" -eq 0 ] || fail "$stuck sagas stuck"
[ "$compensated" -gt 0 ] || fail "no saga was compensated at --fail-rate 0.1"
[ "$killed" -gt 0 ] || fail "no run was killed: the crash test tested nothing"

# -- the debug shell: list, look at and resume stuck sagas ----------------------------
data="$work/stuck"
# Every call fails: reserve is tried 6 times, then its compensation once: stuck.
"$saga" run --data "$data" --orders 3 --fail-rate 1 --compensation-attempts 1 --serve-shell --allow-mutations \
  >"$work/shell-run.out" 2>&1 &
bg=$!
for _ in $(seq 1 200); do
  grep -q "stuck sagas: serving" "$work/shell-run.out" && break
  sleep 0.1
done
grep -q "3 stuck sagas: serving" "$work/shell-run.out" || { cat "$work/shell-run.out"; fail "no stuck sagas to look at"; }
sock=$("$shell" list | grep -o "/[^ ]*weft-saga-$bg\.sock" | head -1)
[ -n "$sock" ] || { "$shell" list; fail "no shell socket for weft-saga $bg"; }
"$shell" "$sock" names >"$work/names.out" || fail "names"
for n in 1 2 3; do grep -q "saga/order-$n" "$work/names.out" || { cat "$work/names.out"; fail "saga/order-$n not listed"; }; done
"$shell" "$sock" state saga/order-2 >"$work/state.out" || fail "state"
grep -q "stuck, step reserve" "$work/state.out" || { cat "$work/state.out"; fail "state does not say stuck at reserve"; }
before=$(grep -o "[0-9]* events" "$work/state.out" | cut -d' ' -f1)
"$shell" "$sock" send saga/order-2 resume >/dev/null || fail "send resume"
# The resumed saga tries its compensation again (and, every call failing,
# is stuck again): its journal grows by resumed + intent + outcome + stuck.
for _ in $(seq 1 100); do
  "$shell" "$sock" state saga/order-2 >"$work/state.out"
  after=$(grep -o "[0-9]* events" "$work/state.out" | cut -d' ' -f1)
  [ "$after" -ge $((before + 4)) ] && grep -q "stuck" "$work/state.out" && break
  sleep 0.1
done
[ "$after" -ge $((before + 4)) ] || { cat "$work/state.out"; fail "resume did nothing ($before -> $after events)"; }
kill -INT $bg
wait $bg
rc=$?
bg=""
[ $rc -eq 0 ] || { cat "$work/shell-run.out"; fail "Ctrl-C: exit $rc"; }
"$saga" status --data "$data" >"$work/status.out"
grep -qx "stuck 3" "$work/status.out" || { cat "$work/status.out"; fail "3 stuck sagas expected"; }
grep -qx "ledger: exact" "$work/status.out" || fail "the stuck sagas' ledger"
echo "saga sample: ok ($orders orders, $killed of $rounds runs killed)"
