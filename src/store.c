/* SQLite store: schema, the send journal and run records. The only file that includes
 * sqlite3.h. Writes that belong together run in one transaction so the store is never left
 * half-written. */
#include "mailbisect/store.h"
#include "mailbisect/clock.h"
#include "mailbisect/file.h"
#include "mailbisect/str.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct mb_store {
	sqlite3 *db;
	char *path;
};

#define SCHEMA_VERSION 3

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS runs ("
    " id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
    " spec_path TEXT, spec_json TEXT NOT NULL, domain TEXT NOT NULL,"
    " status TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT, verdict_json TEXT,"
    " facts_json TEXT);"
    "CREATE TABLE IF NOT EXISTS sends ("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL,"
    " key TEXT NOT NULL UNIQUE, variant TEXT NOT NULL, pool TEXT NOT NULL,"
    " recipient TEXT NOT NULL, envelope_from TEXT NOT NULL, message_id TEXT NOT NULL,"
    " factors INTEGER NOT NULL, phase INTEGER NOT NULL, state TEXT NOT NULL, stage TEXT, smtp_code "
    "INTEGER,"
    " enhanced_status TEXT, diagnostic TEXT, remote_mta TEXT, source TEXT, reason TEXT,"
    " fault TEXT, matched_by TEXT, relay TEXT, relay_reply TEXT, queue_id TEXT,"
    " planned_at TEXT NOT NULL, sent_at TEXT, resolved_at TEXT, bisect TEXT,"
    " UNIQUE (run_id, seq));"
    "CREATE TABLE IF NOT EXISTS evidence ("
    " id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), send_id INTEGER,"
    " kind TEXT NOT NULL, received_at TEXT NOT NULL, body BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS mailbox_cursor ("
    " url TEXT NOT NULL, user TEXT NOT NULL, uidvalidity INTEGER NOT NULL,"
    " last_uid INTEGER NOT NULL, PRIMARY KEY (url, user));";

static int db_error(struct mb_store *store, struct mb_err *err, const char *what)
{
	return mb_err_set(err, MB_EIO, "%s: %s: %s", store->path, what, sqlite3_errmsg(store->db));
}

static void now_stamp(char *out, size_t size)
{
	mb_clock_rfc3339(time(NULL), out, size);
}

static int exec_sql(struct mb_store *store, const char *sql, struct mb_err *err)
{
	char *msg = NULL;
	if (sqlite3_exec(store->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		mb_err_set(err, MB_EIO, "%s: %s", store->path, msg ? msg : "SQL error");
		sqlite3_free(msg);
		return MB_EIO;
	}
	return 0;
}

static int prepare(struct mb_store *store, const char *sql, sqlite3_stmt **st, struct mb_err *err)
{
	if (sqlite3_prepare_v2(store->db, sql, -1, st, NULL) != SQLITE_OK)
		return db_error(store, err, "prepare");
	return 0;
}

/* Runs a prepared statement that returns no rows, then finalizes it. */
static int step_done(struct mb_store *store, sqlite3_stmt *st, struct mb_err *err)
{
	int rc = sqlite3_step(st);
	int ret = rc == SQLITE_DONE ? 0 : db_error(store, err, "write");
	sqlite3_finalize(st);
	return ret;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static char *column_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? strdup((const char *)s) : NULL;
}

/* True when table has column (a store created by a newer schema_sql already has it). */
static bool has_column(struct mb_store *store, const char *table, const char *column)
{
	sqlite3_stmt *st;
	bool found = false;
	if (sqlite3_prepare_v2(store->db, "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", -1,
	                       &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* Moves the schema from version `from` to from + 1 in one transaction. */
static int migrate(struct mb_store *store, int from, const char *table, const char *column,
                   const char *type, struct mb_err *err)
{
	char sql[256];
	int rc;
	if (has_column(store, table, column))
		snprintf(
		    sql, sizeof sql,
		    "BEGIN; UPDATE meta SET value = '%d' WHERE key = 'schema_version'; COMMIT;",
		    from + 1);
	else
		snprintf(sql, sizeof sql,
		         "BEGIN; ALTER TABLE %s ADD COLUMN %s %s;"
		         " UPDATE meta SET value = '%d' WHERE key = 'schema_version'; COMMIT;",
		         table, column, type, from + 1);
	if ((rc = exec_sql(store, sql, err)))
		exec_sql(store, "ROLLBACK", &(struct mb_err)MB_ERR_INIT);
	return rc;
}

static int check_schema(struct mb_store *store, struct mb_err *err)
{
	sqlite3_stmt *st;
	int version = 0, rc;

	rc = exec_sql(store, schema_sql, err);
	if (rc)
		return rc;
	if ((rc = prepare(store, "SELECT value FROM meta WHERE key = 'schema_version'", &st, err)))
		return rc;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version == 0)
		return exec_sql(
		    store,
		    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '3')", err);
	/* version 1 -> 2: the facts of the message under test, for tickets */
	if (version == 1 && !(rc = migrate(store, 1, "runs", "facts_json", "TEXT", err)))
		version = 2;
	/* version 2 -> 3: the link-domain bisection step of a send */
	if (version == 2 && !(rc = migrate(store, 2, "sends", "bisect", "TEXT", err)))
		version = 3;
	if (rc)
		return rc;
	if (version != SCHEMA_VERSION)
		return mb_err_set(err, MB_ECONFIG,
		                  "%s: store schema version %d is not supported (want %d)",
		                  store->path, version, SCHEMA_VERSION);
	return 0;
}

static int ensure_parent_dir(const char *path, struct mb_err *err)
{
	char *copy = strdup(path);
	char *slash;
	int rc = 0;

	if (!copy)
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	slash = strrchr(copy, '/');
	if (slash && slash != copy) {
		*slash = '\0';
		rc = mb_file_mkdirs(copy, err);
	}
	free(copy);
	return rc;
}

/* create: make the file and its directory when missing; else a missing file is MB_ENOINPUT,
 * so that a mistyped path is reported instead of becoming a new, empty store. */
/* The database holds mailbisect's runs table: a store, not another program's database. */
static bool is_store(struct mb_store *store)
{
	sqlite3_stmt *st = NULL;
	bool found = false;
	if (sqlite3_prepare_v2(store->db,
	                       "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'",
	                       -1, &st, NULL) == SQLITE_OK)
		found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

static int store_open(struct mb_store **out, const char *path, bool create, struct mb_err *err)
{
	struct mb_store *store;
	struct stat st;
	int rc;

	*out = NULL;
	/* SQLite would open "" as a temporary database that is thrown away */
	if (!path || !*path)
		return mb_err_set(err, MB_EUSAGE, "no store file given");
	if (!create && stat(path, &st) != 0)
		return mb_err_set(err, MB_ENOINPUT, "no store at %s: %s", path,
		                  errno == ENOENT ? "a run creates it; check the --db path"
		                                  : strerror(errno));
	if (!create && S_ISDIR(st.st_mode))
		return mb_err_set(err, MB_ENOINPUT,
		                  "%s: is a directory, not a store; check the --db path", path);
	if (!create && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return mb_err_set(err, MB_ENOINPUT, "%s: not a regular file, not a store", path);
	if (!create && S_ISREG(st.st_mode) && st.st_size == 0)
		return mb_err_set(err, MB_EDATA, "%s: an empty file, not a mailbisect store", path);
	if (create && (rc = ensure_parent_dir(path, err)))
		return rc;
	store = calloc(1, sizeof *store);
	if (!store || !(store->path = strdup(path))) {
		free(store);
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	if (sqlite3_open_v2(path, &store->db,
	                    SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0),
	                    NULL) != SQLITE_OK) {
		rc = mb_err_set(err, MB_EIO, "%s: cannot open store: %s", path,
		                store->db ? sqlite3_errmsg(store->db) : "out of memory");
		mb_store_close(store);
		return rc;
	}
	sqlite3_busy_timeout(store->db, 5000);
	/* before anything is written (the journal mode is), a file to read must be a store */
	rc = 0;
	if (!create && !is_store(store))
		rc = mb_err_set(err, MB_EDATA, "%s: not a mailbisect store (%s)", path,
		                sqlite3_errcode(store->db) == SQLITE_NOTADB
		                    ? "not an SQLite database"
		                    : "an SQLite database without its runs");
	if (!rc)
		rc = exec_sql(store, "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;", err);
	if (rc == MB_EIO && sqlite3_errcode(store->db) == SQLITE_NOTADB)
		rc = mb_err_set(err, MB_EDATA,
		                "%s: not a mailbisect store (not an SQLite database)", path);
	if (!rc)
		rc = check_schema(store, err);
	if (rc) {
		mb_store_close(store);
		return rc;
	}
	*out = store;
	return 0;
}

int mb_store_open(struct mb_store **out, const char *path, struct mb_err *err)
{
	return store_open(out, path, true, err);
}

int mb_store_open_existing(struct mb_store **out, const char *path, struct mb_err *err)
{
	return store_open(out, path, false, err);
}

void mb_store_close(struct mb_store *store)
{
	if (!store)
		return;
	sqlite3_close(store->db);
	free(store->path);
	free(store);
}

char *mb_store_default_path(void)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	struct mb_buf buf = MB_BUF_INIT;

	if (state && state[0] == '/')
		mb_buf_printf(&buf, "%s/mailbisect/mailbisect.db", state);
	else if (home && home[0] == '/')
		mb_buf_printf(&buf, "%s/.local/state/mailbisect/mailbisect.db", home);
	else
		mb_buf_puts(&buf, "mailbisect.db");
	return mb_buf_steal(&buf);
}

int mb_store_meta_get(struct mb_store *store, const char *key, char **value, struct mb_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*value = NULL;
	if ((rc = prepare(store, "SELECT value FROM meta WHERE key = ?", &st, err)))
		return rc;
	bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && !(*value = column_text(st, 0))) {
		sqlite3_finalize(st);
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(store, err, "read");
}

int mb_store_meta_set(struct mb_store *store, const char *key, const char *value,
                      struct mb_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(store,
	                  value ? "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"
	                        : "DELETE FROM meta WHERE key = ?",
	                  &st, err)))
		return rc;
	bind_text(st, 1, key);
	if (value)
		bind_text(st, 2, value);
	return step_done(store, st, err);
}

int mb_store_begin(struct mb_store *store, struct mb_err *err)
{
	return exec_sql(store, "BEGIN IMMEDIATE", err);
}

int mb_store_commit(struct mb_store *store, struct mb_err *err)
{
	return exec_sql(store, "COMMIT", err);
}

void mb_store_rollback(struct mb_store *store)
{
	sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
}

/* 8 random hex digits from the kernel: keys stay unique across stores sharing a mailbox. */
static int random_token(char out[17])
{
	unsigned char bytes[4];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, bytes, sizeof bytes) : -1;
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof bytes)
		return -1;
	snprintf(out, 17, "%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3]);
	return 0;
}

int mb_store_run_create(struct mb_store *store, const char *name, const char *spec_path,
                        const char *spec_json, const char *domain, int64_t *run_id, char **token,
                        struct mb_err *err)
{
	sqlite3_stmt *st;
	char stamp[40], tok[17];
	int rc;

	if (random_token(tok))
		return mb_err_set(err, MB_EIO, "cannot read /dev/urandom");
	now_stamp(stamp, sizeof stamp);
	if ((rc = prepare(store,
	                  "INSERT INTO runs (token, name, spec_path, spec_json, domain, status, "
	                  "created_at) VALUES (?, ?, ?, ?, ?, 'running', ?)",
	                  &st, err)))
		return rc;
	bind_text(st, 1, tok);
	bind_text(st, 2, name);
	bind_text(st, 3, spec_path);
	bind_text(st, 4, spec_json);
	bind_text(st, 5, domain);
	bind_text(st, 6, stamp);
	if ((rc = step_done(store, st, err)))
		return rc;
	*run_id = sqlite3_last_insert_rowid(store->db);
	*token = strdup(tok);
	return *token ? 0 : mb_err_set(err, MB_ENOMEM, "out of memory");
}

int mb_store_run_set_facts(struct mb_store *store, int64_t run_id, const char *facts_json,
                           struct mb_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(store, "UPDATE runs SET facts_json = ? WHERE id = ?", &st, err)))
		return rc;
	bind_text(st, 1, facts_json);
	sqlite3_bind_int64(st, 2, run_id);
	return step_done(store, st, err);
}

