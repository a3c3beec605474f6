/* The SMTP transport's check before a run: one short dialogue with the pool's relay (greeting,
 * EHLO, STARTTLS, AUTH, QUIT) that never starts a mail transaction, so that a relay that cannot
 * work stops the run before anything is sent. Plain sockets and OpenSSL, since libesmtp does not
 * even connect without a message to send. */
#include "smtp_internal.h"
#include "mailbisect/buf.h"
#include "mailbisect/clock.h"
#include "mailbisect/limits.h"
#include "mailbisect/net.h"
#include "mailbisect/str.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define CHECK_MAX_REPLY_BYTES MB_MAX_DIAGNOSTIC_BYTES /* one reply, all its lines */
#define CHECK_QUOTE_BYTES     300                     /* of a reply quoted in a message */
#define CHECK_QUIT_TIMEOUT_MS 2000                    /* for the reply to QUIT */
#define CHECK_MAX_SECRETS     3                       /* texts never quoted back */
/* base64 of "\0user\0password" with both at their limit, and its NUL */
#define CHECK_SASL_BASE64 (4 * ((2 * SMTP_MAX_SASL_FIELD + 2 + 2) / 3) + 1)

enum io_status { IO_OK = 0, IO_CLOSED, IO_TIMEOUT, IO_FAILED, IO_TLS, IO_TOO_LONG, IO_NOMEM };

/* One reply: its code and its lines' texts (codes removed), CRLF-joined. */
struct reply {
	int code;
	bool garbage; /* a line without a status code, or lines with different codes: the
	               * offending line is in text */
	struct mb_buf text;
};

struct check {
	const struct mb_pool_spec *pool;
	char relay[300]; /* "host:port" */
	char helo[256];
	long timeout_seconds;
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	bool broken; /* the connection can no longer carry a QUIT */
	/* bytes read and not yet used */
	char in[4096];
	size_t in_start, in_end;
	int io_errno;
	unsigned long ssl_error;
	struct mb_buf line;
	struct reply reply;
	/* what the last EHLO announced */
	bool starttls_offered;
	bool auth_offered;
	bool auth_plain, auth_login;
	char mechanisms[128]; /* as offered, for messages */
	/* never quoted back from a reply, in case a relay echoes them */
	const char *secrets[CHECK_MAX_SECRETS];
};

/* ---- reading and writing within a deadline ---- */

/* 1 when fd is ready for events, 0 at the deadline, -1 on an error. */
static int wait_ready(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mb_clock_monotonic_ms();
		struct pollfd p = {fd, events, 0};
		int n;

		if (left <= 0)
			return 0;
		n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

static enum io_status wait_for(struct check *c, short events, int64_t deadline)
{
	int rc = wait_ready(c->fd, events, deadline);

	if (rc > 0)
		return IO_OK;
	if (rc == 0)
		return IO_TIMEOUT;
	c->io_errno = errno;
	return IO_FAILED;
}

/* A reset is how a relay that closes with our data unread ends the connection. */
static bool closed_by_peer(int e)
{
	return e == ECONNRESET || e == EPIPE;
}

/* What an OpenSSL call that returned r means for the dialogue: IO_OK with *events set when it
 * must be repeated once the socket is ready. */
static enum io_status tls_status(struct check *c, int r, short *events)
{
	unsigned long e;

	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		*events = POLLIN;
		return IO_OK;
	case SSL_ERROR_WANT_WRITE:
		*events = POLLOUT;
		return IO_OK;
	case SSL_ERROR_ZERO_RETURN:
		return IO_CLOSED;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			c->io_errno = errno;
			return errno && !closed_by_peer(errno) ? IO_FAILED : IO_CLOSED;
		}
		break;
	default:
		break;
	}
	e = ERR_peek_last_error();
	if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		return IO_CLOSED;
	c->ssl_error = e;
	return IO_TLS;
}

