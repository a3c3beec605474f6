/* Unit tests of verdict inference: DESIGN.md's table for the four standard variants, the
 * cases a fixed table gets wrong, and outcomes that are not evidence. Expected verdicts come
 * from DESIGN.md's table, not from the code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mailbisect/verdict.h"

static const struct mb_message_traits newsletter = {true, true, false};

/* outcome letters: P pass (delivered), F fail at DATA, R fail at RCPT, U recipient unknown,
 * A auth refused by relay, D deferred */
static void build_obs(const char *outcomes, const enum mb_variant *variants,
                      struct mb_verdict_obs *obs, size_t *n)
{
	*n = 0;
	for (size_t i = 0; outcomes[i]; i++) {
		struct mb_verdict_obs *o = &obs[(*n)++];
		memset(o, 0, sizeof *o);
		o->variant = variants[i];
		o->factors = mb_verdict_factors(variants[i], &newsletter);
		o->pool = mb_variant_uses_alternate_pool(variants[i]) ? "pool-b" : "pool-a";
		o->stage = MB_STAGE_DATA;
		o->fault = MB_FAULT_UNKNOWN;
		switch (outcomes[i]) {
		case 'P':
			o->state = MB_STATE_DELIVERED;
			break;
		case 'F':
			o->state = MB_STATE_BOUNCED;
			break;
		case 'R':
			o->state = MB_STATE_BOUNCED;
			o->stage = MB_STAGE_RCPT;
			o->fault = MB_FAULT_IP;
			break;
		case 'U':
			o->state = MB_STATE_BOUNCED;
			o->stage = MB_STAGE_RCPT;
			o->fault = MB_FAULT_RECIPIENT;
			break;
		case 'A':
			o->state = MB_STATE_SUBMIT_REFUSED;
			o->stage = MB_STAGE_AUTH;
			break;
		case 'D':
			o->state = MB_STATE_DEFERRED;
			o->fault = MB_FAULT_TRANSIENT;
			break;
		}
	}
}

static const enum mb_variant standard[] = {MB_VARIANT_ORIGINAL, MB_VARIANT_PLAIN_TEXT,
                                           MB_VARIANT_LINKS_STRIPPED, MB_VARIANT_ALTERNATE_POOL};

