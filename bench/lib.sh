# Shared helpers of the bench/*.sh scripts; source it after setting T (the
# run's temporary directory).  Progress goes to stderr, notes to
# $T/notes.md; everything runs on 127.0.0.1.
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
note() { printf -- '- %s\n' "$*" >> "$T/notes.md"; }
have() { command -v "$1" > /dev/null 2>&1; }
# ratio A B: A/B with one decimal, or n/a
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.1f", a / b; else print "n/a" }'; }

# timed_calls OUT N INPUT CMD...: N sequential calls of CMD with INPUT on
# stdin, the microseconds of each call appended to OUT (emptied first);
# sets FAILS to the number of calls that exited non-zero
timed_calls() {
	local out=$1 n=$2 input=$3 i t0; shift 3
	: > "$out"
	FAILS=0
	for ((i = 0; i < n; i++)); do
		t0=${EPOCHREALTIME/./}
		"$@" < "$input" > /dev/null 2>> "$T/err.log" || FAILS=$((FAILS + 1))
		echo $((${EPOCHREALTIME/./} - t0)) >> "$out"
	done
}

# start_sink [smtp-sink options...]: a Postfix smtp-sink counting messages
# (-c, on $T/sink.out) on a free loopback port, nothing stored (no -d/-D:
# DATA is discarded as it streams in); sets PORT and SINK_PID.
port_busy() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
start_sink() {
	local try p i user=()
	[ "$(id -u)" = 0 ] && user=(-u nobody)
	for ((try = 0; try < 20; try++)); do
		p=$((20000 + RANDOM % 40000))
		port_busy "$p" && continue
		smtp-sink -c "$@" "${user[@]}" "127.0.0.1:$p" 1000 > "$T/sink.out" 2> "$T/sink.err" &
		SINK_PID=$!
		for ((i = 0; i < 100; i++)); do
			if port_busy "$p"; then PORT=$p; return 0; fi
			kill -0 "$SINK_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill "$SINK_PID" 2>/dev/null; wait "$SINK_PID" 2>/dev/null; SINK_PID=""
	done
	return 1
}
