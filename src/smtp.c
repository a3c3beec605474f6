/* SMTP transport on libesmtp 1.1.0: one session per send to the pool's relay, and what the relay
 * said at the step that decided it (connect, EHLO/STARTTLS, AUTH, MAIL, RCPT, DATA). */
#include "mailbisect/transport.h"
#include "smtp_internal.h"
#include "mailbisect/buf.h"
#include "mailbisect/clock.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* libesmtp.h needs size_t and declares smtp_starttls_set_ctx only after <openssl/ssl.h>;
 * smtp_auth_set_context only after auth-client.h. No other file includes libesmtp. */
#include <stddef.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <auth-client.h>
#include <libesmtp.h>

#define SMTP_MAX_ENVID       100           /* RFC 3461 */
#define SMTP_MAX_HEADER_LINE 998           /* RFC 5322 */
#define SMTP_MESSAGE_CHUNK   (64u * 1024u) /* bytes per message callback (and BDAT chunk) */
#define SMTP_MAX_PENDING     16            /* commands written and not yet answered */

/* SMTP commands as seen by the protocol monitor: which stage a reply belongs to. */
enum smtp_command {
	CMD_NONE = 0,
	CMD_GREETING,
	CMD_EHLO,
	CMD_HELO,
	CMD_STARTTLS,
	CMD_AUTH,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_BDAT,
	CMD_RSET,
	CMD_QUIT,
	CMD_OTHER,
	CMD_COUNT
};

static const struct {
	const char *verb;  /* as libesmtp writes it, followed by a space or the line end */
	const char *label; /* for "no reply to %s" */
	enum mb_stage stage;
} commands[CMD_COUNT] = {
    [CMD_NONE] = {NULL, "nothing", MB_STAGE_UNKNOWN},
    [CMD_GREETING] = {NULL, "the connection", MB_STAGE_CONNECT},
    [CMD_EHLO] = {"EHLO", "EHLO", MB_STAGE_HELO},
    [CMD_HELO] = {"HELO", "HELO", MB_STAGE_HELO},
    [CMD_STARTTLS] = {"STARTTLS", "STARTTLS", MB_STAGE_HELO},
    [CMD_AUTH] = {"AUTH", "AUTH", MB_STAGE_AUTH},
    [CMD_MAIL] = {"MAIL", "MAIL FROM", MB_STAGE_MAIL},
    [CMD_RCPT] = {"RCPT", "RCPT TO", MB_STAGE_RCPT},
    [CMD_DATA] = {"DATA", "DATA", MB_STAGE_DATA},
    [CMD_BDAT] = {"BDAT", "BDAT", MB_STAGE_DATA},
    [CMD_RSET] = {"RSET", "RSET", MB_STAGE_UNKNOWN},
    [CMD_QUIT] = {"QUIT", "QUIT", MB_STAGE_UNKNOWN},
    [CMD_OTHER] = {NULL, "a command", MB_STAGE_UNKNOWN},
};

/* One server reply, normalised the way libesmtp hands them over: status codes removed from
 * every line, lines joined with CRLF, no trailing line end. */
struct smtp_reply {
	int code; /* 0: no (valid) reply */
	char enhanced[16];
	struct mb_buf text;
};

/* What the protocol monitor saw. libesmtp keeps the replies to the greeting, EHLO, STARTTLS
 * and AUTH to itself; the monitor is the only way to learn why a session ended before MAIL.
 * Written lines are looked at only for their command verb: AUTH lines and SASL responses carry
 * credentials and are never copied. */
struct dialogue {
	enum smtp_command pending[SMTP_MAX_PENDING];
	size_t n_pending;
	bool written[CMD_COUNT];
	bool sasl_exchange; /* AUTH written, final reply not read: written lines are credentials */
	bool write_midline; /* the last written chunk ended inside a line */
	bool greeted;
	bool garbage;                         /* a reply line without a status code */
	struct mb_buf line;                   /* reply line being read */
	struct mb_buf lines;                  /* reply being read: its lines' texts, CRLF-joined */
	int reply_code;                       /* code of the first line of the reply being read */
	struct smtp_reply replies[CMD_COUNT]; /* the last complete reply to each command */
};

/* One send: what goes out, and everything libesmtp reported while it went. */
struct smtp_send {
	const struct mb_pool_spec *pool;
	const char *password;
	char *relay; /* "host:port" */
	long timeout_seconds;
	/* message source: the pool's extra headers, then the message */
	const char *head;
	size_t head_len;
	const char *msg;
	size_t msg_len;
	size_t pos;
	bool transfer_started;
	/* events */
	bool connected;
	bool tls_up;
	bool no_starttls;
	bool no_8bitmime;
	char tls_problem[512]; /* our description of a certificate we refused */
	int esmtp_error;       /* smtp_errno() after the session */
	unsigned long ssl_error;
	int64_t last_io_ms;
	int64_t end_ms;
	struct dialogue d;
	/* libesmtp's statuses, copied before the session is destroyed */
	struct smtp_reply mail, rcpt, data;
	bool rcpt_complete;
};

static bool refused(int code)
{
	return code / 100 == 4 || code / 100 == 5;
}

/* ---- replies ---- */

