/* Unit tests of DSN reading: hand-written reports (tests/fixtures/dsn) in LF and CRLF, hostile
 * and truncated input, the ENVID / Message-ID / VERP matcher, and the shared bounce corpus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailbisect/buf.h"
#include "mailbisect/dsn.h"
#include "mailbisect/file.h"
#include "mailbisect/limits.h"

#define N(a)     (sizeof(a) / sizeof((a)[0]))
#define FIXTURES MB_SOURCE_DIR "/tests/fixtures/dsn/"

static void read_fixture(const char *name, struct mb_buf *out)
{
	struct mb_err err = MB_ERR_INIT;
	char path[512];
	snprintf(path, sizeof path, FIXTURES "%s", name);
	if (mb_file_read(path, MB_MAX_MESSAGE_BYTES, out, &err))
		fail_msg("%s", err.message);
}

static struct mb_dsn *parse_ok(const char *data, size_t len)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_dsn *dsn = NULL;
	int rc = mb_dsn_parse(data, len, &dsn, &err);
	if (rc)
		fail_msg("mb_dsn_parse: got %d (%s), want 0", rc, err.message);
	assert_non_null(dsn);
	return dsn;
}

static struct mb_dsn *parse_fixture(const char *name)
{
	struct mb_buf b = MB_BUF_INIT;
	struct mb_dsn *dsn;
	read_fixture(name, &b);
	dsn = parse_ok(b.data, b.len);
	mb_buf_free(&b);
	return dsn;
}

static void want_str(const char *what, const char *got, const char *want)
{
	if ((got == NULL) != (want == NULL) || (got && want && strcmp(got, want) != 0))
		fail_msg("%s: got \"%s\", want \"%s\"", what, got ? got : "(null)",
		         want ? want : "(null)");
}

/* What a fixture says, read off the file by hand. */
struct want_recipient {
	const char *final, *original, *action, *status, *diagnostic_type, *diagnostic;
	const char *remote_mta;
	int reply_code;
	enum mb_stage stage;
};

struct want_report {
	const char *file;
	const char *envid, *reporting_mta, *original_message_id, *delivered_to, *message_id;
	size_t n;
	struct want_recipient r[3];
};

