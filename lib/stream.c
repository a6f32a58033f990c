/* stream - buffered connection I/O, plain or TLS (see stream.h).
 *
 * Timeouts: each operation (one line read, one flush, one handshake)
 * takes a single CLOCK_MONOTONIC deadline and every poll() waits only for
 * what is left of it, so a peer that trickles a byte at a time cannot
 * stretch an operation.  A write larger than the output buffer is sent
 * in STREAM_OUT_MAX slices, each with its own deadline, like a sequence
 * of flushes.
 *
 * SIGPIPE: a library must not change process-wide signal handling, so no
 * write here can raise it.  Plain writes use send(MSG_NOSIGNAL); TLS runs
 * over a small custom BIO whose write is send(MSG_NOSIGNAL) as well
 * (OpenSSL's socket BIO uses write(), which raises SIGPIPE).  The BIO
 * also reports end of file so that SSL_OP_IGNORE_UNEXPECTED_EOF turns a
 * peer's plain close into SSL_ERROR_ZERO_RETURN.
 *
 * A failed handshake leaves the connection in an unknown state; the
 * stream is then "dead": every later read or write fails with "lost
 * connection", so nothing can go out in plaintext by mistake. */
#include "stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "xalloc.h"

struct stream {
	int fd;
	char *label;
	unsigned timeout;	/* seconds per operation; 0 = none */
	bool dead;		/* a failed handshake: unusable */
	bool broken;		/* a write failed: the output stream has a gap */
	bool bio_eof;		/* recv() returned 0 (for BIO_eof) */
	SSL *ssl;		/* NULL until stream_start_tls succeeded */
	bool ssl_fatal;		/* SSL_shutdown must not be called */
	/* Set while the handshake runs, read by verify_cb. */
	bool enforce;		/* verify/secure: fail on the first error */
	bool chain_error, name_error;
	int verify_error;	/* first X509_V_ERR_* seen */
	size_t in_pos, in_len;
	struct buf out;
	char in[STREAM_IN_SIZE];
};

enum wait_result { WAIT_OK, WAIT_TIMEOUT, WAIT_ERROR };

struct stream *
stream_new(int fd, const char *label)
{
	struct stream *s = xcalloc(1, sizeof *s);
	int flags = fcntl(fd, F_GETFL);
	int one = 1;

	s->fd = fd;
	s->label = xstrdup(label ? label : "peer");
	buf_init(&s->out);
	if (flags >= 0)
		(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	/* Writes are already grouped by the output buffer; Nagle would
	 * only hold back the last small segment of a group (e.g. the final
	 * ".") until the previous one is acknowledged.  Fails harmlessly on
	 * a non-TCP socket. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return s;
}

struct stream *
stream_free(struct stream *s)
{
	if (!s)
		return NULL;
	if (s->ssl) {
		/* One attempt at close_notify; never wait for the peer's. */
		if (!s->ssl_fatal) {
			ERR_clear_error();
			(void)SSL_shutdown(s->ssl);
		}
		SSL_free(s->ssl);
		ERR_clear_error();
	}
	if (s->fd >= 0)
		close(s->fd);
	buf_clear(&s->out);
	free(s->label);
	free(s);
	return NULL;
}

void
stream_set_timeout(struct stream *s, unsigned seconds)
{
	s->timeout = seconds;
}

bool
stream_is_tls(const struct stream *s)
{
	return s->ssl != NULL;
}

size_t
stream_pending(const struct stream *s)
{
	size_t n = s->in_len - s->in_pos;
	if (s->ssl)
		n += (size_t)SSL_pending(s->ssl);
	return n;
}

/* ---- deadlines and waiting ---- */

static long long
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The deadline of an operation starting now; 0 = none. */
static long long
deadline_start(const struct stream *s)
{
	return s->timeout ? now_ns() + (long long)s->timeout * 1000000000LL : 0;
}

