"""Independent reader of satmail queue entry files (lib/envelope.h,
lib/queue.h), for the integration tests.  It does not trust the product's
own reader: it re-implements the documented format.

  qentry.py check FILE          exit 0 when FILE is a well-formed, complete
                                entry (version line, records, size record =
                                message bytes, id record = file name);
                                otherwise prints why and exits 1
  qentry.py rcpts FILE          decoded rcpt addr= values, one per line
  qentry.py get FILE KEY        decoded value of the first KEY record
  qentry.py records FILE        every record line as stored (raw)
  qentry.py msg FILE            the stored message (bytes after the envelope)
  qentry.py headers FILE        the stored message's header section
  qentry.py size FILE           message byte count
"""
import os
import re
import sys

VERSION = b"satmail-envelope 1"


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == 0x25:  # %
            h = s[i + 1:i + 3]
            if len(h) != 2 or not re.fullmatch(rb"[0-9A-Fa-f]{2}", h):
                raise ValueError("bad escape in %r" % s)
            out.append(int(h, 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return bytes(out)


def split(path):
    data = open(path, "rb").read()
    end = data.find(b"\n\n")
    if end < 0:
        raise ValueError("no end of envelope")
    head = data[:end + 1]
    msg = data[end + 2:]
    lines = head.split(b"\n")[:-1]
    return lines, msg


def records(path):
    lines, _ = split(path)
    if not lines or lines[0] != VERSION:
        raise ValueError("first line is not %r" % VERSION)
    recs = []
    for ln in lines[1:]:
        m = re.fullmatch(rb"([a-z][a-z0-9-]*): ?(.*)", ln)
        if not m:
            raise ValueError("malformed record line %r" % ln)
        val = m.group(2)
        if re.search(rb"[\x00-\x20\x7f-\xff]", val.replace(b" ", b"")):
            raise ValueError("unescaped byte in record %r" % ln)
        recs.append((m.group(1).decode(), val))
    return recs


def get(path, key):
    for k, v in records(path):
        if k == key:
            return unescape(v)
    return None


def rcpts(path):
    out = []
    for k, v in records(path):
        if k != "rcpt":
            continue
        fields = {}
        for f in v.split(b" "):
            if not f:
                continue
            name, eq, val = f.partition(b"=")
            if not eq:
                raise ValueError("rcpt field without '=': %r" % f)
            fields[name.decode()] = unescape(val)
        if "addr" not in fields:
            raise ValueError("rcpt record without addr")
        out.append(fields)
    return out


def check(path):
    recs = records(path)
    keys = [k for k, _ in recs]
    for need in ("id", "arrival", "size", "sender"):
        if need not in keys:
            raise ValueError("no %s record" % need)
    _, msg = split(path)
    size = get(path, "size")
    if not re.fullmatch(rb"[0-9]{12}", size):
        raise ValueError("size record %r is not 12 digits" % size)
    if int(size) != len(msg):
        raise ValueError("size record %d != message bytes %d" % (int(size), len(msg)))
    if get(path, "id").decode() != os.path.basename(path):
        raise ValueError("id record %r != file name" % get(path, "id"))
    if not rcpts(path):
        raise ValueError("no recipients")
    if not re.fullmatch(rb"[0-9]+\.[0-9]{6}", get(path, "arrival")):
        raise ValueError("arrival record %r malformed" % get(path, "arrival"))


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    out = sys.stdout.buffer
    try:
        if cmd == "check":
            check(path)
        elif cmd == "rcpts":
            for r in rcpts(path):
                out.write(r["addr"] + b"\n")
        elif cmd == "get":
            v = get(path, sys.argv[3])
            if v is None:
                return 1
            out.write(v + b"\n")
        elif cmd == "records":
            for ln in split(path)[0]:
                out.write(ln + b"\n")
        elif cmd == "msg":
            out.write(split(path)[1])
        elif cmd == "headers":
            msg = split(path)[1]
            end = msg.find(b"\n\n")
            out.write(msg[:end + 1] if end >= 0 else msg)
        elif cmd == "size":
            out.write(b"%d\n" % len(split(path)[1]))
        else:
            print("unknown command", cmd, file=sys.stderr)
            return 2
    except (ValueError, OSError) as e:
        print("%s: %s" % (path, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
