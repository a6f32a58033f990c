#!/usr/bin/env bash
# A hostile relay, played by tests/integration/smtpscript.py (a scripted
# SMTP/TLS peer that records everything it receives, decrypted included):
# SECURITY.md H-05 STARTTLS response injection, H-04 STARTTLS stripping,
# H-06 capability downgrade after TLS, H-07 port/mode confusion, H-10
# hostile AUTH, H-13 greeting and EHLO failures, B-14 a UTF-8 local part
# without SMTPUTF8, and F-07/H-12 a connection closed after the final dot.
# The transcript lines are "N C|S|E plain|tls TEXT" (see smtpscript.py).
# KEEP=DIR keeps a copy of the test directory (transcripts, maillog).
source "$(dirname "$0")/lib.sh"
# "SCRIPT | peer NAME": peer runs in this shell (it sets PD, PORT, PEER_PID).
shopt -s lastpipe
cleanup() { bg_stop_all; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

PKI=$T/pki
bash "$HERE/mkcerts.sh" "$PKI" || { echo "FAIL hostile.mkcerts"; exit 1; }
CERT="$PKI/localhost.pem $PKI/localhost.key"
SENDER=sender@example.org
RCPT=rcpt@remote.test
BASE=("smtp_connect_timeout = 5s" "smtp_helo_timeout = 5s" "smtp_mail_timeout = 5s"
	"smtp_rcpt_timeout = 5s" "smtp_data_init_timeout = 5s" "smtp_data_xfer_timeout = 5s"
	"smtp_data_done_timeout = 5s" "smtp_quit_timeout = 5s")
PW="h0st1le-$RANDOM-pw"
printf 'Subject: hostile test\n\nbody line\n' > "$T/msg"

# peer NAME [smtpscript options] < SCRIPT: starts the scripted peer; its
# transcript is $PD/tr, every received byte $PD/raw, its port $PORT
PEER_PID=
peer() {
	local name=$1; shift
	PD=$T/$name
	mkdir -p "$PD"
	cat > "$PD/script"
	bg_start "$name" "$PY" "$HERE/smtpscript.py" --port-file "$PD/port" --transcript "$PD/tr" \
		--raw "$PD/raw" --max-time 90 --accept-timeout 3 "$@" "$PD/script"
	PEER_PID=$BG_PID
	if ! wait_file "$PD/port" 10; then
		fail "$name.peer_started"; note "$(head -c 800 "$T/$name.err")"; PORT=1; return 1
	fi
	PORT=$(cat "$PD/port")
}
# settle: waits until every connection the peer took has finished, then
# stops the peer (it may still be waiting for a connection that never comes)
settle() {
	local i=0
	while [ $i -lt 200 ]; do
		[ "$(grep -c ' E connect ' "$PD/tr" 2> /dev/null)" -le "$(grep -c ' E done$' "$PD/tr" 2> /dev/null)" ] && break
		sleep 0.05; i=$((i + 1))
	done
	[ -z "$PEER_PID" ] || bg_stop "$PEER_PID"
	PEER_PID=
}
# fresh [main.cf lines...]: empty queue and log; relayhost = the peer
fresh() {
	reset_queue; : > "$T/maillog"
	write_conf "${BASE[@]}" "relayhost = [127.0.0.1]:$PORT" "$@"
}
# with_auth: main.cf lines for AUTH with alice:$PW at the peer
with_auth() {
	printf '[127.0.0.1]:%s alice:%s\n' "$PORT" "$PW" > "$T/sasl_passwd"
	printf '%s\n' "smtp_sasl_auth_enable = yes" "smtp_sasl_password_maps = texthash:$T/sasl_passwd" \
		"smtp_sasl_tls_security_options = noanonymous"
}
# deliver [RCPT]: queue $T/msg and deliver in the foreground; RC, ELAPSED,
# $T/out, $T/err, $T/mq (mailq); then settles the peer
deliver() {
	local start=$SECONDS
	timeout 100 "$SM" -odi -f "$SENDER" "${1:-$RCPT}" < "$T/msg" > "$T/out" 2> "$T/err"
	RC=$?
	ELAPSED=$((SECONDS - start))
	"$MAILQ" > "$T/mq" 2>&1
	settle
}
show() { note "maillog: $(tail -3 "$T/maillog" 2> /dev/null)" "transcript: $(tail -12 "$PD/tr" 2> /dev/null)"; }
expect_deferred() {	# expect_deferred NAME ERE
	local name=$1 re=$2
	if [ "$(queue_count)" -eq 1 ] && grep -Eq "to=<[^>]*>, relay=.*status=deferred \(.*$re" "$T/maillog"; then
		pass "$name.deferred"; else fail "$name.deferred"; note "queue $(queue_count), want deferred (...$re...)"; show; fi
	if grep -Eq "^ *\(.*$re.*\)$" "$T/mq"; then pass "$name.mailq_reason"; else
		fail "$name.mailq_reason"; note "mailq: $(cat "$T/mq")"; fi
}
expect_sent() {		# expect_sent NAME
	if [ "$(queue_count)" -eq 0 ] && grep -q "to=<$RCPT>, relay=127.0.0.1\[127.0.0.1\]:$PORT, .*status=sent (250" "$T/maillog"; then
		pass "$1"; else fail "$1"; note "queue $(queue_count)"; show; fi
}
tr_has() { if grep -Eq -- "$2" "$PD/tr" 2> /dev/null; then pass "$1"; else fail "$1"; note "no transcript line matching $2"; show; fi; }
# tr_lacks NAME ERE: no transcript line matches ERE (case-insensitive)
tr_lacks() {
	if grep -Eiq -- "$2" "$PD/tr" 2> /dev/null; then
		fail "$1"; note "unexpected transcript lines:" "$(grep -Ei -- "$2" "$PD/tr" | head -5)"
	else pass "$1"; fi
}
# no_secret NAME: the password (as is, base64, in a PLAIN blob) is not in
# what the peer received
no_secret() {
	local s hit=""
	for s in "$PW" "$(printf '%s' "$PW" | base64 -w0)" "$(printf '\0alice\0%s' "$PW" | base64 -w0)"; do
		grep -qF -- "$s" "$PD/raw" 2> /dev/null && hit=$s
	done
	if [ -z "$hit" ]; then pass "$1"; else fail "$1"; note "the peer received $hit"; fi
}
bounded() { if [ "$ELAPSED" -le "${2:-60}" ]; then pass "$1"; else fail "$1"; note "took ${ELAPSED}s"; fi; }
not_lost() {	# queued, or delivered, or bounced: the message is accounted for
	if [ "$(queue_count)" -ge 1 ] || grep -Eq 'status=(sent|bounced)' "$T/maillog"; then pass "$1"; else
		fail "$1"; note "queue empty and nothing sent or bounced"; show; fi
}

# ---- script pieces
ehlo_tls() {		# greeting, EHLO offering STARTTLS (and WORDS), the handshake
	echo 'send 220 peer.test ESMTP\r\n'
	echo 'expect EHLO'
	echo "send 250-peer.test\\r\\n250-SIZE 10000000\\r\\n${1:-}250 STARTTLS\\r\\n"
	echo 'expect STARTTLS'
	echo 'reply 220 2.0.0 go ahead'
	echo "starttls $CERT"
}
accept_rest() {		# MAIL .. QUIT, no pipelining
	printf '%s\n' 'expect MAIL' 'reply 250 2.1.0 ok' 'expect RCPT' 'reply 250 2.1.5 ok' \
		'expect DATA' 'reply 354 go' 'read-until-dot' 'reply 250 2.0.0 queued' 'expect QUIT' 'reply 221 bye'
}
any_ok() {		# 250 to whatever comes, until the client goes
	printf '%s\n' 'repeat 0' 'read-line' 'reply 250 2.0.0 ok' 'end'
}
tls_sink() {		# a well-behaved STARTTLS server (for DSNs)
	echo connection
	ehlo_tls
	echo 'expect EHLO'
	echo 'send 250-peer.test\r\n250 8BITMIME\r\n'
	accept_rest
}

# ---- H-05: STARTTLS response injection, whole lines and a fragment.
# The client aborts (deferred), or completes TLS, sends a fresh EHLO and
# uses only the post-TLS capabilities (no AUTH, no PIPELINING offered).
for v in lines fragment; do
	case $v in
	lines) inj='220 2.0.0 go\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n' ;;
	fragment) inj='220 2.0.0 go\r\n250-PIPELI' ;;
	esac
	{
		echo 'send 220 peer.test ESMTP\r\n'
		echo 'expect EHLO'
		echo 'send 250-peer.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n'
		echo 'expect STARTTLS'
		echo "send $inj"
		echo "starttls $CERT"
		echo 'expect EHLO'
		echo 'send 250-peer.test\r\n250 8BITMIME\r\n'
		echo 'expect MAIL'
		echo 'peek 1'
		echo 'reply 250 2.1.0 ok'
		printf '%s\n' 'expect RCPT' 'reply 250 2.1.5 ok' 'expect DATA' 'reply 354 go' 'read-until-dot' \
			'reply 250 2.0.0 queued' 'expect QUIT' 'reply 221 bye'
	} | peer "h05-$v"
	mapfile -t auth < <(with_auth)
	fresh "smtp_tls_security_level = encrypt" "${auth[@]}"
	deliver
	tr_has "h05.$v.connected" '^1 C plain EHLO '
	tr_lacks "h05.$v.no_auth" '^[0-9]+ C [a-z]+ AUTH'
	no_secret "h05.$v.no_credentials"
	if grep -q '^1 C tls MAIL' "$PD/tr"; then
		# continued: a fresh EHLO came first, and MAIL was not pipelined
		first=$(grep -nE '^1 (E tls-ok|C tls EHLO|C tls MAIL)' "$PD/tr" | cut -d' ' -f2- | tr '\n' '|')
		eq "h05.$v.fresh_ehlo_after_tls" "$first" "E tls-ok|C tls EHLO|C tls MAIL|"
		tr_has "h05.$v.mail_not_pipelined" '^1 E idle$'
		expect_sent "h05.$v.sent"
	else
		expect_deferred "h05.$v" "TLS|lost connection|protocol|unexpected"
		tr_lacks "h05.$v.no_mail" '^[0-9]+ C [a-z]+ MAIL'
	fi
