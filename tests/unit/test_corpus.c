/* Whole-bounce reading: hostile input, one message of each kind, and accuracy on the shared
 * bounce corpus (corpus/expected.tsv): shares of right reasons, statuses, recipients and reply
 * codes, checked against the floor recorded in tests/corpus-floor.txt. The corpus folder comes from
 * argv[1], $MB_CORPUS_DIR or MB_SHARED_DIR/corpus; without it the test is skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailbisect/bounce.h"
#include "mailbisect/buf.h"
#include "mailbisect/file.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"

#define FLOOR_FILE    MB_SOURCE_DIR "/tests/corpus-floor.txt"
#define MAX_REASONS   64
#define MAX_GOT_SHOWN 4

static const char *corpus_dir;

/* One expected row of expected.tsv. */
struct row {
	char *path, *reason, *status, *replycode, *recipient, *feedback_type;
	long index;
};

struct score {
	size_t reason_right, reason_total;
	size_t status_right, status_total;
	size_t code_right, code_total;
	size_t recipient_right, recipient_total;
};

/* Misses per expected reason, with what was given instead. */
struct reason_misses {
	const char *reason;
	size_t total, missed;
	const char *got[MAX_GOT_SHOWN];
	size_t got_count[MAX_GOT_SHOWN];
};

struct table {
	struct reason_misses list[MAX_REASONS];
	size_t n;
};

static struct reason_misses *table_entry(struct table *t, const char *reason)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->list[i].reason, reason) == 0)
			return &t->list[i];
	if (t->n == MAX_REASONS)
		return NULL;
	memset(&t->list[t->n], 0, sizeof t->list[0]);
	t->list[t->n].reason = reason;
	return &t->list[t->n++];
}

static void table_add(struct table *t, const char *want, const char *got, bool right)
{
	struct reason_misses *e = table_entry(t, want);
	if (!e)
		return;
	e->total++;
	if (right)
		return;
	e->missed++;
	for (size_t i = 0; i < MAX_GOT_SHOWN; i++) {
		if (e->got[i] && strcmp(e->got[i], got) == 0) {
			e->got_count[i]++;
			return;
		}
		if (!e->got[i]) {
			e->got[i] = got;
			e->got_count[i] = 1;
			return;
		}
	}
}

/* Our two extra reasons scored in Sisimai's terms. */
static bool reason_equal(const char *want, const char *got)
{
	if (strcmp(want, got) == 0)
		return true;
	if (strcmp(got, "urlreputation") == 0)
		return strcmp(want, "spamdetected") == 0;
	if (strcmp(got, "domainreputation") == 0)
		return strcmp(want, "blocked") == 0 || strcmp(want, "badreputation") == 0 ||
		       strcmp(want, "rejected") == 0;
	return false;
}

/* "5.0.9xx", "4.0.9xx": the labeller's own codes for a bounce without a status (permanent
 * and temporary); no reader can find them in the text. */
static bool status_synthetic(const char *s)
{
	return (strncmp(s, "5.0.9", 5) == 0 || strncmp(s, "4.0.9", 5) == 0) && strlen(s) == 7;
}

static size_t split_tabs(char *line, char **cols, size_t n)
{
	size_t k = 0;
	cols[k++] = line;
	for (char *p = line; *p && k < n; p++)
		if (*p == '\t') {
			*p = '\0';
			cols[k++] = p + 1;
		}
	return k;
}

static size_t rows_read(char *text, struct row **out)
{
	struct row *rows = NULL;
	size_t n = 0;
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *cols[8];
		size_t k;
		long index;
		if (strncmp(line, "path\t", 5) == 0)
			continue;
		k = split_tabs(line, cols, 8);
		if (k < 6 || mb_str_to_long(cols[1], 1, 100000, &index))
			continue;
		rows = realloc(rows, (n + 1) * sizeof *rows);
		assert_non_null(rows);
		rows[n] = (struct row){cols[0], cols[2], cols[3],
		                       cols[4], cols[5], k > 7 ? mb_str_trim(cols[7]) : "",
		                       index};
		mb_str_trim(rows[n].recipient);
		n++;
	}
	*out = rows;
	return n;
}

