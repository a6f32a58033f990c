#!/usr/bin/env bash
# Remote delivery through a relayhost, against servers started here on
# loopback: Postfix's smtp-sink (it dumps each message), a recording proxy
# in front of it (the exact bytes the client sends; RST/FIN fault
# injection) and the small ESMTP server of sinkcheck.py (per-recipient
# replies, 452 after 100 RCPTs).  Covers the message content, dot-stuffing,
# CRLF, long lines, 8BITMIME, PIPELINING, one transaction for many
# recipients, per-recipient 4xx/5xx, lost connections and SECURITY.md
# B-01, B-03, B-04, B-13, B-14 (UTF-8 local part) and F-07.  sinkcheck.py
# documents how a delivered message is compared with the submitted one
# (added headers, line folds).  About 10 s with a working client.
source "$(dirname "$0")/lib.sh"
SINK=/usr/sbin/smtp-sink
if [ ! -x $SINK ]; then echo "FAIL smtp.needs_smtp_sink (Debian package postfix)"; exit 1; fi
trap 'bg_stop_all; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
chmod 711 "$T"	# smtp-sink runs as nobody and writes its dumps below $T
SINK_USER=()
[ "$(id -u)" = 0 ] && SINK_USER=(-u nobody)
SENDER=sender@example.org

