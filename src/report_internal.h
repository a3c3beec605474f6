/* What every report format of a stored run reads: shared by report.c and report_ticket.c,
 * not part of the public interface. */
#ifndef MAILBISECT_REPORT_INTERNAL_H
#define MAILBISECT_REPORT_INTERNAL_H

#include <stdint.h>

#include "mailbisect/err.h"
#include "mailbisect/store.h"
#include "mailbisect/verdict.h"

struct mb_report_data {
	struct mb_run_row run;
	struct mb_send_row *sends;
	size_t n_sends;
	struct mb_verdict verdict; /* recomputed from the stored sends */
};

/* Loads the run, its sends and its verdict; free with mb_report_data_clear. */
int mb_report_data_load(struct mb_store *store, int64_t run_id, struct mb_report_data *d,
                        struct mb_err *err);
void mb_report_data_clear(struct mb_report_data *d);

#endif
