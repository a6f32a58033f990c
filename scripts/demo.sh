#!/usr/bin/env bash
# make demo: the main job end to end on this machine, in a private queue
# (nothing outside a temporary directory is touched).
set -eu
B=$(pwd)/build/bin
D=$(mktemp -d "${TMPDIR:-/tmp}/satmail-demo.XXXXXX")
cat > "$D/main.cf" <<CF
# A private satmail configuration for the demo.
queue_directory = $D/queue
myhostname = demo.example.org
myorigin = example.org
delivery_mode = queue
maillog_file = $D/maillog
mydestination = demo.example.org, example.org, localhost
mail_spool_directory = $D/spool
alias_maps = cdb:$D/aliases
alias_database = cdb:$D/aliases
CF
mkdir -p "$D/spool"
me=$(id -un)
printf 'postmaster: root\nops: %s\n' "$me" > "$D/aliases"
export SATMAIL_CONFIG=$D/main.cf
run() { printf '\n$ %s\n' "$*"; "$@"; }

echo "satmail demo: private queue and config in $D"
run "$B/newaliases"
printf '\n$ printf '"'"'To: bob\\nSubject: hi\\n\\nhello\\n'"'"' | sendmail -t\n'
printf 'To: bob\nSubject: hi\n\nhello\n' | "$B/sendmail" -t
echo "exit status $?"
printf '\n$ echo "disk almost full" | sendmail -F "Cron Daemon" ops@example.net alice\n'
echo "disk almost full" | "$B/sendmail" -F "Cron Daemon" ops@example.net alice
printf '\n$ printf '"'"'To: carol@example.com\\nBcc: audit@example.com\\n\\nsecret\\n'"'"' | sendmail -t -f reports@example.org\n'
printf 'To: carol@example.com\nBcc: audit@example.com\n\nsecret\n' | "$B/sendmail" -t -f reports@example.org
run "$B/mailq"
run "$B/mailq" -j
entry=$(ls "$D/queue/queue" | head -n 1)
printf '\n$ cat %s   # one queue entry: envelope records, empty line, message\n' "$D/queue/queue/$entry"
cat "$D/queue/queue/$entry"
run "$B/sendmail" -bv ops bob@example.com
printf '\n$ echo "backup done" | sendmail -odi ops   # alias ops -> %s, delivered now\n' "$me"
echo "backup done" | "$B/sendmail" -odi -F "Backup" ops
printf '\n$ cat %s\n' "$D/spool/$me"
cat "$D/spool/$me"
# Remote delivery: a Postfix smtp-sink on a loopback port plays the
# smarthost; -v shows the SMTP dialogue (pipelined MAIL/RCPT/DATA).
if command -v smtp-sink > /dev/null 2>&1; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	sinkuser=(); [ "$(id -u)" = 0 ] && sinkuser=(-u nobody)
	smtp-sink "${sinkuser[@]}" "127.0.0.1:$port" 10 & sinkpid=$!
	for _ in $(seq 50); do (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null && break; sleep 0.1; done
	{ cat "$D/main.cf"; echo "relayhost = [127.0.0.1]:$port"; } > "$D/relay.cf"
	printf '\n$ echo "deploy finished" | sendmail -C relay.cf -odi -v carol@example.com   # relayhost = [127.0.0.1]:%s\n' "$port"
	echo "deploy finished" | "$B/sendmail" -C "$D/relay.cf" -odi -v carol@example.com
	kill "$sinkpid" 2> /dev/null; wait "$sinkpid" 2> /dev/null || true
fi
printf '\n$ echo bad | sendmail "bad address@@"   # refused: nothing queued\n'
echo bad | "$B/sendmail" 'bad address@@' || echo "exit status $?"
printf '\n$ cat %s\n' "$D/maillog"
cat "$D/maillog"
rm -rf "$D"