/* Length of an enhanced status code "C.SSS.DDD" at s whose class matches code, or 0. */
static size_t enhanced_code_len(const char *s, size_t len, int code)
{
	size_t i = 2;

	if (len < 5 || s[1] != '.' || s[0] != '0' + code / 100 ||
	    (s[0] != '2' && s[0] != '4' && s[0] != '5'))
		return 0;
	for (int part = 0; part < 2; part++) {
		size_t digits = 0;
		while (i < len && digits < 3 && isdigit((unsigned char)s[i]))
			i++, digits++;
		if (digits == 0)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
		return 0;
	return i;
}

/* Sets r from a reply text (lines separated by CRLF or LF, codes already removed). When the
 * enhanced code is not given (the relay did not announce ENHANCEDSTATUSCODES, or the reply was
 * read by the monitor), a leading one is taken from the text and removed from every line, so
 * that texts look the same whichever way they arrived. */
static void reply_set(struct smtp_reply *r, int code, int enh_class, int enh_subject,
                      int enh_detail, const char *text, size_t len)
{
	size_t elen = 0, i = 0;

	r->code = code;
	r->enhanced[0] = '\0';
	mb_buf_reset(&r->text);
	r->text.cap = MB_MAX_DIAGNOSTIC_BYTES;
	if ((enh_class == 2 || enh_class == 4 || enh_class == 5) && enh_subject >= 0 &&
	    enh_subject <= 999 && enh_detail >= 0 && enh_detail <= 999) {
		snprintf(r->enhanced, sizeof r->enhanced, "%d.%d.%d", enh_class, enh_subject,
		         enh_detail);
	} else if ((elen = enhanced_code_len(text, len, code)) != 0) {
		memcpy(r->enhanced, text, elen);
		r->enhanced[elen] = '\0';
	}
	while (len && (text[len - 1] == '\r' || text[len - 1] == '\n'))
		len--;
	while (i < len) {
		const char *line = text + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t n = nl ? (size_t)(nl - line) : len - i;

		i += n + (nl ? 1 : 0);
		if (n && line[n - 1] == '\r')
			n--;
		if (elen && n >= elen && memcmp(line, r->enhanced, elen) == 0 &&
		    (n == elen || line[elen] == ' ' || line[elen] == '\t')) {
			line += elen, n -= elen;
			while (n && (*line == ' ' || *line == '\t'))
				line++, n--;
		}
		/* Past the cap the text is cut (libesmtp itself refuses replies over 4 KiB). */
		if (mb_buf_append(&r->text, line, n) || (i < len && mb_buf_puts(&r->text, "\r\n")))
			break;
	}
	mb_buf_terminate(&r->text);
}

static void reply_free(struct smtp_reply *r)
{
	mb_buf_free(&r->text);
}

/* Copies a libesmtp status. A code without text is what libesmtp leaves after a reply it
 * could not parse: no valid reply. */
static void reply_copy_status(struct smtp_reply *r, const smtp_status_t *st)
{
	if (!st || !st->text) {
		reply_set(r, 0, 0, 0, 0, "", 0);
		return;
	}
	reply_set(r, st->code, st->enh_class, st->enh_subject, st->enh_detail, st->text,
	          strlen(st->text));
}

/* ---- protocol monitor ---- */

static enum smtp_command command_of(const char *line, size_t n)
{
	for (int c = 0; c < CMD_COUNT; c++) {
		const char *verb = commands[c].verb;
		size_t vlen = verb ? strlen(verb) : 0;
		if (verb && n >= vlen && strncasecmp(line, verb, vlen) == 0 &&
		    (n == vlen || line[vlen] == ' ' || line[vlen] == '\r' || line[vlen] == '\n'))
			return (enum smtp_command)c;
	}
	return CMD_OTHER;
}

static void dialogue_wrote(struct dialogue *d, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *line = buf + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t n = nl ? (size_t)(nl - line) + 1 : len - i;
		bool continued = d->write_midline;
		enum smtp_command cmd;

		d->write_midline = nl == NULL;
		i += n;
		if (continued || d->sasl_exchange)
			continue; /* rest of a line, or a SASL response: never looked at */
		cmd = command_of(line, n);
		d->written[cmd] = true;
		if (d->n_pending < SMTP_MAX_PENDING)
			d->pending[d->n_pending++] = cmd;
		if (cmd == CMD_AUTH)
			d->sasl_exchange = true;
	}
}

/* A complete reply: it answers the greeting, or the oldest command still waiting. */
static void dialogue_reply(struct dialogue *d, int code)
{
	enum smtp_command cmd = CMD_OTHER;

	if (!d->greeted) {
		cmd = CMD_GREETING;
		d->greeted = true;
	} else if (d->n_pending) {
		cmd = d->pending[0];
		if (cmd == CMD_AUTH && code / 100 == 3)
			return; /* a SASL challenge: AUTH is still waiting for its answer */
		memmove(d->pending, d->pending + 1, --d->n_pending * sizeof d->pending[0]);
		if (cmd == CMD_AUTH)
			d->sasl_exchange = false;
		/* After credentials were refused, the next mechanism's aborted exchange must not
		 * hide the refusal. */
		if (cmd == CMD_AUTH && d->replies[CMD_AUTH].code == 535 && refused(code))
			return;
	}
	reply_set(&d->replies[cmd], code, 0, 0, 0, d->lines.data ? d->lines.data : "",
	          d->lines.len);
}

static void dialogue_line(struct dialogue *d, const char *line, size_t n)
{
	const char *text;
	size_t tlen;
	int code;

	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		n--;
	if (n < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) || (n > 3 && line[3] != ' ' && line[3] != '-')) {
		d->garbage = true; /* libesmtp gives up on such a reply too */
		return;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (d->lines.len == 0 && d->reply_code == 0)
		d->reply_code = code;
	else
		mb_buf_puts(&d->lines, "\r\n");
	text = line + (n > 3 ? 4 : 3);
	tlen = n - (size_t)(text - line);
	while (tlen && (*text == ' ' || *text == '\t'))
		text++, tlen--;
	mb_buf_append(&d->lines, text, tlen);
	if (n > 3 && line[3] == '-')
		return;
	dialogue_reply(d, d->reply_code);
	mb_buf_reset(&d->lines);
	d->reply_code = 0;
}

static void dialogue_read(struct dialogue *d, const char *buf, size_t len)
{
	while (len) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl ? (size_t)(nl - buf) + 1 : len;

		/* An overlong line is cut; the part past the cap is dropped. */
		mb_buf_append(&d->line, buf, n);
		buf += n, len -= n;
		if (nl) {
			dialogue_line(d, d->line.data, d->line.len);
			mb_buf_reset(&d->line);
		}
	}
}

static void dialogue_init(struct dialogue *d)
{
	memset(d, 0, sizeof *d);
	d->line.cap = SMTP_MAX_REPLY_LINE;
	d->lines.cap = MB_MAX_DIAGNOSTIC_BYTES;
}

static void dialogue_free(struct dialogue *d)
{
	mb_buf_free(&d->line);
	mb_buf_free(&d->lines);
	for (int c = 0; c < CMD_COUNT; c++)
		reply_free(&d->replies[c]);
}

