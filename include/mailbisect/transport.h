/* Transports: one table of function pointers per way of submitting mail (SMTP now, ESP HTTP
 * APIs later), picked by the pool's "transport" name. A transport submits one message to one
 * recipient and reports what the relay said at each stage. */
#ifndef MAILBISECT_TRANSPORT_H
#define MAILBISECT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "mailbisect/err.h"
#include "mailbisect/outcome.h"
#include "mailbisect/spec.h"

struct mb_envelope {
	const char *mail_from; /* envelope sender (VERP already expanded) */
	const char *rcpt;      /* one recipient */
	const char *envid;     /* DSN ENVID (RFC 3461), the send id; NULL = none */
	bool request_dsn;      /* NOTIFY=SUCCESS,FAILURE,DELAY and RET=HDRS */
};

/* What happened at submission. state is MB_STATE_PENDING when the relay accepted the message
 * (the receiver's decision comes later), MB_STATE_SUBMIT_REFUSED when the relay refused us
 * (AUTH, MAIL, RCPT or DATA), MB_STATE_ERROR when no SMTP dialogue completed (connect, TLS,
 * timeout, protocol). Server text is data: kept raw in text, never merged into messages. */
struct mb_send_result {
	enum mb_state state;
	enum mb_stage stage; /* the stage of the final (or failing) reply */
	int code;            /* SMTP reply code, 0 when none */
	char enhanced[16];   /* enhanced status code "5.7.1", "" when none */
	char *text;          /* owned: the relay's full reply text, or our error description */
	char *relay;         /* owned: "host:port" we talked to */
	char *queue_id;      /* owned: queue id from the relay's 250 reply when it gave one */
};

void mb_send_result_clear(struct mb_send_result *res);

struct mb_transport_ops {
	const char *name;
	/* Submits msg (complete CRLF message). password is the resolved AUTH secret or NULL.
	 * Returns 0 when res describes the attempt (even a refusal); negative only for local
	 * failures (bad arguments, memory). */
	int (*send)(const struct mb_pool_spec *pool, const char *password,
	            const struct mb_envelope *env, const char *msg, size_t len,
	            struct mb_send_result *res, struct mb_err *err);
	/* Checks, without sending anything, that the pool's relay would take a message from us:
	 * for SMTP it connects, reads the greeting, says EHLO, does STARTTLS (with the same
	 * certificate checks as a send) and AUTH when the pool asks for them, and says QUIT; it
	 * never starts a mail transaction. password is the resolved AUTH secret or NULL. Returns 0
	 * when the relay is usable, else a negative code with err's message saying why in one line
	 * (it does not name the pool: the caller prefixes that; never the password):
	 *   MB_EUNAVAIL  cannot resolve or connect, no reply in time, the connection closed, the
	 *                greeting, EHLO, STARTTLS or AUTH answered with a temporary refusal, or the
	 *                greeting or EHLO refused for good
	 *   MB_EPROTO    the peer does not speak SMTP, or broke it (a reply without a status code,
	 *                an overlong line, a TLS handshake that failed)
	 *   MB_ECONFIG   the pool's settings cannot work with this relay: STARTTLS or AUTH not
	 *                offered, no usable AUTH mechanism, certificate not accepted, ca_file
	 *                unreadable, implicit TLS, credentials refused
	 *   MB_ENOMEM    out of memory
	 * NULL for a transport that has nothing to check. */
	int (*check)(const struct mb_pool_spec *pool, const char *password, struct mb_err *err);
};

/* Transport by name, or NULL. */
const struct mb_transport_ops *mb_transport_find(const char *name);
/* NULL-terminated list of names (for --help and spec validation). */
const char *const *mb_transport_names(void);

#endif
