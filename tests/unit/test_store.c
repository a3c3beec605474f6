/* Unit tests of the store (journal semantics, reopen, cursor, opening only an existing store) and
 * of the run plan (interleaved order, VERP expansion, the advice for sends left pending). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailbisect/run.h"
#include "mailbisect/store.h"

#include <sqlite3.h>

static char *temp_db(void)
{
	char tmpl[] = "/tmp/mb-store-XXXXXX";
	char *dir = mkdtemp(tmpl);
	char *path = malloc(256);
	assert_non_null(dir);
	snprintf(path, 256, "%s/sub/dir/test.db", dir);
	return path;
}

static void plan_send(struct mb_store *s, int64_t run, int seq, const char *variant, int64_t *id)
{
	struct mb_err err = MB_ERR_INIT;
	char key[32], msgid[64];
	struct mb_send_row row = {0};
	snprintf(key, sizeof key, "tok-%d", seq);
	snprintf(msgid, sizeof msgid, "<mailbisect.tok-%d@x.example>", seq);
	row.run_id = run;
	row.seq = seq;
	row.key = key;
	row.variant = (char *)variant;
	row.pool = "pool-a";
	row.recipient = "alice@victim.example";
	row.envelope_from = "bounces+tok@bounces.sender.example";
	row.message_id = msgid;
	row.factors = MB_FACTOR_PRIMARY_POOL | MB_FACTOR_LINKS;
	if (mb_store_send_plan(s, &row, id, &err))
		fail_msg("plan: %s", err.message);
}

static void test_journal(void **state)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *s;
	struct mb_send_row *rows, o = {0};
	size_t n;
	int64_t run, id1, id2;
	char *token, *path = temp_db();
	(void)state;

	if (mb_store_open(&s, path, &err))
		fail_msg("open: %s", err.message);
	assert_int_equal(
	    mb_store_run_create(s, "t", "t.json", "{}", "victim.example", &run, &token, &err), 0);
	assert_int_equal(strlen(token), 8);
	plan_send(s, run, 1, "original", &id1);
	plan_send(s, run, 2, "plain-text", &id2);
	assert_int_equal(mb_store_send_set_phase(s, id1, MB_PHASE_SUBMITTING, &err), 0);
	assert_int_equal(mb_store_send_submitted(s, id1, MB_STATE_PENDING, MB_STAGE_DATA, 250,
	                                         "2.0.0", "Ok: queued as ABC", "127.0.0.1:2525",
	                                         "ABC", &err),
	                 0);
	assert_int_equal(mb_store_send_submitted(s, id2, MB_STATE_SUBMIT_REFUSED, MB_STAGE_AUTH,
	                                         535, "5.7.8", "authentication failed",
	                                         "127.0.0.1:2587", NULL, &err),
	                 0);
	o.id = id1;
	o.state = MB_STATE_BOUNCED;
	o.stage = MB_STAGE_RCPT;
	o.smtp_code = 550;
	o.enhanced_status = "5.7.1";
	o.diagnostic = "550 5.7.1 blocked";
	o.source = MB_SOURCE_DSN;
	o.reason = "blocked";
	o.fault = MB_FAULT_IP;
	o.matched_by = "envid";
	assert_int_equal(mb_store_send_resolve(s, &o, &err), 0);
	mb_store_close(s);

	/* reopen: everything persisted */
	assert_int_equal(mb_store_open(&s, path, &err), 0);
	assert_int_equal(mb_store_sends_list(s, run, &rows, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].state, MB_STATE_BOUNCED);
	assert_int_equal(rows[0].stage, MB_STAGE_RCPT);
	assert_int_equal(rows[0].fault, MB_FAULT_IP);
	assert_string_equal(rows[0].relay_reply, "Ok: queued as ABC");
	assert_int_equal(rows[0].factors, MB_FACTOR_PRIMARY_POOL | MB_FACTOR_LINKS);
	/* the relay's own refusal is final and carries the relay's reply as outcome */
	assert_int_equal(rows[1].state, MB_STATE_SUBMIT_REFUSED);
	assert_int_equal(rows[1].phase, MB_PHASE_SUBMITTED);
	assert_int_equal(rows[1].smtp_code, 535);
	assert_string_equal(rows[1].diagnostic, "authentication failed");
	mb_store_send_rows_free(rows, n);

	/* neither send is open any more */
	assert_int_equal(mb_store_sends_open(s, &rows, &n, &err), 0);
	assert_int_equal(n, 0);
	mb_store_send_rows_free(rows, n);
	free(token);
	mb_store_close(s);
	free(path);
}