/* The record the row is about: same recipient, else the same position. */
static const struct mb_bounce_record *record_for(const struct mb_bounce *b, const struct row *r)
{
	if (*r->recipient)
		for (size_t i = 0; i < b->n_records; i++)
			if (mb_str_ieq(b->records[i].recipient, r->recipient))
				return &b->records[i];
	return (size_t)r->index <= b->n_records ? &b->records[r->index - 1] : NULL;
}

static bool recipient_right(const struct mb_bounce *b, const struct row *r)
{
	if (!*r->recipient)
		return (size_t)r->index <= b->n_records;
	for (size_t i = 0; i < b->n_records; i++)
		if (mb_str_ieq(b->records[i].recipient, r->recipient))
			return true;
	return false;
}

static void score_row(const struct mb_bounce *b, const struct row *r, struct score *s,
                      struct table *t, bool verbose)
{
	const struct mb_bounce_record *rec = b ? record_for(b, r) : NULL;
	const char *got = rec ? rec->cls.reason : "(no record)";
	const char *status = rec && rec->status ? rec->status : "";
	char code[16] = "";
	bool right = reason_equal(r->reason, got);

	if (rec && rec->reply_code)
		snprintf(code, sizeof code, "%d", rec->reply_code);
	s->reason_total++;
	s->reason_right += right;
	table_add(t, r->reason, got, right);
	if (!status_synthetic(r->status)) {
		s->status_total++;
		s->status_right += strcmp(status, r->status) == 0;
	}
	if (*r->replycode) {
		s->code_total++;
		s->code_right += strcmp(code, r->replycode) == 0;
	}
	s->recipient_total++;
	s->recipient_right += b && recipient_right(b, r);
	if (verbose && (!right || (!status_synthetic(r->status) && strcmp(status, r->status)) ||
	                !(b && recipient_right(b, r))))
		print_message("miss %s #%ld: reason %s/%s status %s/%s rcpt %s/%s [%s] %.160s\n",
		              r->path, r->index, got, r->reason, status, r->status,
		              rec && rec->recipient ? rec->recipient : "-", r->recipient,
		              b && b->provider ? b->provider : "-",
		              rec && rec->diagnostic ? rec->diagnostic : "-");
}

static double share(size_t right, size_t total)
{
	return total ? 100.0 * (double)right / (double)total : 100.0;
}

/* Reads "name value" lines of the floor file; absent names have floor 0. */
static double floor_of(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '\t'))
			return strtod(p + n, NULL);
	return 0.0;
}

static void print_table(const struct table *t)
{
	print_message("%-18s %5s %6s  given instead\n", "expected reason", "rows", "missed");
	for (size_t i = 0; i < t->n; i++) {
		const struct reason_misses *e = &t->list[i];
		struct mb_buf got = MB_BUF_INIT;
		if (!e->missed)
			continue;
		for (size_t k = 0; k < MAX_GOT_SHOWN && e->got[k]; k++)
			assert_int_equal(
			    mb_buf_printf(&got, " %s(%zu)", e->got[k], e->got_count[k]), 0);
		print_message("%-18s %5zu %6zu %s\n", e->reason, e->total, e->missed,
		              got.data ? got.data : "");
		mb_buf_free(&got);
	}
}