static const struct want_report reports[] = {
    {"postfix-failure-folded.eml",
     "r1s3",
     "esp.example",
     "<r1s3.1701633598@Sender.Example>",
     "bounces+r1s3@bounces.sender.example",
     "<20231203200000.5B1C2200A2@esp.example>",
     1,
     {{"alice@mail.recipient.example", "alice@mail.recipient.example", "failed", "5.7.1", "smtp",
       /* five folded lines joined with one space each; the 550-5.7.1 prefixes stay */
       "550-5.7.1 [198.51.100.47 1] Our system has detected an unusual rate of 550-5.7.1 "
       "unsolicited mail originating from your IP address. To protect our 550-5.7.1 users "
       "from spam, mail sent from your IP address has been blocked. 550 5.7.1 Please visit "
       "https://support.example/mail/?p=UnsolicitedIPError k33si11162128pld.22 - gsmtp",
       "mx.recipient.example", 550, MB_STAGE_DATA}}},
    {"postfix-success.eml",
     "r4s2",
     "receiver.example",
     "<r4s2.1701634199@sender.example>",
     "bounces+r4s2@bounces.sender.example",
     "<20231203201000.7C1D1200B1@receiver.example>",
     2,
     {{"carol@recipient.example", "carol@recipient.example", "delivered", "2.0.0", NULL, NULL, NULL,
       0, MB_STAGE_UNKNOWN},
      {"dave@recipient.example", "dave@recipient.example", "relayed", "2.0.0", "smtp",
       "250 2.0.0 Ok: queued as 7D3A1200B4", "relay.recipient.example", 250, MB_STAGE_UNKNOWN}}},
    /* the notification's paragraphs come in another order than the status groups */
    {"postfix-multi-stage.eml",
     NULL,
     "esp.example",
     "<r2s1.1701634798@sender.example>",
     "bounces+r2s1@bounces.sender.example",
     "<20231203202000.1F2E3D4C5B@esp.example>",
     3,
     {{"nobody@victim.example", "nobody@victim.example", "failed", "5.1.1", "smtp",
       "550 5.1.1 <nobody@victim.example>: Recipient address rejected: User unknown",
       "mx.victim.example", 550, MB_STAGE_RCPT},
      {"dave@other.example", "dave-alias@victim.example", "failed", "5.7.1", "smtp",
       "553 5.7.1 <bounces+r2s1@bounces.sender.example>: Sender address rejected: not "
       "accepted here",
       "mx.other.example", 553, MB_STAGE_MAIL},
      {"carol@victim.example", "carol@victim.example", "failed", "5.7.1", "smtp",
       "554 5.7.1 Email rejected due to security policies", "mx.victim.example", 554,
       MB_STAGE_DATA}}},
    /* RFC 6533: UTF-8 fields, a unitext address, returned message/global-headers */
    {"rfc6533-global.eml",
     "r3s1",
     "esp.example",
     "<r3s1.1701635398@sender.example>",
     "bounces+r3s1@bounces.sender.example",
     "<global-1@esp.example>",
     1,
     {{"\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example",
       "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example", "failed", "5.1.1", "smtp",
       "550 5.1.1 \xe7\x94\xa8\xe6\x88\xb7\xe4\xb8\x8d\xe5\xad\x98\xe5\x9c\xa8 (user does not "
       "exist)",
       "mx.\xe4\xbe\x8b\xe5\xad\x90.example", 550, MB_STAGE_RCPT}}},
    /* delivery status labelled text/plain; delivered_to from a To with a display name */
    {"text-plain-status.eml",
     NULL,
     "relay.example",
     "<r5s1.1701636000@sender.example>",
     "bounces+r5s1@bounces.sender.example",
     "<ndr-77@relay.example>",
     1,
     {{"erin@recipient.example", NULL, "failed", "5.2.2", "smtp", "552 5.2.2 Mailbox full", NULL,
       552, MB_STAGE_UNKNOWN}}},
    /* base64-encoded status part with CRLF inside; an X-Postfix diagnostic has no code */
    {"base64-status-delayed.eml",
     "r6s1",
     "esp.example",
     NULL,
     "bounces+r6s1@bounces.sender.example",
     "<delay-3@esp.example>",
     1,
     {{"frank@recipient.example", NULL, "delayed", "4.4.1", "x-postfix",
       "connect to mx.recipient.example[192.0.2.30]:25: Connection timed out", NULL, 0,
       MB_STAGE_UNKNOWN}}},
};

static void check_report(const struct want_report *w, const struct mb_dsn *d, const char *how)
{
	char what[256];
	print_message("%s (%s)\n", w->file, how);
	assert_true(d->is_report);
	want_str("envid", d->envid, w->envid);
	want_str("reporting_mta", d->reporting_mta, w->reporting_mta);
	want_str("original_message_id", d->original_message_id, w->original_message_id);
	want_str("delivered_to", d->delivered_to, w->delivered_to);
	want_str("message_id", d->message_id, w->message_id);
	if (d->n_recipients != w->n)
		fail_msg("n_recipients: got %zu, want %zu", d->n_recipients, w->n);
	for (size_t i = 0; i < w->n; i++) {
		const struct want_recipient *e = &w->r[i];
		const struct mb_dsn_recipient *g = &d->recipients[i];
#define FIELD(f) (snprintf(what, sizeof what, "recipient %zu " #f, i), want_str(what, g->f, e->f))
		want_str("final_recipient", g->final_recipient, e->final);
		want_str("original_recipient", g->original_recipient, e->original);
		FIELD(action);
		FIELD(status);
		FIELD(diagnostic_type);
		FIELD(diagnostic);
		FIELD(remote_mta);
#undef FIELD
		if (g->reply_code != e->reply_code || g->stage != e->stage)
			fail_msg("recipient %zu: got code %d stage %s, want code %d stage %s", i,
			         g->reply_code, mb_stage_name(g->stage), e->reply_code,
			         mb_stage_name(e->stage));
	}
}

