"""A test SMTP server (sink) built on aiosmtpd 1.4.3, for the integration
tests.  Run it with Debian's /usr/bin/python3 (lib.sh: $PY).

  smtpd.py --port 0 --port-file F --outdir DIR --log FILE [options]

Listening: --host (repeatable: the first address picks the port, 0 = any
free one, the others bind the same port when they can), --port.  When
listening, the port is written to --port-file (atomically) and
"READY <port>" is printed on stdout.  The server stops on SIGTERM/SIGINT
or after --max-time seconds (a safety net for a forgotten server).

TLS: --starttls CERT KEY offers STARTTLS; --implicit-tls CERT KEY runs TLS
from the first byte; --require-tls answers 530 to everything but EHLO,
HELO, NOOP, QUIT and STARTTLS before TLS.

AUTH: --auth USER:PASSWORD (repeatable) enables PLAIN and LOGIN;
--xoauth2 USER:TOKEN (repeatable) enables XOAUTH2 for that token;
--auth-mechs "PLAIN LOGIN" limits what is offered; AUTH is offered
before TLS too unless --no-auth-before-tls.

Capabilities: --size N (SIZE N and the limit, default 33554432; 0 = no
SIZE and no limit), --no-8bitmime
(not offered, and BODY=8BITMIME is refused with 555), --no-smtputf8
(not offered; SMTPUTF8 and non-ASCII commands are refused),
--ehlo-extra WORD (repeatable, e.g. DSN), --no-pipelining is not needed:
aiosmtpd never offers PIPELINING, but --ehlo-extra PIPELINING does.
--reject-rcpt ADDR:CODE[:TEXT] answers RCPT TO:<ADDR> with CODE TEXT.
--data-reply "CODE TEXT" replaces the 250 after the final dot.

Output:
  --outdir DIR   one file per accepted message, msg-NNNN.eml, written
                 atomically: envelope lines, an empty line, the message
                 bytes as received (dot-unstuffed, CRLF kept):
                   X-Sink-Mail-From: <addr>
                   X-Sink-Mail-Options: BODY=8BITMIME SMTPUTF8   (upper-cased)
                   X-Sink-Rcpt-To: <addr>                        (each)
                   X-Sink-TLS: yes TLSv1.3 | no
                   X-Sink-Auth: IDENTITY | none
                   X-Sink-Helo: NAME
                   X-Sink-Conn: N
  --log FILE     every command line received, one a line, as
                   "N plain|tls COMMAND LINE"  (N = connection number)
                 plus events "N event connect|tls TLSv1.3|tls-fail REASON|
                 auth-ok MECH ID|auth-fail MECH|message N|error E|close".
                 AUTH payloads (initial responses, continuation lines)
                 are written as "[N bytes]" unless
                 --log-secrets.  Bytes that are not printable ASCII are
                 written as \\xHH, so the file is one line per command.
"""
import argparse
import asyncio
import base64
import logging
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def esc(b):
    """Printable ASCII as is, everything else \\xHH (CR/LF stripped)."""
    if isinstance(b, str):
        b = b.encode("utf-8", "surrogateescape")
    b = b.rstrip(b"\r\n")
    out = []
    for c in b:
        if 0x20 <= c < 0x7F and c != 0x5C:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


class Recorder:
    def __init__(self, args):
        self.args = args
        self.log = open(args.log, "a", buffering=1) if args.log else None
        self.conns = 0
        self.msgs = 0

    def line(self, conn, kind, text):
        if self.log:
            self.log.write("%d %s %s\n" % (conn, kind, text))

    def save(self, text_head, content):
        if not self.args.outdir:
            return
        self.msgs += 1
        path = os.path.join(self.args.outdir, "msg-%04d.eml" % self.msgs)
        tmp = os.path.join(self.args.outdir, ".tmp-%04d" % self.msgs)
        with open(tmp, "wb") as f:
            f.write(text_head.encode("utf-8", "surrogateescape"))
            f.write(b"\n")
            f.write(content)
        os.rename(tmp, path)


