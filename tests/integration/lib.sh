# Shared helpers for integration tests; source it.  Each test gets a fresh
# directory $T with a private queue and main.cf ($T/main.cf, exported as
# SATMAIL_CONFIG), so tests never touch the system's queue or config.
set -u
: "${SATMAIL_BIN:?run through tests/integration/run.sh or set SATMAIL_BIN}"
T=$(mktemp -d "${TMPDIR:-/tmp}/satmail-test.XXXXXX")
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
