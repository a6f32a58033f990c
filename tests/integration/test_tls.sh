#!/usr/bin/env bash
# TLS and AUTH towards a relayhost, against the aiosmtpd sink
# (tests/integration/smtpd.py) and the test PKI (mkcerts.sh).  Covers
# STARTTLS + AUTH PLAIN / LOGIN with a password map, the -v transcript
# masking AUTH, a wrong password (deferred, 535 shown, the password
# nowhere), XOAUTH2 through smtp_sasl_password_command, no AUTH in
# plaintext under the default security options, level encrypt against a
# server without STARTTLS (SECURITY.md H-04), level verify with the right
# and the wrong names and the H-08 certificate matrix, implicit TLS
# (smtp_tls_wrappermode and port 465).  KEEP=DIR keeps a copy of the test
# directory (sink logs and messages, maillog).
source "$(dirname "$0")/lib.sh"
cleanup() { bg_stop_all; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
chmod 755 "$T"	# the CA file stays readable if the client drops privileges

PKI=$T/pki
bash "$HERE/mkcerts.sh" "$PKI" || { echo "FAIL tls.mkcerts"; exit 1; }
SENDER=sender@example.org
RCPT=rcpt@remote.test
# Short client timeouts: a hung session fails a check instead of the run.
BASE=("smtp_connect_timeout = 5s" "smtp_helo_timeout = 5s" "smtp_mail_timeout = 5s"
	"smtp_rcpt_timeout = 5s" "smtp_data_init_timeout = 5s" "smtp_data_xfer_timeout = 5s"
	"smtp_data_done_timeout = 5s" "smtp_quit_timeout = 5s")

# sink NAME ARGS...: a fresh smtpd.py with ARGS; its files in $SD
# ($SD/log commands, $SD/msgs/msg-NNNN.eml messages); its port in $PORT.
SINK_PID=
sink() {
	local name=$1; shift
	SD=$T/$name
	mkdir -p "$SD"
	bg_start "$name" "$PY" "$HERE/smtpd.py" --port-file "$SD/port" --outdir "$SD/msgs" \
		--log "$SD/log" --max-time 240 "$@"
	SINK_PID=$BG_PID
	if ! wait_file "$SD/port" 10; then
		fail "$name.sink_started"; note "$(head -c 800 "$T/$name.err")"; PORT=1; return 1
	fi
	PORT=$(cat "$SD/port")
}
stop_sink() { [ -z "$SINK_PID" ] || bg_stop "$SINK_PID"; SINK_PID=; }

# fresh [main.cf lines...]: empty queue and log, config = BASE + lines
fresh() { reset_queue; : > "$T/maillog"; write_conf "${BASE[@]}" "$@"; }
# deliver [sendmail options...]: one small message to $RCPT, queued and
# delivered in the foreground; RC, $T/out, $T/err (the -v transcript)
deliver() {
	printf 'Subject: tls test\n\nbody line\n' > "$T/in"
	timeout 120 "$SM" -odi -f "$SENDER" "$@" "$RCPT" < "$T/in" > "$T/out" 2> "$T/err"
	RC=$?
	"$MAILQ" > "$T/mq" 2>&1
}
# passwd_map LINE...: $T/sasl_passwd (texthash) with these lines
passwd_map() { printf '%s\n' "$@" > "$T/sasl_passwd"; chmod 600 "$T/sasl_passwd"; }
msg_count() { find "$SD/msgs" -name 'msg-*.eml' 2> /dev/null | wc -l; }
msg1() { echo "$SD/msgs/msg-0001.eml"; }
show() { note "maillog: $(tail -3 "$T/maillog" 2> /dev/null)" "stderr: $(head -c 600 "$T/err")"; }

# expect_sent NAME: exit 0, entry gone, status=sent logged, one message at the sink
expect_sent() {
	if [ "$RC" -eq 0 ] && [ "$(queue_count)" -eq 0 ] && [ "$(msg_count)" -eq 1 ] &&
		grep -q "to=<$RCPT>, relay=.*, dsn=2\.[0-9.]*, status=sent (250" "$T/maillog"; then
		pass "$1"
	else
		fail "$1"; note "exit $RC, queue $(queue_count), sink messages $(msg_count)"; show
	fi
}
# expect_deferred NAME ERE: still queued, logged deferred and shown by
# mailq with a reason matching ERE, nothing reached the sink
expect_deferred() {
	local name=$1 re=$2
	if [ "$(queue_count)" -eq 1 ] && [ "$(msg_count)" -eq 0 ]; then pass "$name.queued"; else
		fail "$name.queued"; note "queue $(queue_count), sink messages $(msg_count)"; fi
	if grep -Eq "to=<$RCPT>, relay=.*status=deferred \(.*$re" "$T/maillog"; then pass "$name.log_reason"; else
		fail "$name.log_reason"; note "want status=deferred (...$re...)"; show; fi
	if grep -Eq "^ *\(.*$re.*\)$" "$T/mq"; then pass "$name.mailq_reason"; else
		fail "$name.mailq_reason"; note "mailq: $(cat "$T/mq")"; fi
}
# sink_saw NAME ERE: some command line in the sink's log matches ERE
sink_saw() {
	if grep -Eq -- "$2" "$SD/log" 2> /dev/null; then pass "$1"; else
		fail "$1"; note "no line matching $2 in the sink log:" "$(head -20 "$SD/log" 2> /dev/null)"; fi
}
# sink_never NAME ERE: no line of the sink's log matches ERE (case-insensitive)
sink_never() {
	if grep -Eiq -- "$2" "$SD/log" 2> /dev/null; then
		fail "$1"; note "unexpected sink log lines:" "$(grep -Ei -- "$2" "$SD/log" | head -5)"
	else pass "$1"; fi
}
# nowhere NAME STRING...: none of the STRINGs in maillog, mailq, sendmail's
# stdout/stderr (-v) or any file under the queue
nowhere() {
	local name=$1 s hit=""; shift
	for s in "$@"; do
		[ -n "$s" ] || continue
		hit=$(grep -rlF -- "$s" "$T/maillog" "$T/mq" "$T/out" "$T/err" "$T/queue" 2> /dev/null)
		[ -z "$hit" ] || break
	done
	if [ -z "$hit" ]; then pass "$name"; else fail "$name"; note "secret $(printf '%q' "$s") found in: $hit"; fi
}
b64() { printf '%s' "$1" | base64 -w0; }
b64z() { printf "\\0%s\\0%s" "$1" "$2" | base64 -w0; }	# AUTH PLAIN blob

CA=$PKI/ca.pem
TLSARGS() { echo --starttls "$PKI/$1.pem" "$PKI/$1.key"; }

# ---- STARTTLS + AUTH PLAIN: delivered over TLS as alice; -v masks AUTH
PW1="pl41n-$RANDOM-pw"
sink plain $(TLSARGS localhost) --auth "alice:$PW1" --auth-mechs PLAIN
passwd_map "[127.0.0.1]:$PORT alice:$PW1"
fresh "relayhost = [127.0.0.1]:$PORT" "smtp_tls_security_level = encrypt" \
	"smtp_sasl_auth_enable = yes" "smtp_sasl_password_maps = texthash:$T/sasl_passwd" \
	"smtp_sasl_tls_security_options = noanonymous"
deliver -v
expect_sent plain.sent
check plain.sink_tls grep -qx 'X-Sink-TLS: yes TLSv1\.[23]' "$(msg1)"
check plain.sink_identity grep -qx 'X-Sink-Auth: alice' "$(msg1)"
sink_saw plain.auth_after_tls '^1 tls AUTH PLAIN'
sink_never plain.no_plaintext_auth '^[0-9]+ plain AUTH'
grep -q "TLS connection established to 127.0.0.1\[127.0.0.1\]:$PORT: TLSv1\.[23] with cipher" "$T/maillog" &&
	pass plain.tls_logged || { fail plain.tls_logged; show; }
check plain.v_masked grep -qF "AUTH PLAIN ********" "$T/err"
nowhere plain.secret_nowhere "$PW1" "$(b64 "$PW1")" "$(b64z alice "$PW1")"
stop_sink

# ---- STARTTLS + AUTH LOGIN (the only mechanism offered)
PW2="l0g1n-$RANDOM-pw"
sink login $(TLSARGS localhost) --auth "bob@example.org:$PW2" --auth-mechs LOGIN
passwd_map "[127.0.0.1]:$PORT bob@example.org:$PW2"
fresh "relayhost = [127.0.0.1]:$PORT" "smtp_tls_security_level = encrypt" \
	"smtp_sasl_auth_enable = yes" "smtp_sasl_password_maps = texthash:$T/sasl_passwd" \
	"smtp_sasl_tls_security_options = noanonymous"
deliver -v
expect_sent login.sent
check login.sink_tls grep -qx 'X-Sink-TLS: yes TLSv1\.[23]' "$(msg1)"
check login.sink_identity grep -qx 'X-Sink-Auth: bob@example.org' "$(msg1)"
sink_saw login.auth_login '^1 tls AUTH LOGIN'
check login.v_masked grep -Eq '(^|: )> [^ ]+: \*{8}$' "$T/err"
nowhere login.secret_nowhere "$PW2" "$(b64 "$PW2")" "$(b64 bob@example.org)"
stop_sink

# ---- wrong password: deferred with the 535 text, no MAIL, password nowhere
PW3="wr0ng-$RANDOM-pw"
sink badpw $(TLSARGS localhost) --auth "alice:right-one" --auth-mechs PLAIN
passwd_map "[127.0.0.1]:$PORT alice:$PW3"
fresh "relayhost = [127.0.0.1]:$PORT" "smtp_tls_security_level = encrypt" \
	"smtp_sasl_auth_enable = yes" "smtp_sasl_password_maps = texthash:$T/sasl_passwd" \
	"smtp_sasl_tls_security_options = noanonymous"
deliver -v
expect_rc badpw.exit0 0
expect_deferred badpw "SASL authentication failed; server 127\.0\.0\.1\[127\.0\.0\.1\] said: 535 5\.7\.8"
sink_saw badpw.auth_tried '^1 tls AUTH PLAIN'
sink_never badpw.no_mail '^[0-9]+ [a-z]+ MAIL'
nowhere badpw.secret_nowhere "$PW3" "$(b64 "$PW3")" "$(b64z alice "$PW3")"
# a queue run later tries again and still does not leak it
timeout 120 "$SM" -q > "$T/out" 2> "$T/err"; "$MAILQ" > "$T/mq" 2>&1
nowhere badpw.secret_nowhere_after_retry "$PW3" "$(b64 "$PW3")" "$(b64z alice "$PW3")"
# H-10: a refused password is not tried again for every message of a run
# (no lockout, no storm): three queued messages, one forced run, one AUTH
for i in 1 2 3; do printf 'Subject: again %s\n\nbody\n' "$i" | "$SM" -odq -f "$SENDER" "$RCPT"; done
auths_before=$(grep -c ' AUTH ' "$SD/log")
"$PY" - "$T/queue/queue" <<'PYEOF'
import os, re, sys
d = sys.argv[1]
for name in os.listdir(d):
	p = os.path.join(d, name)
	data = open(p, 'rb').read()
	head, sep, body = data.partition(b'\n\n')
	head = re.sub(rb'(?m)^next-retry: [0-9]+', b'next-retry: 0', head)
	open(p, 'wb').write(head + sep + body)
PYEOF
timeout 120 "$SM" -q > "$T/out" 2> "$T/err"
eq badpw.one_auth_per_run "$(( $(grep -c ' AUTH ' "$SD/log") - auths_before ))" 1
eq badpw.all_still_queued "$(queue_count)" 4
stop_sink

# ---- XOAUTH2: the token from smtp_sasl_password_command; the filter
# picks XOAUTH2 although PLAIN is offered too
TOKEN="ya29.tok-$RANDOM-en"
sink xoauth $(TLSARGS localhost) --auth "carol@example.org:plain-pw" \
	--xoauth2 "carol@example.org:$TOKEN" --auth-mechs "PLAIN XOAUTH2"
passwd_map "[127.0.0.1]:$PORT carol@example.org:not-the-token"
fresh "relayhost = [127.0.0.1]:$PORT" "smtp_tls_security_level = encrypt" \
	"smtp_sasl_auth_enable = yes" "smtp_sasl_password_maps = texthash:$T/sasl_passwd" \
	"smtp_sasl_tls_security_options = noanonymous" "smtp_sasl_mechanism_filter = xoauth2" \
	"smtp_sasl_password_command = echo $TOKEN"
deliver -v
expect_sent xoauth2.sent
sink_saw xoauth2.mechanism '^1 tls AUTH XOAUTH2'
sink_saw xoauth2.token_accepted '^1 event auth-ok XOAUTH2 carol@example.org$'
check xoauth2.sink_identity grep -qx 'X-Sink-Auth: carol@example.org' "$(msg1)"
nowhere xoauth2.token_nowhere "$TOKEN" "$(printf 'user=carol@example.org\001auth=Bearer %s\001\001' "$TOKEN" | base64 -w0)"
stop_sink

# ---- XOAUTH2 with a token command and no password map: the envelope
# sender is the user name (satmail.conf(5), smtp_sasl_password_command)
TOKEN2="ya29.nomap-$RANDOM"
sink xoauth_nomap $(TLSARGS localhost) --xoauth2 "$SENDER:$TOKEN2" --auth-mechs "XOAUTH2"
fresh "relayhost = [127.0.0.1]:$PORT" "smtp_tls_security_level = encrypt" \
	"smtp_sasl_auth_enable = yes" "smtp_sasl_mechanism_filter = xoauth2" \
	"smtp_sasl_password_command = echo $TOKEN2"
deliver -v
expect_sent xoauth2_nomap.sent
sink_saw xoauth2_nomap.token_accepted "^1 event auth-ok XOAUTH2 $SENDER\$"
nowhere xoauth2_nomap.token_nowhere "$TOKEN2"
stop_sink

# ---- AUTH offered only in plaintext, default security options (noplaintext):
# no credentials are sent; the message is delivered without AUTH or stays
# queued, never lost
PW4="n0pl41n-$RANDOM-pw"
sink noplain --auth "alice:$PW4"
passwd_map "[127.0.0.1]:$PORT alice:$PW4"
fresh "relayhost = [127.0.0.1]:$PORT" "smtp_sasl_auth_enable = yes" \
	"smtp_sasl_password_maps = texthash:$T/sasl_passwd"
deliver -v
expect_rc noplain.exit0 0
sink_saw noplain.connected '^1 plain EHLO '
sink_never noplain.no_auth '^[0-9]+ [a-z]+ AUTH'
n=$(( $(queue_count) + $(msg_count) ))
if [ "$n" -eq 1 ]; then pass noplain.not_lost; else fail noplain.not_lost; note "queue $(queue_count) sink $(msg_count)"; fi
[ "$(msg_count)" -eq 0 ] || check noplain.sent_without_auth grep -qx 'X-Sink-Auth: none' "$(msg1)"
nowhere noplain.secret_nowhere "$PW4" "$(b64z alice "$PW4")"
stop_sink

# ---- level may against a STARTTLS server: TLS is used
sink may $(TLSARGS localhost)
fresh "relayhost = [127.0.0.1]:$PORT"
deliver
expect_sent may.sent
check may.sink_tls grep -qx 'X-Sink-TLS: yes TLSv1\.[23]' "$(msg1)"
stop_sink

# ---- H-04: level encrypt, the server does not offer STARTTLS: no MAIL
sink notls
fresh "relayhost = [127.0.0.1]:$PORT" "smtp_tls_security_level = encrypt"
deliver
expect_rc notls.exit0 0
expect_deferred notls "TLS is required, but was not offered by host 127\.0\.0\.1\[127\.0\.0\.1\]"
sink_saw notls.connected '^1 plain EHLO '
sink_never notls.no_mail '^[0-9]+ [a-z]+ MAIL'
stop_sink

# ---- level verify with the right name and the test CA: Verified
sink verify $(TLSARGS localhost) --host 127.0.0.1 --host ::1
fresh "relayhost = [localhost]:$PORT" "smtp_tls_security_level = verify" "smtp_tls_CAfile = $CA"
deliver
expect_sent verify.sent
check verify.sink_tls grep -qx 'X-Sink-TLS: yes TLSv1\.[23]' "$(msg1)"
grep -Eq "Verified TLS connection established to localhost\[(127\.0\.0\.1|::1)\]:$PORT: TLSv1\.[23]" "$T/maillog" &&
	pass verify.logged_verified || { fail verify.logged_verified; show; }
stop_sink

# ---- level secure, the same server; and a chain with its intermediate
sink secure $(TLSARGS localhost) --host 127.0.0.1 --host ::1
fresh "relayhost = [localhost]:$PORT" "smtp_tls_security_level = secure" "smtp_tls_CAfile = $CA"
deliver
expect_sent secure.sent
stop_sink
sink chain $(TLSARGS chain) --host 127.0.0.1 --host ::1
fresh "relayhost = [localhost]:$PORT" "smtp_tls_security_level = verify" "smtp_tls_CAfile = $CA"
deliver
expect_sent chain.with_intermediate_sent
stop_sink

# ---- the right certificate but no trust anchor for it (system store only)
sink nocafile $(TLSARGS localhost) --host 127.0.0.1 --host ::1
fresh "relayhost = [localhost]:$PORT" "smtp_tls_security_level = verify"
deliver
expect_deferred verify_no_cafile "server certificate not verified"
sink_never verify_no_cafile.no_mail '^[0-9]+ [a-z]+ MAIL'
stop_sink

# ---- H-08 certificate matrix at level verify: each deferred with the
# OpenSSL reason, MAIL never sent.  CN-only: no fallback to the CN
# (SECURITY.md H-08; X509_CHECK_FLAG_NEVER_CHECK_SUBJECT).
MATRIX=(
	"wrongname|hostname mismatch"
	"expired|certificate has expired"
	"notyet|certificate is not yet valid"
	"selfsigned|self.signed certificate"
	"rogue|unable to get local issuer certificate"
	"nochain|unable to get local issuer certificate"
	"cnonly|hostname mismatch"
	"wildcard|hostname mismatch"
	"star|hostname mismatch"
	"iponly|hostname mismatch"
	"nulcn|hostname mismatch"
	"nulsan|hostname mismatch"
)
for m in "${MATRIX[@]}"; do
	c=${m%%|*} why=${m#*|}
	if [ ! -f "$PKI/$c.pem" ]; then note "h08.$c: no certificate (mkcerts could not make it): skipped"; continue; fi
	sink "h08-$c" $(TLSARGS "$c") --host 127.0.0.1 --host ::1
	fresh "relayhost = [localhost]:$PORT" "smtp_tls_security_level = verify" "smtp_tls_CAfile = $CA"
	deliver
	expect_deferred "h08.$c" "server certificate not verified: $why"
	sink_saw "h08.$c.starttls_tried" '^1 plain STARTTLS'
	sink_never "h08.$c.no_mail" '^[0-9]+ [a-z]+ (MAIL|RCPT|DATA)'
	stop_sink
done

# ---- implicit TLS: smtp_tls_wrappermode = yes
sink wrapper --implicit-tls "$PKI/localhost.pem" "$PKI/localhost.key" --host 127.0.0.1 --host ::1
fresh "relayhost = [localhost]:$PORT" "smtp_tls_wrappermode = yes" \
	"smtp_tls_security_level = verify" "smtp_tls_CAfile = $CA"
deliver
expect_sent wrapper.sent
check wrapper.sink_tls grep -qx 'X-Sink-TLS: yes TLSv1\.[23]' "$(msg1)"
sink_never wrapper.no_starttls '^[0-9]+ [a-z]+ STARTTLS'
stop_sink

# ---- implicit TLS chosen by port 465 alone (needs root to bind 465)
A465=127.0.0.46
if [ "$(id -u)" = 0 ] && "$PY" -c "import socket,sys; s=socket.socket(); s.bind(('$A465', 465))" 2> /dev/null; then
	sink port465 --implicit-tls "$PKI/localhost.pem" "$PKI/localhost.key" --host "$A465" --port 465
	fresh "relayhost = [$A465]:465" "smtp_tls_security_level = encrypt"
	deliver
	expect_sent port465.sent
	[ "$(msg_count)" -eq 0 ] || check port465.sink_tls grep -qx 'X-Sink-TLS: yes TLSv1\.[23]' "$(msg1)"
	stop_sink
else
	note "port465: skipped (cannot bind $A465:465: not root or in use); no check counted"
fi
[ -n "${KEEP:-}" ] && cp -r "$T" "$KEEP"
finish
