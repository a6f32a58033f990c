#!/usr/bin/env bash
# test_postmap - satmail's postmap against Postfix's (Debian postfix +
# postfix-cdb): tables built by either are read by the other, the same
# source gives byte-identical cdb files, "-q -" answers alike, and the
# exit statuses, messages, permissions and atomic replacement hold.
#
# Uses ${BUILD:-build}/bin/postmap (or $SATMAIL_BIN/postmap); builds
# nothing.  Postfix runs with a private config directory ("postmap -c
# DIR"); /etc/postfix is never read or written.  Prints PASS/FAIL lines
# and exits non-zero when any check failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${SATMAIL_BIN:-$ROOT/${BUILD:-build}/bin}
PM=$BIN/postmap
PF=${POSTFIX_POSTMAP:-/usr/sbin/postmap}
DATA=$ROOT/tests/data/table

T=$(mktemp -d "${TMPDIR:-/tmp}/test_postmap.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/conf" "$T/pfconf" "$T/ours" "$T/pf"
# Postfix gets Debian's compatibility level, which turns smtputf8_enable
# on and with it Unicode case folding of UTF-8 keys; satmail always
# folds that way.  Ours reads a main.cf of its own with -c.
printf 'default_database_type = cdb\n' > "$T/conf/main.cf"
printf 'default_database_type = cdb\ncompatibility_level = 3.6\n' > "$T/pfconf/main.cf"
unset SATMAIL_CONFIG MAIL_CONFIG

failures=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
note() { printf '  # %s\n' "$@"; }
# eq NAME GOT WANT
eq() {
	if [[ "$2" == "$3" ]]; then pass "$1"; else
		fail "$1"
		note "want: $(printf '%q' "$3")" " got: $(printf '%q' "$2")"
	fi
}
ours() { "$PM" -c "$T/conf" "$@"; }
theirs() { "$PF" -c "$T/pfconf" "$@"; }
# rc CMD...: the exit status of CMD, without tripping set -e
rc() { local r=0; "$@" > "$T/rc.out" 2> "$T/rc.err" || r=$?; echo "$r"; }

if [[ ! -x $PM ]]; then
	fail "satmail postmap exists ($PM; run make first)"
	exit 1
fi
if [[ ! -x $PF ]] || ! theirs -q x 'inline:{x=y}' > /dev/null 2>&1; then
	fail "Postfix postmap usable ($PF; make deps installs postfix)"
	exit 1
fi
if ! printf 'a b\n' > "$T/probe" || ! theirs cdb:"$T/probe" 2> /dev/null; then
	fail "Postfix postmap has cdb support (postfix-cdb)"
	exit 1
fi

# ------------------------------------------------ sources used below
cp "$DATA/sample.src" "$T/ours/sample"
cp "$DATA/sample.src" "$T/pf/sample"
# Keys with upper case, spaces in values, quoted keys, continuation
# lines, a duplicate, comments, a line Postfix skips.
cat > "$T/src" <<'EOF'
# a comment
Alice@Example.COM	alice.smith@example.com
bob Robert
  continued
@Example.ORG   catchall@example.net
"with space" value with  spaces
MAILER-DAEMON postmaster
novalue
bob second bob
root	postmaster@example.com, "|/usr/bin/cmd arg"
EOF
keys=(alice@example.com ALICE@EXAMPLE.COM Alice@Example.COM bob BOB @example.org
	'"with space"' mailer-daemon MAILER-DAEMON root nosuchkey novalue 'with space')

# ----------------------------------- ours builds, Postfix reads (-q)
cp "$T/src" "$T/ours/t1"
ours cdb:"$T/ours/t1" 2> "$T/err" || fail "ours builds t1"
ok=1
for k in "${keys[@]}"; do
	a=$(theirs -q "$k" cdb:"$T/ours/t1" 2>&1; echo "rc=$?")
	b=$(ours -q "$k" cdb:"$T/ours/t1" 2>&1; echo "rc=$?")
	if [[ $a != "$b" ]]; then
		ok=0
		note "key $k: postfix [$a] ours [$b]"
	fi
done
[[ $ok == 1 ]] && pass "postfix -q reads our cdb (${#keys[@]} keys, case, spaces)" ||
	fail "postfix -q reads our cdb"
eq "value with two spaces kept" "$(theirs -q '"with space"' cdb:"$T/ours/t1")" "value with  spaces"
eq "continuation keeps white space" "$(theirs -q BOB cdb:"$T/ours/t1")" "Robert  continued"

# Postfix 3.10+ can list cdb tables; 3.7 says it cannot.
if theirs -s cdb:"$T/ours/t1" > "$T/pf.s" 2> /dev/null; then
	ours -s cdb:"$T/ours/t1" > "$T/ours.s"
	eq "postfix -s lists our cdb" "$(sort "$T/pf.s")" "$(sort "$T/ours.s")"
else
	note "Postfix $(postconf -d -h mail_version 2>/dev/null || echo '?') cannot list cdb (-s); -q covers it"
fi

# ----------------------------------- Postfix builds, ours reads
cp "$T/src" "$T/pf/t1"
theirs cdb:"$T/pf/t1" 2> /dev/null
ok=1
for k in "${keys[@]}"; do
	a=$(theirs -q "$k" cdb:"$T/pf/t1" 2>&1; echo "rc=$?")
	b=$(ours -q "$k" cdb:"$T/pf/t1" 2>&1; echo "rc=$?")
	[[ $a == "$b" ]] || { ok=0; note "key $k: postfix [$a] ours [$b]"; }
done
[[ $ok == 1 ]] && pass "ours -q reads Postfix's cdb" || fail "ours -q reads Postfix's cdb"
eq "ours -s lists Postfix's cdb" "$(ours -s cdb:"$T/pf/t1")" \
"alice@example.com	alice.smith@example.com
bob	Robert  continued
@example.org	catchall@example.net
\"with space\"	value with  spaces
mailer-daemon	postmaster
root	postmaster@example.com, \"|/usr/bin/cmd arg\""

# ----------------------------------- byte compatibility
# tinycdb writes the same bytes for the same insertion order; our
# duplicate shortcut must not change which records are written.
for opts in "" "-N" "-w" "-r" "-f" "-f -N" "-n"; do
	tag=${opts:-default}
	cp "$T/src" "$T/ours/b"
	cp "$T/src" "$T/pf/b"
	# shellcheck disable=SC2086
	ours $opts cdb:"$T/ours/b" 2> /dev/null
	# shellcheck disable=SC2086
	theirs $opts cdb:"$T/pf/b" 2> /dev/null
	if cmp -s "$T/ours/b.cdb" "$T/pf/b.cdb"; then
		pass "identical cdb bytes ($tag)"
	else
		fail "identical cdb bytes ($tag)"
	fi
done
# A larger table, with many duplicates and colliding hashes.
awk 'BEGIN { for (i = 0; i < 50000; i++) printf "Key%d@Example.com value %d\n", i % 40000, i
	print "aaa2 x"; print "aacp y"; print "aaa2 z" }' > "$T/ours/big"
