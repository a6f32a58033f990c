#!/usr/bin/env bash
# Durability of submission: kill -9 and signals mid-message (F-17), file
# size limits, crash points of the queue helper (F-03), hostile process
# state (F-18), queue-id uniqueness under concurrency (F-15).
. "$(dirname "$0")/lib.sh"

BG_PIDS=()
cleanup_bg() {
	local p
	# only our own children that are still running (never a reused pid)
	for p in "${BG_PIDS[@]}"; do
		[ "$(awk '{ print $4 }' "/proc/$p/stat" 2> /dev/null)" = "$$" ] && kill -9 "$p" 2> /dev/null
	done
	rm -rf "$T"
}
trap cleanup_bg EXIT

# A 64-line (8 KiB) chunk for slow feeds, and a ~600 KiB message.
CHUNK=$(for j in $(seq 64); do printf '%0127d\n' "$j"; done)
{ printf 'Subject: big\n\n'; for i in $(seq 75); do printf '%s\n' "$CHUNK"; done; } > "$T/big"
printf 'Subject: small\n\nsmall body\n' > "$T/small"

# slow_feed CHUNKS DELAY: a message whose body arrives one chunk per DELAY
slow_feed() {
	printf 'Subject: slow\n\n'
	local i
	for ((i = 0; i < $1; i++)); do
		printf '%s\n' "$CHUNK" || return
		sleep "$2"
	done
}
tmp_nonempty() { [ -n "$(find "$T/queue/tmp" -type f -size +8k 2> /dev/null)" ]; }
tmp_empty() { [ "$(tmp_count)" -eq 0 ]; }
mailq_empty() { [ "$("$MAILQ" 2>&1)" == "Mail queue is empty" ]; }
child_of() {	# child_of PID: its first child's pid
	pgrep -P "$1" 2> /dev/null | head -1
}
# start_slow ARGS...: starts a slow submission in the background (sendmail
# with default signal handling), SMPID = its pid; waits until the helper
# has written some of the body.
start_slow() {
	slow_feed 120 0.05 | "$@" 2> "$T/err" &
	SMPID=$!
	BG_PIDS+=("$SMPID")
	wait_for 10 tmp_nonempty
}
# wait_rc PID: exit status of a background job, bounded (kills it after 20 s)
wait_rc() {
	local i=0
	while kill -0 "$1" 2> /dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
	kill -0 "$1" 2> /dev/null && kill -9 "$1"
	wait "$1" 2> /dev/null
}

# --------------------------------------- kill -9 of sendmail mid-message
reset_queue
start_slow env --default-signal=INT,TERM,HUP "$SM" bob@x.org
check kill9_sendmail.started tmp_nonempty
kill -9 "$SMPID" 2> /dev/null
wait_rc "$SMPID"; rc=$?
eq kill9_sendmail.exit_137 "$rc" 137
check kill9_sendmail.tmp_removed wait_for 5 tmp_empty
eq kill9_sendmail.no_entry "$(queue_count)" 0
check kill9_sendmail.mailq_empty mailq_empty

# ----------------------------------------- F-17 signals while stdin open
for sig in INT TERM HUP; do
	# to sendmail alone
	reset_queue
	start_slow env --default-signal=INT,TERM,HUP "$SM" bob@x.org
	check f17_$sig.sendmail.started tmp_nonempty
	kill -$sig "$SMPID" 2> /dev/null
	wait_rc "$SMPID"; rc=$?
	check f17_$sig.sendmail.exit_nonzero [ "$rc" -ne 0 ]
	check f17_$sig.sendmail.tmp_removed wait_for 5 tmp_empty
	eq f17_$sig.sendmail.no_entry "$(queue_count)" 0
	# to the process group (a terminal's Ctrl-C reaches the helper too)
	reset_queue
	start_slow setsid env --default-signal=INT,TERM,HUP "$SM" bob@x.org
	check f17_$sig.group.started tmp_nonempty
	kill -$sig -- -"$SMPID" 2> /dev/null
	wait_rc "$SMPID"; rc=$?
	check f17_$sig.group.exit_nonzero [ "$rc" -ne 0 ]
	check f17_$sig.group.tmp_removed wait_for 5 tmp_empty
	eq f17_$sig.group.no_entry "$(queue_count)" 0
	check f17_$sig.group.mailq_empty mailq_empty
