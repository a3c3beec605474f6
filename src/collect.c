/* Outcome collection from the bounce mailbox: bounce reading, matching to journaled sends, and
 * the mapping from DSN actions to outcome states. */
#include "mailbisect/collect.h"
#include "mailbisect/bounce.h"
#include "mailbisect/classify.h"
#include "mailbisect/dsn.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"

#include <stdlib.h>
#include <string.h>

struct collect_ctx {
	struct mb_store *store;
	struct mb_send_row *open;
	size_t n_open;
	struct mb_dsn_key *keys;
	struct mb_collect_stats *stats;
	struct mb_err *err;
};

/* DSN action -> outcome state (RFC 3464 section 2.3.3). */
static const struct {
	const char *action;
	enum mb_state state;
} action_states[] = {
    {"failed", MB_STATE_BOUNCED},
    {"delayed", MB_STATE_DEFERRED},
    {"delivered", MB_STATE_DELIVERED},
    /* relayed/expanded: passed on to a system that sends no DSN: accepted, not confirmed */
    {"relayed", MB_STATE_ACCEPTED},
    {"expanded", MB_STATE_ACCEPTED},
};

static int action_state(const char *action, enum mb_state *out)
{
	for (size_t i = 0; action && i < sizeof action_states / sizeof action_states[0]; i++)
		if (mb_str_ieq(action, action_states[i].action)) {
			*out = action_states[i].state;
			return 0;
		}
	return -1;
}

/* The state a record reports: its DSN action, else what the kind of bounce implies (an
 * auto-reply or a complaint proves delivery; a notice without action is a failure, deferred
 * when its reply was temporary). */
static int record_state(const struct mb_bounce *b, const struct mb_bounce_record *r,
                        enum mb_state *out)
{
	if (!action_state(r->action, out))
		return 0;
	switch (b->kind) {
	case MB_BOUNCE_AUTOREPLY:
	case MB_BOUNCE_FEEDBACK:
		*out = MB_STATE_DELIVERED;
		return 0;
	case MB_BOUNCE_DSN:
	case MB_BOUNCE_NDR:
		if (strcmp(r->cls.reason, "delivered") == 0)
			*out = MB_STATE_DELIVERED;
		else
			*out = r->cls.hard || r->reply_code / 100 == 5 ||
			               (r->status && r->status[0] == '5')
			           ? MB_STATE_BOUNCED
			           : MB_STATE_DEFERRED;
		return 0;
	default:
		return -1;
	}
}

/* The record about this send's recipient, or the only record there is. */
static const struct mb_bounce_record *record_for(const struct mb_bounce *b,
                                                 const struct mb_send_row *send)
{
	for (size_t i = 0; i < b->n_records; i++)
		if (mb_str_ieq(b->records[i].recipient, send->recipient))
			return &b->records[i];
	return b->n_records == 1 ? &b->records[0] : NULL;
}

/* A later, weaker report must not overwrite a final one (a "delayed" after "failed"). */
static bool supersedes(enum mb_state old_state, enum mb_source old_source, enum mb_state next)
{
	if (old_state == MB_STATE_PENDING || old_state == MB_STATE_DEFERRED)
		return true;
	if (old_state == MB_STATE_ACCEPTED)
		return next != MB_STATE_DEFERRED &&
		       (old_source == MB_SOURCE_WINDOW || next == MB_STATE_BOUNCED ||
		        next == MB_STATE_DELIVERED);
	return false;
}

static int record_outcome(struct collect_ctx *c, struct mb_send_row *send,
                          const struct mb_bounce *b, const struct mb_bounce_record *rec,
                          enum mb_dsn_match_by by)
{
	struct mb_send_row o = {0};
	enum mb_state state;
	int rc;

	if (record_state(b, rec, &state) || !supersedes(send->state, send->source, state))
		return 0;
	o.id = send->id;
	o.state = state;
	o.stage = rec->stage;
	o.smtp_code = rec->reply_code;
	o.enhanced_status = rec->status;
	o.diagnostic = rec->diagnostic;
	o.remote_mta = rec->remote_mta;
	o.source = MB_SOURCE_DSN;
	o.matched_by = (char *)mb_dsn_match_by_name(by);
	if (state == MB_STATE_BOUNCED || state == MB_STATE_DEFERRED) {
		o.reason = (char *)rec->cls.reason;
		o.fault = rec->cls.fault;
	}
	if ((rc = mb_store_send_resolve(c->store, &o, c->err)))
		return rc;
	send->state = state;
	send->source = MB_SOURCE_DSN;
	c->stats->resolved++;
	return 0;
}

