#!/usr/bin/env bash
# Local delivery helpers: satmail-local (mbox append) and
# satmail-mbox-create.  SECURITY.md B-06 (mbox framing), F-11 (parallel
# deliveries against a locking MUA), F-06 (kill -9 mid-append), F-02
# (file size limit), P-04..P-08 (unsafe mailboxes, the helper's
# interface), and the installed set-id programs run by an ordinary user.
# Needs root (test users, mailbox owners, set-id install); CI is root.
# The spool is private ($T/spool, root:mail 2775 like Debian's /var/mail).
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ]; then echo "FAIL local.needs_root (run as root)"; exit 1; fi

LOCAL=$SATMAIL_BIN/satmail-local
CREATE=$SATMAIL_BIN/satmail-mbox-create
CHK() { "$PY" "$HERE/mboxcheck.py" "$@"; }
U1=satmailtest1 U2=satmailtest2
MADE_USERS=()
BG_PIDS=()
cleanup() {
	local p u
	for p in "${BG_PIDS[@]}"; do	# only our own children still running
		[ "$(awk '{ print $4 }' "/proc/$p/stat" 2> /dev/null)" = "$$" ] && kill -9 "$p" 2> /dev/null
	done
	for u in "${MADE_USERS[@]}"; do userdel "$u" 2> /dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
for u in $U1 $U2; do
	if ! getent passwd $u > /dev/null; then
		useradd -M -N -s /usr/sbin/nologin $u && MADE_USERS+=("$u")
	fi
done
for b in "$LOCAL" "$CREATE"; do
	[ -x "$b" ] || { fail "local.built.$(basename "$b")"; finish; }
done
chmod 755 "$T"
SPOOL=$T/spool
install -d -m 2775 -o root -g mail "$SPOOL"
write_conf "mail_spool_directory = $SPOOL" "deliver_lock_attempts = 3" "deliver_lock_delay = 1s"

# deliver USER [ARGS...] < MESSAGE: satmail-local -u USER with defaults
# for -f and -d; RC, $T/out (the answer), $T/err
deliver() {
	local u=$1; shift
	timeout 60 "$LOCAL" -u "$u" -f sender@example.org -d "$u@host.example.org" "$@" \
	    > "$T/out" 2> "$T/err"
	RC=$?
}
answer() { printf '%s %s' "$RC" "$(cat "$T/out")"; }
OK="0 ok 2.0.0 delivered to mailbox"
# sig PATH: type, owner, group, mode, inode, and content hash
sig() {
	stat -c '%F %U %G %a %i %h' "$1" 2> /dev/null || echo missing
	[ -f "$1" ] && [ ! -L "$1" ] && sha256sum < "$1"
}

# --------------------------------------------- B-06: mbox framing, 3 messages
MB1=$SPOOL/$U1
printf 'Subject: one\n\nFrom x\n>From x\nFrom\nFromage\nlast line without newline' > "$T/m1"
printf 'Subject: two\n\n>>From y\n\nFrom the start of a line\n\n\n' > "$T/m2"
printf 'From an mbox separator at the very start\nSubject: three\n\nbody\n' > "$T/m3"
for i in 1 2 3; do
	deliver $U1 -o "$U1" < "$T/m$i"
	eq "b06.deliver$i" "$(answer)" "$OK"
	eq "b06.deliver$i.one_line" "$(wc -l < "$T/out")" 1
done
eq b06.mailbox_created "$(stat -c '%U %G %a' "$MB1")" "$U1 mail 660"
check b06.strict_parse_3_exact CHK "$MB1" --count 3 --expect "$T/m1" "$T/m2" "$T/m3" \
    --sender sender@example.org
has_line b06.x_original_to "$MB1" "X-Original-To: $U1"
has_line b06.delivered_to "$MB1" "Delivered-To: $U1@host.example.org"
has_line b06.return_path "$MB1" "Return-Path: <sender@example.org>"
check b06.from_line grep -Eq '^From sender@example.org  [A-Z][a-z]{2} [A-Z][a-z]{2} [ 1-3][0-9] [0-9:]{8} [0-9]{4}$' "$MB1"
eq b06.no_dotlock_left "$(ls "$SPOOL")" "$U1"

# null sender, no -o; message read with pread at an offset of fd 0
printf 'envelope: stuff\nmore: stuff\n\n' > "$T/entry"
off=$(stat -c %s "$T/entry")
printf 'Subject: bounce\n\nFrom the daemon\n' >> "$T/entry"
tail -c +$((off + 1)) "$T/entry" > "$T/m4"
"$LOCAL" -u $U1 -f '' -d "$U1@host.example.org" -s "$off" < "$T/entry" > "$T/out" 2> "$T/err"; RC=$?
eq null_sender.offset.delivered "$(answer)" "$OK"
check null_sender.offset.exact CHK "$MB1" --count 4 --last "$T/m4"
check null_sender.mailer_daemon grep -q '^From MAILER-DAEMON  ' "$MB1"
has_line null_sender.return_path "$MB1" "Return-Path: <>"
eq null_sender.no_x_original_to "$(grep -c '^X-Original-To:' "$MB1")" 3

# answers and exit codes
deliver nosuchuser12345 < "$T/m1"
eq unknown_user "$(answer)" '67 perm 5.1.1 unknown user: "nosuchuser12345"'
deliver '../etc/x' < "$T/m1"
eq unknown_user.bad_name "$(answer)" '67 perm 5.1.1 unknown user: "../etc/x"'
"$LOCAL" -u $U1 -f x@y < "$T/m1" > "$T/out" 2> "$T/err"; RC=$?
eq usage.missing_d "$(answer)" "64 temp 4.3.5 satmail-local: usage error"
"$LOCAL" -u $U1 -f x@y -d y@z -s 12x < "$T/m1" > "$T/out" 2> "$T/err"; RC=$?
eq usage.bad_offset "$RC" 64
"$LOCAL" -u $U1 -f $'x@y\nFrom evil' -d y@z < "$T/m1" > "$T/out" 2> "$T/err"; RC=$?
eq bad_sender_text "$(answer)" "69 perm 5.3.5 bad sender or recipient text"
check mailbox_untouched_by_errors CHK "$MB1" --count 4

# ------------------------------- F-02: file size limit, truncated back
head -c 300000 /dev/urandom | base64 > "$T/big300k"
before=$(sig "$MB1")
( ulimit -f 200; exec "$LOCAL" -u $U1 -f x@y -d "$U1@h" < "$T/big300k" > "$T/out" 2> "$T/err" ); RC=$?
eq f02.deferred "$RC $(cut -c1-10 "$T/out")" "75 temp 4.2.2"
eq f02.mailbox_identical "$(sig "$MB1")" "$before"
eq f02.no_dotlock_left "$(ls "$SPOOL")" "$U1"

# --------- dotlocks: a fresh one is waited for, then defers; a stale one
# is broken (deliver_lock_attempts = 3, deliver_lock_delay = 1s here)
echo $$ > "$SPOOL/$U1.lock"
before=$(sig "$MB1"; sig "$SPOOL/$U1.lock")
t0=$(date +%s%N)
deliver $U1 < "$T/m1"
t1=$(date +%s%N)
eq dotlock.fresh.deferred "$(answer)" \
    "75 temp 4.2.0 cannot lock mailbox: dotlock $SPOOL/$U1.lock is held by another process (3 attempts)"
ms=$(((t1 - t0) / 1000000))
check dotlock.fresh.waited_2s_bounded [ "$ms" -ge 1900 -a "$ms" -lt 6000 ]
eq dotlock.fresh.untouched "$(sig "$MB1"; sig "$SPOOL/$U1.lock")" "$before"
touch -d '-10 minutes' "$SPOOL/$U1.lock"
deliver $U1 < "$T/m1"
eq dotlock.stale.delivered "$(answer)" "$OK"
check dotlock.stale.removed [ ! -e "$SPOOL/$U1.lock" ]
check dotlock.stale.logged grep -q "removed stale dotlock $SPOOL/$U1.lock: older than 500 s" "$T/maillog"
check dotlock.stale.mailbox_ok CHK "$MB1" --count 5

# ------------------- F-11 light: 50 parallel deliveries, a locking MUA
MB2=$SPOOL/$U2
"$CREATE" $U2; eq f11.mbox_create "$?" 0
"$PY" - "$T/par" <<'EOF'
import os, random, sys
d = sys.argv[1]; os.makedirs(d)
rnd = random.Random(11)
for i in range(50):
    size = 1 if i == 0 else int(2 ** (18 * i / 49))	# 1 B .. 256 KiB
    body = bytearray()
    while len(body) < size:
        w = rnd.choice([b'From here', b'>From there', b'word', b'Fro', b'\n', b'From ', b'x' * 70])
        body += w + (b'\n' if rnd.random() < 0.3 else b' ')
    body = b'Message-Id: <%d@test>\n\n' % i + bytes(body[:size])
    if i == 0:
        body = b'%d' % i	# the 1-byte message
    open(os.path.join(d, 'm%02d' % i), 'wb').write(body)
EOF
CHK --mua "$MB2" --stop "$T/stop" --seconds 120 > "$T/mua.out" 2>&1 &
MUA=$!; BG_PIDS+=("$MUA")
t0=$(date +%s)
pids=()
for f in "$T"/par/m*; do
	( timeout 100 "$LOCAL" -u $U2 -f par@example.org -d "$U2@host.example.org" < "$f" \
	    > "$f.out" 2>&1; echo $? > "$f.rc" ) &
	pids+=($!); BG_PIDS+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
t1=$(date +%s)
touch "$T/stop"
wait "$MUA"; mua_rc=$?
eq f11.all_delivered "$(cat "$T"/par/*.rc | sort | uniq -c | sed 's/^ *//')" "50 0"
check f11.bounded_time [ $((t1 - t0)) -lt 100 ]
note "50 parallel deliveries took $((t1 - t0)) s; $(cat "$T/mua.out" | tail -1)"
check f11.50_intact_messages CHK "$MB2" --count 50 --expect-set "$T"/par/m?? --sender par@example.org
eq f11.mua_saw_consistent_mailbox "$mua_rc" 0
check f11.mua_ran grep -Eq '^mua: [1-9][0-9]* rounds, 0 errors' "$T/mua.out"
eq f11.no_dotlock_left "$(ls "$SPOOL")" "$(printf '%s\n' $U1 $U2)"

# --------------------- F-06 light: kill -9 during 20 appends of 1 MiB
rm -f "$MB2"
"$CREATE" $U2
"$PY" - "$T/big1m" <<'EOF'
import sys
lines, n = [], 0
while n < 1 << 20:
    l = b'From line %d of a big message, padded to a decent width ....................\n' % n
    lines.append(l if n % 3 else l[5:]); n += len(l)
open(sys.argv[1], 'wb').write(b'Subject: big\n\n' + b''.join(lines)[:1 << 20])
EOF
# The killer watches the mailbox grow and sends SIGKILL at a random point:
# before any byte (while locking), part-way through the 1 MiB, or just
# after the last write (during fsync); every run is bounded.
"$PY" - "$LOCAL" "$U2" "$T/big1m" "$MB2" > "$T/killer.out" <<'EOF'
import os, random, signal, subprocess, sys, time
local, user, msg, mbox = sys.argv[1:5]
rnd = random.Random()
total = os.path.getsize(msg)
mid = 0
for i in range(20):
    start = os.path.getsize(mbox)
    # 0: while locking; total + 100: after the last write (fsync);
    # otherwise part-way (the most likely choice)
    # (the last one always part-way: the final delivery follows a fragment)
    target = rnd.choice([0, total + 100, -1, -1, -1]) if i < 19 else -1
    if target < 0:
        target = rnd.randrange(1, total)
    # part-way kills get the message through a pipe, fed slowly, so the
    # kill lands between the writer's chunks; the others read the file
    slow = 0 < target < total
    with open(msg, 'rb') as f:
        p = subprocess.Popen([local, '-u', user, '-f', 'killed@example.org', '-d', user + '@h'],
                             stdin=subprocess.PIPE if slow else f,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    if slow:
        data = open(msg, 'rb').read()
        for off in range(0, len(data), 16384):
            if os.path.getsize(mbox) - start >= target or time.monotonic() > deadline:
                break
            try:
                p.stdin.write(data[off:off + 16384])
                p.stdin.flush()
            except BrokenPipeError:
                break
            time.sleep(0.001)
    elif target == 0:
        time.sleep(rnd.random() * 0.003)
    else:
        while p.poll() is None and time.monotonic() < deadline:
            if os.path.getsize(mbox) - start >= target:
                break
    p.send_signal(signal.SIGKILL)
    p.wait()
    if p.stdin:
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
    if 0 < os.path.getsize(mbox) - start < total:
        mid += 1
print('%d of 20 killed part-way through the message' % mid)
EOF
note "kill -9: $(cat "$T/killer.out"); mailbox $(stat -c %s "$MB2") bytes"
printf 'Subject: final\n\nthe final message\nFrom its body\n' > "$T/final"
t0=$(date +%s)
deliver $U2 < "$T/final"
t1=$(date +%s)
eq f06.final_delivered "$(answer)" "$OK"
check f06.final_not_blocked_by_dead_lock [ $((t1 - t0)) -lt 3 ]
CHK "$MB2" --fragments --known "$T/big1m" --last "$T/final" > "$T/chk.out"
eq f06.parses_final_complete "$?" 0
cat "$T/chk.out"
check f06.fragments_were_made grep -Eq 'complete, [1-9][0-9]* fragments\), ok$' "$T/chk.out"
eq f06.no_dotlock_left "$(ls "$SPOOL")" "$(printf '%s\n' $U1 $U2)"

# ------------------- P-04..P-07: unsafe mailboxes are refused, untouched
V=$T/victim; printf 'root:x:0:0:precious\n' > "$V"; chmod 600 "$V"
refused() {	# refused NAME REASON-END: the next delivery to U2 defers
	local name=$1 reason=$2 before after
	before=$(sig "$V"; sig "$MB2"; sig "$MB1")
	deliver $U2 < "$T/m3"
	after=$(sig "$V"; sig "$MB2"; sig "$MB1")
	eq "$name.deferred" "$(answer)" "75 temp 4.2.0 mailbox $MB2 $reason"
	eq "$name.untouched" "$after" "$before"
	eq "$name.no_dotlock_left" "$(ls "$SPOOL" | grep -c '\.lock$')" 0
}
rm -f "$MB2"; ln -s "$V" "$MB2"
refused p04.symlink_root_file "is a symbolic link"
rm -f "$MB2"; cp "$MB1" "$T/attacker"; chown $U1 "$T/attacker"; ln -s "$T/attacker" "$MB2"
refused p04.symlink_attacker_file "is a symbolic link"
eq p04.attacker_file_not_chowned "$(stat -c %U "$T/attacker")" $U1
rm -f "$MB2"; ln -s "$T/nowhere" "$MB2"
refused p04.symlink_dangling "is a symbolic link"
check p04.dangling_target_not_created [ ! -e "$T/nowhere" ]
rm -f "$MB2"; ln -s "$T" "$MB2"
refused p04.symlink_directory "is a symbolic link"
rm -f "$MB2"; ln "$V" "$MB2"; chown $U2 "$V"
refused p05.hardlink_root_file "has 2 links"
chown root "$V"
rm -f "$MB2"; ln "$MB1" "$MB2"
refused p05.hardlink_other_mbox "has 2 links"
rm -f "$MB2"; ln -s "$V" "$T/sl"; ln -P "$T/sl" "$MB2"
refused p05.hardlink_to_symlink "is a symbolic link"
rm -f "$T/sl"
rm -f "$MB2"; printf 'planted\n' > "$MB2"; chown $U1 "$MB2"; chmod 666 "$MB2"
refused p06.planted_foreign_owner "is not owned by $U2"
rm -f "$MB2"; mkfifo -m 660 "$MB2"
refused p07.fifo "is a FIFO"
rm -f "$MB2"; mkdir "$MB2"
refused p07.directory "is a directory"
rmdir "$MB2"; mknod -m 660 "$MB2" c 1 3
refused p07.device "is a device"
rm -f "$MB2"

# ------ P-11: the mailbox helper inherits only fds 0-2 from satmail-local
# (a copy of satmail-local finds a recording fake helper next to it)
mkdir -p "$T/fdbin"
cp "$LOCAL" "$T/fdbin/satmail-local"
cat > "$T/fake.c" <<EOF
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
	DIR *d = opendir("/proc/self/fd"); struct dirent *e; FILE *f = fopen("$T/fds", "w");
	if (!d || !f) return 2;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) && atoi(e->d_name) != fileno(f))
			fprintf(f, "%s ", e->d_name);
	fclose(f); return 1;
}
EOF
cc -o "$T/fdbin/satmail-mbox-create" "$T/fake.c"
exec 7< "$T/m1" 8> "$T/extra-fd"	# inherited fds that must not travel
timeout 60 "$T/fdbin/satmail-local" -u $U2 -f x@y -d "$U2@h" < "$T/m1" > "$T/out" 2> "$T/err"; RC=$?
exec 7<&- 8>&-
eq p11.helper_ran "$RC $(cut -c1-10 "$T/out")" "75 temp 4.2.0"
eq p11.helper_fds_0_1_2 "$(cat "$T/fds" 2> /dev/null)" "0 1 2 "