/* Reads what the relay has sent into c->in, waiting until the deadline. */
static enum io_status fill(struct check *c, int64_t deadline)
{
	for (;;) {
		short events = POLLIN;
		enum io_status st;

		if (c->ssl) {
			int r;
			ERR_clear_error();
			r = SSL_read(c->ssl, c->in, (int)sizeof c->in);
			if (r > 0) {
				c->in_start = 0;
				c->in_end = (size_t)r;
				return IO_OK;
			}
			if ((st = tls_status(c, r, &events)) != IO_OK)
				return st;
		} else {
			ssize_t n = recv(c->fd, c->in, sizeof c->in, 0);
			if (n > 0) {
				c->in_start = 0;
				c->in_end = (size_t)n;
				return IO_OK;
			}
			if (n == 0)
				return IO_CLOSED;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				c->io_errno = errno;
				return closed_by_peer(errno) ? IO_CLOSED : IO_FAILED;
			}
		}
		if ((st = wait_for(c, events, deadline)) != IO_OK)
			return st;
	}
}

/* One line into c->line, its line end kept; at most SMTP_MAX_REPLY_LINE bytes. */
static enum io_status read_line(struct check *c, int64_t deadline)
{
	enum io_status st;

	mb_buf_reset(&c->line);
	for (;;) {
		const char *p, *nl;
		size_t n;

		if (c->in_start == c->in_end && (st = fill(c, deadline)) != IO_OK)
			return st;
		p = c->in + c->in_start;
		nl = memchr(p, '\n', c->in_end - c->in_start);
		n = nl ? (size_t)(nl - p) + 1 : c->in_end - c->in_start;
		if (c->line.len + n > SMTP_MAX_REPLY_LINE)
			return IO_TOO_LONG;
		if (mb_buf_append(&c->line, p, n))
			return IO_NOMEM;
		c->in_start += n;
		if (nl)
			return IO_OK;
	}
}

static bool is_reply_line(const char *s, size_t n)
{
	return n >= 3 && s[0] >= '2' && s[0] <= '5' && isdigit((unsigned char)s[1]) &&
	       isdigit((unsigned char)s[2]) && (n == 3 || s[3] == ' ' || s[3] == '-');
}

/* Reads one complete reply into c->reply. A line that breaks the syntax ends it with garbage
 * set (the caller gives up on the connection then). */
static enum io_status read_reply(struct check *c, int64_t deadline)
{
	struct reply *r = &c->reply;
	size_t total = 0;
	enum io_status st;

	r->code = 0;
	r->garbage = false;
	mb_buf_reset(&r->text);
	for (;;) {
		const char *s;
		size_t n, skip;
		int code;

		if ((st = read_line(c, deadline)) != IO_OK)
			return st;
		total += c->line.len;
		if (total > CHECK_MAX_REPLY_BYTES)
			return IO_TOO_LONG;
		s = c->line.data;
		n = c->line.len;
		while (n && (s[n - 1] == '\r' || s[n - 1] == '\n'))
			n--;
		code =
		    is_reply_line(s, n) ? (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0') : 0;
		if (code == 0 || (r->code && code != r->code)) {
			r->garbage = true;
			mb_buf_reset(&r->text);
			return mb_buf_append(&r->text, s, n) ? IO_NOMEM : IO_OK;
		}
		if (r->code && mb_buf_puts(&r->text, "\r\n"))
			return IO_NOMEM;
		r->code = code;
		skip = n > 3 ? 4 : 3;
		while (skip < n && (s[skip] == ' ' || s[skip] == '\t'))
			skip++;
		if (mb_buf_append(&r->text, s + skip, n - skip))
			return IO_NOMEM;
		if (n == 3 || s[3] == ' ')
			return mb_buf_terminate(&r->text) ? IO_NOMEM : IO_OK;
	}
}

static enum io_status write_all(struct check *c, const char *data, size_t len, int64_t deadline)
{
	while (len) {
		short events = POLLOUT;
		enum io_status st;
		size_t done = 0;

		if (c->ssl) {
			int chunk = len > INT_MAX ? INT_MAX : (int)len;
			int r;
			ERR_clear_error();
			r = SSL_write(c->ssl, data, chunk);
			if (r > 0)
				done = (size_t)r;
			else if ((st = tls_status(c, r, &events)) != IO_OK)
				return st;
		} else {
			ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
			if (n > 0)
				done = (size_t)n;
			else if (n < 0 && errno == EINTR)
				continue;
			else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				c->io_errno = errno;
				return closed_by_peer(errno) ? IO_CLOSED : IO_FAILED;
			}
		}
		if (done) {
			data += done;
			len -= done;
		} else if ((st = wait_for(c, events, deadline)) != IO_OK) {
			return st;
		}
	}
	return IO_OK;
}

