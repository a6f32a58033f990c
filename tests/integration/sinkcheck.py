#!/usr/bin/python3
"""Test servers and checkers for the remote-delivery integration tests
(test_smtp.sh, test_mx.sh).  Loopback only; every server writes its port
to --port-file once it listens and runs until killed.

  freeport [ADDR...]               a TCP port free on every ADDR (127.0.0.1)
  waitport ADDR PORT [SECONDS]     exit 0 once ADDR:PORT accepts connections
  proxy    --port-file F --upstream HOST:PORT --record DIR
           [--fault rst|fin --after N [--fault-conns K]]
           recording TCP relay: DIR/NNNN.c2s (client bytes), .s2c (server
           bytes), .ev (order of reads: "C off len" / "S off len"), .done
           once both sides closed.  With --fault the first K connections
           (default 1) are cut after N octets of DATA content: rst = the
           client gets a reset, fin = the client gets EOF (its further
           bytes are read and dropped); the upstream side is closed too,
           so the server never sees the final dot.
  server   --port-file F --record DIR [--listen ADDR] [--no-8bitmime]
           [--no-pipelining] [--rcpt-limit N] [--reject 'ADDR|REPLY|TIMES']...
           a small ESMTP server: 452 4.5.3 for every RCPT past N in one
           transaction; REPLY for RCPT TO:<ADDR> (the first TIMES times,
           0 = always).  Records DIR/NNNN.c2s per connection, one JSON line
           per finished transaction in DIR/txns.jsonl and its un-stuffed
           content in DIR/txn-NNNN.eml.
  blackhole --port-file F [--rcode N]  a UDP DNS "server" that never
                                   answers, or answers every question with
                                   rcode N and no records (2 = SERVFAIL)
  dnsq     HOST:PORT NAME TYPE     one DNS question: "rcode=N" then answers
  probe    HOST:PORT FROM RCPT...  one message with smtplib; prints replies
  compare  SUBMITTED DELIVERED     the delivered message (an smtp-sink -d
           dump, or a .eml from `server`) equals the submitted bytes
  wire     DIR [--transactions N] [--connections N] [--crlf] [--maxline N]
           [--pipelining] [--expect SUBMITTED] [--body-has TEXT]...
           checks on what a client sent (DIR from proxy or server); fails
           when no connection was recorded (unless --connections 0)
  txns     DIR [--rcpts]           transactions a `server` finished (or
                                   one accepted recipient per line)
  dumps    DIR                     one line per smtp-sink dump: mail args,
                                   recipients (for shell checks)

Comparison rules (compare, wire --expect).  The submitted bytes are
normalised as submission does: a CR not followed by LF becomes a space,
CRLF and LF end lines, a missing final newline is added.  From the
delivered message satmail's own "Received: ... (satmail ..." header is
removed, and Message-Id, Date and From headers when the submitted header
lacked them (plus the empty line satmail puts after added headers when the
input had no header).  Long lines: the delivered lines must join back to
the submitted line, where a fold is either a plain CRLF (the next wire line
continues the text) or CRLF SPACE (Postfix's smtp_line_length_limit style:
the leading space of the continuation line is dropped).  Nothing else may
differ.
"""
import json
import os
import re
import select
import socket
import struct
import sys
import threading
import time


def die(msg):
	print(msg)
	sys.exit(1)


def write_port(path, port):
	tmp = path + ".tmp"
	with open(tmp, "w") as f:
		f.write("%d\n" % port)
	os.rename(tmp, path)


# ---------------------------------------------------------------- ports

def cmd_freeport(args):
	addrs = args or ["127.0.0.1"]
	for _ in range(200):
		first = socket.socket()
		first.bind((addrs[0], 0))
		port = first.getsockname()[1]
		socks, ok = [first], True
		for a in addrs[1:]:
			s = socket.socket()
			try:
				s.bind((a, port))
			except OSError:
				ok = False
			socks.append(s)
		for s in socks:
			s.close()
		if ok and port > 1024:
			print(port)
			return 0
	die("no common free port")