/* Same text with CRLF (or bare CR) line ends. */
static void convert_line_ends(const struct mb_buf *in, const char *eol, struct mb_buf *out)
{
	mb_buf_reset(out);
	for (size_t i = 0; i < in->len; i++)
		assert_int_equal(
		    in->data[i] == '\n' ? mb_buf_puts(out, eol) : mb_buf_putc(out, in->data[i]), 0);
	assert_int_equal(mb_buf_terminate(out), 0);
}

static void test_fixtures(void **state)
{
	struct mb_buf lf = MB_BUF_INIT, other = MB_BUF_INIT;
	(void)state;
	for (size_t i = 0; i < N(reports); i++) {
		struct mb_dsn *d;
		mb_buf_reset(&lf);
		read_fixture(reports[i].file, &lf);
		d = parse_ok(lf.data, lf.len);
		check_report(&reports[i], d, "LF");
		mb_dsn_free(d);
		convert_line_ends(&lf, "\r\n", &other);
		d = parse_ok(other.data, other.len);
		check_report(&reports[i], d, "CRLF");
		mb_dsn_free(d);
	}
	mb_buf_free(&lf);
	mb_buf_free(&other);
}

/* Not a report: an auto-reply (whose prose even says "Final-Recipient:"). Its own headers are
 * still read. */
static void test_not_a_report(void **state)
{
	struct mb_dsn *d = parse_fixture("auto-reply.eml");
	(void)state;
	assert_false(d->is_report);
	assert_int_equal(d->n_recipients, 0);
	want_str("delivered_to", d->delivered_to, "bounces+r7s1@bounces.sender.example");
	want_str("message_id", d->message_id, "<ooo-1@victim.example>");
	want_str("original_message_id", d->original_message_id, NULL);
	mb_dsn_free(d);
}

/* A multipart/report whose boundary never appears: the field groups are read from the body. */
static void test_broken_multipart(void **state)
{
	static const char msg[] =
	    "From: MAILER-DAEMON@esp.example\n"
	    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"nope\"\n"
	    "\n"
	    "<gina@recipient.example>: host mx said: 550 5.1.1 no such user (in reply to RCPT TO\n"
	    "    command)\n"
	    "\n"
	    "Reporting-MTA: dns; esp.example\n"
	    "\n"
	    "Final-Recipient: rfc822; <gina@recipient.example>\n"
	    "Action: failed\n"
	    "Status: 5.1.1\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 no such user\n";
	struct mb_dsn *d = parse_ok(msg, sizeof msg - 1);
	(void)state;
	assert_true(d->is_report);
	assert_int_equal(d->n_recipients, 1);
	want_str("final", d->recipients[0].final_recipient, "gina@recipient.example");
	assert_int_equal(d->recipients[0].reply_code, 550);
	assert_int_equal(d->recipients[0].stage, MB_STAGE_RCPT);
	mb_dsn_free(d);
}

/* Garbage lines inside the status part are skipped, not the groups after them; a group
 * without blank line before it still starts a recipient. */
