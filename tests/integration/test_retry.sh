#!/usr/bin/env bash
# Retry policy and queue maintenance: lifetime expiry bounces a deferred
# message once to its (local) sender and removes it; an expired bounce is
# discarded; delay_warning_time gives exactly one "Delayed Mail" notice;
# the backoff sets next-retry; postsuper -h/-H/-r/-d under the entry lock,
# mailq's '!' for held entries, postsuper refused to non-root (77).
#
# Remote recipients go to a relay where nothing listens, so they always
# defer with a reason ("connect to ...: Connection refused") and no test
# depends on the machine's DNS.  Age is simulated by rewriting the entry's
# arrival: record (python) and forcing the entry with sendmail -qIID.
# Needs root (test users, mailbox ownership, postsuper).
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ]; then echo "FAIL retry.needs_root (run as root)"; exit 1; fi

U1=satmailrty1
getent passwd $U1 > /dev/null || useradd -M -N -s /usr/sbin/nologin $U1
cleanup_users() { userdel $U1 2> /dev/null; rm -rf "$T"; }
trap cleanup_users EXIT
SPOOL=$T/spool
mkdir -p "$SPOOL" && chown root:mail "$SPOOL" && chmod 2775 "$SPOOL"
chmod 755 "$T"
PS=$SATMAIL_BIN/postsuper
base_conf=("mail_spool_directory = $SPOOL" "mydestination = host.example.org, localhost"
	"myorigin = host.example.org" "relayhost = [127.0.0.1]:1" "smtp_tls_security_level = none")
write_conf "${base_conf[@]}" "maximal_queue_lifetime = 1d" "bounce_queue_lifetime = 1d"

mbox_count() { grep -c '^From ' "$SPOOL/$1" 2>/dev/null || echo 0; }
subject_count() { grep -c "^Subject: $2" "$SPOOL/$1" 2>/dev/null || echo 0; }
# age FILE SECONDS: moves the entry's arrival SECONDS into the past (the
# file is rewritten in place: same records, same message).
age() {
	"$PY" - "$1" "$2" <<'PY'
import re, sys, time
path, secs = sys.argv[1], int(sys.argv[2])
data = open(path, 'rb').read()
head, sep, body = data.partition(b'\n\n')
t = int(time.time()) - secs
head2, n = re.subn(rb'(?m)^arrival: [0-9]+\.', b'arrival: %d.' % t, head)
assert n == 1, "no arrival record"
open(path, 'wb').write(head2 + sep + body)
PY
}
# id_of FILE: the entry's queue id (its file name)
id_of() { basename "$1"; }
rec() { QE get "$1" "$2"; }

# ---- a remote recipient defers, with a reason, and gets a backoff
printf 'Subject: expire me\n\nbody\n' | "$SM" -odq -f $U1@host.example.org user@remote.example; RC=$?
expect_rc defer.queued 0
E=$(entry); ID=$(id_of "$E")
"$SM" -q"I$ID"; RC=$?
expect_rc defer.run 0
eq defer.still_queued "$(queue_count)" 1
E=$(entry)
eq defer.attempts "$(rec "$E" attempts)" 1
nr=$(rec "$E" next-retry); now=$(date +%s)
if [ -n "$nr" ] && [ "$nr" -ge $((now + 290)) ] && [ "$nr" -le $((now + 310)) ]; then
	pass defer.next_retry_minimal_backoff; else fail defer.next_retry_minimal_backoff; note "next-retry $nr now $now"; fi
grep -q "to=<user@remote.example>, relay=none, .*status=deferred (" "$T/maillog" && pass defer.logged ||
	{ fail defer.logged; note "$(tail -3 "$T/maillog")"; }
# Not due: a plain -q leaves it alone.
"$SM" -q
eq defer.not_due_not_tried "$(rec "$(entry)" attempts)" 1
"$MAILQ" > "$T/mq"
grep -q 'Connection refused' "$T/mq" && pass defer.mailq_reason || { fail defer.mailq_reason; note "$(cat "$T/mq")"; }

