/* Reports of a stored run: the terminal summary and the JSON object scripts read. Receiver
 * texts are shown in full; in the terminal they are made printable first (they are
 * untrusted), in JSON they are escaped by the encoder. */
#ifndef MAILBISECT_REPORT_H
#define MAILBISECT_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "mailbisect/err.h"
#include "mailbisect/store.h"
#include "mailbisect/verdict.h"

int mb_report_text(struct mb_store *store, int64_t run_id, FILE *out, struct mb_err *err);
int mb_report_json(struct mb_store *store, int64_t run_id, FILE *out, struct mb_err *err);

/* The verdict as a JSON object (as stored with the run). Caller frees; NULL on no memory. */
char *mb_report_verdict_json(const struct mb_verdict *v);

#endif