static int64_t deadline_of(const struct check *c)
{
	return mb_clock_monotonic_ms() + c->timeout_seconds * 1000;
}

/* Sends one command line (CRLF added) and reads the reply to it. The line may carry
 * credentials: the copy made here is wiped. */
static enum io_status command(struct check *c, const char *line)
{
	char buf[CHECK_SASL_BASE64 + 32];
	int64_t deadline = deadline_of(c);
	size_t n = strlen(line);
	enum io_status st;

	if (n + 2 >= sizeof buf)
		return IO_TOO_LONG;
	memcpy(buf, line, n);
	memcpy(buf + n, "\r\n", 2);
	st = write_all(c, buf, n + 2, deadline);
	OPENSSL_cleanse(buf, sizeof buf);
	return st != IO_OK ? st : read_reply(c, deadline);
}

/* ---- what went wrong, in one line ---- */

/* The reply (or the offending line) as "CODE text", printable, shortened, and with anything
 * we sent as a credential taken out. */
static const char *quote_reply(struct check *c, char *out, size_t size)
{
	struct mb_buf raw = MB_BUF_INIT, shown = MB_BUF_INIT;
	const char *t = c->reply.text.data ? c->reply.text.data : "";
	size_t len = c->reply.text.len;

	if (!c->reply.garbage && mb_buf_printf(&raw, "%d ", c->reply.code))
		len = 0;
	for (size_t i = 0; i < len;) {
		size_t skip = 0;
		for (int k = 0; k < CHECK_MAX_SECRETS && !skip; k++) {
			size_t n = c->secrets[k] ? strlen(c->secrets[k]) : 0;
			if (n && n <= len - i && memcmp(t + i, c->secrets[k], n) == 0)
				skip = n;
		}
		if (skip ? mb_buf_puts(&raw, "[hidden]") : mb_buf_putc(&raw, t[i]))
			break;
		i += skip ? skip : 1;
	}
	mb_str_printable(&shown, raw.data ? raw.data : "", raw.len, false);
	if (shown.len > CHECK_QUOTE_BYTES)
		snprintf(out, size, "%.*s...", CHECK_QUOTE_BYTES, shown.data);
	else
		snprintf(out, size, "%s", shown.data ? shown.data : "");
	mb_buf_free(&raw);
	if (shown.data)
		OPENSSL_cleanse(shown.data, shown.alloc);
	mb_buf_free(&shown);
	return out;
}

