#!/usr/bin/env bash
# test_aliases - newaliases / sendmail -bi / -oA, Postfix compatibility of
# the alias tables, sendmail -bv, alias expansion and canonical rewriting
# at submission, and satmail-queue's refusal of forged file and command
# recipients (issue 3; SECURITY.md B-15, B-16, B-17).
#
# Postfix's postalias and postmap (Debian postfix + postfix-cdb) run with
# a private config directory ($T/pf, "-c"); /etc/postfix is never read.
# Tables are compared by what they answer, key by key (postalias adds
# YP_* records that satmail does not), and by an independent cdb reader.
set -u
. "$(dirname "$0")/lib.sh"

PF_POSTALIAS=${POSTFIX_POSTALIAS:-/usr/sbin/postalias}
PF_POSTMAP=${POSTFIX_POSTMAP:-/usr/sbin/postmap}
NA=$SATMAIL_BIN/newaliases
PM=$SATMAIL_BIN/postmap
QUEUE=$SATMAIL_BIN/satmail-queue
mkdir -p "$T/pf" "$T/pfa"
printf 'default_database_type = cdb\nmyhostname = host.example.org\n' > "$T/pf/main.cf"
unset MAIL_CONFIG

base_conf=(
	"mydestination = example.org, \$myhostname, localhost"
	"alias_maps = cdb:$T/aliases"
	"alias_database = cdb:$T/aliases"
)
write_conf "${base_conf[@]}"

have_postfix=1
if [ ! -x "$PF_POSTALIAS" ] || [ ! -x "$PF_POSTMAP" ] ||
    ! "$PF_POSTMAP" -c "$T/pf" -q x 'inline:{x=y}' > /dev/null 2>&1; then
	fail "Postfix postalias/postmap usable (make deps installs postfix, postfix-cdb)"
	have_postfix=0
fi
pf_q() { "$PF_POSTMAP" -c "$T/pf" -q "$1" "$2" 2> /dev/null; }

# Independent cdb reader (the format is D. J. Bernstein's): every record
# as "key<TAB>value", bytes escaped the Python way, in file order.
cat > "$T/cdbdump.py" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
end = min(struct.unpack_from("<II", data, 8 * i)[0] for i in range(256))
pos = 2048
while pos < end:
    kl, vl = struct.unpack_from("<II", data, pos)
    k = data[pos + 8:pos + 8 + kl]
    v = data[pos + 8 + kl:pos + 8 + kl + vl]
    pos += 8 + kl + vl
    if k.startswith(b"YP_") and len(sys.argv) > 2:
        continue
    print(repr(k)[2:-1] + "\t" + repr(v)[2:-1])
EOF
cdbdump() { "$PY" "$T/cdbdump.py" "$@"; }

# The recipients of the only queue entry, one line each: its fields
# sorted by name, values decoded (qentry.py is the independent reader).
rcpt_lines() {
	"$PY" - "$HERE" "$1" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import qentry
for r in qentry.rcpts(sys.argv[2]):
    print(" ".join("%s=%s" % (k, r[k].decode()) for k in sorted(r) if k != "state"))
EOF
}

cat > "$T/staff.list" <<EOF
# staff, one or more per line
carol
dave, erin
EOF
cat > "$T/aliases" <<EOF
# test aliases
postmaster: root
Root: admin
list: a, b , c
owner-list: listadmin
loop1: loop2
loop2: loop1
alice: alice, bob
prog: "|/bin/cat -n"
file: /var/tmp/satmail-test-mbox
staff: :include:$T/staff.list
remote: someone@remote.example
"weird name": admin
long: one,
  two,
# a comment inside a continued entry
  three
MAILER-DAEMON: postmaster
EOF
chmod 644 "$T/aliases"

# ------------------------------------------------------------ newaliases
"$NA" > "$T/out" 2> "$T/err"; RC=$?
expect_rc "newaliases exits 0" 0
check "newaliases builds aliases.cdb" test -s "$T/aliases.cdb"
check "newaliases leaves no temporary file" test ! -e "$T/aliases.cdb.tmp"
eq "newaliases is quiet" "$(cat "$T/out" "$T/err")" ""
eq "aliases.cdb mode follows the source" "$(stat -c %a "$T/aliases.cdb")" "644"
if [ -x "$PM" ]; then
	eq "our postmap -q root" "$("$PM" -q root "cdb:$T/aliases" 2>&1)" "admin"
	eq "our postmap -q ROOT (folded)" "$("$PM" -q ROOT "cdb:$T/aliases" 2>&1)" "admin"