class Handler:
    def __init__(self, args, rec):
        self.args = args
        self.rec = rec
        self.reject = {}
        for spec in args.reject_rcpt:
            addr, code, *text = spec.split(":", 2)
            text = text[0] if text else ""
            if not text and code.startswith("5"):
                text = "5.1.1 <%s>: Recipient address rejected: User unknown" % addr
            elif not text:
                text = "4.2.0 <%s>: Recipient address rejected: Try again later" % addr
            self.reject[addr.lower()] = "%s %s" % (code, text)
        self.tokens = dict(t.split(":", 1) for t in args.xoauth2)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        server.helo_name = hostname
        out = []
        for r in responses[:-1]:
            word = r[4:].split(" ")[0].upper()
            if word == "8BITMIME" and self.args.no_8bitmime:
                continue
            if word == "SMTPUTF8" and self.args.no_smtputf8:
                continue
            if word == "AUTH":
                mechs = [m for m in r[9:].split() if m in server.offered_mechs]
                if not mechs:
                    continue
                r = "250-AUTH " + " ".join(mechs)
            out.append(r)
        for x in self.args.ehlo_extra:
            out.append("250-" + x)
        out.append("250 HELP")
        return out

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        server.helo_name = hostname
        return "250 %s" % server.hostname

    async def handle_MAIL(self, server, session, envelope, address, options):
        if self.args.no_8bitmime and any(o.upper() == "BODY=8BITMIME" for o in options):
            return "555 5.5.4 BODY=8BITMIME is not supported"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, options):
        r = self.reject.get(address.lower())
        if r:
            return r
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        tls = server.tls_version()
        head = ["X-Sink-Mail-From: <%s>" % envelope.mail_from,
                "X-Sink-Mail-Options: %s" % " ".join(envelope.mail_options)]
        head += ["X-Sink-Rcpt-To: <%s>" % r for r in envelope.rcpt_tos]
        head += ["X-Sink-TLS: %s" % ("yes " + tls if tls else "no"),
                 "X-Sink-Auth: %s" % (server.identity or "none"),
                 "X-Sink-Helo: %s" % (server.helo_name or ""),
                 "X-Sink-Conn: %d" % server.conn]
        self.rec.save("".join(h + "\n" for h in head), envelope.original_content or b"")
        self.rec.line(server.conn, "event", "message %d" % self.rec.msgs)
        return self.args.data_reply or "250 2.0.0 Ok: queued as SINK%04d" % self.rec.msgs

    async def auth_XOAUTH2(self, server, args):
        """RFC-less but common: base64("user=U\\1auth=Bearer T\\1\\1")."""
        if len(args) > 1:
            blob = args[1].encode()
        else:
            await server.push("334 ")
            blob = (await server._reader.readline()).strip()	# logged by the reader
        try:
            text = base64.b64decode(blob, validate=True).decode("utf-8", "replace")
            fields = dict(f.split("=", 1) for f in text.split("\x01") if "=" in f)
            user, token = fields["user"], fields["auth"]
        except Exception:
            await server.push("501 5.5.2 Cannot decode XOAUTH2 response")
            return AuthResult(success=False, handled=True)
        if token.startswith("Bearer ") and self.tokens.get(user) == token[7:]:
            return AuthResult(success=True, auth_data=user)
        err = base64.b64encode(b'{"status":"401","schemes":"Bearer","scope":"mail"}').decode()
        await server.push("334 " + err)
        await server._reader.readline()
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not accepted")


class SinkSMTP(SMTP):
    """aiosmtpd's SMTP with a command log, TLS state for implicit TLS and
    the AUTH identity remembered per connection."""

    def __init__(self, handler, rec, args, implicit, **kw):
        super().__init__(handler, **kw)
        self.rec = rec
        self.args = args
        self.implicit = implicit
        self.conn = 0
        self.identity = None
        self.helo_name = None
        mechs = args.auth_mechs.split() if args.auth_mechs else None
        have = set()
        if args.auth:
            have |= {"PLAIN", "LOGIN"}
        if args.xoauth2:
            have.add("XOAUTH2")
        self.offered_mechs = [m for m in (mechs or sorted(have)) if m in have]
        for m in list(self._auth_methods):
            if m not in self.offered_mechs:
                self._auth_methods.pop(m)

    def tls_version(self):
        t = self.transport
        obj = t.get_extra_info("ssl_object") if t is not None else None
        return obj.version() if obj is not None else None

    def kind(self):
        return "tls" if self.tls_version() else "plain"

    def log_auth_line(self, line):
        if self.args.log_secrets:
            self.rec.line(self.conn, self.kind(), esc(line))
        else:
            self.rec.line(self.conn, self.kind(), "[%d bytes]" % len(line.rstrip(b"\r\n")))

    def connection_made(self, transport):
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self.rec.conns += 1
            self.conn = self.rec.conns
            peer = transport.get_extra_info("peername")
            self.rec.line(self.conn, "event", "connect %s" % (peer,))
            if self.implicit:
                self.rec.line(self.conn, "event", "tls %s" % self.tls_version())
        else:
            self.rec.line(self.conn, "event", "tls %s" % self.tls_version())

    def connection_lost(self, exc):
        self.rec.line(self.conn, "event", "close")
        super().connection_lost(exc)

    def _client_connected_cb(self, reader, writer):
        super()._client_connected_cb(reader, writer)
        orig_readuntil = reader.readuntil
        orig_readline = reader.readline

        in_readline = []

        async def readuntil(separator=b"\n"):
            line = await orig_readuntil(separator)
            # Commands use b"\n", DATA lines b"\r\n"; readline() (AUTH
            # continuations) calls readuntil too and logs on its own.
            if separator == b"\n" and not in_readline:
                self.log_command(line)
            return line

        async def readline():
            in_readline.append(1)
            try:
                line = await orig_readline()
            finally:
                in_readline.pop()
            self.log_auth_line(line)
            return line

        reader.readuntil = readuntil
        reader.readline = readline

    def log_command(self, line):
        text = line.rstrip(b"\r\n")
        words = text.split(b" ")
        if (words[0].upper() == b"AUTH" and len(words) > 2 and not self.args.log_secrets):
            text = b" ".join(words[:2]) + b" [%d bytes]" % len(b" ".join(words[2:]))
        self.rec.line(self.conn, self.kind(), esc(text))

    async def handle_exception(self, error):
        """A failed STARTTLS handshake lands here (the cause says why)."""
        cause = error.__cause__ or error
        what = "tls-fail" if error.__class__.__name__ == "TLSSetupException" else "error"
        self.rec.line(self.conn, "event", "%s %s %s" % (what, cause.__class__.__name__, esc(str(cause))))
        return "421 4.3.0 %s" % error.__class__.__name__

    async def smtp_AUTH(self, arg):
        await super().smtp_AUTH(arg)
        mech = (arg or "").split(" ")[0].upper()
        if self.session.authenticated and self.identity is None:
            ident = self.session.auth_data
            if isinstance(ident, bytes):
                ident = ident.decode("utf-8", "replace")
            self.identity = str(ident)
            self.rec.line(self.conn, "event", "auth-ok %s %s" % (mech, self.identity))
        elif not self.session.authenticated:
            self.rec.line(self.conn, "event", "auth-fail %s" % mech)