def cmd_waitport(args):
	addr, port = args[0], int(args[1])
	limit = time.time() + (float(args[2]) if len(args) > 2 else 5)
	while time.time() < limit:
		try:
			socket.create_connection((addr, port), timeout=1).close()
			return 0
		except OSError:
			time.sleep(0.05)
	return 1


# ---------------------------------------------------------------- proxy

class Relay:
	def __init__(self, n, cli, up, rec, fault, after):
		self.cli, self.up = cli, up
		base = os.path.join(rec, "%04d" % n)
		self.base = base
		self.c2s = open(base + ".c2s", "wb")
		self.s2c = open(base + ".s2c", "wb")
		self.ev = open(base + ".ev", "w")
		self.coff = self.soff = 0
		self.fault, self.after = fault, after
		self.line = b""
		self.in_data = False
		self.data_n = 0
		self.cut = False	# fault done: drop client bytes
		self.cli_eof = self.up_eof = False

	def record(self, side, data):
		if side == "C":
			self.ev.write("C %d %d\n" % (self.coff, len(data)))
			self.c2s.write(data)
			self.coff += len(data)
		else:
			self.ev.write("S %d %d\n" % (self.soff, len(data)))
			self.s2c.write(data)
			self.soff += len(data)
		self.ev.flush()

	def split_for_fault(self, data):
		"""Bytes of data to forward before the fault point, or None."""
		if not self.fault:
			return None
		i = 0
		while i < len(data) and not self.in_data:
			j = data.find(b"\n", i)
			if j < 0:
				self.line += data[i:]
				return None
			self.line += data[i:j + 1]
			if self.line.rstrip(b"\r\n").upper() == b"DATA":
				self.in_data = True
			self.line = b""
			i = j + 1
		if not self.in_data:
			return None
		rest = len(data) - i
		if self.data_n + rest < self.after:
			self.data_n += rest
			return None
		return data[:i + self.after - self.data_n]

	def do_fault(self):
		self.cut = True
		try:
			self.up.close()
		except OSError:
			pass
		self.up_eof = True
		if self.fault == "rst":
			self.cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
			self.cli.close()
			self.cli_eof = True
		else:
			self.cli.shutdown(socket.SHUT_WR)

	def done(self):
		return self.cli_eof and self.up_eof

	def finish(self):
		for s in (self.cli, self.up):
			try:
				s.close()
			except OSError:
				pass
		for f in (self.c2s, self.s2c, self.ev):
			f.close()
		open(self.base + ".done", "w").close()


def cmd_proxy(args):
	opts = parse_opts(args, {"--port-file": 1, "--upstream": 1, "--record": 1,
	    "--fault": 1, "--after": 1, "--fault-conns": 1})
	uh, up = opts["--upstream"].rsplit(":", 1)
	rec = opts["--record"]
	os.makedirs(rec, exist_ok=True)
	fault = opts.get("--fault")
	after = int(opts.get("--after", "0"))
	fault_conns = int(opts.get("--fault-conns", "1"))
	ls = socket.socket()
	ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	ls.bind(("127.0.0.1", 0))
	ls.listen(64)
	write_port(opts["--port-file"], ls.getsockname()[1])
	relays, n = [], 0
	while True:
		rl = [ls]
		for r in relays:
			if not r.cli_eof:
				rl.append(r.cli)
			if not r.up_eof:
				rl.append(r.up)
		ready, _, _ = select.select(rl, [], [], 1.0)
		for s in ready:
			if s is ls:
				cli, _ = ls.accept()
				try:
					ups = socket.create_connection((uh, int(up)), timeout=5)
				except OSError:
					cli.close()
					continue
				ups.settimeout(None)
				for x in (cli, ups):	# forward each read as it came
					x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
				n += 1
				relays.append(Relay(n, cli, ups, rec, fault if n <= fault_conns else None, after))
				continue
			r = next(x for x in relays if s is x.cli or s is x.up)
			try:
				data = s.recv(65536)
			except OSError:
				data = b""
			if s is r.cli:
				if not data:
					r.cli_eof = True
					if not r.up_eof:
						try:
							r.up.shutdown(socket.SHUT_WR)
						except OSError:
							pass
				elif r.cut:
					pass
				else:
					r.record("C", data)
					head = r.split_for_fault(data)
					try:
						r.up.sendall(data if head is None else head)
					except OSError:
						pass
					if head is not None:
						r.do_fault()
			else:
				if not data:
					r.up_eof = True
					try:
						r.cli.shutdown(socket.SHUT_WR)
					except OSError:
						pass
				else:
					r.record("S", data)
					try:
						r.cli.sendall(data)
					except OSError:
						pass
		for r in [x for x in relays if x.done()]:
			r.finish()
			relays.remove(r)