done

# ---- H-04: STARTTLS stripping with level encrypt: no AUTH, no MAIL
for v in notoffered 454 502 500 close; do
	{
		case $v in
		notoffered)
			printf '%s\n' 'send 220 peer.test ESMTP\r\n' 'expect EHLO' \
				'send 250-peer.test\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING\r\n'
			any_ok ;;
		close)
			printf '%s\n' 'send 220 peer.test ESMTP\r\n' 'expect EHLO' \
				'send 250-peer.test\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n' 'expect STARTTLS' 'close' ;;
		*)
			printf '%s\n' 'send 220 peer.test ESMTP\r\n' 'expect EHLO' \
				'send 250-peer.test\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n' 'expect STARTTLS' \
				"reply $v 4.7.0 TLS not available now"
			any_ok ;;
		esac
	} | peer "h04-$v"
	mapfile -t auth < <(with_auth)
	fresh "smtp_tls_security_level = encrypt" "${auth[@]}"
	deliver
	expect_rc "h04.$v.exit0" 0
	case $v in
	notoffered) expect_deferred "h04.$v" "TLS is required, but was not offered by host 127\.0\.0\.1\[127\.0\.0\.1\]" ;;
	close) expect_deferred "h04.$v" "lost connection with 127\.0\.0\.1\[127\.0\.0\.1\]" ;;
	*) expect_deferred "h04.$v" "TLS is required, but host 127\.0\.0\.1\[127\.0\.0\.1\] refused to start TLS: $v" ;;
	esac
	tr_has "h04.$v.connected" '^1 C plain EHLO '
	tr_lacks "h04.$v.no_auth_no_mail" '^[0-9]+ C [a-z]+ (AUTH|MAIL|RCPT|DATA)'
	no_secret "h04.$v.no_credentials"