fi

# ---------------------------------------- Postfix reads ours, same as its own
if [ $have_postfix = 1 ]; then
	eq "Postfix postmap -q root on our table" "$(pf_q root "cdb:$T/aliases")" "admin"
	cp "$T/aliases" "$T/pfa/aliases"
	if "$PF_POSTALIAS" -c "$T/pf" "cdb:$T/pfa/aliases" 2> "$T/pf.err"; then
		pass "Postfix postalias builds the same source"
	else
		fail "Postfix postalias builds the same source"; note "$(cat "$T/pf.err")"
	fi
	keys=(postmaster root ROOT Root list owner-list loop1 loop2 alice prog file staff remote
	    "weird name" long mailer-daemon MAILER-DAEMON @ nosuch "")
	same=1
	for k in "${keys[@]}"; do
		a=$(pf_q "$k" "cdb:$T/aliases"); ra=$?
		b=$(pf_q "$k" "cdb:$T/pfa/aliases"); rb=$?
		if [ "$a" != "$b" ] || [ $ra != $rb ]; then
			same=0
			note "key '$k': ours '$a' ($ra), postalias '$b' ($rb)"
		fi
		if [ -x "$PM" ]; then
			c=$("$PM" -q "$k" "cdb:$T/pfa/aliases" 2> /dev/null); rc_=$?
			if [ "$c" != "$b" ] || [ $rc_ != $rb ]; then
				same=0
				note "key '$k' in Postfix's table: our postmap '$c' ($rc_), Postfix '$b' ($rb)"
			fi
		fi
	done
	[ $same = 1 ] && pass "every key answers alike in both tables, both readers" ||
	    fail "every key answers alike in both tables, both readers"
	eq "the '@' record" "$(pf_q @ "cdb:$T/aliases")" "@"
	# The same records (Postfix's YP_* left out), in the same order, with
	# no trailing NUL in keys or values (Postfix's cdb convention).
	cdbdump "$T/aliases.cdb" > "$T/ours.dump"
	cdbdump "$T/pfa/aliases.cdb" skip-yp > "$T/pf.dump"
	if cmp -s "$T/ours.dump" "$T/pf.dump"; then
		pass "same records as postalias (YP_* aside)"
	else
		fail "same records as postalias (YP_* aside)"
		diff "$T/pf.dump" "$T/ours.dump" | sed 's/^/  # /' | head -20
	fi
	lacks_line_re "no NUL bytes in our records" "$T/ours.dump" '\\x00'
fi

# --------------------------------------- a syntax error keeps the old table
cp "$T/aliases.cdb" "$T/aliases.cdb.before"
cp "$T/aliases" "$T/aliases.good"
printf 'newname: changed\nbad@example.org: x\n' >> "$T/aliases"
lineno=$(grep -n '^bad@example.org' "$T/aliases" | cut -d: -f1)
"$NA" > "$T/out" 2> "$T/err"; RC=$?
check "syntax error: non-zero exit" test "$RC" -ne 0
one_err_line "syntax error: one line naming file:line" "$T/aliases, line $lineno: "
check "syntax error: old .cdb untouched (cmp)" cmp -s "$T/aliases.cdb" "$T/aliases.cdb.before"
check "syntax error: no temporary file left" test ! -e "$T/aliases.cdb.tmp"
"$SM" -bi > "$T/out" 2> "$T/err"; RC=$?
check "sendmail -bi: the same error" test "$RC" -ne 0
check "sendmail -bi: old .cdb untouched" cmp -s "$T/aliases.cdb" "$T/aliases.cdb.before"
cp "$T/aliases.good" "$T/aliases"

# A missing source is an error too, and builds nothing.
"$SM" -bi -oA "cdb:$T/no-such-source" > "$T/out" 2> "$T/err"; RC=$?
check "missing source: non-zero exit" test "$RC" -ne 0
check "missing source: nothing built" test ! -e "$T/no-such-source.cdb"