static void test_cursor(void **state)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *s;
	uint32_t v, last;
	char *path = temp_db();
	(void)state;
	assert_int_equal(mb_store_open(&s, path, &err), 0);
	assert_int_equal(mb_store_cursor_get(s, "imap://h/INBOX", "u", &v, &last, &err), 0);
	assert_int_equal(v, 0);
	assert_int_equal(last, 0);
	assert_int_equal(mb_store_cursor_set(s, "imap://h/INBOX", "u", 77, 4000000000u, &err), 0);
	assert_int_equal(mb_store_cursor_get(s, "imap://h/INBOX", "u", &v, &last, &err), 0);
	assert_int_equal(v, 77);
	assert_true(last == 4000000000u);
	mb_store_close(s);
	free(path);
}

static void test_unwritable(void **state)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *s = NULL;
	(void)state;
	assert_int_equal(mb_store_open(&s, "/proc/mailbisect/x.db", &err), MB_EIO);
	assert_null(s);
	assert_non_null(strstr(err.message, "/proc/mailbisect"));
}

/* Commands that read stored runs must not turn a mistyped --db path into a new, empty store. */
static void test_open_existing(void **state)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *s = NULL;
	struct mb_run_row row;
	struct stat st;
	char *path = temp_db(), *dir = strdup(path);
	int64_t run;
	char *token;
	(void)state;

	*strrchr(dir, '/') = '\0';
	assert_int_equal(mb_store_open_existing(&s, path, &err), MB_ENOINPUT);
	assert_null(s);
	if (!strstr(err.message, "no store at ") || !strstr(err.message, path))
		fail_msg("got \"%s\", want \"no store at %s...\"", err.message, path);
	assert_int_not_equal(stat(path, &st), 0);
	assert_int_not_equal(stat(dir, &st), 0); /* not even its directory */
	/* "" would be a temporary SQLite database, thrown away on close */
	assert_int_equal(mb_store_open(&s, "", &err), MB_EUSAGE);
	assert_int_equal(mb_store_open_existing(&s, "", &err), MB_EUSAGE);

	assert_int_equal(mb_store_open(&s, path, &err), 0);
	assert_int_equal(
	    mb_store_run_create(s, "t", "t.json", "{}", "victim.example", &run, &token, &err), 0);
	mb_store_close(s);
	assert_int_equal(mb_store_open_existing(&s, path, &err), 0);
	assert_int_equal(mb_store_run_get(s, run, &row, &err), 0);
	mb_store_run_row_clear(&row);
	/* a run that is not there is missing input, not malformed data */
	assert_int_equal(mb_store_run_get(s, run + 998, &row, &err), MB_ENOINPUT);
	assert_non_null(strstr(err.message, "no run"));
	mb_store_close(s);
	free(token);
	free(dir);
	free(path);
}

/* A run that stopped leaves sends pending: some never left, some wait for their outcome. The
 * advice is resume, which sends what is left and collects; one line for all, in plain grammar. */