static int on_message(void *ctx, uint32_t uid, const char *data, size_t len)
{
	struct collect_ctx *c = ctx;
	struct mb_bounce *b = NULL;
	struct mb_dsn keys = {0}; /* borrowed views of the bounce's keys, for the matcher */
	struct mb_err ignored = MB_ERR_INIT;
	enum mb_dsn_match_by by = MB_DSN_MATCH_NONE;
	const struct mb_bounce_record *rec;
	long index;
	int rc;

	(void)uid;
	c->stats->fetched++;
	/* Anything can land in a bounce mailbox: a message that does not parse is skipped. */
	if (mb_bounce_read(NULL, data, len, &b, &ignored) || !b)
		return 0;
	keys.is_report = b->kind == MB_BOUNCE_DSN;
	keys.envid = b->envid;
	keys.original_message_id = b->original_message_id;
	keys.delivered_to = b->delivered_to;
	index = b->n_records ? mb_dsn_match(&keys, c->keys, c->n_open, &by) : -1;
	if (index < 0) {
		mb_bounce_free(b);
		return 0;
	}
	c->stats->matched++;
	rc = mb_store_evidence_add(c->store, c->open[index].run_id, c->open[index].id, "dsn", data,
	                           len, c->err);
	rec = rc ? NULL : record_for(b, &c->open[index]);
	if (rec)
		rc = record_outcome(c, &c->open[index], b, rec, by);
	mb_bounce_free(b);
	return rc;
}

int mb_collect_pass(struct mb_store *store, struct mb_imap *imap, const char *url, const char *user,
                    struct mb_collect_stats *stats, struct mb_err *err)
{
	struct collect_ctx c = {store, NULL, 0, NULL, stats, err};
	uint32_t uidvalidity, last_uid;
	int rc;

	memset(stats, 0, sizeof *stats);
	if ((rc = mb_store_cursor_get(store, url, user, &uidvalidity, &last_uid, err)))
		return rc;
	if ((rc = mb_store_sends_open(store, &c.open, &c.n_open, err)))
		return rc;
	c.keys = calloc(c.n_open ? c.n_open : 1, sizeof *c.keys);
	if (!c.keys) {
		mb_store_send_rows_free(c.open, c.n_open);
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < c.n_open; i++) {
		c.keys[i].envid = c.open[i].key;
		c.keys[i].message_id = c.open[i].message_id;
		c.keys[i].verp_address = c.open[i].envelope_from;
	}
	rc = mb_imap_fetch_new(imap, &uidvalidity, &last_uid, on_message, &c, err);
	/* the cursor advances over what was read, even when a later fetch failed */
	if (!rc || last_uid) {
		int saved =
		    mb_store_cursor_set(store, url, user, uidvalidity, last_uid, rc ? NULL : err);
		if (!rc)
			rc = saved;
	}
	free(c.keys);
	mb_store_send_rows_free(c.open, c.n_open);
	return rc;
}

int mb_collect_close_window(struct mb_store *store, int64_t run_id, int *changed,
                            struct mb_err *err)
{
	struct mb_send_row *rows;
	size_t n;
	int rc;

	*changed = 0;
	if ((rc = mb_store_sends_list(store, run_id, &rows, &n, err)))
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		struct mb_send_row o = {0};
		if (rows[i].state != MB_STATE_PENDING || rows[i].phase != MB_PHASE_SUBMITTED)
			continue;
		o.id = rows[i].id;
		o.state = MB_STATE_ACCEPTED;
		o.stage = MB_STAGE_DATA;
		o.source = MB_SOURCE_WINDOW;
		rc = mb_store_send_resolve(store, &o, err);
		if (!rc)
			(*changed)++;
	}
	mb_store_send_rows_free(rows, n);
	return rc;
}