# ---- older than maximal_queue_lifetime: one bounce to the sender, entry gone
age "$(entry)" $((2 * 86400))
"$SM" -q"I$ID"; RC=$?
expect_rc expire.run 0
eq expire.entry_removed "$(queue_count)" 0
eq expire.one_bounce "$(subject_count $U1 'Undelivered Mail Returned to Sender')" 1
has_line expire.action_failed "$SPOOL/$U1" "Action: failed"
has_line expire.status_447 "$SPOOL/$U1" "Status: 4.4.7"
grep -q 'delivery time expired' "$SPOOL/$U1" && pass expire.dsn_says_expired || fail expire.dsn_says_expired
tr '\n' ' ' < "$SPOOL/$U1" | tr -s ' ' | grep -q 'last failure: connect to 127.0.0.1\[127.0.0.1\]:1: Connection refused' && pass expire.dsn_last_reason ||
	{ fail expire.dsn_last_reason; note "$(grep -A3 'Diagnostic' "$SPOOL/$U1")"; }
if grep -Eq "$ID: to=<user@remote.example>, relay=none, delay=[0-9.]+, delays=[0-9./]+, dsn=4.4.7, status=expired, returned to sender \(connect to 127\.0\.0\.1" "$T/maillog"; then
	pass expire.log_rcpt; else fail expire.log_rcpt; note "$(grep "$ID" "$T/maillog" | tail -4)"; fi
has_line expire.log_message "$T/maillog" "$(grep -m1 "$ID: from=<$U1@host.example.org>, status=expired, returned to sender\$" "$T/maillog")"
grep -q "$ID: from=<$U1@host.example.org>, status=expired, returned to sender$" "$T/maillog" && pass expire.log_message_shape || fail expire.log_message_shape
grep -q "$ID: sender non-delivery notification: " "$T/maillog" && pass expire.log_notice || fail expire.log_notice
# A second run has nothing more to send.
"$SM" -q
eq expire.still_one_bounce "$(subject_count $U1 'Undelivered Mail Returned to Sender')" 1

# ---- maximal_queue_lifetime = 0: one attempt, then returned at once
write_conf "${base_conf[@]}" "maximal_queue_lifetime = 0"
before=$(mbox_count $U1)
printf 'Subject: once\n\nbody\n' | "$SM" -odq -f $U1@host.example.org user@remote.example
"$SM" -q
eq lifetime0.entry_removed "$(queue_count)" 0
eq lifetime0.bounced "$(mbox_count $U1)" $((before + 1))
write_conf "${base_conf[@]}" "maximal_queue_lifetime = 1d" "bounce_queue_lifetime = 1d"

# ---- an expired null-sender message is discarded, never bounced to <>
before=$(mbox_count $U1)
printf 'Subject: a bounce\n\nbody\n' | "$SM" -odq -f '<>' user@remote.example; RC=$?
E=$(entry); ID=$(id_of "$E")
age "$E" $((2 * 86400))
"$SM" -q"I$ID"
eq nullexpire.entry_removed "$(queue_count)" 0
grep -q "$ID: from=<>, status=expired, discarded$" "$T/maillog" && pass nullexpire.logged ||
	{ fail nullexpire.logged; note "$(grep "$ID" "$T/maillog")"; }
lacks_line_re nullexpire.no_notice "$T/maillog" "$ID: .*notification"
eq nullexpire.no_mail "$(mbox_count $U1)" "$before"

# ---- delay_warning_time = 1h, entry aged 2h: one "Delayed Mail" over two runs
write_conf "${base_conf[@]}" "delay_warning_time = 1h"
before=$(mbox_count $U1)
printf 'Subject: slow\n\nbody\n' | "$SM" -odq -f $U1@host.example.org user@remote.example; RC=$?
E=$(entry); ID=$(id_of "$E")
age "$E" 7200
"$SM" -q"I$ID"
eq delay.still_queued "$(queue_count)" 1
eq delay.one_notice "$(subject_count $U1 'Delayed Mail (still being retried)')" 1
has_line delay.action_delayed "$SPOOL/$U1" "Action: delayed"
grep -q '^Will-Retry-Until: ' "$SPOOL/$U1" && pass delay.will_retry_until || fail delay.will_retry_until
eq delay.recorded "$(rec "$(entry)" delay-warned)" yes
grep -q "$ID: sender delay notification: " "$T/maillog" && pass delay.logged || fail delay.logged
"$SM" -q"I$ID"
eq delay.second_run_no_second_notice "$(subject_count $U1 'Delayed Mail (still being retried)')" 1
eq delay.attempts "$(rec "$(entry)" attempts)" 2
eq delay.only_notice_mail "$(mbox_count $U1)" $((before + 1))
# A fresh message, younger than delay_warning_time: no notice.
printf 'Subject: young\n\nbody\n' | "$SM" -odq -f $U1@host.example.org other@remote.example
Y=$(find "$T/queue/queue" -type f -newer "$E" | head -1); YID=$(id_of "$Y")
"$SM" -q"I$YID"
eq delay.young_no_notice "$(subject_count $U1 'Delayed Mail (still being retried)')" 1
"$PS" -d "$YID" 2> /dev/null