def parse_opts(args, spec, multi=()):
	opts, i = {}, 0
	for m in multi:
		opts[m] = []
	while i < len(args):
		a = args[i]
		if a not in spec:
			die("unknown option " + a)
		if spec[a] == 0:
			opts[a] = True
			i += 1
		elif a in multi:
			opts[a].append(args[i + 1])
			i += 2
		else:
			opts[a] = args[i + 1]
			i += 2
	return opts


# ---------------------------------------------------------------- server

class LineReader:
	"""Lines from a socket, knowing whether a whole line is already
	buffered (a server answers a pipelined group in one write)."""
	def __init__(self, sock):
		self.sock, self.buf, self.pos = sock, bytearray(), 0

	def pending(self):
		return self.buf.find(b"\n", self.pos) >= 0

	def readline(self):
		while True:
			i = self.buf.find(b"\n", self.pos)
			if i >= 0:
				line = bytes(self.buf[self.pos:i + 1])
				self.pos = i + 1
				return line
			if self.pos:
				del self.buf[:self.pos]
				self.pos = 0
			data = self.sock.recv(262144)
			if not data:
				line = bytes(self.buf)
				self.buf = bytearray()
				return line
			self.buf += data


class Server:
	def __init__(self, opts):
		self.rec = opts["--record"]
		os.makedirs(self.rec, exist_ok=True)
		self.eight = "--no-8bitmime" not in opts
		self.pipe = "--no-pipelining" not in opts
		self.limit = int(opts.get("--rcpt-limit", "0"))
		self.rejects = []
		for r in opts["--reject"]:
			addr, reply, times = r.split("|")
			self.rejects.append([addr.lower(), reply, int(times)])
		self.lock = threading.Lock()
		self.conns = self.txns = 0

	def rcpt_reply(self, addr, count):
		if self.limit and count > self.limit:
			return "452 4.5.3 Error: too many recipients"
		with self.lock:
			for r in self.rejects:
				if r[0] == addr.lower() and r[2] >= 0:
					if r[2] == 1:
						r[2] = -1	# used up
					elif r[2] > 1:
						r[2] -= 1
					return r[1]
		return "250 2.1.5 Ok"

	def session(self, sock):
		with self.lock:
			self.conns += 1
			cn = self.conns
		raw = open(os.path.join(self.rec, "%04d.c2s" % cn), "wb")
		f = LineReader(sock)
		out = []

		def reply(text):
			out.append(text.encode() + b"\r\n")

		def flush():
			if out:
				sock.sendall(b"".join(out))
				out.clear()

		reply("220 pysink ESMTP")
		flush()
		mail, rcpts, count = None, [], 0
		try:
			while True:
				line = f.readline()
				if not line:
					break
				raw.write(line)
				raw.flush()
				cmd = line.rstrip(b"\r\n").decode("latin-1")
				up = cmd.upper()
				if up.startswith("EHLO"):
					ext = ["pysink"] + (["PIPELINING"] if self.pipe else []) + \
					    (["8BITMIME"] if self.eight else []) + ["ENHANCEDSTATUSCODES"]
					for i, e in enumerate(ext):
						reply("250%s%s" % ("-" if i < len(ext) - 1 else " ", e))
				elif up.startswith("HELO"):
					reply("250 pysink")
				elif up.startswith("MAIL FROM:"):
					mail, rcpts, count = cmd[10:].strip(), [], 0
					reply("250 2.1.0 Ok")
				elif up.startswith("RCPT TO:"):
					count += 1
					m = re.match(r"\s*<([^>]*)>", cmd[8:])
					addr = m.group(1) if m else cmd[8:].strip()
					r = self.rcpt_reply(addr, count)
					if r.startswith("2"):
						rcpts.append(addr)
					reply(r)
				elif up == "DATA":
					if mail is None or not rcpts:
						reply("554 5.5.1 Error: no valid recipients")
						if not f.pending():
							flush()
						continue
					reply("354 End data with <CR><LF>.<CR><LF>")
					flush()
					body = []
					while True:
						dl = f.readline()
						if not dl:
							raise EOFError
						raw.write(dl)
						if dl == b".\r\n":
							break
						dl = dl.rstrip(b"\n").rstrip(b"\r")
						body.append(dl[1:] if dl.startswith(b".") else dl)
					raw.flush()
					with self.lock:
						self.txns += 1
						tn = self.txns
					eml = os.path.join(self.rec, "txn-%04d.eml" % tn)
					with open(eml, "wb") as e:
						e.write(b"".join(x + b"\n" for x in body))
					with open(os.path.join(self.rec, "txns.jsonl"), "a") as j:
						j.write(json.dumps({"txn": tn, "conn": cn, "mail": mail,
						    "rcpt_cmds": count, "rcpts": rcpts, "eml": eml}) + "\n")
					mail, rcpts, count = None, [], 0
					reply("250 2.0.0 Ok: queued as %04d" % tn)
				elif up == "RSET":
					mail, rcpts, count = None, [], 0
					reply("250 2.0.0 Ok")
				elif up == "NOOP":
					reply("250 2.0.0 Ok")
				elif up == "QUIT":
					reply("221 2.0.0 Bye")
					flush()
					break
				else:
					reply("502 5.5.2 Error: command not recognized")
				if not f.pending():
					flush()
		except (EOFError, OSError):
			pass
		finally:
			raw.close()
			open(os.path.join(self.rec, "%04d.done" % cn), "w").close()
			try:
				sock.close()
			except OSError:
				pass