/* A reply that was not read: what happened while waiting for the reply to `what`. */
static int io_failed(struct check *c, enum io_status st, const char *what, struct mb_err *err)
{
	c->broken = true;
	switch (st) {
	case IO_CLOSED:
		return mb_err_set(err, MB_EUNAVAIL,
		                  "%s closed the connection before replying to %s", c->relay, what);
	case IO_TIMEOUT:
		return mb_err_set(err, MB_EUNAVAIL, "no reply from %s to %s within %ld s", c->relay,
		                  what, c->timeout_seconds);
	case IO_FAILED:
		return mb_err_set(err, MB_EUNAVAIL, "connection to %s lost at %s: %s", c->relay,
		                  what, strerror(c->io_errno));
	case IO_TLS:
		return mb_err_set(err, MB_EPROTO, "TLS error with %s at %s: %s", c->relay, what,
		                  smtp_ssl_reason(c->ssl_error));
	case IO_TOO_LONG:
		return mb_err_set(
		    err, MB_EPROTO,
		    "%s sent a reply longer than this transport reads (%u bytes a line, %u in "
		    "all) at %s; is it an SMTP server?",
		    c->relay, SMTP_MAX_REPLY_LINE, CHECK_MAX_REPLY_BYTES, what);
	case IO_NOMEM:
	default:
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
}

static int garbage_reply(struct check *c, const char *what, struct mb_err *err)
{
	char q[CHECK_QUOTE_BYTES + 8];

	c->broken = true;
	return mb_err_set(err, MB_EPROTO, "%s sent an invalid reply to %s: \"%s\"", c->relay, what,
	                  quote_reply(c, q, sizeof q));
}

static int unexpected_reply(struct check *c, const char *what, struct mb_err *err)
{
	char q[CHECK_QUOTE_BYTES + 8];

	return mb_err_set(err, MB_EPROTO, "%s sent an unexpected reply to %s: %s", c->relay, what,
	                  quote_reply(c, q, sizeof q));
}

static bool refusal(int code)
{
	return code / 100 == 4 || code / 100 == 5;
}

/* ---- the dialogue ---- */

static int greeting(struct check *c, struct mb_err *err)
{
	char q[CHECK_QUOTE_BYTES + 8];
	enum io_status st = read_reply(c, deadline_of(c));

	if (st == IO_TIMEOUT) {
		c->broken = true;
		return mb_err_set(
		    err, MB_EUNAVAIL,
		    "no greeting from %s within %ld s; is it an SMTP port? (a port "
		    "for implicit TLS, usually 465, waits for the client to start TLS)",
		    c->relay, c->timeout_seconds);
	}
	if (st == IO_CLOSED) {
		c->broken = true;
		return mb_err_set(err, MB_EUNAVAIL, "%s closed the connection before its greeting",
		                  c->relay);
	}
	if (st != IO_OK)
		return io_failed(c, st, "its greeting", err);
	if (c->reply.garbage) {
		c->broken = true;
		return mb_err_set(err, MB_EPROTO,
		                  "%s does not speak SMTP: it greeted with \"%s\"; check host and "
		                  "port",
		                  c->relay, quote_reply(c, q, sizeof q));
	}
	if (c->reply.code == 220)
		return 0;
	if (refusal(c->reply.code))
		return mb_err_set(err, MB_EUNAVAIL, "%s refused the connection: %s", c->relay,
		                  quote_reply(c, q, sizeof q));
	return unexpected_reply(c, "the connection", err);
}

/* Notes what an EHLO reply announces; its first line is the relay's name. */
static void read_extensions(struct check *c)
{
	const char *p = c->reply.text.data ? c->reply.text.data : "";
	const char *nl = strchr(p, '\n');

	c->starttls_offered = c->auth_offered = c->auth_plain = c->auth_login = false;
	c->mechanisms[0] = '\0';
	while (nl) {
		const char *line = nl + 1, *end;
		size_t n;

		nl = strchr(line, '\n');
		end = nl ? nl : line + strlen(line);
		n = (size_t)(end - line);
		if (n && line[n - 1] == '\r')
			n--;
		if (n == 8 && strncasecmp(line, "STARTTLS", 8) == 0)
			c->starttls_offered = true;
		if (n < 5 || strncasecmp(line, "AUTH", 4) != 0 ||
		    (line[4] != ' ' && line[4] != '='))
			continue;
		c->auth_offered = true;
		/* relay text, shown in a message: printable ASCII only */
		for (size_t i = 0; i < n - 5 && i < sizeof c->mechanisms - 1; i++) {
			unsigned char ch = (unsigned char)line[5 + i];
			c->mechanisms[i] = ch >= 0x20 && ch < 0x7F ? (char)ch : '?';
			c->mechanisms[i + 1] = '\0';
		}
		for (size_t i = 5; i < n;) {
			size_t w = 0;
			while (i < n && (line[i] == ' ' || line[i] == '='))
				i++;
			while (i + w < n && line[i + w] != ' ')
				w++;
			if (w == 5 && strncasecmp(line + i, "PLAIN", 5) == 0)
				c->auth_plain = true;
			if (w == 5 && strncasecmp(line + i, "LOGIN", 5) == 0)
				c->auth_login = true;
			i += w;
		}
	}
}

/* EHLO, or HELO where the relay does not know EHLO (as libesmtp does: after 500-502 or 504). */
static int hello(struct check *c, struct mb_err *err)
{
	char line[300], q[CHECK_QUOTE_BYTES + 8];
	enum io_status st;
	int code;

	snprintf(line, sizeof line, "EHLO %s", c->helo);
	if ((st = command(c, line)) != IO_OK)
		return io_failed(c, st, "EHLO", err);
	if (c->reply.garbage)
		return garbage_reply(c, "EHLO", err);
	code = c->reply.code;
	if (code / 100 == 2) {
		read_extensions(c);
		return 0;
	}
	if (code != 500 && code != 501 && code != 502 && code != 504) {
		if (refusal(code))
			return mb_err_set(err, MB_EUNAVAIL, "%s refused EHLO %s: %s", c->relay,
			                  c->helo, quote_reply(c, q, sizeof q));
		return unexpected_reply(c, "EHLO", err);
	}
	snprintf(line, sizeof line, "HELO %s", c->helo);
	if ((st = command(c, line)) != IO_OK)
		return io_failed(c, st, "HELO", err);
	if (c->reply.garbage)
		return garbage_reply(c, "HELO", err);
	if (refusal(c->reply.code))
		return mb_err_set(err, MB_EUNAVAIL, "%s refused EHLO and HELO %s: %s", c->relay,
		                  c->helo, quote_reply(c, q, sizeof q));
	if (c->reply.code / 100 != 2)
		return unexpected_reply(c, "HELO", err);
	read_extensions(c);
	c->starttls_offered = c->auth_offered = false; /* HELO announces nothing */
	return 0;
}

/* With tls_verify, the same checks libesmtp makes after its handshake (verify result, which
 * includes the name set on the context; cipher strength; a certificate at all). */
static int certificate_accepted(struct check *c, struct mb_err *err)
{
	char why[768];
	long result;
	X509 *cert;

	if (!c->pool->tls_verify)
		return 0;
	result = SSL_get_verify_result(c->ssl);
	if (result != X509_V_OK)
		smtp_tls_describe(why, sizeof why, c->relay, X509_verify_cert_error_string(result),
		                  result);
	else if (SSL_get_cipher_bits(c->ssl, NULL) <= 40)
		smtp_tls_describe(why, sizeof why, c->relay, "weak cipher", X509_V_ERR_UNSPECIFIED);
	else if (!(cert = SSL_get1_peer_certificate(c->ssl)))
		smtp_tls_describe(why, sizeof why, c->relay, "the relay sent no certificate",
		                  X509_V_ERR_UNSPECIFIED);
	else {
		X509_free(cert);
		return 0;
	}
	return mb_err_set(err, MB_ECONFIG, "%s", why);
}

static int handshake(struct check *c, struct mb_err *err)
{
	int64_t deadline = deadline_of(c);

	ERR_clear_error();
	if (!(c->ssl = SSL_new(c->ctx)) || SSL_set_fd(c->ssl, c->fd) != 1)
		return mb_err_set(err, MB_ENOMEM, "cannot start TLS: %s",
		                  smtp_ssl_reason(ERR_get_error()));
	for (;;) {
		short events = POLLIN;
		enum io_status st;
		int r;

		ERR_clear_error();
		if ((r = SSL_connect(c->ssl)) == 1)
			return certificate_accepted(c, err);
		st = tls_status(c, r, &events);
		if (st == IO_OK)
			st = wait_for(c, events, deadline);
		if (st == IO_OK)
			continue;
		c->broken = true;
		if (st == IO_TIMEOUT)
			return mb_err_set(err, MB_EUNAVAIL, "no TLS handshake with %s within %ld s",
			                  c->relay, c->timeout_seconds);
		if (st == IO_CLOSED)
			return mb_err_set(err, MB_EUNAVAIL,
			                  "%s closed the connection during the TLS handshake",
			                  c->relay);
		if (st == IO_FAILED)
			return mb_err_set(err, MB_EUNAVAIL, "TLS handshake with %s failed: %s",
			                  c->relay, strerror(c->io_errno));
		return mb_err_set(err, MB_EPROTO, "TLS handshake with %s failed: %s", c->relay,
		                  smtp_ssl_reason(c->ssl_error));
	}
}

static int starttls(struct check *c, struct mb_err *err)
{
	char q[CHECK_QUOTE_BYTES + 8];
	enum io_status st;

	if (!c->starttls_offered)
		return mb_err_set(
		    err, MB_ECONFIG,
		    "%s does not offer STARTTLS, which tls \"starttls\" requires; use "
		    "the relay's submission port (usually 587), or set tls to none "
		    "for a relay without TLS",
		    c->relay);
	if ((st = command(c, "STARTTLS")) != IO_OK)
		return io_failed(c, st, "STARTTLS", err);
	if (c->reply.garbage)
		return garbage_reply(c, "STARTTLS", err);
	if (refusal(c->reply.code))
		return mb_err_set(err, MB_EUNAVAIL, "%s refused STARTTLS: %s", c->relay,
		                  quote_reply(c, q, sizeof q));
	if (c->reply.code != 220)
		return unexpected_reply(c, "STARTTLS", err);
	/* Bytes already there would be taken as coming through TLS (reply injection). */
	if (c->in_start != c->in_end) {
		c->broken = true;
		return mb_err_set(err, MB_EPROTO,
		                  "%s sent more after its reply to STARTTLS, before the TLS "
		                  "handshake",
		                  c->relay);
	}
	return handshake(c, err);
}

static int base64(const char *data, size_t len, char *out, size_t size)
{
	if (4 * ((len + 2) / 3) + 1 > size)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
	return 0;
}

/* Answers 334 challenges with responses[] in turn (NULL-terminated), until the final reply. */
static enum io_status sasl_exchange(struct check *c, const char *first,
                                    const char *const *responses)
{
	enum io_status st = command(c, first);

	for (size_t i = 0; st == IO_OK && !c->reply.garbage && c->reply.code == 334; i++)
		st = command(c, responses[i] ? responses[i] : "*");
	return st;
}

static int auth_result(struct check *c, struct mb_err *err)
{
	char q[CHECK_QUOTE_BYTES + 8];

	if (c->reply.garbage)
		return garbage_reply(c, "AUTH", err);
	if (c->reply.code / 100 == 2)
		return 0;
	if (c->reply.code / 100 == 4)
		return mb_err_set(err, MB_EUNAVAIL,
		                  "%s could not check the login of %s now: %s; nothing was sent",
		                  c->relay, c->pool->auth_user, quote_reply(c, q, sizeof q));
	if (c->reply.code / 100 == 5)
		return mb_err_set(
		    err, MB_ECONFIG,
		    "%s refused the login of %s: %s; credentials problem on your side, "
		    "not a receiver block; nothing was sent",
		    c->relay, c->pool->auth_user, quote_reply(c, q, sizeof q));
	return unexpected_reply(c, "AUTH", err);
}

static int authenticate(struct check *c, const char *password, struct mb_err *err)
{
	char plain[2 * SMTP_MAX_SASL_FIELD + 2], user64[CHECK_SASL_BASE64];
	char secret64[CHECK_SASL_BASE64], line[CHECK_SASL_BASE64 + 16];
	size_t ulen = strlen(c->pool->auth_user), plen = strlen(password);
	enum io_status st;
	int rc;

	if (!c->auth_offered)
		return mb_err_set(err, MB_ECONFIG,
		                  "%s does not offer AUTH, which auth.user needs%s", c->relay,
		                  c->pool->tls == MB_TLS_NONE
		                      ? " (many relays offer it only after STARTTLS: set tls to "
		                        "starttls)"
		                      : "");
	if (!c->auth_plain && !c->auth_login)
		return mb_err_set(err, MB_ECONFIG,
		                  "%s offers no AUTH mechanism this transport can use (PLAIN or "
		                  "LOGIN); it offers: %s",
		                  c->relay, c->mechanisms);
	/* smtp_pool_validate bounds both at SMTP_MAX_SASL_FIELD */
	if (c->auth_plain) {
		plain[0] = '\0';
		memcpy(plain + 1, c->pool->auth_user, ulen);
		plain[1 + ulen] = '\0';
		memcpy(plain + 2 + ulen, password, plen);
		rc = base64(plain, ulen + plen + 2, secret64, sizeof secret64);
		snprintf(line, sizeof line, "AUTH PLAIN %s", secret64);
		{
			const char *const responses[] = {secret64, NULL};
			c->secrets[1] = secret64;
			st = rc ? IO_NOMEM : sasl_exchange(c, line, responses);
		}
	} else {
		rc = base64(c->pool->auth_user, ulen, user64, sizeof user64) ||
		     base64(password, plen, secret64, sizeof secret64);
		{
			const char *const responses[] = {user64, secret64, NULL};
			c->secrets[1] = secret64;
			st = rc ? IO_NOMEM : sasl_exchange(c, "AUTH LOGIN", responses);
		}
	}
	rc = st != IO_OK ? io_failed(c, st, "AUTH", err) : auth_result(c, err);
	c->secrets[1] = NULL;
	OPENSSL_cleanse(plain, sizeof plain);
	OPENSSL_cleanse(secret64, sizeof secret64);
	OPENSSL_cleanse(line, sizeof line);
	return rc;
}

static void quit(struct check *c)
{
	static const char line[] = "QUIT\r\n";
	int64_t deadline = mb_clock_monotonic_ms() + CHECK_QUIT_TIMEOUT_MS;

	if (c->broken || c->fd < 0)
		return;
	if (write_all(c, line, sizeof line - 1, deadline) == IO_OK)
		read_reply(c, deadline);
	if (c->ssl) {
		ERR_clear_error();
		SSL_shutdown(c->ssl);
	}
}

static int dialogue(struct check *c, const char *password, struct mb_err *err)
{
	int rc;

	if ((rc = greeting(c, err)) || (rc = hello(c, err)))
		return rc;
	if (c->pool->tls == MB_TLS_STARTTLS && ((rc = starttls(c, err)) || (rc = hello(c, err))))
		return rc;
	if (c->pool->auth_user && (rc = authenticate(c, password, err)))
		return rc;
	return 0;
}

/* The EHLO name: the pool's, or the node name libesmtp itself uses when none is set. */
static void helo_name(const struct mb_pool_spec *pool, char *out, size_t size)
{
	struct utsname u;

	if (pool->helo)
		snprintf(out, size, "%s", pool->helo);
	else if (uname(&u) == 0 && u.nodename[0])
		snprintf(out, size, "%s", u.nodename);
	else
		snprintf(out, size, "localhost");
}

int smtp_check_relay(const struct mb_pool_spec *pool, const char *password, struct mb_err *err)
{
	struct smtp_sigpipe_guard guard;
	struct check c;
	int rc;

	if (!pool)
		return mb_err_set(err, MB_ESOFTWARE, "smtp check: missing pool");
	if ((rc = smtp_pool_validate(pool, password, err)))
		return rc;
	memset(&c, 0, sizeof c);
	c.pool = pool;
	c.fd = -1;
	c.timeout_seconds = smtp_pool_timeout_seconds(pool);
	c.line.cap = SMTP_MAX_REPLY_LINE + 1;
	c.reply.text.cap = CHECK_MAX_REPLY_BYTES + 1;
	c.secrets[0] = pool->auth_user ? password : NULL;
	snprintf(c.relay, sizeof c.relay, "%s:%ld", pool->host, pool->port);
	helo_name(pool, c.helo, sizeof c.helo);
	/* Local problems (an unreadable ca_file) before any connection. */
	if (pool->tls == MB_TLS_STARTTLS && (rc = smtp_tls_context_new(pool, &c.ctx, err)))
		goto out;
	if ((rc = mb_net_connect(pool->host, pool->port, c.timeout_seconds * 1000, &c.fd, err)))
		goto out;
	smtp_sigpipe_block(&guard);
	rc = dialogue(&c, password, err);
	quit(&c);
	smtp_sigpipe_restore(&guard);
out:
	SSL_free(c.ssl);
	SSL_CTX_free(c.ctx);
	if (c.fd >= 0)
		close(c.fd);
	mb_buf_free(&c.line);
	mb_buf_free(&c.reply.text);
	ERR_clear_error();
	return rc;
}