cp "$T/ours/big" "$T/pf/big"
ours cdb:"$T/ours/big" 2> "$T/ours.err"
theirs cdb:"$T/pf/big" 2> "$T/pf.err"
cmp -s "$T/ours/big.cdb" "$T/pf/big.cdb" && pass "identical cdb bytes (50,000 lines, 10,001 duplicates)" ||
	fail "identical cdb bytes (50,000 lines, 10,001 duplicates)"
eq "same number of duplicate warnings" "$(grep -c 'duplicate entry' "$T/ours.err")" \
	"$(grep -c 'duplicate entry' "$T/pf.err")"
# -w stores duplicates, -r moves records: same bytes for those too.
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "k%d v%d\n", i % 4500, i }' > "$T/ours/mid"
cp "$T/ours/mid" "$T/pf/mid"
for opts in -w -r; do
	ours $opts cdb:"$T/ours/mid" 2> /dev/null
	theirs $opts cdb:"$T/pf/mid" 2> /dev/null
	cmp -s "$T/ours/mid.cdb" "$T/pf/mid.cdb" && pass "identical cdb bytes (5,000 lines, 500 duplicates, $opts)" ||
		fail "identical cdb bytes (5,000 lines, 500 duplicates, $opts)"
done
ours cdb:"$T/ours/sample" 2> /dev/null
cmp -s "$T/ours/sample.cdb" "$DATA/sample.cdb" && pass "golden sample.cdb (built by Postfix 3.7) reproduced" ||
	fail "golden sample.cdb reproduced"