def cmd_server(args):
	opts = parse_opts(args, {"--port-file": 1, "--record": 1, "--listen": 1,
	    "--no-8bitmime": 0, "--no-pipelining": 0, "--rcpt-limit": 1, "--reject": 1},
	    multi=("--reject",))
	srv = Server(opts)
	ls = socket.socket()
	ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	ls.bind((opts.get("--listen", "127.0.0.1"), 0))
	ls.listen(64)
	write_port(opts["--port-file"], ls.getsockname()[1])
	while True:
		c, _ = ls.accept()
		c.settimeout(60)
		c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		threading.Thread(target=srv.session, args=(c,), daemon=True).start()


# ---------------------------------------------------------------- DNS

def cmd_blackhole(args):
	opts = parse_opts(args, {"--port-file": 1, "--rcode": 1})
	rcode = int(opts["--rcode"]) if "--rcode" in opts else None
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.bind(("127.0.0.1", 0))
	write_port(opts["--port-file"], s.getsockname()[1])
	while True:
		q, peer = s.recvfrom(4096)
		if rcode is None or len(q) < 12:
			continue
		# The question echoed back with QR, RA and the chosen rcode.
		qid, flags = struct.unpack(">HH", q[:4])
		flags = 0x8000 | (flags & 0x7900) | 0x0080 | rcode
		s.sendto(struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0) + q[12:], peer)


QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}


def dns_name(msg, off):
	labels, jumped, end = [], False, None
	for _ in range(128):
		n = msg[off]
		if n == 0:
			off += 1
			break
		if n & 0xC0 == 0xC0:
			if not jumped:
				end = off + 2
			off = ((n & 0x3F) << 8) | msg[off + 1]
			jumped = True
			continue
		labels.append(msg[off + 1:off + 1 + n].decode("latin-1"))
		off += 1 + n
	return ".".join(labels) or ".", (end if jumped else off)


