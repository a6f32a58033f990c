# Shared helpers for integration tests; source it.  Each test gets a fresh
# directory $T with a private queue and main.cf ($T/main.cf, exported as
# SATMAIL_CONFIG), so tests never touch the system's queue or config.
set -u
: "${SATMAIL_BIN:?run through tests/integration/run.sh or set SATMAIL_BIN}"
T=$(mktemp -d "${TMPDIR:-/tmp}/satmail-test.XXXXXX")
# Run as root, the SMTP worker becomes mail_owner: it must be able to
# reach files a test puts here (password commands, CA files).
chmod 711 "$T"
trap 'rm -rf "$T"' EXIT
SM=$SATMAIL_BIN/sendmail
MAILQ=$SATMAIL_BIN/mailq
# Debian's python3 has aiosmtpd; a python3 earlier on PATH may not.
PY=/usr/bin/python3
failures=0

write_conf() {	# write_conf [extra main.cf lines...]
	{
		echo "queue_directory = $T/queue"
		echo "myhostname = host.example.org"
		echo "myorigin = example.org"
		echo "delivery_mode = queue"
		echo "maillog_file = $T/maillog"
		# No alias tables unless a test writes its own (the system's
		# /etc/aliases may exist without a built table).
		echo "alias_maps ="
		echo "alias_database ="
		for l in "$@"; do echo "$l"; done
	} > "$T/main.cf"
	export SATMAIL_CONFIG=$T/main.cf
}
write_conf

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
check() {	# check NAME COMMAND...: passes when COMMAND succeeds
	local name=$1; shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}
# Number of committed queue entries.
queue_count() { find "$T/queue/queue" -type f 2>/dev/null | wc -l; }
# The only queue entry's path (fails when there is not exactly one).
queue_entry() {
	local n; n=$(queue_count)
	[ "$n" -eq 1 ] || { echo "expected 1 entry, found $n" >&2; return 1; }
	find "$T/queue/queue" -type f
}
# The message part of a queue entry (after the envelope's empty line).
entry_message() { awk 'body { print; next } /^$/ { body = 1 }' "$1"; }
finish() { [ "$failures" -eq 0 ]; exit $?; }

# ---- more helpers (tests/integration/test_*.sh) ----
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
QE() { "$PY" "$HERE/qentry.py" "$@"; }	# independent queue-entry reader
RC=0
# note TEXT...: diagnostics (not counted by run.sh)
note() { printf '  # %s\n' "$@"; }
# sm ARGS... < input: runs sendmail; RC, $T/out, $T/err
sm() { "$SM" "$@" > "$T/out" 2> "$T/err"; RC=$?; }
# smi INPUT ARGS...: sm with INPUT (a string, printed as is) on stdin
smi() { local input=$1; shift; printf '%s' "$input" > "$T/in"; sm "$@" < "$T/in"; }
# eq NAME GOT WANT: passes when the strings are equal; shows both otherwise
eq() {
	if [ "$2" == "$3" ]; then pass "$1"; else
		fail "$1"
		note "want: $(printf '%q' "$3")" " got: $(printf '%q' "$2")"
	fi
}
# expect_rc NAME WANT: the last sm/smi exit status
expect_rc() {
	if [ "$RC" -eq "$2" ]; then pass "$1"; else
		fail "$1"; note "exit $RC, want $2; stderr: $(head -c 600 "$T/err" 2>/dev/null)"
	fi
}
# err_lines: number of lines the last sm/smi wrote on stderr
err_lines() { wc -l < "$T/err"; }
# one_err_line NAME [REGEX]: exactly one stderr line (matching REGEX)
one_err_line() {
	local n; n=$(err_lines)
	if [ "$n" -eq 1 ] && { [ $# -lt 2 ] || grep -Eq -- "$2" "$T/err"; }; then pass "$1"; else
		fail "$1"; note "stderr ($n lines): $(head -c 600 "$T/err")"
	fi
}
tmp_count() { find "$T/queue/tmp" -type f 2>/dev/null | wc -l; }
reset_queue() { rm -rf "$T/queue"; }
# entry: the only committed entry's path (empty when not exactly one)
entry() { queue_entry 2>/dev/null || true; }
# contains NAME FILE FIXED-LINE: FILE has a line equal to FIXED-LINE
has_line() {
	if grep -qxF -- "$3" "$2" 2>/dev/null; then pass "$1"; else
		fail "$1"; note "no line $(printf '%q' "$3") in $2:"; sed 's/^/  #   /' "$2" 2>/dev/null | head -30
	fi
}
lacks_line_re() {	# lacks_line_re NAME FILE REGEX
	if grep -Eq -- "$3" "$2" 2>/dev/null; then
		fail "$1"; note "unexpected line matching $3 in $2:"; grep -E -- "$3" "$2" | sed 's/^/  #   /' | head
	else pass "$1"; fi
}
# wait_for SECONDS COMMAND...: polls COMMAND every 0.05 s until it succeeds
wait_for() {
	local limit=$1 i=0; shift
	while [ $i -lt $((limit * 20)) ]; do
		"$@" && return 0
		sleep 0.05; i=$((i + 1))
	done
	return 1
}

# ---- background servers (test_smtp.sh, test_mx.sh): append-only block ----
# bg_start NAME COMMAND...: runs COMMAND in the background (stdout and stderr in
# $T/NAME.out, $T/NAME.err) under a 300 s timeout as a last resort; its
# pid is in $BG_PID.  Call bg_stop_all from the EXIT trap.
BG_PIDS=()
BG_PID=
bg_start() {
	local name=$1; shift
	timeout -s TERM 300 "$@" > "$T/$name.out" 2> "$T/$name.err" &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
}
# bg_stop PID...: ends background processes started by bg_start, reaps them
bg_stop() {
	local p
	for p in "$@"; do kill "$p" 2> /dev/null; done
	for p in "$@"; do wait "$p" 2> /dev/null; done
	return 0
}
bg_stop_all() { [ ${#BG_PIDS[@]} -eq 0 ] || bg_stop "${BG_PIDS[@]}"; }
# free_port [ADDR...]: a port free for TCP and UDP at every ADDR (127.0.0.1)
free_port() {
	"$PY" - "$@" <<'PYEOF'
import socket, sys
addrs = sys.argv[1:] or ["127.0.0.1"]
for _ in range(200):
    socks = [socket.socket()]
    socks[0].bind((addrs[0], 0))
    port, ok = socks[0].getsockname()[1], True
    for a in addrs:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            if a == addrs[0] and kind == socket.SOCK_STREAM:
                continue
            s = socket.socket(socket.AF_INET, kind); socks.append(s)
            try:
                s.bind((a, port))
            except OSError:
                ok = False
    for s in socks:
        s.close()
    if ok:
        print(port); break
PYEOF
}
# wait_port ADDR PORT [SECONDS]: true once ADDR:PORT accepts TCP connections
wait_port() {
	local addr=$1 port=$2 limit=${3:-5} i=0
	while [ $i -lt $((limit * 20)) ]; do
		(exec 3<> "/dev/tcp/$addr/$port") 2> /dev/null && return 0
		sleep 0.05; i=$((i + 1))
	done
	return 1
}
# wait_file FILE [SECONDS]: true once FILE exists and is not empty
wait_file() { wait_for "${2:-5}" test -s "$1"; }
# ---- end of background servers block ----
