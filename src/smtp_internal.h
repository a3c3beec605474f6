/* Shared by the parts of the SMTP transport (smtp.c sends through libesmtp, smtp_check.c checks a
 * relay without sending): pool rules, TLS context and SIGPIPE handling. Not a public interface. */
#ifndef MAILBISECT_SMTP_INTERNAL_H
#define MAILBISECT_SMTP_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "mailbisect/err.h"
#include "mailbisect/spec.h"

#define SMTP_DEFAULT_TIMEOUT_SECONDS 30
#define SMTP_MAX_TIMEOUT_SECONDS     3600
/* libesmtp's PLAIN and LOGIN plugins strcpy user and password into buffers sized for 255 bytes
 * each: longer values must never reach them. */
#define SMTP_MAX_SASL_FIELD 255
#define SMTP_MAX_REPLY_LINE (8u * 1024u) /* one reply line from a relay */

/* The pool's per-reply timeout in seconds: its timeout_seconds, or the default, capped. */
long smtp_pool_timeout_seconds(const struct mb_pool_spec *pool);

/* Checks what can be checked without a connection: host, port, TLS mode (implicit TLS is
 * refused), EHLO name, AUTH user and password (lengths, clear text to a remote relay). err's
 * message does not name the pool (the caller prefixes it) and never contains the password.
 * MB_ECONFIG on a problem. */
int smtp_pool_validate(const struct mb_pool_spec *pool, const char *password, struct mb_err *err);

/* A new TLS context for one session with the pool's relay: TLS 1.2, server name (SNI) for a
 * host name, and with tls_verify the CA store (ca_file or the system's) and the host name or
 * address the certificate must name. Certificates are not checked during the handshake: the
 * caller looks at SSL_get_verify_result afterwards. MB_ECONFIG when ca_file cannot be read or
 * loaded (message without the pool's name), MB_ENOMEM. The caller frees *out. */
int smtp_tls_context_new(const struct mb_pool_spec *pool, SSL_CTX **out, struct mb_err *err);

/* Writes "certificate of RELAY not accepted: WHY (verify error N); HINT" into buf, the hint
 * saying what to change for that verify error. */
void smtp_tls_describe(char *buf, size_t size, const char *relay, const char *why,
                       long verify_error);

/* OpenSSL's reason for error e, or a fixed text when it gives none. */
const char *smtp_ssl_reason(unsigned long e);

/* Writes to a socket the relay may have closed raise SIGPIPE: it is blocked in this thread
 * between block and restore, and one raised meanwhile is discarded. */
struct smtp_sigpipe_guard {
	sigset_t old;
	bool blocked;
};

void smtp_sigpipe_block(struct smtp_sigpipe_guard *g);
void smtp_sigpipe_restore(struct smtp_sigpipe_guard *g);

/* The transport's check (struct mb_transport_ops.check), in smtp_check.c. */
int smtp_check_relay(const struct mb_pool_spec *pool, const char *password, struct mb_err *err);

#endif
