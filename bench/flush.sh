#!/usr/bin/env bash
# make bench, third part: flushing a full queue to one smarthost, satmail
# beside dma, in the same run, against a Postfix smtp-sink on 127.0.0.1
# (the smarthost of ../shared/bench/run-peers.sh, which discards mail).
#   Each round queues N messages of MSG_BYTES bytes with `sendmail -t`
#   (delivery deferred; the queueing is timed and reported on its own), then
#   times the flush of all of them, in three ways:
#   (a) satmail `sendmail -q`, connection reuse on (the default: one SMTP
#       worker keeps the connection open, RSET between messages);
#   (b) satmail `sendmail -q` with smtp_connection_cache_on_demand = no
#       (one connection per message);
#   (c) dma 0.13 (Debian package, fetched with `apt-get download` and
#       unpacked into the temp dir, as run-peers.sh does): queued by its
#       sendmail with DEFER set, flushed by `dma -q`.  dma -q forks one
#       delivery process per queued message, all at once, each with its own
#       connection; it returns at once, so its flush ends when the sink has
#       counted every message and the spool holds no message.
#   The flush time runs from the start of `-q` until the sink has counted
#   all N messages (smtp-sink -c) and the queue is empty; both are checked,
#   and satmail's log must show N status=sent lines.  Rounds interleave the
#   three, so load from other work on the machine hits all of them alike.
# dma reads the compiled-in /etc/dma/dma.conf, so each dma round runs in a
# private mount namespace with an overlay on /etc that adds our dma.conf
# (nothing on the host changes), and in a private PID namespace so that
# every dma process is gone when the round ends.  That needs root; without
# root, or when dma cannot be fetched, dma is skipped with a note.
# Knobs: N (2000), ROUNDS (3), MSG_BYTES (4096), FLUSH_TIMEOUT (300 s per
# flush), SATMAIL_BIN (../build/bin), DMA_ROOT (an unpacked dma package root
# instead of apt-get download), DMA_ANCHOR (63: dma's msg/s in
# ../shared/bench/RESULTS-peers.md), KEEP (0; 1 keeps the temp dir).
# Needs: Postfix's smtp-sink, ss, awk, timeout; for dma: root, apt-get,
# dpkg, unshare, overlayfs, a user and group "mail".
set -u -o pipefail
export LC_ALL=C
N=${N:-2000}
ROUNDS=${ROUNDS:-3}
MSG_BYTES=${MSG_BYTES:-4096}
FLUSH_TIMEOUT=${FLUSH_TIMEOUT:-300}
DMA_ANCHOR=${DMA_ANCHOR:-63}
KEEP=${KEEP:-0}
SELF=$(readlink -f "$0")
HERE=$(dirname "$SELF")
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

now() { NOW=${EPOCHREALTIME/./}; }	# microseconds, no fork
nap() { read -r -t 0.02 -u "$NAPFD" _; }	# 20 ms without a fork

