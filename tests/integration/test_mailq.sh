#!/usr/bin/env bash
# mailq / sendmail -bp: Postfix's text layout (POSTFIX-NOTES.md 8.1) and
# postqueue -j JSON lines (8.2), checked against an independent rendering
# of the queue entries.
. "$(dirname "$0")/lib.sh"
export TZ=UTC

# mq NAME ARGS...: runs the listing; RC, $T/out, $T/err
mq() { "$@" > "$T/out" 2> "$T/err"; RC=$?; }

# ------------------------------------------------------------ empty queue
reset_queue
mq "$MAILQ"
expect_rc empty_nodir.exit_0 0
eq empty_nodir.text "$(od -An -c "$T/out" | tr -s ' ')" "$(printf 'Mail queue is empty\n' | od -An -c | tr -s ' ')"
eq empty_nodir.no_stderr "$(cat "$T/err")" ""
check empty_nodir.queue_not_created [ ! -e "$T/queue/queue" ]
mq "$SM" -bp
expect_rc empty_bp.exit_0 0
eq empty_bp.text "$(cat "$T/out")" "Mail queue is empty"
mq "$MAILQ" -j
expect_rc empty_json.exit_0 0
eq empty_json.no_output "$(wc -c < "$T/out")" 0
mkdir -p "$T/queue/queue" "$T/queue/tmp"
mq "$MAILQ"
expect_rc empty_dir.exit_0 0
eq empty_dir.text "$(cat "$T/out")" "Mail queue is empty"
# queue/ without tmp/ (first use interrupted by a crash): still listable
rmdir "$T/queue/tmp"
mq "$MAILQ"
expect_rc no_tmp_dir.exit_0 0
eq no_tmp_dir.text "$(cat "$T/out")" "Mail queue is empty"
mkdir -p "$T/queue/tmp"
# a temporary (uncommitted) file is not listed
echo "satmail-envelope 1" > "$T/queue/tmp/123.456.000001.0"
mq "$MAILQ"
eq tmp_not_listed "$(cat "$T/out")" "Mail queue is empty"

# ----------------------------------------------------- two submissions
reset_queue
{ printf 'Subject: one\n\n'; for i in $(seq 30); do printf '%079d\n' "$i"; done; } > "$T/m1"
printf 'Subject: two\n\nshort\n' > "$T/m2"
"$SM" -f alice@x.org bob@x.org carol@y.org < "$T/m1" 2> "$T/err"; rc1=$?
sleep 1.1	# distinct arrival seconds
"$SM" -f '<>' dave@z.org < "$T/m2" 2>> "$T/err"; rc2=$?
check two.submitted [ $rc1 -eq 0 -a $rc2 -eq 0 -a "$(queue_count)" -eq 2 ]

