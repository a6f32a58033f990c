#!/usr/bin/python3
"""Strict mbox checker and fake MUA for satmail's local delivery tests
(SECURITY.md B-06, F-06, F-11; the oracle of "harness piece 5").

  mboxcheck.py MBOX [--count N] [--expect F...] [--expect-set F...]
                    [--last F] [--sender S] [--fragments [--known F...]]
  mboxcheck.py --mua MBOX --stop FILE [--seconds S]

Check mode parses MBOX as Postfix local(8) writes it (mboxo):

  From SENDER  Www Mmm dd hh:mm:ss yyyy
  Return-Path: <SENDER>
  [X-Original-To: ...]
  Delivered-To: ...
  the message, lines starting "From " quoted as ">From "
  an empty line

A "From " line is legal only at the start of the file or after an empty
line, and only as a well-formed From_ line; every message ends with the
empty line.  The stored message is compared with the quoted form of an
original file (">From " prepended to its "From " lines, a final LF added
when missing): mboxo quoting cannot be reversed exactly (">From x" in the
original is stored unchanged), so comparing forward is the exact check.

--fragments tolerates truncated messages (a writer killed with -9) before
the last one; the last message must still be complete and strict.  With
--known F..., a message before the last counts as complete only when it
is an exact copy of one of those files, and as a fragment otherwise.

MUA mode imitates a mail reader until FILE exists (or --seconds pass):
fcntl lock, then the dotlock MBOX.lock, strict parse of everything it
sees, an in-place rewrite of the same bytes (a writer ignoring the locks
would lose its message), unlock.  Prints "mua: N rounds, E errors".
Exit status: 0 when every check passed, 1 otherwise.
"""
import argparse
import errno
import fcntl
import hashlib
import os
import re
import sys
import time

FROM_RE = re.compile(
    rb'^From (?:MAILER-DAEMON|\S+|"[^"\n]*"\S*)  '
    rb'(Sun|Mon|Tue|Wed|Thu|Fri|Sat) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) '
    rb'[ 123][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] [0-9]{4}\n$')


GLUED_RE = re.compile(b'[^>\\n]' + FROM_RE.pattern[1:-1])


class Msg:
    def __init__(self, lines):
        self.lines = lines
        self.errors = []
        self.from_line = lines[0]
        self.headers = {}
        self.stored = None
        self.parse()

    def parse(self):
        ls = self.lines
        if not FROM_RE.match(ls[0]):
            self.errors.append('bad From_ line %r' % ls[0][:80])
        i = 1
        for name, required in ((b'Return-Path', True), (b'X-Original-To', False),
                               (b'Delivered-To', True)):
            if i < len(ls) and ls[i].startswith(name + b': ') and ls[i].endswith(b'\n'):
                self.headers[name.decode()] = ls[i][len(name) + 2:-1].decode('utf-8', 'replace')
                i += 1
            elif required:
                self.errors.append('missing %s header' % name.decode())
        if 'Return-Path' in self.headers and not re.match(r'^<[^<>]*>$', self.headers['Return-Path']):
            self.errors.append('bad Return-Path %r' % self.headers['Return-Path'])
        if len(ls) < i + 1 or ls[-1] != b'\n':
            self.errors.append('does not end with an empty line')
            self.stored = b''.join(ls[i:])
        else:
            self.stored = b''.join(ls[i:-1])
        for ln in ls[1:]:
            if ln.startswith(b'From '):
                self.errors.append('unquoted "From " line inside a message')
                break
        # A From_ line glued to the end of a partial line: a writer
        # appended after a fragment without the separating empty line.
        for ln in ls[1:]:
            if GLUED_RE.search(ln):
                self.errors.append('unquoted "From " line inside a message (glued to a partial line)')
                break

    @property
    def sender(self):
        m = re.match(rb'^From (\S+|"[^"]*"\S*)  ', self.from_line)
        return m.group(1).decode('utf-8', 'replace') if m else None


def split_mbox(data):
    """Messages as lists of lines; errors for From lines in wrong places."""
    errors, msgs = [], []
    if not data:
        return msgs, errors
    lines = data.splitlines(keepends=True)
    if not lines[0].startswith(b'From '):
        errors.append('file does not start with a From_ line')
    cur = []
    prev_empty = True
    for ln in lines:
        if ln.startswith(b'From ') and prev_empty:
            if cur:
                msgs.append(cur)
            cur = [ln]
        else:
            cur.append(ln)
        prev_empty = ln == b'\n'
    if cur:
        msgs.append(cur)
    if not data.endswith(b'\n'):
        errors.append('file does not end with a newline')
    return msgs, errors


