/* Starting from the bounce in hand: the failing message, the affected domain and recipient,
 * and the receiver's words, taken from a non-delivery report, so that an experiment can be
 * built from it and a reusable ESP config (mailbisect run --from-bounce NDR --config ESP). */
#ifndef MAILBISECT_FROMBOUNCE_H
#define MAILBISECT_FROMBOUNCE_H

#include <stdbool.h>
#include <stddef.h>

#include "mailbisect/buf.h"
#include "mailbisect/classify.h"
#include "mailbisect/err.h"

struct mb_from_bounce {
	char *recipient;  /* the failed recipient (see mb_from_bounce_read), lower case */
	char *domain;     /* its domain: the affected domain */
	char *diagnostic; /* the receiver's reply as the NDR gives it, or NULL */
	char *status;     /* enhanced status, or NULL */
	struct mb_classification cls;
	struct mb_buf message; /* the returned message (message/rfc822), when it came back whole */
	bool headers_only;     /* only the headers came back (text/rfc822-headers) */
};

/* Reads an NDR (untrusted; any line ends). The recipient is the first failed one refused for a
 * reason other than its own (unknown user, full mailbox), else the first failed one. Errors:
 * MB_EDATA naming the file when it reports no failed recipient. A missing returned message is not
 * an error here: message.len is 0 (and headers_only tells why); the caller asks for the original
 * file. */
int mb_from_bounce_read(const char *name, const char *data, size_t len, struct mb_from_bounce *out,
                        struct mb_err *err);
void mb_from_bounce_clear(struct mb_from_bounce *fb);

#endif