done

# stdout is a pipe nobody reads: submission still works
reset_queue
( "$SM" bob@x.org < "$T/small" 2> "$T/err"; echo $? > "$T/rc" ) | true
eq f17_stdout_closed_pipe.exit_0 "$(cat "$T/rc")" 0
eq f17_stdout_closed_pipe.queued "$(queue_count)" 1

# ulimit -f: the helper's write fails (EFBIG); a clean error, no crash
for lim in 1 100; do
	reset_queue
	( ulimit -f $lim; exec "$SM" bob@x.org < "$T/big" > "$T/out" 2> "$T/err" ); RC=$?
	check f17_ulimit_f$lim.exit_nonzero [ "$RC" -ne 0 ]
	if [ "$RC" -gt 0 ] && [ "$RC" -lt 128 ]; then pass f17_ulimit_f$lim.no_signal_death; else
		fail f17_ulimit_f$lim.no_signal_death; note "exit $RC (128+$((RC - 128)))"; fi
	one_err_line f17_ulimit_f$lim.one_stderr_line
	eq f17_ulimit_f$lim.no_entry "$(queue_count)" 0
	eq f17_ulimit_f$lim.tmp_removed "$(tmp_count)" 0
	check f17_ulimit_f$lim.no_core [ -z "$(find "$ROOT" "$T" -maxdepth 1 -name 'core*' -newer "$T/big" 2> /dev/null)" ]
done

# ------------------------------------------------- F-03 crash points
# The queue helper runs under strace through a wrapper next to a copy of
# sendmail (helpers are found next to the running sendmail).
mkdir -p "$T/bin"
cp "$SATMAIL_BIN/sendmail" "$T/bin/sendmail"
cat > "$T/bin/satmail-queue" <<EOF
#!/bin/bash
# LeakSanitizer cannot run under ptrace: no leak check in traced runs.
export ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0"
if [ -n "\${F03_TRACE:-}" ]; then
	exec strace -f -qq -o "\$F03_TRACE" -e trace=openat,write,pwrite64,fsync,fdatasync,renameat2,rename,renameat,link,linkat,unlink,unlinkat,ftruncate "$SATMAIL_BIN/satmail-queue" "\$@"
elif [ -n "\${F03_INJECT:-}" ]; then
	exec strace -f -qq -o /dev/null -e inject="\$F03_INJECT" "$SATMAIL_BIN/satmail-queue" "\$@"
fi
exec "$SATMAIL_BIN/satmail-queue" "\$@"
EOF
chmod 755 "$T/bin/satmail-queue"
SM2=$T/bin/sendmail
reset_queue
F03_TRACE=$T/trace "$SM2" bob@x.org < "$T/big" > /dev/null 2> "$T/err"; rc=$?
eq f03.trace_run.exit_0 "$rc" 0
eq f03.trace_run.queued "$(queue_count)" 1
# syscall counts of the helper's submission
declare -A NCALL=()
for sc in openat write pwrite64 fsync fdatasync renameat2 rename renameat link linkat unlink unlinkat ftruncate; do
	n=$(grep -c "^[0-9]* *$sc(" "$T/trace" 2> /dev/null)
	[ "${n:-0}" -gt 0 ] && NCALL[$sc]=$n