static void test_garbage_in_status(void **state)
{
	static const char msg[] =
	    "From: MAILER-DAEMON@esp.example\n"
	    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n"
	    "\n"
	    "--b\n"
	    "Content-Type: message/delivery-status\n"
	    "\n"
	    "   continuation with nothing before it\n"
	    "Reporting-MTA: dns; esp.example\n"
	    "this line is not a field\n"
	    "\x01\x02\xff garbage: with a colon after a space\n"
	    "\n"
	    "Final-Recipient: rfc822; one@recipient.example\n"
	    "@@@@ nonsense\n"
	    "Action: FAILED (permanent)\n"
	    "Status: 5.1.1 (unknown user)\n"
	    "Final-Recipient: rfc822; two@recipient.example\n"
	    "Action: delayed\n"
	    "Status: 4.2.2\n"
	    "Diagnostic-Code:\n"
	    "  smtp; 452 4.2.2\n"
	    "  over quota\n"
	    "\n"
	    "Action: failed\n"
	    "\n"
	    "--b--\n";
	struct mb_dsn *d = parse_ok(msg, sizeof msg - 1);
	(void)state;
	assert_true(d->is_report);
	want_str("reporting_mta", d->reporting_mta, "esp.example");
	assert_int_equal(d->n_recipients, 2);
	want_str("final 0", d->recipients[0].final_recipient, "one@recipient.example");
	want_str("action 0", d->recipients[0].action, "failed");
	want_str("status 0", d->recipients[0].status, "5.1.1");
	want_str("final 1", d->recipients[1].final_recipient, "two@recipient.example");
	want_str("diagnostic 1", d->recipients[1].diagnostic, "452 4.2.2 over quota");
	want_str("diagnostic_type 1", d->recipients[1].diagnostic_type, "smtp");
	assert_int_equal(d->recipients[1].reply_code, 452);
	mb_dsn_free(d);
}

/* Empty input and things that are no message at all. */
static void test_empty_and_garbage(void **state)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_dsn *d = (struct mb_dsn *)&err;
	uint32_t seed = 12345;
	char junk[4096];
	(void)state;

	assert_int_equal(mb_dsn_parse("", 0, &d, &err), MB_EDATA);
	assert_null(d);
	assert_int_equal(mb_dsn_parse(NULL, 10, &d, &err), MB_EDATA);
	assert_null(d);
	for (int round = 0; round < 200; round++) {
		size_t len = 1 + (size_t)round * 20 % sizeof junk;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			junk[i] = (char)(seed >> 16);
		}
		d = NULL;
		int rc = mb_dsn_parse(junk, len, &d, &err);
		assert_true(rc == 0 || rc == MB_EDATA);
		if (rc == 0) {
			assert_false(d->is_report);
			mb_dsn_free(d);
		} else {
			assert_null(d);
		}
	}
	mb_dsn_free(NULL);
}

/* Every prefix of a report parses without harm (a truncated download, a cut mailbox). */
static void test_truncated(void **state)
{
	struct mb_buf b = MB_BUF_INIT;
	(void)state;
	read_fixture("postfix-multi-stage.eml", &b);
	for (size_t len = 0; len <= b.len; len += 3) {
		struct mb_err err = MB_ERR_INIT;
		struct mb_dsn *d = NULL;
		int rc = mb_dsn_parse(b.data, len, &d, &err);
		assert_true(rc == 0 || rc == MB_EDATA);
		if (d) {
			assert_true(d->n_recipients <= 3);
			for (size_t i = 0; i < d->n_recipients; i++)
				assert_non_null(d->recipients[i].final_recipient);
		}
		mb_dsn_free(d);
	}
	mb_buf_free(&b);
}

