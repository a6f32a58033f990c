/* stream - buffered I/O over a connected socket, plain or TLS.
 *
 * One stream = one connection.  Reads are buffered (a line reader with a
 * hard length limit); writes are collected in an output buffer and sent
 * with as few send()/SSL_write() calls as possible (stream_flush, or
 * automatically when STREAM_OUT_MAX bytes are waiting), so that a whole
 * SMTP command group or a large slice of message body goes out in one
 * segment train: no line-per-syscall writes, no Nagle/delayed-ACK stalls.
 * Partial writes are retried until everything is sent (dma's truncated
 * DATA, SECURITY.md H-11/F-07).  Every blocking operation waits with
 * poll() for at most the stream's current timeout; there is no alarm()
 * and no longjmp.  Errors are TEMP statuses ("4.4.2 lost connection ...",
 * "4.4.2 conversation timed out ...") with text suitable for mailq.
 *
 * TLS is a layer switched on in place (stream_start_tls): it first drops
 * every byte read but not yet consumed, so nothing a peer sent before the
 * handshake can be taken as coming over TLS (SECURITY.md H-05). */
#ifndef SATMAIL_STREAM_H
#define SATMAIL_STREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "status.h"
#include "tls.h"

#define STREAM_OUT_MAX	(256 * 1024)	/* output buffered before an automatic flush */
#define STREAM_IN_SIZE	(16 * 1024)	/* input buffer */

struct stream;

/* Wraps a connected socket (O_NONBLOCK is set here); the stream owns fd
 * from now on.  label names the peer in error texts, e.g.
 * "mx.example.com[192.0.2.1]:25"; it is copied. */
struct stream *stream_new(int fd, const char *label);
/* Closes the connection (TLS close_notify is attempted without waiting)
 * and frees everything.  Accepts NULL; returns NULL. */
struct stream *stream_free(struct stream *s);

/* Seconds each later blocking operation (one read, one flush, the TLS
 * handshake) may wait in total; 0 = no limit. */
void stream_set_timeout(struct stream *s, unsigned seconds);

/* Appends n bytes to the output buffer; flushes first when the buffer
 * would exceed STREAM_OUT_MAX.  False with st (TEMP) on a write error or
 * timeout. */
bool stream_write(struct stream *s, const void *p, size_t n, struct status *st);
bool stream_puts(struct stream *s, const char *str, struct status *st);
/* Sends everything buffered.  False with st (TEMP). */
bool stream_flush(struct stream *s, struct status *st);

/* Reads one line ending in LF into line (replaced), without the CRLF or
 * LF.  Returns 1 for a line, 0 when the peer closed the connection before
 * a complete line (st set TEMP "lost connection"), -1 on error, timeout
 * or a line longer than max bytes (st set TEMP).  The line is untrusted
 * peer data and may hold any byte except LF. */
int stream_read_line(struct stream *s, struct buf *line, size_t max, struct status *st);

/* Bytes received and buffered but not yet returned by stream_read_line. */
size_t stream_pending(const struct stream *s);

/* Starts TLS as a client over this connection: discards buffered input
 * (see top), flushes nothing (the caller has flushed), runs the handshake
 * within the stream's timeout.  peer_name is the name to send as SNI and
 * to verify (verify/secure levels; NULL or an IP literal = no SNI).  On
 * success every later read and write goes through TLS and info (if not
 * NULL) describes the session.  False with st: TEMP with a reason such as
 * "4.7.5 TLS handshake failed: ..." or "4.7.5 server certificate not
 * verified: ..." (see tls.h for the level rules). */
bool stream_start_tls(struct stream *s, struct tls_client *tc, const char *peer_name,
    enum conf_tls_level level, struct tls_info *info, struct status *st);

/* True once stream_start_tls succeeded. */
bool stream_is_tls(const struct stream *s);

/* TLS channel binding data for SCRAM-*-PLUS: type "tls-exporter" (TLS
 * 1.3, RFC 9266) or "tls-unique" (TLS 1.2, RFC 5929); false when not
 * available for this session (no TLS, or the type does not fit its
 * version). */
bool stream_channel_binding(const struct stream *s, const char *type, struct buf *out);

#endif