# ---------------------------- P-08: satmail-mbox-create's interface
mc() { "$CREATE" "$@" > "$T/out" 2> "$T/err"; RC=$?; }
before=$(ls -a "$SPOOL"; ls -a "$T")
long=$(head -c 10240 /dev/zero | tr '\0' a)
for n in "../etc/x" "a/b" "" "-rf" "$long" $'satmailtest1\nx' "UPPER" "a..b"; do
	mc "$n"
	eq "p08.bad_name.$(printf '%q' "$n" | cut -c1-20)" "$RC" 64
done
mc nosuchuser12345; eq p08.unknown_user "$RC" 67
mc; eq p08.no_argument "$RC" 64
mc $U2 extra; eq p08.extra_argument "$RC" 64
mc -C "$T/main.cf" $U2 extra; eq p08.extra_argument_after_C "$RC" 64
eq p08.nothing_created "$(ls -a "$SPOOL"; ls -a "$T")" "$before"
check p08.refusals_logged grep -q 'satmail-mbox-create.*refused: not a valid user name' "$T/maillog"
mc $U2; eq p08.create "$RC" 0
eq p08.create.owner_mode "$(stat -c '%U %G %a %s' "$MB2")" "$U2 mail 660 0"
check p08.create.logged grep -q "created mailbox $MB2 for $U2" "$T/maillog"
# an existing file is never changed, whatever it is
rm -f "$MB2"; printf 'planted\n' > "$MB2"; chown $U1 "$MB2"; chmod 666 "$MB2"
before=$(sig "$MB2"); mc $U2
eq p08.existing.exit_0 "$RC" 0
eq p08.existing.unchanged "$(sig "$MB2")" "$before"
rm -f "$MB2"; ln -s "$T/nowhere2" "$MB2"
before=$(sig "$MB2"); mc $U2
eq p08.existing_symlink.exit_0 "$RC" 0
eq p08.existing_symlink.unchanged "$(sig "$MB2")" "$before"
check p08.existing_symlink.target_not_created [ ! -e "$T/nowhere2" ]
rm -f "$MB2"