def quoted(original):
    """The bytes satmail-local stores for an original message."""
    if original and not original.endswith(b'\n'):
        original += b'\n'
    out = []
    for ln in original.splitlines(keepends=True):
        out.append(b'>' + ln if ln.startswith(b'From ') else ln)
    return b''.join(out)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def check(args):
    with open(args.mbox, 'rb') as f:
        data = f.read()
    raw, errors = split_mbox(data)
    msgs = [Msg(ls) for ls in raw]
    if args.known:
        known = set()
        for fn in args.known:
            with open(fn, 'rb') as f:
                known.add(sha(quoted(f.read())))
        for m in msgs[:-1]:
            if not m.errors and sha(m.stored) not in known:
                m.errors.append('not a copy of any --known message')
    complete = [m for m in msgs if not m.errors]
    fragments = len(msgs) - len(complete)
    for n, m in enumerate(msgs):
        # A fragment is tolerated, but a "From " line inside one means a
        # separator went missing: never tolerated.
        tolerated = args.fragments and n != len(msgs) - 1
        errors += ['message %d: %s' % (n + 1, e) for e in m.errors
                   if not tolerated or e.startswith('unquoted')]
    if args.count is not None and len(complete) != args.count:
        errors.append('%d complete messages, want %d' % (len(complete), args.count))
    if args.sender is not None:
        for n, m in enumerate(complete):
            want = args.sender or 'MAILER-DAEMON'
            if m.sender != want:
                errors.append('message %d: From_ sender %r, want %r' % (n + 1, m.sender, want))
            if m.headers.get('Return-Path') != '<%s>' % args.sender:
                errors.append('message %d: Return-Path %r' % (n + 1, m.headers.get('Return-Path')))
    if args.expect:
        if len(complete) != len(args.expect):
            errors.append('%d messages, %d expected' % (len(complete), len(args.expect)))
        for n, (m, fn) in enumerate(zip(complete, args.expect)):
            with open(fn, 'rb') as f:
                want = quoted(f.read())
            if m.stored != want:
                errors.append('message %d differs from %s (%d bytes, want %d)' %
                              (n + 1, fn, len(m.stored), len(want)))
    if args.expect_set:
        want = {}
        for fn in args.expect_set:
            with open(fn, 'rb') as f:
                h = sha(quoted(f.read()))
            want[h] = want.get(h, 0) + 1
        got = {}
        for m in complete:
            got[sha(m.stored)] = got.get(sha(m.stored), 0) + 1
        if got != want:
            missing = sum(max(0, c - got.get(h, 0)) for h, c in want.items())
            extra = sum(max(0, c - want.get(h, 0)) for h, c in got.items())
            errors.append('message set differs: %d missing or damaged, %d unexpected' %
                          (missing, extra))
    if args.last:
        with open(args.last, 'rb') as f:
            want = quoted(f.read())
        if not msgs or msgs[-1].errors or msgs[-1].stored != want:
            errors.append('last message is not a complete copy of %s' % args.last)
        # it starts at the file start or right after an empty line
        if msgs and len(msgs) > 1 and msgs[-2].lines[-1] != b'\n':
            errors.append('last message does not follow an empty line')
    for e in errors:
        print('mboxcheck: %s: %s' % (args.mbox, e))
    print('mboxcheck: %s: %d messages (%d complete, %d fragments), %s' %
          (args.mbox, len(msgs), len(complete), fragments, 'ok' if not errors else 'FAILED'))
    return 0 if not errors else 1


def mua(args):
    lock = args.mbox + '.lock'
    deadline = time.monotonic() + args.seconds
    rounds = errs = 0
    while not os.path.exists(args.stop) and time.monotonic() < deadline:
        try:
            fd = os.open(args.mbox, os.O_RDWR)
        except FileNotFoundError:
            time.sleep(0.02)
            continue
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            got = False
            for _ in range(500):	# at most ~5 s
                try:
                    lfd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                    os.write(lfd, b'%d\n' % os.getpid())
                    os.close(lfd)
                    got = True
                    break
                except OSError as e:
                    if e.errno != errno.EEXIST:
                        raise
                    time.sleep(0.01)
            if not got:
                print('mua: dotlock never free')
                errs += 1
                continue
            try:
                data = b''
                while True:
                    b = os.pread(fd, 1 << 20, len(data))
                    if not b:
                        break
                    data += b
                raw, errors = split_mbox(data)
                errors += ['message %d: %s' % (n + 1, e) for n, ls in enumerate(raw)
                           for e in Msg(ls).errors]
                if errors:
                    errs += 1
                    print('mua: round %d: %s' % (rounds + 1, '; '.join(errors[:3])))
                # rewrite in place, as an MUA saving the folder does
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
                os.fsync(fd)
                time.sleep(0.02)
                rounds += 1
            finally:
                os.unlink(lock)
        finally:
            os.close(fd)	# drops the fcntl lock
        time.sleep(0.03)
    print('mua: %d rounds, %d errors' % (rounds, errs))
    return 0 if errs == 0 else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument('mbox')
    p.add_argument('--count', type=int)
    p.add_argument('--expect', nargs='+')
    p.add_argument('--expect-set', nargs='+')
    p.add_argument('--last')
    p.add_argument('--sender')
    p.add_argument('--fragments', action='store_true')
    p.add_argument('--known', nargs='+')
    p.add_argument('--mua', action='store_true')
    p.add_argument('--stop')
    p.add_argument('--seconds', type=float, default=120)
    args = p.parse_args()
    if args.mua:
        return mua(args)
    return check(args)


if __name__ == '__main__':
    sys.exit(main())
