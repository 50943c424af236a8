#!/usr/bin/env bash
# The control socket: mode 0600 in a root-owned 0700 directory, listening
# in the namespace faultline was started in (not the one it works in),
# closed to other users, removed at exit. A directory others can write is
# refused, a live run's socket is not taken over, a killed run's is.
. "$(dirname "$0")/lib.sh"
make_pair
S=/run/faultline/$NS_B.queue-4242.sock
fl_start "$NS_B" --rule 'udp dst port 9 => drop' --seed 1
grep -q "control $S)" "$T/fl.err" || fail "the start line does not name the socket: $(cat "$T/fl.err")"
[ "$(stat -c '%a %U %F' "$S")" = "600 root socket" ] || fail "socket: $(stat -c '%a %U %F' "$S")"
[ "$(stat -c '%a %U' /run/faultline)" = "700 root" ] || fail "directory: $(stat -c '%a %U' /run/faultline)"
# Listening in the host's namespace: the host's unix socket table has it, the run's has not.
ss -Hxl | grep -qF "$S" || fail "the socket does not listen in the host's namespace"
! ip netns exec "$NS_B" ss -Hxl | grep -qF "$S" || fail "the socket listens in $NS_B"
# Another user cannot reach it.
rc=0
setpriv --reuid=nobody --regid=nogroup --clear-groups "$FL" ctl --control "$S" list 2>"$T/err" || rc=$?
[ $rc -eq 1 ] && grep -q 'Permission denied' "$T/err" || fail "nobody: exit $rc: $(cat "$T/err")"
# A second run does not take over a live socket (it refuses before touching anything).
rc=0
"$FL" run --netns "$NS_A" --control "$S" --rule 'udp => drop' 2>"$T/err2" || rc=$?
[ $rc -eq 1 ] && grep -q 'another faultline listens on it' "$T/err2" || fail "second run: exit $rc: $(cat "$T/err2")"
no_chain_left "$NS_A"
"$FL" ctl --control "$S" list >/dev/null || fail "the first run no longer answers"
fl_stop
[ ! -e "$S" ] || fail "the socket stayed after exit"

# A killed run leaves its socket; the next run replaces it.
mkdir -m 0700 "$T/priv"
fl_start "$NS_B" --rule 'udp dst port 9 => drop' --control "$T/priv/c.sock"
{ kill -9 "$FL_PID"; wait "$FL_PID"; } 2>/dev/null || true
FL_PID=
[ -S "$T/priv/c.sock" ] || fail "no stale socket to replace"
"$FL" cleanup --netns "$NS_B" >"$T/cleanup" 2>&1 || fail "cleanup: $(cat "$T/cleanup")"
fl_start "$NS_B" --rule 'udp dst port 9 => drop' --control "$T/priv/c.sock"
"$FL" ctl --control "$T/priv/c.sock" list >/dev/null || fail "the new run does not answer"
fl_stop

# A directory others can write is refused, before the run starts.
mkdir -m 1777 "$T/pub"
chmod 1777 "$T/pub"
rc=0
"$FL" run --netns "$NS_B" --control "$T/pub/c.sock" --rule 'udp => drop' 2>"$T/err" || rc=$?
[ $rc -eq 1 ] && grep -q "others can write this directory (mode 1777)" "$T/err" ||
	fail "world-writable directory: exit $rc: $(cat "$T/err")"
[ ! -e "$T/pub/c.sock" ] || fail "a socket was left"
no_chain_left "$NS_B"
echo ok