static void on_monitor(const char *buf, int len, int writing, void *arg)
{
	struct smtp_send *s = arg;

	if (len <= 0)
		return;
	s->last_io_ms = mb_clock_monotonic_ms();
	if (writing == SMTP_CB_WRITING)
		dialogue_wrote(&s->d, buf, (size_t)len);
	else if (writing == SMTP_CB_READING)
		dialogue_read(&s->d, buf, (size_t)len);
}

/* ---- libesmtp callbacks ---- */

static bool authenticated(const struct smtp_send *s)
{
	return s->d.replies[CMD_AUTH].code / 100 == 2;
}

/* Streams the pool headers, then the message. The position lives in s: libesmtp frees *ctx,
 * which therefore stays NULL. */
static const char *on_message(void **ctx, int *len, void *arg)
{
	struct smtp_send *s = arg;
	const char *p;
	size_t n;

	(void)ctx;
	if (!len) {
		s->pos = 0; /* rewind */
		return NULL;
	}
	/* libesmtp carries on without AUTH when AUTH fails or is not offered ("the MTA must
	 * accept mail for its own domain"). The message must not go out then: failing the
	 * callback with errno set makes libesmtp drop the connection before the end of data. */
	if (s->pool->auth_user && !authenticated(s)) {
		*len = 0;
		errno = ECANCELED;
		return NULL;
	}
	s->transfer_started = true;
	s->last_io_ms = mb_clock_monotonic_ms();
	if (s->pos < s->head_len) {
		p = s->head + s->pos;
		n = s->head_len - s->pos;
	} else if (s->pos - s->head_len < s->msg_len) {
		p = s->msg + (s->pos - s->head_len);
		n = s->msg_len - (s->pos - s->head_len);
	} else {
		*len = 0;
		return NULL;
	}
	if (n > SMTP_MESSAGE_CHUNK)
		n = SMTP_MESSAGE_CHUNK;
	s->pos += n;
	*len = (int)n;
	return p;
}

static void tls_refuse(struct smtp_send *s, const char *why, long verify_error)
{
	if (s->tls_problem[0])
		return;
	smtp_tls_describe(s->tls_problem, sizeof s->tls_problem, s->relay, why, verify_error);
}

static void on_event(smtp_session_t session, int event, void *arg, ...)
{
	struct smtp_send *s = arg;
	bool verify = s->pool->tls_verify;
	va_list ap;
	int *ok;

	(void)session;
	va_start(ap, arg);
	switch (event) {
	case SMTP_EV_CONNECT:
		s->connected = true;
		s->last_io_ms = mb_clock_monotonic_ms();
		break;
	case SMTP_EV_MESSAGEDATA:
		s->last_io_ms = mb_clock_monotonic_ms();
		break;
	case SMTP_EV_STARTTLS_OK:
		s->tls_up = true;
		break;
	case SMTP_EV_INVALID_PEER_CERTIFICATE: {
		long result = va_arg(ap, long);
		ok = va_arg(ap, int *);
		*ok = !verify;
		if (verify)
			tls_refuse(s, X509_verify_cert_error_string(result), result);
		break;
	}
	case SMTP_EV_WRONG_PEER_CERTIFICATE: {
		/* libesmtp's own name check knows no IP addresses; OpenSSL has already checked
		 * the name or address set on our context, and only a clean result gets here. */
		SSL *ssl;
		ok = va_arg(ap, int *);
		(void)va_arg(ap, const char *);
		ssl = va_arg(ap, SSL *);
		*ok = !verify || (ssl && SSL_get_verify_result(ssl) == X509_V_OK);
		if (!*ok)
			tls_refuse(s, "name does not match", X509_V_ERR_HOSTNAME_MISMATCH);
		break;
	}
	case SMTP_EV_NO_PEER_CERTIFICATE:
		ok = va_arg(ap, int *);
		*ok = !verify;
		if (verify)
			tls_refuse(s, "the relay sent no certificate", X509_V_ERR_UNSPECIFIED);
		break;
	case SMTP_EV_WEAK_CIPHER:
		(void)va_arg(ap, int);
		ok = va_arg(ap, int *);
		*ok = !verify;
		if (verify)
			tls_refuse(s, "weak cipher", X509_V_ERR_UNSPECIFIED);
		break;
	case SMTP_EV_NO_CLIENT_CERTIFICATE:
		ok = va_arg(ap, int *);
		*ok = 0;
		snprintf(s->tls_problem, sizeof s->tls_problem,
		         "libesmtp could not load the client key under $HOME/.authenticate");
		break;
	case SMTP_EV_UNUSABLE_CLIENT_CERTIFICATE:
	case SMTP_EV_UNUSABLE_CA_LIST:
		snprintf(s->tls_problem, sizeof s->tls_problem,
		         "libesmtp found an unusable file under $HOME/.authenticate (it must be "
		         "owned by this user and not accessible by others)");
		break;
	case SMTP_EV_EXTNA_STARTTLS:
		s->no_starttls = true;
		break;
	case SMTP_EV_EXTNA_8BITMIME:
		s->no_8bitmime = true;
		break;
	case SMTP_EV_EXTNA_DSN: {
		/* Relays that ignore DSN requests still get the message (failure DSNs, events and
		 * the window remain); libesmtp then leaves RET/ENVID/NOTIFY out. */
		int *quit = va_arg(ap, int *);
		if (quit)
			*quit = 0;
		break;
	}
	default:
		break;
	}
	va_end(ap);
}

static int on_auth_interact(auth_client_request_t request, char **result, int fields, void *arg)
{
	struct smtp_send *s = arg;

	/* After a 535 libesmtp tries the relay's next mechanism with the same credentials: a
	 * second failed login (and another failure delay, or a lockout at an ESP). Declining
	 * makes libesmtp abort that exchange without sending them. */
	if (s->d.replies[CMD_AUTH].code == 535)
		return 0;
	for (int i = 0; i < fields; i++) {
		const char *value = "";
		if (request[i].flags & AUTH_USER)
			value = s->pool->auth_user;
		else if (request[i].flags & AUTH_PASS)
			value = s->password;
		if (request[i].size && strlen(value) > request[i].size)
			return 0;
		/* libesmtp's interface is not const-correct; the plugins only copy from it. */
		result[i] = (char *)value;
	}
	return 1;
}

/* ---- TLS ---- */