# UTF-8 keys: Unicode case folding, as Postfix does it with ICU.
cat > "$T/ours/utf8" <<'EOF'
Straße@Example.DE strasse
ÄÖÜ@EXAMPLE.COM umlauts
ΣΟΦΟΣ@example.gr sophos
Ǆemal@example.hr dz
İstanbul@example.tr dotted
Ünïcödé@Bücher.example idn
EOF
cp "$T/ours/utf8" "$T/pf/utf8"
ours cdb:"$T/ours/utf8"
theirs cdb:"$T/pf/utf8" 2> /dev/null
cmp -s "$T/ours/utf8.cdb" "$T/pf/utf8.cdb" && pass "identical cdb bytes (UTF-8 keys, Unicode case folding)" ||
	fail "identical cdb bytes (UTF-8 keys, Unicode case folding)"
printf '%s\n' STRASSE@example.de äöü@example.com σοφοσ@EXAMPLE.GR ǆemal@example.hr \
	'İSTANBUL@example.tr' ÜNÏCÖDÉ@BÜCHER.EXAMPLE nope@example.org > "$T/ukeys"
theirs -q - cdb:"$T/ours/utf8" < "$T/ukeys" > "$T/pf.uq" 2> /dev/null || true
ours -q - cdb:"$T/pf/utf8" < "$T/ukeys" > "$T/ours.uq"
eq "UTF-8 keys: each reads the other's table alike" "$(cat "$T/ours.uq")" "$(cat "$T/pf.uq")"
eq "UTF-8 keys: all six found" "$(wc -l < "$T/ours.uq")" 6

# ----------------------------------- batch queries
awk 'BEGIN { srand(7); for (i = 0; i < 10000; i++) {
	n = int(rand() * 45000); if (i % 3 == 0) printf "KEY%d@EXAMPLE.COM\n", n; else printf "key%d@example.com\n", n } }' > "$T/keys"
theirs -q - cdb:"$T/pf/big" < "$T/keys" > "$T/pf.q" 2> /dev/null || true
ours -q - cdb:"$T/ours/big" < "$T/keys" > "$T/ours.q"
if cmp -s "$T/pf.q" "$T/ours.q"; then
	pass "-q - on 10,000 keys: same output as Postfix ($(wc -l < "$T/ours.q") found)"
else
	fail "-q - on 10,000 keys: same output as Postfix"
	diff "$T/pf.q" "$T/ours.q" | head -5 | while read -r l; do note "$l"; done
fi
printf '%s\n' "${keys[@]}" > "$T/keys2"
theirs -q - cdb:"$T/pf/t1" inline:'{nosuchkey=from-inline}' < "$T/keys2" > "$T/pf.q2" 2> /dev/null || true
ours -q - cdb:"$T/ours/t1" inline:'{nosuchkey=from-inline}' < "$T/keys2" > "$T/ours.q2"
eq "-q - over two maps: first map wins, key printed as given" "$(cat "$T/ours.q2")" "$(cat "$T/pf.q2")"

# ----------------------------------- exit statuses
eq "-q found exits 0" "$(rc ours -q bob cdb:"$T/ours/t1")" 0
eq "-q not found exits 1" "$(rc ours -q carol cdb:"$T/ours/t1")" 1
eq "-q second map answers" "$(ours -q carol cdb:"$T/ours/t1" 'inline:{carol=c}')" c
eq "-q - nothing found exits 1" "$(echo nobody | rc ours -q - cdb:"$T/ours/t1")" 1
eq "-q missing table exits 1" "$(rc ours -q a cdb:"$T/nonexistent")" 1
eq "-q missing table message" "$(cat "$T/rc.err")" \
	"postmap: fatal: open database $T/nonexistent.cdb: No such file or directory"
