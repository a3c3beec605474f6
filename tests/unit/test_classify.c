/* Unit tests of reply classification: the lab's exact replies, stage and code handling, the
 * rule table's vocabulary, and accuracy on the shared corpus of real replies (ndr-replies.tsv). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailbisect/buf.h"
#include "mailbisect/bounce.h"
#include "mailbisect/classify.h"
#include "mailbisect/file.h"
#include "mailbisect/str.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const reasons[] = {
    "blocked",        "badreputation", "requireptr",      "authfailure",     "spamdetected",
    "virusdetected",  "contenterror",  "notcompliantrfc", "policyviolation", "securityerror",
    "rejected",       "suppressed",    "norelaying",      "speeding",        "toomanyconn",
    "failedstarttls", "userunknown",   "hostunknown",     "mailboxfull",     "suspend",
    "hasmoved",       "filtered",      "notaccept",       "mesgtoobig",      "exceedlimit",
    "expired",        "networkerror",  "systemerror",     "systemfull",      "mailererror",
    "syntaxerror",    "delivered",     "undefined",       "urlreputation",   "domainreputation",
};

static bool known_reason(const char *r)
{
	for (size_t i = 0; i < N(reasons); i++)
		if (strcmp(reasons[i], r) == 0)
			return true;
	return false;
}

struct reply_case {
	enum mb_stage stage;
	int code;
	const char *enhanced;
	const char *text;
	const char *reasons; /* acceptable reasons, space separated; NULL = any */
	enum mb_fault fault;
	bool hard;
};

