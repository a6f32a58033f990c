#!/usr/bin/env bash
# make bench: time-to-queue of satmail beside Postfix's sendmail (postdrop),
# in the same run, as ../shared/bench/run-peers.sh measures the peers.
#   N sequential `sendmail -t` submissions of a 2 KB message, median and p90
#   wall time per call; `mailq` on an empty queue; results as ratios.
# Knobs: N (200), MAILQ_N (50).  Postfix is run only when its sendmail and
# postdrop exist and we are root (postdrop with a private config needs it).
set -u -o pipefail
export LC_ALL=C
N=${N:-200}
MAILQ_N=${MAILQ_N:-50}
HERE=$(cd "$(dirname "$0")" && pwd)
B=${SATMAIL_BIN:-$HERE/../build/bin}
T=$(mktemp -d "${TMPDIR:-/tmp}/satmail-bench.XXXXXX")
PFPID=""
trap 'rm -rf "$T"' EXIT

# The 2 KB message of the peer benchmark.
{
	printf 'From: bench@example.org\nTo: sink@example.net\nSubject: bench\n\n'
	for i in $(seq 1 30); do printf 'line %02d of the benchmark message body, padded to length....\n' "$i"; done
} | head -c 2048 > "$T/small.eml"

stats() {	# stats FILE -> "median p90 min" in ms
	sort -n "$1" | awk '{ a[NR] = $1 } END {
		med = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		i = int(0.9 * NR); if (i < 0.9 * NR) i++
		printf "%.2f %.2f %.2f\n", med / 1000, a[i] / 1000, a[1] / 1000 }'
}
loop() {	# loop OUT N CMD...: microseconds per call into OUT
	local out=$1 n=$2 i t0; shift 2
	: > "$out"
	for ((i = 0; i < n; i++)); do
		t0=${EPOCHREALTIME/./}
		"$@" < "$T/small.eml" > /dev/null 2>> "$T/err.log" || echo "call failed: $*" >> "$T/err.log"
		echo $((${EPOCHREALTIME/./} - t0)) >> "$out"
	done
}

# satmail
cat > "$T/main.cf" <<CF
queue_directory = $T/satmail-queue
myhostname = bench.example.org
delivery_mode = queue
maillog_file = $T/satmail.log
CF
export SATMAIL_CONFIG=$T/main.cf
loop "$T/true.us" "$N" /bin/true
loop "$T/sm.us" "$N" "$B/sendmail" -t
queued=$(ls "$T/satmail-queue/queue" | wc -l)
rm -rf "$T/satmail-queue"
loop "$T/smq.us" "$MAILQ_N" "$B/mailq"

# Postfix sendmail -> postdrop into a private maildrop (master stopped).
pf=""
if [ "$(id -u)" = 0 ] && command -v postfix >/dev/null; then
	PFC=$T/postfix/etc PFQ=$T/postfix/queue
	mkdir -p "$PFC" "$PFQ" "$T/postfix/data"
	chown postfix "$T/postfix/data"
	chmod 755 "$T"
	cat > "$PFC/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $PFQ
data_directory = $T/postfix/data
meta_directory = $(postconf -d -h meta_directory)
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.localdomain
mydestination =
alias_maps =
alias_database =
message_size_limit = 0
maillog_file = $T/postfix/maillog
maillog_file_prefixes = $T
CF
	printf 'pickup unix n - n 60 1 pickup\ncleanup unix n - n - 0 cleanup\nqmgr unix n - n 300 1 qmgr\npostlog unix-dgram n - n - 1 postlogd\n' > "$PFC/master.cf"
	postfix -c "$PFC" check > "$T/pf-setup.log" 2>&1
	if [ -d "$PFQ/maildrop" ]; then
		PFSM=$(postconf -d -h command_directory)/sendmail
		loop "$T/pf.us" "$N" "$PFSM" -C "$PFC" -t
		pf_queued=$(find "$PFQ/maildrop" -type f | wc -l)
		pf=1
	fi
fi

read -r tmed tp90 tmin < <(stats "$T/true.us")
read -r smed sp90 smin < <(stats "$T/sm.us")
read -r qmed qp90 qmin < <(stats "$T/smq.us")
echo "## satmail benchmark ($(date -u +%Y-%m-%dT%H:%MZ), $N submissions of 2 KB, delivery_mode = queue)"
echo
echo "| what | ms median | ms p90 | ms min | queued |"
echo "|---|---|---|---|---|"
echo "| /bin/true (fork+exec floor) | $tmed | $tp90 | $tmin | - |"
echo "| satmail sendmail -t | $smed | $sp90 | $smin | $queued/$N |"
if [ -n "$pf" ]; then
	read -r pmed pp90 pmin < <(stats "$T/pf.us")
	echo "| postfix sendmail -t (postdrop) | $pmed | $pp90 | $pmin | $pf_queued/$N |"
fi
echo "| satmail mailq (empty queue) | $qmed | $qp90 | $qmin | - |"
echo
if [ -n "$pf" ]; then
	awk -v s="$smed" -v p="$pmed" 'BEGIN { printf "satmail time-to-queue is %.1fx faster than Postfix (median %.2f ms vs %.2f ms; target: >= 3x, < 10 ms)\n", p / s, s, p }'
fi
awk -v q="$qmed" 'BEGIN { printf "satmail mailq on an empty queue: %.2f ms median (target < 8 ms; Postfix 22 ms in ../shared/bench/RESULTS-peers.md)\n", q }'
grep -v "unable to look up public/pickup" "$T/err.log" > "$T/err2.log"
[ -s "$T/err2.log" ] && { echo "errors:"; head -5 "$T/err2.log"; }
exit 0