# B-16: CRLF line endings, as postalias takes them.
printf 'root: admin\r\nlist: a, b\r\n' > "$T/crlf"
"$SM" -bi -oA "cdb:$T/crlf" > "$T/out" 2> "$T/err"; RC=$?
expect_rc "CRLF source: newaliases accepts it (postalias does)" 0
if [ $have_postfix = 1 ] && [ -e "$T/crlf.cdb" ]; then
	eq "CRLF source: Postfix reads root" "$(pf_q root "cdb:$T/crlf")" "admin"
fi

# B-16: the builder killed with SIGKILL, and two builders at once: readers
# always find a whole table (the old one or the new one).
{
	echo "root: admin"
	i=0; while [ $i -lt 200000 ]; do echo "user$i: target$i"; i=$((i + 1)); done
} > "$T/big"
"$SM" -bi -oA "cdb:$T/big" > /dev/null 2>&1
"$SM" -bi -oA "cdb:$T/big" > /dev/null 2>&1 & pid=$!
sleep 0.05
kill -9 "$pid" 2> /dev/null; wait "$pid" 2> /dev/null
if [ $have_postfix = 1 ]; then
	eq "killed builder: the table still answers" "$(pf_q user199999 "cdb:$T/big")" "target199999"
fi
"$SM" -bi -oA "cdb:$T/big" > /dev/null 2> "$T/err1" & p1=$!
"$SM" -bi -oA "cdb:$T/big" > /dev/null 2> "$T/err2" & p2=$!
wait "$p1"; r1=$?; wait "$p2"; r2=$?
eq "two builders at once both succeed" "$r1 $r2" "0 0"
check "two builders: no temporary file left" test ! -e "$T/big.cdb.tmp"
if [ $have_postfix = 1 ]; then
	eq "two builders: whole table" "$(pf_q user123456 "cdb:$T/big")" "target123456"
fi
rm -f "$T/big" "$T/big.cdb"

# ------------------------------------------------ sendmail -bi and -oA
rm -f "$T/aliases.cdb"
sm -bi; expect_rc "sendmail -bi exits 0" 0
check "sendmail -bi builds aliases.cdb" test -s "$T/aliases.cdb"
cp "$T/aliases" "$T/other"
printf 'onlyother: x\n' >> "$T/other"
cp "$T/aliases.cdb" "$T/aliases.cdb.before"
sm -bi -oA "cdb:$T/other"; expect_rc "sendmail -bi -oA cdb:OTHER exits 0" 0
check "-oA builds OTHER.cdb" test -s "$T/other.cdb"
check "-oA leaves alias_database alone" cmp -s "$T/aliases.cdb" "$T/aliases.cdb.before"
if [ $have_postfix = 1 ]; then
	eq "Postfix reads the -oA table" "$(pf_q onlyother "cdb:$T/other")" "x"
fi
rm -f "$T/other.cdb"
sm -bi "-oAcdb:$T/other"; expect_rc "sendmail -bi -oAcdb:OTHER (attached) exits 0" 0
check "-oA attached builds OTHER.cdb" test -s "$T/other.cdb"
# Postfix's default type name in a main.cf: hash: is built as cdb.
rm -f "$T/other.cdb"
sm -bi -oA "hash:$T/other"; expect_rc "sendmail -bi -oA hash:OTHER exits 0" 0
check "hash: is built as OTHER.cdb" test -s "$T/other.cdb"
# Every table of alias_database.
write_conf "${base_conf[@]}" "alias_database = cdb:$T/aliases, cdb:$T/other"
rm -f "$T/aliases.cdb" "$T/other.cdb"
"$NA" > "$T/out" 2> "$T/err"; RC=$?
expect_rc "newaliases with two tables exits 0" 0
check "both tables built" test -s "$T/aliases.cdb" -a -s "$T/other.cdb"
write_conf "${base_conf[@]}"