static enum wait_result
wait_ready(const struct stream *s, short events, long long deadline)
{
	struct pollfd p = { .fd = s->fd, .events = events };

	for (;;) {
		int ms = -1;
		if (deadline) {
			long long left = deadline - now_ns();
			if (left <= 0)
				return WAIT_TIMEOUT;
			/* Rounded up, so that poll() never returns just
			 * before the deadline and spins. */
			left = (left + 999999) / 1000000;
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		int r = poll(&p, 1, ms);
		/* POLLERR/POLLHUP count as ready: the next I/O call says
		 * what happened. */
		if (r > 0)
			return WAIT_OK;
		if (r < 0 && errno != EINTR)
			return WAIT_ERROR;
	}
}

static void
set_lost(const struct stream *s, struct status *st)
{
	status_set(st, STATUS_TEMP, "4.4.2", 0, "lost connection with %s", s->label);
}

static void
set_timeout(const struct stream *s, struct status *st)
{
	status_set(st, STATUS_TEMP, "4.4.2", 0, "conversation with %s timed out", s->label);
}

static void
set_wait_error(const struct stream *s, enum wait_result w, struct status *st)
{
	if (w == WAIT_TIMEOUT)
		set_timeout(s, st);
	else
		set_lost(s, st);
}

/* What to wait for after a TLS call returned err; 0 = a real failure. */
static short
ssl_wants(const struct stream *s, int ret)
{
	switch (SSL_get_error(s->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return POLLOUT;
	default:
		return 0;
	}
}

/* After a TLS failure other than a clean close: libssl forbids
 * SSL_shutdown, and the reason is worth a debug line. */
static void
ssl_failed(struct stream *s, int ret)
{
	int e = SSL_get_error(s->ssl, ret);
	if (e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL) {
		unsigned long code = ERR_peek_last_error();
		const char *why = code ? ERR_reason_error_string(code) : NULL;
		s->ssl_fatal = true;
		log_debug("TLS error with %s: %s", s->label,
		    why ? why : e == SSL_ERROR_SYSCALL ? strerror(errno) : "unknown");
	}
	ERR_clear_error();
}

/* ---- the BIO under TLS ---- */

static int
bio_write(BIO *b, const char *p, size_t n, size_t *written)
{
	struct stream *s = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	for (;;) {
		ssize_t r = send(s->fd, p, n, MSG_NOSIGNAL);
		if (r >= 0) {
			*written = (size_t)r;
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_write(b);
		return 0;
	}
}

static int
bio_read(BIO *b, char *p, size_t n, size_t *got)
{
	struct stream *s = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	for (;;) {
		ssize_t r = recv(s->fd, p, n, 0);
		if (r > 0) {
			*got = (size_t)r;
			return 1;
		}
		if (r == 0) {
			s->bio_eof = true;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			BIO_set_retry_read(b);
		return 0;
	}
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	const struct stream *s = BIO_get_data(b);

	(void)num, (void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;	/* nothing is buffered here */
	case BIO_CTRL_EOF:
		return s->bio_eof;
	default:
		return 0;
	}
}

static BIO_METHOD *bio_method;
static CRYPTO_ONCE bio_once = CRYPTO_ONCE_STATIC_INIT;

static void
bio_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "satmail stream");
	if (m && BIO_meth_set_write_ex(m, bio_write) && BIO_meth_set_read_ex(m, bio_read)
	    && BIO_meth_set_ctrl(m, bio_ctrl))
		bio_method = m;
	else
		BIO_meth_free(m);
}

static BIO *
bio_new(struct stream *s)
{
	BIO *b;

	if (!CRYPTO_THREAD_run_once(&bio_once, bio_method_init) || !bio_method)
		return NULL;
	if (!(b = BIO_new(bio_method)))
		return NULL;
	BIO_set_data(b, s);
	BIO_set_init(b, 1);
	return b;
}

/* ---- raw I/O, plain or TLS ---- */

/* Reads what is available into the (empty) input buffer.  1 = bytes
 * read, 0 = end of file, -1 = error or timeout (st set). */
static int
fill(struct stream *s, long long deadline, struct status *st)
{
	enum wait_result w;
	short want = POLLIN;

	s->in_pos = s->in_len = 0;
	for (;;) {
		if (s->ssl) {
			size_t got = 0;
			ERR_clear_error();
			int r = SSL_read_ex(s->ssl, s->in, sizeof s->in, &got);
			if (r == 1) {
				s->in_len = got;
				return 1;
			}
			if (SSL_get_error(s->ssl, r) == SSL_ERROR_ZERO_RETURN)
				return 0;
			if (!(want = ssl_wants(s, r))) {
				ssl_failed(s, r);
				set_lost(s, st);
				return -1;
			}
		} else {
			ssize_t r = recv(s->fd, s->in, sizeof s->in, 0);
			if (r > 0) {
				s->in_len = (size_t)r;
				return 1;
			}
			if (r == 0)
				return 0;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				set_lost(s, st);
				return -1;
			}
			want = POLLIN;
		}
		if ((w = wait_ready(s, want, deadline)) != WAIT_OK) {
			set_wait_error(s, w, st);
			return -1;
		}
	}
}

/* Sends all n bytes before the deadline, resuming partial writes. */
static bool
send_all(struct stream *s, const char *p, size_t n, long long deadline, struct status *st)
{
	enum wait_result w;
	short want = POLLOUT;

	while (n > 0) {
		size_t done = 0;
		if (s->ssl) {
			ERR_clear_error();
			int r = SSL_write_ex(s->ssl, p, n, &done);
			if (r != 1 && !(want = ssl_wants(s, r))) {
				ssl_failed(s, r);
				set_lost(s, st);
				return false;
			}
		} else {
			ssize_t r = send(s->fd, p, n, MSG_NOSIGNAL);
			if (r >= 0)
				done = (size_t)r;
			else if (errno == EINTR)
				continue;
			else if (errno != EAGAIN && errno != EWOULDBLOCK) {
				set_lost(s, st);
				return false;
			}
			want = POLLOUT;
		}
		if (done > 0) {
			p += done;
			n -= done;
			continue;
		}
		if ((w = wait_ready(s, want, deadline)) != WAIT_OK) {
			set_wait_error(s, w, st);
			return false;
		}
	}
	return true;
}

/* Sends n bytes in slices of at most STREAM_OUT_MAX, one deadline each. */
static bool
send_sliced(struct stream *s, const char *p, size_t n, struct status *st)
{
	if (s->dead || s->broken) {
		set_lost(s, st);
		return false;
	}
	while (n > 0) {
		size_t k = n < STREAM_OUT_MAX ? n : STREAM_OUT_MAX;
		if (!send_all(s, p, k, deadline_start(s), st)) {
			/* Part of the data may be gone: never send more
			 * after a gap. */
			s->broken = true;
			return false;
		}
		p += k;
		n -= k;
	}
	return true;
}

/* ---- public I/O ---- */

bool
stream_flush(struct stream *s, struct status *st)
{
	bool ok = send_sliced(s, s->out.data, s->out.len, st);
	buf_reset(&s->out);
	return ok;
}

bool
stream_write(struct stream *s, const void *p, size_t n, struct status *st)
{
	if (s->out.len + n > STREAM_OUT_MAX) {
		if (!stream_flush(s, st))
			return false;
		/* Too big for the buffer even when empty: no need to copy. */
		if (n >= STREAM_OUT_MAX)
			return send_sliced(s, p, n, st);
	}
	buf_append(&s->out, p, n);
	return true;
}

bool
stream_puts(struct stream *s, const char *str, struct status *st)
{
	return stream_write(s, str, strlen(str), st);
}

static void
set_too_long(const struct stream *s, struct status *st)
{
	status_set(st, STATUS_TEMP, "4.4.2", 0, "reply line from %s too long", s->label);
}

int
stream_read_line(struct stream *s, struct buf *line, size_t max, struct status *st)
{
	long long deadline = deadline_start(s);

	buf_reset(line);
	if (s->dead) {
		set_lost(s, st);
		return -1;
	}
	for (;;) {
		char *start = s->in + s->in_pos;
		size_t avail = s->in_len - s->in_pos;
		char *lf = memchr(start, '\n', avail);
		size_t take = lf ? (size_t)(lf - start) : avail;

		buf_append(line, start, take);
		s->in_pos += take + (lf != NULL);
		if (lf) {
			if (line->len > 0 && line->data[line->len - 1] == '\r')
				line->data[--line->len] = '\0';
			if (line->len > max) {
				set_too_long(s, st);
				return -1;
			}
			return 1;
		}
		/* One more byte may still be the CR of the CRLF. */
		if (line->len > max && line->len - max > 1) {
			set_too_long(s, st);
			return -1;
		}
		int r = fill(s, deadline, st);
		if (r == 0)
			set_lost(s, st);
		if (r <= 0)
			return r;
	}
}

/* ---- TLS ---- */

/* Records every certificate problem; when enforced the first one
 * also ends the handshake, otherwise it is only remembered for
 * tls_info (trusted/matched). */
static int
verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct stream *s = SSL_get_app_data(ssl);

	if (!ok) {
		int err = X509_STORE_CTX_get_error(xs);
		if (err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH)
			s->name_error = true;
		else
			s->chain_error = true;
		if (s->verify_error == X509_V_OK)
			s->verify_error = err;
	}
	return s->enforce ? ok : 1;
}

