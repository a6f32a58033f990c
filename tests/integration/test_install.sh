#!/usr/bin/env bash
# make install DESTDIR=... PREFIX=/usr as root: owners and modes of SPEC.md
# section 1 (set-id helpers, the queue directory closed to others).  It
# builds into a private BUILD directory so the shared build tree keeps its
# compiled-in paths.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	note "not root: make install cannot set owners and set-id bits; nothing checked"
	finish
fi
check install.script_present [ -f "$ROOT/scripts/install.sh" ]
[ -f "$ROOT/scripts/install.sh" ] || finish

D=$T/root
timeout 600 env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u SAN make -C "$ROOT" --no-print-directory install SAN=0 BUILD="$T/build" DESTDIR="$D" PREFIX=/usr \
    > "$T/install.out" 2>&1
rc=$?
eq install.exit_0 "$rc" 0
[ "$rc" -eq 0 ] || sed 's/^/  #   /' "$T/install.out" | tail -20

# mode_of PATH: "octal-mode owner group", or "missing"
mode_of() { stat -c '%a %U %G' "$1" 2> /dev/null || echo missing; }

eq install.sendmail "$(mode_of "$D/usr/sbin/sendmail")" "755 root root"
eq install.mailq_link "$(readlink "$D/usr/bin/mailq")" "/usr/sbin/sendmail"
eq install.newaliases_link "$(readlink "$D/usr/bin/newaliases")" "/usr/sbin/sendmail"
has_group() { getent group satmail > /dev/null; }
check install.group_satmail_exists has_group
eq install.satmail_queue_setgid "$(mode_of "$D/usr/libexec/satmail/satmail-queue")" "2755 root satmail"
eq install.satmail_deliver_setgid "$(mode_of "$D/usr/libexec/satmail/satmail-deliver")" "2755 root satmail"
if [ -x "$T/build/bin/satmail-local" ]; then
	eq install.satmail_local_setgid_mail "$(mode_of "$D/usr/libexec/satmail/satmail-local")" "2755 root mail"
else
	note "satmail-local not built yet: not checked"
fi
if [ -x "$T/build/bin/satmail-mbox-create" ]; then
	eq install.mbox_create_setuid_root "$(mode_of "$D/usr/libexec/satmail/satmail-mbox-create")" "4755 root root"
else
	note "satmail-mbox-create not built yet: not checked"
fi
for p in postmap postsuper; do
	[ -x "$T/build/bin/$p" ] && eq "install.$p" "$(mode_of "$D/usr/sbin/$p")" "755 root root"
done
# Nothing else set-id.
extra=$(find "$D" -perm /6000 -type f | sed "s|^$D||" | grep -v '^/usr/libexec/satmail/satmail-\(queue\|deliver\|local\|mbox-create\)$')
eq install.no_other_setid_files "$extra" ""

# The queue: group satmail, closed to others, setgid so files inherit it.
Q=$D/var/spool/satmail
for dir in "$Q" "$Q/queue" "$Q/tmp"; do
	n=${dir#"$Q"}; n=queue_dir${n//\//_}
	check "install.$n.exists" [ -d "$dir" ]
	eq "install.$n.group_satmail" "$(stat -c %G "$dir" 2> /dev/null)" satmail
	m=$(stat -c %a "$dir" 2> /dev/null || echo 7777)
	eq "install.$n.closed_to_others" "$((8#$m & 8#007))" 0
	eq "install.$n.owner_root" "$(stat -c %U "$dir" 2> /dev/null)" root
done
# The compiled-in helper directory is the installed one.
check install.libexec_path_compiled_in grep -qa '/usr/libexec/satmail' "$D/usr/sbin/sendmail"
check install.sample_config "[" -f "$D/etc/satmail/main.cf" "]"
check install.prints_what_it_did grep -q 'satmail-queue' "$T/install.out"
# Periodic queue runs: shipped, not enabled, and the installer says so.
for u in satmail-queue.service satmail-queue.timer; do
	eq "install.unit.$u" "$(mode_of "$D/usr/lib/systemd/system/$u")" "644 root root"
done
check install.unit.execstart grep -qx 'ExecStart=/usr/sbin/sendmail -q' "$D/usr/lib/systemd/system/satmail-queue.service"
check install.unit.timer_5min grep -qx 'OnUnitActiveSec=5min' "$D/usr/lib/systemd/system/satmail-queue.timer"
check install.cron_file "[" -f "$D/etc/cron.d/satmail" "]"
eq install.cron_not_enabled "$(grep -c '^[^#]' "$D/etc/cron.d/satmail" 2> /dev/null)" 0
check install.cron_line_present grep -qx '# \*/5 \* \* \* \* root /usr/sbin/sendmail -q' "$D/etc/cron.d/satmail"
check install.note_not_enabled grep -q 'NOT enabled automatically' "$T/install.out"
check install.postsuper_man "[" -f "$D/usr/share/man/man1/postsuper.1" "]"
check install.postsuper_completion "[" -f "$D/usr/share/bash-completion/completions/postsuper" "]"
# A second install over the first keeps working (and keeps the modes).
timeout 600 env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u SAN make -C "$ROOT" --no-print-directory install SAN=0 BUILD="$T/build" DESTDIR="$D" PREFIX=/usr \
    > "$T/install2.out" 2>&1
eq install.again.exit_0 "$?" 0
eq install.again.satmail_queue_setgid "$(mode_of "$D/usr/libexec/satmail/satmail-queue")" "2755 root satmail"

finish