done

# ---- H-06: capabilities shrink after TLS
# (a) AUTH only before TLS: no credentials anywhere; not lost
{
	ehlo_tls '250-AUTH PLAIN LOGIN\r\n'
	echo 'expect EHLO'
	echo 'send 250-peer.test\r\n250 8BITMIME\r\n'
	accept_rest
} | peer h06-noauth
mapfile -t auth < <(with_auth)
fresh "smtp_tls_security_level = encrypt" "${auth[@]}"
deliver
tr_has h06.noauth.tls '^1 E tls-ok '
tr_lacks h06.noauth.no_auth '^[0-9]+ C [a-z]+ AUTH'
no_secret h06.noauth.no_credentials
not_lost h06.noauth.not_lost

# (b) SIZE 100 after TLS (10000000 before): bounced 5.3.4, no DATA
{
	ehlo_tls
	echo 'expect EHLO'
	echo 'send 250-peer.test\r\n250 SIZE 100\r\n'
	any_ok
	tls_sink
} | peer h06-size --connections 2
fresh "smtp_tls_security_level = encrypt"
deliver
tr_has h06.size.tls '^1 E tls-ok '
tr_lacks h06.size.no_data '^1 C [a-z]+ DATA'
if grep -Eq "to=<$RCPT>, relay=.*dsn=5\.3\.4, status=bounced \(message size [0-9]+ exceeds size limit 100 of server 127\.0\.0\.1\[127\.0\.0\.1\]\)" "$T/maillog"; then
	pass h06.size.bounced; else fail h06.size.bounced; show; fi
