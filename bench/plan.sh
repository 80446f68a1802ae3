# The workloads bench/run.sh and bench/compare.sh run, one entry each:
#   name|kind|full parameters|smoke parameters
# kind "mp": a message-passing workload, run at every worker count; "-":
# run at the highest worker count only. A workload listed twice is told
# apart in the report by its last parameter when that is snapshot_every=
# or stalled= (bench/run.sh names the cases).
# shellcheck disable=SC2034 # used by the scripts that source this
plan=(
  "pingpong|mp|n=1000000|n=1000"
  "fanin|mp|p=8 m=500000|p=2 m=1000"
  "spawn|mp|n=1000000|n=1000"
  "ring|mp|r=1000 h=10000000|r=10 h=1000"
  "idle|-|n=1000000|n=1000"
  "parked|-|n=100000|n=1000"
  "restart|-|k=100000|k=100"
  "ask|mp|n=1000000 c=16|n=1000 c=4"
  "persist|-|a=100 c=1000|a=4 c=10"
  "recover|-|e=1000000 snapshot_every=0|e=1000 snapshot_every=0"
  "recover|-|e=1000000 snapshot_every=10000|e=1000 snapshot_every=100"
  "broadcast|mp|subs=10000 msgs=100|subs=10 msgs=10"
  "server|mp|n=1000000 c=16|n=1000 c=4"
  "statem|mp|n=10000000|n=2000"
  "pubsub|mp|subs=10000 msgs=100 match=0.01|subs=10 msgs=10 match=0.1"
  "pubsub|-|subs=10000 msgs=100 match=0.01 stalled=1|subs=10 msgs=10 match=0.1 stalled=1"
  "router|mp|routees=8 n=1000000|routees=2 n=1000"
  "ask_backlog|mp|n=100000 backlog=1000|n=1000 backlog=100"
  "saga|-|n=100000 inflight=1000|n=200 inflight=50"
)