# ------------------------------------------------------------ sendmail -bv
sm -bv root list loop1 remote@x.org
expect_rc "-bv with an alias loop exits 67" 67
has_line "-bv root: block header" "$T/out" "root"
has_line "-bv root: canonical" "$T/out" "  canonical: root@example.org"
has_line "-bv root: delivery" "$T/out" "  deliver: admin@example.org: local mailbox /var/mail/admin"
has_line "-bv list: member a" "$T/out" "  deliver: a@example.org: local mailbox /var/mail/a"
has_line "-bv list: member c" "$T/out" "  deliver: c@example.org: local mailbox /var/mail/c"
has_line "-bv list: errors to owner-list" "$T/out" "    errors to: owner-list@example.org"
has_line "-bv loop1: the loop" "$T/out" "  error: alias database loop for loop1 (5.4.6)"
has_line "-bv remote: MX" "$T/out" "  deliver: remote@x.org: smtp to the MX hosts of x.org"
eq "-bv: one block header per address" "$(grep -c '^[^ ]' "$T/out")" "4"
eq "-bv sends nothing" "$(queue_count)" "0"

sm -bv prog file staff remote nosuch
expect_rc "-bv without errors exits 0" 0
has_line "-bv command target" "$T/out" "  deliver: prog@example.org: command |/bin/cat -n (as nobody)"
has_line "-bv file target" "$T/out" "  deliver: file@example.org: file /var/tmp/satmail-test-mbox (as nobody)"
has_line "-bv :include: member" "$T/out" "  deliver: erin@example.org: local mailbox /var/mail/erin"
has_line "-bv remote alias target" "$T/out" \
    "  deliver: someone@remote.example: smtp to the MX hosts of remote.example"
has_line "-bv no alias: local mailbox" "$T/out" "  deliver: nosuch@example.org: local mailbox /var/mail/nosuch"

# ---------------------------------------- submission stores the expansion
msg=$'Subject: alias test\n\nhello\n'
reset_queue
smi "$msg" list prog Alice file
expect_rc "submission to aliases exits 0" 0
e=$(entry)
if [ -n "$e" ] && QE check "$e"; then
	pass "one well-formed entry"
	rcpt_lines "$e" > "$T/rcpts"
	has_line "rcpt a with orig and owner" "$T/rcpts" "addr=a@example.org orig=list@example.org owner=owner-list@example.org"
	has_line "rcpt c with orig and owner" "$T/rcpts" "addr=c@example.org orig=list@example.org owner=owner-list@example.org"
	has_line "command rcpt" "$T/rcpts" "addr=prog@example.org orig=prog@example.org target=/bin/cat -n type=command"
	has_line "file rcpt" "$T/rcpts" "addr=file@example.org orig=file@example.org target=/var/tmp/satmail-test-mbox type=file"
	# (orig is left out when it is the address itself, case aside)
	has_line "self-alias: alice's mailbox" "$T/rcpts" "addr=alice@example.org"
	has_line "self-alias: and bob" "$T/rcpts" "addr=bob@example.org orig=Alice@example.org"
	eq "no other recipients" "$(wc -l < "$T/rcpts")" "7"
	lacks_line_re "the alias names themselves are not recipients" "$T/rcpts" '^addr=(list|prog)@example\.org( |$)[^t]*$'
else
	fail "one well-formed entry"; note "$(cat "$T/err")"
fi

# Duplicates across recipients; :include: at submission.
reset_queue
smi "$msg" root postmaster staff
expect_rc "submission root postmaster staff exits 0" 0
e=$(entry)
if [ -n "$e" ]; then
	rcpt_lines "$e" > "$T/rcpts"
	eq "root and postmaster give one admin" "$(grep -c '^addr=admin@' "$T/rcpts")" "1"
	has_line ":include: member erin" "$T/rcpts" "addr=erin@example.org orig=staff@example.org"
else
	fail "submission root postmaster staff queued"
fi

# ---------------------------------------------- alias loop: 67, nothing queued
reset_queue
smi "$msg" loop1
expect_rc "alias loop: exit 67" 67
one_err_line "alias loop: one stderr line" "alias database loop"
eq "alias loop: nothing queued" "$(queue_count)" "0"
eq "alias loop: no temporary file" "$(tmp_count)" "0"
reset_queue
smi "$msg" root loop2
expect_rc "alias loop among good recipients: exit 67" 67
eq "alias loop among good recipients: nothing queued" "$(queue_count)" "0"

