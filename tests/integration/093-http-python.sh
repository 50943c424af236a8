#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A chaos test as a user writes one: Python's standard library only
# (urllib), a real TCP client in A and server in B, faultline in B driven
# over its HTTP API while the client measures. See http_chaos.py: a delay
# switched on, disabled, enabled, deleted, and a drop while a request is
# in flight, each phase compared with the others in the same run.
. "$(dirname "$0")/lib.sh"
make_pair

fl_start "$NS_B" --rule 'keep: udp port 9 => drop' --http 127.0.0.1:0 --seed 1
python3 "$(dirname "$0")/http_chaos.py" drive "$(http_base)" "$NS_A" "$NS_B" 10.99.0.2 7093 >"$T/result" ||
	fail "the chaos test failed"
log "$(cat "$T/result")"
fl_stop
echo ok
