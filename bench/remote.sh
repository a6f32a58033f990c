#!/usr/bin/env bash
# make bench, second part: satmail's SMTP client beside msmtp, in the same
# run, against a Postfix smtp-sink on 127.0.0.1 (the smarthost of
# ../shared/bench/run-peers.sh, which discards what it receives).
#   small: N sequential `sendmail -odi -t` of a 2 KB message (queued
#          durably, then delivered in the foreground), median and p90 wall
#          time per call; msmtp the same way; every message counted at the
#          sink, and the satmail queue must be empty at the end.
#   big:   a BIG_MB MiB text message, end to end (command start to its exit,
#          which comes after the sink's 250), MiB/s, CPU and peak RSS, beside
#          the sink's ceiling (a minimal perl client sending a CRLF copy);
#          then satmail's peak RSS for 1 MiB, BIG_MB and (BIG_FLAT=1) 1 GiB
#          messages: it must not grow with the message.
# Peak RSS of satmail is taken two ways and the larger is reported:
#   - GNU time's %M of `sendmail`: the kernel's ru_maxrss from wait4 folds in
#     the peak of every descendant that was waited for (sendmail forks
#     satmail-queue drop and satmail-queue deliver, which forks the SMTP
#     worker; in -odi mode each one is waited for);
#   - a poller that reads VmHWM from /proc/PID/status of every descendant of
#     this script every POLL_MS ms, for the per-program breakdown.  VmHWM
#     is monotonic, so one sample late in a process's life holds its peak;
#     only growth in its last POLL_MS ms can be missed (wait4 covers that).
#     A forked child (the SMTP worker) starts from its parent's mark.
# Knobs: N (200), BIG_MB (200), BIG_RUNS (3), BIG_FLAT (0; 1 adds a 1 GiB
# message to the flatness check, about 2 GiB of disk and 30 s more),
# POLL_MS (10), SATMAIL_BIN (../build/bin), KEEP (0; 1 keeps the temp dir).
# Needs: Postfix's smtp-sink, GNU time, ss, perl; msmtp is installed with
# apt-get when missing and we are root, else satmail is measured alone.
set -u -o pipefail
export LC_ALL=C
N=${N:-200}
BIG_MB=${BIG_MB:-200}
BIG_RUNS=${BIG_RUNS:-3}
BIG_FLAT=${BIG_FLAT:-0}
POLL_MS=${POLL_MS:-10}
KEEP=${KEEP:-0}
GTIME=${GTIME:-/usr/bin/time}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
B=${SATMAIL_BIN:-$HERE/../build/bin}
T=$(mktemp -d "${TMPDIR:-/tmp}/satmail-remote.XXXXXX") || exit 1
SINK_PID="" POLL_PID=""