lacks_line_re h06.size.not_queued "$T/mq" "$RCPT"

# ---- H-07: mode confusion
# (a) implicit TLS configured, the server talks plaintext: never plaintext
{
	echo 'send 220 peer.test ESMTP plaintext\r\n'
	echo 'drain'
} | peer h07-plainserver --connections 2
fresh "smtp_tls_wrappermode = yes" "smtp_tls_security_level = encrypt"
deliver
tr_has h07.plainserver.connected '^1 E connect '
tr_lacks h07.plainserver.no_plaintext_commands '^[0-9]+ C plain (EHLO|HELO|AUTH|MAIL|RCPT|QUIT)'
expect_deferred h07.plainserver "TLS|SSL|handshake|lost connection"

# (b) STARTTLS configured, the server wants TLS from the first byte
{
	echo 'timeout 15'
	echo "starttls $CERT"
	echo 'drain'
} | peer h07-tlsserver
fresh "smtp_tls_security_level = encrypt"
deliver
tr_has h07.tlsserver.connected '^1 E connect '
tr_lacks h07.tlsserver.no_commands '^[0-9]+ C [a-z]+ (AUTH|MAIL|RCPT)'
expect_deferred h07.tlsserver "initial server greeting|timed out|lost connection"
bounded h07.tlsserver.bounded 40

# (c) handshake reset halfway: implicit TLS and after STARTTLS
printf '%s\n' 'read 10' 'reset' | peer h07-reset-implicit
fresh "smtp_tls_wrappermode = yes" "smtp_tls_security_level = encrypt"
deliver
tr_has h07.reset_implicit.reset '^1 E reset$'
expect_deferred h07.reset_implicit "TLS|SSL|handshake|lost connection|reset"
tr_lacks h07.reset_implicit.no_plaintext '^[0-9]+ C plain (EHLO|MAIL)'
{
	printf '%s\n' 'send 220 peer.test ESMTP\r\n' 'expect EHLO' 'send 250-peer.test\r\n250 STARTTLS\r\n' \
		'expect STARTTLS' 'reply 220 2.0.0 go ahead' 'read 10' 'reset'
} | peer h07-reset-starttls
fresh "smtp_tls_security_level = encrypt"
deliver
tr_has h07.reset_starttls.reset '^1 E reset$'
expect_deferred h07.reset_starttls "TLS|SSL|handshake|lost connection|reset"
tr_lacks h07.reset_starttls.no_mail '^[0-9]+ C [a-z]+ MAIL'

# ---- H-10: hostile AUTH after TLS (LOGIN offered: the server speaks first)
auth_peer() {	# auth_peer NAME: the script from stdin follows "AUTH LOGIN"
	local name=$1 rest
	rest=$(cat)
	{
		ehlo_tls
		echo 'expect EHLO'
		echo 'send 250-peer.test\r\n250 AUTH LOGIN\r\n'
		echo 'expect AUTH LOGIN'
		echo "$rest"
	} | peer "$name"
	mapfile -t auth < <(with_auth)
	fresh "smtp_tls_security_level = encrypt" "${auth[@]}"
	deliver
}
printf '%s\n' 'reply 334 %%%not*base64%%%' 'read-line' 'reply 501 5.7.0 aborted' 'drain' | auth_peer h10-badb64
expect_deferred h10.badb64 "SASL|AUTH|authentication"
bounded h10.badb64.bounded
tr_lacks h10.badb64.no_mail '^[0-9]+ C [a-z]+ MAIL'
no_secret h10.badb64.no_password