/* peer_name without brackets or a trailing dot (NULL when nothing is
 * left), and whether it is an address literal. */
static char *
clean_name(const char *peer_name, bool *is_ip)
{
	size_t n = strlen(peer_name);
	unsigned char addr[sizeof(struct in6_addr)];
	char *name;

	if (n >= 2 && peer_name[0] == '[' && peer_name[n - 1] == ']') {
		/* An SMTP address literal: [192.0.2.1] or [IPv6:2001:db8::1]. */
		peer_name++, n -= 2;
		if (n > 5 && strncasecmp(peer_name, "IPv6:", 5) == 0)
			peer_name += 5, n -= 5;
	}
	name = xstrndup(peer_name, n);
	if (n > 0 && name[n - 1] == '.')
		name[--n] = '\0';
	if (n == 0) {
		free(name);
		return NULL;
	}
	*is_ip = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
	return name;
}

/* SNI and the name to verify. */
static bool
setup_names(struct stream *s, const char *name, bool is_ip, struct status *st)
{
	X509_VERIFY_PARAM *param = SSL_get0_param(s->ssl);
	bool ok;

	if (!name)
		return true;
	if (is_ip)
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1;
	else {
		/* Whole leftmost-label wildcards only; a certificate must name
		 * the host in a SAN (H-08: a CN-only certificate is rejected). */
		SSL_set_hostflags(s->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS
		    | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
		ok = SSL_set1_host(s->ssl, name) == 1
		    && SSL_set_tlsext_host_name(s->ssl, name) == 1;
	}
	if (!ok)
		status_set(st, STATUS_TEMP, "4.7.5", 0, "TLS handshake failed: unusable peer name \"%s\"",
		    name);
	return ok;
}

/* The printable subject CN of the peer certificate into out. */
static void
peer_cn(SSL *ssl, char *out, size_t size)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	X509_NAME *subject = cert ? X509_get_subject_name(cert) : NULL;
	int i = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
	unsigned char *utf8 = NULL;
	int n = -1;
	size_t k = 0;

	out[0] = '\0';
	if (i >= 0)
		n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
	/* Peer data for a log line: anything but printable ASCII (a NUL
	 * included) becomes '?'. */
	for (int j = 0; j < n && k + 1 < size; j++)
		out[k++] = utf8[j] >= 0x20 && utf8[j] < 0x7f ? (char)utf8[j] : '?';
	out[k] = '\0';
	OPENSSL_free(utf8);
}