static bool host_is_address(const char *host)
{
	unsigned char addr[16];
	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

static bool host_is_loopback(const char *host)
{
	struct in_addr a;
	if (mb_str_ieq(host, "localhost"))
		return true;
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* libesmtp makes the SSL object itself, so the server name (SNI) is set when its handshake
 * starts (for libesmtp's sessions and the check's alike); the context carries the host name. */
static void on_tls_info(const SSL *ssl, int where, int ret)
{
	const char *host;

	(void)ret;
	if (!(where & SSL_CB_HANDSHAKE_START))
		return;
	host = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	if (host && !SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))
		SSL_set_tlsext_host_name((SSL *)ssl, host);
}

const char *smtp_ssl_reason(unsigned long e)
{
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : "no details from OpenSSL";
}

/* Our own context for each session: libesmtp's default one is a global it frees with the
 * first session (a second TLS session then crashes), and under TLS 1.3 some sessions stalled
 * after STARTTLS; capped at TLS 1.2 they did not (LIBRARY-FACTS.md). Certificates are not
 * checked during the handshake: libesmtp reports problems as events, decided per tls_verify,
 * and the relay check looks at the same verify result. */
int smtp_tls_context_new(const struct mb_pool_spec *pool, SSL_CTX **out, struct mb_err *err)
{
	SSL_CTX *ctx;
	X509_VERIFY_PARAM *param;
	int ok;

	*out = NULL;
	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return mb_err_set(err, MB_ENOMEM, "cannot create a TLS context: %s",
		                  smtp_ssl_reason(ERR_get_error()));
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (!host_is_address(pool->host)) {
		SSL_CTX_set_app_data(ctx, pool->host);
		SSL_CTX_set_info_callback(ctx, on_tls_info);
	}
	if (pool->tls_verify) {
		FILE *f = pool->ca_file ? fopen(pool->ca_file, "r") : NULL;
		if (pool->ca_file && !f) {
			mb_err_set(err, MB_ECONFIG,
			           "cannot read ca_file %s: %s; set ca_file to the CA bundle that "
			           "signed the relay's certificate",
			           pool->ca_file, strerror(errno));
			SSL_CTX_free(ctx);
			return MB_ECONFIG;
		}
		if (f)
			fclose(f);
		if (pool->ca_file)
			ok = SSL_CTX_load_verify_locations(ctx, pool->ca_file, NULL);
		else
			ok = SSL_CTX_set_default_verify_paths(ctx);
		if (!ok) {
			mb_err_set(err, MB_ECONFIG, "cannot load %s: %s",
			           pool->ca_file ? pool->ca_file : "the system CA store",
			           smtp_ssl_reason(ERR_peek_last_error()));
			SSL_CTX_free(ctx);
			return MB_ECONFIG;
		}
		param = SSL_CTX_get0_param(ctx);
		if (host_is_address(pool->host))
			ok = X509_VERIFY_PARAM_set1_ip_asc(param, pool->host);
		else
			ok = X509_VERIFY_PARAM_set1_host(param, pool->host, 0);
		if (!ok) {
			SSL_CTX_free(ctx);
			return mb_err_set(err, MB_ENOMEM, "cannot set the TLS peer name");
		}
	}
	*out = ctx;
	return 0;
}

void smtp_tls_describe(char *buf, size_t size, const char *relay, const char *why,
                       long verify_error)
{
	const char *hint;

	switch (verify_error) {
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
		hint = "set ca_file to the CA that signed it, or tls_verify to false for a test "
		       "relay";
		break;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		hint = "use a host name the certificate lists, or set tls_verify to false for a "
		       "test relay";
		break;
	default:
		hint = "set tls_verify to false only for a test relay";
		break;
	}
	snprintf(buf, size, "certificate of %s not accepted: %s (verify error %ld); %s", relay, why,
	         verify_error, hint);
}

/* ---- SIGPIPE ---- */

/* libesmtp (and OpenSSL in the relay check) write to sockets the relay may have closed. Instead
 * of changing the process's disposition, SIGPIPE is blocked in this thread during the session and
 * one it raised is discarded before the old mask comes back. */
void smtp_sigpipe_block(struct smtp_sigpipe_guard *g)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	g->blocked =
	    pthread_sigmask(SIG_BLOCK, &set, &g->old) == 0 && !sigismember(&g->old, SIGPIPE);
}

void smtp_sigpipe_restore(struct smtp_sigpipe_guard *g)
{
	sigset_t set, pending;
	struct timespec zero = {0, 0};

	if (!g->blocked)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE))
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- checks before anything is sent ---- */

static const char *pool_label(const struct mb_pool_spec *pool)
{
	return pool->name ? pool->name : "";
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7F)
			return true;
	return false;
}

long smtp_pool_timeout_seconds(const struct mb_pool_spec *pool)
{
	if (pool->timeout_seconds <= 0)
		return SMTP_DEFAULT_TIMEOUT_SECONDS;
	return pool->timeout_seconds < SMTP_MAX_TIMEOUT_SECONDS ? pool->timeout_seconds
	                                                        : SMTP_MAX_TIMEOUT_SECONDS;
}

int smtp_pool_validate(const struct mb_pool_spec *pool, const char *password, struct mb_err *err)
{
	if (!pool->host || !*pool->host || strchr(pool->host, ':') || strpbrk(pool->host, " \t") ||
	    has_control(pool->host))
		return mb_err_set(err, MB_ECONFIG,
		                  "relay host must be a host name or IPv4 address "
		                  "(libesmtp 1.1.0 splits host:port at the first colon, so IPv6 "
		                  "literals cannot be used)");
	if (pool->port < 1 || pool->port > 65535)
		return mb_err_set(err, MB_ECONFIG, "port %ld out of range 1-65535", pool->port);
	if (pool->tls == MB_TLS_IMPLICIT)
		return mb_err_set(
		    err, MB_ECONFIG,
		    "tls \"implicit\" (TLS from the first byte, usually port 465) cannot be used: "
		    "libesmtp 1.1, which sends the messages, speaks TLS only through STARTTLS; set "
		    "tls to starttls and use the relay's submission port (usually 587)");
	if (pool->tls != MB_TLS_NONE && pool->tls != MB_TLS_STARTTLS)
		return mb_err_set(err, MB_ECONFIG, "unknown TLS mode");
	if (pool->helo && (!*pool->helo || strpbrk(pool->helo, " \t") || has_control(pool->helo) ||
	                   strlen(pool->helo) > 255))
		return mb_err_set(err, MB_ECONFIG, "invalid EHLO name");
	if (!pool->auth_user)
		return 0;
	if (!password)
		return mb_err_set(err, MB_ECONFIG, "AUTH user set but no password given");
	if (!*pool->auth_user || strlen(pool->auth_user) > SMTP_MAX_SASL_FIELD ||
	    has_control(pool->auth_user))
		return mb_err_set(err, MB_ECONFIG,
		                  "AUTH user must be 1-%d bytes without control "
		                  "characters",
		                  SMTP_MAX_SASL_FIELD);
	if (strlen(password) > SMTP_MAX_SASL_FIELD)
		return mb_err_set(err, MB_ECONFIG,
		                  "AUTH password longer than %d bytes (libesmtp's limit)",
		                  SMTP_MAX_SASL_FIELD);
	if (pool->tls == MB_TLS_NONE && !host_is_loopback(pool->host))
		return mb_err_set(err, MB_ECONFIG,
		                  "AUTH without TLS would send the password in clear "
		                  "text to %s; set tls to starttls",
		                  pool->host);
	return 0;
}