static void test_corpus_accuracy(void **state)
{
	struct mb_buf tsv = MB_BUF_INIT, floors = MB_BUF_INIT, msg = MB_BUF_INIT;
	struct mb_err err = MB_ERR_INIT;
	struct score s = {0};
	struct table *t = calloc(1, sizeof *t);
	struct row *rows = NULL;
	char path[4096];
	bool verbose = getenv("MB_CORPUS_VERBOSE") != NULL;
	size_t n, i = 0, files = 0;
	(void)state;

	assert_non_null(t);
	snprintf(path, sizeof path, "%s/expected.tsv", corpus_dir);
	if (access(path, R_OK) != 0) {
		print_message("skipped: no bounce corpus at %s\n", corpus_dir);
		free(t);
		skip();
	}
	if (mb_file_read(path, 16u * 1024u * 1024u, &tsv, &err))
		fail_msg("%s", err.message);
	n = rows_read(tsv.data, &rows);
	assert_true(n > 0);
	while (i < n) {
		struct mb_bounce *b = NULL;
		size_t j = i;
		mb_buf_reset(&msg);
		snprintf(path, sizeof path, "%s/%s", corpus_dir, rows[i].path);
		if (mb_file_read(path, MB_MAX_MESSAGE_BYTES, &msg, &err))
			fail_msg("%s", err.message);
		if (mb_bounce_read(NULL, msg.data, msg.len, &b, &err))
			print_message("%s: %s\n", rows[i].path, err.message);
		files++;
		for (; j < n && strcmp(rows[j].path, rows[i].path) == 0; j++)
			score_row(b, &rows[j], &s, t, verbose);
		mb_bounce_free(b);
		i = j;
	}
	print_message("corpus: %zu bounces, %zu recipients\n", files, n);
	print_message("reason     %3zu/%3zu %5.1f%%\n", s.reason_right, s.reason_total,
	              share(s.reason_right, s.reason_total));
	print_message("status     %3zu/%3zu %5.1f%%\n", s.status_right, s.status_total,
	              share(s.status_right, s.status_total));
	print_message("recipient  %3zu/%3zu %5.1f%%\n", s.recipient_right, s.recipient_total,
	              share(s.recipient_right, s.recipient_total));
	print_message("replycode  %3zu/%3zu %5.1f%%\n", s.code_right, s.code_total,
	              share(s.code_right, s.code_total));
	print_table(t);

	if (mb_file_read(FLOOR_FILE, 64 * 1024, &floors, &err))
		fail_msg("%s", err.message);
	assert_true(share(s.reason_right, s.reason_total) >= floor_of(floors.data, "reason"));
	assert_true(share(s.status_right, s.status_total) >= floor_of(floors.data, "status"));
	assert_true(share(s.recipient_right, s.recipient_total) >=
	            floor_of(floors.data, "recipient"));
	assert_true(share(s.code_right, s.code_total) >= floor_of(floors.data, "replycode"));
	free(rows);
	free(t);
	mb_buf_free(&tsv);
	mb_buf_free(&floors);
	mb_buf_free(&msg);
}

/* ---- Hostile input: read within limits, no crash, reason undefined or a clear error --------- */

static void read_any(const char *data, size_t len)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_bounce *b = NULL;
	int rc = mb_bounce_read(NULL, data, len, &b, &err);

	if (rc) {
		assert_int_equal(rc, MB_EDATA);
		assert_true(err.message[0] != '\0');
		assert_null(b);
		return;
	}
	assert_non_null(b);
	assert_true(b->n_records <= MB_MAX_DSN_RECIPIENTS);
	for (size_t i = 0; i < b->n_records; i++) {
		assert_non_null(b->records[i].cls.reason);
		assert_true(!b->records[i].diagnostic ||
		            strlen(b->records[i].diagnostic) <= MB_MAX_DIAGNOSTIC_BYTES);
	}
	mb_bounce_free(b);
}