/* Bounds: recipients per report, field length, MIME depth. */
static void test_limits(void **state)
{
	struct mb_buf m = MB_BUF_INIT;
	struct mb_dsn *d;
	(void)state;

	assert_int_equal(mb_buf_puts(&m, "Content-Type: multipart/report; boundary=\"b\"\n\n--b\n"
	                                 "Content-Type: message/delivery-status\n\n"
	                                 "Reporting-MTA: dns; "),
	                 0);
	for (size_t i = 0; i < 2 * MB_MAX_LINE_BYTES; i++)
		assert_int_equal(mb_buf_putc(&m, 'x'), 0);
	assert_int_equal(mb_buf_puts(&m, "\n\n"), 0);
	for (int i = 0; i < MB_MAX_DSN_RECIPIENTS + 50; i++)
		assert_int_equal(mb_buf_printf(&m,
		                               "Final-Recipient: rfc822; r%d@x.example\n"
		                               "Action: failed\nStatus: 5.0.0\n\n",
		                               i),
		                 0);
	assert_int_equal(mb_buf_puts(&m, "--b--\n"), 0);
	d = parse_ok(m.data, m.len);
	assert_true(d->is_report);
	assert_int_equal(d->n_recipients, MB_MAX_DSN_RECIPIENTS);
	assert_true(strlen(d->reporting_mta) <= MB_MAX_LINE_BYTES);
	mb_dsn_free(d);

	/* a status part nested deeper than MB_MAX_MIME_DEPTH is not looked for */
	for (int depth = 4; depth <= MB_MAX_MIME_DEPTH + 8; depth += MB_MAX_MIME_DEPTH + 4) {
		mb_buf_reset(&m);
		assert_int_equal(mb_buf_puts(&m, "From: x@y.example\n"), 0);
		for (int i = 0; i < depth; i++)
			assert_int_equal(mb_buf_printf(&m,
			                               "Content-Type: multipart/mixed; "
			                               "boundary=\"b%d\"\n\n--b%d\n",
			                               i, i),
			                 0);
		assert_int_equal(mb_buf_puts(&m, "Content-Type: message/delivery-status\n\n"
		                                 "Final-Recipient: rfc822; deep@x.example\n"
		                                 "Action: failed\n\n"),
		                 0);
		for (int i = depth - 1; i >= 0; i--)
			assert_int_equal(mb_buf_printf(&m, "--b%d--\n", i), 0);
		d = parse_ok(m.data, m.len);
		assert_int_equal(d->is_report, depth <= MB_MAX_MIME_DEPTH);
		mb_dsn_free(d);
	}
	mb_buf_free(&m);
}

/* ---- Matching ---------------------------------------------------------------------------- */

static void test_match_precedence(void **state)
{
	struct mb_dsn *d = parse_fixture("postfix-failure-folded.eml");
	enum mb_dsn_match_by by;
	(void)state;

	/* each key matches the report one way; ENVID wins, then Message-ID, then VERP */
	struct mb_dsn_key keys[] = {
	    {"r9s9", "<other@sender.example>", "bounces+r1s3@bounces.sender.example"},
	    {"r8s8", "r1s3.1701633598@sender.example", NULL}, /* no brackets, domain case */
	    {"r1s3", "<unrelated@sender.example>", NULL},
	};
	assert_int_equal(mb_dsn_match(d, keys, N(keys), &by), 2);
	assert_int_equal(by, MB_DSN_MATCH_ENVID);
	keys[2].envid = "r1s";
	assert_int_equal(mb_dsn_match(d, keys, N(keys), &by), 1);
	assert_int_equal(by, MB_DSN_MATCH_MESSAGE_ID);
	keys[1].message_id = "<R1S3.1701633598@sender.example>"; /* local part case matters */
	assert_int_equal(mb_dsn_match(d, keys, N(keys), &by), 0);
	assert_int_equal(by, MB_DSN_MATCH_VERP);
	keys[0].verp_address = "BOUNCES+R1S3@Bounces.Sender.Example"; /* case-insensitive */
	assert_int_equal(mb_dsn_match(d, keys, N(keys), &by), 0);
	assert_int_equal(by, MB_DSN_MATCH_VERP);
	assert_string_equal(mb_dsn_match_by_name(by), "verp");

	/* near misses never match */
	struct mb_dsn_key near[] = {
	    {"r1s33", "<r1s3.1701633598@sender.example.net>",
	     "bounces+r1s33@bounces.sender.example"},
	    {"R1S3", "<r1s3.170163359@sender.example>", "bounces+r1s3@sender.example"},
	    {"", "", ""},
	    {NULL, NULL, NULL},
	};
	assert_int_equal(mb_dsn_match(d, near, N(near), &by), -1);
	assert_int_equal(by, MB_DSN_MATCH_NONE);
	assert_string_equal(mb_dsn_match_by_name(by), "none");
	assert_int_equal(mb_dsn_match(d, NULL, 0, &by), -1);
	assert_int_equal(mb_dsn_match(NULL, near, N(near), NULL), -1);
	mb_dsn_free(d);
}