static bool envelope_address_ok(const char *a)
{
	return a && !has_control(a) && !strpbrk(a, " <>");
}

static int check_envelope(const struct mb_envelope *env, struct mb_err *err)
{
	if (!envelope_address_ok(env->mail_from))
		return mb_err_set(err, MB_EDATA, "envelope sender is missing or not an address");
	if (!envelope_address_ok(env->rcpt) || !*env->rcpt)
		return mb_err_set(err, MB_EDATA, "recipient is missing or not an address");
	if (env->envid) {
		size_t n = strlen(env->envid);
		if (n == 0 || n > SMTP_MAX_ENVID)
			return mb_err_set(err, MB_EDATA, "DSN envelope id must be 1-%d characters",
			                  SMTP_MAX_ENVID);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)env->envid[i] <= 0x20 ||
			    (unsigned char)env->envid[i] >= 0x7F)
				return mb_err_set(err, MB_EDATA,
				                  "DSN envelope id must be printable ASCII");
	}
	return 0;
}

/* The message must be CRLF (with bare LF libesmtp puts its headers after the body). Sets
 * *eight_bit when any byte is over 127. */
static int check_message(const char *msg, size_t len, bool *eight_bit, struct mb_err *err)
{
	*eight_bit = false;
	if (len == 0)
		return mb_err_set(err, MB_EDATA, "message is empty");
	if (len > MB_MAX_MESSAGE_BYTES)
		return mb_err_set(err, MB_EDATA, "message larger than the limit of %u bytes",
		                  (unsigned)MB_MAX_MESSAGE_BYTES);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c == '\n' && (i == 0 || msg[i - 1] != '\r'))
			return mb_err_set(err, MB_EDATA,
			                  "message has a bare LF at byte %zu; the SMTP transport "
			                  "needs CRLF line ends",
			                  i);
		if (c > 127)
			*eight_bit = true;
	}
	return 0;
}

/* The pool's extra headers as lines to prepend to the message. */
static int build_pool_headers(const struct mb_pool_spec *pool, struct mb_buf *out, bool *eight_bit,
                              struct mb_err *err)
{
	for (size_t i = 0; i < pool->n_headers; i++) {
		const struct mb_header_field *h = &pool->headers[i];
		size_t n = h->name ? strlen(h->name) : 0;

		if (n == 0 || !h->value)
			return mb_err_set(err, MB_ECONFIG,
			                  "pool \"%s\": header %zu has no name or value",
			                  pool_label(pool), i + 1);
		for (size_t j = 0; j < n; j++)
			if ((unsigned char)h->name[j] <= 0x20 ||
			    (unsigned char)h->name[j] >= 0x7F || h->name[j] == ':')
				return mb_err_set(err, MB_ECONFIG,
				                  "pool \"%s\": invalid header name \"%s\"",
				                  pool_label(pool), h->name);
		if (strpbrk(h->value, "\r\n"))
			return mb_err_set(err, MB_ECONFIG,
			                  "pool \"%s\": header %s: value has a line break",
			                  pool_label(pool), h->name);
		if (n + 2 + strlen(h->value) > SMTP_MAX_HEADER_LINE)
			return mb_err_set(err, MB_ECONFIG,
			                  "pool \"%s\": header %s: longer than %d characters",
			                  pool_label(pool), h->name, SMTP_MAX_HEADER_LINE);
		for (const char *v = h->value; *v; v++)
			if ((unsigned char)*v > 127)
				*eight_bit = true;
		if (mb_buf_printf(out, "%s: %s\r\n", h->name, h->value))
			return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- the session ---- */

static int session_setup(struct smtp_send *s, smtp_session_t session, smtp_message_t message,
                         const struct mb_envelope *env, bool eight_bit, SSL_CTX *ctx,
                         auth_context_t auth, smtp_recipient_t *rcpt)
{
	static const int timeouts[] = {Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
	                               Timeout_TRANSFER, Timeout_DATA2};
	const struct mb_pool_spec *pool = s->pool;
	int ok = 1;

	ok &= smtp_set_server(session, s->relay);
	if (pool->helo)
		ok &= smtp_set_hostname(session, pool->helo);
	/* The same limit for every reply; libesmtp has none for connect() itself. */
	for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++)
		ok &= smtp_set_timeout(session, timeouts[i] | Timeout_OVERRIDE_RFC2822_MINIMUM,
		                       s->timeout_seconds * 1000L) > 0;
	ok &= smtp_set_eventcb(session, on_event, s);
	ok &= smtp_set_monitorcb(session, on_monitor, s, 0);
	/* A refused RCPT ends the transaction instead of going on to DATA. */
	ok &= smtp_option_require_all_recipients(session, 1);
	if (ctx) {
		ok &= smtp_starttls_enable(session, Starttls_REQUIRED);
		ok &= smtp_starttls_set_ctx(session, ctx); /* takes a reference of its own */
	}
	if (auth) {
		ok &= auth_set_mechanism_flags(auth, AUTH_PLUGIN_PLAIN, 0);
		ok &= auth_set_interact_cb(auth, on_auth_interact, s);
		ok &= smtp_auth_set_context(session, auth);
	}
	ok &= smtp_set_reverse_path(message, env->mail_from);
	ok &= smtp_size_set_estimate(message, (unsigned long)(s->head_len + s->msg_len));
	if (eight_bit)
		ok &= smtp_8bitmime_set_body(message, E8bitmime_8BITMIME);
	ok &= smtp_set_messagecb(message, on_message, s);
	*rcpt = smtp_add_recipient(message, env->rcpt);
	if (!*rcpt)
		return MB_ENOMEM;
	if (env->envid)
		ok &= smtp_dsn_set_envid(message, env->envid);
	if (env->request_dsn) {
		ok &= smtp_dsn_set_ret(message, Ret_HDRS);
		ok &= smtp_dsn_set_notify(*rcpt, Notify_SUCCESS | Notify_FAILURE | Notify_DELAY);
	}
	return ok ? 0 : MB_ENOMEM;
}

/* Runs one libesmtp session and keeps what it reported in s. */
static int session_run(struct smtp_send *s, const struct mb_envelope *env, bool eight_bit,
                       struct mb_err *err)
{
	smtp_session_t session = NULL;
	smtp_message_t message = NULL;
	smtp_recipient_t rcpt = NULL;
	auth_context_t auth = NULL;
	SSL_CTX *ctx = NULL;
	struct smtp_sigpipe_guard guard;
	int rc;