printf '%s\n' 'send 334 ' 'send-repeat 1048576 A' 'send \r\n' 'read-line' 'reply 501 5.7.0 aborted' 'drain' |
	auth_peer h10-huge
expect_deferred h10.huge "SASL|AUTH|authentication|too long"
bounded h10.huge.bounded
tr_lacks h10.huge.no_mail '^[0-9]+ C [a-z]+ MAIL'
no_secret h10.huge.no_password

printf '%s\n' 'timeout 8' 'repeat 0' 'send 334 VXNlcm5hbWU6\r\n' 'read-line' 'end' | auth_peer h10-loop
expect_deferred h10.loop "SASL|AUTH|authentication"
bounded h10.loop.bounded
n=$(grep -c '^1 C tls ' "$PD/tr")
if [ "$n" -le 40 ]; then pass h10.loop.steps_bounded; else fail h10.loop.steps_bounded; note "$n client lines"; fi
tr_lacks h10.loop.no_mail '^[0-9]+ C [a-z]+ MAIL'
# LOGIN answers the second challenge with the password whatever it says:
# once, inside TLS, is all the peer may get
n=$(grep -oF -- "$(printf '%s' "$PW" | base64 -w0)" "$PD/raw" | wc -l)
if [ "$n" -le 1 ]; then pass h10.loop.password_at_most_once; else fail h10.loop.password_at_most_once; note "sent $n times"; fi

{ echo 'reply 235 2.7.0 fine, whoever you are'; accept_rest; } | auth_peer h10-early235
bounded h10.early235.bounded
not_lost h10.early235.not_lost
no_secret h10.early235.no_password

{
	printf '%s\n' 'reply 334 VXNlcm5hbWU6' 'read-line' 'reply 334 UGFzc3dvcmQ6' 'read-line' \
		'reply 535 5.7.8 Authentication credentials invalid'
	any_ok
} | auth_peer h10-535
expect_deferred h10.535 "SASL authentication failed; server 127\.0\.0\.1\[127\.0\.0\.1\] said: 535 5\.7\.8"
tr_lacks h10.535.no_mail '^[0-9]+ C [a-z]+ MAIL'

# ---- H-13: greeting and EHLO failures
printf '%s\n' 'reply 554 5.3.2 no service for you' | { cat; any_ok; } | peer h13-554
fresh
deliver
tr_lacks h13.554.no_mail '^[0-9]+ C [a-z]+ MAIL'
not_lost h13.554.not_lost
if grep -Eq "status=(deferred|bounced) \(host 127\.0\.0\.1\[127\.0\.0\.1\] refused to talk to me: 554 5\.3\.2 no service for you\)" "$T/maillog"; then
	pass h13.554.reason; else fail h13.554.reason; show; fi

printf '%s\n' 'reply 421 4.3.2 too busy' 'drain' | peer h13-421
fresh
deliver
expect_deferred h13.421 "host 127\.0\.0\.1\[127\.0\.0\.1\] refused to talk to me: 421 4\.3\.2 too busy"

printf '%s\n' 'reset' | peer h13-reset
fresh
deliver
expect_deferred h13.reset "lost connection|reset|initial server greeting"

# EHLO refused -> HELO, and MAIL without ESMTP parameters
{
	printf '%s\n' 'send 220 peer.test ESMTP\r\n' 'expect EHLO' 'reply 502 5.5.2 EHLO not understood' \
		'expect HELO host\.example\.org$' 'reply 250 peer.test'
	accept_rest
} | peer h13-helo
fresh
deliver
expect_sent h13.helo.sent
tr_has h13.helo.used_helo '^1 C plain HELO host\.example\.org$'
tr_has h13.helo.plain_mail_from "^1 C plain MAIL FROM:<$SENDER>\$"

