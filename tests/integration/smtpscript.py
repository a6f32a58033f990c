"""A scripted, possibly hostile SMTP/TLS peer (SECURITY.md "test tooling"),
for tests/integration/test_hostile.sh.  It listens, serves one or more
connections one after the other, runs a script on each, records
everything it receives and sends, and exits.

  smtpscript.py [--host 127.0.0.1] [--port 0] [--port-file F]
                [--transcript FILE] [--raw FILE] [--connections N]
                [--accept-timeout S] [--max-time S] [--drain S] SCRIPT

SCRIPT is a file, one command a line; blank lines and lines starting with
"#" are ignored.  A line "connection" starts the script of the next
connection; when more connections come than sections, the last section
is used again.  TEXT arguments take C escapes: \\r \\n \\t \\0 \\\\ \\xHH.

  send TEXT          write TEXT (no CRLF added) in one write
  reply TEXT         write TEXT + CRLF
  send-raw HEX       write bytes given in hex (spaces allowed)
  send-repeat N TEXT write TEXT N times (one write; for huge replies)
  expect REGEX       read one line; it must match REGEX (Python re.match,
                     case-insensitive, on the line without CRLF); on a
                     mismatch, EOF or timeout the connection's script
                     stops (event "expect-failed") and the peer drains
                     and closes
  read-line          read one line, whatever it is
  read-until REGEX   read lines until one matches REGEX
  read-until-dot     read DATA lines up to and including ".\\r\\n"
  read N             read N bytes (plaintext: also raw TLS records)
  starttls CERT KEY  server side TLS handshake now (implicit TLS when it
                     comes first); bytes the client sent before it are
                     discarded (event "pre-tls-bytes N")
  peek SECS          wait up to SECS for input without consuming it:
                     event "pending N" or "idle" (e.g. to see whether the
                     client pipelined commands it should not have)
  sleep SECS         pause
  timeout SECS       per-read timeout from now on (default 20)
  close              FIN: shut down our side, drain until the client
                     closes (at most --drain seconds), close
  reset              RST: SO_LINGER 0 and close
  drain              read and record until EOF (at most --drain seconds)
  repeat N / end     run the enclosed lines N times (0 = until a read
                     fails); may nest
  note TEXT          a line in the transcript

When a connection's script ends without close/reset, the peer drains and
closes (FIN).

The transcript (--transcript, default stdout) has one line per event:
  "N C plain|tls LINE"    a line received (CRLF removed; any other byte
                          outside printable ASCII, and "\\", as \\xHH; a
                          trailing fragment without LF is shown as such
                          and flagged by a final " [partial]")
  "N S plain|tls LINE"    a line sent (same escaping)
  "N E EVENT"             connect, tls-ok TLSv1.3 CIPHER, tls-fail REASON,
                          pre-tls-bytes N, expect-failed, eof, reset,
                          closed, pending N, idle, note TEXT, done
--raw FILE gets every received application byte, unescaped.
Exit: 0 when every script ran to its end, 1 when an expect failed or a
handshake failed, 3 when no (further) connection came in time.
"""
import argparse
import os
import re
import select
import signal
import socket
import ssl
import struct
import sys
import time


class Stop(Exception):
    """The connection's script ends here (EOF, failed expect, reset)."""


def unescape(text):
    out = bytearray()
    i = 0
    b = text.encode("utf-8")
    while i < len(b):
        c = b[i]
        if c == 0x5C and i + 1 < len(b):
            n = chr(b[i + 1])
            simple = {"r": 13, "n": 10, "t": 9, "0": 0, "\\": 0x5C}
            if n in simple:
                out.append(simple[n])
                i += 2
                continue
            if n == "x" and i + 4 <= len(b):
                out.append(int(b[i + 2:i + 4], 16))
                i += 4
                continue
        out.append(c)
        i += 1
    return bytes(out)


def esc(b):
    out = []
    for c in b:
        if 0x20 <= c < 0x7F and c != 0x5C:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def parse_script(path):
    """List of sections; each a list of (lineno, command, argument)."""
    sections = [[]]
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        cmd, _, arg = s.partition(" ")
        if cmd == "connection":
            if sections[-1]:
                sections.append([])
            continue
        sections[-1].append((n, cmd, arg))
    return sections