int mb_store_run_finish(struct mb_store *store, int64_t run_id, const char *status,
                        const char *verdict_json, struct mb_err *err)
{
	sqlite3_stmt *st;
	char stamp[40];
	int rc;

	now_stamp(stamp, sizeof stamp);
	if ((rc = prepare(
	         store,
	         "UPDATE runs SET status = ?, finished_at = ?, verdict_json = ? WHERE id = ?", &st,
	         err)))
		return rc;
	bind_text(st, 1, status);
	bind_text(st, 2, stamp);
	bind_text(st, 3, verdict_json);
	sqlite3_bind_int64(st, 4, run_id);
	return step_done(store, st, err);
}

#define RUN_COLUMNS                                                                                \
	"SELECT id, token, name, spec_path, spec_json, domain, status, created_at,"                \
	" finished_at, verdict_json, facts_json FROM runs "

static void read_run_row(sqlite3_stmt *st, struct mb_run_row *row)
{
	row->id = sqlite3_column_int64(st, 0);
	row->token = column_text(st, 1);
	row->name = column_text(st, 2);
	row->spec_path = column_text(st, 3);
	row->spec_json = column_text(st, 4);
	row->domain = column_text(st, 5);
	row->status = column_text(st, 6);
	row->created_at = column_text(st, 7);
	row->finished_at = column_text(st, 8);
	row->verdict_json = column_text(st, 9);
	row->facts_json = column_text(st, 10);
}

