#!/usr/bin/env bash
# sendmail -bs: the SMTP dialogue on stdin/stdout, driven by Python's
# smtplib over a socketpair (bsclient.py); each accepted DATA must be one
# queue entry made by the -bm intake path.
. "$(dirname "$0")/lib.sh"

# bs SCENARIO: runs one scenario; its key=value lines in $T/bs
bs() { "$PY" "$HERE/bsclient.py" "$SM" "$1" > "$T/bs" 2> "$T/bs.err"; }
# val KEY: a value from the last scenario
val() { sed -n "s/^$1=//p" "$T/bs" | head -1; }

# ---------------------------------------------------------------- basic
reset_queue
bs basic
eq greeting "$(val greet)" "220 host.example.org ESMTP satmail"
eq ehlo.code "$(val ehlo)" 250
eq ehlo.caps "$(val caps)" "8BITMIME DSN ENHANCEDSTATUSCODES PIPELINING SIZE SMTPUTF8"
eq ehlo.size "$(val size)" 10240000
eq mail "$(val mail)" 250
eq rcpt.both "$(val rcpt1) $(val rcpt2)" "250 250"
check data.queued_reply grep -Eq '^data=250 2\.0\.0 Ok: queued as [0-9A-F]+$' "$T/bs"
eq quit "$(val quit)" 221
eq exit "$(val exit)" 0
E=$(entry)
check entry.one [ -n "$E" ]
check entry.well_formed QE check "$E"
eq entry.rcpts "$(QE rcpts "$E" | sort | tr '\n' ' ')" "bob@example.net carol@example.com "
eq entry.sender "$(QE get "$E" sender)" "alice@example.org"
id=$(val data | sed 's/.* //')
eq entry.id "$(basename "$E")" "$id"
QE msg "$E" > "$T/msg"
has_line unstuffed.leading_dot "$T/msg" ".leading dot"
has_line unstuffed.lone_dot "$T/msg" "."
# smtplib sent "...two dots": one dot removed
has_line unstuffed.two_dots "$T/msg" "..two dots"
lacks_line_re unstuffed.no_triple "$T/msg" '^\.\.\.'
has_line msg.subject "$T/msg" "Subject: bs test"
check msg.received grep -q "^Received: from client.example" "$T/msg"
check msg.message_id grep -q "^Message-Id: <.*@host.example.org>" "$T/msg"
check msg.date grep -q "^Date: " "$T/msg"
check msg.lf_stored sh -c "! grep -q \$'\r' '$T/msg'"
"$MAILQ" > "$T/mq" 2>&1
check mailq.lists_id grep -q "^$id" "$T/mq"
check mailq.lists_rcpt grep -q "bob@example.net" "$T/mq"

# ---------------------------------------------------------------- bad RCPT
reset_queue
bs badrcpt
eq badrcpt.501 "$(val bad)" "501 b'5.1.3 Bad recipient address syntax'"
eq badrcpt.good_250 "$(val good)" 250
eq badrcpt.data_250 "$(val data)" 250
E=$(entry)
eq badrcpt.only_good "$(QE rcpts "$E")" "bob@example.net"

# ---------------------------------------------------------------- two messages
reset_queue
bs two
eq two.replies "$(val data1) $(val rset1) $(val data2) $(val rset2)" "250 250 250 250"
eq two.entries "$(queue_count)" 2
eq two.rcpts "$(for f in "$T"/queue/queue/*; do QE rcpts "$f"; done | sort | tr '\n' ' ')" \
    "m1@example.net m2@example.net "

# ---------------------------------------------------------------- sequencing and errors
reset_queue
bs sequence
eq seq.mail_before_helo "$(val mail_before_helo)" 503
eq seq.data_before_rcpt "$(val data_first)" "503 b'5.5.1 Error: need RCPT command'"
eq seq.rcpt_before_mail "$(val rcpt_first)" 503
eq seq.nested_mail "$(val nested)" 503
eq seq.data_no_valid_rcpt "$(val data_norcpt)" 554
eq seq.noop "$(val noop)" 250
eq seq.vrfy "$(val vrfy)" 252
eq seq.help "$(val help)" 214
eq seq.unknown "$(val unknown)" "502 b'5.5.2 Error: command not recognized'"
eq seq.starttls "$(val starttls)" 502
eq seq.line_too_long "$(val long)" "500 b'5.5.2 Error: line too long'"
eq seq.unknown_param "$(val param)" 555
eq seq.bad_notify "$(val notify)" 501
eq seq.utf8_undeclared "$(val utf8_undeclared)" 553
eq seq.utf8_declared "$(val utf8_declared)" 250
eq seq.size_over_limit "$(val bigsize)" 552
eq seq.quit "$(val quit)" 221
eq seq.nothing_queued "$(queue_count)" 0

# ---------------------------------------------------------------- EOF in DATA
reset_queue
bs eof
eq eof.354 "$(val 354)" 354
eq eof.no_reply "$(val after)" nothing
eq eof.exit "$(val exit)" 0
eq eof.nothing_queued "$(queue_count)" 0
eq eof.no_tmp_left "$(tmp_count)" 0

# ---------------------------------------------------------------- LF-only client
reset_queue
bs lf
eq lf.codes "$(val codes)" "250 250 250 354 250 221"	# after the greeting
eq lf.replies_crlf "$(val crlf)" True
E=$(entry)
check lf.queued [ -n "$E" ]
[ -n "$E" ] && { QE msg "$E" > "$T/msg"; has_line lf.unstuffed "$T/msg" ".x"; }

# ---------------------------------------------------------------- size limit at the dot
reset_queue
write_conf "message_size_limit = 2000"
{ printf 'EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: big\r\n\r\n'
  for i in $(seq 100); do printf '%080d\r\n' "$i"; done
  printf '.\r\nQUIT\r\n'; } > "$T/big"
"$SM" -bs < "$T/big" > "$T/out" 2> "$T/err"
check size.552_after_dot grep -q $'^552 5.3.4 .*\r$' "$T/out"
check size.quit_answered grep -q $'^221 ' "$T/out"
eq size.nothing_queued "$(queue_count)" 0
write_conf

finish
