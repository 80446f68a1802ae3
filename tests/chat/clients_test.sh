#!/usr/bin/env bash
# weft-chat against two real IRC clients, irssi and WeeChat, each in its
# own terminal (a tmux session), driven by keystrokes and checked by what
# their screens show.
#
#   clients_test.sh <path to weft-chat>
#
#   this script                    tmux (private socket)           weft-chat
#   -----------                    ---------------------           ---------
#   start weft-chat on a free port, temp --data  ------------------> listens
#   write each client a config in its own temp HOME (nick, no
#   autoconnect, no first-run banner, no paste prompt)
#   start irssi in session "irssi", WeeChat in session "weechat"
#   send-keys "/connect ..." ----> each client registers ---------> CAP, NICK, USER
#   send-keys "/join", lines,      ...
#   /msg, /topic, /away, /part
#   capture-pane -p, polled until the expected text shows (or a
#   deadline passes: then both screens and the server's output are
#   printed and the test fails)
#   at the end, every window of both clients is searched for an error
#   (421, "Closing Link", "Connection refused", ...)
#
# The clients read nothing of the user's: HOME, irssi --home and WeeChat
# --dir point into a temp dir, tmux runs on its own socket (-L) without a
# config file. The trap kills the tmux server and weft-chat and removes
# the temp dir whatever happens. Exit 77 (ctest: skipped) when irssi,
# weechat or tmux is missing.
set -u -o pipefail

server_binary=${1:?usage: clients_test.sh <path to weft-chat>}
# Each wait gives up after this many seconds: generous, as CI machines are
# busy; a pass never waits that long.
deadline_seconds=${WEFT_CLIENTS_TEST_TIMEOUT:-60}

for tool in irssi weechat tmux; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "clients_test: $tool is not installed: skipped (apt-get install irssi weechat-curses tmux)"
    exit 77
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/weft-chat-clients.XXXXXX")
tmux_socket="weft-chat-clients-$$"
server_pid=""

tmx() { tmux -L "$tmux_socket" -f /dev/null "$@"; }

