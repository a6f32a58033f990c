#!/usr/bin/env bash
# Delivery of queue entries: local mailboxes through satmail-local,
# sendmail -odi / -odb / -q, unknown users and bounces, alias commands
# and files (root-started runs only), entry removal and log lines.
# Needs root (test users, mailbox ownership); CI is root.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ]; then echo "FAIL deliver.needs_root (run as root)"; exit 1; fi

U1=satmaildlv1 U2=satmaildlv2
for u in $U1 $U2; do
	getent passwd $u > /dev/null || useradd -M -N -s /usr/sbin/nologin $u
done
cleanup_users() { for u in $U1 $U2; do userdel $u 2> /dev/null; done; rm -rf "$T"; }
trap cleanup_users EXIT
SPOOL=$T/spool
mkdir -p "$SPOOL" && chown root:mail "$SPOOL" && chmod 2775 "$SPOOL"
chmod 755 "$T"
OUT=$T/out.d; mkdir -p "$OUT"; chmod 1777 "$OUT"
cat > "$T/aliases" <<AL
root: $U1
team: $U1, $U2
cmd: "|/bin/sh -c 'cat > $OUT/cmd.out; echo \$SENDER > $OUT/cmd.sender'"
failcmd: "|echo no such list; exit 1"
tempcmd: "|exit 75"
tofile: $OUT/file.mbox
AL
write_conf "mail_spool_directory = $SPOOL" "mydestination = host.example.org, localhost" \
	"alias_maps = cdb:$T/aliases" "alias_database = cdb:$T/aliases" \
	"myorigin = host.example.org"
"$SATMAIL_BIN/newaliases" || fail deliver.newaliases

mbox_count() { grep -c '^From ' "$SPOOL/$1" 2>/dev/null || echo 0; }

# ---- -odi: foreground delivery into the user's mailbox, created as needed
printf 'Subject: one\n\nFrom here\nbody\n' | "$SM" -odi -f alice@example.net $U1; RC=$?
expect_rc odi.exit0 0
eq odi.mailbox_created "$(stat -c '%U:%G %a' "$SPOOL/$U1" 2>/dev/null)" "$U1:mail 660"
eq odi.one_message "$(mbox_count $U1)" 1
has_line odi.from_line "$SPOOL/$U1" "$(grep -m1 '^From ' "$SPOOL/$U1" | grep -E '^From alice@example.net  [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [0-9]{4}$')"
has_line odi.return_path "$SPOOL/$U1" "Return-Path: <alice@example.net>"
has_line odi.delivered_to "$SPOOL/$U1" "Delivered-To: $U1@host.example.org"
has_line odi.from_quoted "$SPOOL/$U1" ">From here"
eq odi.ends_with_empty_line "$(tail -c 2 "$SPOOL/$U1" | od -An -c | tr -d ' ')" '\n\n'
eq odi.entry_removed "$(queue_count)" 0
has_line odi.log_sent "$T/maillog" "$(grep -m1 "status=sent (delivered to mailbox)" "$T/maillog")"
if grep -Eq ": to=<$U1@host.example.org>, relay=local, delay=[0-9.]+, delays=[0-9.]+/0/0/[0-9.]+, dsn=2.0.0, status=sent \(delivered to mailbox\)" "$T/maillog"; then
	pass odi.log_shape; else fail odi.log_shape; note "$(cat "$T/maillog")"; fi
grep -q ': removed$' "$T/maillog" && pass odi.log_removed || fail odi.log_removed

# ---- aliases: root -> U1, team -> both; Delivered-To is the pre-alias address
printf 'Subject: two\n\nhi\n' | "$SM" -odi -f alice@example.net root team; RC=$?
expect_rc alias.exit0 0
eq alias.u1_has_two_more "$(mbox_count $U1)" 2
eq alias.u2_has_one "$(mbox_count $U2)" 1
has_line alias.delivered_to_root "$SPOOL/$U1" "Delivered-To: root@host.example.org"
has_line alias.x_original_to "$SPOOL/$U1" "X-Original-To: root@host.example.org"

# ---- unknown local user: exit 67 with -odi, a DSN to the (local) sender
printf 'Subject: three\n\nlost\n' | "$SM" -odi -f $U2@host.example.org nosuchuser; RC=$?
expect_rc unknown.exit67 67
grep -q 'dsn=5.1.1, status=bounced (<nosuchuser@host.example.org>: User unknown in local recipient table)' "$T/maillog" && pass unknown.log_bounced ||
	{ fail unknown.log_bounced; note "$(tail -5 "$T/maillog")"; }
