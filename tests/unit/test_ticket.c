/* Golden test of the escalation ticket (mailbisect ticket RUN): a stored run like the lab's
 * pool-A block, one receiver text that tries to break out of its code fence, and the facts of
 * the message. Timestamps are replaced by TIMESTAMP before the comparison. The golden file
 * (tests/golden/ticket-ip.md) was written by running this once with MB_UPDATE_GOLDEN=1 and
 * then checked line by line against the stored rows below. */
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

#include "mailbisect/report.h"
#include "mailbisect/store.h"

#define GOLDEN MB_SOURCE_DIR "/tests/golden/ticket-ip.md"

static const char spec_json[] =
    "{\"name\":\"demo-s3150\",\"domain\":\"victim.example\","
    "\"envelope_sender\":\"bounces+{send}@bounces.sender.example\","
    "\"pools\":{\"primary\":{\"name\":\"pool-a\",\"host\":\"127.0.0.1\",\"port\":2525},"
    "\"alternate\":{\"name\":\"pool-b\",\"host\":\"127.0.0.1\",\"port\":2526}}}";

static const char facts_json[] =
    "{\"file\":\"examples/newsletter.eml\",\"from\":\"news@sender.example\","
    "\"from_domain\":\"sender.example\",\"to\":\"alice@victim.example\","
    "\"subject\":\"December news | *offers*\",\"has_html\":true,\"has_attachments\":false,"
    "\"link_domains\":[\"cdn.sender.example\",\"click.tracker.example\"]}";

#define S3150                                                                                      \
	"550 5.7.1 Messages from [192.0.2.10] weren't sent. Part of their network is on our "      \
	"block list (S3150)"

struct send_case {
	const char *variant, *pool;
	unsigned factors;
	enum mb_state state;
	enum mb_stage stage;
	int code;
	const char *enhanced, *diagnostic, *reason;
	enum mb_fault fault;
};

static const struct send_case sends[] = {
    {"original", "pool-a", 15, MB_STATE_BOUNCED, MB_STAGE_RCPT, 550, "5.7.1", S3150, "blocked",
     MB_FAULT_IP},
    {"plain-text", "pool-a", 11, MB_STATE_BOUNCED, MB_STAGE_RCPT, 550, "5.7.1", S3150, "blocked",
     MB_FAULT_IP},
    /* a hostile text: backticks and a Markdown heading must stay inside the fence */
    {"links-stripped", "pool-a", 13, MB_STATE_BOUNCED, MB_STAGE_RCPT, 550, "5.7.1",
     S3150 "\n```\n# not a heading | not a cell", "blocked", MB_FAULT_IP},
    {"alternate-pool", "pool-b", 14, MB_STATE_DELIVERED, MB_STAGE_UNKNOWN, 250, "2.0.0",
     "delivered via dovecot service", NULL, MB_FAULT_UNKNOWN},
};