static void
fill_info(const struct stream *s, bool have_name, struct tls_info *info)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(s->ssl);
	bool have_cert = SSL_get0_peer_certificate(s->ssl) != NULL;

	memset(info, 0, sizeof *info);
	snprintf(info->protocol, sizeof info->protocol, "%s", SSL_get_version(s->ssl));
	snprintf(info->cipher, sizeof info->cipher, "%s", c ? SSL_CIPHER_get_name(c) : "none");
	info->bits = c ? SSL_CIPHER_get_bits(c, &info->alg_bits) : 0;
	info->trusted = have_cert && !s->chain_error;
	info->matched = info->trusted && have_name && !s->name_error;
	peer_cn(s->ssl, info->peer_cn, sizeof info->peer_cn);
}

/* Why the handshake ended after SSL_connect returned ret. */
static void
set_handshake_error(struct stream *s, int ret, struct status *st)
{
	unsigned long code = ERR_peek_last_error();
	const char *why = code ? ERR_reason_error_string(code) : NULL;

	if (SSL_get_error(s->ssl, ret) == SSL_ERROR_SYSCALL)
		log_debug("TLS handshake with %s: %s", s->label, strerror(errno));
	if (s->enforce && s->verify_error != X509_V_OK)
		status_set(st, STATUS_TEMP, "4.7.5", 0, "server certificate not verified: %s",
		    X509_verify_cert_error_string(s->verify_error));
	else if (why)
		status_set(st, STATUS_TEMP, "4.7.5", 0, "TLS handshake failed: %s", why);
	else
		status_set(st, STATUS_TEMP, "4.7.5", 0, "TLS handshake failed: lost connection with %s",
		    s->label);
}

static bool
handshake(struct stream *s, struct status *st)
{
	long long deadline = deadline_start(s);
	enum wait_result w;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		int r = SSL_connect(s->ssl);
		if (r == 1)
			return true;
		short want = ssl_wants(s, r);
		if (!want) {
			set_handshake_error(s, r, st);
			return false;
		}
		if ((w = wait_ready(s, want, deadline)) != WAIT_OK) {
			if (w == WAIT_TIMEOUT)
				status_set(st, STATUS_TEMP, "4.7.5", 0,
				    "TLS handshake failed: conversation with %s timed out", s->label);
			else
				status_set(st, STATUS_TEMP, "4.7.5", 0,
				    "TLS handshake failed: lost connection with %s", s->label);
			return false;
		}
	}
}