static void test_hostile_input(void **state)
{
	static const char truncated[] =
	    "From: MAILER-DAEMON@example.org\r\nSubject: Undelivered Mail\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n"
	    "--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@";
	static const char no_boundary[] =
	    "From: postmaster@example.org\nSubject: failure notice\n"
	    "Content-Type: multipart/report; report-type=delivery-status\n\n"
	    "Final-Recipient: rfc822; user@example.com\nAction: failed\nStatus: 5.1.1\n";
	struct mb_buf big = MB_BUF_INIT;
	struct mb_err err = MB_ERR_INIT;
	struct mb_bounce *b = NULL;
	char garbage[4096];
	(void)state;

	assert_int_equal(mb_bounce_read(NULL, "", 0, &b, &err), MB_EDATA);
	assert_null(b);
	read_any(truncated, sizeof truncated - 1);
	read_any(no_boundary, sizeof no_boundary - 1);
	for (size_t i = 0; i < sizeof garbage; i++)
		garbage[i] = (char)((i * 7919u + 13u) % 256u);
	read_any(garbage, sizeof garbage);

	/* 100-deep nesting */
	assert_int_equal(
	    mb_buf_puts(&big, "From: MAILER-DAEMON@example.org\nSubject: Undelivered\n"), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(mb_buf_printf(&big,
		                               "Content-Type: multipart/mixed; boundary=\"n%d\"\n\n"
		                               "--n%d\n",
		                               i, i),
		                 0);
	assert_int_equal(
	    mb_buf_puts(&big,
	                "Content-Type: text/plain\n\n<a@example.com>: 550 5.1.1 user unknown\n"),
	    0);
	read_any(big.data, big.len);

	/* a header line far over MB_MAX_LINE_BYTES, full of '@' */
	mb_buf_reset(&big);
	assert_int_equal(mb_buf_puts(&big, "From: MAILER-DAEMON@example.org\nSubject: "), 0);
	for (size_t i = 0; i < 2 * MB_MAX_LINE_BYTES; i++)
		assert_int_equal(mb_buf_putc(&big, i % 50 ? 'x' : '@'), 0);
	assert_int_equal(mb_buf_puts(&big, "\n\n<a@example.com>:\n550 mailbox full\n"), 0);
	read_any(big.data, big.len);
	mb_buf_free(&big);
}

/* A plain NDR, a DSN with a misleading code, an ARF report and an auto-reply. */
static void test_kinds(void **state)
{
	static const char ndr[] =
	    "From: MAILER-DAEMON@mx.example.org\n"
	    "Subject: failure notice\n\n"
	    "Hi. This is the qmail-send program at mx.example.org.\n\n"
	    "<user@example.com>:\n"
	    "192.0.2.1 does not like recipient.\n"
	    "Remote host said: 550-5.7.1 Mail from 192.0.2.9 refused: the IP is on\n"
	    "550 5.7.1 our block list\n"
	    "Giving up on 192.0.2.1.\n\n"
	    "--- Below this line is a copy of the message.\n\n"
	    "From: sender@example.net\nTo: other@example.com\n\nhello\n";
	static const char dsn[] =
	    "From: MAILER-DAEMON@example.org\nSubject: Undelivered Mail Returned to Sender\n"
	    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
	    "--b\nContent-Type: text/plain\n\nThis is the mail system at host example.org.\n\n"
	    "--b\nContent-Type: message/delivery-status\n\n"
	    "Reporting-MTA: dns; example.org\n\n"
	    "Final-Recipient: rfc822; user@example.com\nAction: failed\nStatus: 5.2.0\n"
	    "Diagnostic-Code: smtp; 550 5.2.0 Unauthenticated email is not accepted due to\n"
	    " the domain's DMARC policy\n\n--b--\n";
	static const char arf[] =
	    "From: fbl@example.net\nSubject: complaint\n"
	    "Content-Type: multipart/report; report-type=feedback-report; boundary=\"f\"\n\n"
	    "--f\nContent-Type: text/plain\n\nA complaint.\n\n"
	    "--f\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
	    "Original-Rcpt-To: user@example.com\n\n--f--\n";
	static const char vacation[] =
	    "From: Someone <someone@example.com>\n"
	    "Subject: Out of Office: hello\nAuto-Submitted: auto-replied\n\n"
	    "I am away until Monday.\n";
	struct mb_err err = MB_ERR_INIT;
	struct mb_bounce *b = NULL;
	(void)state;

	assert_int_equal(mb_bounce_read(NULL, ndr, sizeof ndr - 1, &b, &err), 0);
	assert_int_equal(b->kind, MB_BOUNCE_NDR);
	assert_int_equal(b->n_records, 1);
	assert_string_equal(b->records[0].recipient, "user@example.com");
	assert_string_equal(b->records[0].status, "5.7.1");
	assert_int_equal(b->records[0].reply_code, 550);
	assert_string_equal(b->records[0].cls.reason, "blocked");
	assert_int_equal(b->records[0].cls.fault, MB_FAULT_IP);
	assert_null(strstr(b->records[0].diagnostic, "550 5.7.1 our")); /* lines joined */
	mb_bounce_free(b);

	assert_int_equal(mb_bounce_read(NULL, dsn, sizeof dsn - 1, &b, &err), 0);
	assert_int_equal(b->kind, MB_BOUNCE_DSN);
	assert_int_equal(b->n_records, 1);
	assert_string_equal(b->records[0].cls.reason, "authfailure"); /* the text, not 5.2.0 */
	mb_bounce_free(b);

	assert_int_equal(mb_bounce_read(NULL, arf, sizeof arf - 1, &b, &err), 0);
	assert_int_equal(b->kind, MB_BOUNCE_FEEDBACK);
	assert_int_equal(b->n_records, 1);
	assert_string_equal(b->records[0].cls.reason, "feedback");
	assert_string_equal(b->records[0].feedback_type, "abuse");
	mb_bounce_free(b);

	assert_int_equal(mb_bounce_read(NULL, vacation, sizeof vacation - 1, &b, &err), 0);
	assert_int_equal(b->kind, MB_BOUNCE_AUTOREPLY);
	assert_int_equal(b->n_records, 1);
	assert_string_equal(b->records[0].cls.reason, "vacation");
	mb_bounce_free(b);
}

/* A notice in UTF-7, ISO-2022-JP or ISO-8859-1: plain ASCII text is read as it is, and text
 * that shifts ('+' in UTF-7, ESC in ISO-2022-JP) or has 8-bit bytes is converted. "+AKM-" is
 * U+00A3 (base64 of 0x00A3); JIS X 0208 0x3021 is U+4E9C; ISO-8859-1 0xA3 and 0xE9 are U+00A3
 * and U+00E9 (UTF-8 C2 A3 and C3 A9). */
static void test_notice_charsets(void **state)
{
	static const struct {
		const char *charset, *line, *diagnostic_holds;
	} cases[] = {
	    {"unicode-1-1-utf-7", "550 5.7.1 refused: the IP is on our list", "on our list"},
	    {"UTF-7", "550 5.7.1 refused: fee +AKM-5 unpaid",
	     "fee \xc2\xa3"
	     "5 unpaid"},
	    {"ISO-2022-JP", "550 5.7.1 refused: on our list ~ +1", "on our list ~ +1"},
	    {"ISO-2022-JP", "550 5.7.1 refused: \x1b$B0!\x1b(B listed",
	     "refused: \xe4\xba\x9c listed"},
	    {"iso-8859-1",
	     "550 5.7.1 refused: fee \xa3"
	     "5, caf\xe9",
	     "fee \xc2\xa3"
	     "5, caf\xc3\xa9"},
	    {"latin1", "550 5.7.1 refused: on our list", "on our list"},
	};
	struct mb_err err = MB_ERR_INIT;
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char msg[1024];
		struct mb_bounce *b = NULL;
		int n = snprintf(msg, sizeof msg,
		                 "From: MAILER-DAEMON@mx.example.org\nSubject: failure notice\n"
		                 "MIME-Version: 1.0\n"
		                 "Content-Type: text/plain; charset=\"%s\"\n\n"
		                 "Hi. This is the qmail-send program at mx.example.org.\n\n"
		                 "<user@example.com>:\n192.0.2.1 does not like recipient.\n"
		                 "Remote host said: %s\nGiving up on 192.0.2.1.\n",
		                 cases[i].charset, cases[i].line);
		assert_true(n > 0 && (size_t)n < sizeof msg);
		assert_int_equal(mb_bounce_read(NULL, msg, (size_t)n, &b, &err), 0);
		assert_int_equal(b->n_records, 1);
		assert_string_equal(b->records[0].recipient, "user@example.com");
		assert_non_null(b->records[0].diagnostic);
		if (!strstr(b->records[0].diagnostic, cases[i].diagnostic_holds))
			fail_msg("case %zu: diagnostic \"%s\" lacks \"%s\"", i,
			         b->records[0].diagnostic, cases[i].diagnostic_holds);
		mb_bounce_free(b);
	}
}