# smtp-sink -c keeps rewriting one "sess=S quit=Q mesg=M\r" counter line;
# the last one holds the totals.  Sets SESS (sessions) and MESG (messages).
sink_read() {
	read -r SESS _ MESG < <(tail -c 300 "$T/sink.out" | awk 'BEGIN { RS = "\r" }
		/mesg=/ { l = $0 } END { n = split(l, f, /[= ]/)
			if (n < 6) print "0 0 0"; else print f[2] + 0, f[4] + 0, f[6] + 0 }')
}

# wait_flush TARGET EMPTYFN TIMEOUT_S: poll until the sink has counted TARGET
# messages and EMPTYFN says the queue is empty.  Sets DONE_AT (microseconds,
# the start of the poll that saw both) and OK (1 or 0).
wait_flush() {
	local target=$1 emptyfn=$2 lim=$(($3 * 1000000)) t0
	now; t0=$NOW
	OK=0
	while :; do
		now; DONE_AT=$NOW
		sink_read
		if ((MESG >= target)) && "$emptyfn"; then OK=1; return 0; fi
		((DONE_AT - t0 > lim)) && return 1
		nap
	done
}


# ---- dma round, in its own mount and PID namespaces (see the header):
# queue N, flush, wait; one result line into $T/dma-R.res:
# "queued fails flush_us ok sessions left at_sink"
# dma's spool holds a Q file per recipient and an M file per message
dma_spool_count() {
	local q=("$T"/dma/spool/Q*) m=("$T"/dma/spool/M*)
	DMA_LEFT=${#q[@]} DMA_MFILES=${#m[@]}
}
dma_spool_empty() { dma_spool_count; ((DMA_LEFT == 0 && DMA_MFILES == 0)); }
dma_round() {
	local r=$1 queued fails t0 s0
	mount -t overlay overlay -o "lowerdir=/etc,upperdir=$T/dma/etc-upper,workdir=$T/dma/etc-work" /etc || exit 97
	shopt -s nullglob
	exec {NAPFD}<> "$T/nap.fifo"
	timed_calls "$T/dma-$r.us" "$N" "$T/msg.eml" "$DMA_SENDMAIL" -t
	fails=$FAILS
	dma_spool_count; queued=$DMA_LEFT
	sink_read; s0=$SESS
	local before=$MESG
	now; t0=$NOW
	"$DMA" -q 2>> "$T/err.log"
	wait_flush $((before + N)) dma_spool_empty "$FLUSH_TIMEOUT"
	dma_spool_count
	sink_read
	echo "$queued $fails $((DONE_AT - t0)) $OK $((SESS - s0)) $DMA_LEFT $((MESG - before))" > "$T/dma-$r.res"
}
if [ "${1:-}" = --dma-round ]; then
	# child of run_dma: T PORT N DMA DMA_SENDMAIL FLUSH_TIMEOUT come in the
	# environment; leaving kills what dma left behind (PID 1 of the namespace)
	dma_round "$2"
	exit 0
fi

# ---------------------------------------------------------------- setup
B=${SATMAIL_BIN:-$HERE/../build/bin}
T=$(mktemp -d "${TMPDIR:-/tmp}/satmail-flush.XXXXXX") || exit 1
chmod 755 "$T"		# dma runs as user mail and must reach its spool
SINK_PID="" JOB_PID=""

cleanup() {
	# the running flush or dma round: timeout(1) leads its own process
	# group, so this reaches satmail-queue and its worker too; unshare
	# --kill-child takes the dma namespace down with it
	[ -n "$JOB_PID" ] && kill -TERM -- "-$JOB_PID" 2>/dev/null
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null
	wait 2>/dev/null
	[ "$KEEP" = 1 ] && echo "temp dir kept: $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
: > "$T/notes.md"
: > "$T/err.log"
mkfifo "$T/nap.fifo"
exec {NAPFD}<> "$T/nap.fifo"

for c in smtp-sink ss awk timeout; do
	have "$c" || { echo "flush.sh: missing $c (apt-get install postfix iproute2 coreutils)" >&2; exit 1; }
done
[ -x "$B/sendmail" ] || { echo "flush.sh: no $B/sendmail (make first)" >&2; exit 1; }

# the message: MSG_BYTES bytes of 64-byte text lines under three headers
{
	printf 'From: bench@example.org\nTo: sink@example.net\nSubject: flush bench\n\n'
	awk 'BEGIN { for (i = 1; i <= 4096; i++)
		printf "line %05d of the flush benchmark message, padded to 64 b\n", i }'
} | head -c $((MSG_BYTES - 1)) > "$T/msg.eml"
echo >> "$T/msg.eml"

# ---- the smarthost
start_sink || { echo "flush.sh: could not start smtp-sink" >&2; exit 1; }
log "smtp-sink pid $SINK_PID on 127.0.0.1:$PORT, temp dir $T"

# ---- satmail: one config per mode, a fresh queue for every flush
SQ=$T/queue
for mode in reuse noreuse; do
	cat > "$T/$mode.cf" <<CF
queue_directory = $SQ
myhostname = host.example.org
myorigin = example.org
maillog_file = $T/maillog
alias_maps =
alias_database =
relayhost = [127.0.0.1]:$PORT
smtp_tls_security_level = none
delivery_mode = queue
CF
done
echo "smtp_connection_cache_on_demand = no" >> "$T/noreuse.cf"
sat_count() { SAT_LEFT=$(find "$SQ" -type f 2>/dev/null | wc -l); }
sat_empty() { sat_count; ((SAT_LEFT == 0)); }
sent_lines() { local n; n=$(grep -c 'status=sent' "$T/maillog" 2>/dev/null); echo "${n:-0}"; }

# sat_round MODE R: queue N, flush; result line into $T/MODE-R.res (as dma's)
sat_round() {
	local mode=$1 r=$2 queued fails t0 s0 before sent0 rc
	export SATMAIL_CONFIG=$T/$mode.cf
	rm -rf "$SQ"
	timed_calls "$T/$mode-$r.us" "$N" "$T/msg.eml" "$B/sendmail" -t
	fails=$FAILS
	queued=$(find "$SQ/queue" -type f 2>/dev/null | wc -l)
	sink_read; s0=$SESS before=$MESG
	sent0=$(sent_lines)
	now; t0=$NOW
	timeout -k 5 "$FLUSH_TIMEOUT" "$B/sendmail" -q 2>> "$T/err.log" &
	JOB_PID=$!
	wait "$JOB_PID"; rc=$?
	JOB_PID=""
	((rc != 0)) && note "satmail $mode round $r: sendmail -q exited $rc"
	wait_flush $((before + N)) sat_empty 30
	sat_count
	sink_read
	echo "$queued $fails $((DONE_AT - t0)) $OK $((SESS - s0)) $SAT_LEFT $((MESG - before))" > "$T/$mode-$r.res"
	echo $(($(sent_lines) - sent0)) > "$T/$mode-$r.sent"
}

# ---- dma
fetch_dma() {
	local deb
	if [ -n "${DMA_ROOT:-}" ]; then
		DMA_PKG=$DMA_ROOT DMA_VER="(DMA_ROOT)"
	else
		have apt-get && have dpkg || { DMA_WHY="apt-get or dpkg missing"; return 1; }
		mkdir -p "$T/pkgs/dl"; chmod 777 "$T/pkgs/dl"	# apt's _apt user writes there
		(cd "$T/pkgs/dl" && apt-get download dma) >> "$T/setup.log" 2>&1 ||
			{ DMA_WHY="apt-get download dma failed (see apt's output: no network or no such package)"; return 1; }
		deb=$(ls "$T"/pkgs/dl/dma_*.deb 2>/dev/null | head -n 1)
		[ -n "$deb" ] || { DMA_WHY="apt-get download dma left no .deb"; return 1; }
		dpkg -x "$deb" "$T/pkgs/dma" || { DMA_WHY="dpkg -x failed"; return 1; }
		DMA_PKG=$T/pkgs/dma DMA_VER=$(dpkg-deb -f "$deb" Version)
	fi
	DMA=$DMA_PKG/usr/sbin/dma
	DMA_SENDMAIL=$DMA_PKG/usr/sbin/sendmail
	[ -x "$DMA_SENDMAIL" ] || DMA_SENDMAIL=$DMA
	[ -x "$DMA" ] || { DMA_WHY="no usr/sbin/dma in the package"; return 1; }
}
setup_dma() {
	[ "$(id -u)" = 0 ] || { DMA_WHY="not root (dma needs a private mount namespace)"; return 1; }
	for c in unshare mount; do have "$c" || { DMA_WHY="$c missing"; return 1; }; done
	getent group mail > /dev/null || { DMA_WHY="no group mail"; return 1; }
	fetch_dma || return 1
	mkdir -p "$T/dma/etc-upper/dma" "$T/dma/etc-work" "$T/dma/spool"
	chgrp mail "$T/dma/spool"; chmod 2775 "$T/dma/spool"
	: > "$T/dma/aliases"
	# DEFER: sendmail only queues; `dma -q` delivers
	cat > "$T/dma/etc-upper/dma/dma.conf" <<EOF
SMARTHOST 127.0.0.1
PORT $PORT
SPOOLDIR $T/dma/spool
ALIASES $T/dma/aliases
MAILNAME host.example.org
DEFER
EOF
	unshare -m -p -f --kill-child -- sh -c "mount -t overlay overlay -o lowerdir=/etc,upperdir=$T/dma/etc-upper,workdir=$T/dma/etc-work /etc && test -r /etc/dma/dma.conf" >> "$T/setup.log" 2>&1 ||
		{ DMA_WHY="cannot overlay /etc/dma/dma.conf in private mount and PID namespaces (unshare -m -p, overlayfs)"; return 1; }
}
run_dma() {	# run_dma R
	rm -f "$T"/dma/spool/[QM]*
	T=$T PORT=$PORT N=$N DMA=$DMA DMA_SENDMAIL=$DMA_SENDMAIL FLUSH_TIMEOUT=$FLUSH_TIMEOUT \
		timeout -k 5 $((FLUSH_TIMEOUT + 2 * N + 30)) \
		unshare -m -p -f --kill-child -- bash "$SELF" --dma-round "$1" &
	JOB_PID=$!
	wait "$JOB_PID" || note "dma round $1: exit $?"
	JOB_PID=""
	[ -s "$T/dma-$1.res" ] || echo "0 0 0 0 0 0 0" > "$T/dma-$1.res"
}
USE_DMA=0
DMA_VER=""
if setup_dma; then
	USE_DMA=1
	note "dma -q forks one delivery process per queued message and does not wait for them (go_background() in dma.c 0.13), so its flush runs its $N SMTP sessions concurrently. The $DMA_ANCHOR msg/s of RESULTS-peers.md is dma submitting and delivering one message at a time."
else
	note "dma skipped: $DMA_WHY"
	echo "flush.sh: NOTE: dma skipped: $DMA_WHY; satmail is measured alone" >&2
fi

# ---------------------------------------------------------------- rounds
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u +%Y-%m-%dT%H:%MZ)
MODES="reuse noreuse"
((USE_DMA)) && MODES="$MODES dma"
for ((r = 1; r <= ROUNDS; r++)); do
	for mode in $MODES; do
		log "round $r/$ROUNDS: $mode: queueing $N, then flushing"
		case $mode in
			dma) run_dma "$r" ;;
			*) sat_round "$mode" "$r" ;;
		esac
		read -r q _ us ok _ left got < "$T/$mode-$r.res"
		log "  queued $q, flush $(awk -v u="$us" 'BEGIN { printf "%.3f", u / 1e6 }') s, at the sink $got/$N, left $left"
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
rate() { awk -v n="$1" -v u="$2" 'BEGIN { if (u <= 0) print "n/a"; else printf "%.0f", n * 1e6 / u }'; }
bestmed() {	# bestmed WORDS -> "best median" (largest, median) of numbers
	printf '%s\n' $1 | grep -v '^n/a$' | sort -g | awk '{ a[NR] = $1 } END {
		if (NR == 0) { print "n/a n/a"; exit }
		printf "%s %s\n", a[NR], (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
callstats() {	# callstats FILES... -> "median p90" ms per call
	cat "$@" | sort -n | awk '{ a[NR] = $1 } END {
		if (NR == 0) { print "n/a n/a"; exit }
		i = int(0.9 * NR); if (i < 0.9 * NR) i++
		printf "%.2f %.2f\n", ((NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) / 1000, a[i] / 1000 }'
}
# summary MODE LABEL: one table row; sets BEST_<MODE> MED_<MODE>
summary() {
	local mode=$1 label=$2 r q f us ok s left got rates="" qrates="" secs="" sess="" okn=0 gotn=0 qn=0 fails=0 leftn=0
	local sent="" fb fm qb qm cm cp smin smed
	for ((r = 1; r <= ROUNDS; r++)); do
		read -r q f us ok s left got < "$T/$mode-$r.res"
		rates+=" $(rate "$N" "$us")"
		secs+=" $(awk -v u="$us" 'BEGIN { printf "%.3f", u / 1e6 }')"
		qrates+=" $(rate "$N" "$(awk '{ s += $1 } END { print s + 0 }' "$T/$mode-$r.us")")"
		sess+=" $s"
		okn=$((okn + ok)); gotn=$((gotn + got)); qn=$((qn + q)); fails=$((fails + f)); leftn=$((leftn + left))
		[ -f "$T/$mode-$r.sent" ] && sent+=" $(cat "$T/$mode-$r.sent")"
	done
	read -r fb fm < <(bestmed "$rates")
	read -r qb qm < <(bestmed "$qrates")
	read -r cm cp < <(callstats "$T/$mode"-*.us)
	smin=$(printf '%s\n' $secs | sort -g | head -n 1)
	smed=$(bestmed "$secs" | cut -d' ' -f2)
	printf '| %s | **%s** / %s | %s / %s | %s | %s/%s | %s | %s / %s | %s / %s |\n' "$label" "$fb" "$fm" "$smin" "$smed" \
		"$(printf '%s\n' $sess | sort -un | tr '\n' ' ' | sed 's/ $//')" \
		"$gotn" $((N * ROUNDS)) "$leftn" "$qb" "$qm" "$cm" "$cp" >> "$T/table.md"
	((qn != N * ROUNDS)) && note "$label: $qn of $((N * ROUNDS)) messages were in the queue before the flush"
	((fails > 0)) && note "$label: $fails queueing calls exited non-zero"
	((okn != ROUNDS)) && note "$label: $((ROUNDS - okn)) of $ROUNDS flushes did not finish (all at the sink and an empty queue) in time"
	note "$label: flush s per round:$secs"
	[ -n "$sent" ] && note "$label: satmail log status=sent lines per flush:$sent (expected $N each)"
	printf -v "BEST_$mode" '%s' "$fb"
	printf -v "MED_$mode" '%s' "$fm"
}
: > "$T/table.md"
summary reuse "satmail sendmail -q, connection reuse (default)"
summary noreuse "satmail sendmail -q, smtp_connection_cache_on_demand = no"
((USE_DMA)) && summary dma "dma -q (DEFER queue; one process and connection per message, all at once)"

echo "## satmail queue flush benchmark ($START, $N messages of $MSG_BYTES bytes per flush, $ROUNDS rounds, relayhost = smtp-sink on 127.0.0.1)"
echo
echo "satmail ($B)${DMA_VER:+, dma $DMA_VER}, Postfix smtp-sink $(postconf -d -h mail_version 2>/dev/null). $(nproc) CPUs, load $LOAD0 at the start and $LOAD1 at the end; other work on the machine makes the figures noisy."
echo "Flush = start of \`-q\` until the sink has counted all $N messages and the queue holds none. Queueing = $N sequential \`sendmail -t\` calls before it, timed on their own."
echo
echo "| what | flush msgs/s: best / median | flush s: min / median | SMTP sessions per flush | at the sink | left in queue | queueing msgs/s: best / median | queueing ms per call: median / p90 |"
echo "|---|---|---|---|---|---|---|---|"
cat "$T/table.md"
echo
echo "| ratio (flush msgs/s) | best | median |"
echo "|---|---|---|"
if ((USE_DMA)); then
	echo "| satmail reuse / dma -q (this run) | $(ratio "$BEST_reuse" "$BEST_dma") | $(ratio "$MED_reuse" "$MED_dma") |"
fi
echo "| satmail reuse / satmail no reuse | $(ratio "$BEST_reuse" "$BEST_noreuse") | $(ratio "$MED_reuse" "$MED_noreuse") |"
echo "| satmail reuse / dma anchor ($DMA_ANCHOR msg/s, RESULTS-peers.md: sequential, one connection per message) | $(ratio "$BEST_reuse" "$DMA_ANCHOR") | $(ratio "$MED_reuse" "$DMA_ANCHOR") |"
echo
awk -v m="$MED_reuse" 'BEGIN { printf "satmail with reuse: %s msgs/s median (target >= 500 msgs/s: %s)", m, (m + 0 >= 500) ? "met" : "NOT met" }'
if ((USE_DMA)); then
	awk -v m="$MED_reuse" -v d="$MED_dma" 'BEGIN { if (d + 0 > 0) printf "; %.1fx dma -q in this run (target 8x: %s)", m / d, (m / d >= 8) ? "met" : "NOT met" }'
fi
echo
if [ -s "$T/notes.md" ]; then echo; cat "$T/notes.md"; fi
[ -s "$T/err.log" ] && { echo; echo "errors (first 5 lines of stderr):"; head -n 5 "$T/err.log"; }
exit 0