bool
stream_start_tls(struct stream *s, struct tls_client *tc, const char *peer_name,
    enum conf_tls_level level, struct tls_info *info, struct status *st)
{
	char *name = NULL;
	bool is_ip = false, ok = false;
	BIO *bio = NULL;

	if (s->dead || s->broken || s->ssl) {
		status_set(st, STATUS_TEMP, "4.7.5", 0, "TLS handshake failed: %s with %s",
		    s->ssl ? "TLS already active" : "connection unusable", s->label);
		return false;
	}
	if (s->out.len > 0) {
		/* A caller bug; sending it now would put plaintext where
		 * the peer expects a ClientHello. */
		status_set(st, STATUS_TEMP, "4.3.0", 0, "%zu unsent bytes before TLS with %s",
		    s->out.len, s->label);
		return false;
	}
	/* SECURITY.md H-05: nothing received before the handshake may be
	 * read as if it came over TLS. */
	s->in_pos = s->in_len = 0;
	/* "dane" would need the caller's TLSA records, which this interface
	 * cannot take: it fails closed with the verify rules rather than
	 * quietly accept any certificate (callers map it to another level
	 * after their TLSA lookup). */
	s->enforce = level == TLS_LEVEL_VERIFY || level == TLS_LEVEL_SECURE
	    || level == TLS_LEVEL_DANE;
	s->chain_error = s->name_error = false;
	s->verify_error = X509_V_OK;
	s->bio_eof = false;
	if (peer_name)
		name = clean_name(peer_name, &is_ip);
	if (s->enforce && !name) {
		status_set(st, STATUS_TEMP, "4.7.5", 0,
		    "server certificate not verified: no peer name to check");
		goto out;
	}
	ERR_clear_error();
	if (!(s->ssl = SSL_new(tls_client_ctx(tc))) || !(bio = bio_new(s))) {
		status_set(st, STATUS_TEMP, "4.7.5", 0, "TLS handshake failed: out of TLS resources");
		goto out;
	}
	SSL_set_bio(s->ssl, bio, bio);
	SSL_set_app_data(s->ssl, s);
	SSL_set_connect_state(s->ssl);
	SSL_set_verify(s->ssl, s->enforce ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, verify_cb);
	/* Verified sessions also refuse weak keys and SHA-1 signatures
	 * (H-08). */
	if (s->enforce && SSL_get_security_level(s->ssl) < 2)
		SSL_set_security_level(s->ssl, 2);
	if (!setup_names(s, name, is_ip, st) || !handshake(s, st))
		goto out;
	if (info)
		fill_info(s, name != NULL, info);
	ok = true;
out:
	if (!ok) {
		if (s->ssl)
			SSL_free(s->ssl);
		s->ssl = NULL;
		s->dead = true;
	}
	ERR_clear_error();
	free(name);
	return ok;
}

bool
stream_channel_binding(const struct stream *s, const char *type, struct buf *out)
{
	unsigned char data[EVP_MAX_MD_SIZE];
	size_t n = 0;

	if (!s->ssl)
		return false;
	if (strcmp(type, "tls-exporter") == 0) {
		/* RFC 9266: 32 bytes, empty context, TLS 1.3 only. */
		static const char label[] = "EXPORTER-Channel-Binding";
		if (SSL_version(s->ssl) != TLS1_3_VERSION
		    || SSL_export_keying_material(s->ssl, data, 32, label, sizeof label - 1,
			NULL, 0, 1) != 1)
			return false;
		n = 32;
	} else if (strcmp(type, "tls-unique") == 0) {
		/* RFC 5929: the first Finished of the latest handshake (the
		 * client's unless the session was resumed).  Only with the
		 * extended master secret, which closes the triple handshake
		 * attack on it. */
		if (SSL_version(s->ssl) != TLS1_2_VERSION || SSL_get_extms_support(s->ssl) != 1)
			return false;
		if (SSL_session_reused(s->ssl))
			n = SSL_get_peer_finished(s->ssl, data, sizeof data);
		else
			n = SSL_get_finished(s->ssl, data, sizeof data);
		if (n == 0 || n > sizeof data)
			return false;
	} else
		return false;
	buf_reset(out);
	buf_append(out, data, n);
	return true;
}