def cmd_dnsq(args):
	host, port = args[0].rsplit(":", 1)
	name, qtype = args[1], QTYPES[args[2].upper()]
	qid = os.getpid() & 0xFFFF
	q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
	for label in name.strip(".").split("."):
		q += bytes([len(label)]) + label.encode()
	q += b"\0" + struct.pack(">HH", qtype, 1)
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.settimeout(3)
	s.sendto(q, (host, int(port)))
	try:
		msg = s.recv(4096)
	except socket.timeout:
		print("timeout")
		return 1
	_, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
	print("rcode=%d" % (flags & 0xF))
	off = 12
	for _ in range(qd):
		_, off = dns_name(msg, off)
		off += 4
	names = {v: k for k, v in QTYPES.items()}
	for _ in range(an):
		rname, off = dns_name(msg, off)
		rtype, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
		off += 10
		rd = msg[off:off + rdlen]
		if rtype == 15:
			pref = struct.unpack(">H", rd[:2])[0]
			text = "%d %s" % (pref, dns_name(msg, off + 2)[0])
		elif rtype == 1:
			text = socket.inet_ntoa(rd)
		elif rtype == 28:
			text = socket.inet_ntop(socket.AF_INET6, rd)
		elif rtype == 5:
			text = dns_name(msg, off)[0]
		else:
			text = rd.hex()
		print("%s %s %s" % (rname, names.get(rtype, rtype), text))
		off += rdlen
	return 0


# ---------------------------------------------------------------- probe

def cmd_probe(args):
	import smtplib
	host, port = args[0].rsplit(":", 1)
	sender, rcpts = args[1], args[2:]
	s = smtplib.SMTP(host, int(port), timeout=10)
	code, _ = s.ehlo("probe.test")
	print("ehlo", code, " ".join(sorted(s.esmtp_features)))
	msg = b"Subject: probe\r\n\r\nprobe body\r\n.dot line\r\n"
	try:
		refused = s.sendmail(sender, rcpts, msg)
	except smtplib.SMTPRecipientsRefused as e:
		refused = e.recipients
	for r, (c, t) in sorted(refused.items()):
		print("refused", r, c, t.decode())
	s.quit()
	return 0


# ---------------------------------------------------------------- compare

HDR = re.compile(rb"^[!-9;-~]+:")


def norm_submitted(data):
	data = re.sub(rb"\r(?!\n)", b" ", data).replace(b"\r\n", b"\n")
	lines = data.split(b"\n")
	if lines[-1] == b"":
		lines.pop()
	return lines


def header_fields(lines):
	"""(fields, index of the first line after the header section);
	a field is a list of lines.  No header section -> ([], 0)."""
	fields, i = [], 0
	while i < len(lines) and lines[i] != b"":
		if HDR.match(lines[i]):
			fields.append([lines[i]])
		elif lines[i][:1] in (b" ", b"\t") and fields:
			fields[-1].append(lines[i])
		else:
			break
		i += 1
	return fields, i


def field_name(field):
	return field[0].split(b":", 1)[0].strip().lower()


def strip_added(got, orig):
	ofields, _ = header_fields(orig)
	onames = {field_name(f) for f in ofields}
	gfields, end = header_fields(got)
	kept, seen_satmail = [], False
	for f in gfields:
		name = field_name(f)
		if name == b"received" and not seen_satmail and b"(satmail" in b" ".join(f):
			seen_satmail = True
			continue
		if name in (b"message-id", b"date", b"from") and name not in onames:
			continue
		kept.extend(f)
	rest = got[end:]
	if not ofields and rest[:1] == [b""] and orig[:1] != [b""]:
		rest = rest[1:]	# the separator satmail put after its headers
	return kept + rest


def unfold_match(want, got):
	"""None when got joins back to want (see the module comment), else
	a description of the first difference.  Also returns the fold styles."""
	styles, j = set(), 0
	for i, w in enumerate(want):
		if j >= len(got):
			return "line %d missing: %s" % (i + 1, show(w)), styles
		g = got[j]
		j += 1
		if g == w:
			continue
		pos = len(g)
		if w[:pos] != g:
			return "line %d differs: want %s got %s" % (i + 1, show(w), show(g)), styles
		while pos < len(w):
			if j >= len(got):
				return "line %d truncated at %d of %d octets" % (i + 1, pos, len(w)), styles
			n = got[j]
			j += 1
			if n and w[pos:pos + len(n)] == n:
				pos += len(n)
				styles.add("CRLF")
			elif n[:1] == b" " and len(n) > 1 and w[pos:pos + len(n) - 1] == n[1:]:
				pos += len(n) - 1
				styles.add("CRLF SPACE")
			else:
				return "line %d (%d octets): continuation at %d does not fit: %s" % (
				    i + 1, len(w), pos, show(n)), styles
	if j < len(got):
		return "%d extra line(s), first %s" % (len(got) - j, show(got[j])), styles
	return None, styles