cleanup() {
  tmx kill-server >/dev/null 2>&1
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

screen_of() { tmx capture-pane -p -t "$1" 2>/dev/null; }

fail() {
  echo "clients_test: FAILED: $*"
  for s in irssi weechat; do
    echo "----- screen of $s -----"
    screen_of "$s" | sed '/^[ │]*$/d'
  done
  echo "----- weft-chat's output -----"
  cat "$work/server.log"
  exit 1
}

# Types one line into a client and presses Enter (-l: no key names).
type_in() {
  tmx send-keys -t "$1" -l -- "$2"
  tmx send-keys -t "$1" Enter
}

# Polls a client's screen until it shows the fixed text $2.
wait_for() {
  local session=$1 text=$2 end=$((SECONDS + deadline_seconds))
  until screen_of "$session" | grep -qF -- "$text"; do
    ((SECONDS < end)) || fail "$session never showed '$text'"
    sleep 0.2
  done
}

# Polls until the fixed text $2 is on $3 lines of a client's screen.
wait_for_count() {
  local session=$1 text=$2 count=$3 end=$((SECONDS + deadline_seconds))
  until (($(screen_of "$session" | grep -cF -- "$text") >= count)); do
    ((SECONDS < end)) || fail "$session never showed '$text' $count times"
    sleep 0.2
  done
}

# -- the server ----------------------------------------------------------------
# A random port in 19000-19999 (this test's range); another one if taken.
port=""
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  try_port=$((19000 + RANDOM % 1000))
  "$server_binary" --irc-port "$try_port" --ws-port 0 --bind 127.0.0.1 --data "$work/data" \
    >"$work/server.log" 2>&1 &
  server_pid=$!
  end=$((SECONDS + deadline_seconds))
  while ((SECONDS < end)); do
    if grep -q "IRC on port $try_port" "$work/server.log"; then
      port=$try_port
      break 2
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
done
[[ -n "$port" ]] || fail "weft-chat did not start"

# -- the clients' configurations ------------------------------------------------
mkdir -p "$work/irssi" "$work/weechat"
cat >"$work/irssi/config" <<EOF
settings = {
  core = {
    nick = "alice";
    user_name = "alice";
    real_name = "Alice";
    settings_autosave = "no";
  };
  "irc/core" = { cmd_queue_speed = "0"; };
  "fe-common/core" = { autolog = "no"; };
  "fe-text" = { paste_detect_time = "0"; };
};
EOF
# Both clients space their own lines out (irssi 2.2 s after a burst of 5,
# WeeChat 2 s between lines): off, so that a line goes when typed and the
# test is quick. weechat.conf existing means no first-run welcome;
# paste_max_lines -1: no "paste N lines?" prompt when keys come fast.
# WeeChat shows "marked as being away" (305/306) in the current buffer,
# not the server's: that is how the test knows the server took the AWAY.
cat >"$work/weechat/weechat.conf" <<EOF
[startup]
display_logo = off
display_version = off

[look]
paste_max_lines = -1
EOF
cat >"$work/weechat/irc.conf" <<EOF
[server_default]
nicks = "bob"
username = "bob"
realname = "Bob"
autoconnect = off
anti_flood_prio_high = 0
anti_flood_prio_low = 0

[msgbuffer]
305 = current
306 = current
EOF

# A terminal tall enough that nothing of interest scrolls away.
client_env=(env "HOME=$work" "LANG=C.UTF-8" "LC_ALL=C.UTF-8" "TERM=screen")
tmx new-session -d -s irssi -x 200 -y 120 \
  "${client_env[*]} HOME=$work/irssi irssi --home=$work/irssi --noconnect" || fail "tmux did not start irssi"
# -P irc: the IRC plugin alone (no logger writing files, no buffer list).
tmx new-session -d -s weechat -x 200 -y 120 \
  "${client_env[*]} HOME=$work/weechat weechat --dir $work/weechat --no-connect -P irc" ||
  fail "tmux did not start weechat"
# Ready for keys once the start-up lines are out (irssi's banner in the
# window, not the title bar; WeeChat's plugin line).
wait_for irssi "-!- Irssi v"
wait_for weechat "Plugins loaded: irc"

# -- connect, join, talk ---------------------------------------------------------
type_in irssi "/connect 127.0.0.1 $port"
type_in weechat "/server add weft 127.0.0.1/$port"
type_in weechat "/connect weft"
wait_for irssi "End of /MOTD command"
wait_for weechat "End of /MOTD command"

type_in irssi "/join #weft"
wait_for irssi "alice [alice@127.0.0.1] has joined #weft"
type_in weechat "/join #weft"
wait_for weechat "Channel #weft: 2 nicks"
wait_for irssi "bob [bob@127.0.0.1] has joined #weft"

type_in irssi "hello from irssi"
type_in weechat "hello from weechat"
wait_for irssi "bob> hello from weechat"
wait_for weechat "alice | hello from irssi"

# -- topic -----------------------------------------------------------------------
type_in irssi "/topic the loom of weft"
wait_for irssi "alice changed the topic of #weft to: the loom of weft"
wait_for weechat 'alice has changed topic for #weft to "the loom of weft"'

# -- private messages ------------------------------------------------------------
# WeeChat opens a buffer for alice (and shows it); irssi makes a query
# window for bob when alice writes to him, and is sent there to read.
type_in weechat "/query alice"
wait_for weechat "[irc/weft] 3:alice"
type_in irssi "/msg bob private hello from alice"
wait_for weechat "alice | private hello from alice"
type_in weechat "private hello from bob"
type_in irssi "/window goto bob"
wait_for irssi "bob> private hello from bob"

# -- away ------------------------------------------------------------------------
# A message to someone away is answered with their away text (301).
type_in weechat "/away gone fishing"
wait_for weechat "You have been marked as being away"
type_in irssi "are you there"
wait_for irssi "bob is away: gone fishing"
type_in weechat "/away"
wait_for weechat "You are no longer marked as being away"
# irssi's "(zZzZ)" comes with the server's 306.
type_in irssi "/away out for lunch"
wait_for irssi "alice (zZzZ)"
type_in weechat "are you there"
wait_for weechat "[alice] is away: out for lunch"
type_in irssi "/away"

# -- part, and each sees the other join ---------------------------------------------
type_in irssi "/window goto #weft"
type_in weechat "/buffer #weft"
wait_for weechat "[irc/weft] 2:#weft"
type_in weechat "/part #weft bye all"
wait_for irssi "bob [bob@127.0.0.1] has left #weft [bye all]"
wait_for weechat "bob (bob@127.0.0.1) has left #weft (bye all)"
# WeeChat keeps the #weft buffer after /part: its second join is the
# second such line. (Whether irssi's PART reaches the room before it or
# not, WeeChat sees alice join next.)
type_in irssi "/part #weft"
type_in weechat "/join #weft"
wait_for_count weechat "bob (bob@127.0.0.1) has joined #weft" 2
type_in irssi "/join #weft"
wait_for weechat "alice (alice@127.0.0.1) has joined #weft"
wait_for irssi "Total of 2 nicks"

# -- no window of either client shows an error ---------------------------------------
errors='( 421 |Unknown command|Closing Link|Connection refused|Connection lost|Disconnected|not registered|Not enough parameters|Erroneous|Malformed|too long|No such|Cannot send|=!=)'
check_window() {
  local session=$1 switch=$2 status=$3
  type_in "$session" "$switch"
  wait_for "$session" "$status"
  local found
  found=$(screen_of "$session" | grep -E -- "$errors")
  [[ -z "$found" ]] || fail "$session shows an error after '$switch': $found"
}
check_window irssi "/window 1" "[1:127 (change with ^X)]"
check_window irssi "/window goto bob" "/bob]"
check_window irssi "/window goto #weft" "/#weft(+nt)]"
check_window weechat "/buffer 1" "[irc/weft] 1:"
check_window weechat "/buffer alice" "[irc/weft] 3:alice"
check_window weechat "/buffer #weft" "[irc/weft] 2:#weft"

# -- quit ------------------------------------------------------------------------------
type_in weechat "/quit see you"
wait_for irssi "bob [bob@127.0.0.1] has quit [Quit: see you]"
type_in irssi "/quit"
end=$((SECONDS + deadline_seconds))
while tmx has-session 2>/dev/null; do
  ((SECONDS < end)) || fail "a client did not exit after /quit"
  sleep 0.2
done
kill -0 "$server_pid" 2>/dev/null || fail "weft-chat is gone"
echo "clients_test: irssi and WeeChat talked through weft-chat on port $port"