/* Amazon SES event notifications as an SNS e-mail subscription delivers them (the fields AWS
 * documents for Bounce, Complaint and Delivery events), bare or in the SNS envelope, and an
 * event naming more recipients than are read. */
static void test_ses_events(void **state)
{
	static const char head[] = "From: no-reply@sns.amazonaws.com\nSubject: AWS Notification "
	                           "Message\nContent-Type: text/plain; charset=UTF-8\n\n";
	static const char bounce[] =
	    "{\"notificationType\":\"Bounce\",\"bounce\":{\"bounceType\":\"Permanent\","
	    "\"bouncedRecipients\":[{\"emailAddress\":\"ann@example.com\",\"action\":\"failed\","
	    "\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 user unknown\"},"
	    "{\"emailAddress\":\"bob@example.com\",\"action\":\"failed\",\"status\":\"5.7.1\","
	    "\"diagnosticCode\":\"smtp; 554 5.7.1 Service unavailable; Client host [192.0.2.9] "
	    "blocked using zen.spamhaus.org\"}]},"
	    "\"mail\":{\"messageId\":\"0100018c-ses-id\"}}";
	static const char complaint[] =
	    "{\"Type\":\"Notification\",\"Message\":\"{\\\"notificationType\\\":\\\"Complaint\\\","
	    "\\\"complaint\\\":{\\\"complainedRecipients\\\":[{\\\"emailAddress\\\":"
	    "\\\"cy@example.com\\\"}],\\\"complaintFeedbackType\\\":\\\"abuse\\\"},"
	    "\\\"mail\\\":{\\\"messageId\\\":\\\"0100018c-ses-id2\\\"}}\"}";
	static const char delivery[] =
	    "{\"notificationType\":\"Delivery\",\"delivery\":{\"recipients\":[\"dee@example.com\"],"
	    "\"smtpResponse\":\"250 2.6.0 Message received\"},\"mail\":{\"messageId\":\"m3\"}}";
	struct mb_err err = MB_ERR_INIT;
	struct mb_buf msg = MB_BUF_INIT;
	struct mb_bounce *b = NULL;
	(void)state;

	assert_int_equal(mb_buf_puts(&msg, head) || mb_buf_puts(&msg, bounce), 0);
	assert_int_equal(mb_bounce_read(NULL, msg.data, msg.len, &b, &err), 0);
	assert_int_equal(b->kind, MB_BOUNCE_DSN);
	assert_string_equal(b->provider, "amazonses");
	assert_string_equal(b->original_message_id, "0100018c-ses-id");
	assert_int_equal(b->n_records, 2);
	assert_false(b->truncated);
	assert_string_equal(b->records[0].recipient, "ann@example.com");
	assert_string_equal(b->records[0].diagnostic, "550 5.1.1 user unknown");
	assert_int_equal(b->records[0].reply_code, 550);
	assert_string_equal(b->records[0].cls.reason, "userunknown");
	assert_string_equal(b->records[1].status, "5.7.1");
	assert_int_equal(b->records[1].cls.fault, MB_FAULT_IP);
	mb_bounce_free(b);

	mb_buf_reset(&msg);
	assert_int_equal(mb_buf_puts(&msg, head) || mb_buf_puts(&msg, complaint), 0);
	assert_int_equal(mb_bounce_read(NULL, msg.data, msg.len, &b, &err), 0);
	assert_int_equal(b->kind, MB_BOUNCE_FEEDBACK);
	assert_int_equal(b->n_records, 1);
	assert_string_equal(b->records[0].recipient, "cy@example.com");
	assert_string_equal(b->records[0].feedback_type, "abuse");
	assert_string_equal(b->records[0].cls.reason, "feedback");
	mb_bounce_free(b);

	mb_buf_reset(&msg);
	assert_int_equal(mb_buf_puts(&msg, head) || mb_buf_puts(&msg, delivery), 0);
	assert_int_equal(mb_bounce_read(NULL, msg.data, msg.len, &b, &err), 0);
	assert_int_equal(b->n_records, 1);
	assert_string_equal(b->records[0].status, "2.6.0");
	assert_int_equal(b->records[0].reply_code, 250);
	assert_string_equal(b->records[0].cls.reason, "delivered");
	mb_bounce_free(b);

	/* 4000 recipients, a notice larger than the text read of other notices: the first
	 * MB_MAX_DSN_RECIPIENTS are read, the rest left out (and said to be) */
	mb_buf_reset(&msg);
	msg.cap = 1 << 20;
	assert_int_equal(mb_buf_puts(&msg, head) ||
	                     mb_buf_puts(&msg, "{\"notificationType\":\"Bounce\",\"bounce\":"
	                                       "{\"bouncedRecipients\":["),
	                 0);
	for (int i = 0; i < 4000; i++)
		assert_int_equal(mb_buf_printf(&msg,
		                               "%s{\"emailAddress\":\"u%d@example.com\",\"action\":"
		                               "\"failed\",\"status\":\"5.1.1\"}",
		                               i ? "," : "", i),
		                 0);
	assert_int_equal(mb_buf_puts(&msg, "]}}"), 0);
	assert_int_equal(mb_bounce_read(NULL, msg.data, msg.len, &b, &err), 0);
	assert_int_equal(b->n_records, MB_MAX_DSN_RECIPIENTS);
	assert_true(b->truncated);
	assert_string_equal(b->records[MB_MAX_DSN_RECIPIENTS - 1].recipient, "u499@example.com");
	mb_bounce_free(b);
	mb_buf_free(&msg);
}