int mb_store_run_get(struct mb_store *store, int64_t run_id, struct mb_run_row *row,
                     struct mb_err *err)
{
	sqlite3_stmt *st;
	int rc;

	memset(row, 0, sizeof *row);
	if ((rc = prepare(store, RUN_COLUMNS "WHERE id = ?", &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, run_id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return rc == SQLITE_DONE ? mb_err_set(err, MB_ENOINPUT, "%s: no run %lld",
		                                      store->path, (long long)run_id)
		                         : db_error(store, err, "read");
	}
	read_run_row(st, row);
	sqlite3_finalize(st);
	return 0;
}

int mb_store_runs_list(struct mb_store *store, int limit, struct mb_run_row **rows, size_t *n,
                       struct mb_err *err)
{
	sqlite3_stmt *st;
	struct mb_run_row *list;
	size_t count = 0;
	int rc;

	*rows = NULL;
	*n = 0;
	if (limit <= 0)
		return 0;
	list = calloc((size_t)limit, sizeof *list);
	if (!list)
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	if ((rc = prepare(store, RUN_COLUMNS "ORDER BY id DESC LIMIT ?", &st, err))) {
		free(list);
		return rc;
	}
	sqlite3_bind_int(st, 1, limit);
	while (count < (size_t)limit && (rc = sqlite3_step(st)) == SQLITE_ROW)
		read_run_row(st, &list[count++]);
	sqlite3_finalize(st);
	*rows = list;
	*n = count;
	return 0;
}

void mb_store_run_rows_free(struct mb_run_row *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		mb_store_run_row_clear(&rows[i]);
	free(rows);
}

void mb_store_run_row_clear(struct mb_run_row *row)
{
	free(row->token);
	free(row->name);
	free(row->spec_path);
	free(row->spec_json);
	free(row->domain);
	free(row->status);
	free(row->created_at);
	free(row->finished_at);
	free(row->verdict_json);
	free(row->facts_json);
	memset(row, 0, sizeof *row);
}

int mb_store_send_plan(struct mb_store *store, const struct mb_send_row *send, int64_t *send_id,
                       struct mb_err *err)
{
	sqlite3_stmt *st;
	char stamp[40];
	int rc;

	now_stamp(stamp, sizeof stamp);
	if ((rc = prepare(store,
	                  "INSERT INTO sends (run_id, seq, key, variant, pool, recipient,"
	                  " envelope_from, message_id, factors, phase, state, planned_at, bisect)"
	                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
	                  &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, send->run_id);
	sqlite3_bind_int(st, 2, send->seq);
	bind_text(st, 3, send->key);
	bind_text(st, 4, send->variant);
	bind_text(st, 5, send->pool);
	bind_text(st, 6, send->recipient);
	bind_text(st, 7, send->envelope_from);
	bind_text(st, 8, send->message_id);
	sqlite3_bind_int(st, 9, (int)send->factors);
	sqlite3_bind_int(st, 10, MB_PHASE_PLANNED);
	bind_text(st, 11, stamp);
	bind_text(st, 12, send->bisect);
	if ((rc = step_done(store, st, err)))
		return rc;
	*send_id = sqlite3_last_insert_rowid(store->db);
	return 0;
}

int mb_store_send_set_phase(struct mb_store *store, int64_t send_id, enum mb_phase phase,
                            struct mb_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(store, "UPDATE sends SET phase = ? WHERE id = ?", &st, err)))
		return rc;
	sqlite3_bind_int(st, 1, phase);
	sqlite3_bind_int64(st, 2, send_id);
	return step_done(store, st, err);
}

int mb_store_send_submitted(struct mb_store *store, int64_t send_id, enum mb_state state,
                            enum mb_stage stage, int code, const char *enhanced, const char *text,
                            const char *relay, const char *queue_id, struct mb_err *err)
{
	sqlite3_stmt *st;
	char stamp[40];
	int rc;
	/* A refusal by our own relay is final here: copy the relay's reply into the outcome. */
	int final = mb_state_is_final(state);

	now_stamp(stamp, sizeof stamp);
	if ((rc = prepare(
	         store,
	         "UPDATE sends SET phase = ?, state = ?, sent_at = ?, relay = ?,"
	         " relay_reply = ?, queue_id = ?, stage = CASE WHEN ? THEN ? ELSE stage END,"
	         " smtp_code = CASE WHEN ? THEN ? ELSE smtp_code END,"
	         " enhanced_status = CASE WHEN ? THEN ? ELSE enhanced_status END,"
	         " diagnostic = CASE WHEN ? THEN ? ELSE diagnostic END,"
	         " source = CASE WHEN ? THEN 'smtp' ELSE source END,"
	         " resolved_at = CASE WHEN ? THEN ? ELSE resolved_at END WHERE id = ?",
	         &st, err)))
		return rc;
	sqlite3_bind_int(st, 1, MB_PHASE_SUBMITTED);
	bind_text(st, 2, mb_state_name(state));
	bind_text(st, 3, stamp);
	bind_text(st, 4, relay);
	bind_text(st, 5, text);
	bind_text(st, 6, queue_id);
	sqlite3_bind_int(st, 7, final);
	bind_text(st, 8, mb_stage_name(stage));
	sqlite3_bind_int(st, 9, final);
	sqlite3_bind_int(st, 10, code);
	sqlite3_bind_int(st, 11, final);
	bind_text(st, 12, enhanced && *enhanced ? enhanced : NULL);
	sqlite3_bind_int(st, 13, final);
	bind_text(st, 14, text);
	sqlite3_bind_int(st, 15, final);
	sqlite3_bind_int(st, 16, final);
	bind_text(st, 17, stamp);
	sqlite3_bind_int64(st, 18, send_id);
	return step_done(store, st, err);
}

int mb_store_send_resolve(struct mb_store *store, const struct mb_send_row *o, struct mb_err *err)
{
	sqlite3_stmt *st;
	char stamp[40];
	int rc;

	now_stamp(stamp, sizeof stamp);
	if ((rc = prepare(
	         store,
	         "UPDATE sends SET state = ?, stage = ?, smtp_code = ?, enhanced_status = ?,"
	         " diagnostic = ?, remote_mta = ?, source = ?, reason = ?, fault = ?,"
	         " matched_by = ?, resolved_at = ? WHERE id = ?",
	         &st, err)))
		return rc;
	bind_text(st, 1, mb_state_name(o->state));
	bind_text(st, 2, mb_stage_name(o->stage));
	sqlite3_bind_int(st, 3, o->smtp_code);
	bind_text(st, 4, o->enhanced_status);
	bind_text(st, 5, o->diagnostic);
	bind_text(st, 6, o->remote_mta);
	bind_text(st, 7, mb_source_name(o->source));
	bind_text(st, 8, o->reason);
	bind_text(st, 9, o->reason ? mb_fault_name(o->fault) : NULL);
	bind_text(st, 10, o->matched_by);
	bind_text(st, 11, stamp);
	sqlite3_bind_int64(st, 12, o->id);
	return step_done(store, st, err);
}

static void read_send_row(sqlite3_stmt *st, struct mb_send_row *r)
{
	char *s;
	r->id = sqlite3_column_int64(st, 0);
	r->run_id = sqlite3_column_int64(st, 1);
	r->seq = sqlite3_column_int(st, 2);
	r->key = column_text(st, 3);
	r->variant = column_text(st, 4);
	r->pool = column_text(st, 5);
	r->recipient = column_text(st, 6);
	r->envelope_from = column_text(st, 7);
	r->message_id = column_text(st, 8);
	r->phase = (enum mb_phase)sqlite3_column_int(st, 9);
	if ((s = column_text(st, 10)) && mb_state_from_name(s, &r->state))
		r->state = MB_STATE_PENDING;
	free(s);
	if ((s = column_text(st, 11)) && mb_stage_from_name(s, &r->stage))
		r->stage = MB_STAGE_UNKNOWN;
	free(s);
	r->smtp_code = sqlite3_column_int(st, 12);
	r->enhanced_status = column_text(st, 13);
	r->diagnostic = column_text(st, 14);
	r->remote_mta = column_text(st, 15);
	s = column_text(st, 16);
	r->source = MB_SOURCE_NONE;
	for (int i = 0; s && i < MB_SOURCE_COUNT; i++)
		if (strcmp(s, mb_source_name((enum mb_source)i)) == 0)
			r->source = (enum mb_source)i;
	free(s);
	r->reason = column_text(st, 17);
	if ((s = column_text(st, 18)) && mb_fault_from_name(s, &r->fault))
		r->fault = MB_FAULT_UNKNOWN;
	free(s);
	r->matched_by = column_text(st, 19);
	r->relay = column_text(st, 20);
	r->relay_reply = column_text(st, 21);
	r->queue_id = column_text(st, 22);
	r->planned_at = column_text(st, 23);
	r->sent_at = column_text(st, 24);
	r->resolved_at = column_text(st, 25);
	r->factors = (unsigned)sqlite3_column_int(st, 26);
	r->bisect = column_text(st, 27);
}

#define SEND_COLUMNS                                                                               \
	"SELECT id, run_id, seq, key, variant, pool, recipient, envelope_from,"                    \
	" message_id, phase, state, stage, smtp_code, enhanced_status, diagnostic,"                \
	" remote_mta, source, reason, fault, matched_by, relay, relay_reply,"                      \
	" queue_id, planned_at, sent_at, resolved_at, factors, bisect FROM sends "

/* Reads every row of a prepared send query (finalizes it). */
static int read_send_rows(struct mb_store *store, sqlite3_stmt *st, struct mb_send_row **rows,
                          size_t *n, struct mb_err *err)
{
	struct mb_send_row *list = NULL;
	size_t count = 0, alloc = 0;
	int rc;

	*rows = NULL;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == alloc) {
			size_t next = alloc ? alloc * 2 : 16;
			struct mb_send_row *grown = realloc(list, next * sizeof *list);
			if (!grown) {
				sqlite3_finalize(st);
				mb_store_send_rows_free(list, count);
				return mb_err_set(err, MB_ENOMEM, "out of memory");
			}
			list = grown;
			alloc = next;
		}
		memset(&list[count], 0, sizeof list[count]);
		read_send_row(st, &list[count++]);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		mb_store_send_rows_free(list, count);
		return db_error(store, err, "read");
	}
	*rows = list;
	*n = count;
	return 0;
}

