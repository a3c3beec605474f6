/* Running an experiment: plan the sends (interleaved across variants), journal each before
 * and after it leaves, submit through the pool's transport, collect outcomes until every
 * send is resolved or the window closes, and infer the verdict. */
#ifndef MAILBISECT_RUN_H
#define MAILBISECT_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mailbisect/err.h"
#include "mailbisect/spec.h"
#include "mailbisect/store.h"
#include "mailbisect/verdict.h"

struct mb_planned_send {
	int seq; /* 1-based send order */
	enum mb_variant variant;
	const struct mb_pool_spec *pool; /* borrowed from the spec */
	const char *recipient;           /* borrowed from the spec */
	char *bisect; /* owned: link-domain bisection step ("CANDIDATES|STRIPPED"), else NULL */
};

/* The sends a spec plans, in the order they go out: round-robin over variants, recipients
 * inside, repeats outermost, so a block that starts or lifts mid-run shows as inconsistency.
 * Caller frees *out. */
int mb_run_plan(const struct mb_spec *spec, struct mb_planned_send **out, size_t *n,
                struct mb_err *err);

struct mb_run_opts {
	bool progress;      /* live progress line on stderr */
	volatile int *stop; /* set asynchronously (SIGINT) to end the run early */
};

/* Runs the experiment described by spec, recording everything in store. *run_id is set as
 * soon as the run exists (also on later failure). Errors before the first send leave nothing
 * sent; errors after are recorded in the run. */
int mb_run_execute(const struct mb_spec *spec, struct mb_store *store,
                   const struct mb_run_opts *opts, int64_t *run_id, struct mb_err *err);

/* Resumes an interrupted (or failed) run from its journal, with the spec stored with it:
 * planned sends go out, sends that were being handed over when the run stopped are not sent
 * again (their outcome may still arrive), then collection, follow-ups and the verdict as in a
 * fresh run. Refuses a finished run, and a message file that changed since the run started. */
int mb_run_resume(struct mb_store *store, int64_t run_id, const struct mb_run_opts *opts,
                  struct mb_err *err);

/* Reads the bounce mailbox of a stored run again (slow bounces), with the spec stored with
 * the run; *resolved counts the sends whose outcome changed. */
int mb_run_collect(struct mb_store *store, int64_t run_id, int *resolved, struct mb_err *err);

/* Settles the status of a stored run as read: a run recorded as running whose process is gone
 * (killed, or the machine restarted) is interrupted, which `resume` continues. Returns 0 or
 * MB_ENOMEM; a status that cannot be settled is left as it was. */
int mb_run_status_settle(struct mb_store *store, struct mb_run_row *row);

/* Infers the verdict of a stored run from its sends. */
int mb_run_verdict(struct mb_store *store, int64_t run_id, struct mb_verdict *verdict,
                   struct mb_err *err);

/* What a variant is sent as: the From address it gets (NULL: the original's) and the envelope
 * sender template it uses. Both borrowed from spec. */
const char *mb_run_variant_from(const struct mb_spec *spec, enum mb_variant v);
const char *mb_run_envelope_template(const struct mb_spec *spec, enum mb_variant v);

/* Envelope sender of one send: "{send}" in the template replaced by key. Caller frees. */
char *mb_run_envelope_sender(const char *template, const char *key);

#endif
