#!/usr/bin/env bash
# make install: copies satmail into DESTDIR/PREFIX with the owners and
# modes of SPEC.md section 1, and prints what it did.  As root it creates
# the satmail system group when missing; as anyone else it installs the
# files without set-id bits and says so.
set -eu
: "${BUILD:=build}" "${DESTDIR:=}" "${PREFIX:=/usr/local}"
: "${SBINDIR:=$PREFIX/sbin}" "${BINDIR:=$PREFIX/bin}"
: "${LIBEXECDIR:=$PREFIX/libexec/satmail}" "${MANDIR:=$PREFIX/share/man}"
: "${SYSCONFDIR:=/etc/satmail}" "${QUEUEDIR:=/var/spool/satmail}"
B=$BUILD/bin
D=$DESTDIR
root=0; [ "$(id -u)" = 0 ] && root=1

say() { printf '  %s\n' "$*"; }
inst() {	# inst MODE OWNER:GROUP SRC DEST
	local mode=$1 owner=$2 src=$3 dst=$4
	install -d "$(dirname "$dst")"
	install -m "$mode" "$src" "$dst"
	if [ $root = 1 ]; then
		chown "$owner" "$dst"
		chmod "$mode" "$dst"	# chown clears set-id bits: set them again
	fi
	say "$(stat -c '%A %U:%G' "$dst") $dst"
}

echo "satmail: installing into ${D:-/} (PREFIX=$PREFIX)"
if [ $root = 1 ]; then
	if ! getent group satmail >/dev/null; then
		groupadd --system satmail
		say "created system group satmail"
	fi
else
	echo "satmail: not root: installing without owners and set-id bits;"
	echo "satmail: run 'make install' as root for a working system install"
fi

inst 0755 root:root "$B/sendmail" "$D$SBINDIR/sendmail"
install -d "$D$BINDIR"
ln -sf "$SBINDIR/sendmail" "$D$BINDIR/mailq"
ln -sf "$SBINDIR/sendmail" "$D$BINDIR/newaliases"
say "$D$BINDIR/mailq, $D$BINDIR/newaliases -> $SBINDIR/sendmail"
for p in postmap postsuper; do
	[ -x "$B/$p" ] && inst 0755 root:root "$B/$p" "$D$SBINDIR/$p"
done
inst 2755 root:satmail "$B/satmail-queue" "$D$LIBEXECDIR/satmail-queue"
inst 2755 root:satmail "$B/satmail-deliver" "$D$LIBEXECDIR/satmail-deliver"
[ -x "$B/satmail-local" ] && inst 2755 root:mail "$B/satmail-local" "$D$LIBEXECDIR/satmail-local"
[ -x "$B/satmail-mbox-create" ] && inst 4755 root:root "$B/satmail-mbox-create" "$D$LIBEXECDIR/satmail-mbox-create"

# The queue: group satmail, closed to others; setgid directories so every
# file in them belongs to the queue's group.
install -d -m 2770 "$D$QUEUEDIR"
for sub in queue tmp corrupt; do
	install -d -m 2770 "$D$QUEUEDIR/$sub"
done
if [ $root = 1 ]; then
	chown -R root:satmail "$D$QUEUEDIR"
	chmod 2770 "$D$QUEUEDIR" "$D$QUEUEDIR"/queue "$D$QUEUEDIR"/tmp "$D$QUEUEDIR"/corrupt
fi
say "$(stat -c '%A %U:%G' "$D$QUEUEDIR") $D$QUEUEDIR (queue, tmp, corrupt)"

install -d "$D$SYSCONFDIR"
if [ -e "$D$SYSCONFDIR/main.cf" ]; then
	say "$D$SYSCONFDIR/main.cf exists: left as it is (sample: etc/main.cf)"
else
	install -m 0644 etc/main.cf "$D$SYSCONFDIR/main.cf"
	say "$D$SYSCONFDIR/main.cf (sample)"
fi

# Periodic queue runs: a systemd timer and a cron file, both installed,
# neither enabled (the administrator picks one).  The cron line is
# installed commented out, since cron reads every file in /etc/cron.d; an
# existing /etc/cron.d/satmail (perhaps enabled) is left alone.
UNITDIR=$PREFIX/lib/systemd/system
install -d "$D$UNITDIR"
for u in satmail-queue.service satmail-queue.timer; do
	sed "s|/usr/sbin/sendmail|$SBINDIR/sendmail|g" "etc/$u" > "$D$UNITDIR/$u.tmp"
	chmod 0644 "$D$UNITDIR/$u.tmp"
	mv -f "$D$UNITDIR/$u.tmp" "$D$UNITDIR/$u"
	say "$D$UNITDIR/$u"
done
install -d "$D/etc/cron.d"
if [ -e "$D/etc/cron.d/satmail" ]; then
	say "$D/etc/cron.d/satmail exists: left as it is"
else
	sed -e "s|/usr/sbin/sendmail|$SBINDIR/sendmail|g" -e 's|^\([^#].*\)$|# \1|' \
		etc/cron.d/satmail > "$D/etc/cron.d/satmail.tmp"
	chmod 0644 "$D/etc/cron.d/satmail.tmp"
	mv -f "$D/etc/cron.d/satmail.tmp" "$D/etc/cron.d/satmail"
	say "$D/etc/cron.d/satmail (its line commented out)"
fi
echo "satmail: note: periodic queue runs are NOT enabled automatically; choose one:"
echo "satmail:   systemctl enable --now satmail-queue.timer"
echo "satmail:   or uncomment the line in /etc/cron.d/satmail"

for page in man/*.[1-8]; do
	[ -e "$page" ] || continue
	sec=${page##*.}
	install -d "$D$MANDIR/man$sec"
	install -m 0644 "$page" "$D$MANDIR/man$sec/"
done
say "manual pages in $D$MANDIR"
if ls completion/*.bash >/dev/null 2>&1; then
	install -d "$D$PREFIX/share/bash-completion/completions" "$D$PREFIX/share/zsh/vendor-completions"
	for f in completion/*.bash; do
		n=$(basename "$f" .bash)
		install -m 0644 "$f" "$D$PREFIX/share/bash-completion/completions/$n"
	done
	# bash-completion loads by command name: mailq and newaliases share
	# sendmail's file.
	for n in mailq newaliases; do
		[ -e "$D$PREFIX/share/bash-completion/completions/$n" ] ||
			ln -sf sendmail "$D$PREFIX/share/bash-completion/completions/$n"
	done
	for f in completion/_*; do
		install -m 0644 "$f" "$D$PREFIX/share/zsh/vendor-completions/"
	done
	say "shell completion for bash and zsh"
fi
echo "satmail: done. Point /usr/sbin/sendmail at $SBINDIR/sendmail if it is not already."