eq "build from missing source exits 1" "$(rc ours cdb:"$T/nonexistent")" 1
eq "missing source message" "$(cat "$T/rc.err")" "postmap: fatal: open $T/nonexistent: No such file or directory"
eq "bad option exits 64" "$(rc ours -x cdb:"$T/ours/t1")" 64
eq "no table argument exits 64" "$(rc ours -q a)" 64
eq "-q with -s exits 64" "$(rc ours -q a -s cdb:"$T/ours/t1")" 64
eq "missing -C file exits 78" "$(rc "$PM" -C "$T/nonexistent.cf" -q a cdb:"$T/ours/t1")" 78
eq "regexp cannot be built" "$(rc ours regexp:"$T/src"; cat "$T/rc.err")" \
	"1
postmap: fatal: unsupported dictionary type: regexp does not support bulk-mode creation"
eq "-h prints usage, exits 0" "$(rc ours -h; head -c 14 "$T/rc.out")" "0
usage: postmap"

# ----------------------------------- warnings name file and line
cp "$T/src" "$T/ours/w"
ours cdb:"$T/ours/w" 2> "$T/err"
eq "warnings name file and line" "$(cat "$T/err")" \
"postmap: warning: $T/ours/w, line 8: expected format: key whitespace value -- ignoring this line
postmap: warning: $T/ours/w, line 9: duplicate entry: \"bob\""
ours -w cdb:"$T/ours/w" 2> "$T/err"
eq "-w: no duplicate warning" "$(grep -c duplicate "$T/err" || true)" 0
ours -r cdb:"$T/ours/w" 2> /dev/null
eq "-r: the last duplicate wins" "$(ours -q bob cdb:"$T/ours/w")" "second bob"
printf '/^(.*)@old\\.example$/ $1@new.example\nif /^x/\n/(/ broken\nendif\n' > "$T/bad.re"
eq "regexp error names file and line" "$(rc ours -q a@old.example regexp:"$T/bad.re"; cat "$T/rc.err")" \
	"1
postmap: fatal: regexp map $T/bad.re, line 3: Unmatched ( or \\("

# ----------------------------------- regexp answers like Postfix's
cat > "$T/re" <<'EOF'
/^(.*)@Example\.com$/	${1}@example.org
/^user\+(.+)@/i	plus-$1
if /@corp\./
/^admin@/	root
!/^x/	not-x-in-corp
endif
/^([a-z]+)-([a-z]+)$/	$2.$1 $$ ok
/^@(x)?(.*)$/	[$1][$2]
/@example\.net$/!/^postmaster@/	user-at-net
EOF
ok=1
for k in Joe@EXAMPLE.com user+Tag@x USER+tag@x admin@corp.x y@corp.x xx@corp.x foo-bar @abc \
	a@example.net postmaster@example.net nomatch; do
	a=$(theirs -q "$k" regexp:"$T/re" 2>&1; echo "rc=$?")
	b=$(ours -q "$k" regexp:"$T/re" 2>&1; echo "rc=$?")
	[[ $a == "$b" ]] || { ok=0; note "key $k: postfix [$a] ours [$b]"; }
done
[[ $ok == 1 ]] && pass "regexp lookups answer as Postfix's" || fail "regexp lookups answer as Postfix's"
ok=1
for spec in 'inline:{a=1, B=2}' 'inline:{ { key = value with spaces }, x=y}' 'static:{ s p }' \
	texthash:"$T/src"; do
	for k in a b key x ALICE@EXAMPLE.COM nope; do
		a=$(theirs -q "$k" "$spec" 2>&1; echo "rc=$?")
		b=$(ours -q "$k" "$spec" 2>&1; echo "rc=$?")
		[[ $a == "$b" ]] || { ok=0; note "$spec key $k: postfix [$a] ours [$b]"; }
	done
done
[[ $ok == 1 ]] && pass "inline, static, texthash answer as Postfix's" ||
	fail "inline, static, texthash answer as Postfix's"

# ----------------------------------- -i, -d (cdb is rebuilt)
printf 'a 1\nb 2\n' > "$T/ours/inc"
ours cdb:"$T/ours/inc"
printf 'C 3\nA 9\n' | ours -i cdb:"$T/ours/inc" 2> "$T/err"
eq "-i adds entries Postfix can read" "$(theirs -q c cdb:"$T/ours/inc"),$(theirs -q a cdb:"$T/ours/inc")" "3,1"
eq "-i warns about a duplicate from stdin" "$(cat "$T/err")" 'postmap: warning: stdin, line 2: duplicate entry: "a"'
eq "-d existing key exits 0" "$(rc ours -d B cdb:"$T/ours/inc")" 0
eq "-d removed it" "$(rc theirs -q b cdb:"$T/ours/inc")" 1
eq "-d missing key exits 1" "$(rc ours -d zz cdb:"$T/ours/inc")" 1
eq "-d - reads keys from stdin" "$(printf 'a\nzz\n' | rc ours -d - cdb:"$T/ours/inc"); $(ours -s cdb:"$T/ours/inc")" \
	"0; c	3"

# ----------------------------------- atomic replacement, permissions
printf 'k old\n' > "$T/ours/at"
ours cdb:"$T/ours/at"
printf 'k new\nbroken \0 line\n' > "$T/ours/at"
eq "failed build exits 1" "$(rc ours cdb:"$T/ours/at"; cat "$T/rc.err")" \
	"1
postmap: fatal: $T/ours/at, line 2: NUL byte in input"
eq "failed build keeps the old table" "$(ours -q k cdb:"$T/ours/at")" old
eq "failed build leaves no temporary file" "$(ls "$T/ours" | grep -c '\.tmp$' || true)" 0
# A signal in the middle of a build: the temporary file goes, the old
# table stays.  -i waits on a pipe that never ends, so the signal always
# comes mid-build.
mkfifo "$T/fifo"
"$PM" -c "$T/conf" -i cdb:"$T/ours/at" < "$T/fifo" 2> /dev/null &
pm_pid=$!
exec 7> "$T/fifo"
printf 'k interrupted\n' >&7
for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -e $T/ours/at.cdb.tmp ]] && break; sleep 0.1; done
[[ -e $T/ours/at.cdb.tmp ]] && pass "build in progress has a temporary file" ||
	fail "build in progress has a temporary file"