# expected_text: Postfix's showq_compat layout rendered from the entries
# by qentry.py's reader (sizes = message bytes after the envelope).
expected() {
	"$PY" - "$HERE" "$T/queue/queue" "$@" <<'EOF'
import os, sys, time, json
sys.path.insert(0, sys.argv[1])
import qentry
qdir, mode = sys.argv[2], sys.argv[3]
busy = sys.argv[4] if len(sys.argv) > 4 else ""
out = []
total = 0
ids = sorted(os.listdir(qdir))
for n, qid in enumerate(ids):
    p = os.path.join(qdir, qid)
    size = int(qentry.get(p, "size"))
    msg = qentry.split(p)[1]
    assert size == len(msg)
    arr = int(qentry.get(p, "arrival").split(b".")[0])
    sender = qentry.get(p, "sender").decode() or "MAILER-DAEMON"
    rs = [r for r in qentry.rcpts(p) if r.get("state", b"pending") == b"pending"]
    hold = qentry.get(p, "hold") == b"yes"
    attempts = int(qentry.get(p, "attempts") or b"0")
    if mode == "json":
        rl = []
        for r in rs:
            o = {"address": r["addr"].decode()}
            if "reason" in r:
                o["delay_reason"] = r["reason"].decode()
            rl.append(o)
        qn = "active" if qid == busy else "hold" if hold else "deferred" if attempts else "incoming"
        out.append(json.dumps({"queue_name": qn, "queue_id": qid, "arrival_time": arr,
            "message_size": size, "forced_expire": False, "sender": sender,
            "recipients": rl}))
        continue
    if n == 0:
        out.append("%-11s %7s %-20s %s" % ("-Queue ID-", "--Size--", "----Arrival Time----", "-Sender/Recipient-------"))
    else:
        out.append("")
    mark = "*" if qid == busy else "!" if hold else ""
    out.append("%-11s %7d %20.20s %s" % (qid + mark, size, time.asctime(time.localtime(arr)), sender))
    prev = None
    for r in rs:
        reason = r["reason"].decode() if "reason" in r else "reason unavailable" if prev else None
        if reason and reason != prev:
            out.append(" " * max(0, 76 - len(reason)) + "(" + reason + ")")
        prev = reason
        out.append(" " * 41 + r["addr"].decode())
    total += size
if mode == "text":
    out.append("")
    out.append("-- %d Kbytes in %d Request%s." % (total // 1024, len(ids), "" if len(ids) == 1 else "s"))
print("\n".join(out))
EOF
}
mq "$MAILQ"
expect_rc two.exit_0 0
eq two.text_exact "$(cat "$T/out")" "$(expected text)"
eq two.header_line "$(sed -n 1p "$T/out")" "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------"
eq two.footer "$(tail -n 1 "$T/out")" "-- $(( ($(QE size "$T/queue/queue/$(ls "$T/queue/queue" | head -1)") + $(QE size "$T/queue/queue/$(ls "$T/queue/queue" | tail -1)")) / 1024 )) Kbytes in 2 Requests."
eq two.blank_line_count "$(grep -c '^$' "$T/out")" 2
eq two.recipient_indent "$(grep -c '^                                         [a-z]' "$T/out")" 3
check two.mailer_daemon_shown grep -Eq '^[0-9A-F]+ +[0-9]+ [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8}  MAILER-DAEMON$' "$T/out"
check two.sizes_nonzero_kbytes grep -q '^-- [1-9][0-9]* Kbytes' "$T/out"
# Arrival time is local time, as Postfix prints it.
TZ=Asia/Tokyo "$MAILQ" > "$T/tokyo" 2>&1
eq two.local_time "$(cat "$T/tokyo")" "$(TZ=Asia/Tokyo expected text)"
mq "$SM" -bp
eq bp_equals_mailq "$(cat "$T/out")" "$(expected text)"

# ------------------------------------------------------------------ JSON
mq "$MAILQ" -j
expect_rc json.exit_0 0
eq json.lines "$(wc -l < "$T/out")" 2
eq json.exact "$(cat "$T/out")" "$(expected json)"
check json.parse_and_field_order "$PY" -c '
import json, sys
want = ["queue_name", "queue_id", "arrival_time", "message_size", "forced_expire", "sender", "recipients"]
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert list(o) == want, list(o)
    assert isinstance(o["arrival_time"], int) and isinstance(o["message_size"], int)
    assert o["forced_expire"] is False
    assert all(list(r)[0] == "address" for r in o["recipients"])
    assert json.dumps(o) == line.rstrip("\n"), "separators"
' "$T/out"
mq "$SM" -bp -j
eq bp_j_equals_mailq_j "$(cat "$T/out")" "$(expected json)"

# JSON escaping of a sender with a quote and a backslash.
reset_queue
"$SM" -f '"a\"b\\c"@x.org' bob@x.org < "$T/m2" 2> "$T/err"
mq "$MAILQ" -j
check json.escaping "$PY" -c '
import json, sys
o = json.loads(open(sys.argv[1]).read())
assert o["sender"] == sys.argv[2], o["sender"]
' "$T/out" "$(QE get "$(entry)" sender)"

# One request: singular footer.
reset_queue
"$SM" bob@x.org < "$T/m2" 2> "$T/err"
mq "$MAILQ"
eq one.footer "$(tail -n 1 "$T/out")" "-- 0 Kbytes in 1 Request."
eq one.text_exact "$(cat "$T/out")" "$(expected text)"

# Per-recipient reasons (right-aligned to column 78, "reason unavailable"
# after a recipient that had one), the hold marker "!", the busy marker "*".
reset_queue
"$SM" bob@x.org carol@x.org dave@x.org < "$T/m2" 2> "$T/err"
E1=$(entry)
"$PY" - "$E1" <<'EOF'
import sys
p = sys.argv[1]
data = open(p, "rb").read()
head, sep, msg = data.partition(b"\n\n")
out = []
for ln in head.split(b"\n"):
    if ln.startswith(b"rcpt: addr=bob@x.org "):
        ln += b" reason=connect%20to%20127.0.0.1[127.0.0.1]:2599:%20Connection%20refused"
    if ln.startswith(b"rcpt: addr=carol@x.org "):
        ln += b" reason=" + b"x" * 90
    out.append(ln)
out.append(b"hold: yes")
open(p, "wb").write(b"\n".join(out) + sep + msg)
EOF
check reasons.entry_still_valid QE check "$E1"
mq "$MAILQ"
expect_rc reasons.exit_0 0
eq reasons.text_exact "$(cat "$T/out")" "$(expected text)"
check reasons.right_aligned grep -qxF '                    (connect to 127.0.0.1[127.0.0.1]:2599: Connection refused)' "$T/out"
check reasons.long_reason_not_indented grep -qx "($(printf 'x%.0s' $(seq 90)))" "$T/out"
check reasons.unavailable grep -qxF "$(printf '%58s' '')(reason unavailable)" "$T/out"
check reasons.hold_marker grep -q "^$(basename "$E1")! " "$T/out"
mq "$MAILQ" -j
eq reasons.json_exact "$(cat "$T/out")" "$(expected json)"
reset_queue
"$SM" bob@x.org < "$T/m2" 2> "$T/err"
E1=$(entry)
"$PY" -c '
import fcntl, subprocess, sys
f = open(sys.argv[1])
fcntl.flock(f, fcntl.LOCK_EX)
for args, out in ((["-j"], sys.argv[3]), ([], sys.argv[4])):
    with open(out, "w") as o:
        subprocess.run([sys.argv[2]] + args, stdout=o)
' "$E1" "$MAILQ" "$T/busy.json" "$T/busy.txt"
eq busy.text_exact "$(cat "$T/busy.txt")" "$(expected text "$(basename "$E1")")"
eq busy.json_exact "$(cat "$T/busy.json")" "$(expected json "$(basename "$E1")")"
check busy.star_marker grep -q "^$(basename "$E1")\* " "$T/busy.txt"

# -C on mailq names another queue.
sed "s|$T/queue|$T/q2|" "$T/main.cf" > "$T/other.cf"
mq "$MAILQ" -C "$T/other.cf"
expect_rc mailq_C.exit_0 0
eq mailq_C.other_queue_empty "$(cat "$T/out")" "Mail queue is empty"

# A corrupt entry is not listed as if it were fine, and does not stop
# the listing of the others.
reset_queue
"$SM" bob@x.org < "$T/m2" 2> "$T/err"
"$SM" carol@x.org < "$T/m2" 2>> "$T/err"
first=$(ls "$T/queue/queue" | head -1)
truncate -s -3 "$T/queue/queue/$first"
mq "$MAILQ"
expect_rc corrupt.exit_0 0
eq corrupt.not_listed "$(grep -c "^$first" "$T/out")" 0
eq corrupt.others_listed "$(grep -c 'carol@x.org\|bob@x.org' "$T/out")" 1
check corrupt.footer_one_request grep -q '^-- 0 Kbytes in 1 Request\.$' "$T/out"

finish