def block(cmds, i):
    """The body of a repeat starting after index i and the index after its end."""
    depth, j = 1, i + 1
    while j < len(cmds):
        if cmds[j][1] == "repeat":
            depth += 1
        elif cmds[j][1] == "end":
            depth -= 1
            if depth == 0:
                return cmds[i + 1:j], j + 1
        j += 1
    raise SystemExit("smtpscript: line %d: repeat without end" % cmds[i][0])


class Conn:
    def __init__(self, sock, num, args, out, raw):
        self.sock = sock
        self.num = num
        self.args = args
        self.out = out
        self.raw = raw
        self.buf = b""		# received, not yet consumed by the script
        self.pending = b""	# received, not yet written as a transcript line
        self.tls = False
        self.timeout = 20.0
        self.failed = False
        self.open = True

    # ---- transcript
    def rec(self, kind, text):
        self.out.write("%d %s %s\n" % (self.num, kind, text))
        self.out.flush()

    def event(self, text):
        self.rec("E", text)

    def layer(self):
        return "tls" if self.tls else "plain"

    def lines(self, who, data, final=False):
        """Transcript lines for data; returns the unterminated rest."""
        while True:
            i = data.find(b"\n")
            if i < 0:
                break
            line, data = data[:i + 1], data[i + 1:]
            shown = esc(line[:-2]) if line.endswith(b"\r\n") else esc(line)
            self.rec(who, "%s %s" % (self.layer(), shown))
        if final and data:
            self.rec(who, "%s %s [partial]" % (self.layer(), esc(data)))
            data = b""
        return data

    def flush_pending(self):
        self.pending = self.lines("C", self.pending, final=True)

    # ---- I/O
    def recv_some(self, timeout):
        """More input into buf; False on EOF or timeout."""
        if not self.open:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            self.event("timeout")
            return False
        except (ssl.SSLError, OSError) as e:
            self.event("recv-error %s" % esc(str(e).encode()))
            data = b""
        if not data:
            self.flush_pending()
            self.event("eof")
            self.open = False
            return False
        if self.raw:
            self.raw.write(data)
            self.raw.flush()
        self.buf += data
        self.pending = self.lines("C", self.pending + data)
        return True

    def read_line(self):
        while b"\n" not in self.buf:
            if not self.recv_some(self.timeout):
                raise Stop()
        i = self.buf.index(b"\n")
        line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
        return line

    def read_n(self, n):
        while len(self.buf) < n:
            if not self.recv_some(self.timeout):
                raise Stop()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, data):
        self.lines("S", data, final=True)
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.event("send-error %s" % esc(str(e).encode()))
            raise Stop()

    def drain(self):
        end = time.monotonic() + self.args.drain
        while self.open and time.monotonic() < end:
            if not self.recv_some(max(0.01, end - time.monotonic())):
                break
        self.flush_pending()

    def close(self):
        if self.sock is None:
            return
        try:
            # socket.socket's own shutdown: SSLSocket.shutdown would drop
            # the TLS layer and the drain would record ciphertext.
            socket.socket.shutdown(self.sock, socket.SHUT_WR)
        except OSError:
            pass
        self.drain()
        self.sock.close()
        self.sock = None
        self.event("closed")

    def reset(self):
        self.flush_pending()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.sock = None
        self.open = False
        self.event("reset")

    def starttls(self, cert, key):
        if self.buf:
            self.event("pre-tls-bytes %d" % len(self.buf))
            self.buf = b""
        self.flush_pending()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.sock.settimeout(self.timeout)
        try:
            s = ctx.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
            self.sock = s
            s.do_handshake()
        except (ssl.SSLError, OSError) as e:
            self.event("tls-fail %s" % esc(str(e).encode()))
            self.failed = True
            self.open = False
            raise Stop()
        self.tls = True
        self.event("tls-ok %s %s" % (s.version(), s.cipher()[0]))

    def peek(self, secs):
        if self.buf:
            self.event("pending %d" % len(self.buf))
            return
        if self.tls and self.sock.pending():
            self.event("pending %d" % self.sock.pending())
            return
        r, _, _ = select.select([self.sock], [], [], secs)
        if r:
            self.recv_some(self.timeout)
            self.event("pending %d" % len(self.buf) if self.buf else "idle")
        else:
            self.event("idle")

    # ---- the script
    def run(self, cmds):
        i = 0
        while i < len(cmds):
            n, cmd, arg = cmds[i]
            i += 1
            if cmd == "repeat":
                body, i = block(cmds, i - 1)
                count = int(arg or 0)
                k = 0
                while count == 0 or k < count:
                    self.run(body)
                    k += 1
                continue
            self.step(n, cmd, arg)

    def step(self, n, cmd, arg):
        if cmd == "send":
            self.send(unescape(arg))
        elif cmd == "reply":
            self.send(unescape(arg) + b"\r\n")
        elif cmd == "send-raw":
            self.send(bytes.fromhex(arg))
        elif cmd == "send-repeat":
            count, _, text = arg.partition(" ")
            data = unescape(text) * int(count)
            self.rec("S", "%s [%d bytes: %d x %s]" % (self.layer(), len(data), int(count), esc(unescape(text))))
            try:
                self.sock.sendall(data)
            except OSError as e:
                self.event("send-error %s" % esc(str(e).encode()))
                raise Stop()
        elif cmd == "expect":
            try:
                line = self.read_line()
            except Stop:
                self.event("expect-failed line %d: %s (no line)" % (n, arg))
                self.failed = True
                raise
            text = line.rstrip(b"\r\n").decode("latin-1")
            if not re.match(arg, text, re.I):
                self.event("expect-failed line %d: %s" % (n, arg))
                self.failed = True
                raise Stop()
        elif cmd == "read-line":
            self.read_line()
        elif cmd == "read-until":
            while not re.match(arg, self.read_line().rstrip(b"\r\n").decode("latin-1"), re.I):
                pass
        elif cmd == "read-until-dot":
            while self.read_line() != b".\r\n":
                pass
        elif cmd == "read":
            self.read_n(int(arg))
        elif cmd == "starttls":
            cert, key = arg.split()
            self.starttls(cert, key)
        elif cmd == "peek":
            self.peek(float(arg))
        elif cmd == "sleep":
            time.sleep(float(arg))
        elif cmd == "timeout":
            self.timeout = float(arg)
        elif cmd == "close":
            self.close()
            raise Stop()
        elif cmd == "reset":
            self.reset()
            raise Stop()
        elif cmd == "drain":
            self.drain()
        elif cmd == "note":
            self.event("note " + arg)
        else:
            raise SystemExit("smtpscript: line %d: unknown command %s" % (n, cmd))