int mb_store_sends_list(struct mb_store *store, int64_t run_id, struct mb_send_row **rows,
                        size_t *n, struct mb_err *err)
{
	sqlite3_stmt *st;
	int rc = prepare(store, SEND_COLUMNS "WHERE run_id = ? ORDER BY seq", &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, run_id);
	return read_send_rows(store, st, rows, n, err);
}

int mb_store_sends_open(struct mb_store *store, struct mb_send_row **rows, size_t *n,
                        struct mb_err *err)
{
	sqlite3_stmt *st;
	int rc = prepare(store,
	                 SEND_COLUMNS "WHERE state IN ('pending', 'deferred')"
	                              " OR (state = 'accepted' AND source = 'window') ORDER BY id",
	                 &st, err);
	if (rc)
		return rc;
	return read_send_rows(store, st, rows, n, err);
}

static void send_row_clear(struct mb_send_row *r)
{
	free(r->key);
	free(r->variant);
	free(r->pool);
	free(r->recipient);
	free(r->envelope_from);
	free(r->message_id);
	free(r->enhanced_status);
	free(r->diagnostic);
	free(r->remote_mta);
	free(r->reason);
	free(r->matched_by);
	free(r->relay);
	free(r->relay_reply);
	free(r->queue_id);
	free(r->planned_at);
	free(r->sent_at);
	free(r->resolved_at);
	free(r->bisect);
}

