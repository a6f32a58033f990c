#!/usr/bin/env bash
# make deps: install the Debian packages satmail's build and tests need.
# Does nothing when everything is present; as non-root prints the apt-get
# line and fails.  Postfix is installed with "No configuration" and no
# daemon is left running: its smtp-sink, postmap and sendmail are test peers.
set -eu
PKGS="gcc make pkg-config libssl-dev libldns-dev libcdb-dev libgsasl-dev
      libpcre2-dev libidn2-dev libcriterion-dev postfix postfix-cdb python3 python3-aiosmtpd
      dnsmasq openssl strace iproute2 procps clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
		|| missing="$missing $p"
done
[ -z "$missing" ] && exit 0
line="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
	echo "make deps: missing packages:$missing" >&2
	echo "make deps: run as root: $line" >&2
	exit 1
fi
echo "make deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
# policy-rc.d 101 keeps Debian's maintainer scripts from starting daemons
# (postfix master, dnsmasq): tests start their own on loopback.
had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
if [ $had_policy = 0 ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
fi
trap '[ $had_policy = 0 ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
apt-get install -y -q --no-install-recommends $missing
# Belt and braces: nothing installed here may keep running.
postfix stop >/dev/null 2>&1 || true
pkill -x dnsmasq >/dev/null 2>&1 || true