# B-15: a self-including :include: file is a loop, not a crash.
printf 'x1\n:include:%s/self.list\n' "$T" > "$T/self.list"
printf 'selfinc: :include:%s/self.list\n' "$T" > "$T/aliases.inc"
"$SM" -bi -oA "cdb:$T/aliases.inc" > /dev/null 2>&1
write_conf "${base_conf[@]}" "alias_maps = cdb:$T/aliases.inc"
reset_queue
smi "$msg" selfinc
if [ "$RC" -eq 67 ] || [ "$RC" -eq 65 ] || [ "$RC" -eq 75 ]; then
	pass "self-including :include: file: a clean error ($RC)"
else
	fail "self-including :include: file: a clean error"; note "exit $RC (139 = SIGSEGV)"
fi
eq "self-including :include: file: nothing queued" "$(queue_count)" "0"
write_conf "${base_conf[@]}"

# Missing alias database whose source exists: TEMP, nothing queued.
write_conf "${base_conf[@]}" "alias_maps = cdb:$T/unbuilt"
printf 'root: admin\n' > "$T/unbuilt"
reset_queue
smi "$msg" root
expect_rc "unbuilt alias database: exit 75" 75
one_err_line "unbuilt alias database: says run newaliases" "run newaliases"
eq "unbuilt alias database: nothing queued" "$(queue_count)" "0"
write_conf "${base_conf[@]}"