void mb_store_send_rows_free(struct mb_send_row *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		send_row_clear(&rows[i]);
	free(rows);
}

int mb_store_evidence_add(struct mb_store *store, int64_t run_id, int64_t send_id, const char *kind,
                          const char *data, size_t len, struct mb_err *err)
{
	sqlite3_stmt *st;
	char stamp[40];
	int rc;

	now_stamp(stamp, sizeof stamp);
	if ((rc = prepare(store,
	                  "INSERT INTO evidence (run_id, send_id, kind, received_at, body)"
	                  " VALUES (?, ?, ?, ?, ?)",
	                  &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, run_id);
	if (send_id)
		sqlite3_bind_int64(st, 2, send_id);
	else
		sqlite3_bind_null(st, 2);
	bind_text(st, 3, kind);
	bind_text(st, 4, stamp);
	sqlite3_bind_blob(st, 5, data, (int)len, SQLITE_TRANSIENT);
	return step_done(store, st, err);
}

int mb_store_cursor_get(struct mb_store *store, const char *url, const char *user,
                        uint32_t *uidvalidity, uint32_t *last_uid, struct mb_err *err)
{
	sqlite3_stmt *st;
	int rc;

	*uidvalidity = 0;
	*last_uid = 0;
	if ((rc = prepare(
	         store,
	         "SELECT uidvalidity, last_uid FROM mailbox_cursor WHERE url = ? AND user = ?", &st,
	         err)))
		return rc;
	bind_text(st, 1, url);
	bind_text(st, 2, user);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*uidvalidity = (uint32_t)sqlite3_column_int64(st, 0);
		*last_uid = (uint32_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return 0;
}

int mb_store_cursor_set(struct mb_store *store, const char *url, const char *user,
                        uint32_t uidvalidity, uint32_t last_uid, struct mb_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(store,
	                  "INSERT OR REPLACE INTO mailbox_cursor (url, user, uidvalidity, last_uid)"
	                  " VALUES (?, ?, ?, ?)",
	                  &st, err)))
		return rc;
	bind_text(st, 1, url);
	bind_text(st, 2, user);
	sqlite3_bind_int64(st, 3, uidvalidity);
	sqlite3_bind_int64(st, 4, last_uid);
	return step_done(store, st, err);
}
