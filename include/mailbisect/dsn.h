/* Delivery status notifications: reading RFC 3464 / RFC 6533 reports out of a bounce message
 * and matching them to the sends they report on. All input is untrusted (anyone can write
 * into a bounce mailbox); parsing is bounded by limits.h and never fails hard on garbage:
 * a message that is not a DSN gives is_report = false and no recipients. */
#ifndef MAILBISECT_DSN_H
#define MAILBISECT_DSN_H

#include <stdbool.h>
#include <stddef.h>

#include "mailbisect/err.h"
#include "mailbisect/outcome.h"

struct mb_dsn_recipient {
	char *final_recipient;    /* address only (type prefix "rfc822;" removed) */
	char *original_recipient; /* address only, or NULL */
	char *action;             /* failed, delayed, delivered, relayed, expanded (lower case) */
	char *status;             /* "5.7.1" */
	char *diagnostic_type;    /* "smtp" */
	char *diagnostic;         /* unfolded Diagnostic-Code text, raw (no type prefix) */
	char *remote_mta;         /* Remote-MTA without type prefix */
	int reply_code;           /* from the diagnostic, 0 when none */
	enum mb_stage stage;      /* from "(in reply to RCPT TO command)" and similar, or unknown */
};

struct mb_dsn {
	bool is_report;            /* a delivery-status part was found */
	char *envid;               /* Original-Envelope-Id, or NULL */
	char *reporting_mta;       /* without type prefix */
	char *original_message_id; /* Message-ID of the returned message/headers, or NULL */
	char *delivered_to;        /* Delivered-To / X-Original-To / To of the DSN itself (VERP) */
	char *message_id;          /* the DSN's own Message-ID */
	struct mb_dsn_recipient *recipients;
	size_t n_recipients;
	bool truncated; /* more recipients than MB_MAX_DSN_RECIPIENTS: the rest left out */
};

/* Parses one message (any line endings). Returns 0 (also for non-DSNs), MB_ENOMEM, or
 * MB_EDATA when the input cannot be read as a message at all. */
int mb_dsn_parse(const char *data, size_t len, struct mb_dsn **out, struct mb_err *err);
void mb_dsn_free(struct mb_dsn *dsn);

/* Keys of one send that a DSN can carry back. */
struct mb_dsn_key {
	const char *envid;        /* ENVID we sent */
	const char *message_id;   /* Message-ID we set, with angle brackets */
	const char *verp_address; /* expanded envelope sender, or NULL without VERP */
};

enum mb_dsn_match_by {
	MB_DSN_MATCH_NONE = 0,
	MB_DSN_MATCH_ENVID,
	MB_DSN_MATCH_MESSAGE_ID,
	MB_DSN_MATCH_VERP
};

/* Index of the send the DSN reports on, or -1. ENVID wins over Message-ID over VERP. */
long mb_dsn_match(const struct mb_dsn *dsn, const struct mb_dsn_key *keys, size_t n_keys,
                  enum mb_dsn_match_by *by);
const char *mb_dsn_match_by_name(enum mb_dsn_match_by by);

#endif