kill -TERM "$pm_pid"
# A postmap that ignored the signal must not hang the test.
for _ in $(seq 50); do kill -0 "$pm_pid" 2> /dev/null || break; sleep 0.1; done
kill -0 "$pm_pid" 2> /dev/null && kill -KILL "$pm_pid"
sig_rc=0
wait "$pm_pid" || sig_rc=$?
exec 7>&-
eq "SIGTERM ends the build (exit 143)" "$sig_rc" 143
eq "interrupted build leaves no temporary file" "$(ls "$T/ours" | grep -c '\.tmp$' || true)" 0
eq "interrupted build keeps the old table" "$(ours -q k cdb:"$T/ours/at")" old
printf 'k v\n' > "$T/ours/perm"
chmod 0640 "$T/ours/perm"
ours cdb:"$T/ours/perm"
eq "table copies the source's read bits" "$(stat -c %a "$T/ours/perm.cdb")" 640
chmod 0600 "$T/ours/perm"
ours cdb:"$T/ours/perm"
eq "private source, private table" "$(stat -c %a "$T/ours/perm.cdb")" 600
ours -p cdb:"$T/ours/perm"
eq "-p: mode 0644" "$(stat -c %a "$T/ours/perm.cdb")" 644
if [[ $(id -u) == 0 ]] && id nobody > /dev/null 2>&1; then
	chmod 0755 "$T" "$T/ours"
	chown nobody "$T/ours/perm" "$T/ours"
	ours cdb:"$T/ours/perm"
	eq "root builds as the source's owner" "$(stat -c %U "$T/ours/perm.cdb")" nobody
	rm -f "$T/ours/perm.cdb"
	ours -o cdb:"$T/ours/perm"
	eq "-o: root stays root" "$(stat -c %U "$T/ours/perm.cdb")" root
	chown root "$T/ours"
fi
printf 'k v\n' > "$T/ours/deftype"
"$PM" -C /dev/null "$T/ours/deftype" 2> /dev/null || true
eq "no type and no default_database_type: cdb" "$(ls "$T/ours" | grep -c '^deftype\.cdb$')" 1
ours hash:"$T/ours/deftype"
eq "hash: is read as cdb" "$(ours -q k hash:"$T/ours/deftype")" v

echo "test_postmap: $failures failed"
[[ $failures -eq 0 ]]