def authenticator_for(args):
    users = {}
    for spec in args.auth:
        u, _, p = spec.partition(":")
        users[u] = p

    def authenticator(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            u = auth_data.login.decode("utf-8", "replace")
            p = auth_data.password.decode("utf-8", "replace")
            if u in users and users[u] == p:
                return AuthResult(success=True, auth_data=u)
        return AuthResult(success=False, handled=False)
    return authenticator


def server_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


async def main(args):
    loop = asyncio.get_running_loop()
    rec = Recorder(args)
    handler = Handler(args, rec)
    starttls_ctx = server_context(*args.starttls) if args.starttls else None
    implicit_ctx = server_context(*args.implicit_tls) if args.implicit_tls else None
    size = args.size

    def factory():
        kw = dict(hostname=args.hostname, ident="satmail-test-sink",
                  data_size_limit=size if size else None,
                  enable_SMTPUTF8=not args.no_smtputf8,
                  decode_data=False, timeout=args.timeout,
                  authenticator=authenticator_for(args),
                  auth_require_tls=args.no_auth_before_tls and not implicit_ctx)
        if starttls_ctx:
            kw.update(tls_context=starttls_ctx, require_starttls=args.require_tls)
        return SinkSMTP(handler, rec, args, implicit_ctx is not None, loop=loop, **kw)

    hosts = args.host or ["127.0.0.1"]
    servers = [await loop.create_server(factory, hosts[0], args.port, ssl=implicit_ctx,
                                        reuse_address=True)]
    port = servers[0].sockets[0].getsockname()[1]
    for h in hosts[1:]:
        try:
            servers.append(await loop.create_server(factory, h, port, ssl=implicit_ctx,
                                                    reuse_address=True))
        except OSError as e:
            print("smtpd.py: cannot also listen on %s:%d: %s" % (h, port, e), file=sys.stderr)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    print("READY %d" % port, flush=True)
    stop = loop.create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, lambda: stop.done() or stop.set_result(None))
    try:
        await asyncio.wait_for(stop, args.max_time)
    except asyncio.TimeoutError:
        print("smtpd.py: --max-time reached", file=sys.stderr)
    for s in servers:
        s.close()


def parse():
    p = argparse.ArgumentParser(description="aiosmtpd test sink")
    p.add_argument("--host", action="append", default=[])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--hostname", default="sink.test")
    p.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--implicit-tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--require-tls", action="store_true")
    p.add_argument("--auth", action="append", default=[], metavar="USER:PASSWORD")
    p.add_argument("--xoauth2", action="append", default=[], metavar="USER:TOKEN")
    p.add_argument("--auth-mechs", default="")
    p.add_argument("--no-auth-before-tls", action="store_true")
    p.add_argument("--outdir")
    p.add_argument("--log")
    p.add_argument("--log-secrets", action="store_true")
    p.add_argument("--ehlo-extra", action="append", default=[])
    p.add_argument("--no-8bitmime", action="store_true")
    p.add_argument("--no-smtputf8", action="store_true")
    p.add_argument("--size", type=int, default=33554432)
    p.add_argument("--reject-rcpt", action="append", default=[], metavar="ADDR:CODE[:TEXT]")
    p.add_argument("--data-reply")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--max-time", type=float, default=600)
    p.add_argument("--verbose", action="store_true", help="aiosmtpd's own log on stderr")
    a = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.CRITICAL)
    if a.starttls and a.implicit_tls:
        p.error("--starttls and --implicit-tls exclude each other")
    if a.outdir:
        os.makedirs(a.outdir, exist_ok=True)
    return a


if __name__ == "__main__":
    try:
        asyncio.run(main(parse()))
    except KeyboardInterrupt:
        pass