/* RFC 3339 stamps (2026-12-04T06:50:01+00:00) -> TIMESTAMP */
static void normalise(char *s)
{
	char *r = s, *w = s;
	while (*r) {
		if (strlen(r) >= 25 && isdigit((unsigned char)r[0]) && r[4] == '-' && r[7] == '-' &&
		    r[10] == 'T' && r[13] == ':' && r[16] == ':' &&
		    (r[19] == '+' || r[19] == '-') && r[22] == ':') {
			memcpy(w, "TIMESTAMP", 9);
			w += 9;
			r += 25;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static char *read_all(FILE *f)
{
	size_t cap = 1 << 16, n;
	char *buf = malloc(cap + 1);
	assert_non_null(buf);
	rewind(f);
	n = fread(buf, 1, cap, f);
	buf[n] = '\0';
	return buf;
}

/* A store in dir holding the pool-A-block run, with the given spec JSON. */
static struct mb_store *ip_run(char *dir, const char *spec, int64_t *run_out)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *s;
	char path[128], *token;
	int64_t run;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/store.db", dir);
	if (mb_store_open(&s, path, &err))
		fail_msg("open: %s", err.message);
	assert_int_equal(mb_store_run_create(s, "demo-s3150", "experiments/demo-s3150.json", spec,
	                                     "victim.example", &run, &token, &err),
	                 0);
	free(token);
	assert_int_equal(mb_store_run_set_facts(s, run, facts_json, &err), 0);
	for (size_t i = 0; i < sizeof sends / sizeof sends[0]; i++) {
		const struct send_case *c = &sends[i];
		struct mb_send_row row = {0}, o = {0};
		char key[32], msgid[96], env[96], relay[32], qid[16];
		int64_t id;
		snprintf(key, sizeof key, "1a2b3c4d-%zu", i + 1);
		snprintf(msgid, sizeof msgid, "<mailbisect.%s@bounces.sender.example>", key);
		snprintf(env, sizeof env, "bounces+%s@bounces.sender.example", key);
		snprintf(relay, sizeof relay, "127.0.0.1:%d",
		         !strcmp(c->pool, "pool-a") ? 2525 : 2526);
		snprintf(qid, sizeof qid, "4F2A%zu", i + 1);
		row.run_id = run;
		row.seq = (int)i + 1;
		row.key = key;
		row.variant = (char *)c->variant;
		row.pool = (char *)c->pool;
		row.recipient = "alice@victim.example";
		row.envelope_from = env;
		row.message_id = msgid;
		row.factors = c->factors;
		assert_int_equal(mb_store_send_plan(s, &row, &id, &err), 0);
		assert_int_equal(mb_store_send_submitted(s, id, MB_STATE_PENDING, MB_STAGE_DATA,
		                                         250, "2.0.0", "2.0.0 Ok: queued", relay,
		                                         qid, &err),
		                 0);
		o.id = id;
		o.state = c->state;
		o.stage = c->stage;
		o.smtp_code = c->code;
		o.enhanced_status = (char *)c->enhanced;
		o.diagnostic = (char *)c->diagnostic;
		o.remote_mta = c->state == MB_STATE_BOUNCED ? "mx.victim.example" : NULL;
		o.source = MB_SOURCE_DSN;
		o.matched_by = "envid";
		o.reason = (char *)c->reason;
		o.fault = c->fault;
		assert_int_equal(mb_store_send_resolve(s, &o, &err), 0);
	}
	assert_int_equal(mb_store_run_finish(s, run, "finished", NULL, &err), 0);
	*run_out = run;
	return s;
}

static void remove_store(struct mb_store *s, const char *dir)
{
	char path[160];
	mb_store_close(s);
	snprintf(path, sizeof path, "%s/store.db", dir);
	unlink(path);
	rmdir(dir);
}

static void test_ticket_golden(void **state)
{
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *s;
	char dir[] = "/tmp/mb-ticket-XXXXXX", *got, *want;
	int64_t run;
	FILE *out, *g;
	(void)state;

	s = ip_run(dir, spec_json, &run);
	out = tmpfile();
	assert_non_null(out);
	if (mb_report_ticket(s, run, out, &err))
		fail_msg("ticket: %s", err.message);
	got = read_all(out);
	fclose(out);
	normalise(got);
	if (getenv("MB_UPDATE_GOLDEN")) {
		g = fopen(GOLDEN, "w");
		assert_non_null(g);
		fputs(got, g);
		fclose(g);
	}
	g = fopen(GOLDEN, "r");
	if (!g)
		fail_msg("no golden file %s", GOLDEN);
	want = read_all(g);
	fclose(g);
	if (strcmp(got, want) != 0) {
		size_t k = 0;
		while (got[k] && got[k] == want[k])
			k++;
		fail_msg("ticket differs from %s at byte %zu:\ngot:  %.80s\nwant: %.80s", GOLDEN, k,
		         got + k, want + k);
	}
	free(got);
	free(want);
	remove_store(s, dir);
}

/* An alternate pool on another relay host: the ip verdict is reported as confounded. */
static void test_confounded(void **state)
{
	static const char other_relay[] =
	    "{\"name\":\"demo-s3150\",\"domain\":\"victim.example\","
	    "\"envelope_sender\":\"bounces+{send}@bounces.sender.example\","
	    "\"pools\":{\"primary\":{\"name\":\"pool-a\",\"host\":\"127.0.0.1\",\"port\":2525},"
	    "\"alternate\":{\"name\":\"pool-b\",\"host\":\"smtp.other-esp.example\","
	    "\"port\":587}}}";
	struct mb_err err = MB_ERR_INIT;
	struct mb_store *s;
	char dir[] = "/tmp/mb-ticket-XXXXXX", *got;
	int64_t run;
	FILE *out;
	(void)state;

	/* same relay host: not confounded */
	s = ip_run(dir, spec_json, &run);
	out = tmpfile();
	assert_int_equal(mb_report_json(s, run, out, &err), 0);
	got = read_all(out);
	fclose(out);
	if (!strstr(got, "\"confounded\":\tnull") && !strstr(got, "\"confounded\": null"))
		fail_msg("same relay: got %s, want confounded null", got);
	free(got);
	remove_store(s, dir);

	strcpy(dir, "/tmp/mb-ticket-XXXXXX");
	s = ip_run(dir, other_relay, &run);
	out = tmpfile();
	assert_int_equal(mb_report_json(s, run, out, &err), 0);
	got = read_all(out);
	fclose(out);
	if (!strstr(got, "the relay (127.0.0.1 vs smtp.other-esp.example)"))
		fail_msg("other relay: got %s, want the relay named as confounding", got);
	free(got);
	remove_store(s, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ticket_golden),
	    cmocka_unit_test(test_confounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