/* A plain-text notice (qmail) naming n recipients, or a delivery report listing n. */
static void many_recipients(struct mb_buf *msg, int n, bool report)
{
	mb_buf_reset(msg);
	msg->cap = 1 << 22;
	if (report)
		assert_int_equal(
		    mb_buf_puts(msg,
		                "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail\n"
		                "Content-Type: multipart/report; report-type=delivery-status; "
		                "boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nFailed.\n\n"
		                "--b\nContent-Type: message/delivery-status\n\n"
		                "Reporting-MTA: dns; mx.example.org\n"),
		    0);
	else
		assert_int_equal(
		    mb_buf_puts(msg,
		                "From: MAILER-DAEMON@mx.example.org\nSubject: failure notice\n\n"
		                "Hi. This is the qmail-send program at mx.example.org.\n\n"),
		    0);
	for (int i = 0; i < n; i++)
		assert_int_equal(
		    report
		        ? mb_buf_printf(
		              msg,
		              "\nFinal-Recipient: rfc822; u%d@example.com\nAction: failed\n"
		              "Status: 5.1.1\n",
		              i)
		        : mb_buf_printf(msg,
		                        "<u%d@example.com>:\n192.0.2.1 does not like recipient.\n"
		                        "Remote host said: 550 5.1.1 user unknown\n\n",
		                        i),
		    0);
	if (report)
		assert_int_equal(mb_buf_puts(msg, "\n--b--\n"), 0);
}

