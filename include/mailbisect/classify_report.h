/* Output of `mailbisect classify`: one line per recipient record of a bounce, or one for a
 * classified SMTP reply, as aligned text or as JSON Lines (one JSON object per line; field
 * list in README.md, "mailbisect classify"). Bounce texts are untrusted: the text form shows
 * them made printable, the JSON form raw except that bytes that are not UTF-8 become U+FFFD. */
#ifndef MAILBISECT_CLASSIFY_REPORT_H
#define MAILBISECT_CLASSIFY_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "mailbisect/bounce.h"
#include "mailbisect/classify.h"
#include "mailbisect/err.h"
#include "mailbisect/outcome.h"

/* Where a bounce was read. Borrowed. */
struct mb_classify_origin {
	const char *file; /* the path as given ("-" for standard input) */
	size_t message;   /* 1-based number of the message in file */
	bool in_mbox;     /* file is an mbox: the text form shows "file#message" */
};

/* A classified reply (`classify --reply`). Borrowed. */
struct mb_classify_reply {
	const char *text;    /* the reply as given, untrusted */
	enum mb_stage stage; /* as given, or unknown */
	int code;            /* read from the text, 0 when none */
	const char *status;  /* enhanced status read from the text, or NULL */
	const struct mb_classification *cls;
};

/* Writes one line per record of b (none for a bounce without records). Returns 0, MB_ENOMEM,
 * or MB_EIO when out cannot be written. */
int mb_classify_report_bounce(FILE *out, bool json, const struct mb_classify_origin *origin,
                              const struct mb_bounce *b, struct mb_err *err);

/* Writes one line for the reply. Returns 0, MB_ENOMEM or MB_EIO. */
int mb_classify_report_reply(FILE *out, bool json, const struct mb_classify_reply *reply,
                             struct mb_err *err);

#endif