static bool reason_ok(const char *accepted, const char *got)
{
	size_t n = strlen(got);
	const char *p = accepted;
	if (!accepted)
		return true;
	while ((p = strstr(p, got))) {
		if ((p == accepted || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return true;
		p += n;
	}
	return false;
}

static void check_cases(const struct reply_case *cases, size_t n)
{
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		struct mb_classification c;
		const struct reply_case *t = &cases[i];
		mb_classify_reply(t->stage, t->code, t->enhanced, t->text, &c);
		if (!reason_ok(t->reasons, c.reason) || c.fault != t->fault || c.hard != t->hard) {
			print_error("got %s/%s/%s, want %s/%s/%s (stage %s): %s\n", c.reason,
			            mb_fault_name(c.fault), c.hard ? "hard" : "soft",
			            t->reasons ? t->reasons : "*", mb_fault_name(t->fault),
			            t->hard ? "hard" : "soft", mb_stage_name(t->stage), t->text);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* The replies the lab's receiver gives (DESIGN.md, "The local mail lab"). */
static void test_lab_replies(void **state)
{
	static const struct reply_case cases[] = {
	    {MB_STAGE_RCPT, 550, "5.7.1",
	     "550 5.7.1 Messages from [127.0.0.2] weren't sent. Part of their network is on "
	     "our block list (S3150)",
	     "blocked", MB_FAULT_IP, true},
	    {MB_STAGE_DATA, 554, "5.7.1", "554 5.7.1 Email rejected due to security policies",
	     "policyviolation securityerror urlreputation", MB_FAULT_CONTENT, true},
	    {MB_STAGE_DATA, 550, "5.7.26",
	     "550 5.7.26 Unauthenticated email from sender.example is not accepted due to "
	     "domain's DMARC policy. Please contact the administrator of sender.example.",
	     "authfailure", MB_FAULT_DOMAIN, true},
	    {MB_STAGE_RCPT, 550, "5.1.1",
	     "550 5.1.1 <nobody@victim.example>: Recipient address rejected: User unknown",
	     "userunknown", MB_FAULT_RECIPIENT, true},
	    {MB_STAGE_DATA, 552, "5.7.0",
	     "552 5.7.0 This message was blocked because its content presents a potential "
	     "security issue.",
	     NULL, MB_FAULT_CONTENT, true},
	    {MB_STAGE_RCPT, 451, "4.7.1", "451 4.7.1 Temporarily deferred, try again later", NULL,
	     MB_FAULT_TRANSIENT, false},
	    /* the same replies with code and enhanced code left to the text */
	    {MB_STAGE_UNKNOWN, 0, NULL,
	     "550 5.7.1 Messages from [127.0.0.3] weren't sent. Part of their network is on "
	     "our block list (S3150)",
	     "blocked", MB_FAULT_IP, true},
	    {MB_STAGE_UNKNOWN, 0, NULL, "451 4.7.1 Temporarily deferred, try again later", NULL,
	     MB_FAULT_TRANSIENT, false},
	};
	(void)state;
	check_cases(cases, N(cases));
}

/* The text outvotes a misleading enhanced code; the stage and the code class matter. */
static void test_text_stage_and_class(void **state)
{
	static const struct reply_case cases[] = {
	    /* 5.2.0 for DMARC, 5.5.4 for an IP block, 5.1.1 for a rate limit */
	    {MB_STAGE_DATA, 550, "5.2.0", "550 5.2.0 Message rejected due to DMARC policy",
	     "authfailure", MB_FAULT_DOMAIN, true},
	    {MB_STAGE_RCPT, 554, "5.5.4", "554 5.5.4 Your IP 192.0.2.9 has a bad reputation",
	     "badreputation blocked", MB_FAULT_IP, true},
	    {MB_STAGE_RCPT, 550, "5.1.1",
	     "550 5.1.1 <u@example.net> - 192.0.2.1 has sent to too many recipients this hour",
	     "speeding", MB_FAULT_TRANSIENT, true},
	    /* a spam text before DATA is not a content verdict */
	    {MB_STAGE_RCPT, 550, "5.7.1", "550 5.7.1 Rejected as spam", "spamdetected",
	     MB_FAULT_UNKNOWN, true},
	    {MB_STAGE_MAIL, 554, "5.7.1", "554 5.7.1 Email rejected due to security policies", NULL,
	     MB_FAULT_UNKNOWN, true},
	    {MB_STAGE_DATA, 550, "5.7.1", "550 5.7.1 Rejected as spam", "spamdetected",
	     MB_FAULT_CONTENT, true},
	    /* a 4xx block list stays an IP fault, but soft */
	    {MB_STAGE_RCPT, 454, "4.7.1",
	     "454 4.7.1 Service unavailable; Client host [192.0.2.16] blocked using "
	     "bl.spamcop.net",
	     "blocked", MB_FAULT_IP, false},
	    /* a 4xx with nothing in the text is transient, whatever the enhanced code */
	    {MB_STAGE_RCPT, 450, "4.2.2", "450 4.2.2 Try again", "mailboxfull", MB_FAULT_TRANSIENT,
	     false},
	    {MB_STAGE_RCPT, 421, NULL, "421 Service not available", "undefined", MB_FAULT_TRANSIENT,
	     false},
	    /* fallbacks on the enhanced code and the class */
	    {MB_STAGE_RCPT, 550, "5.1.1", "550 5.1.1 Sorry", "userunknown", MB_FAULT_RECIPIENT,
	     true},
	    {MB_STAGE_DATA, 550, "5.7.23", "550 5.7.23 Sorry", "authfailure", MB_FAULT_DOMAIN,
	     true},
	    {MB_STAGE_DATA, 550, "5.7.25", "550 5.7.25 Sorry", "requireptr", MB_FAULT_IP, true},
	    {MB_STAGE_DATA, 550, NULL, "550 Sorry", "undefined", MB_FAULT_UNKNOWN, true},
	    {MB_STAGE_DATA, 250, "2.0.0", "250 2.0.0 Ok: queued as 4Xyz", "delivered",
	     MB_FAULT_UNKNOWN, false},
	    /* replies at AUTH are about our credentials */
	    {MB_STAGE_AUTH, 535, "5.7.8", "535 5.7.8 Error: authentication failed", NULL,
	     MB_FAULT_SENDER_SIDE, true},
	    /* multi-line prefixes do not split phrases */
	    {MB_STAGE_RCPT, 550, "5.7.1",
	     "550-5.7.1 [192.0.2.8] Our system has detected that this message is likely\n"
	     "550-5.7.1 suspicious due to the very low reputation of the sending IP\n"
	     "550 5.7.1 address.",
	     "badreputation", MB_FAULT_IP, true},
	    {MB_STAGE_DATA, 550, "5.7.1",
	     "550-5.7.1 [192.0.2.8] Our system has detected that this message is likely\n"
	     "550-5.7.1 suspicious due to the very low reputation of the sending\n"
	     "550 5.7.1 domain.",
	     "domainreputation", MB_FAULT_DOMAIN, true},
	    /* a URL blocklist only judges content once the message was sent */
	    {MB_STAGE_DATA, 554, "5.7.1", "554 5.7.1 Message contains a URL listed in SURBL",
	     "urlreputation", MB_FAULT_CONTENT, true},
	    {MB_STAGE_MAIL, 554, "5.7.1",
	     "554 5.7.1 <b@bad.example>: Sender address rejected: rejected using "
	     "dbl.spamhaus.org",
	     "domainreputation", MB_FAULT_DOMAIN, true},
	    /* no text at all */
	    {MB_STAGE_UNKNOWN, 0, NULL, NULL, "undefined", MB_FAULT_UNKNOWN, false},
	    {MB_STAGE_UNKNOWN, 0, NULL, "", "undefined", MB_FAULT_UNKNOWN, false},
	};
	(void)state;
	check_cases(cases, N(cases));
}

/* Hostile input: huge, binary, out-of-range arguments. Must not crash; same answer twice. */
static void test_hostile_input(void **state)
{
	static char big[200000];
	struct mb_classification a, b;
	(void)state;

	memset(big, 'x', sizeof big - 1);
	memcpy(big + 150000, " block list ", 12);
	mb_classify_reply(MB_STAGE_RCPT, 550, "5.7.1", big, &a);
	assert_true(known_reason(a.reason));
	big[100] = ' ';
	memcpy(big + 101, "block list ", 11);
	mb_classify_reply(MB_STAGE_RCPT, 550, "5.7.1", big, &a);
	assert_string_equal(a.reason, "blocked");
	mb_classify_reply((enum mb_stage)99, 9999, "9.9.9.9.9", "\x01\xff\xfe 550-", &a);
	mb_classify_reply((enum mb_stage)99, 9999, "9.9.9.9.9", "\x01\xff\xfe 550-", &b);
	assert_string_equal(a.reason, b.reason);
	assert_int_equal(a.fault, b.fault);
	mb_classify_reply(MB_STAGE_DATA, 0, "5.", "5.7.", &a);
	assert_true(known_reason(a.reason));
}

/* Every reason the classifier can give is in the documented vocabulary. */
static void test_reason_vocabulary(void **state)
{
	static const char *const probes[] = {
	    "user unknown",
	    "mailbox full",
	    "block list",
	    "dmarc",
	    "spam",
	    "virus",
	    "rate limit",
	    "ptr record",
	    "url blacklisted",
	    "domain reputation",
	    "policy reason",
	    "relay access denied",
	    "timed out",
	    "syntax error",
	    "retry timeout exceeded",
	    "suppression list",
	    "must issue a starttls",
	    "open resolver",
	    "message size exceeds",
	};
	(void)state;
	for (size_t i = 0; i < N(probes); i++)
		for (int st = 0; st < MB_STAGE_COUNT; st++) {
			struct mb_classification c;
			mb_classify_reply((enum mb_stage)st, 550, NULL, probes[i], &c);
			if (!known_reason(c.reason))
				fail_msg("got reason %s for \"%s\": not in the vocabulary",
				         c.reason, probes[i]);
			assert_true(c.rule >= 0);
		}
}

/* ---- ndr-replies.tsv: real replies with the category an engineer gave them ---------------- */

/* Splits one TSV line in place into up to n columns. */
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

/* The reply column: CSV-style quoting undone, "\n" turned into line breaks. */
static void reply_unescape(const char *in, struct mb_buf *out)
{
	size_t n = strlen(in);
	bool quoted = n >= 2 && in[0] == '"' && in[n - 1] == '"';
	const char *p = quoted ? in + 1 : in, *end = quoted ? in + n - 1 : in + n;

	mb_buf_reset(out);
	while (p < end) {
		if (quoted && p[0] == '"' && p + 1 < end && p[1] == '"') {
			assert_int_equal(mb_buf_putc(out, '"'), 0);
			p += 2;
		} else if (p[0] == '\\' && p + 1 < end && p[1] == 'n') {
			assert_int_equal(mb_buf_putc(out, '\n'), 0);
			p += 2;
		} else {
			assert_int_equal(mb_buf_putc(out, *p++), 0);
		}
	}
	assert_int_equal(mb_buf_terminate(out), 0);
}

/* The category column -> the fault the classifier must give (a bit set of acceptable ones).
 * ip-reputation -> ip; authentication -> domain, except PTR / reverse-DNS / hostname checks
 * (expected_ab "ptr") -> ip; content and url-reputation -> content; policy-generic ->
 * unknown (content, ip, domain also acceptable); rate-limit -> transient; recipient-side and
 * recipient unknown -> recipient; other -> by expected_ab (sender -> sender-side, domain ->
 * domain, ip -> ip, else unknown). */
static unsigned expected_faults(const char *category, const char *ab, enum mb_fault *want)
{
#define BIT(f) (1u << (f))
	if (mb_str_istarts(category, "ip-reputation"))
		return *want = MB_FAULT_IP, BIT(MB_FAULT_IP);
	if (mb_str_istarts(category, "authentication")) {
		*want = strcmp(ab, "ptr") == 0 ? MB_FAULT_IP : MB_FAULT_DOMAIN;
		return BIT(*want);
	}
	if (mb_str_istarts(category, "content") || mb_str_istarts(category, "url-reputation"))
		return *want = MB_FAULT_CONTENT, BIT(MB_FAULT_CONTENT);
	if (mb_str_istarts(category, "policy-generic"))
		return *want = MB_FAULT_UNKNOWN, BIT(MB_FAULT_UNKNOWN) | BIT(MB_FAULT_CONTENT) |
		                                     BIT(MB_FAULT_IP) | BIT(MB_FAULT_DOMAIN);
	if (mb_str_istarts(category, "rate-limit"))
		return *want = MB_FAULT_TRANSIENT, BIT(MB_FAULT_TRANSIENT);
	if (mb_str_istarts(category, "recipient"))
		return *want = MB_FAULT_RECIPIENT, BIT(MB_FAULT_RECIPIENT);
	if (strcmp(ab, "sender") == 0)
		*want = MB_FAULT_SENDER_SIDE;
	else if (strcmp(ab, "domain") == 0)
		*want = MB_FAULT_DOMAIN;
	else if (strcmp(ab, "ip") == 0)
		*want = MB_FAULT_IP;
	else
		*want = MB_FAULT_UNKNOWN;
	return BIT(*want);
#undef BIT
}

static void test_ndr_replies(void **state)
{
	const char *path = MB_SHARED_DIR "/ndr-replies.tsv";
	struct mb_buf file = MB_BUF_INIT, reply = MB_BUF_INIT;
	struct mb_err err = MB_ERR_INIT;
	size_t total = 0, right = 0;
	char *line, *save = NULL;
	(void)state;

	if (access(path, R_OK) != 0) {
		print_message("skipped: %s is absent\n", path);
		skip();
	}
	if (mb_file_read(path, 1024 * 1024, &file, &err))
		fail_msg("%s", err.message);
	for (line = strtok_r(file.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *cols[4];
		struct mb_classification c;
		enum mb_fault want;
		unsigned ok;

		if (strncmp(line, "vendor\t", 7) == 0 || split_tabs(line, cols, 4) != 4)
			continue;
		reply_unescape(cols[1], &reply);
		ok = expected_faults(cols[2], mb_str_trim(cols[3]), &want);
		mb_classify_reply(MB_STAGE_UNKNOWN, 0, NULL, reply.data, &c);
		total++;
		if (ok & (1u << c.fault))
			right++;
		else
			print_message("got %s, want %s: %s\n", mb_fault_name(c.fault),
			              mb_fault_name(want), cols[1]);
	}
	print_message("ndr-replies.tsv: %zu/%zu right (%.1f%%)\n", right, total,
	              total ? 100.0 * (double)right / (double)total : 0.0);
	assert_true(total >= 50);
	assert_true(right * 10 >= total * 9);
	mb_buf_free(&file);
	mb_buf_free(&reply);
}

/* ---- Rules files (--rules) ------------------------------------------------------------------ */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_rules_file(void **state)
{
	char path[] = "/tmp/mb-rules-XXXXXX";
	struct mb_rules *rules = NULL;
	struct mb_err err = MB_ERR_INIT;
	struct mb_classification c;
	size_t builtin;
	int fd = mkstemp(path);
	(void)state;

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mb_rules_builtin(&rules, &err), 0);
	builtin = mb_rules_count(rules);
	assert_true(builtin > 100);
	assert_int_equal(mb_rules_count(NULL), builtin);

	write_file(path,
	           "[{\"stage\": [\"rcpt\", \"data\"], \"code\": [550, 559], "
	           "\"enhanced\": \"x.7.1\", \"all\": [\"Acme  Shield\"], \"none\": [\"virus\"], "
	           "\"reason\": \"blocked\", \"fault\": \"ip\", \"comment\": \"our MX filter\"},"
	           " {\"code\": 451, \"all\": \"slow down\", \"reason\": \"speeding\", "
	           "\"fault\": \"transient\"}]");
	if (mb_rules_load_file(rules, path, &err))
		fail_msg("%s", err.message);
	assert_int_equal(mb_rules_count(rules), builtin + 2);
	/* the loaded rule wins over the built-in "spam" rule; stage and code must fit */
	mb_classify_reply_with(rules, MB_STAGE_DATA, 554, "5.7.1", "spam: ACME shield said no", &c);
	assert_string_equal(c.reason, "blocked");
	assert_int_equal(c.fault, MB_FAULT_IP);
	assert_int_equal(c.rule, 0);
	mb_classify_reply_with(rules, MB_STAGE_MAIL, 554, "5.7.1", "spam: ACME shield said no", &c);
	assert_string_equal(c.reason, "spamdetected");
	mb_classify_reply_with(rules, MB_STAGE_UNKNOWN, 451, NULL, "please slow down", &c);
	assert_string_equal(c.reason, "speeding");
	assert_int_equal(c.rule, 1);
	mb_classify_reply(MB_STAGE_UNKNOWN, 451, NULL, "please slow down", &c);
	assert_string_not_equal(c.reason, "speeding"); /* the built-in set is untouched */

	/* errors name the file and the rule; the set stays as it was */
	static const struct {
		const char *json, *want;
		int code;
	} bad[] = {
	    {"[{\"reason\": \"blockd\", \"fault\": \"ip\", \"all\": [\"x\"]}]",
	     "rule 1: reason: unknown reason (one of blocked, badreputation,", MB_ECONFIG},
	    {"[{\"all\": [\"x\"], \"reason\": \"blocked\", \"fault\": \"ip\"}, {\"colour\": 1}]",
	     "rule 2: unknown key", MB_ECONFIG},
	    {"[{\"all\": \"x\", \"reason\": \"blocked\", \"fault\": \"pool\"}]", "rule 1: fault",
	     MB_ECONFIG},
	    {"[{\"all\": 5, \"reason\": \"blocked\", \"fault\": \"ip\"}]", "rule 1: all",
	     MB_ECONFIG},
	    {"[{\"code\": 700, \"reason\": \"blocked\", \"fault\": \"ip\"}]", "rule 1: code",
	     MB_ECONFIG},
	    {"[{\"stage\": \"quit\", \"reason\": \"blocked\", \"fault\": \"ip\"}]", "rule 1: stage",
	     MB_ECONFIG},
	    {"[{\"enhanced\": \"5.7\", \"reason\": \"blocked\", \"fault\": \"ip\"}]",
	     "rule 1: enhanced", MB_ECONFIG},
	    {"[{\"reason\": \"blocked\", \"fault\": \"ip\"}]", "rule 1: has no condition",
	     MB_ECONFIG},
	    {"{\"reason\": \"blocked\"}", "JSON array", MB_EDATA},
	    {"[{\"reason\": ", "line 1, column 13: not valid JSON (unexpected end of file)",
	     MB_EDATA},
	    {"[\n  {\"all\": \"x\", \"reason\": \"blocked\",\n   \"fault\": ip}\n]",
	     "line 3, column 13: not valid JSON", MB_EDATA},
	    {"[{\"all\": \"x\", \"reason\": \"blocked\", \"fault\": \"ip\"}]\n]",
	     "line 2, column 1: text after the rule array", MB_EDATA},
	    {"[{\"all\": [], \"reason\": \"blocked\", \"fault\": \"ip\"}]",
	     "rule 1: all: must name at least one fragment", MB_ECONFIG},
	    {"[{\"all\": \"a\\u0000b\", \"reason\": \"blocked\", \"fault\": \"ip\"}]",
	     "line 1, column 12: an escaped NUL character (\\u0000), which no rule can hold",
	     MB_EDATA},
	    {"[{\"provider\": \"exchnage\", \"reason\": \"blocked\", \"fault\": \"ip\"}]",
	     "rule 1: provider: unknown format \"exchnage\" (one of exchange, office365,",
	     MB_ECONFIG},
	};
	for (size_t i = 0; i < N(bad); i++) {
		int rc;
		write_file(path, bad[i].json);
		rc = mb_rules_load_file(rules, path, &err);
		if (rc != bad[i].code || !strstr(err.message, path) ||
		    !strstr(err.message, bad[i].want))
			fail_msg("%s: got %d \"%s\", want %d \"%s\"", bad[i].json, rc, err.message,
			         bad[i].code, bad[i].want);
		assert_int_equal(mb_rules_count(rules), builtin + 2);
	}
	{ /* a raw NUL byte inside a fragment */
		static const char raw[] = "[{\"all\": \"a\0b\", \"reason\": \"blocked\", "
		                          "\"fault\": \"ip\"}]";
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(raw, 1, sizeof raw - 1, f), sizeof raw - 1);
		assert_int_equal(fclose(f), 0);
		assert_int_equal(mb_rules_load_file(rules, path, &err), MB_EDATA);
		if (!strstr(err.message, "line 1, column 12: a NUL byte"))
			fail_msg("raw NUL: \"%s\"", err.message);
		assert_int_equal(mb_rules_count(rules), builtin + 2);
	}
	assert_int_equal(mb_rules_load_file(rules, "/nonexistent/rules.json", &err), MB_ENOINPUT);
	/* every format the reader names is accepted, in any case */
	for (size_t i = 0; mb_bounce_provider_at(i); i++) {
		char json[256], upper[64];
		size_t k = 0;
		for (const char *p = mb_bounce_provider_at(i); *p && k + 1 < sizeof upper; p++)
			upper[k++] = (char)toupper((unsigned char)*p);
		upper[k] = '\0';
		snprintf(json, sizeof json,
		         "[{\"provider\": \"%s\", \"reason\": \"blocked\", \"fault\": \"ip\"}]",
		         i % 2 ? upper : mb_bounce_provider_at(i));
		write_file(path, json);
		if (mb_rules_load_file(rules, path, &err))
			fail_msg("%s: %s", json, err.message);
	}
	assert_true(mb_bounce_provider_known("postfix") && mb_bounce_provider_known("AmazonSES"));
	assert_false(mb_bounce_provider_known("smtp") || mb_bounce_provider_known(NULL));
	unlink(path);
	mb_rules_free(rules);
	mb_rules_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lab_replies),   cmocka_unit_test(test_text_stage_and_class),
	    cmocka_unit_test(test_hostile_input), cmocka_unit_test(test_reason_vocabulary),
	    cmocka_unit_test(test_ndr_replies),   cmocka_unit_test(test_rules_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