# ---- postsuper -h / -H / -r / -d
"$PS" -h "$ID" 2> "$T/ps"; RC=$?
expect_rc hold.exit0 0
has_line hold.summary "$T/ps" "postsuper: Placed on hold: 1 message"
has_line hold.per_id "$T/ps" "postsuper: $ID: placed on hold"
eq hold.record "$(rec "$(entry)" hold)" yes
"$MAILQ" > "$T/mq"
grep -q "^$ID!" "$T/mq" && pass hold.mailq_bang || { fail hold.mailq_bang; note "$(cat "$T/mq")"; }
a=$(rec "$(entry)" attempts)
"$SM" -q"I$ID"
eq hold.not_delivered "$(rec "$(entry)" attempts)" "$a"
"$PS" -h "$ID" 2> "$T/ps"
eq hold.again_no_summary "$(cat "$T/ps")" ""
"$PS" -H ALL 2> "$T/ps"; RC=$?
expect_rc release.exit0 0
has_line release.summary "$T/ps" "postsuper: Released from hold: 1 message"
eq release.record "$(rec "$(entry)" hold)" ""
"$MAILQ" > "$T/mq"
grep -q "^$ID " "$T/mq" && pass release.mailq_no_bang || { fail release.mailq_no_bang; note "$(cat "$T/mq")"; }
nr=$(rec "$(entry)" next-retry)
[ "$nr" -gt "$(date +%s)" ] && pass requeue.was_waiting || fail requeue.was_waiting
echo "$ID" | "$PS" -r - 2> "$T/ps"; RC=$?
expect_rc requeue.exit0 0
has_line requeue.summary "$T/ps" "postsuper: Requeued: 1 message"
eq requeue.next_retry_zero "$(rec "$(entry)" next-retry)" 0
eq requeue.attempts_kept "$(rec "$(entry)" attempts)" "$a"
"$SM" -q
eq requeue.tried_by_next_run "$(rec "$(entry)" attempts)" $((a + 1))
# Busy: an entry whose lock someone holds is skipped with a warning.
"$PY" -c 'import fcntl, sys, time
f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); print("locked", flush=True); time.sleep(5)' "$(entry)" > "$T/lk" &
lk=$!
wait_for 3 grep -qs locked "$T/lk"
"$PS" -d "$ID" 2> "$T/ps"; RC=$?
grep -q "$ID: .*skipped" "$T/ps" && pass busy.warned || { fail busy.warned; note "$(cat "$T/ps")"; }
eq busy.kept "$(queue_count)" 1
kill "$lk" 2> /dev/null; wait "$lk" 2> /dev/null
"$PS" -d "$ID" 2> "$T/ps"; RC=$?
expect_rc delete.exit0 0
has_line delete.summary "$T/ps" "postsuper: Deleted: 1 message"
eq delete.gone "$(queue_count)" 0
grep -q "$ID: removed" "$T/maillog" && pass delete.logged || fail delete.logged
# ALL with several entries, and ids that are not there or not ids.
for i in 1 2 3; do printf 'Subject: x\n\n' | "$SM" -odq -f $U1@host.example.org u$i@remote.example; done
"$PS" -h ALL 2> "$T/ps"
has_line all.hold "$T/ps" "postsuper: Placed on hold: 3 messages"
eq all.mailq_three_bangs "$("$MAILQ" | grep -c '^[0-9A-F]*!')" 3
"$PS" -d 12345ABCDE -d 'not/an-id' 2> "$T/ps"; RC=$?
expect_rc absent.exit0 0
grep -q 'invalid mail queue id' "$T/ps" && pass absent.invalid_warned || fail absent.invalid_warned
"$PS" -d ALL 2> "$T/ps"
has_line all.delete "$T/ps" "postsuper: Deleted: 3 messages"
eq all.empty "$(queue_count)" 0
"$PS" 2> /dev/null; RC=$?
expect_rc usage.exit64 64

# ---- non-root: 77 and a clear line
chmod 755 "$SATMAIL_BIN" 2> /dev/null
su -s /bin/sh $U1 -c "'$PS' -d ALL" > "$T/out" 2> "$T/err"; RC=$?
expect_rc nonroot.exit77 77
one_err_line nonroot.message 'reserved for the superuser'

finish