static void test_pending_advice(void **state)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *s;
	struct mb_verdict v;
	int64_t run, id1, id2, id3;
	char *token, *path = temp_db();
	(void)state;

	assert_int_equal(mb_store_open(&s, path, &err), 0);
	assert_int_equal(
	    mb_store_run_create(s, "t", "t.json", "{}", "victim.example", &run, &token, &err), 0);
	plan_send(s, run, 1, "alternate-pool", &id1);
	assert_int_equal(mb_run_verdict(s, run, &v, &err), 0);
	assert_string_equal(v.fault, "incomplete");
	if (!strstr(v.next_steps, "A send of variant alternate-pool is still pending") ||
	    !strstr(v.next_steps, "`mailbisect resume RUN` sends what is left") ||
	    strstr(v.next_steps, "A alternate"))
		fail_msg("next steps: got \"%s\", want resume for the send that never left",
		         v.next_steps);
	mb_verdict_clear(&v);

	plan_send(s, run, 2, "original", &id2);
	plan_send(s, run, 3, "original", &id3);
	assert_int_equal(mb_store_send_submitted(s, id2, MB_STATE_PENDING, MB_STAGE_DATA, 250,
	                                         "2.0.0", "Ok: queued as ABC", "127.0.0.1:2525",
	                                         "ABC", &err),
	                 0);
	assert_int_equal(mb_run_verdict(s, run, &v, &err), 0);
	if (!strstr(v.next_steps,
	            "3 sends (variants original, alternate-pool) are still pending") ||
	    !strstr(v.next_steps, "`mailbisect resume RUN` sends what is left") ||
	    strstr(strstr(v.next_steps, "resume RUN") + 1, "resume RUN"))
		fail_msg("next steps: got \"%s\", want one line for the three pending sends",
		         v.next_steps);
	mb_verdict_clear(&v);
	mb_store_close(s);
	free(token);
	free(path);
}

static void test_envelope_sender(void **state)
{
	char *a = mb_run_envelope_sender("bounces+{send}@b.example", "1a2b-3");
	char *b = mb_run_envelope_sender("bounces@b.example", "1a2b-3");
	(void)state;
	assert_string_equal(a, "bounces+1a2b-3@b.example");
	assert_string_equal(b, "bounces@b.example");
	free(a);
	free(b);
}

static void test_plan_interleaved(void **state)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_spec spec;
	enum mb_variant variants[] = {MB_VARIANT_ORIGINAL, MB_VARIANT_PLAIN_TEXT,
	                              MB_VARIANT_ALTERNATE_POOL};
	char *rcpts[] = {"a@victim.example", "b@victim.example"};
	struct mb_planned_send *plan;
	size_t n;
	(void)state;
	memset(&spec, 0, sizeof spec);
	spec.variants = variants;
	spec.n_variants = 3;
	spec.recipients = rcpts;
	spec.n_recipients = 2;
	spec.repeat = 2;
	spec.max_messages = 12;
	spec.primary.name = "pool-a";
	spec.alternate.name = "pool-b";
	assert_int_equal(mb_run_plan(&spec, &plan, &n, &err), 0);
	assert_int_equal(n, 12);
	/* round-robin: variants change fastest, repeats are spread over the whole run */
	assert_int_equal(plan[0].variant, MB_VARIANT_ORIGINAL);
	assert_int_equal(plan[1].variant, MB_VARIANT_PLAIN_TEXT);
	assert_int_equal(plan[2].variant, MB_VARIANT_ALTERNATE_POOL);
	assert_string_equal(plan[2].pool->name, "pool-b");
	assert_string_equal(plan[3].recipient, "b@victim.example");
	assert_int_equal(plan[6].variant, MB_VARIANT_ORIGINAL);
	assert_int_equal(plan[11].seq, 12);
	free(plan);

	spec.max_messages = 11;
	assert_int_equal(mb_run_plan(&spec, &plan, &n, &err), MB_ECONFIG);
	assert_non_null(strstr(err.message, "12 sends"));
}

/* A store written by schema version 1 (no facts, no bisect column) opens, is migrated to 3, keeps
 * its runs, and takes facts afterwards. The version-1 schema is written out here as it was. */