# B-16: an alias table that others may write cannot vouch for commands
# and files: they are refused (with a warning), never queued.
no_command_queued() {	# NAME: no entry holds a file or command recipient
	local f bad=0
	for f in $(find "$T/queue/queue" -type f 2> /dev/null); do
		rcpt_lines "$f" | grep -Eq 'type=(command|file)' && bad=1
	done
	if [ $bad = 0 ]; then pass "$1"; else fail "$1"; note "exit $RC; a command/file recipient was queued"; fi
}
msg=$'Subject: perms\n\nbody\n'
chmod 666 "$T/aliases.cdb"
reset_queue
smi "$msg" prog
no_command_queued "world-writable alias db: command target not queued"
chmod 644 "$T/aliases.cdb"
chmod 664 "$T/aliases"
reset_queue
smi "$msg" file
no_command_queued "group-writable alias source: file target not queued"
chmod 644 "$T/aliases"
if [ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1; then
	chown nobody "$T/aliases.cdb"
	reset_queue
	smi "$msg" prog
	no_command_queued "alias db not owned by root: command target not queued"
	chown root "$T/aliases.cdb"
fi

# ---------------------------------------------------- canonical rewriting
cat > "$T/sender_canonical" <<'EOF'
joe@example.org   Joe.Bloggs@corp.example
root              sysadmin@corp.example
EOF
cat > "$T/canonical" <<'EOF'
team@example.org  team@corp.example
@old.example      @new.example
EOF
write_conf "${base_conf[@]}" \
	"sender_canonical_maps = texthash:$T/sender_canonical" \
	"canonical_maps = texthash:$T/canonical"
reset_queue
msg=$'From: "Bloggs, Joe" <joe@example.org> (Joe at home)\nTo: Team <team@example.org>,\n\t"Old Friend" <friend@old.example>\nCc: joe@example.org\nSubject: canonical\n\nbody\n'
smi "$msg" -f joe@example.org team@example.org friend@old.example
expect_rc "canonical: submission exits 0" 0
e=$(entry)
if [ -n "$e" ]; then
	eq "canonical: envelope sender rewritten" "$(QE get "$e" sender)" "Joe.Bloggs@corp.example"
	rcpt_lines "$e" > "$T/rcpts"
	has_line "canonical: recipient rewritten" "$T/rcpts" "addr=team@corp.example orig=team@example.org"
	has_line "canonical: @domain recipient" "$T/rcpts" "addr=friend@new.example orig=friend@old.example"
	QE headers "$e" > "$T/headers"
	has_line "canonical: From: keeps display name and comment" "$T/headers" \
	    'From: "Bloggs, Joe" <Joe.Bloggs@corp.example> (Joe at home)'
	has_line "canonical: To: first line" "$T/headers" "To: Team <team@corp.example>,"
	has_line "canonical: To: folded line kept" "$T/headers" $'\t"Old Friend" <friend@new.example>'
	has_line "canonical: Cc: not a sender field" "$T/headers" "Cc: joe@example.org"
	has_line "canonical: Subject untouched" "$T/headers" "Subject: canonical"
else
	fail "canonical: one entry"; note "$(cat "$T/err")"
fi
# A bare -f name: @$myorigin, then the bare-user key (local domain).
reset_queue
smi $'Subject: x\n\nbody\n' -f root someone@remote.example
expect_rc "canonical: -f root exits 0" 0
e=$(entry)
if [ -n "$e" ]; then
	eq "canonical: bare user key for the sender" "$(QE get "$e" sender)" "sysadmin@corp.example"
	QE headers "$e" > "$T/headers"
	if grep -q '^From: .*sysadmin@corp.example' "$T/headers"; then
		pass "canonical: generated From: has the rewritten sender"
	else
		fail "canonical: generated From: has the rewritten sender"; sed 's/^/  # /' "$T/headers"
	fi
fi
# -bv shows the canonical step.
sm -bv team@example.org
has_line "-bv shows the canonical result" "$T/out" "  canonical: team@corp.example"
# B-17: an invalid canonical result: refused, nothing queued.
printf 'bad@example.org <>\n' >> "$T/canonical"
reset_queue
smi $'Subject: x\n\nbody\n' bad@example.org
check "invalid canonical result: non-zero exit" test "$RC" -ne 0
eq "invalid canonical result: nothing queued" "$(queue_count)" "0"
write_conf "${base_conf[@]}"

# ------------------------------- forged file/command recipients to drop
# Speaks satmail-queue's drop protocol (top of cmd/satmail-queue.c) with
# a hand-made envelope; prints the queue's reply lines.
cat > "$T/drop.py" <<'EOF'
import subprocess, sys
queue, rcpt = sys.argv[1], sys.argv[2]
p = subprocess.Popen([queue, "drop"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
first = p.stdout.readline()
msg = b"Subject: forged\n\nbody\n"
data = (b"satmail-envelope 1\nsender: mallory@example.org\n" + rcpt.encode() + b"\n\n" +
        b"D %d\n" % len(msg) + msg + b"E\n")
try:
    p.stdin.write(data)
    p.stdin.close()
except BrokenPipeError:
    pass
rest = p.stdout.read()
p.wait(timeout=30)
sys.stdout.write((first + rest).decode(errors="replace"))
sys.exit(p.returncode)
EOF
forge() {	# forge NAME RCPT-RECORD WANT(ok|refused)
	reset_queue
	"$PY" "$T/drop.py" "$QUEUE" "$2" > "$T/out" 2> "$T/err"; RC=$?
	if [ "$3" = ok ]; then
		if grep -q '^ok ' "$T/out" && [ "$(queue_count)" -eq 1 ]; then pass "$1"; else
			fail "$1"; note "exit $RC; reply: $(cat "$T/out")"
		fi
	else
		if grep -q '^error ' "$T/out" && [ "$RC" -ne 0 ] && [ "$(queue_count)" -eq 0 ] &&
		    [ "$(tmp_count)" -eq 0 ]; then pass "$1"; else
			fail "$1"; note "exit $RC; reply: $(cat "$T/out"); entries $(queue_count)"
		fi
	fi
}
forge "drop: the alias's own command is accepted (control)" \
    "rcpt: addr=prog@example.org orig=prog@example.org state=pending type=command target=/bin/cat%20-n" ok
forge "drop: forged command on an alias without it is refused" \
    "rcpt: addr=root@example.org state=pending type=command target=/bin/sh" refused
forge "drop: forged command on no alias is refused" \
    "rcpt: addr=nosuch@example.org state=pending type=command target=/usr/bin/id" refused
forge "drop: forged file on no alias is refused" \
    "rcpt: addr=nosuch@example.org state=pending type=file target=/etc/passwd" refused
forge "drop: another alias's file under a command alias is refused" \
    "rcpt: addr=prog@example.org state=pending type=file target=/var/tmp/satmail-test-mbox" refused
forge "drop: a command with extra arguments is refused" \
    "rcpt: addr=prog@example.org state=pending type=command target=/bin/cat%20-n%20/etc/shadow" refused
forge "drop: a command from an :include: member is refused" \
    "rcpt: addr=staff@example.org state=pending type=command target=/bin/sh" refused
grep -q 'not in the alias tables' "$T/maillog" 2> /dev/null &&
    pass "drop: refusals are logged" || fail "drop: refusals are logged"

finish