/* Every recipient up to the limit is read, from a report or a plain notice, and a bounce
 * naming more says so (truncated) instead of dropping the rest silently. */
static void test_recipient_limit(void **state)
{
	static const struct {
		int n;
		bool report;
	} cases[] = {{65, false},
	             {MB_MAX_DSN_RECIPIENTS, false},
	             {MB_MAX_DSN_RECIPIENTS + 1, false},
	             {MB_MAX_DSN_RECIPIENTS, true},
	             {MB_MAX_DSN_RECIPIENTS + 1, true}};
	struct mb_err err = MB_ERR_INIT;
	struct mb_buf msg = MB_BUF_INIT;
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_bounce *b = NULL;
		int n = cases[i].n, want = n > MB_MAX_DSN_RECIPIENTS ? MB_MAX_DSN_RECIPIENTS : n;
		char last[64];
		many_recipients(&msg, n, cases[i].report);
		if (mb_bounce_read(NULL, msg.data, msg.len, &b, &err))
			fail_msg("case %zu: %s", i, err.message);
		if ((int)b->n_records != want || b->truncated != (n > MB_MAX_DSN_RECIPIENTS))
			fail_msg("case %zu (%d recipients, %s): %zu records, truncated %d", i, n,
			         cases[i].report ? "report" : "notice", b->n_records, b->truncated);
		snprintf(last, sizeof last, "u%d@example.com", want - 1);
		assert_string_equal(b->records[want - 1].recipient, last);
		assert_string_equal(b->records[want - 1].cls.reason, "userunknown");
		mb_bounce_free(b);
	}
	mb_buf_free(&msg);
}

