#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Who may do what with kelpd (issue 8, items 3, 5 and 9's policy message), with clients run as
# other users and groups through setpriv (the tests run as root):
#   1. [engine] allow_gids admits a client through a supplementary group, not only its primary
#      gid; a client in no allowed group is refused, and kelpctl / libkelp say it is the policy;
#   2. `kelpctl sessions` (every client's pid and uid) only for root, kelpd's own user and
#      [engine] admin_gids; other allowed users still get status;
#   3. kelpd running as an unprivileged user is not dumpable: another process of that same user
#      cannot open a session's memfd through /proc/<kelpd>/fd/N (root can); with
#      [engine] dumpable = true it can again (the documented opt-out).
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/integ/lib/kelpd_test.sh
kelpd_require
command -v setpriv >/dev/null || { echo "skip: setpriv missing (util-linux)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "skip: needs root to run clients as other users"; exit 77; }

NOBODY=65534 # any uid without privileges works; nothing here needs a passwd entry
ALLOWED_GID=4242
ADMIN_GID=4343
as_user() { # as_user "GROUPS|-" CMD...: run CMD as uid/gid NOBODY with those supplementary groups
	local groups=$1
	shift
	if [ "$groups" = - ]; then
		setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"
	else
		setpriv --reuid=$NOBODY --regid=$NOBODY --groups="$groups" "$@"
	fi
}

D=$(mktemp -d "${TMPDIR:-/tmp}/kelp-integ-access.XXXXXX")
chmod 755 "$D" # mktemp makes it 0700: the other users must reach the socket and the config
HOLD_PID=""
cleanup() {
	[ -z "$HOLD_PID" ] || kill -KILL "$HOLD_PID" 2>/dev/null || true
	kelpd_stop
	rm -rf "$D"
}
trap cleanup EXIT
# hold_start GROUPS SOCK: a client (as NOBODY, in GROUPS or - for none) holds a session open until
# hold_end. Fifos, not coproc: bash unsets a coproc's NAME_PID and closes its fds as soon as it
# exits, which made `wait` fail at random.
hold_start() {
	rm -f "$D/hold_in" "$D/hold_out"
	mkfifo "$D/hold_in" "$D/hold_out"
	as_user "$1" "$CLIENT" "$2" hold <"$D/hold_in" >"$D/hold_out" &
	HOLD_PID=$!
	exec 7>"$D/hold_in" 8<"$D/hold_out"
	local line
	read -r -t 60 line <&8 || fail "holding client did not start"
	[ "$line" = ready ] || fail "holding client: $line"
}
hold_end() {
	exec 7>&- # the holding client ends its session
	wait "$HOLD_PID" || fail "holding client failed"
	HOLD_PID=""
	exec 8<&-
}
mkdir -p "$D/vol"
"$BIN/kelp-vol" create "$D/vol" 3 --synthetic 5 --size 4K --seed 8 >"$D/fids"
chmod -R a+rX "$D/vol"
FID=$(sed -n 1p "$D/fids")

# ---- 1 and 2: kelpd as root with allow_gids and admin_gids ------------------------------------
SOCK=$D/kelpd.sock
CONF=$D/kelp.conf
cat >"$CONF" <<CONF
[engine]
lcores = 1
control_cpu = -1
socket = $SOCK
allow_gids = $ALLOWED_GID
admin_gids = $ADMIN_GID
idle_park_us = 200
arena_mb = 16
queue_depth = 64
[export]
dirs = $D/vol
[rdma]
device = off
CONF
chmod 644 "$CONF"
KELPD_CONF=$CONF # for kelpctl / kelpd_wait_sessions (lib/kelpd_test.sh)
kelpd_start "$CONF" "$D/kelpd.log" || fail "kelpd did not start"

out=$(as_user "$ALLOWED_GID" "$CLIENT" "$SOCK" read "$FID" 2>&1) ||
	fail "a client whose supplementary group is in allow_gids was refused: $out"
set -- $out
[ "$1" = "$FID" ] && [ "$2" = 4096 ] || fail "read as a member of allow_gids: $out"
many=$(seq -s, 5000 5099),$ALLOWED_GID # more groups than kelpd's first SO_PEERGROUPS buffer holds
out=$(as_user "$many" "$CLIENT" "$SOCK" read "$FID" 2>&1) ||
	fail "a client in 101 groups, the allowed one last, was refused: $out"
echo "ok: allow_gids admits a client through a supplementary group (primary gid $NOBODY; also as the 101st group)"

rc=0
out=$(as_user - "$CLIENT" "$SOCK" read "$FID" 2>&1) || rc=$?
[ "$rc" = 2 ] || fail "a client in no allowed group got a session (exit $rc): $out"
want="kelp_client: connect $SOCK: kelpd at $SOCK refuses this user (uid $NOBODY, gid $NOBODY): not root, not kelpd's user, not in [engine] allow_uids / allow_gids"
[ "$out" = "$want" ] || fail "refusal message: got '$out', want '$want'"
rc=0
out=$(as_user - "$BIN/kelpctl" -c "$CONF" get "$FID" 2>&1 >/dev/null) || rc=$?
want="kelpctl: cannot open a session: kelpd at $SOCK refuses this user (uid $NOBODY, gid $NOBODY): not root, not kelpd's user, not in [engine] allow_uids / allow_gids"
[ "$rc" = 1 ] && [ "$out" = "$want" ] || fail "kelpctl get refused: exit $rc, '$out', want '$want'"
echo "ok: a client in no allowed group is refused, and told it is kelpd's policy"

# sessions: one held open by an allowed client, listed for root and admin_gids only
hold_start "$ALLOWED_GID" "$SOCK"
kelpd_wait_sessions 1 || fail "root does not see the held session: $(kelpctl sessions 2>&1)"
out=$(as_user "$ADMIN_GID" "$BIN/kelpctl" -c "$CONF" --json sessions) ||
	fail "a member of admin_gids cannot list sessions"
[ "$(jq '.sessions[0].uid' <<<"$out")" = "$NOBODY" ] || fail "admin sessions: $out"
rc=0
out=$(as_user "$ALLOWED_GID" "$BIN/kelpctl" -c "$CONF" sessions 2>&1) || rc=$?
want="kelpctl: kelpd: sessions: only root, kelpd's own user or a member of [engine] admin_gids may list the sessions of every client"
[ "$rc" = 1 ] && [ "$out" = "$want" ] || fail "sessions for a plain allowed user: exit $rc, '$out'"
out=$(as_user "$ALLOWED_GID" "$BIN/kelpctl" -c "$CONF" --json status) ||
	fail "an allowed user cannot get status"
[ "$(jq .sessions <<<"$out")" = 1 ] || fail "status: $out"
hold_end
kelpd_wait_sessions 0 || fail "held session not freed"
echo "ok: kelpctl sessions for root and admin_gids only; status for every allowed user"
kelpd_stop_checked || fail "kelpd did not stop cleanly"

# ---- 3: kelpd as an unprivileged user: its memfds stay its own --------------------------------
U=$D/user
mkdir "$U"
chown $NOBODY:$NOBODY "$U" # the socket directory must be writable by kelpd's user
UCONF=$U/kelp.conf
sed "s|^socket = .*|socket = $U/kelpd.sock|; /_gids/d" "$CONF" >"$UCONF"
chmod 644 "$UCONF"
# start_as_nobody [--set ...]: kelpd as NOBODY in the background, bounded wait for its socket
start_as_nobody() {
	rm -f "$U/kelpd.sock"
	# setpriv execs kelpd: $! is kelpd's pid (a shell function here would add a subshell)
	setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$BIN/kelpd" -c "$UCONF" "$@" \
		>>"$U/kelpd.log" 2>&1 &
	KELPD_PID=$!
	wait_until 60 _kelpd_listens_or_gone "$U/kelpd.sock" && kelpd_alive ||
		fail "kelpd as uid $NOBODY did not start: $(cat "$U/kelpd.log")"
}
# memfd_of_session: the fd number of the held session's memfd in kelpd (read as root)
memfd_of_session() {
	local f
	for f in /proc/"$KELPD_PID"/fd/*; do
		case $(readlink "$f") in "/memfd:kelp-session"*) echo "${f##*/}"; return 0 ;; esac
	done
	return 1
}
# check_memfd_access WANT: hold a session as NOBODY, then open kelpd's fd of its memfd as
# another process of NOBODY; WANT = denied or open
check_memfd_access() {
	hold_start - "$U/kelpd.sock"
	local fd got rc=0
	fd=$(memfd_of_session) || fail "kelpd holds no kelp-session memfd: $(ls -l /proc/"$KELPD_PID"/fd)"
	head -c 64 "/proc/$KELPD_PID/fd/$fd" >/dev/null || fail "root cannot open the memfd (wrong fd?)"
	got=$(as_user - head -c 64 "/proc/$KELPD_PID/fd/$fd" 2>&1 >/dev/null) || rc=$?
	hold_end
	if [ "$1" = denied ]; then
		[ "$rc" != 0 ] || fail "another process of kelpd's uid opened /proc/$KELPD_PID/fd/$fd (a session's memory)"
		case $got in *"Permission denied"*) ;; *) fail "opening the memfd: want Permission denied, got: $got" ;; esac
	else
		[ "$rc" = 0 ] || fail "with dumpable = true the same uid should open the memfd: $got"
	fi
}
start_as_nobody
check_memfd_access denied
kelpd_stop_checked || fail "kelpd (uid $NOBODY) did not stop cleanly"
echo "ok: kelpd is not dumpable: a process of kelpd's own uid cannot open a session's memfd via /proc"
start_as_nobody --set engine.dumpable=true
check_memfd_access open
kelpd_stop_checked || fail "kelpd (uid $NOBODY, dumpable) did not stop cleanly"
echo "ok: [engine] dumpable = true gives /proc access back to kelpd's uid (the documented opt-out)"