def show(b):
	s = repr(b[:60])
	return s + ("...(%d octets)" % len(b) if len(b) > 60 else "")


def read_delivered(path):
	data = open(path, "rb").read()
	lines = data.split(b"\n")
	if lines[-1] == b"":
		lines.pop()
	lines = [x[:-1] if x.endswith(b"\r") else x for x in lines]
	if lines and lines[0].startswith(b"X-Client-Addr:"):
		# smtp-sink dump: its X- records, a 3-line Received, the message,
		# then one empty line of its own.
		i = 0
		while i < len(lines) and lines[i].startswith(b"X-"):
			i += 1
		if i < len(lines) and lines[i].startswith(b"Received:"):
			i += 1
			while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
				i += 1
		lines = lines[i:]
		if lines and lines[-1] == b"":
			lines.pop()
	return lines


def compare_lines(orig_bytes, got_lines):
	orig = norm_submitted(orig_bytes)
	got = strip_added(got_lines, orig)
	return unfold_match(orig, got)


def cmd_compare(args):
	orig = open(args[0], "rb").read()
	err, styles = compare_lines(orig, read_delivered(args[1]))
	if err:
		die("compare %s: %s" % (os.path.basename(args[1]), err))
	if styles:
		print("folds: " + ", ".join(sorted(styles)))
	return 0


# ---------------------------------------------------------------- wire

def wait_done(d, limit=8):
	"""Connection files of DIR once every one is finished."""
	end = time.time() + limit
	while True:
		conns = sorted(f[:-4] for f in os.listdir(d) if f.endswith(".c2s"))
		if all(os.path.exists(os.path.join(d, c + ".done")) for c in conns) or time.time() > end:
			return conns


def parse_conn(data):
	"""Transactions and problems in one client->server byte stream."""
	bad = []
	for m in re.finditer(rb"\r(?!\n)|(?<!\r)\n", data):
		bad.append("stray %s at offset %d: %s" % ("CR" if m.group() == b"\r" else "LF",
		    m.start(), show(data[max(0, m.start() - 20):m.start() + 20])))
	txns, cur, in_data, off = [], None, False, 0
	lines = []
	for ln in data.split(b"\r\n"):
		lines.append((off, ln))
		off += len(ln) + 2
	if data.endswith(b"\r\n"):
		lines.pop()
	for start, ln in lines:
		if in_data:
			if ln == b".":
				cur["complete"] = True
				in_data = False
				cur = None
			else:
				cur["data"].append(ln)
			continue
		up = ln.upper()
		if up.startswith(b"MAIL FROM:"):
			cur = {"mail": ln, "mail_off": start, "rcpts": [], "data": [], "complete": False}
			txns.append(cur)
		elif up.startswith(b"RCPT TO:") and cur is not None:
			cur["rcpts"].append(ln)
		elif up == b"DATA" and cur is not None:
			cur["data_end"] = start + len(ln) + 2
			in_data = True
	return txns, bad, lines


def pipelined(evfile, txn):
	"""True when no server bytes were read between the client read that
	carried MAIL and the one that completed DATA."""
	evs = []
	if not os.path.exists(evfile):
		return False	# recorded by `server`: no read order known
	for l in open(evfile):
		side, off, n = l.split()
		evs.append((side, int(off), int(n)))
	def idx(o):
		for k, (side, off, n) in enumerate(evs):
			if side == "C" and off <= o < off + n:
				return k
		return -1
	a, b = idx(txn["mail_off"]), idx(txn["data_end"] - 1)
	if a < 0 or b < 0:
		return False
	return all(e[0] == "C" for e in evs[a:b + 1])