/* A report without ENVID (the relay ignored the DSN request) is matched by the returned
 * Message-ID, or, with headers not returned, by the VERP address it was delivered to. */
static void test_match_without_envid(void **state)
{
	struct mb_dsn *d = parse_fixture("postfix-multi-stage.eml");
	enum mb_dsn_match_by by;
	struct mb_dsn_key keys[] = {
	    {"r2s0", "<r2s0.1@sender.example>", "bounces+r2s0@bounces.sender.example"},
	    {"r2s1", "<r2s1.1701634798@SENDER.example>", "bounces+r2s1@bounces.sender.example"},
	};
	(void)state;
	assert_null(d->envid);
	assert_int_equal(mb_dsn_match(d, keys, N(keys), &by), 1);
	assert_int_equal(by, MB_DSN_MATCH_MESSAGE_ID);
	assert_string_equal(mb_dsn_match_by_name(by), "message-id");
	free(d->original_message_id);
	d->original_message_id = NULL;
	assert_int_equal(mb_dsn_match(d, keys, N(keys), &by), 1);
	assert_int_equal(by, MB_DSN_MATCH_VERP);
	mb_dsn_free(d);

	/* the ENVID as sent may be xtext-encoded ("+2B" for '+') */
	d = parse_fixture("rfc6533-global.eml");
	struct mb_dsn_key xtext[] = {{"r3s1", NULL, NULL}};
	free(d->envid);
	d->envid = strdup("r3+2Bs1");
	xtext[0].envid = "r3+s1";
	assert_int_equal(mb_dsn_match(d, xtext, 1, &by), 0);
	assert_int_equal(by, MB_DSN_MATCH_ENVID);
	assert_string_equal(mb_dsn_match_by_name(by), "envid");
	mb_dsn_free(d);
}

/* ---- The shared corpus: nothing crashes (run under the sanitizer build) ------------------- */

static void test_corpus(void **state)
{
	const char *dir = MB_SHARED_DIR "/corpus/bounces";
	size_t files = 0, parsed = 0, reports = 0, recipients = 0;
	struct dirent *e;
	DIR *dp = opendir(dir);
	(void)state;

	if (!dp) {
		print_message("skipped: %s is absent\n", dir);
		skip();
	}
	while ((e = readdir(dp))) {
		struct mb_buf b = MB_BUF_INIT;
		struct mb_err err = MB_ERR_INIT;
		struct mb_dsn *d = NULL;
		char path[1024];

		if (!strstr(e->d_name, ".eml"))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (mb_file_read(path, MB_MAX_MESSAGE_BYTES, &b, &err))
			fail_msg("%s", err.message);
		files++;
		if (mb_dsn_parse(b.data, b.len, &d, &err) == 0) {
			parsed++;
			reports += d->is_report;
			recipients += d->n_recipients;
			for (size_t i = 0; i < d->n_recipients; i++)
				assert_non_null(d->recipients[i].final_recipient);
		}
		mb_dsn_free(d);
		mb_buf_free(&b);
	}
	closedir(dp);
	print_message("corpus: %zu files, %zu parsed, %zu with a delivery status, %zu recipients\n",
	              files, parsed, reports, recipients);
	assert_true(files == 0 || reports * 2 >= files);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixtures),
	    cmocka_unit_test(test_not_a_report),
	    cmocka_unit_test(test_broken_multipart),
	    cmocka_unit_test(test_garbage_in_status),
	    cmocka_unit_test(test_empty_and_garbage),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_match_precedence),
	    cmocka_unit_test(test_match_without_envid),
	    cmocka_unit_test(test_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
