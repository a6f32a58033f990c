"""Drives `sendmail -bs` with Python's smtplib over a socketpair, for
tests/integration/test_bs.sh.  sendmail's stdin and stdout are one end of
the pair; smtplib talks on the other.  Prints one "key=value" line per
observation; the shell script checks them.

  bsclient.py SENDMAIL SCENARIO
"""
import smtplib
import socket
import subprocess
import sys


def start(sm):
    a, b = socket.socketpair()
    p = subprocess.Popen([sm, "-bs"], stdin=b, stdout=b)
    b.close()
    s = smtplib.SMTP()
    s.sock = a
    s.file = None
    code, msg = s.getreply()
    return p, s, a, code, msg


def out(k, v):
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    print("%s=%s" % (k, str(v).replace("\n", "|")))


def finish(p, s):
    code, _ = s.docmd("QUIT")
    out("quit", code)
    s.sock.close()
    out("exit", p.wait(timeout=30))


MSG = (b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n"
       b"Subject: bs test\r\n\r\nfirst line\r\n.leading dot\r\n.\r\n..two dots\r\nlast\r\n")


def main():
    sm, scen = sys.argv[1], sys.argv[2]
    p, s, sock, code, msg = start(sm)
    out("greet", "%d %s" % (code, msg.decode()))
    if scen == "basic":
        code, msg = s.ehlo("client.example")
        out("ehlo", code)
        out("caps", " ".join(sorted(k.upper() for k in s.esmtp_features)))
        out("size", s.esmtp_features.get("size", ""))
        out("mail", s.mail("alice@example.org", ["SIZE=%d" % len(MSG)])[0])
        out("rcpt1", s.rcpt("bob@example.net")[0])
        out("rcpt2", s.rcpt("carol@example.com")[0])
        code, msg = s.data(MSG)
        out("data", "%d %s" % (code, msg.decode()))
        finish(p, s)
    elif scen == "badrcpt":
        s.ehlo("client.example")
        s.mail("alice@example.org")
        out("bad", "%d %s" % s.docmd("RCPT TO:<bad@@example.net>"))
        out("good", s.rcpt("bob@example.net")[0])
        out("data", s.data(MSG)[0])
        finish(p, s)
    elif scen == "two":
        s.ehlo("client.example")
        for i in (1, 2):
            out("mail%d" % i, s.mail("alice@example.org")[0])
            out("rcpt%d" % i, s.rcpt("m%d@example.net" % i)[0])
            out("data%d" % i, s.data(b"Subject: n%d\r\n\r\nbody %d\r\n" % (i, i))[0])
            out("rset%d" % i, s.rset()[0])
        finish(p, s)
    elif scen == "sequence":
        out("mail_before_helo", s.docmd("MAIL FROM:<a@example.org>")[0])
        s.ehlo("client.example")
        out("data_first", "%d %s" % s.docmd("DATA"))
        out("rcpt_first", s.docmd("RCPT TO:<b@example.org>")[0])
        s.mail("a@example.org")
        out("nested", s.docmd("MAIL FROM:<a@example.org>")[0])
        out("data_norcpt", s.docmd("DATA")[0])
        out("noop", s.noop()[0])
        out("vrfy", s.verify("root")[0])
        out("help", s.docmd("HELP")[0])
        out("unknown", "%d %s" % s.docmd("FROB"))
        out("starttls", s.docmd("STARTTLS")[0])
        out("long", "%d %s" % s.docmd("NOOP " + "x" * 5000))
        out("param", s.docmd("RCPT TO:<b@example.org> FOO=bar")[0])
        out("notify", s.docmd("RCPT TO:<b@example.org> NOTIFY=bogus")[0])
        out("rset", s.rset()[0])
        s.send("MAIL FROM:<j\u00f6rg@example.org>\r\n".encode())
        out("utf8_undeclared", s.getreply()[0])
        s.send("MAIL FROM:<j\u00f6rg@example.org> SMTPUTF8\r\n".encode())
        out("utf8_declared", s.getreply()[0])
        out("rset2", s.rset()[0])
        out("bigsize", s.docmd("MAIL FROM:<a@example.org> SIZE=999999999999")[0])
        finish(p, s)
    elif scen == "eof":
        s.ehlo("client.example")
        s.mail("alice@example.org")
        s.rcpt("bob@example.net")
        out("354", s.docmd("DATA")[0])
        s.send(b"Subject: cut\r\n\r\nsome text\r\nmore text\r\n")
        sock.shutdown(socket.SHUT_WR)
        rest = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            rest += chunk
        out("after", rest.strip() or "nothing")
        out("exit", p.wait(timeout=30))
    elif scen == "lf":
        # A client that ends lines in LF alone, with a LF.LF end of data.
        s.send(b"HELO lf.example\nMAIL FROM:<a@example.org>\nRCPT TO:<b@example.org>\n"
               b"DATA\nSubject: lf\n\n..x\n.\nQUIT\n")
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        codes = [l[:3].decode() for l in data.split(b"\r\n") if l]
        out("codes", " ".join(codes))
        out("crlf", all(l.endswith(b"\r") for l in data.split(b"\n")[:-1]))
        out("exit", p.wait(timeout=30))


main()