# ------------- the installed set-id helpers, run by an ordinary user
D=$T/root; ETC=$T/etc; SP2=$T/spool2; LX=$D/usr/libexec/satmail
mkdir -p "$ETC" "$T/evilspool" "$T/marks"; chmod 1777 "$T/marks"
install -d -m 2775 -o root -g mail "$SP2"
install -m 0660 -o root -g mail /dev/null "$T/maillog2"
printf 'mail_spool_directory = %s\nmaillog_file = %s\n' "$SP2" "$T/maillog2" > "$ETC/main.cf"
printf 'mail_spool_directory = %s\n' "$T/evilspool" > "$T/evil.cf"
chmod 644 "$ETC/main.cf" "$T/evil.cf"
# Set-id programs are installed from a plain build: the sanitizer runtimes
# do not run reliably in set-id processes (the SAN pass sets SAN=1).
timeout 900 env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u SAN make -C "$ROOT" --no-print-directory install SAN=0 \
    BUILD="$T/build" DESTDIR="$D" PREFIX=/usr SYSCONFDIR="$ETC" > "$T/install.out" 2>&1
eq setid.install "$?" 0
if [ ! -x "$LX/satmail-local" ] || [ ! -x "$LX/satmail-mbox-create" ]; then
	fail setid.installed; tail -20 "$T/install.out" | sed 's/^/  #   /'
	finish