# EHLO refused with TLS required: HELO cannot STARTTLS -> deferred, no MAIL
{
	printf '%s\n' 'send 220 peer.test ESMTP\r\n' 'expect EHLO' 'reply 502 5.5.2 EHLO not understood' \
		'expect HELO' 'reply 250 peer.test'
	any_ok
} | peer h13-helo-tls
fresh "smtp_tls_security_level = encrypt"
deliver
expect_deferred h13.helo_tls "TLS is required|EHLO"
tr_lacks h13.helo_tls.no_mail '^[0-9]+ C [a-z]+ MAIL'

# EHLO error after STARTTLS -> deferred with the reply in the reason
{
	ehlo_tls
	printf '%s\n' 'expect EHLO' 'reply 554 5.7.0 not after TLS either'
	any_ok
} | peer h13-ehlo-after-tls
fresh "smtp_tls_security_level = encrypt"
deliver
expect_deferred h13.ehlo_after_tls "554 5\.7\.0 not after TLS either"
tr_lacks h13.ehlo_after_tls.no_mail '^[0-9]+ C [a-z]+ MAIL'

# ---- B-14: UTF-8 local part, no SMTPUTF8 offered: bounced 5.6.7, and
# the address never reaches the wire in another form
UTF8_RCPT=$(printf 'j\303\266rg@remote.test')
{
	printf '%s\n' 'send 220 peer.test ESMTP\r\n' 'expect EHLO' 'send 250-peer.test\r\n250-8BITMIME\r\n250 PIPELINING\r\n'
	any_ok
	echo connection
	printf '%s\n' 'send 220 peer.test ESMTP\r\n' 'expect EHLO' 'send 250-peer.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n'
	accept_rest
} | peer b14 --connections 2
fresh
deliver "$UTF8_RCPT"
expect_rc b14.accepted 0
if grep -Eq "to=<j.+rg@remote\.test>, relay=.*dsn=5\.6\.7, status=bounced \(SMTPUTF8 is required, but was not offered by host 127\.0\.0\.1\[127\.0\.0\.1\]\)" "$T/maillog"; then
	pass b14.bounced; else fail b14.bounced; show; fi
tr_lacks b14.no_smtputf8_param '^1 C [a-z]+ MAIL .*SMTPUTF8'
# (the bounce to the sender may reuse the same connection)
bad=$(grep -E '^1 C [a-z]+ RCPT' "$PD/tr" | grep -vF 'RCPT TO:<j\xc3\xb6rg@remote.test>' |
	grep -vF 'RCPT TO:<sender@example.org>')
if [ -z "$bad" ]; then pass b14.not_mangled; else fail b14.not_mangled; note "$bad"; fi

# ---- F-07 / H-12: the server closes after the final dot, before its reply
{
	printf '%s\n' 'send 220 peer.test ESMTP\r\n' 'expect EHLO' 'send 250-peer.test\r\n250 8BITMIME\r\n'
	printf '%s\n' 'expect MAIL' 'reply 250 2.1.0 ok' 'expect RCPT' 'reply 250 2.1.5 ok' \
		'expect DATA' 'reply 354 go' 'read-until-dot' 'close'
} | peer f07
fresh
deliver
tr_has f07.dot_received '^1 C plain \.$'
expect_deferred f07 "lost connection with 127\.0\.0\.1\[127\.0\.0\.1\]"
if grep -Eqi 'duplicate|more than once' "$T/maillog"; then pass f07.possible_duplicate_logged; else
	fail f07.possible_duplicate_logged; show; fi
# the next attempt (forced with -qI) delivers it, to a well-behaved peer
E=$(entry)
{ printf '%s\n' 'send 220 peer.test ESMTP\r\n' 'expect EHLO' 'send 250-peer.test\r\n250 8BITMIME\r\n'; accept_rest; } |
	peer f07-retry
write_conf "${BASE[@]}" "relayhost = [127.0.0.1]:$PORT"
if [ -n "$E" ]; then
	timeout 100 "$SM" -qI"$(basename "$E")" > "$T/out" 2> "$T/err"
	settle
	expect_sent f07.retry_sent
else
	settle; fail f07.retry_sent; note "no queue entry to retry"
fi
[ -n "${KEEP:-}" ] && cp -r "$T" "$KEEP"; finish
