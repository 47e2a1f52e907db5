#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SIGHUP re-reads kelpd's configuration (issue 10, item 2; README "Operating kelp"):
#   1. a client in a group that [engine] allow_gids does not list is refused; the group is added to
#      the file, `kill -HUP`: the client is accepted, and a session held open across the reload
#      still reads;
#   2. the command-line overrides kelpd was started with still apply over the re-read file (a key
#      given with --set is not reported as changed), and a changed restart-only key is reported as
#      "needs a restart";
#   3. a broken file is refused with FILE:LINE and the running policy stays;
#   4. [engine] log_level and the [seaweedfs] timeouts change live: after log_level = debug a new
#      session is logged (a debug line), and the change is reported as applied.
# Clients run as another user through setpriv (the tests run as root), like test_kelpd_access.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/kelpd_test.sh
kelpd_require
command -v setpriv >/dev/null || { echo "skip: setpriv missing (util-linux)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "skip: needs root to run clients as other users"; exit 77; }

NOBODY=65534
OLD_GID=4242 # allowed from the start: holds the session
NEW_GID=4343 # allowed only after the reload
as_group() { # as_group GID CMD...: run CMD as uid/gid NOBODY with that supplementary group
	local g=$1
	shift
	setpriv --reuid=$NOBODY --regid=$NOBODY --groups="$g" "$@"
}

D=$(mktemp -d "${TMPDIR:-/tmp}/kelp-integ-sighup.XXXXXX")
chmod 755 "$D" # the other user must reach the socket
HOLD_PID=""
cleanup() {
	[ -z "$HOLD_PID" ] || kill -KILL "$HOLD_PID" 2>/dev/null || true
	kelpd_stop
	rm -rf "$D"
}
trap cleanup EXIT

mkdir -p "$D/vol"
"$BIN/kelp-vol" create "$D/vol" 3 --synthetic 5 --size 4K --seed 9 >"$D/fids"
chmod -R a+rX "$D/vol"
FID=$(sed -n 1p "$D/fids")

SOCK=$D/kelpd.sock
CONF=$D/kelp.conf
LOG=$D/kelpd.log
KELPD_CONF=$CONF # for kelpd_sessions (lib/kelpd_test.sh)
write_conf() { # write_conf ALLOW_GIDS QUEUE_DEPTH [LOG_LEVEL [HTTP_TIMEOUT_MS]]
	cat >"$CONF" <<CONF
[engine]
log_level = ${3:-info}
lcores = 1
control_cpu = -1
socket = $SOCK
allow_gids = $1
idle_park_us = 200
arena_mb = 32
queue_depth = $2
[export]
dirs = $D/vol
[seaweedfs]
http_timeout_ms = ${4:-5000}
[rdma]
device = off
CONF
}
write_conf $OLD_GID 64
# arena_mb = 16 from the command line: a reload must keep it (the file says 32)
"$BIN/kelpd" -c "$CONF" --set engine.arena_mb=16 >>"$LOG" 2>&1 &
KELPD_PID=$!
wait_until 60 _kelpd_listens_or_gone "$SOCK" && kelpd_alive || fail "kelpd did not start: $(cat "$LOG")"

# reloads N: bounded wait until the log holds N verdicts of a SIGHUP (applied or refused)
reloads() {
	local log
	log=$(<"$LOG")
	[ "$(grep -c -E 'SIGHUP: (configuration re-read|the configuration is invalid)' <<<"$log")" -ge "$1" ]
}

rc=0
out=$(as_group $NEW_GID "$CLIENT" "$SOCK" read "$FID" 2>&1) || rc=$?
[ "$rc" = 2 ] || fail "a client in no allowed group got a session (exit $rc): $out"
case $out in *"refuses this user"*) ;; *) fail "refusal: $out" ;; esac

# a session held open across the reloads, by a client of the group allowed from the start
rm -f "$D/hold_in" "$D/hold_out"
mkfifo "$D/hold_in" "$D/hold_out"
as_group $OLD_GID "$CLIENT" "$SOCK" hold <"$D/hold_in" >"$D/hold_out" &
HOLD_PID=$!
exec 7>"$D/hold_in" 8<"$D/hold_out"
read -r -t 60 line <&8 || fail "holding client did not start"
[ "$line" = ready ] || fail "holding client: $line"
held_read() { # a read through the held session
	echo "read $FID" >&7
	read -r -t 60 line <&8 || fail "the held session did not answer a read"
	set -- $line
	[ "$1" = "$FID" ] && [ "$2" = 4096 ] || fail "read through the held session: $line"
}
held_read