static void test_migrate_v1(void **state)
{
	static const char v1[] =
	    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	    "INSERT INTO meta VALUES ('schema_version', '1');"
	    "CREATE TABLE runs (id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE, name TEXT NOT "
	    "NULL, spec_path TEXT, spec_json TEXT NOT NULL, domain TEXT NOT NULL, status TEXT NOT "
	    "NULL, created_at TEXT NOT NULL, finished_at TEXT, verdict_json TEXT);"
	    "INSERT INTO runs VALUES (1, 'abcd0123', 'old', 'old.json', '{}', 'victim.example', "
	    "'finished', '2026-01-01T00:00:00+00:00', NULL, NULL);"
	    "CREATE TABLE sends (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES "
	    "runs(id),"
	    " seq INTEGER NOT NULL, key TEXT NOT NULL UNIQUE, variant TEXT NOT NULL, pool TEXT NOT "
	    "NULL, recipient TEXT NOT NULL, envelope_from TEXT NOT NULL, message_id TEXT NOT NULL,"
	    " factors INTEGER NOT NULL, phase INTEGER NOT NULL, state TEXT NOT NULL, stage TEXT,"
	    " smtp_code INTEGER, enhanced_status TEXT, diagnostic TEXT, remote_mta TEXT, source "
	    "TEXT, reason TEXT, fault TEXT, matched_by TEXT, relay TEXT, relay_reply TEXT, "
	    "queue_id "
	    "TEXT, planned_at TEXT NOT NULL, sent_at TEXT, resolved_at TEXT, UNIQUE (run_id, seq));"
	    "INSERT INTO sends (run_id, seq, key, variant, pool, recipient, envelope_from, "
	    "message_id, factors, phase, state, planned_at) VALUES (1, 1, 'abcd0123-1', "
	    "'original', "
	    "'pool-a', 'alice@victim.example', 'b@bounces.example', '<m@x.example>', 15, 2, "
	    "'bounced', '2026-01-01T00:00:00+00:00');";
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *s;
	struct mb_run_row row;
	sqlite3 *db;
	char *path = temp_db(), *slash;
	(void)state;

	/* temp_db names a file in a directory that does not exist yet */
	slash = strrchr(path, '/');
	*slash = '\0';
	{
		char *mid = strrchr(path, '/');
		*mid = '\0';
		assert_int_equal(mkdir(path, 0700), 0);
		*mid = '/';
	}
	assert_int_equal(mkdir(path, 0700), 0);
	*slash = '/';
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	if (mb_store_open(&s, path, &err))
		fail_msg("open of a version-1 store: %s", err.message);
	assert_int_equal(mb_store_run_get(s, 1, &row, &err), 0);
	assert_string_equal(row.name, "old");
	assert_null(row.facts_json);
	mb_store_run_row_clear(&row);
	{
		struct mb_send_row *sends;
		size_t n;
		assert_int_equal(mb_store_sends_list(s, 1, &sends, &n, &err), 0);
		assert_int_equal(n, 1);
		assert_string_equal(sends[0].variant, "original");
		assert_int_equal(sends[0].state, MB_STATE_BOUNCED);
		assert_null(sends[0].bisect);
		mb_store_send_rows_free(sends, n);
	}
	assert_int_equal(mb_store_run_set_facts(s, 1, "{\"from\":\"a@b.example\"}", &err), 0);
	assert_int_equal(mb_store_run_get(s, 1, &row, &err), 0);
	assert_string_equal(row.facts_json, "{\"from\":\"a@b.example\"}");
	mb_store_run_row_clear(&row);
	mb_store_close(s);

	/* reopening the migrated store is a no-op */
	if (mb_store_open(&s, path, &err))
		fail_msg("reopen: %s", err.message);
	mb_store_close(s);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_journal),          cmocka_unit_test(test_cursor),
	    cmocka_unit_test(test_unwritable),       cmocka_unit_test(test_envelope_sender),
	    cmocka_unit_test(test_plan_interleaved), cmocka_unit_test(test_migrate_v1),
	    cmocka_unit_test(test_open_existing),    cmocka_unit_test(test_pending_advice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