def main():
    p = argparse.ArgumentParser(description="scripted SMTP/TLS peer")
    p.add_argument("script")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--transcript")
    p.add_argument("--raw")
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--accept-timeout", type=float, default=10,
                   help="seconds to wait for the second and later connections")
    p.add_argument("--max-time", type=float, default=120)
    p.add_argument("--drain", type=float, default=2)
    args = p.parse_args()
    sections = parse_script(args.script)

    out = open(args.transcript, "a") if args.transcript else sys.stdout
    raw = open(args.raw, "ab") if args.raw else None

    def too_long(*_):
        out.write("0 E max-time\n")
        out.flush()
        os._exit(3)
    signal.signal(signal.SIGALRM, too_long)
    signal.setitimer(signal.ITIMER_REAL, args.max_time)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    fam = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.host, args.port))
    ls.listen(8)
    port = ls.getsockname()[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(args.port_file + ".tmp", args.port_file)
    print("READY %d" % port, flush=True)

    status = 0
    for num in range(1, args.connections + 1):
        ls.settimeout(args.max_time if num == 1 else args.accept_timeout)
        try:
            sock, peer = ls.accept()
        except socket.timeout:
            out.write("%d E no-connection\n" % num)
            out.flush()
            status = status or 3
            break
        c = Conn(sock, num, args, out, raw)
        c.event("connect %s:%d" % peer[:2])
        try:
            c.run(sections[min(num, len(sections)) - 1])
        except Stop:
            pass
        if c.sock is not None:
            c.close()
        if c.failed:
            status = 1
        c.event("done")
    ls.close()
    sys.exit(status)


if __name__ == "__main__":
    main()