SC() { "$PY" "$HERE/sinkcheck.py" "$@"; }
# sc NAME ARGS...: passes when sinkcheck.py ARGS succeeds; its output on failure
sc() {
	local name=$1; shift
	if SC "$@" > "$T/sc.out" 2>&1; then pass "$name"; else
		fail "$name"; sed 's/^/  #   /' "$T/sc.out" | head -20
	fi
}
# logged NAME ERE: a maillog line matches ERE
logged() {
	if grep -Eq -- "$2" "$T/maillog" 2> /dev/null; then pass "$1"; else
		fail "$1"; note "no maillog line matching $2; last lines:"
		tail -4 "$T/maillog" 2> /dev/null | cut -c1-400 | sed 's/^/  #   /'
	fi
}
# start_sink NAME PORT [OPTION...]: smtp-sink on 127.0.0.1:PORT dumping
# into $T/NAME.d; its pid in BG_PID
start_sink() {
	local name=$1 port=$2; shift 2
	mkdir -p "$T/$name.d" && chmod 777 "$T/$name.d"
	bg_start "$name" $SINK "${SINK_USER[@]}" -d "$T/$name.d/%H%M%S." "$@" 127.0.0.1:"$port" 64
	wait_port 127.0.0.1 "$port" || { fail "harness.$name.listens"; cat "$T/$name.err"; }
}
# start_py NAME KIND OPTION...: sinkcheck.py proxy or server recording into
# $T/NAME.w; its port in PORT, pid in BG_PID
start_py() {
	local name=$1 kind=$2; shift 2
	rm -rf "$T/$name.w" "$T/$name.port"
	bg_start "$name" "$PY" "$HERE/sinkcheck.py" "$kind" --port-file "$T/$name.port" \
		--record "$T/$name.w" "$@"
	wait_file "$T/$name.port" || { fail "harness.$name.listens"; cat "$T/$name.err"; }
	PORT=$(cat "$T/$name.port")
}
dump_count() { find "$T/$1.d" -type f | wc -l; }
# the_dump NAME: the only dump of sink NAME (waits a little for it)
the_dump() {
	[ "$(queue_count)" -ne 0 ] || wait_for 2 test "$(dump_count "$1")" -ge 1
	[ "$(dump_count "$1")" -eq 1 ] && find "$T/$1.d" -type f
}
clear_sink() { rm -f "$T/$1.d"/*; }
clear_wire() { rm -f "$T/$1.w"/*; }
BASE=("minimal_backoff_time = 0s" "maximal_backoff_time = 0s"
	"smtp_connect_timeout = 5s" "smtp_helo_timeout = 10s" "smtp_mail_timeout = 10s"
	"smtp_rcpt_timeout = 10s" "smtp_data_init_timeout = 10s" "smtp_data_xfer_timeout = 10s"
	"smtp_data_done_timeout = 10s" "smtp_quit_timeout = 5s")
relay() { write_conf "${BASE[@]}" "relayhost = [127.0.0.1]:$1"; }
# delivered CASE RCPT SINK PORT: the usual outcome of one sm -odi to RCPT:
# exit 0, nothing left queued, "status=sent" logged, and the one dump of
# SINK equals the submitted $T/in
delivered() {
	local c=$1 rcpt=$2 sink=$3 port=$4 d
	expect_rc "$c.exit0" 0
	eq "$c.queue_empty" "$(queue_count)" 0
	logged "$c.logged_sent" "to=<$rcpt>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$port, .*dsn=2\.[0-9]+\.[0-9]+, status=sent \(250"
	d=$(the_dump "$sink")
	if [ -n "$d" ]; then sc "$c.sink_copy_intact" compare "$T/in" "$d"; else
		fail "$c.sink_copy_intact"; note "$(dump_count "$sink") dumps at $sink"; fi
}
# fresh: an empty queue, no dumps at s1, no recorded connections at w
fresh() { reset_queue; clear_sink s1; clear_wire w; }
# long_line N: N octets of a repeating pattern, no white space
long_line() {
	"$PY" -c 'import sys; n = int(sys.argv[1]); p = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
sys.stdout.buffer.write((p * (n // len(p) + 1))[:n])' "$1"
}

# ---- the servers: smtp-sink s1 and the recording proxy w in front of it
P1=$(free_port)
start_sink s1 "$P1"
start_py w proxy --upstream 127.0.0.1:"$P1"
WP=$PORT

# ---- harness self-check with Python's smtplib (no satmail involved)
SC probe 127.0.0.1:"$WP" probe@example.org probe@remote.test > "$T/probe.out" 2>&1
grep -q pipelining "$T/probe.out" && grep -q 8bitmime "$T/probe.out" && pass harness.sink_offers_pipelining_8bitmime ||
	{ fail harness.sink_offers_pipelining_8bitmime; cat "$T/probe.out"; }
d=$(the_dump s1)
check harness.sink_dumps_probe grep -q '^probe body$' "${d:-/dev/null}"
sc harness.proxy_records_probe wire "$T/w.w" --connections 1 --transactions 1 --crlf --body-has "probe body"

# ---- sendmail -odi of a 2 KB message, straight to smtp-sink
fresh; relay "$P1"
{ printf 'From: Sender <sender@example.org>\nTo: odi@remote.test\nSubject: odi\n'
  printf 'Date: Mon, 2 Feb 2026 10:00:00 +0000\nMessage-Id: <odi.1@example.org>\n\n'
  for i in $(seq 40); do printf 'line %02d of a two kilobyte message, padded out to be long .....\n' "$i"; done
} > "$T/in"
sm -odi -f $SENDER odi@remote.test < "$T/in"
delivered odi odi@remote.test s1 "$P1"
logged odi.log_shape "^.*: to=<odi@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$P1, delay=[0-9.]+, delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, dsn=2\.0\.0, status=sent \(250 2\.0\.0 Ok"
d=$(the_dump s1)
check odi.mail_from_envelope grep -qxE 'X-Mail-Args: <sender@example\.org>( .*)?' "${d:-/dev/null}"
check odi.rcpt_to_envelope grep -qxE 'X-Rcpt-Args: <odi@remote\.test>( .*)?' "${d:-/dev/null}"

# From here on the client talks to the proxy, which records every byte.
relay "$WP"

# ---- content arrives intact (LF input; satmail adds From, Date, Message-Id)
fresh
{ printf 'Subject: intact\nTo: Someone <intact@remote.test>\nX-Folded: first part\n\tsecond part\n'
  printf 'X-Empty:\n\nbody line 1\n\ttab-indented line\ntrailing spaces   \n'
  printf 'From the start of a line\n>quoted\n\n\nafter two empty lines\n'
  long_line 998; printf '\nlast line\n'
} > "$T/in"
sm -odi -f $SENDER intact@remote.test < "$T/in"
delivered intact intact@remote.test s1 "$WP"
sc intact.wire_crlf_only wire "$T/w.w" --crlf
sc intact.wire_one_transaction wire "$T/w.w" --connections 1 --transactions 1
if SC wire "$T/w.w" --expect "$T/in" > "$T/sc.out" 2>&1; then
	pass intact.wire_content_exact
	if grep -q '^folds:' "$T/sc.out"; then fail intact.998_octet_line_not_folded; cat "$T/sc.out"; else
		pass intact.998_octet_line_not_folded; fi
else
	fail intact.wire_content_exact; sed 's/^/  #   /' "$T/sc.out" | head
	fail intact.998_octet_line_not_folded
fi
d=$(the_dump s1)
for h in From Date Message-Id; do
	check "intact.added_$h" grep -qi "^$h: " "${d:-/dev/null}"
done

# ---- the same with CRLF input
fresh
sed 's/$/\r/' "$T/in" > "$T/in.crlf" && mv "$T/in.crlf" "$T/in"
sm -odi -f $SENDER intact-crlf@remote.test < "$T/in"
delivered intact_crlf intact-crlf@remote.test s1 "$WP"
sc intact_crlf.wire_crlf_only wire "$T/w.w" --crlf --expect "$T/in"

# ---- dot-stuffing round trip (-i: a lone "." is text)
fresh
printf 'Subject: dots\n\n.\n..\n.x\n...\n. \nx.\nend\n.\n' > "$T/in"
sm -odi -i -f $SENDER dots@remote.test < "$T/in"
delivered dots dots@remote.test s1 "$WP"
# wire --expect removes one leading dot per wire line: an unstuffed ".x"
# would come back as "x" and fail; an unstuffed "." would end the data.
sc dots.wire_stuffed wire "$T/w.w" --transactions 1 --crlf --expect "$T/in"

# ---- B-04 long lines: folded to <= 1000 octets with CRLF, bytes all there
for n in 999 2000 10000 1000000; do
	fresh
	{ printf 'Subject: long %s\n\nbefore\n' $n; long_line $n; printf '\nafter\n'; } > "$T/in"
	sm -odi -f $SENDER "long$n@remote.test" < "$T/in"
	delivered "b04.line_$n" "long$n@remote.test" s1 "$WP"
	sc "b04.line_$n.wire_max_1000" wire "$T/w.w" --maxline 1000 --crlf
	sc "b04.line_$n.wire_joins_back" wire "$T/w.w" --expect "$T/in"
	[ $n = 2000 ] && note "fold style at 2000 octets: $(cat "$T/sc.out")"
done

# ---- B-04 no final newline; empty message
fresh
printf 'Subject: no newline\n\nlast line without newline' > "$T/in"
sm -odi -f $SENDER nonl@remote.test < "$T/in"
delivered b04.no_final_newline nonl@remote.test s1 "$WP"
sc b04.no_final_newline.wire wire "$T/w.w" --transactions 1 --crlf --expect "$T/in"
fresh
: > "$T/in"
sm -odi -f $SENDER empty@remote.test < "$T/in"
delivered b04.empty empty@remote.test s1 "$WP"
sc b04.empty.wire wire "$T/w.w" --transactions 1 --crlf
d=$(the_dump s1)
check b04.empty.has_from_header grep -q '^From: ' "${d:-/dev/null}"

# ---- 8-bit body: BODY=8BITMIME when offered
fresh
printf 'Subject: 8bit\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncaf\303\251 \342\202\254 \377\376 raw\n' > "$T/in"
sm -odi -f $SENDER eight@remote.test < "$T/in"
delivered b03.8bit eight@remote.test s1 "$WP"
d=$(the_dump s1)
check b03.8bit.body_8bitmime grep -qE '^X-Mail-Args: .* BODY=8BITMIME' "${d:-/dev/null}"
sc b03.8bit.wire_crlf wire "$T/w.w" --crlf --expect "$T/in"

# ---- 8-bit body to a server without 8BITMIME: sent as is, with a warning
P2=$(free_port)
start_sink s2 "$P2" -8
relay "$P2"; reset_queue
sm -odi -f $SENDER eight-no@remote.test < "$T/in"
delivered b03.8bit_no8bitmime eight-no@remote.test s2 "$P2"
d=$(the_dump s2)
if [ -n "$d" ] && ! grep -q '^X-Mail-Args: .*BODY=' "$d"; then pass b03.8bit_no8bitmime.no_body_param; else
	fail b03.8bit_no8bitmime.no_body_param; grep '^X-Mail-Args' "${d:-/dev/null}"; fi
if grep -Eiq 'warning.*8-?bit|8-?bit.*warning' "$T/maillog"; then pass b03.8bit_no8bitmime.warning_logged; else
	fail b03.8bit_no8bitmime.warning_logged; note "no warning about 8-bit content in the maillog"; fi
relay "$WP"

# ---- B-03 NUL: refused at submission with 65, nothing queued
fresh
printf 'Subject: nul\n\nab\0cd\n' > "$T/in"
sm -f $SENDER nul@remote.test < "$T/in"
expect_rc b03.nul_body.exit65 65
one_err_line b03.nul_body.one_line_why 'NUL'
eq b03.nul_body.nothing_queued "$(queue_count)" 0
printf 'Subject: a\0b\n\nx\n' > "$T/in"
sm -f $SENDER nul@remote.test < "$T/in"
expect_rc b03.nul_header.exit65 65
eq b03.nul_header.nothing_queued "$(queue_count)" 0

# ---- 30 recipients: one connection, one transaction, PIPELINING (-v)
fresh
printf 'Subject: thirty\n\nto thirty people\n' > "$T/in"
rcpts=$(seq -f 'r%02g@remote.test' 1 30)
sm -odi -v -f $SENDER $rcpts < "$T/in"
expect_rc rcpt30.exit0 0
eq rcpt30.queue_empty "$(queue_count)" 0
eq rcpt30.all_sent_logged "$(grep -cE 'to=<r[0-9]{2}@remote\.test>, .*status=sent' "$T/maillog")" 30
d=$(the_dump s1)
eq rcpt30.one_message_30_rcpts "$(grep -c '^X-Rcpt-Args: ' "${d:-/dev/null}")" 30
sc rcpt30.one_connection_one_transaction wire "$T/w.w" --connections 1 --transactions 1
sc rcpt30.wire_pipelined wire "$T/w.w" --pipelining
# -v: every "> ... RCPT TO" and the "> ... DATA" come before the first "<"
# line after "> ... MAIL FROM" (a "PROGRAM: " prefix on the lines is allowed)
order=$(awk '{ sub(/^[a-z][a-z-]*: /, "") }
	/^> [^ ]+: MAIL FROM:/ && !m { m = 1; next }
	m && /^< / { exit }
	m && /^> [^ ]+: RCPT TO:/ { r++ }
	m && /^> [^ ]+: DATA\r?$/ { d++ }
	END { print r + 0, d + 0 }' "$T/err")
eq rcpt30.transcript_pipelined "$order" "30 1"
check rcpt30.transcript_ehlo grep -qE '^([a-z][a-z-]*: )?> 127\.0\.0\.1\[127\.0\.0\.1\]:'"$WP"': EHLO host\.example\.org' "$T/err"

# ---- B-01 smuggling: bare CR/LF around a dot, then fake commands
payloads=(lf_dot_lf '\n.\n' lf_dot_crlf '\n.\r\n' crlf_dot_lf '\r\n.\n' cr_dot_cr '\r.\r'
	crlf_dot_crcrlf '\r\n.\r\r\n' lone_cr '\r')
for ((i = 0; i < ${#payloads[@]}; i += 2)); do
	c=b01.${payloads[i]}
	fresh
	{ printf 'Subject: smuggle\n\nbefore'; printf '%b' "${payloads[i + 1]}"
	  printf 'MAIL FROM:<evil@evil.test>\r\nRCPT TO:<victim@evil.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nowned\r\n.\r\nafter\n'
	} > "$T/in"
	sm -odi -i -f $SENDER smuggle@remote.test < "$T/in"
	expect_rc "$c.exit0" 0
	eq "$c.queue_empty" "$(queue_count)" 0
	sc "$c.one_transaction" wire "$T/w.w" --connections 1 --transactions 1
	sc "$c.wire_crlf_only" wire "$T/w.w" --crlf
	sc "$c.fake_commands_are_body" wire "$T/w.w" --expect "$T/in" --body-has "RCPT TO:<victim@evil.test>"
	eq "$c.sink_rcpts" "$(SC dumps "$T/s1.d" | cut -f3 | tr '\n' ' ')" "<smuggle@remote.test> "
done

# ---- B-14 UTF-8 local part, server without SMTPUTF8 (smtp-sink): a
# bounce with a reason, never the raw bytes in a command
fresh
printf 'Subject: utf8\n\nhello\n' > "$T/in"
sm -odi -f $SENDER 'jösé@remote.test' < "$T/in"
expect_rc b14.utf8_local.exit0 0
logged b14.utf8_local.bounced "to=<j[^>]*@remote\.test>, .*dsn=5\.6\.7, status=bounced \(SMTPUTF8 is required, but was not offered by host 127\.0\.0\.1\[127\.0\.0\.1\]\)"
sm -q	# the DSN may have been queued rather than sent at once
eq b14.utf8_local.queue_empty "$(queue_count)" 0
if cat "$T/w.w"/*.c2s 2> /dev/null | LC_ALL=C grep -aqE $'^(MAIL FROM|RCPT TO):.*[\x80-\xff]'; then
	fail b14.utf8_local.no_8bit_in_commands; else pass b14.utf8_local.no_8bit_in_commands; fi
SC dumps "$T/s1.d" | cut -f2,3 | sed 's/ [A-Z]*=[^\t]*//g' | sort > "$T/b14"
eq b14.utf8_local.sink_got_only_the_dsn "$(tr '\t\n' '|;' < "$T/b14")" "<>|<sender@example.org>;"

# ---- per-recipient replies: 4xx defers, 5xx bounces only that recipient
start_py ps server \
	--reject 'defer1@remote.test|450 4.2.0 <defer1@remote.test>: Recipient address rejected: Try again later|1' \
	--reject 'bounce1@remote.test|550 5.1.1 <bounce1@remote.test>: Recipient address rejected: User unknown|0'
PS=$PORT
SC probe 127.0.0.1:"$PS" probe@example.org probe@remote.test > "$T/probe.out" 2>&1
check harness.pyserver_accepts grep -q "^1 1 <probe@example.org> probe@remote.test " <(SC txns "$T/ps.w")
rm -rf "$T/ps.w"/*
relay "$PS"; reset_queue
printf 'Subject: soft\n\nsoft reject\n' > "$T/in"
sm -odi -f $SENDER ok1@remote.test defer1@remote.test ok2@remote.test < "$T/in"
expect_rc rcpt4xx.exit0 0
logged rcpt4xx.others_sent "to=<ok2@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$PS, .*status=sent"
logged rcpt4xx.deferred_with_reply "to=<defer1@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$PS, .*dsn=4\.2\.0, status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 450 4\.2\.0 <defer1@remote\.test>: Recipient address rejected: Try again later \(in reply to RCPT TO command\)\)"
eq rcpt4xx.entry_stays "$(queue_count)" 1
"$MAILQ" 2>&1 | tr -s ' \n' '  ' > "$T/mq"	# one line: mailq folds long reasons
if grep -q 'defer1@remote.test' "$T/mq" && ! grep -q 'ok1@remote.test' "$T/mq" &&
	grep -qF '(host 127.0.0.1[127.0.0.1] said: 450 4.2.0 <defer1@remote.test>' "$T/mq"; then pass rcpt4xx.mailq_only_deferred; else
	fail rcpt4xx.mailq_only_deferred; sed 's/^/  #   /' "$T/mq"; fi
eq rcpt4xx.first_transaction "$(SC txns "$T/ps.w" | cut -d' ' -f3,4)" "<sender@example.org> ok1@remote.test,ok2@remote.test"
sm -q
eq rcpt4xx.retry_empties_queue "$(queue_count)" 0
eq rcpt4xx.retry_only_deferred "$(SC txns "$T/ps.w" | sed -n 2p | cut -d' ' -f4)" "defer1@remote.test"
eq rcpt4xx.no_bounce "$(grep -cE 'to=<(ok1|ok2|defer1)@remote\.test>.*status=bounced' "$T/maillog")" 0

rm -rf "$T/ps.w"/*; reset_queue
printf 'Subject: hard\n\nhard reject\n' > "$T/in"
sm -odi -f $SENDER ok3@remote.test bounce1@remote.test < "$T/in"
expect_rc rcpt5xx.exit0 0
logged rcpt5xx.other_sent "to=<ok3@remote\.test>, .*status=sent"
logged rcpt5xx.bounced_with_reply "to=<bounce1@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$PS, .*dsn=5\.1\.1, status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 <bounce1@remote\.test>: Recipient address rejected: User unknown \(in reply to RCPT TO command\)\)"
eq rcpt5xx.first_transaction "$(SC txns "$T/ps.w" | head -1 | cut -d' ' -f3,4)" "<sender@example.org> ok3@remote.test"
sm -q	# the DSN may have been queued rather than sent at once
eq rcpt5xx.queue_empty "$(queue_count)" 0
dsn=$(SC txns "$T/ps.w" | awk '$3 == "<>" && $4 == "sender@example.org" { print $5 }' | head -1)
if [ -n "$dsn" ]; then pass rcpt5xx.dsn_sent_from_null_sender; else
	fail rcpt5xx.dsn_sent_from_null_sender; SC txns "$T/ps.w" | sed 's/^/  #   /'; fi
for l in 'Status: 5.1.1' 'Action: failed' 'Final-Recipient: rfc822; bounce1@remote.test'; do
	check "rcpt5xx.dsn_has_${l%%:*}" grep -qiF -- "$l" "${dsn:-/dev/null}"
done
check rcpt5xx.dsn_is_rfc3464 grep -q 'report-type=delivery-status' "${dsn:-/dev/null}"
if [ -n "$dsn" ] && ! grep -qi 'Final-Recipient: rfc822; ok3@' "$dsn"; then pass rcpt5xx.dsn_not_for_delivered; else
	fail rcpt5xx.dsn_not_for_delivered; fi

# ---- B-13 length limits
relay "$PS"; rm -rf "$T/ps.w"/*; reset_queue
printf 'Subject: path\n\nlong path\n' > "$T/in"
lp=$(printf 'l%.0s' $(seq 64)); dl=$(printf 'd%.0s' $(seq 61))
longaddr=$lp@$dl.$dl.$dl.$dl.test	# 317 octets: over the 256-octet path limit
sm -odi -f $SENDER "$longaddr" < "$T/in"
sm -q
# Sent whole, refused or bounced are all fine; a truncated RCPT never is
# (the server accepts any address, so a truncated one would show here).
note "317-octet path: exit $RC, $(grep -o 'status=[a-z]*' "$T/maillog" | tail -1)"
SC txns "$T/ps.w" --rcpts > "$T/rcpts"
if grep -qvxF -e "$longaddr" -e "$SENDER" "$T/rcpts"; then
	fail b13.long_path_not_truncated; sed 's/^/  #   /' "$T/rcpts"; else pass b13.long_path_not_truncated; fi
if grep -q "to=<$longaddr>, .*status=sent" "$T/maillog"; then
	check b13.long_path_sent_whole grep -qxF "$longaddr" "$T/rcpts"; fi
reset_queue
sm -f $SENDER "l${lp}@remote.test" < "$T/in"
expect_rc b13.local_part_65_arg_exit64 64
printf 'To: l%s@remote.test\n\nx\n' "$lp" > "$T/in"
sm -t -f $SENDER < "$T/in"
expect_rc b13.local_part_65_header_exit65 65
eq b13.over_long_nothing_queued "$(queue_count)" 0

# 10,000 recipients against a server that answers 452 after 100 RCPTs.
start_py lim server --rcpt-limit 100
LP=$PORT
relay "$LP"; reset_queue
printf 'Subject: many\n\nmany recipients\n' > "$T/in"
start=$SECONDS
sm -odi -f $SENDER $(seq -f 'm%05g@remote.test' 1 10000) < "$T/in"
expect_rc b13.rcpt10000.exit0 0
runs=1
while [ "$(queue_count)" -gt 0 ] && [ $runs -lt 110 ] && [ $((SECONDS - start)) -lt 40 ]; do
	timeout 30 "$SM" -q > /dev/null 2>&1; runs=$((runs + 1))
done
SC txns "$T/lim.w" > "$T/lim.txns"
note "10,000 recipients: $runs delivery runs, $(wc -l < "$T/lim.txns") transactions, $(find "$T/lim.w" -name '*.c2s' | wc -l) connections, $((SECONDS - start)) s"
eq b13.rcpt10000.queue_empty "$(queue_count)" 0
SC txns "$T/lim.w" --rcpts | sort > "$T/acc"
eq b13.rcpt10000.all_accepted "$(sort -u "$T/acc" | grep -cE '^m[0-9]{5}@remote\.test$')" 10000
eq b13.rcpt10000.no_duplicates "$(uniq -d "$T/acc" | wc -l)" 0
eq b13.rcpt10000.all_sent_logged "$(grep -cE 'to=<m[0-9]{5}@remote\.test>, .*status=sent' "$T/maillog")" 10000
eq b13.rcpt10000.none_bounced "$(grep -cE 'to=<m[0-9]{5}@remote\.test>, .*status=bounced' "$T/maillog")" 0
bg_stop "$BG_PID"

# ---- the server drops the connection in DATA: deferred, intact, retried
P3=$(free_port)
for q in DATA .; do
	c=drop_${q/./dot}
	start_sink s3 "$P3" -q "$q"; bad=$BG_PID
	relay "$P3"; reset_queue; clear_sink s3
	printf 'Subject: dropped\n\nthe server hangs up at %s\n' "$q" > "$T/in"
	sm -odi -f $SENDER "$c@remote.test" < "$T/in"
	expect_rc "$c.exit0" 0
	eq "$c.stays_queued" "$(queue_count)" 1
	logged "$c.deferred" "to=<$c@remote\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$P3, .*status=deferred \(lost connection with 127\.0\.0\.1\[127\.0\.0\.1\]"
	entry_message "$(entry)" > "$T/qmsg"
	sc "$c.queue_copy_intact" compare "$T/in" "$T/qmsg"
	bg_stop $bad
	start_sink s3 "$P3"; good=$BG_PID
	clear_sink s3
	sm -q
	delivered "$c.retry" "$c@remote.test" s3 "$P3"
	eq "$c.never_bounced" "$(grep -c "to=<$c@remote.test>.*status=bounced" "$T/maillog")" 0
	bg_stop $good
done

# ---- F-07: RST or FIN after 1 octet, 1 KiB and 1 MiB of DATA (proxy)
"$PY" -c 'import sys
w = sys.stdout.write
w("Subject: big\n\n")
for i in range(21000):
    w("%06d " % i + "x" * 92 + "\n")' > "$T/big"
for mode in rst fin; do
	for n in 1 1024 1048576; do
		c=f07.${mode}_$n rcpt=f07-$mode-$n@remote.test
		start_py fp proxy --upstream 127.0.0.1:"$P1" --fault $mode --after $n; fp=$BG_PID
		relay "$PORT"; reset_queue; clear_sink s1
		cp "$T/big" "$T/in"
		sm -odi -f $SENDER "$rcpt" < "$T/in"
		expect_rc "$c.exit0" 0
		eq "$c.stays_queued" "$(queue_count)" 1
		logged "$c.deferred" "to=<$rcpt>, .*status=deferred \("
		logged "$c.reason_lost_connection" "to=<$rcpt>, .*status=deferred \(lost connection with 127\.0\.0\.1\[127\.0\.0\.1\]"
		entry_message "$(entry)" > "$T/qmsg"
		sc "$c.queue_copy_intact" compare "$T/in" "$T/qmsg"
		clear_sink s1
		sm -q
		delivered "$c.retry" "$rcpt" s1 "$PORT"
		eq "$c.never_bounced" "$(grep -c "to=<$rcpt>.*status=bounced" "$T/maillog")" 0
		bg_stop $fp
	done
done
finish