done
note "helper syscalls: $(for k in "${!NCALL[@]}"; do printf '%s=%s ' "$k" "${NCALL[$k]}"; done)"
check f03.trace_has_fsync_and_rename [ "${NCALL[fsync]:-0}" -ge 2 -a $(( ${NCALL[renameat2]:-0} + ${NCALL[rename]:-0} + ${NCALL[renameat]:-0} + ${NCALL[link]:-0} + ${NCALL[linkat]:-0} )) -ge 1 ]
bigsize=$(QE size "$(entry)")
points=0
for sc in "${!NCALL[@]}"; do
	n=${NCALL[$sc]}
	[ "$n" -gt 40 ] && n=40
	for ((k = 1; k <= n; k++)); do
		points=$((points + 1))
		name="f03.$sc#$k"
		reset_queue
		F03_INJECT="$sc:signal=SIGKILL:when=$k" timeout 60 "$SM2" bob@x.org < "$T/big" > /dev/null 2> "$T/err"; rc=$?
		E=$(entry)
		if [ "$rc" -eq 0 ]; then
			if [ -n "$E" ] && QE check "$E" > /dev/null && [ "$(QE size "$E")" -eq "$bigsize" ] &&
			    "$MAILQ" 2> /dev/null | grep -Eq "^$(basename "$E") +$bigsize "; then
				pass "$name.exit0_entry_complete"
			else
				fail "$name.exit0_entry_complete"; note "exit 0 but entries=$(queue_count)"
			fi
		else
			# any committed entry must at least be complete (never a
			# truncated visible entry) ...
			if [ "$(queue_count)" -eq 0 ] || { [ -n "$E" ] && QE check "$E" > /dev/null; }; then
				pass "$name.no_partial_entry"
			else
				fail "$name.no_partial_entry"
			fi
			# ... and the contract: no exit 0, no deliverable entry
			if [ "$(queue_count)" -eq 0 ]; then pass "$name.nonzero_exit_no_entry"; else
				fail "$name.nonzero_exit_no_entry"; note "sendmail exit $rc, yet mailq lists: $("$MAILQ" 2>&1 | sed -n 2p)"
			fi
			# the queue stays usable: mailq works and agrees
			if [ "$(queue_count)" -eq 0 ] && ! mailq_empty; then
				"$MAILQ" > "$T/mq" 2>&1; mqrc=$?; fail "$name.mailq_still_works"; note "mailq exit $mqrc: $(head -2 "$T/mq")"
			else
				pass "$name.mailq_still_works"
			fi
			# sendmail itself reports it (sysexits code, one line)
			if [ "$rc" -ge 64 ] && [ "$rc" -le 78 ] && [ "$(err_lines)" -eq 1 ]; then
				pass "$name.clean_failure"
			else
				fail "$name.clean_failure"; note "sendmail exit $rc, stderr $(err_lines) lines: $(head -c 200 "$T/err")"
			fi
		fi
	done
done
check f03.enumerated_points [ "$points" -ge 10 ]

# kill -9 of the helper at a random moment of a slow submission
reset_queue
start_slow env --default-signal=INT,TERM,HUP "$SM" bob@x.org
check f03.helper_killed.started tmp_nonempty
hpid=$(child_of "$SMPID")
check f03.helper_found [ -n "$hpid" ]
[ -n "$hpid" ] && kill -9 "$hpid"
wait_rc "$SMPID"; rc=$?
check f03.helper_killed.sendmail_nonzero [ "$rc" -ne 0 ]
if [ "$rc" -ge 64 ] && [ "$rc" -le 78 ] && [ "$(err_lines)" -eq 1 ]; then pass f03.helper_killed.clean_failure; else
	fail f03.helper_killed.clean_failure; note "sendmail exit $rc, stderr: $(head -c 200 "$T/err")"; fi
eq f03.helper_killed.no_entry "$(queue_count)" 0
check f03.helper_killed.mailq_empty mailq_empty

