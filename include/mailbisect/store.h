/* The embedded store (SQLite): runs, the send journal, outcomes, raw evidence, verdicts and
 * the bounce-mailbox cursor. Every send is written before it leaves and updated after, so a
 * run that dies loses nothing. Strings passed in are copied; rows handed out are owned by
 * the caller and freed with the matching _free function. */
#ifndef MAILBISECT_STORE_H
#define MAILBISECT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "mailbisect/err.h"
#include "mailbisect/outcome.h"

struct mb_store;

/* Factor bits of a send, stored with it so a verdict can be recomputed from the store. */
#define MB_FACTOR_PRIMARY_POOL   1u
#define MB_FACTOR_LINKS          2u
#define MB_FACTOR_TEMPLATE       4u
#define MB_FACTOR_PRIMARY_DOMAIN 8u
/* A link-domain bisection send: it tells which link domain is refused, and is left out of the
 * factor inference (it carries some of the links). */
#define MB_FACTOR_BISECT 16u

/* Journal phase of a send: planned (not yet handed to a transport), submitting (handed over,
 * result unknown: never resend blindly), submitted (the transport answered). */
enum mb_phase { MB_PHASE_PLANNED = 0, MB_PHASE_SUBMITTING, MB_PHASE_SUBMITTED };

struct mb_run_row {
	int64_t id;
	char *token; /* random hex, part of every send key (ENVID, VERP, Message-ID) */
	char *name;
	char *spec_path;
	char *spec_json;
	char *domain;
	char *status; /* running, finished, interrupted */
	char *created_at;
	char *finished_at;
	char *verdict_json; /* NULL until a verdict exists */
	char *facts_json;   /* what the message under test carried (From, link domains...), or
	                       NULL (runs from before schema 2) */
};

struct mb_send_row {
	int64_t id;
	int64_t run_id;
	int seq;
	char *key; /* token-seq: ENVID and VERP tag */
	char *variant;
	char *pool;
	char *recipient;
	char *envelope_from;
	char *message_id;
	unsigned factors; /* MB_FACTOR_* bits: the send's point in factor space */
	char *bisect;     /* bisection sends: "CANDIDATES|STRIPPED", comma-separated host names
	                     (the domains still suspected, and those this send left out); else
	                     NULL */
	enum mb_phase phase;
	enum mb_state state;
	enum mb_stage stage;
	int smtp_code;
	char *enhanced_status;
	char *diagnostic; /* receiver's (or relay's) full text, raw */
	char *remote_mta;
	enum mb_source source;
	char *reason;
	enum mb_fault fault;
	char *matched_by;
	char *relay;
	char *relay_reply; /* the relay's reply at submission, raw */
	char *queue_id;
	char *planned_at;
	char *sent_at;
	char *resolved_at;
};

/* Opens (creating the file, its directory and the schema when missing). */
int mb_store_open(struct mb_store **out, const char *path, struct mb_err *err);
/* Opens a store that must already exist (commands that read stored runs): a missing file is
 * MB_ENOINPUT ("no store at PATH"), never created. */
int mb_store_open_existing(struct mb_store **out, const char *path, struct mb_err *err);
void mb_store_close(struct mb_store *store);
/* $XDG_STATE_HOME/mailbisect/mailbisect.db, else ~/.local/state/mailbisect/mailbisect.db.
 * Caller frees. */
char *mb_store_default_path(void);

int mb_store_begin(struct mb_store *store, struct mb_err *err);
int mb_store_commit(struct mb_store *store, struct mb_err *err);
void mb_store_rollback(struct mb_store *store);

int mb_store_run_create(struct mb_store *store, const char *name, const char *spec_path,
                        const char *spec_json, const char *domain, int64_t *run_id, char **token,
                        struct mb_err *err);
int mb_store_run_finish(struct mb_store *store, int64_t run_id, const char *status,
                        const char *verdict_json, struct mb_err *err);
/* Small named values kept with the store (its meta table), e.g. which process is carrying
 * out a run. *value is NULL when the key is absent (caller frees); a NULL value deletes. */
int mb_store_meta_get(struct mb_store *store, const char *key, char **value, struct mb_err *err);
int mb_store_meta_set(struct mb_store *store, const char *key, const char *value,
                      struct mb_err *err);

/* Records the facts of the message under test (a JSON object, see mb_report_facts_json). */
int mb_store_run_set_facts(struct mb_store *store, int64_t run_id, const char *facts_json,
                           struct mb_err *err);
/* A run that is not in the store is MB_ENOINPUT. */
int mb_store_run_get(struct mb_store *store, int64_t run_id, struct mb_run_row *row,
                     struct mb_err *err);
void mb_store_run_row_clear(struct mb_run_row *row);

/* Journals a planned send (state pending, phase planned); *send_id receives its id. */
int mb_store_send_plan(struct mb_store *store, const struct mb_send_row *send, int64_t *send_id,
                       struct mb_err *err);
int mb_store_send_set_phase(struct mb_store *store, int64_t send_id, enum mb_phase phase,
                            struct mb_err *err);
/* Records the transport's answer: phase submitted, state, relay reply, sent_at. */
int mb_store_send_submitted(struct mb_store *store, int64_t send_id, enum mb_state state,
                            enum mb_stage stage, int code, const char *enhanced, const char *text,
                            const char *relay, const char *queue_id, struct mb_err *err);
/* Records the receiver's outcome (from a DSN or the window) for a send. */
int mb_store_send_resolve(struct mb_store *store, const struct mb_send_row *outcome,
                          struct mb_err *err);
/* All sends of a run in seq order. */
int mb_store_sends_list(struct mb_store *store, int64_t run_id, struct mb_send_row **rows,
                        size_t *n, struct mb_err *err);
void mb_store_send_rows_free(struct mb_send_row *rows, size_t n);
/* Sends of any run whose outcome may still change: pending, deferred, or accepted only
 * because the window closed (a late bounce can still arrive). */
int mb_store_sends_open(struct mb_store *store, struct mb_send_row **rows, size_t *n,
                        struct mb_err *err);
/* Runs, newest first (at most limit). */
int mb_store_runs_list(struct mb_store *store, int limit, struct mb_run_row **rows, size_t *n,
                       struct mb_err *err);
void mb_store_run_rows_free(struct mb_run_row *rows, size_t n);

/* Keeps raw evidence (a DSN as received). send_id 0 when it matched nothing. */
int mb_store_evidence_add(struct mb_store *store, int64_t run_id, int64_t send_id, const char *kind,
                          const char *data, size_t len, struct mb_err *err);

/* Where reading the bounce mailbox stopped last time. */
int mb_store_cursor_get(struct mb_store *store, const char *url, const char *user,
                        uint32_t *uidvalidity, uint32_t *last_uid, struct mb_err *err);
int mb_store_cursor_set(struct mb_store *store, const char *url, const char *user,
                        uint32_t uidvalidity, uint32_t last_uid, struct mb_err *err);

#endif