fi
eq setid.local_mode "$(stat -c '%a %U %G' "$LX/satmail-local")" "2755 root mail"
eq setid.create_mode "$(stat -c '%a %U %G' "$LX/satmail-mbox-create")" "4755 root root"
# A preload library that leaves a mark if it ever runs.
printf '#include <stdio.h>\n__attribute__((constructor)) static void m(void) { FILE *f = fopen("%s/preload", "a"); if (f) fclose(f); }\n' \
    "$T/marks" > "$T/evil.c"
cc -shared -fPIC -o "$T/evil.so" "$T/evil.c" && chmod 755 "$T/evil.so"
# as: runs a command as U1 with a hostile environment
asuser() {
	runuser -u $U1 "$@" > "$T/out" 2> "$T/err" < "${IN:-/dev/null}"; RC=$?
}
HOSTILE=(env SATMAIL_CONFIG="$T/evil.cf" TMPDIR="$T/marks" LD_PRELOAD="$T/evil.so" IFS=x PATH="$T/marks")
asuser -- "${HOSTILE[@]}" "$LX/satmail-mbox-create" $U2
eq setid.create_refused_for_user "$RC" 77
asuser -- "${HOSTILE[@]}" "$LX/satmail-mbox-create" -C "$T/evil.cf" $U2
eq setid.create_refused_with_C "$RC" 77
asuser -- "$LX/satmail-mbox-create" '../etc/x'
eq setid.create_refused_before_name_check "$RC" 77
check setid.create_refusal_logged grep -q "refused: uid $(id -u $U1) " "$T/maillog2"
eq setid.nothing_created "$(ls -A "$SP2" "$T/evilspool" | grep -v ':$' | grep -c .)" 0
# delivery to a missing mailbox: the user may not create it -> defer
IN=$T/m2 asuser -- "${HOSTILE[@]}" "$LX/satmail-local" -u $U2 -f x@y -d "$U2@h"
eq setid.local_missing_mailbox_defers "$RC $(cut -c1-10 "$T/out")" "75 temp 4.2.0"
# root (or the satmail group, as the queue runs it) may create it
runuser -u $U1 -g satmail -- "$LX/satmail-mbox-create" $U2; eq setid.create_as_group_satmail "$?" 0
eq setid.created_owner_mode "$(stat -c '%U %G %a' "$SP2/$U2" 2> /dev/null)" "$U2 mail 660"
# now the ordinary user delivers into U2's mailbox through group mail,
# with the alternate config ignored (-C and SATMAIL_CONFIG)
IN=$T/m2 asuser -- "${HOSTILE[@]}" "$LX/satmail-local" -C "$T/evil.cf" -u $U2 -f x@y -d "$U2@h"
eq setid.local_delivers "$(answer)" "$OK"
check setid.local_exact CHK "$SP2/$U2" --count 1 --expect "$T/m2" --sender x@y
eq setid.evil_spool_unused "$(ls -A "$T/evilspool")" ""
check setid.preload_never_ran [ ! -e "$T/marks/preload" ]
eq setid.nothing_in_tmpdir "$(ls -A "$T/marks")" ""
eq setid.mailbox_still_owned "$(stat -c '%U %G %a' "$SP2/$U2")" "$U2 mail 660"
# the whole chain as the queue runs it (real gid satmail): missing mailbox
# created by the helper, then delivered
IN=$T/m1 asuser -g satmail -- "$LX/satmail-local" -u $U1 -f x@y -d "$U1@h"
eq setid.chain_create_and_deliver "$(answer)" "$OK"
eq setid.chain_owner_mode "$(stat -c '%U %G %a' "$SP2/$U1" 2> /dev/null)" "$U1 mail 660"
check setid.chain_exact CHK "$SP2/$U1" --count 1 --expect "$T/m1"
# an unsafe mailbox is refused the same way when installed
rm -f "$SP2/$U1"; ln -s "$V" "$SP2/$U1"; before=$(sig "$V")
IN=$T/m1 asuser -g satmail -- "$LX/satmail-local" -u $U1 -f x@y -d "$U1@h"
eq setid.symlink_refused "$(answer)" "75 temp 4.2.0 mailbox $SP2/$U1 is a symbolic link"
eq setid.symlink_target_untouched "$(sig "$V")" "$before"
eq setid.no_dotlock_left "$(ls "$SP2" | grep -c '\.lock$')" 0
finish