# ----------------------------------------------- F-18 hostile fd state
reset_queue
"$SM" bob@x.org < "$T/small" >&- 2>&-; rc=$?
eq f18.stdout_stderr_closed.exit_0 "$rc" 0
E=$(entry)
check f18.stdout_stderr_closed.entry_ok QE check "${E:-/dev/null}"
eq f18.stdout_stderr_closed.body "$(QE msg "${E:-/dev/null}" 2> /dev/null | tail -n 1)" "small body"
reset_queue
"$SM" bob@x.org <&- >&- 2>&-; rc=$?
eq f18.all_closed.exit_0 "$rc" 0
E=$(entry)
check f18.all_closed.entry_ok QE check "${E:-/dev/null}"
reset_queue
"$SM" 'bad@@x' < "$T/small" 2>&-; rc=$?
eq f18.stderr_closed_error.exit_64 "$rc" 64
eq f18.stderr_closed_error.no_entry "$(queue_count)" 0
# During a slow submission with 1 and 2 closed: where do fds point?
reset_queue
slow_feed 120 0.05 | "$SM" bob@x.org >&- 2>&- &
SMPID=$!; BG_PIDS+=("$SMPID")
wait_for 10 tmp_nonempty
hpid=$(child_of "$SMPID")
eq f18.sendmail_fd1_devnull "$(readlink /proc/$SMPID/fd/1)" /dev/null
eq f18.sendmail_fd2_devnull "$(readlink /proc/$SMPID/fd/2)" /dev/null
eq f18.helper_fd2_devnull "$(readlink /proc/${hpid:-0}/fd/2)" /dev/null
check f18.helper_fd0_fd1_pipes grep -q '^pipe:.*pipe:' <<< "$(readlink /proc/${hpid:-0}/fd/0)$(readlink /proc/${hpid:-0}/fd/1)"
tmpfd=$(for f in /proc/${hpid:-0}/fd/*; do l=$(readlink "$f"); case $l in "$T/queue/tmp/"*) basename "$f";; esac; done)
check f18.helper_tmp_file_above_2 [ "${tmpfd:-0}" -gt 2 ]
kill -9 "$SMPID" 2> /dev/null; wait_rc "$SMPID"
wait_for 5 tmp_empty

# ulimit -n: works, or fails cleanly (71/75, one line, nothing queued)
for n in 8 5 4; do
	reset_queue
	# (LeakSanitizer needs file descriptors of its own: off here)
	( export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	  exec < "$T/small" > "$T/out" 2> "$T/err"; ulimit -n $n; exec "$SM" bob@x.org ); RC=$?
	if [ "$RC" -eq 0 ]; then
		check f18.ulimit_n$n.queued QE check "$(entry)"
	else
		check f18.ulimit_n$n.clean_exit [ "$RC" -eq 71 -o "$RC" -eq 75 ]
		one_err_line f18.ulimit_n$n.one_stderr_line
		eq f18.ulimit_n$n.no_entry "$(queue_count)" 0
		eq f18.ulimit_n$n.no_tmp "$(tmp_count)" 0
	fi
done

# ulimit -v: works, or fails cleanly (sanitizer builds need their shadow
# memory: not checked there)
if ! grep -qa __asan_init "$SM"; then
	for v in 30000 12000; do
		reset_queue
		( exec < "$T/big" > "$T/out" 2> "$T/err"; ulimit -v $v; exec "$SM" bob@x.org ); RC=$?
		if [ "$RC" -eq 0 ]; then
			check f18.ulimit_v$v.queued QE check "$(entry)"
		else
			check f18.ulimit_v$v.clean_exit [ "$RC" -eq 71 -o "$RC" -eq 75 ]
			one_err_line f18.ulimit_v$v.one_stderr_line
			eq f18.ulimit_v$v.no_entry "$(queue_count)" 0
		fi
	done
fi

# 100 inherited open fds are not passed to the helper
reset_queue
: > "$T/inherited"
(
	for fd in $(seq 10 109); do eval "exec $fd<\"\$T/inherited\""; done
	slow_feed 120 0.05 | exec "$SM" bob@x.org 2> "$T/err"
) &
SUB=$!; BG_PIDS+=("$SUB")
wait_for 10 tmp_nonempty
smpid=""
for p in $(pgrep -P "$SUB"); do [ "$(readlink /proc/$p/exe)" = "$(readlink -f "$SM")" ] && smpid=$p; done
hpid=$(child_of "${smpid:-0}")
check f18.inherit.helper_found [ -n "$hpid" ]
nsm=$(for f in /proc/${smpid:-0}/fd/*; do readlink "$f"; done | grep -c "^$T/inherited$")
check f18.inherit.sendmail_has_them [ "$nsm" -ge 100 ]
nh=$(for f in /proc/${hpid:-0}/fd/*; do readlink "$f"; done | grep -c "^$T/inherited$")
eq f18.inherit.helper_has_none "$nh" 0
others=$(for f in /proc/${hpid:-0}/fd/*; do
	n=$(basename "$f"); [ "$n" -le 2 ] && continue
	l=$(readlink "$f"); case $l in "$T/queue"|"$T/queue/"*|"$T/maillog") ;; *) echo "$n:$l";; esac
done)
eq f18.inherit.helper_only_own_files "$others" ""
kill -9 "$smpid" "$SUB" 2> /dev/null; wait_rc "$SUB"
wait_for 5 tmp_empty

# ------------------------------------------------ F-15 concurrency
reset_queue
mkdir -p "$T/rcs"
for i in $(seq 20); do
	( printf 'Subject: c%d\n\nbody-%d\n' "$i" "$i" | "$SM" "r$i@x.org" 2> "$T/rcs/err$i"; echo $? > "$T/rcs/$i" ) &
done
wait
eq f15_20.all_exit_0 "$(cat "$T/rcs"/[0-9]* | sort | uniq -c | tr -s ' ')" " 20 0"
eq f15_20.entries "$(queue_count)" 20
# verify_all N PREFIX: every entry well-formed; markers (last body line)
# and recipients match one-to-one; ids distinct.
verify_all() {
	"$PY" - "$HERE" "$T/queue/queue" "$1" <<'EOF'
import os, sys
sys.path.insert(0, sys.argv[1])
import qentry
qdir, want = sys.argv[2], int(sys.argv[3])
seen, bad = {}, []
for qid in os.listdir(qdir):
    p = os.path.join(qdir, qid)
    try:
        qentry.check(p)
    except ValueError as e:
        bad.append("%s: %s" % (qid, e)); continue
    body = qentry.split(p)[1].rstrip(b"\n").split(b"\n")[-1].decode()
    rc = [r["addr"].decode() for r in qentry.rcpts(p)]
    tag = body.split("-", 1)[1]
    if rc != ["r%s@x.org" % tag]:
        bad.append("%s: body %s but rcpts %s" % (qid, body, rc))
    if b"id %s;" % qid.encode() not in qentry.split(p)[1]:
        bad.append("%s: Received id differs" % qid)
    seen.setdefault(body, []).append(qid)
dups = {k: v for k, v in seen.items() if len(v) > 1}
if bad or dups or len(seen) != want:
    print("bad:", bad[:5], "dups:", list(dups.items())[:5], "distinct bodies:", len(seen))
    sys.exit(1)
EOF
}
check f15_20.intact_distinct verify_all 20

reset_queue
rm -rf "$T/rcs"; mkdir -p "$T/rcs"
start=$(date +%s.%N)
for p in $(seq 20); do
	(
		fails=0
		for n in $(seq 50); do
			printf 'Subject: p%d-%d\n\nbody-%d.%d\n' "$p" "$n" "$p" "$n" |
			    timeout 30 "$SM" "r$p.$n@x.org" 2>> "$T/rcs/err$p" || fails=$((fails + 1))
		done
		echo $fails > "$T/rcs/$p"
	) &
done
wait
end=$(date +%s.%N)
secs=$("$PY" -c "print('%.1f' % ($end - $start))")
note "1000 submissions from 20 processes took ${secs}s"
eq f15_1000.no_failures "$(cat "$T/rcs"/[0-9]* | sort -u)" 0
eq f15_1000.entries "$(queue_count)" 1000
check f15_1000.intact_distinct verify_all 1000
check f15_1000.bounded_time "$PY" -c "import sys; sys.exit(0 if $secs < 120 else 1)"
eq f15_1000.no_tmp_left "$(tmp_count)" 0

finish