eq unknown.bounce_delivered_to_sender "$(mbox_count $U2)" 2
has_line unknown.bounce_subject "$SPOOL/$U2" "Subject: Undelivered Mail Returned to Sender"
has_line unknown.bounce_null_sender "$SPOOL/$U2" "Return-Path: <>"
grep -q 'report-type=delivery-status' "$SPOOL/$U2" && pass unknown.bounce_is_dsn || fail unknown.bounce_is_dsn
has_line unknown.bounce_status "$SPOOL/$U2" "Status: 5.1.1"
eq unknown.queue_empty "$(queue_count)" 0

# ---- -N success: a success DSN for a local delivery
printf 'Subject: notify\n\nx\n' | "$SM" -odi -N success -f $U2@host.example.org $U1; RC=$?
has_line success.dsn_delivered "$SPOOL/$U2" "Subject: Successful Mail Delivery Report"
has_line success.action "$SPOOL/$U2" "Action: delivered"

# ---- a bounce of a bounce goes to postmaster, never to <>
printf 'Subject: four\n\nx\n' | "$SM" -odi -f '<>' nosuchuser2; RC=$?
grep -q 'postmaster' "$T/maillog" && pass double_bounce.to_postmaster || fail double_bounce.to_postmaster
eq double_bounce.queue_drains "$(queue_count)" 0

# ---- -odq then -q; -odb returns at once and delivers in the background
before=$(mbox_count $U2)
printf 'Subject: five\n\nq\n' | "$SM" -odq $U2; RC=$?
expect_rc odq.exit0 0
eq odq.still_queued "$(queue_count)" 1
"$SM" -q; RC=$?
expect_rc q.exit0 0
eq q.delivered "$(mbox_count $U2)" $((before + 1))
eq q.queue_empty "$(queue_count)" 0
printf 'Subject: six\n\nb\n' | "$SM" -odb $U2; RC=$?
expect_rc odb.exit0 0
has_count() { [ "$(mbox_count $U2)" -eq "$1" ]; }
wait_for 10 has_count $((before + 2)) && pass odb.delivered || { fail odb.delivered; note "$(tail -4 "$T/maillog")" "$(mbox_count $U2) vs $before"; }
# A caller reading our stdout/stderr through a pipe sees EOF at once.
start=$(date +%s%N)
printf 'Subject: seven\n\nb\n' | "$SM" -odb $U2 2>&1 | cat > /dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$ms" -lt 3000 ] && pass odb.pipe_eof_at_once || { fail odb.pipe_eof_at_once; note "${ms} ms"; }

# ---- alias command and file: run by a root-started run, as nobody
printf 'Subject: eight\n\ncommand body\n' | "$SM" -odi -f bob@example.net cmd tofile; RC=$?
expect_rc cmd.exit0 0
has_line cmd.ran_with_message "$OUT/cmd.out" "command body"
has_line cmd.sender_env "$OUT/cmd.sender" "bob@example.net"
eq cmd.output_owner "$(stat -c %U "$OUT/cmd.out" 2>/dev/null)" nobody
has_line file.appended "$OUT/file.mbox" "command body"
eq file.owner "$(stat -c %U "$OUT/file.mbox" 2>/dev/null)" nobody
printf 'Subject: nine\n\nx\n' | "$SM" -odi -f $U2@host.example.org failcmd; RC=$?
grep -q 'status=bounced (command .*failed with exit status 1: no such list)' "$T/maillog" &&
	pass cmd.failure_bounces || { fail cmd.failure_bounces; note "$(grep failcmd -A1 "$T/maillog" | tail -3)"; }
printf 'Subject: ten\n\nx\n' | "$SM" -odi tempcmd; RC=$?
eq cmd.temp_stays_queued "$(queue_count)" 1
"$MAILQ" > "$T/mq"
grep -q 'temporary failure' "$T/mq" && pass cmd.mailq_reason || { fail cmd.mailq_reason; cat "$T/mq"; }
rm -rf "$T/queue"

# ---- a non-root run leaves command recipients queued
printf 'Subject: eleven\n\nx\n' | "$SM" -odq cmd; RC=$?
# Let $U1 run this queue as the satmail group would: the queue's group
# (entries stay 0640: a world-writable entry is refused as not the queue's)
chgrp -R "$(id -gn $U1)" "$T/queue"
find "$T/queue" -type d -exec chmod g+rwx {} +
chmod a+rw "$T/maillog"
runuser -u $U1 -- env SATMAIL_CONFIG="$T/main.cf" "$SATMAIL_BIN/sendmail" -q; RC=$?
eq nonroot.command_waits "$(queue_count)" 1
finish
