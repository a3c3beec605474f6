/* Whole-bounce reading: one message from a bounce mailbox (RFC 3464 / RFC 6533 report, ARF
 * feedback report, RFC 3834 auto-reply, or the free-text NDR of an MTA or provider) turned into
 * one record per recipient, each with its classified reason and fault. The same reader serves
 * `mailbisect classify` and the run's collector. Input is untrusted and read within limits.h:
 * garbage gives no records or reason "undefined", never a failure of the batch. */
#ifndef MAILBISECT_BOUNCE_H
#define MAILBISECT_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>

#include "mailbisect/classify.h"
#include "mailbisect/err.h"
#include "mailbisect/outcome.h"

/* What kind of message it was. */
enum mb_bounce_kind {
	MB_BOUNCE_NONE = 0,  /* not a bounce at all (no records) */
	MB_BOUNCE_DSN,       /* RFC 3464 / RFC 6533 delivery status report */
	MB_BOUNCE_NDR,       /* non-standard notification read from its text */
	MB_BOUNCE_FEEDBACK,  /* ARF (RFC 5965) feedback report */
	MB_BOUNCE_AUTOREPLY, /* RFC 3834 auto-reply / vacation message */
	MB_BOUNCE_KIND_COUNT
};

struct mb_bounce_record {
	char *recipient;       /* address only, lower case as written; NULL when not found */
	char *action;          /* failed, delayed, delivered, relayed, expanded; NULL if unknown */
	char *status;          /* enhanced status "5.7.1"; NULL when the bounce carries none */
	int reply_code;        /* SMTP reply code, 0 when none */
	char *diagnostic;      /* the receiver's text, unfolded and joined, raw; NULL when none */
	char *diagnostic_type; /* "smtp", "x-unix" (exit status of a local program), or NULL */
	char *remote_mta;      /* without type prefix, NULL when unknown */
	enum mb_stage stage;   /* SMTP stage the refusal came at, or unknown */
	char *feedback_type;   /* ARF Feedback-Type (abuse, fraud, ...), else NULL */
	struct mb_classification cls; /* reason, fault, hard */
};

struct mb_bounce {
	enum mb_bounce_kind kind;
	const char *provider;      /* static name of the format recognised ("postfix", "exchange",
	                            * "gmail", ...) or NULL */
	char *envid;               /* Original-Envelope-Id, or NULL */
	char *original_message_id; /* Message-ID of the returned message or headers, or NULL */
	char *delivered_to;        /* Delivered-To / X-Original-To / To of the bounce (VERP) */
	char *message_id;          /* the bounce's own Message-ID */
	struct mb_bounce_record *records;
	size_t n_records;
	bool truncated; /* it named more recipients than MB_MAX_DSN_RECIPIENTS: the rest are left
	                 * out */
};

/* Reads one message (LF, CRLF or CR line ends). rules may be NULL for the built-in rule set.
 * Returns 0 (also for messages that are not bounces: kind NONE, no records), MB_ENOMEM, or
 * MB_EDATA with a message when the input cannot be read as a message at all (empty, over
 * MB_MAX_MESSAGE_BYTES). */
int mb_bounce_read(const struct mb_rules *rules, const char *data, size_t len,
                   struct mb_bounce **out, struct mb_err *err);
void mb_bounce_free(struct mb_bounce *b);

const char *mb_bounce_kind_name(enum mb_bounce_kind k);

/* The formats the reader recognises, the values mb_bounce.provider takes: the i-th name (from
 * 0), or NULL past the end; and whether name (any case) is one of them. */
const char *mb_bounce_provider_at(size_t i);
bool mb_bounce_provider_known(const char *name);

#endif