/* A reply read by the rules of the provider behind the recipient's domain, and a Sendmail
 * transcript whose session lines come before each recipient's result line. */
static void test_documented_decisions(void **state)
{
	static const char kddi[] =
	    "From: MAILER-DAEMON@example.org\nSubject: Undelivered Mail Returned to Sender\n"
	    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
	    "--b\nContent-Type: text/plain\n\nThis is the mail system at host example.org.\n\n"
	    "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; example.org\n\n"
	    "Final-Recipient: rfc822; a@ezweb.ne.jp\nAction: failed\nStatus: 5.0.0\n"
	    "Diagnostic-Code: smtp; 550 <a@ezweb.ne.jp>: User unknown\n\n"
	    "Final-Recipient: rfc822; b@ezweb.ne.jp\nAction: failed\nStatus: 5.0.0\n"
	    "Diagnostic-Code: smtp; 550 : User unknown\n\n--b--\n";
	static const char transcript[] =
	    "From: Mail Delivery Subsystem <MAILER-DAEMON@example.jp>\nTo: s@example.jp\n"
	    "Subject: Returned mail: Unable to deliver mail\n\n"
	    "   ----- Transcript of session follows -----\n"
	    "While talking to mx.example.edu:\n>>> MAIL From:<s@example.jp>\n"
	    "<<< 550 Insecure Mail Relay\n554 <a@example.edu>... Remote protocol error\n"
	    "550 example.org (smtp)... 550 Host unknown\n"
	    "554 <b@example.org>... 550 Host unknown (Authoritative answer from name server)\n\n"
	    "   ----- Unsent message follows -----\n\nhello\n";
	struct mb_err err = MB_ERR_INIT;
	struct mb_bounce *b = NULL;
	(void)state;

	assert_int_equal(mb_bounce_read(NULL, kddi, sizeof kddi - 1, &b, &err), 0);
	assert_int_equal(b->n_records, 2);
	assert_string_equal(b->records[0].cls.reason, "userunknown");
	assert_string_equal(b->records[1].cls.reason, "filtered");
	mb_bounce_free(b);

	assert_int_equal(mb_bounce_read(NULL, transcript, sizeof transcript - 1, &b, &err), 0);
	assert_int_equal(b->n_records, 2);
	assert_string_equal(b->records[0].recipient, "a@example.edu");
	assert_string_equal(b->records[0].cls.reason, "norelaying");
	assert_string_equal(b->records[1].recipient, "b@example.org");
	assert_string_equal(b->records[1].cls.reason, "hostunknown");
	mb_bounce_free(b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hostile_input),   cmocka_unit_test(test_kinds),
	    cmocka_unit_test(test_notice_charsets), cmocka_unit_test(test_documented_decisions),
	    cmocka_unit_test(test_ses_events),      cmocka_unit_test(test_recipient_limit),
	    cmocka_unit_test(test_corpus_accuracy),
	};
	corpus_dir = argc > 1 ? argv[1] : getenv("MB_CORPUS_DIR");
	if (!corpus_dir || !*corpus_dir)
		corpus_dir = MB_SHARED_DIR "/corpus";
	return cmocka_run_group_tests(tests, NULL, NULL);
}
