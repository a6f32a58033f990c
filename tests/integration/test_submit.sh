#!/usr/bin/env bash
# Submission: recipients (-t, Resent-, merge), input rules (dot, CRLF, CR,
# From_), headers added, envelope sender, exit statuses, configuration
# errors, option parsing and argument injection (SECURITY.md B-02, B-08,
# B-10, B-11).
. "$(dirname "$0")/lib.sh"
unset NAME
ME=$(id -un)
# the full name Postfix takes from the gecos field ('&' = login capitalised)
gecos=$(getent passwd "$ME" | cut -d: -f5 | cut -d, -f1)
gecos=${gecos//&/$(sed 's/./\U&/' <<< "$ME")}
between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
none_exist() { local f; for f; do [ ! -e "$f" ] || return 1; done; }

E=""
# submit NAME INPUT ARGS...: fresh queue, one submission that must be
# queued (exit 0, exactly one well-formed entry); E = the entry,
# $T/msg = its message, $T/hdr = its header section.
submit() {
	local name=$1; shift
	reset_queue
	smi "$@"
	E=$(entry)
	if [ "$RC" -eq 0 ] && [ -n "$E" ] && QE check "$E" > /dev/null; then
		pass "$name"
		QE msg "$E" > "$T/msg"
		QE headers "$E" > "$T/hdr"
	else
		fail "$name"; note "exit $RC, entries $(queue_count); stderr: $(head -c 400 "$T/err")"
		[ -n "$E" ] && QE check "$E"
		: > "$T/msg"; : > "$T/hdr"
	fi
}
# refused NAME WANT_RC INPUT ARGS...: the submission exits WANT_RC, prints
# one line on stderr, and leaves no entry and no temporary file.
refused() {
	local name=$1 want=$2; shift 2
	reset_queue
	smi "$@"
	expect_rc "$name" "$want"
	eq "$name.nothing_queued" "$(queue_count)" 0
	eq "$name.no_tmp_file" "$(tmp_count)" 0
	one_err_line "$name.one_stderr_line"
}
rcpts_sorted() { QE rcpts "$E" | LC_ALL=C sort | tr '\n' ' '; }
body() { awk 'b { print; next } /^$/ { b = 1 }' "$T/msg"; }

# ---------------------------------------------------------------- -t
submit t_basic $'To: bob, "Carol X" <carol@x.org>\nCc: dave@y.org\nBcc: eve@z.org\nSubject: hi\n\nhello\n' -t
eq t_basic.rcpts "$(rcpts_sorted)" "bob@example.org carol@x.org dave@y.org eve@z.org "
lacks_line_re t_basic.no_bcc_line "$T/msg" '^Bcc:'
eq t_basic.bcc_addr_nowhere_in_message "$(grep -c 'eve@z.org' "$T/msg")" 0
has_line t_basic.to_qualified "$T/msg" 'To: bob@example.org, "Carol X" <carol@x.org>'
has_line t_basic.cc_kept "$T/msg" 'Cc: dave@y.org'
eq t_basic.body "$(body)" "hello"

# B-08: groups, comments, quoted local parts with commas, encoded words,
# folded To:/Cc:, Bcc (folded).
submit b08_extract $'To: friends: a@x.org, "B Person" <b@x.org>;,\n c@x.org (Comment, with comma),\n\t"d,e"@x.org\nCc: =?UTF-8?Q?F=C3=BCr?= <f@x.org>,\n "g h"@x.org\nBcc: undisclosed: h@x.org;,\n i@x.org\nSubject: b08\n\nbody\n' -t
eq b08_extract.rcpts "$(rcpts_sorted)" '"d,e"@x.org "g h"@x.org a@x.org b@x.org c@x.org f@x.org h@x.org i@x.org '
lacks_line_re b08_extract.no_bcc "$T/msg" '^Bcc:'
lacks_line_re b08_extract.no_bcc_continuation "$T/msg" '^ i@x\.org$'
has_line b08_extract.folded_to_kept "$T/msg" $'\t"d,e"@x.org'
has_line b08_extract.cc_kept "$T/msg" 'Cc: =?UTF-8?Q?F=C3=BCr?= <f@x.org>,'
eq b08_extract.h_nowhere "$(grep -c 'h@x.org\|i@x.org' "$T/msg")" 0

# Postfix removes Bcc from every message, not only with -t.
submit bcc_removed_without_t $'Bcc: secret@x.org,\n other@x.org\nSubject: s\n\nbody\n' bob@x.org
eq bcc_removed_without_t.rcpts "$(rcpts_sorted)" "bob@x.org "
eq bcc_removed_without_t.no_bcc "$(grep -c 'secret@x.org\|other@x.org\|^Bcc' "$T/msg")" 0
# ... and Return-Path / Content-Length too (message_drop_headers).
submit dropped_headers $'Return-Path: <x@x.org>\nContent-Length: 5\nSubject: s\n\nbody\n' bob@x.org
eq dropped_headers.none "$(grep -c '^Return-Path:\|^Content-Length:' "$T/msg")" 0

# Resent-: only the Resent- recipients, Resent-Bcc removed.
submit resent $'Resent-To: r1@x.org\nResent-Cc: r2@x.org\nResent-Bcc: r3@x.org\nResent-From: someone@x.org\nTo: t1@x.org\nCc: t2@x.org\nSubject: resent\n\nbody\n' -t
eq resent.rcpts "$(rcpts_sorted)" "r1@x.org r2@x.org r3@x.org "
lacks_line_re resent.no_resent_bcc "$T/msg" '^Resent-Bcc:'
eq resent.resent_message_id_added "$(grep -c '^Resent-Message-Id: <' "$T/hdr")" 1
eq resent.resent_date_added "$(grep -c '^Resent-Date: ' "$T/hdr")" 1
eq resent.no_plain_message_id "$(grep -ci '^Message-Id:' "$T/hdr")" 0
eq resent.resent_from_not_duplicated "$(grep -c '^Resent-From:' "$T/hdr")" 1

# Command line + header recipients merged, duplicates removed.
submit merge $'To: bob@x.org, dave@x.org\nCc: Bob <bob@x.org>, carol@x.org\nSubject: m\n\nbody\n' -t bob@x.org carol@x.org
eq merge.rcpts "$(rcpts_sorted)" "bob@x.org carol@x.org dave@x.org "
submit merge_args_dup $'Subject: m\n\nbody\n' bob@x.org bob@x.org 'Bob <bob@x.org>'
eq merge_args_dup.rcpts "$(rcpts_sorted)" "bob@x.org "
submit arg_list $'Subject: m\n\nbody\n' 'a@x.org, b@x.org'
eq arg_list.two_rcpts_from_one_arg "$(rcpts_sorted)" "a@x.org b@x.org "

# ------------------------------------------------- B-02 dot termination
for mode in argv t; do
	if [ $mode = t ]; then args=(-t); hdr=$'To: bob@x.org\n'; else args=(bob@x.org); hdr=""; fi
	submit b02_$mode.dot_ends "${hdr}"$'Subject: d\n\nline1\n.\nline2\n' "${args[@]}"
	eq b02_$mode.dot_ends.body "$(body)" "line1"
	for i in -i -oi; do
		submit b02_$mode$i.dot_kept "${hdr}"$'Subject: d\n\nline1\n.\nline2\n' $i "${args[@]}"
		eq b02_$mode$i.dot_kept.body "$(body)" $'line1\n.\nline2'
	done
done
submit b02.crlf_dot_ends $'Subject: d\r\n\r\nline1\r\n.\r\nline2\r\n' bob@x.org
eq b02.crlf_dot_ends.body "$(body)" "line1"
submit b02.other_dots_kept $'Subject: d\n\nline1\n.x\n..\n .\n. \nline2\n' bob@x.org
eq b02.other_dots_kept.body "$(body)" $'line1\n.x\n..\n .\n. \nline2'
submit b02.dot_first_body_line $'Subject: d\n\n.\nline2\n' bob@x.org
eq b02.dot_first_body_line.body "$(body)" ""

# --------------------------------------------------- input normalising
submit crlf $'Subject: crlf\r\nTo: bob@x.org\r\n\r\nline1\r\nline2\r\n' -t
eq crlf.no_cr_stored "$(tr -cd '\r' < "$T/msg" | wc -c)" 0
eq crlf.body "$(body)" $'line1\nline2'
has_line crlf.subject "$T/msg" 'Subject: crlf'
eq crlf.rcpt "$(rcpts_sorted)" "bob@x.org "
submit lone_cr $'Subject: x\ry\n\na\rb\nc\r\r\nend' bob@x.org
eq lone_cr.no_cr_stored "$(tr -cd '\r' < "$T/msg" | wc -c)" 0
has_line lone_cr.header_cr_is_space "$T/msg" 'Subject: x y'
eq lone_cr.body "$(body)" $'a b\nc \nend'
eq lone_cr.final_newline_added "$(tail -c 1 "$T/msg" | od -An -c | tr -d ' ')" '\n'
submit from_line $'From someone@x.org Fri Nov 27 00:00:00 2026\nSubject: f\n\nbody\nFrom me\n' bob@x.org
lacks_line_re from_line.leading_from_dropped "$T/hdr" '^From '
has_line from_line.subject_kept "$T/hdr" 'Subject: f'
eq from_line.body_from_kept "$(body)" $'body\nFrom me'

# ------------------------------------------------------- headers added
before=$(date -u +%s)
submit hdrs $'Subject: h\n\nbody\n' -F 'Joe User' bob@x.org
after=$(date -u +%s)
id=$(basename "$E")
eq hdrs.received_first_line "$(sed -n 1p "$T/msg")" "Received: by host.example.org (satmail, from userid $(id -u))"
l2=$(sed -n 2p "$T/msg")
check hdrs.received_second_line_id_date [ "${l2%%; *}" == $'\tid '"$id" ]
dre='(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ( [1-9]|[12][0-9]|3[01]) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-6][0-9] [+-][0-9]{4} \([A-Za-z0-9+-]+\)'
check hdrs.received_date_format grep -Eq $'^\tid [0-9A-F]+; '"$dre"'$' <(sed -n 2p "$T/msg")
check hdrs.date_postfix_format grep -Eq "^Date: $dre\$" "$T/hdr"
eq hdrs.date_equals_received_date "$(sed -n 's/^Date: //p' "$T/hdr")" "${l2#*; }"
mid=$(sed -n 's/^Message-Id: //p' "$T/hdr")
check hdrs.message_id_shape grep -Eq "^<[0-9]{14}\.$id@host\.example\.org>\$" <<< "$mid"
stamp=${mid:1:14}
check hdrs.message_id_time_utc between "$stamp" "$(date -u -d "@$before" +%Y%m%d%H%M%S)" "$(date -u -d "@$after" +%Y%m%d%H%M%S)"
has_line hdrs.from_full_name "$T/hdr" "From: Joe User <$ME@example.org>"
eq hdrs.order "$(sed 's/:.*//' "$T/hdr" | grep -v $'^\t' | tr '\n' ' ')" "Received Subject Message-Id Date From "
eq hdrs.one_received "$(grep -c '^Received:' "$T/hdr")" 1

reset_queue
printf 'Subject: tz\n\nbody\n' > "$T/in"
TZ=Europe/Berlin "$SM" bob@x.org < "$T/in" > /dev/null 2>&1
E=$(entry)
tzline=$(QE headers "${E:-/dev/null}" 2>/dev/null | sed -n 's/^Date: //p')
check hdrs.date_local_zone grep -Eq '(\+0100 \(CET\)|\+0200 \(CEST\))$' <<< "$tzline"

reset_queue
smi $'Subject: g\n\nbody\n' bob@x.org; E=$(entry)
if [ -n "$gecos" ]; then want="From: $gecos <$(id -un)@example.org>"; else want="From: $(id -un)@example.org"; fi
has_line hdrs.from_gecos <(QE headers "${E:-/dev/null}") "$want"
reset_queue
printf 'Subject: n\n\nbody\n' > "$T/in"
NAME="Env Name" "$SM" bob@x.org < "$T/in" > /dev/null 2>&1; E=$(entry)
has_line hdrs.from_env_NAME <(QE headers "${E:-/dev/null}") "From: Env Name <$ME@example.org>"
reset_queue
NAME="Env Name" "$SM" -F "Opt Name" bob@x.org < "$T/in" > /dev/null 2>&1; E=$(entry)
has_line hdrs.F_beats_NAME <(QE headers "${E:-/dev/null}") "From: Opt Name <$ME@example.org>"
submit hdrs_specials $'Subject: s\n\nbody\n' -F 'J. Q. Public' bob@x.org
has_line hdrs_specials.quoted_phrase "$T/hdr" "From: \"J. Q. Public\" <$ME@example.org>"
submit null_sender $'Subject: n\n\nbody\n' -f '<>' bob@x.org
has_line null_sender.from_mailer_daemon "$T/hdr" 'From: MAILER-DAEMON'
eq null_sender.envelope_sender_empty "$(QE get "$E" sender)" ""
has_line null_sender.sender_record_raw <(QE records "$E") 'sender: '
submit keep_existing $'From: Alice <alice@x.org>\nDate: Mon, 3 Feb 2025 09:04:05 +0100\nMessage-ID: <abc@x.org>\nSubject: k\n\nbody\n' bob@x.org
eq keep_existing.one_from "$(grep -ci '^From:' "$T/hdr")" 1
has_line keep_existing.from_kept "$T/hdr" 'From: Alice <alice@x.org>'
eq keep_existing.one_date "$(grep -ci '^Date:' "$T/hdr")" 1
eq keep_existing.one_message_id "$(grep -ci '^Message-Id:' "$T/hdr")" 1
has_line keep_existing.message_id_kept "$T/hdr" 'Message-ID: <abc@x.org>'
submit qualify $'From: alice\nTo: bob, Carol <carol>\nCc: dave@x.org\nReply-To: (c) erin\nSubject: q\n\nbody\n' -t
has_line qualify.from "$T/hdr" 'From: alice@example.org'
has_line qualify.to "$T/hdr" 'To: bob@example.org, Carol <carol@example.org>'
has_line qualify.cc_untouched "$T/hdr" 'Cc: dave@x.org'
has_line qualify.reply_to "$T/hdr" 'Reply-To: (c) erin@example.org'
eq qualify.rcpts "$(rcpts_sorted)" "bob@example.org carol@example.org dave@x.org "

# ----------------------------------------------------- envelope sender
submit sender_default $'Subject: s\n\nbody\n' bob@x.org
eq sender_default.value "$(QE get "$E" sender)" "$(id -un)@example.org"
submit sender_f $'Subject: s\n\nbody\n' -f alice bob@x.org
eq sender_f.qualified "$(QE get "$E" sender)" "alice@example.org"
if [ -n "$gecos" ]; then want="From: $gecos <alice@example.org>"; else want="From: alice@example.org"; fi
has_line sender_f.from_header "$T/hdr" "$want"
submit sender_r $'Subject: s\n\nbody\n' -r carol@x.org bob@x.org
eq sender_r.value "$(QE get "$E" sender)" "carol@x.org"
submit sender_attached $'Subject: s\n\nbody\n' -fdave@x.org bob@x.org
eq sender_attached.value "$(QE get "$E" sender)" "dave@x.org"
submit sender_phrase $'Subject: s\n\nbody\n' -f 'A Person <ap@x.org>' bob@x.org
eq sender_phrase.first_address "$(QE get "$E" sender)" "ap@x.org"
submit uid_record $'Subject: s\n\nbody\n' bob@x.org
eq uid_record.value "$(QE get "$E" uid)" "$(id -u)"

# ------------------------------------------------------- exit statuses
refused bad_rcpt 64 $'Subject: s\n\nbody\n' 'bad address@@x'
refused bad_rcpt_among_good 64 $'Subject: s\n\nbody\n' good@x.org 'bad address@@x'
refused t_no_rcpt 65 $'Subject: s\n\nbody\n' -t
check t_no_rcpt.message grep -q 'No recipient addresses found in message header' "$T/err"
refused t_empty_to 65 $'To: \nSubject: s\n\nbody\n' -t
refused no_rcpt 64 $'Subject: s\n\nbody\n'
refused bad_header_rcpt 65 $'To: a@@@b\nSubject: s\n\nbody\n' -t
refused null_rcpt_arg 64 $'Subject: s\n\nbody\n' '<>'

printf 'Subject: nul\n\na\0b\n' > "$T/nul1"
printf 'Subject: n\0ul\n\nab\n' > "$T/nul2"
{ printf 'Subject: nul\n\n'; head -c 300000 /dev/zero | tr '\0' 'x' | fold -w 70; printf 'a\0b\n'; } > "$T/nul3"
for n in 1 2 3; do
	reset_queue
	sm bob@x.org < "$T/nul$n"
	expect_rc nul$n.exit_65 65
	eq nul$n.nothing_queued "$(queue_count)" 0
	eq nul$n.no_tmp_file "$(tmp_count)" 0
	one_err_line nul$n.one_stderr_line 'NUL'
done

write_conf "message_size_limit = 2000"
{ printf 'Subject: big\n\n'; for i in $(seq 50); do printf '%099d\n' "$i"; done; } > "$T/5k"
reset_queue; sm bob@x.org < "$T/5k"
expect_rc oversize.exit_65 65
eq oversize.nothing_queued "$(queue_count)" 0
eq oversize.no_tmp_file "$(tmp_count)" 0
one_err_line oversize.one_stderr_line 'message_size_limit|size'
submit under_limit $'Subject: small\n\nbody\n' bob@x.org
write_conf
{ printf 'Subject: huge\n\n'; head -c 11000000 /dev/zero | tr '\0' 'y' | fold -w 100; } > "$T/11m"
reset_queue; sm bob@x.org < "$T/11m"
expect_rc oversize_default_limit.exit_65 65
eq oversize_default_limit.nothing_queued "$(queue_count)" 0
eq oversize_default_limit.no_tmp_file "$(tmp_count)" 0
rm -f "$T/11m"

# --------------------------------------------------------- configuration
write_conf "foo_bar_baz = 1"
submit unknown_param $'Subject: s\n\nbody\n' bob@x.org
check unknown_param.warning_on_stderr grep -q 'foo_bar_baz' "$T/err"
write_conf "message_size_limit = abc"
refused bad_value 78 $'Subject: s\n\nbody\n' bob@x.org
check bad_value.names_file grep -qF "$T/main.cf" "$T/err"
check bad_value.names_line grep -Eq "line $(wc -l < "$T/main.cf")([^0-9]|\$)" "$T/err"
check bad_value.names_parameter grep -q 'message_size_limit' "$T/err"
write_conf "delivery_mode = sometimes"
refused bad_delivery_mode 78 $'Subject: s\n\nbody\n' bob@x.org
write_conf "hunter2secret pass"
refused config_syntax_error 78 $'Subject: s\n\nbody\n' bob@x.org
check config_syntax_error.names_line grep -Eq "line $(wc -l < "$T/main.cf")([^0-9]|\$)" "$T/err"
eq config_syntax_error.line_text_not_echoed "$(grep -c hunter2secret "$T/err")" 0
write_conf
refused missing_C_file 78 $'Subject: s\n\nbody\n' -C "$T/does-not-exist.cf" bob@x.org
sed "s|$T/queue|$T/q2|" "$T/main.cf" > "$T/other.cf"
reset_queue; rm -rf "$T/q2"
smi $'Subject: c\n\nbody\n' -C "$T/other.cf" bob@x.org
expect_rc C_wins.exit 0
eq C_wins.entry_in_C_queue "$(find "$T/q2/queue" -type f 2>/dev/null | wc -l)" 1
eq C_wins.none_in_env_queue "$(queue_count)" 0
( export SATMAIL_CONFIG=$T/other.cf; smi $'Subject: c\n\nbody\n' bob@x.org; exit $RC )
eq SATMAIL_CONFIG_used "$(find "$T/q2/queue" -type f 2>/dev/null | wc -l)" 2

# ------------------------------------------------------------ options
sm --help < /dev/null
expect_rc help.exit_0 0
check help.usage_on_stdout grep -q '^usage: sendmail' "$T/out"
sm --version < /dev/null
expect_rc version.exit_0 0
reset_queue
smi $'Subject: s\n\nbody\n' -Z bob@x.org
expect_rc unknown_option.exit_64 64
eq unknown_option.nothing_queued "$(queue_count)" 0
check unknown_option.named grep -q -- '-Z' "$T/err"
one_err_line unknown_option.one_stderr_line
smi $'Subject: s\n\nbody\n' -f
expect_rc f_without_argument.exit_64 64
refused bad_N 64 $'Subject: s\n\nbody\n' -N sometimes bob@x.org
refused bad_B 64 $'Subject: s\n\nbody\n' -B 9BIT bob@x.org

submit dashdash $'Subject: s\n\nbody\n' -- -foo@example.org
eq dashdash.rcpt "$(rcpts_sorted)" "-foo@example.org "

# B-10: injected options.
submit b10.X_ignored $'Subject: s\n\nbody\n' "-X$T/xlog" -X "$T/xlog2" -oQ"$T/qdir" "-O" "QueueDirectory=$T/qdir2" bob@x.org
eq b10.X_ignored.rcpts "$(rcpts_sorted)" "bob@x.org "
check b10.no_files_written none_exist "$T/xlog" "$T/xlog2" "$T/qdir" "$T/qdir2"
submit b10.after_dashdash $'Subject: s\n\nbody\n' -- "-oQ$T/qd3" "-X$T/xl3" -bi
eq b10.after_dashdash.rcpts "$(rcpts_sorted)" "-X$T/xl3@example.org -bi@example.org -oQ$T/qd3@example.org "
check b10.after_dashdash.no_files none_exist "$T/qd3" "$T/xl3"
reset_queue
smi $'Subject: s\n\nbody\n' -f "\"a\\\" -X$T/flog b\"@x.org" bob@x.org
if [ "$RC" -eq 0 ]; then
	E=$(entry)
	eq b10.f_quoted.one_sender_record "$(QE records "$E" | grep -c '^sender:')" 1
	eq b10.f_quoted.sender_literal "$(QE get "$E" sender)" "\"a\\\" -X$T/flog b\"@x.org"
	eq b10.f_quoted.rcpts "$(rcpts_sorted)" "bob@x.org "
else
	expect_rc b10.f_quoted.refused_64 64
fi
check b10.f_quoted.no_file [ ! -e "$T/flog" ]
for d in 99999999999999999999999 -5 -2147483648 0-99999999999.1; do
	reset_queue
	smi $'Subject: s\n\nbody\n' -d "$d" bob@x.org
	check "b10.d_$d.no_crash" [ "$RC" -eq 0 -o "$RC" -eq 64 ]
done
reset_queue
seq -f 'r%g@x.org' 1 10000 > "$T/args"
mapfile -t many < "$T/args"
printf 'Subject: many\n\nbody\n' > "$T/in"
timeout 60 "$SM" "${many[@]}" < "$T/in" > "$T/out" 2> "$T/err"; RC=$?
expect_rc b10.10000_args.exit_0 0
E=$(entry)
eq b10.10000_args.rcpts "$(QE rcpts "${E:-/dev/null}" 2>/dev/null | wc -l)" 10000
reset_queue
timeout 60 "$SM" "${many[@]}" extra@x.org < "$T/in" > "$T/out" 2> "$T/err"; RC=$?
expect_rc b10.10001_args.exit_65 65
eq b10.10001_args.nothing_queued "$(queue_count)" 0
one_err_line b10.10001_args.one_stderr_line

# B-11: CR/LF in the envelope never makes a record.
# no_injection NAME: either refused (64/65, nothing queued) or queued with
# exactly the legitimate records.
no_injection() {
	local name=$1 want_rcpts=$2
	E=$(entry)
	if [ "$RC" -eq 64 ] || [ "$RC" -eq 65 ]; then
		pass "$name.refused_or_neutralised"
		eq "$name.nothing_queued" "$(queue_count)" 0
		one_err_line "$name.one_stderr_line"
	elif [ "$RC" -eq 0 ] && [ -n "$E" ] && QE check "$E" > /dev/null; then
		pass "$name.refused_or_neutralised"
		eq "$name.rcpts" "$(rcpts_sorted)" "$want_rcpts"
		eq "$name.no_evil_record" "$(QE records "$E" | grep -c 'evil')" 0
	else
		fail "$name.refused_or_neutralised"; note "exit $RC"
	fi
}
reset_queue; smi $'Subject: s\n\nbody\n' -f $'a@b.org\r\nRCPT TO:<evil@x.org>' bob@x.org
no_injection b11.f_crlf "bob@x.org "
reset_queue; smi $'Subject: s\n\nbody\n' -f $'a@b.org\nrcpt: addr=evil@x.org state=pending' bob@x.org
no_injection b11.f_record "bob@x.org "
reset_queue; smi $'Subject: s\n\nbody\n' $'x@y.org>\r\nDATA'
no_injection b11.rcpt_crlf_data ""
reset_queue; smi $'Subject: s\n\nbody\n' $'bob@x.org\nrcpt: addr=evil@x.org state=pending'
no_injection b11.rcpt_record "bob@x.org "
reset_queue; smi $'Subject: s\n\nbody\n' $'bob@x.org\r' carol@x.org
no_injection b11.rcpt_trailing_cr "bob@x.org carol@x.org "
submit b11.F_newline $'Subject: s\n\nbody\n' -F $'Joe\nBcc: evil@x.org\nX-Evil: 1' bob@x.org
eq b11.F_newline.no_header_split "$(grep -c '^Bcc:\|^X-Evil:\|evil@x.org' "$T/hdr")" 0
eq b11.F_newline.one_from_line "$(grep -c "^From: .*<$ME@example.org>$" "$T/hdr")" 1
eq b11.F_newline.no_evil_record "$(QE records "$E" | grep -c '^rcpt:')" 1
refused b11.empty_domain_rcpt 64 $'Subject: s\n\nbody\n' 'a@'
refused b11.empty_domain_sender 64 $'Subject: s\n\nbody\n' -f 'a@' bob@x.org
refused b11.empty_local_rcpt 64 $'Subject: s\n\nbody\n' '@x.org'

finish
