/* Reports of a stored run: the terminal summary and the JSON object scripts read. Receiver
 * texts are shown in full; in the terminal they are made printable first (they are
 * untrusted), in JSON they are escaped by the encoder. */
#ifndef MAILBISECT_REPORT_H
#define MAILBISECT_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "mailbisect/err.h"
#include "mailbisect/store.h"
#include "mailbisect/variant.h"
#include "mailbisect/verdict.h"

int mb_report_text(struct mb_store *store, int64_t run_id, FILE *out, struct mb_err *err);
int mb_report_json(struct mb_store *store, int64_t run_id, FILE *out, struct mb_err *err);
/* The escalation ticket for the ESP, in Markdown: verdict, the questions to ask, scope, and
 * the evidence bundle (every send with its ids, relay, times and the receiver's full reply). */
int mb_report_ticket(struct mb_store *store, int64_t run_id, FILE *out, struct mb_err *err);

/* What the message under test carries, as a JSON object stored with the run (From and its
 * domain, To, Subject, HTML and attachments present, link domains). Caller frees; NULL on no
 * memory. */
char *mb_report_facts_json(const struct mb_message *msg, char *const *link_domains);

/* A fingerprint of the message bytes ("fnv1a64:HEX:LENGTH"), kept in the facts so that a
 * resumed run can tell that the file changed. 0, or -1 when size is too small. */
int mb_report_message_digest(const struct mb_message *msg, char *out, size_t size);

/* The verdict as a JSON object (as stored with the run). Caller frees; NULL on no memory. */
char *mb_report_verdict_json(const struct mb_verdict *v);

#endif