# ---- 1 and 2: add the group, change a restart-only key, SIGHUP -------------------------------
write_conf "$OLD_GID,$NEW_GID" 128
kill -HUP "$KELPD_PID"
wait_until 60 reloads 1 || fail "no SIGHUP verdict in the log: $(cat "$LOG")"
log=$(<"$LOG")
kelpd_alive || fail "kelpd died on SIGHUP: $log"
case $log in *"kelpd: SIGHUP: [engine] allow_gids = $OLD_GID,$NEW_GID (applied)"*) ;;
*) fail "allow_gids not reported as applied: $log" ;; esac
case $log in *"kelpd: SIGHUP: [engine] queue_depth changed: needs a restart"*) ;;
*) fail "the changed restart-only key was not reported: $log" ;; esac
case $log in *"arena_mb changed"*) fail "the --set override was lost on reload: $log" ;; esac
case $log in *"1 change(s) applied, 1 need a restart"*) ;; *) fail "reload summary: $log" ;; esac
# the log lines are timestamped (core/log.h)
[[ $log =~ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\ INFO\ kelpd:\ SIGHUP ]] ||
	fail "SIGHUP lines without timestamp and level: $log"
# at the default level (info) no session line: those are debug
case $log in *"session "*" opened"*) fail "a debug line at log_level = info: $log" ;; esac

out=$(as_group $NEW_GID "$CLIENT" "$SOCK" read "$FID" 2>&1) ||
	fail "a client of the group added by SIGHUP is still refused: $out"
set -- $out
[ "$1" = "$FID" ] && [ "$2" = 4096 ] || fail "read as the newly allowed group: $out"
held_read
[ "$(kelpd_sessions)" = 1 ] || fail "the held session is gone after SIGHUP"
echo "ok: SIGHUP applies allow_gids live (a refused group is accepted), keeps the held session and the --set overrides, reports a restart-only key"

# ---- 3: a broken file: FILE:LINE, the old policy stays ---------------------------------------
write_conf "$OLD_GID" 64
echo "bogus_key = 1" >>"$CONF" # the last line, in [rdma]
BOGUS_LINE=$(wc -l <"$CONF")
kill -HUP "$KELPD_PID"
wait_until 60 reloads 2 || fail "no verdict for the broken file: $(cat "$LOG")"
log=$(<"$LOG")
kelpd_alive || fail "kelpd died on a broken config: $log"
case $log in *"ERROR kelpd: SIGHUP: $CONF:$BOGUS_LINE:"*) ;; *) fail "no FILE:LINE for the broken file: $log" ;; esac
case $log in *"the configuration is invalid; keeping the running one"*) ;;
*) fail "no refusal verdict: $log" ;; esac
out=$(as_group $NEW_GID "$CLIENT" "$SOCK" read "$FID" 2>&1) ||
	fail "after a refused reload, the policy changed (group $NEW_GID refused): $out"
held_read
echo "ok: a broken file on SIGHUP is refused with FILE:LINE and the running policy stays"

# ---- 4: log_level and a timeout, live -------------------------------------------------------
write_conf "$OLD_GID,$NEW_GID" 64 debug 7000
kill -HUP "$KELPD_PID"
wait_until 60 reloads 3 || fail "no verdict for the log_level reload: $(cat "$LOG")"
log=$(<"$LOG")
case $log in *"kelpd: SIGHUP: [engine] log_level = debug (applied)"*) ;;
*) fail "log_level not applied live: $log" ;; esac
case $log in *"kelpd: SIGHUP: [seaweedfs] http_timeout_ms = 7000 (applied)"*) ;;
*) fail "http_timeout_ms not applied live: $log" ;; esac
case $log in *"2 change(s) applied, 0 need a restart"*) ;; *) fail "reload summary: $log" ;; esac
out=$(as_group $NEW_GID "$CLIENT" "$SOCK" read "$FID" 2>&1) || fail "read after the reload: $out"
session_logged() {
	local l
	l=$(<"$LOG")
	[[ $l =~ Z\ DEBUG\ kelpd:\ session\ [0-9]+\ opened:\ pid\ [0-9]+\ uid\ $NOBODY ]]
}
wait_until 30 session_logged || fail "no debug line for a session after log_level = debug: $(cat "$LOG")"
held_read
echo "ok: SIGHUP applies log_level (debug lines appear) and http_timeout_ms live"

exec 7>&-
wait "$HOLD_PID" || fail "holding client failed"
HOLD_PID=""
exec 8<&-
kelpd_stop_checked || fail "kelpd did not stop cleanly"