cleanup() {
	[ -n "$POLL_PID" ] && kill "$POLL_PID" 2>/dev/null
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null
	wait 2>/dev/null
	[ "$KEEP" = 1 ] && echo "temp dir kept: $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

: > "$T/notes.md"
: > "$T/err.log"

stats() {	# stats FILE -> "median p90 min" in ms, of microsecond lines
	sort -n "$1" | awk '{ a[NR] = $1 } END {
		if (NR == 0) { print "n/a n/a n/a"; exit }
		med = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
		i = int(0.9 * NR); if (i < 0.9 * NR) i++
		printf "%.2f %.2f %.2f\n", med / 1000, a[i] / 1000, a[1] / 1000 }'
}
minmed() {	# minmed WORDS FORMAT -> "min median" of numbers, printf FORMAT
	printf '%s\n' $1 | sort -g | awk -v f="$2" '{ a[NR] = $1 } END {
		if (NR == 0) { print "n/a n/a"; exit }
		printf f " " f "\n", a[1], (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
maxof() { printf '%s\n' $1 | sort -g | tail -n 1; }
kib2mib() { awk -v k="$1" 'BEGIN { if (k == "" || k == "n/a") print "n/a"; else printf "%.1f", k / 1024 }'; }

# ---- the smarthost: smtp-sink (start_sink, lib.sh), counting messages
sink_count() { tr '\r' '\n' < "$T/sink.out" | awk -F'mesg=' 'NF > 1 { c = $2 + 0 } END { print c + 0 }'; }
wait_sink() {	# wait_sink COUNT SECONDS: until the sink has seen COUNT messages
	local i
	for ((i = 0; i < $2 * 50; i++)); do
		(($(sink_count) >= $1)) && return 0
		sleep 0.02
	done
	return 1
}

# ---- peak RSS poller (see the header): descendants of this shell, except
# the poller and the sink; one line per process: label peak-VmHWM-KiB
start_poller() {	# start_poller OUTFILE
	rm -f "$T/poll.ready"
	perl - "$$" "$SINK_PID" "$POLL_MS" "$1" "$T/poll.ready" <<'PERL' &
use strict; use warnings;
my ($root, $sink, $ms, $out, $ready) = @ARGV;
my (%hwm, %label, $stop);
$SIG{TERM} = sub { $stop = 1 };
sub slurp { open(my $f, '<', $_[0]) or return undef; local $/; my $s = <$f>; close $f; $s }
my $end = time + 3600;		# bounded even if nobody stops us
my $first = 1;
while (!$stop && time < $end) {
	my %pp;
	opendir(my $d, '/proc') or die;
	for my $p (grep { /^\d+$/ } readdir $d) {
		my $s = slurp("/proc/$p/stat") // next;
		$pp{$p} = $1 if $s =~ /\) \S+ (\d+)/;
	}
	closedir $d;
	for my $p (keys %pp) {
		next if $p == $$ || $p eq $sink;
		my ($q, $n, $ok) = ($p, 0, 0);
		while ($n++ < 64 && defined($q = $pp{$q})) {
			last if $q == $$ || $q eq $sink;
			if ($q == $root) { $ok = 1; last }
		}
		next unless $ok;
		my $st = slurp("/proc/$p/status") // next;
		next unless $st =~ /^VmHWM:\s+(\d+)/m;	# zombies have no mm
		my $k = $1;
		if (!defined $label{$p}) {
			my @a = split /\0/, (slurp("/proc/$p/cmdline") // '');
			my $l = @a ? ($a[0] =~ s{.*/}{}r) : '?';
			if ($l eq 'satmail-queue') {	# [-C FILE] drop|deliver ...
				my $i = (@a > 3 && $a[1] eq '-C') ? 3 : 1;
				$l .= " $a[$i]" if @a > $i;
			}
			my $par = $pp{$p};
			$l .= ' (forked worker)' if defined $label{$par} && $label{$par} eq $l;
			$label{$p} = $l;
		}
		$hwm{$p} = $k if !defined $hwm{$p} || $k > $hwm{$p};
	}
	if ($first) { open(my $f, '>', $ready); close $f; $first = 0 }
	select(undef, undef, undef, $ms / 1000);
}
open(my $o, '>', $out) or die;
print $o "$label{$_}\t$hwm{$_}\n" for sort { $a <=> $b } keys %hwm;
close $o;
PERL
	POLL_PID=$!
	local i
	for ((i = 0; i < 500; i++)); do
		[ -e "$T/poll.ready" ] && return 0
		sleep 0.01
	done
	return 1
}
stop_poller() {
	[ -n "$POLL_PID" ] || return
	kill -TERM "$POLL_PID" 2>/dev/null
	wait "$POLL_PID" 2>/dev/null
	POLL_PID=""
}

# ---- messages: the 2 KB one of submit.sh; big ones of ~76-byte text lines
# built from one 1 MiB block (13797 lines of 76 bytes = 1048572 bytes)
{
	printf 'From: bench@example.org\nTo: sink@example.net\nSubject: bench\n\n'
	for i in $(seq 1 30); do printf 'line %02d of the benchmark message body, padded to length....\n' "$i"; done
} | head -c 2048 > "$T/small.eml"
awk 'BEGIN { for (i = 0; i < 13797; i++)
	printf "%09d the quick brown fox jumps over the lazy dog; 0123456789 ABCDEFGHIJKL\n", i }' > "$T/block"
make_msg() {	# make_msg FILE MIB
	local i
	{
		printf 'From: bench@example.org\nTo: sink@example.net\nSubject: bench, %s MiB\n\n' "$2"
		for ((i = 0; i < $2; i++)); do cat "$T/block"; done
	} > "$1"
}

# ---- satmail configuration
SQ=$T/queue
cat > "$T/main.cf" <<CF
queue_directory = $SQ
myhostname = host.example.org
myorigin = example.org
maillog_file = $T/maillog
alias_maps =
alias_database =
relayhost = [127.0.0.1]:PORT
smtp_tls_security_level = none
message_size_limit = 0
CF
export SATMAIL_CONFIG=$T/main.cf
queue_left() { find "$SQ/queue" "$SQ/tmp" "$SQ/corrupt" -type f 2>/dev/null | wc -l; }

# ---- setup
for c in smtp-sink ss perl awk; do
	have "$c" || { echo "remote.sh: missing $c (apt-get install postfix iproute2)" >&2; exit 1; }
done
[ -x "$B/sendmail" ] || { echo "remote.sh: no $B/sendmail (make first)" >&2; exit 1; }
have "$GTIME" || note "GNU time ($GTIME) missing: CPU and wait4 peak RSS columns are n/a (apt-get install time)"
if ! have msmtp && have apt-get && [ "$(id -u)" = 0 ]; then
	log "installing msmtp with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q msmtp > "$T/apt.log" 2>&1
fi
if have msmtp; then
	MSMTP_VER=$(msmtp --version | head -n 1)
else
	MSMTP_VER=""
	note "msmtp is not installed and could not be installed: satmail is measured alone, no ratios"
	echo "remote.sh: NOTE: msmtp unavailable, measuring satmail alone" >&2
fi
start_sink -a || { echo "remote.sh: could not start smtp-sink" >&2; exit 1; }	# -a: no AUTH
sed -i "s/\[127.0.0.1\]:PORT/[127.0.0.1]:$PORT/" "$T/main.cf"
log "smtp-sink pid $SINK_PID on 127.0.0.1:$PORT, temp dir $T"
MSMTP=(msmtp "--host=127.0.0.1" "--port=$PORT" "--from=bench@example.org" --tls=off --auth=off -t)

# gtime_run CMD... < input: runs CMD under GNU time; sets RSS (KiB) and CPU (s)
gtime_run() {
	local rc
	if have "$GTIME"; then
		"$GTIME" -f '%M %U %S' -o "$T/gtime.out" "$@" > /dev/null 2>> "$T/err.log"
		rc=$?
		read -r RSS CPU < <(tail -n 1 "$T/gtime.out" | awk '{ printf "%s %.2f\n", $1, $2 + $3 }')
	else
		"$@" > /dev/null 2>> "$T/err.log"
		rc=$?
		RSS=n/a CPU=n/a
	fi
	return $rc
}

# ---- 1. small messages
small_bench() {	# small_bench LABEL NOTE CMD...: N timed calls, one more under GNU time
	local label=$1 extra=$2 out=$T/small-$((++SMALL_I)).us before got med p90 min fails; shift 2
	log "small: $label, $N calls"
	before=$(sink_count)
	timed_calls "$out" "$N" "$T/small.eml" "$@"
	fails=$FAILS
	wait_sink $((before + N)) 30
	got=$(($(sink_count) - before))
	[ "$1" = "$B/sendmail" ] && extra="$extra; queue entries left after the $N calls: $(queue_left)"
	gtime_run "$@" < "$T/small.eml"
	wait_sink $((before + N + 1)) 10
	((fails > 0)) && extra="$extra; $fails calls exited non-zero"
	read -r med p90 min < <(stats "$out")
	printf '| %s | %s | %s | %s | %s/%s | %s | %s |\n' "$label" "$med" "$p90" "$min" "$got" "$N" "$RSS" \
		"${extra#; }" >> "$T/table-small.md"
	MED=$med
}
SMALL_I=0
log "small: /bin/true floor"
timed_calls "$T/true.us" "$N" "$T/small.eml" /bin/true
read -r tmed tp90 tmin < <(stats "$T/true.us")
echo "| /bin/true (fork+exec floor) | $tmed | $tp90 | $tmin | - | - | - |" > "$T/table-small.md"
small_bench "satmail sendmail -odi -t" "queued (fsync), then delivered in the foreground" "$B/sendmail" -odi -t
sm_med=$MED
sm_sent=$(grep -c 'status=sent' "$T/maillog" 2>/dev/null)
ms_med=""
if [ -n "$MSMTP_VER" ]; then
	small_bench "msmtp -t (no TLS, no auth)" "synchronous" "${MSMTP[@]}"
	ms_med=$MED
fi

# ---- 2. big messages
log "big: generating ${BIG_MB} MiB message"
make_msg "$T/big.eml" "$BIG_MB"
make_msg "$T/one.eml" 1
BIG_BYTES=$(stat -c %s "$T/big.eml")
cat "$T/big.eml" > /dev/null		# warm the page cache

# big_run KEY FILE CMD...: one end-to-end run; sets WALL (s), RATE (MiB/s),
# RSS (KiB, wait4), CPU (s), OK (1 when the sink counted it), POLLMAX (KiB)
# and appends the poller's breakdown to $T/poll-KEY.txt
big_run() {
	local label=$1 file=$2 before t0 t1 bytes; shift 2
	bytes=$(stat -c %s "$file")
	before=$(sink_count)
	start_poller "$T/poll.out" || log "  poller did not start"
	t0=${EPOCHREALTIME/./}
	gtime_run timeout 600 "$@" < "$file" || echo "$label: exit $?" >> "$T/err.log"
	t1=${EPOCHREALTIME/./}
	stop_poller
	OK=0
	wait_sink $((before + 1)) 30 && OK=1
	WALL=$(awk -v u=$((t1 - t0)) 'BEGIN { printf "%.3f", u / 1e6 }')
	RATE=$(awk -v b="$bytes" -v u=$((t1 - t0)) 'BEGIN { printf "%.1f", b / 1048576 / (u / 1e6) }')
	# the poller also sees GNU time, timeout and this script's own
	# short-lived helpers; only the tools' programs count
	grep -E '^(sendmail|satmail-queue|msmtp)' "$T/poll.out" 2>/dev/null >> "$T/poll-$label.txt"
	POLLMAX=$(grep -E '^(sendmail|satmail-queue|msmtp)' "$T/poll.out" 2>/dev/null | cut -f2 | sort -n | tail -n 1)
	POLLMAX=${POLLMAX:-0}
	[ "$RSS" = n/a ] && RSS=0
}
big_bench() {	# big_bench LABEL CMD...: BIG_RUNS runs of the big message
	local label=$1 key=${1//[^A-Za-z0-9]/_} r walls="" rates="" cpus="" rss=0 w4=0 ok=0 wmin wmed rmed cmed
	shift
	log "big: $label, $BIG_RUNS x $BIG_MB MiB"
	: > "$T/poll-$key.txt"
	for ((r = 0; r < BIG_RUNS; r++)); do
		big_run "$key" "$T/big.eml" "$@"
		walls+=" $WALL"; rates+=" $RATE"; cpus+=" $CPU"; ok=$((ok + OK))
		((RSS > w4)) && w4=$RSS
		((RSS > rss)) && rss=$RSS
		((POLLMAX > rss)) && rss=$POLLMAX
	done
	read -r wmin wmed < <(minmed "$walls" %.3f)
	read -r _ rmed < <(minmed "$rates" %.1f)
	read -r _ cmed < <(minmed "$cpus" %.2f)
	printf '| %s | %s / %s | %s / %s | %s | %s | %s/%s |\n' "$label" "$wmin" "$wmed" "$(maxof "$rates")" "$rmed" \
		"$cmed" "$(kib2mib "$rss")" "$ok" "$BIG_RUNS" >> "$T/table-big.md"
	BEST=$(maxof "$rates") W4=$w4
}
# The sink's ceiling here and now: the cheapest possible client, which
# sends a pre-made CRLF copy of the message in 1 MiB writes.
cat > "$T/raw.pl" <<'PERL'
use strict; use warnings; use IO::Socket::INET;
my ($port, $file) = @ARGV;
my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 10) or die "connect: $!";
sub reply { my $l; do { $l = <$s> // die "EOF" } while ($l =~ /^\d\d\d-/); die $l if $l !~ /^[23]/; $l }
reply(); print $s "EHLO raw.example.org\r\n"; reply();
print $s "MAIL FROM:<bench\@example.org>\r\nRCPT TO:<sink\@example.net>\r\nDATA\r\n";
reply(); reply(); reply();
open(my $f, '<:raw', $file) or die "$file: $!";
my $buf;
while (my $n = sysread($f, $buf, 1 << 20)) {
	for (my $o = 0; $o < $n; ) { $o += syswrite($s, $buf, $n - $o, $o) // die "write: $!" }
}
syswrite($s, ".\r\nQUIT\r\n") // die; reply(); reply();
PERL
sed 's/$/\r/' "$T/big.eml" > "$T/big.crlf"
: > "$T/table-big.md"
big_bench "reference: raw SMTP client (perl, CRLF body pre-made, 1 MiB writes)" perl "$T/raw.pl" "$PORT" "$T/big.crlf"
raw_rate=$BEST
rm -f "$T/big.crlf"
big_bench satmail "$B/sendmail" -odi -t
sm_rate=$BEST sm_w4=$W4
ms_rate=""
if [ -n "$MSMTP_VER" ]; then
	big_bench msmtp "${MSMTP[@]}"
	ms_rate=$BEST
fi

# ---- 3. flatness of satmail's peak RSS
breakdown() {	# breakdown POLLFILE -> "sendmail | drop | deliver | worker" KiB maxima
	awk -F'\t' '{ if ($2 > m[$1]) m[$1] = $2 }
		END { printf "%s | %s | %s | %s\n", m["sendmail"] + 0, m["satmail-queue drop"] + 0,
			m["satmail-queue deliver"] + 0, m["satmail-queue deliver (forked worker)"] + 0 }' "$1"
}
flat_row() {	# flat_row MIB POLLFILE WAIT4KIB
	local b; b=$(breakdown "$2")
	printf '| %s | %s | %s | %s |\n' "$1" "$b" "$3" \
		"$(echo "$b | $3" | tr '|' '\n' | sort -n | tail -n 1 | tr -d ' ')" >> "$T/table-flat.md"
}
: > "$T/table-flat.md"
log "flat: satmail, 1 MiB"
: > "$T/poll-one.txt"
one_rss=0
for ((r = 0; r < 3; r++)); do
	big_run one "$T/one.eml" "$B/sendmail" -odi -t
	((RSS > one_rss)) && one_rss=$RSS
done
flat_row 1 "$T/poll-one.txt" "$one_rss"
flat_row "$BIG_MB" "$T/poll-satmail.txt" "$sm_w4"
if [ "$BIG_FLAT" = 1 ]; then
	log "flat: satmail, 1024 MiB"
	make_msg "$T/huge.eml" 1024
	: > "$T/poll-huge.txt"
	big_run huge "$T/huge.eml" "$B/sendmail" -odi -t
	huge_rate=$RATE huge_ok=$OK
	rm -f "$T/huge.eml"
	flat_row 1024 "$T/poll-huge.txt" "$RSS"
fi
sm_left_end=$(queue_left)

# ---- report
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "## satmail SMTP client benchmark ($(date -u +%Y-%m-%dT%H:%MZ), relayhost = smtp-sink on 127.0.0.1, load $load)"
echo
echo "Versions: satmail ($B)${MSMTP_VER:+, $MSMTP_VER}, Postfix smtp-sink $(postconf -d -h mail_version 2>/dev/null). $(nproc) CPUs; other work on the machine makes the figures noisy."
echo
echo "### Small message: $N sequential calls, 2048 bytes, delivered to the sink before the command returns"
echo
echo "| what | ms median | ms p90 | ms min | at the sink | peak RSS KiB | notes |"
echo "|---|---|---|---|---|---|---|"
cat "$T/table-small.md"
echo
awk -v s="$sm_med" 'BEGIN { printf "satmail median %.2f ms per message (target < 12 ms)", s }'
[ -n "$ms_med" ] && awk -v s="$sm_med" -v m="$ms_med" 'BEGIN { printf "; msmtp / satmail = %.1fx (msmtp %.2f ms; target >= 5x)", m / s, m }'
echo
echo "satmail log: $sm_sent status=sent lines for $N + 1 small messages"
echo
echo "### Big message: $BIG_MB MiB ($BIG_BYTES bytes, lines of 76 bytes), $BIG_RUNS runs, wall = command start to exit (after the sink's 250)"
echo
echo "| tool | wall s: min / median | MiB/s: best / median | CPU s user+sys (median) | peak RSS MiB (largest process) | delivered |"
echo "|---|---|---|---|---|---|"
cat "$T/table-big.md"
echo
printf 'satmail %s MiB/s end to end (target >= 120)' "$sm_rate"
[ -n "$ms_rate" ] && printf '; satmail / msmtp = %sx (msmtp %s MiB/s)' "$(ratio "$sm_rate" "$ms_rate")" "$ms_rate"
printf '; satmail / raw client = %sx (raw %s MiB/s: the sink'"'"'s ceiling in this run)' "$(ratio "$sm_rate" "$raw_rate")" "$raw_rate"
echo
echo
echo "### satmail peak RSS by message size (KiB; VmHWM poll every $POLL_MS ms per program, and wait4 ru_maxrss of the whole tree)"
echo
echo "| message MiB | sendmail | satmail-queue drop | satmail-queue deliver | SMTP worker (fork of deliver) | wait4 max | peak |"
echo "|---|---|---|---|---|---|---|"
cat "$T/table-flat.md"
echo
flat_first=$(awk -F'|' 'NR == 1 { print $(NF - 1) + 0 }' "$T/table-flat.md")
flat_last=$(awk -F'|' '{ v = $(NF - 1) + 0 } END { print v + 0 }' "$T/table-flat.md")
flat_max=$(awk -F'|' '{ v = $(NF - 1) + 0; if (v > m) m = v } END { print m + 0 }' "$T/table-flat.md")
awk -v a="$flat_first" -v b="$flat_last" -v m="$flat_max" 'BEGIN {
	printf "satmail peak RSS %.1f MiB (target < 8 MiB); largest message minus 1 MiB message: %+d KiB (%s)\n",
		m / 1024, b - a, (b - a < 1024) ? "flat: under 1 MiB" : "NOT flat: 1 MiB or more" }'
[ "$BIG_FLAT" = 1 ] && echo "1 GiB message: $huge_rate MiB/s end to end, delivered $huge_ok/1"
[ "$BIG_FLAT" = 1 ] || echo "(1 GiB message skipped; BIG_FLAT=1 adds it)"
echo "satmail queue entries left at the end: $sm_left_end"
if [ -s "$T/notes.md" ]; then echo; cat "$T/notes.md"; fi
[ -s "$T/err.log" ] && { echo "errors:"; head -5 "$T/err.log"; }
exit 0