static void test_design_table(void **state)
{
	/* original, plain-text, links-stripped, alternate-pool -> fault, detail (DESIGN.md) */
	static const struct {
		const char *outcomes;
		const char *fault;
		const char *detail;
		int unconfirmed;
	} rows[] = {
	    {"PPPP", "not-reproduced", NULL, 0},
	    {"FFPF", "content", "links", 0},
	    {"FPFF", "content", "template", 0},
	    {"FPPF", "content", NULL, 0},
	    {"FFFP", "ip", NULL, 0},
	    {"FFFF", "domain", NULL, 1},
	    /* refusals at RCPT: the IP block as the lab's receiver gives it */
	    {"RRRP", "ip", NULL, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct mb_verdict_obs obs[8];
		struct mb_verdict v;
		size_t n;
		build_obs(rows[i].outcomes, standard, obs, &n);
		assert_int_equal(mb_verdict_infer(obs, n, &v), 0);
		if (strcmp(v.fault, rows[i].fault) != 0 ||
		    (rows[i].detail ? !v.detail || strcmp(v.detail, rows[i].detail)
		                    : v.detail != NULL) ||
		    (int)v.unconfirmed != rows[i].unconfirmed)
			fail_msg("%s: got %s/%s unconfirmed=%d, want %s/%s unconfirmed=%d (%s)",
			         rows[i].outcomes, v.fault, v.detail ? v.detail : "null",
			         v.unconfirmed, rows[i].fault,
			         rows[i].detail ? rows[i].detail : "null", rows[i].unconfirmed,
			         v.summary);
		if (strcmp(v.fault, "domain") != 0 && v.confidence < 0.6)
			fail_msg("%s: confidence %.2f too low for a clean table row",
			         rows[i].outcomes, v.confidence);
		mb_verdict_clear(&v);
	}
}

static void test_not_evidence(void **state)
{
	static const struct {
		const char *outcomes;
		const char *fault;
		const char *step_words; /* must appear in next_steps */
	} rows[] = {
	    {"UUUU", "incomplete", "recipient that exists"},
	    {"DDDD", "incomplete", "deferred"},
	    {"AFFF", "incomplete", "credentials problem"},
	    /* a content refusal at RCPT is impossible: original passes, variants fail -> no fit */
	    {"PFFF", "inconclusive", "repeat"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct mb_verdict_obs obs[8];
		struct mb_verdict v;
		size_t n;
		build_obs(rows[i].outcomes, standard, obs, &n);
		assert_int_equal(mb_verdict_infer(obs, n, &v), 0);
		if (strcmp(v.fault, rows[i].fault) != 0 ||
		    !strstr(v.next_steps, rows[i].step_words))
			fail_msg("%s: got %s (steps: %s), want %s with \"%s\"", rows[i].outcomes,
			         v.fault, v.next_steps, rows[i].fault, rows[i].step_words);
		mb_verdict_clear(&v);
	}
}

static void test_pre_data_refusal_is_not_content(void **state)
{
	/* All four refused at RCPT: content cannot have played a part, so "links or template"
	 * explanations must not survive; domain or ip-with-alternate-failing remain. */
	struct mb_verdict_obs obs[8];
	struct mb_verdict v;
	size_t n;
	(void)state;
	build_obs("RRRR", standard, obs, &n);
	assert_int_equal(mb_verdict_infer(obs, n, &v), 0);
	assert_string_equal(v.fault, "domain");
	if (v.alternatives && strstr(v.alternatives, "links"))
		fail_msg("got alternatives \"%s\", want none naming links", v.alternatives);
	mb_verdict_clear(&v);
}

static void test_repeats(void **state)
{
	/* three rounds, interleaved; one flaky pass of the original */
	static const enum mb_variant rounds[] = {
	    MB_VARIANT_ORIGINAL,       MB_VARIANT_PLAIN_TEXT,     MB_VARIANT_LINKS_STRIPPED,
	    MB_VARIANT_ALTERNATE_POOL, MB_VARIANT_ORIGINAL,       MB_VARIANT_PLAIN_TEXT,
	    MB_VARIANT_LINKS_STRIPPED, MB_VARIANT_ALTERNATE_POOL, MB_VARIANT_ORIGINAL,
	    MB_VARIANT_PLAIN_TEXT,     MB_VARIANT_LINKS_STRIPPED, MB_VARIANT_ALTERNATE_POOL};
	struct mb_verdict_obs obs[16];
	struct mb_verdict v;
	size_t n;
	(void)state;
	build_obs("FFFPFFFPPFFP", rounds, obs, &n);
	assert_int_equal(mb_verdict_infer(obs, n, &v), 0);
	if (strcmp(v.fault, "ip") != 0 || v.confidence < 0.8)
		fail_msg("got %s %.2f, want ip >= 0.8 (%s)", v.fault, v.confidence, v.summary);
	mb_verdict_clear(&v);

	/* coin flips: must not be a confident verdict */
	build_obs("FPFPPFPFFPPF", rounds, obs, &n);
	assert_int_equal(mb_verdict_infer(obs, n, &v), 0);
	if (strcmp(v.fault, "inconclusive") != 0 && v.confidence >= 0.8)
		fail_msg("random outcomes: got %s %.2f, want inconclusive or low confidence",
		         v.fault, v.confidence);
	mb_verdict_clear(&v);
}

/* ---- Follow-ups: a simulated receiver whose true rule is known ------------------------ */

/* What the receiver refuses, over the factors of a send. The expected verdicts come from
 * DESIGN.md's vocabulary, written out per rule, not from the code. */
enum rule {
	R_NONE,
	R_POOL,
	R_LINKS,
	R_TEMPLATE,
	R_DOMAIN,
	R_POOL_OR_LINKS,
	R_POOL_AND_LINKS,
	R_LINKS_OR_TEMPLATE,
	R_LINKS_AND_TEMPLATE,
	R_POOL_OR_TEMPLATE
};

static bool refuses(enum rule r, const struct mb_factors *f)
{
	switch (r) {
	case R_NONE:
		return false;
	case R_POOL:
		return f->primary_pool;
	case R_LINKS:
		return f->links;
	case R_TEMPLATE:
		return f->template;
	case R_DOMAIN:
		return f->primary_domain;
	case R_POOL_OR_LINKS:
		return f->primary_pool || f->links;
	case R_POOL_AND_LINKS:
		return f->primary_pool && f->links;
	case R_LINKS_OR_TEMPLATE:
		return f->links || f->template;
	case R_LINKS_AND_TEMPLATE:
		return f->links && f->template;
	case R_POOL_OR_TEMPLATE:
		return f->primary_pool || f->template;
	}
	return false;
}

static void observe(struct mb_verdict_obs *o, enum mb_variant v, const struct mb_factors *f,
                    enum rule r)
{
	memset(o, 0, sizeof *o);
	o->variant = v;
	o->factors = *f;
	o->pool = f->primary_pool ? "pool-a" : "pool-b";
	o->stage = MB_STAGE_DATA;
	o->state = refuses(r, f) ? MB_STATE_BOUNCED : MB_STATE_DELIVERED;
}

static void test_followups(void **state)
{
	static const struct {
		enum rule rule;
		const char *fault, *detail, *relation;
		int max_followups; /* the most follow-up sends this case may take */
	} cases[] = {
	    {R_NONE, "not-reproduced", NULL, NULL, 0},
	    {R_POOL, "ip", NULL, NULL, 0},
	    {R_LINKS, "content", "links", NULL, 0},
	    {R_TEMPLATE, "content", "template", NULL, 0},
	    /* all four fail: only follow-ups tell these apart (DESIGN.md) */
	    {R_DOMAIN, "domain", NULL, NULL, 3},
	    {R_POOL_OR_LINKS, "ip+content", "links", "either-enough", 3},
	    {R_LINKS_OR_TEMPLATE, "content", NULL, NULL, 3},
	    {R_POOL_OR_TEMPLATE, "ip+content", "template", "either-enough", 3},
	    /* two only together */
	    {R_POOL_AND_LINKS, "ip+content", "links", "both-needed", 3},
	    {R_LINKS_AND_TEMPLATE, "content", NULL, NULL, 3},
	};
	(void)state;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct mb_verdict_obs obs[16];
		struct mb_followup f;
		struct mb_verdict v;
		size_t n = 0;
		int followups = 0;

		for (size_t i = 0; i < 4; i++) {
			struct mb_factors fa = mb_verdict_factors(standard[i], &newsletter);
			observe(&obs[n++], standard[i], &fa, cases[c].rule);
		}
		while (n < 12 && mb_verdict_next_followup(obs, n, &newsletter, true, false, &f)) {
			if (f.gain < MB_FOLLOWUP_MIN_GAIN)
				fail_msg("case %zu: follow-up with gain %.3f below the minimum", c,
				         f.gain);
			observe(&obs[n++], f.variant, &f.factors, cases[c].rule);
			followups++;
		}
		assert_int_equal(mb_verdict_infer(obs, n, &v), 0);
		if (strcmp(v.fault, cases[c].fault) != 0 ||
		    (cases[c].detail ? !v.detail || strcmp(v.detail, cases[c].detail) != 0
		                     : v.detail != NULL) ||
		    (cases[c].relation ? !v.relation || strcmp(v.relation, cases[c].relation) != 0
		                       : v.relation != NULL))
			fail_msg("case %zu: got %s/%s/%s after %d follow-ups, want %s/%s/%s (%s)",
			         c, v.fault, v.detail ? v.detail : "null",
			         v.relation ? v.relation : "null", followups, cases[c].fault,
			         cases[c].detail ? cases[c].detail : "null",
			         cases[c].relation ? cases[c].relation : "null", v.summary);
		if (v.unconfirmed)
			fail_msg("case %zu: still unconfirmed after %d follow-ups (%s)", c,
			         followups, v.summary);
		if (followups > cases[c].max_followups)
			fail_msg("case %zu: %d follow-ups, want at most %d", c, followups,
			         cases[c].max_followups);
		mb_verdict_clear(&v);
	}
}

/* The same receivers with three rounds of the four variants (repeats), and then with one
 * outcome flipped (a flaky filter): the verdict stays the same or becomes inconclusive or
 * unconfirmed; it never changes to another confident answer. */
static void test_followups_with_repeats(void **state)
{
	static const enum rule rules[] = {R_POOL,
	                                  R_LINKS,
	                                  R_TEMPLATE,
	                                  R_DOMAIN,
	                                  R_POOL_OR_LINKS,
	                                  R_POOL_AND_LINKS,
	                                  R_LINKS_OR_TEMPLATE,
	                                  R_LINKS_AND_TEMPLATE,
	                                  R_POOL_OR_TEMPLATE};
	(void)state;
	for (size_t c = 0; c < sizeof rules / sizeof rules[0]; c++) {
		struct mb_verdict clean = {0};
		/* which: the outcome flipped, -1 for none (the clean run comes first) */
		for (int which = -1; which < 12; which++) {
			struct mb_verdict_obs obs[24];
			struct mb_followup f;
			struct mb_verdict v;
			size_t n = 0;

			for (int round = 0; round < 3; round++)
				for (size_t i = 0; i < 4; i++) {
					struct mb_factors fa =
					    mb_verdict_factors(standard[i], &newsletter);
					observe(&obs[n], standard[i], &fa, rules[c]);
					if ((int)n == which)
						obs[n].state = obs[n].state == MB_STATE_BOUNCED
						                   ? MB_STATE_DELIVERED
						                   : MB_STATE_BOUNCED;
					n++;
				}
			while (n < 20 &&
			       mb_verdict_next_followup(obs, n, &newsletter, true, false, &f))
				observe(&obs[n++], f.variant, &f.factors, rules[c]);
			assert_int_equal(mb_verdict_infer(obs, n, &v), 0);
			if (which < 0) {
				if (v.unconfirmed || strcmp(v.fault, "inconclusive") == 0)
					fail_msg(
					    "rule %zu with repeats: got %s unconfirmed=%d (%s)", c,
					    v.fault, v.unconfirmed, v.summary);
				clean = v;
				continue;
			}
			if (!v.unconfirmed && strcmp(v.fault, "inconclusive") != 0 &&
			    (strcmp(v.fault, clean.fault) != 0 ||
			     (v.detail == NULL) != (clean.detail == NULL) ||
			     (v.detail && strcmp(v.detail, clean.detail) != 0)))
				fail_msg("rule %zu, outcome %d flipped: got a confident %s/%s, the "
				         "clean "
				         "run says %s/%s (%s)",
				         c, which, v.fault, v.detail ? v.detail : "null",
				         clean.fault, clean.detail ? clean.detail : "null",
				         v.summary);
			mb_verdict_clear(&v);
		}
		mb_verdict_clear(&clean);
	}
}

/* Without an alternate pool the pool cannot be separated: no follow-up through it. */
static void test_followup_without_alternate(void **state)
{
	static const enum mb_variant three[] = {MB_VARIANT_ORIGINAL, MB_VARIANT_PLAIN_TEXT,
	                                        MB_VARIANT_LINKS_STRIPPED};
	struct mb_verdict_obs obs[8];
	struct mb_followup f;
	size_t n = 0;
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct mb_factors fa = mb_verdict_factors(three[i], &newsletter);
		observe(&obs[n++], three[i], &fa, R_DOMAIN);
	}
	while (n < 8 && mb_verdict_next_followup(obs, n, &newsletter, false, false, &f)) {
		assert_false(f.alternate_pool);
		assert_true(f.factors.primary_pool);
		observe(&obs[n++], f.variant, &f.factors, R_DOMAIN);
	}
	assert_true(n < 8); /* it stops by itself */
}

