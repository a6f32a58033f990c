#!/usr/bin/env bash
# MX routing and DNS failures (SECURITY.md F-12), no relayhost: dnsmasq on
# 127.0.0.1 at a high port answers for the zone "test" (dns_servers points
# at it), smtp-sinks listen on 127.0.0.2, .3, .4 and .6 at one port
# (smtp_tcp_port); nothing listens on 127.0.0.5.  SERVFAIL comes from a
# dnsmasq forward to sinkcheck.py's responder that answers SERVFAIL; "no
# answer" from a UDP socket that swallows every query.
#   pref.test      MX 10 mxa (.2), MX 20 mxb (.3)    -> .2
#   fallback.test  MX 10 dead (.5, refused), 20 mxb  -> .3
#   implicit.test  no MX, A .3                       -> .3
#   cname.test     MX 10 alias -> CNAME real (.4)    -> .4
#   noaddr.test    MX 10 ghost (NXDOMAIN), 20 mxb    -> .3
#   nodata.test    MX 10 txtonly (no A/AAAA), 20 mxb -> .3
#   nullmx.test    MX 0 "."                          -> bounce 5.1.10
#   nx.test        NXDOMAIN                          -> bounce 5.1.2
#   fail.test      SERVFAIL                          -> deferred, never bounced
#   senders.test   MX 10 mxd (.6): the envelope sender's domain, so
#                  bounces arrive at the .6 sink
#   bücher.test    (xn--bcher-kva.test) MX 10 mxa     -> A-label lookup
source "$(dirname "$0")/lib.sh"
SINK=/usr/sbin/smtp-sink DNSMASQ=/usr/sbin/dnsmasq
for p in $SINK $DNSMASQ; do
	if [ ! -x $p ]; then echo "FAIL mx.needs_$(basename $p)"; exit 1; fi
done
trap 'bg_stop_all; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
chmod 711 "$T"	# smtp-sink runs as nobody and writes its dumps below $T
SINK_USER=() DNS_USER=()
[ "$(id -u)" = 0 ] && SINK_USER=(-u nobody) && DNS_USER=(--user=nobody --group=nogroup)
SENDER=sender@senders.test