	if (s->pool->tls == MB_TLS_STARTTLS && (rc = smtp_tls_context_new(s->pool, &ctx, err)))
		return mb_err_prefix(err, "pool \"%s\": ", pool_label(s->pool));
	if (!(session = smtp_create_session()) || !(message = smtp_add_message(session)) ||
	    (s->pool->auth_user && !(auth = auth_create_context())) ||
	    session_setup(s, session, message, env, eight_bit, ctx, auth, &rcpt)) {
		rc = mb_err_set(err, MB_ENOMEM, "cannot set up the SMTP session: out of memory");
		goto out;
	}
	ERR_clear_error();
	/* smtp_errno() keeps its last value across sessions; an invalid call sets it to
	 * SMTP_ERR_INVAL, so any other value afterwards comes from this session. */
	smtp_version(NULL, 0, 0);
	smtp_sigpipe_block(&guard);
	/* Its result says little (1 even after a timeout or a TLS failure): the statuses do. */
	smtp_start_session(session);
	s->esmtp_error = smtp_errno();
	s->ssl_error = ERR_peek_last_error();
	smtp_sigpipe_restore(&guard);
	s->end_ms = mb_clock_monotonic_ms();
	reply_copy_status(&s->mail, smtp_reverse_path_status(message));
	reply_copy_status(&s->rcpt, smtp_recipient_status(rcpt));
	reply_copy_status(&s->data, smtp_message_transfer_status(message));
	/* Set only when the relay took responsibility (or refused for good): a 250 to one BDAT
	 * chunk is not an acceptance of the message. */
	s->rcpt_complete = smtp_recipient_check_complete(rcpt) != 0;
	rc = 0;
out:
	if (session)
		smtp_destroy_session(session);
	if (auth)
		auth_destroy_context(auth);
	SSL_CTX_free(ctx);
	return rc;
}

/* ---- from what was seen to a result ---- */

static int result_reply(struct mb_send_result *res, enum mb_state state, enum mb_stage stage,
                        const struct smtp_reply *r)
{
	res->state = state;
	res->stage = stage;
	res->code = r->code;
	memcpy(res->enhanced, r->enhanced, sizeof res->enhanced);
	res->text = mb_strndup(r->text.data ? r->text.data : "", r->text.len);
	return res->text ? 0 : MB_ENOMEM;
}

static int result_ours(struct mb_send_result *res, enum mb_state state, enum mb_stage stage,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int result_ours(struct mb_send_result *res, enum mb_state state, enum mb_stage stage,
                       const char *fmt, ...)
{
	struct mb_buf b = MB_BUF_INIT;
	va_list ap;
	int rc;

	res->state = state;
	res->stage = stage;
	res->code = 0;
	res->enhanced[0] = '\0';
	va_start(ap, fmt);
	rc = mb_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (rc || !(res->text = mb_buf_steal(&b))) {
		mb_buf_free(&b);
		return MB_ENOMEM;
	}
	return 0;
}

static bool timed_out(const struct smtp_send *s)
{
	return s->end_ms - s->last_io_ms >= s->timeout_seconds * 1000L - 200;
}

static bool protocol_error(int e)
{
	return e == SMTP_ERR_INVALID_RESPONSE_SYNTAX || e == SMTP_ERR_STATUS_MISMATCH ||
	       e == SMTP_ERR_INVALID_RESPONSE_STATUS || e == SMTP_ERR_UNTERMINATED_RESPONSE;
}

static const char *esmtp_error_text(const struct smtp_send *s, char *buf, size_t size)
{
	const char *t;

	if (s->esmtp_error == SMTP_ERR_INVAL)
		return "no error reported";
	t = smtp_strerror(s->esmtp_error, buf, size);
	return t ? t : "unknown error";
}

/* The relay did not answer `what` (a command label) at stage: silence, a closed connection,
 * or a reply libesmtp could not parse. */
static int result_no_reply(const struct smtp_send *s, struct mb_send_result *res,
                           enum mb_stage stage, const char *what)
{
	char buf[256];

	if (s->d.garbage || protocol_error(s->esmtp_error))
		return result_ours(res, MB_STATE_ERROR, stage,
		                   "%s sent an invalid reply to %s (%s)", s->relay, what,
		                   esmtp_error_text(s, buf, sizeof buf));
	if (timed_out(s))
		return result_ours(res, MB_STATE_ERROR, stage,
		                   "no reply from %s to %s within %ld s", s->relay, what,
		                   s->timeout_seconds);
	return result_ours(res, MB_STATE_ERROR, stage,
	                   "%s closed the connection without replying to %s", s->relay, what);
}

static int result_connect_failed(const struct smtp_send *s, struct mb_send_result *res)
{
	char buf[256];
	int e = s->esmtp_error;

	if (e >= SMTP_ERR_EAI_ADDRFAMILY && e <= SMTP_ERR_EAI_SOCKTYPE)
		return result_ours(res, MB_STATE_ERROR, MB_STAGE_CONNECT, "cannot resolve %s: %s",
		                   s->pool->host, esmtp_error_text(s, buf, sizeof buf));
	return result_ours(res, MB_STATE_ERROR, MB_STAGE_CONNECT, "cannot connect to %s: %s",
	                   s->relay, esmtp_error_text(s, buf, sizeof buf));
}

static int result_greeting(const struct smtp_send *s, struct mb_send_result *res)
{
	const struct smtp_reply *r = &s->d.replies[CMD_GREETING];
	char buf[256];

	if (r->code == 220)
		return 1;
	if (refused(r->code))
		return result_reply(res, MB_STATE_SUBMIT_REFUSED, MB_STAGE_CONNECT, r);
	if (r->code)
		return result_reply(res, MB_STATE_ERROR, MB_STAGE_CONNECT, r);
	if (s->d.garbage || protocol_error(s->esmtp_error))
		return result_ours(res, MB_STATE_ERROR, MB_STAGE_CONNECT,
		                   "%s sent an invalid greeting (%s)", s->relay,
		                   esmtp_error_text(s, buf, sizeof buf));
	if (timed_out(s))
		return result_ours(res, MB_STATE_ERROR, MB_STAGE_CONNECT,
		                   "no greeting from %s within %ld s", s->relay,
		                   s->timeout_seconds);
	return result_ours(res, MB_STATE_ERROR, MB_STAGE_CONNECT,
	                   "%s closed the connection before its greeting", s->relay);
}

/* EHLO (or the HELO libesmtp falls back to after 500-504) and STARTTLS. */
static int result_hello(const struct smtp_send *s, struct mb_send_result *res)
{
	const struct smtp_reply *ehlo = &s->d.replies[CMD_EHLO];
	const struct smtp_reply *helo = &s->d.replies[CMD_HELO];
	const struct smtp_reply *tls = &s->d.replies[CMD_STARTTLS];

	if (refused(ehlo->code) && !s->d.written[CMD_HELO])
		return result_reply(res, MB_STATE_SUBMIT_REFUSED, MB_STAGE_HELO, ehlo);
	if (refused(helo->code))
		return result_reply(res, MB_STATE_SUBMIT_REFUSED, MB_STAGE_HELO, helo);
	if (s->tls_problem[0])
		return result_ours(res, MB_STATE_ERROR, MB_STAGE_HELO, "STARTTLS failed: %s",
		                   s->tls_problem);
	if (s->no_starttls)
		return result_ours(res, MB_STATE_ERROR, MB_STAGE_HELO,
		                   "STARTTLS failed: %s does not offer STARTTLS, which the pool "
		                   "requires",
		                   s->relay);
	if (tls->code && tls->code != 220)
		return result_reply(res, MB_STATE_ERROR, MB_STAGE_HELO, tls);
	if (tls->code == 220 && !s->tls_up) {
		if (timed_out(s))
			return result_ours(res, MB_STATE_ERROR, MB_STAGE_HELO,
			                   "STARTTLS failed: no TLS handshake with %s within %ld s",
			                   s->relay, s->timeout_seconds);
		return result_ours(res, MB_STATE_ERROR, MB_STAGE_HELO,
		                   "STARTTLS failed: TLS handshake with %s failed: %s", s->relay,
		                   smtp_ssl_reason(s->ssl_error));
	}
	return 1;
}

/* Whether the EHLO reply announced AUTH. */
static bool auth_offered(const struct smtp_reply *ehlo)
{
	const char *p = ehlo->text.data;

	for (size_t i = 0; p && i < ehlo->text.len; i++)
		if ((i == 0 || p[i - 1] == '\n') && mb_str_istarts(p + i, "AUTH") &&
		    (p[i + 4] == ' ' || p[i + 4] == '='))
			return true;
	return false;
}

static int result_auth(const struct smtp_send *s, struct mb_send_result *res)
{
	const struct smtp_reply *r = &s->d.replies[CMD_AUTH];

	if (!s->pool->auth_user || r->code / 100 == 2)
		return 1;
	if (refused(r->code))
		return result_reply(res, MB_STATE_SUBMIT_REFUSED, MB_STAGE_AUTH, r);
	if (s->d.written[CMD_AUTH])
		return result_no_reply(s, res, MB_STAGE_AUTH, "AUTH");
	if (!auth_offered(&s->d.replies[CMD_EHLO]))
		return result_ours(
		    res, MB_STATE_ERROR, MB_STAGE_AUTH,
		    "%s does not offer AUTH%s; nothing was sent without it", s->relay,
		    s->pool->tls == MB_TLS_NONE ? " (many relays offer it only after STARTTLS)"
		                                : "");
	return result_ours(res, MB_STATE_ERROR, MB_STAGE_AUTH,
	                   "%s offers no AUTH mechanism this transport can use (PLAIN, LOGIN, "
	                   "CRAM-MD5); nothing was sent without AUTH",
	                   s->relay);
}

/* A command before MAIL that was never answered. */
static int result_unanswered(const struct smtp_send *s, struct mb_send_result *res)
{
	enum smtp_command cmd = s->d.n_pending ? s->d.pending[0] : CMD_NONE;

	if (cmd == CMD_EHLO || cmd == CMD_HELO || cmd == CMD_STARTTLS || cmd == CMD_AUTH)
		return result_no_reply(s, res, commands[cmd].stage, commands[cmd].label);
	return 1;
}

static int result_envelope(const struct smtp_send *s, struct mb_send_result *res,
                           const struct smtp_reply *r, enum smtp_command cmd)
{
	char buf[256];

	if (r->code / 100 == 2)
		return 1;
	if (refused(r->code))
		return result_reply(res, MB_STATE_SUBMIT_REFUSED, commands[cmd].stage, r);
	if (r->code)
		return result_reply(res, MB_STATE_ERROR, commands[cmd].stage, r);
	if (s->d.written[cmd] || s->d.garbage)
		return result_no_reply(s, res, commands[cmd].stage, commands[cmd].label);
	if (s->no_8bitmime)
		return result_ours(res, MB_STATE_ERROR, MB_STAGE_HELO,
		                   "%s does not offer 8BITMIME, which this message needs (it has "
		                   "8-bit content)",
		                   s->relay);
	return result_ours(res, MB_STATE_ERROR, commands[cmd].stage,
	                   "the session with %s ended before %s (%s)", s->relay,
	                   commands[cmd].label, esmtp_error_text(s, buf, sizeof buf));
}

/* The queue id in a relay's acceptance: Postfix "queued as ABC123", Exim "id=1abc-0002-XY". */
static char *parse_queue_id(const char *text)
{
	static const char *const markers[] = {"queued as ", " id="};
	size_t len = strlen(text);

	for (size_t m = 0; m < sizeof markers / sizeof markers[0]; m++) {
		const char *p = mb_str_icontains(text, len, markers[m]);
		size_t n = 0;
		if (!p)
			continue;
		p += strlen(markers[m]);
		while (isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '.' || p[n] == '_')
			n++;
		while (n && (p[n - 1] == '.' || p[n - 1] == '-'))
			n--;
		if (n > 0 && n <= 64)
			return mb_strndup(p, n);
	}
	return NULL;
}

static int result_data(const struct smtp_send *s, struct mb_send_result *res)
{
	const struct smtp_reply *r = &s->data;
	char buf[256];
	int rc;

	if (r->code / 100 == 2 && s->rcpt_complete) {
		if ((rc = result_reply(res, MB_STATE_PENDING, MB_STAGE_DATA, r)))
			return rc;
		res->queue_id = parse_queue_id(res->text);
		return 0;
	}
	if (refused(r->code))
		return result_reply(res, MB_STATE_SUBMIT_REFUSED, MB_STAGE_DATA, r);
	if (s->transfer_started && (r->code == 0 || r->code / 100 == 3)) {
		if (s->d.garbage || protocol_error(s->esmtp_error))
			return result_ours(
			    res, MB_STATE_ERROR, MB_STAGE_DATA,
			    "%s sent an invalid reply to the end of the message (%s); "
			    "it may or may not have accepted it",
			    s->relay, esmtp_error_text(s, buf, sizeof buf));
		if (timed_out(s))
			return result_ours(
			    res, MB_STATE_ERROR, MB_STAGE_DATA,
			    "no reply from %s to the end of the message within %ld s; "
			    "it may or may not have accepted it",
			    s->relay, s->timeout_seconds);
		return result_ours(res, MB_STATE_ERROR, MB_STAGE_DATA,
		                   "%s closed the connection before replying to the end of the "
		                   "message; it may or may not have accepted it",
		                   s->relay);
	}
	if (r->code == 0 && s->d.written[CMD_DATA])
		return result_no_reply(s, res, MB_STAGE_DATA, "DATA");
	if (r->code == 0)
		return result_ours(res, MB_STATE_ERROR, MB_STAGE_DATA,
		                   "the session with %s ended before the message was sent (%s)",
		                   s->relay, esmtp_error_text(s, buf, sizeof buf));
	return result_ours(res, MB_STATE_ERROR, MB_STAGE_DATA,
	                   "%s did not take the complete message (%s)", s->relay,
	                   esmtp_error_text(s, buf, sizeof buf));
}

/* Walks the stages in order; the first that did not end well decides. Each step returns 1 to
 * go on, or 0 / MB_ENOMEM once it has filled res. */
static int judge(const struct smtp_send *s, struct mb_send_result *res)
{
	int rc;

	if (!s->connected)
		return result_connect_failed(s, res);
	if ((rc = result_greeting(s, res)) != 1 || (rc = result_hello(s, res)) != 1 ||
	    (rc = result_auth(s, res)) != 1 || (rc = result_unanswered(s, res)) != 1 ||
	    (rc = result_envelope(s, res, &s->mail, CMD_MAIL)) != 1 ||
	    (rc = result_envelope(s, res, &s->rcpt, CMD_RCPT)) != 1)
		return rc;
	return result_data(s, res);
}

/* ---- the transport ---- */

static void send_free(struct smtp_send *s)
{
	free(s->relay);
	dialogue_free(&s->d);
	reply_free(&s->mail);
	reply_free(&s->rcpt);
	reply_free(&s->data);
}

static int smtp_send_message(const struct mb_pool_spec *pool, const char *password,
                             const struct mb_envelope *env, const char *msg, size_t len,
                             struct mb_send_result *res, struct mb_err *err)
{
	struct mb_buf head = MB_BUF_INIT, relay = MB_BUF_INIT;
	struct smtp_send s;
	bool eight_bit = false, head_eight_bit = false;
	int rc;

	if (!res || !pool || !env || !msg)
		return mb_err_set(err, MB_ESOFTWARE, "smtp transport: missing argument");
	memset(res, 0, sizeof *res);
	if ((rc = smtp_pool_validate(pool, password, err))) {
		mb_err_prefix(err, "pool \"%s\": ", pool_label(pool));
		goto out;
	}
	if ((rc = check_envelope(env, err)) || (rc = check_message(msg, len, &eight_bit, err)) ||
	    (rc = build_pool_headers(pool, &head, &head_eight_bit, err)))
		goto out;
	if (mb_buf_printf(&relay, "%s:%ld", pool->host, pool->port)) {
		rc = mb_err_set(err, MB_ENOMEM, "out of memory");
		goto out;
	}
	memset(&s, 0, sizeof s);
	dialogue_init(&s.d);
	s.pool = pool;
	s.password = password;
	s.relay = mb_buf_steal(&relay);
	s.timeout_seconds = smtp_pool_timeout_seconds(pool);
	s.head = head.data ? head.data : "";
	s.head_len = head.len;
	s.msg = msg;
	s.msg_len = len;
	if (!s.relay)
		rc = mb_err_set(err, MB_ENOMEM, "out of memory");
	else if (!(rc = session_run(&s, env, eight_bit || head_eight_bit, err)) &&
	         (rc = judge(&s, res)) == 0 && !(res->relay = mb_strdup(s.relay)))
		rc = MB_ENOMEM;
	if (rc == MB_ENOMEM && err && err->code != MB_ENOMEM)
		mb_err_set(err, MB_ENOMEM, "out of memory");
	send_free(&s);
out:
	mb_buf_free(&head);
	mb_buf_free(&relay);
	if (rc)
		mb_send_result_clear(res);
	return rc;
}

const struct mb_transport_ops mb_smtp_transport = {
    .name = "smtp",
    .send = smtp_send_message,
    .check = smtp_check_relay,
};