/* An incomplete run gets no follow-up: the sending side must be fixed first. */
static void test_no_followup_when_incomplete(void **state)
{
	struct mb_verdict_obs obs[4];
	struct mb_followup f;
	size_t n;
	(void)state;
	build_obs("AAAA", standard, obs, &n);
	assert_false(mb_verdict_next_followup(obs, n, &newsletter, true, false, &f));
}

/* The refusal texts as second evidence: agreement is said, disagreement lowers confidence. */
static void test_texts_evidence(void **state)
{
	struct mb_verdict_obs obs[8];
	struct mb_verdict v, v2;
	size_t n;
	(void)state;

	/* RRRP: refusals at RCPT classified as IP blocks, alternate pool passes -> ip, agree */
	build_obs("RRRP", standard, obs, &n);
	assert_int_equal(mb_verdict_infer(obs, n, &v), 0);
	assert_string_equal(v.fault, "ip");
	assert_non_null(v.texts);
	assert_string_equal(v.texts, "agree");

	/* the same outcomes, but the texts name the content: disagree, lower confidence */
	for (size_t i = 0; i < n; i++)
		if (obs[i].state == MB_STATE_BOUNCED)
			obs[i].fault = MB_FAULT_CONTENT;
	assert_int_equal(mb_verdict_infer(obs, n, &v2), 0);
	assert_string_equal(v2.fault, "ip");
	assert_string_equal(v2.texts, "disagree");
	if (!(v2.confidence < v.confidence))
		fail_msg("disagreeing texts: got confidence %.2f, want below %.2f", v2.confidence,
		         v.confidence);
	mb_verdict_clear(&v);
	mb_verdict_clear(&v2);

	/* every pool refused with texts naming an IP block: a range block is suggested */
	build_obs("RRRR", standard, obs, &n);
	{
		struct mb_factors bare = mb_verdict_factors(MB_VARIANT_BARE, &newsletter);
		bare.primary_pool = false;
		obs[n] = obs[0];
		obs[n].variant = MB_VARIANT_BARE;
		obs[n].factors = bare;
		n++;
	}
	assert_int_equal(mb_verdict_infer(obs, n, &v), 0);
	assert_string_equal(v.fault, "domain");
	assert_string_equal(v.texts, "disagree");
	if (!strstr(v.next_steps, "range"))
		fail_msg("got next steps '%s', want the range-block question", v.next_steps);
	mb_verdict_clear(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_design_table),
	    cmocka_unit_test(test_not_evidence),
	    cmocka_unit_test(test_pre_data_refusal_is_not_content),
	    cmocka_unit_test(test_repeats),
	    cmocka_unit_test(test_followups),
	    cmocka_unit_test(test_followups_with_repeats),
	    cmocka_unit_test(test_followup_without_alternate),
	    cmocka_unit_test(test_no_followup_when_incomplete),
	    cmocka_unit_test(test_texts_evidence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