SC() { "$PY" "$HERE/sinkcheck.py" "$@"; }
logged() {	# logged NAME ERE: a maillog line matches ERE
	if grep -Eq -- "$2" "$T/maillog" 2> /dev/null; then pass "$1"; else
		fail "$1"; note "no maillog line matching $2; last lines:"
		tail -4 "$T/maillog" 2> /dev/null | cut -c1-400 | sed 's/^/  #   /'
	fi
}
dump_count() { find "$T/$1.d" -type f | wc -l; }
clear_sinks() { rm -f "$T"/sink*.d/*; }
# counts: "A B C D" dumps at the sinks on .2 .3 .4 .6
counts() { echo "$(dump_count sink2) $(dump_count sink3) $(dump_count sink4) $(dump_count sink6)"; }
# send RCPT: a fresh queue, then sendmail -odi to RCPT
send() {
	reset_queue; clear_sinks
	printf 'Subject: to %s\n\nhello %s\n' "$1" "$1" > "$T/in"
	sm -odi -f $SENDER "$1" < "$T/in"
}
# routed CASE RCPT SINK-COUNTS HOST ADDR: delivered to the sink at ADDR,
# logged as relay=HOST[ADDR]:PORT (HOST may be an ERE)
routed() {
	local c=$1 rcpt=$2 want=$3 host=$4 addr=$5
	expect_rc "$c.exit0" 0
	eq "$c.queue_empty" "$(queue_count)" 0
	[ "$(queue_count)" -ne 0 ] || wait_for 2 test "$(counts)" = "$want"
	eq "$c.right_sink" "$(counts)" "$want"
	logged "$c.logged_relay" "to=<$rcpt>, relay=$host\[${addr//./\\.}\]:$PORT, .*dsn=2\.[0-9.]+, status=sent"
}
# bounced CASE RCPT DSN REASON-ERE: a bounce logged, no sink got the
# message, and the DSN arrived at the sender's sink (.6) from <>
bounced() {
	local c=$1 rcpt=$2 dsn=$3 why=$4 d
	expect_rc "$c.exit0" 0
	logged "$c.logged_bounce" "to=<$rcpt>, .*dsn=${dsn//./\\.}, status=bounced \($why"
	sm -q	# the DSN may have been queued rather than sent at once
	eq "$c.queue_empty" "$(queue_count)" 0
	[ "$(queue_count)" -ne 0 ] || wait_for 2 test "$(dump_count sink6)" -ge 1
	eq "$c.only_the_dsn_arrived" "$(counts)" "0 0 0 1"
	d=$(find "$T/sink6.d" -type f | head -1)
	check "$c.dsn_from_null_sender" grep -qx 'X-Mail-Args: <>.*' "${d:-/dev/null}"
	check "$c.dsn_to_sender" grep -qE "^X-Rcpt-Args: <$SENDER>" "${d:-/dev/null}"
	check "$c.dsn_status" grep -qx "Status: $dsn" "${d:-/dev/null}"
}
# deferred CASE RCPT REASON-ERE: stays queued, logged deferred, never bounced
deferred() {
	local c=$1 rcpt=$2 why=$3
	expect_rc "$c.exit0" 0
	eq "$c.stays_queued" "$(queue_count)" 1
	logged "$c.logged_deferred" "to=<$rcpt>, .*status=deferred \($why"
	eq "$c.never_bounced" "$(grep -c "to=<$rcpt>.*status=bounced" "$T/maillog")" 0
	eq "$c.nothing_sent" "$(counts)" "0 0 0 0"
}

# ---- the servers
PORT=$(free_port 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6)
for n in 2 3 4 6; do
	mkdir -p "$T/sink$n.d" && chmod 777 "$T/sink$n.d"
	bg_start "sink$n" $SINK "${SINK_USER[@]}" -h "mx$n.test" -d "$T/sink$n.d/%H%M%S." 127.0.0.$n:"$PORT" 64
done
bg_start servfail "$PY" "$HERE/sinkcheck.py" blackhole --port-file "$T/servfail.port" --rcode 2
bg_start silent "$PY" "$HERE/sinkcheck.py" blackhole --port-file "$T/silent.port"
wait_file "$T/servfail.port" && wait_file "$T/silent.port" || fail harness.dns_helpers_listen
DP=$(free_port)
bg_start dnsmasq $DNSMASQ --keep-in-foreground --log-facility=- --log-queries \
	--no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.1 --port="$DP" \
	--conf-file=/dev/null --pid-file= "${DNS_USER[@]}" --local=/test/ \
	--server=/fail.test/127.0.0.1#"$(cat "$T/servfail.port")" \
	--host-record=mxa.test,127.0.0.2 --host-record=mxb.test,127.0.0.3 \
	--host-record=dead.test,127.0.0.5 --host-record=mxd.test,127.0.0.6 \
	--mx-host=pref.test,mxb.test,20 --mx-host=pref.test,mxa.test,10 \
	--mx-host=fallback.test,dead.test,10 --mx-host=fallback.test,mxb.test,20 \
	--host-record=implicit.test,127.0.0.3 \
	--mx-host=cname.test,alias.test,10 --cname=alias.test,real.test --host-record=real.test,127.0.0.4 \
	--mx-host=noaddr.test,ghost.test,10 --mx-host=noaddr.test,mxb.test,20 \
	--mx-host=nodata.test,txtonly.test,10 --mx-host=nodata.test,mxb.test,20 \
	--txt-record=txtonly.test,"no addresses here" \
	--dns-rr=nullmx.test,15,000000 \
	--mx-host=senders.test,mxd.test,10 \
	--mx-host=xn--bcher-kva.test,mxa.test,10
for n in 2 3 4 6; do wait_port 127.0.0.$n "$PORT" || fail "harness.sink$n.listens"; done
wait_port 127.0.0.1 "$DP" || { fail harness.dnsmasq_listens; cat "$T/dnsmasq.err"; }

# ---- harness self-check: the DNS answers and the sinks (no satmail)
dq() { SC dnsq 127.0.0.1:"$1" "$2" "$3" 2>&1 | tr '\n' ';'; }
eq harness.dns.pref_mx "$(dq "$DP" pref.test MX)" "rcode=0;pref.test MX 10 mxa.test;pref.test MX 20 mxb.test;"
eq harness.dns.mxa_a "$(dq "$DP" mxa.test A)" "rcode=0;mxa.test A 127.0.0.2;"
eq harness.dns.implicit_no_mx "$(dq "$DP" implicit.test MX)" "rcode=0;"
eq harness.dns.null_mx "$(dq "$DP" nullmx.test MX)" "rcode=0;nullmx.test MX 0 .;"
eq harness.dns.cname "$(dq "$DP" alias.test A)" "rcode=0;alias.test CNAME real.test;real.test A 127.0.0.4;"
eq harness.dns.ghost_nxdomain "$(dq "$DP" ghost.test A)" "rcode=3;"
eq harness.dns.txtonly_nodata "$(dq "$DP" txtonly.test A)" "rcode=0;"
eq harness.dns.nx_nxdomain "$(dq "$DP" nx.test MX)" "rcode=3;"
eq harness.dns.fail_servfail "$(dq "$DP" fail.test MX)" "rcode=2;"
eq harness.dns.silent_times_out "$(dq "$(cat "$T/silent.port")" pref.test MX)" "timeout;"
for n in 2 3 4 6; do
	SC probe 127.0.0.$n:"$PORT" probe@example.org probe@remote.test > /dev/null 2>&1
done
wait_for 2 test "$(counts)" = "1 1 1 1"
eq harness.sinks_take_mail "$(counts)" "1 1 1 1"
if SC waitport 127.0.0.5 "$PORT" 0.2; then fail harness.nothing_on_127.0.0.5; else pass harness.nothing_on_127.0.0.5; fi
clear_sinks

BASE=("minimal_backoff_time = 0s" "maximal_backoff_time = 0s" "smtp_tcp_port = $PORT"
	"smtp_connect_timeout = 5s" "smtp_helo_timeout = 10s" "smtp_data_done_timeout = 10s")
write_conf "${BASE[@]}" "dns_servers = 127.0.0.1:$DP"

# ---- routes that deliver
send u@pref.test
routed mx_preference u@pref.test "1 0 0 0" mxa.test 127.0.0.2
send u@fallback.test
routed mx_fallback_connection_refused u@fallback.test "0 1 0 0" mxb.test 127.0.0.3
send u@implicit.test
routed implicit_mx_a_record u@implicit.test "0 1 0 0" implicit.test 127.0.0.3
send u@cname.test
routed mx_cname_followed u@cname.test "0 0 1 0" '(alias|real)\.test' 127.0.0.4
send u@noaddr.test
routed mx_host_nxdomain_next_mx u@noaddr.test "0 1 0 0" mxb.test 127.0.0.3
send u@nodata.test
routed mx_host_no_addresses_next_mx u@nodata.test "0 1 0 0" mxb.test 127.0.0.3

# ---- B-14 IDN domain: the MX question uses the A-label; the sink (no
# SMTPUTF8) then gets the A-label or the message bounces 5.6.7, never
# raw UTF-8 in RCPT TO
send 'idn@bücher.test'
expect_rc idn.exit0 0
wait_for 2 grep -q 'query\[MX\] xn--bcher-kva\.test' "$T/dnsmasq.err"
check idn.mx_lookup_a_label grep -q 'query\[MX\] xn--bcher-kva\.test' "$T/dnsmasq.err"
sm -q	# a DSN may have been queued
eq idn.settled "$(queue_count)" 0
logged idn.sent_or_bounced_5.6.7 "to=<idn@[^>]*>, (.*status=sent|.*dsn=5\.6\.7, status=bounced \(SMTPUTF8 is required)"
note "IDN outcome: $(grep -o 'to=<idn@.*' "$T/maillog" | tail -1 | cut -c1-160)"
if cat "$T"/sink2.d/* 2> /dev/null | LC_ALL=C grep -aqE $'^X-(Mail|Rcpt)-Args:.*[\x80-\xff]'; then
	fail idn.no_raw_utf8_at_sink; else pass idn.no_raw_utf8_at_sink; fi

# ---- routes that bounce
send u@nullmx.test
bounced null_mx u@nullmx.test 5.1.10 '[Dd]omain nullmx\.test does not accept mail \(nullMX\)'
send u@nx.test
bounced nxdomain u@nx.test 5.1.2 'Host or domain name not found\. Name service error for name=nx\.test type=MX: Host not found'

# ---- resolver trouble defers, in bounded time
start=$SECONDS
send u@fail.test
deferred servfail u@fail.test '.*Host not found, try again'
sm -q	# a second attempt: still deferred, still no bounce
eq servfail.retry_still_queued "$(queue_count)" 1
eq servfail.retry_never_bounced "$(grep -c 'to=<u@fail.test>.*status=bounced' "$T/maillog")" 0
s=$((SECONDS - start))
if [ $s -le 10 ]; then pass servfail.quick; else fail servfail.quick; note "$s s for two attempts"; fi

write_conf "${BASE[@]}" "dns_servers = 127.0.0.1:$(cat "$T/silent.port")"
start=$SECONDS
send nodns@pref.test
s=$((SECONDS - start))
deferred no_dns_answer nodns@pref.test '.*Host not found, try again'
if [ $s -le 25 ]; then pass no_dns_answer.bounded_time; else fail no_dns_answer.bounded_time; fi
note "no DNS answer: deferred after $s s"
if [ $failures -gt 0 ]; then
	note "dnsmasq's last queries:"; grep -E 'query|reply|config|forwarded' "$T/dnsmasq.err" | tail -15 | sed 's/^/  #   /'
fi
finish