def cmd_wire(args):
	d = args[0]
	opts = parse_opts(args[1:], {"--transactions": 1, "--connections": 1, "--crlf": 0,
	    "--maxline": 1, "--pipelining": 0, "--expect": 1, "--body-has": 1},
	    multi=("--body-has",))
	conns = wait_done(d)
	problems, txns, longest = [], [], (0, b"")
	for c in conns:
		data = open(os.path.join(d, c + ".c2s"), "rb").read()
		t, bad, lines = parse_conn(data)
		for x in t:
			x["conn"] = c
		txns += t
		if "--crlf" in opts and bad:
			problems.append("conn %s: %d stray CR/LF, first %s" % (c, len(bad), bad[0]))
		for _, ln in lines:
			if len(ln) + 2 > longest[0]:
				longest = (len(ln) + 2, ln)
	done = [x for x in txns if x["complete"]]
	if "--connections" in opts and len(conns) != int(opts["--connections"]):
		problems.append("%d connections, want %s" % (len(conns), opts["--connections"]))
	elif not conns:
		problems.append("no connection was recorded")
	if "--transactions" in opts and len(done) != int(opts["--transactions"]):
		problems.append("%d complete transactions (%d MAIL commands), want %s: %s" % (
		    len(done), len(txns), opts["--transactions"], [show(x["mail"]) for x in txns]))
	if "--maxline" in opts and longest[0] > int(opts["--maxline"]):
		problems.append("a line of %d octets incl. CRLF (max %s): %s" % (
		    longest[0], opts["--maxline"], show(longest[1])))
	if "--pipelining" in opts:
		if not done:
			problems.append("no complete transaction to check")
		for x in done:
			if not x["rcpts"] or not pipelined(os.path.join(d, x["conn"] + ".ev"), x):
				problems.append("conn %s: MAIL, RCPT and DATA were not sent before the "
				    "first reply was read" % x["conn"])
	if "--expect" in opts or opts["--body-has"]:
		if len(done) != 1:
			problems.append("content checks need exactly one transaction, have %d" % len(done))
		else:
			body = [ln[1:] if ln.startswith(b".") else ln for ln in done[0]["data"]]
			if "--expect" in opts:
				err, styles = compare_lines(open(opts["--expect"], "rb").read(), body)
				if err:
					problems.append("content: " + err)
				elif styles:
					print("folds: " + ", ".join(sorted(styles)))
			text = b"\n".join(body)
			for t in opts["--body-has"]:
				if t.encode() not in text:
					problems.append("body lacks %r" % t)
	for p in problems:
		print(p)
	return 1 if problems else 0


# ---------------------------------------------------------------- txns

def cmd_txns(args):
	"""Transactions a `server` finished: "TXN CONN <SENDER> RCPT,RCPT EML"
	per line (MAIL parameters left out), or with --rcpts one accepted
	recipient per line."""
	path = os.path.join(args[0], "txns.jsonl")
	if not os.path.exists(path):
		return 0
	for line in open(path):
		t = json.loads(line)
		if args[1:] == ["--rcpts"]:
			for r in t["rcpts"]:
				print(r)
		else:
			print("%d %d %s %s %s" % (t["txn"], t["conn"], (t["mail"] or "-").split()[0],
			    ",".join(t["rcpts"]), t["eml"]))
	return 0


# ---------------------------------------------------------------- dumps

def cmd_dumps(args):
	d = args[0]
	files = sorted((os.path.join(d, f) for f in os.listdir(d)), key=os.path.getmtime)
	for p in files:
		mail, rcpts = "", []
		with open(p, "rb") as f:
			for line in f:
				if line.startswith(b"X-Mail-Args: "):
					mail = line[13:].strip().decode("latin-1")
				elif line.startswith(b"X-Rcpt-Args: "):
					rcpts.append(line[13:].split()[0].decode("latin-1"))
				elif not line.startswith(b"X-"):
					break
		print("%s\t%s\t%s" % (p, mail, " ".join(rcpts)))
	return 0


def main():
	if len(sys.argv) < 2:
		die(__doc__)
	cmd = sys.argv[1]
	fn = globals().get("cmd_" + cmd.replace("-", "_"))
	if not fn:
		die("unknown command " + cmd)
	sys.exit(fn(sys.argv[2:]) or 0)


if __name__ == "__main__":
	main()
