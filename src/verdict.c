/* Verdict inference over factor hypotheses (DESIGN.md, "Verdict"): a likelihood with a small
 * error rate for flaky filters, priors that prefer simpler explanations, and the posterior
 * as confidence. Table-driven: the hypothesis list below is the whole model. */
#include "mailbisect/verdict.h"
#include "mailbisect/buf.h"
#include "mailbisect/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Probability that one send comes out against its hypothesis (flaky filters, volume). */
#define FLAKE_RATE 0.05
/* Below this posterior a verdict whose best explanation has contradictions is inconclusive. */
#define CONFIDENT_POSTERIOR 0.8
/* A verdict below this posterior is reported as unconfirmed (and follow-ups go on). */
#define CONFIRMED_POSTERIOR 0.75

enum factor { F_IP, F_LINKS, F_TEMPLATE, F_DOMAIN };
enum op { OP_NONE, OP_ONE, OP_AND, OP_OR, OP_RANDOM };

struct hypothesis {
	enum op op;
	enum factor a, b;
	double prior;
	const char *fault;
	const char *detail;
	const char *relation;
	const char *words; /* plain-words description */
};

static const struct hypothesis hypotheses[] = {
    {OP_NONE, 0, 0, 1.0, "not-reproduced", NULL, NULL, "nothing refused"},
    {OP_ONE, F_IP, 0, 1.0, "ip", NULL, NULL, "the primary pool's IP reputation"},
    {OP_ONE, F_LINKS, 0, 1.0, "content", "links", NULL, "the links (a URL domain)"},
    {OP_ONE, F_TEMPLATE, 0, 1.0, "content", "template", NULL,
     "the template (HTML, images or attachments)"},
    {OP_ONE, F_DOMAIN, 0, 1.0, "domain", NULL, NULL, "the sending domain"},
    {OP_AND, F_LINKS, F_TEMPLATE, 0.5, "content", NULL, NULL, "links and template, only together"},
    {OP_OR, F_LINKS, F_TEMPLATE, 0.5, "content", NULL, NULL, "links or template, each enough"},
    {OP_AND, F_IP, F_LINKS, 0.5, "ip+content", "links", "both-needed",
     "primary pool and links, only together"},
    {OP_OR, F_IP, F_LINKS, 0.5, "ip+content", "links", "either-enough",
     "primary pool or links, each enough"},
    {OP_AND, F_IP, F_TEMPLATE, 0.5, "ip+content", "template", "both-needed",
     "primary pool and template, only together"},
    {OP_OR, F_IP, F_TEMPLATE, 0.5, "ip+content", "template", "either-enough",
     "primary pool or template, each enough"},
    /* A filter that refuses at random: every outcome a coin flip. It wins only when outcomes
     * contradict every factor explanation too often to be flakes, so a random receiver
     * yields "inconclusive" instead of a confident wrong answer. */
    {OP_RANDOM, 0, 0, 0.3, "inconclusive", NULL, NULL, "outcomes independent of every factor"},
};
#define N_HYPOTHESES (sizeof hypotheses / sizeof hypotheses[0])

struct mb_factors mb_verdict_factors(enum mb_variant v, const struct mb_message_traits *t)
{
	struct mb_factors f = {true, t->has_links, t->has_html || t->has_attachments, true};
	switch (v) {
	case MB_VARIANT_PLAIN_TEXT:
		f.template = false;
		break;
	case MB_VARIANT_LINKS_STRIPPED:
		f.links = false;
		break;
	case MB_VARIANT_ALTERNATE_POOL:
		f.primary_pool = false;
		break;
	case MB_VARIANT_NO_ATTACHMENTS:
		f.template = t->has_html;
		break;
	case MB_VARIANT_BARE:
		f.links = false;
		f.template = false;
		break;
	case MB_VARIANT_ALTERNATE_DOMAIN:
		f.primary_domain = false;
		break;
	default:
		break;
	}
	return f;
}

enum mb_obs_class mb_verdict_classify_obs(const struct mb_verdict_obs *obs)
{
	switch (obs->state) {
	case MB_STATE_DELIVERED:
	case MB_STATE_ACCEPTED:
		return MB_OBS_PASS;
	case MB_STATE_BOUNCED:
		if (obs->fault == MB_FAULT_RECIPIENT || obs->fault == MB_FAULT_TRANSIENT)
			return MB_OBS_NO_EVIDENCE;
		if (obs->fault == MB_FAULT_SENDER_SIDE)
			return MB_OBS_UNREACHED;
		return MB_OBS_FAIL;
	case MB_STATE_DEFERRED:
		return MB_OBS_NO_EVIDENCE;
	default:
		return MB_OBS_UNREACHED;
	}
}

static bool factor_value(const struct mb_factors *f, enum factor which, bool content_seen)
{
	switch (which) {
	case F_IP:
		return f->primary_pool;
	case F_LINKS:
		return content_seen && f->links;
	case F_TEMPLATE:
		return content_seen && f->template;
	default:
		return f->primary_domain;
	}
}

/* Would the receiver refuse a send with these factors under h? A refusal before DATA cannot
 * depend on content, so for those the content factors count as absent. */
static bool predicts_fail(const struct hypothesis *h, const struct mb_factors *f, bool content_seen)
{
	bool a = factor_value(f, h->a, content_seen), b = factor_value(f, h->b, content_seen);
	switch (h->op) {
	case OP_NONE:
		return false;
	case OP_ONE:
		return a;
	case OP_AND:
		return a && b;
	default:
		return a || b;
	}
}

static bool before_data(enum mb_stage s)
{
	return s == MB_STAGE_CONNECT || s == MB_STAGE_HELO || s == MB_STAGE_MAIL ||
	       s == MB_STAGE_RCPT;
}

struct arm {
	int pass, fail, no_evidence, unreached;
};

/* An arm is a variant through one pool: follow-ups send some variants through both. */
#define N_ARMS (MB_VARIANT_COUNT * 2)

static size_t arm_index(const struct mb_verdict_obs *o)
{
	size_t v = o->variant < MB_VARIANT_COUNT ? (size_t)o->variant : 0;
	bool natural = o->factors.primary_pool != (o->variant == MB_VARIANT_ALTERNATE_POOL);
	return v * 2 + (natural ? 0 : 1);
}

static void count_arms(const struct mb_verdict_obs *obs, size_t n, struct arm arms[])
{
	memset(arms, 0, sizeof(struct arm) * N_ARMS);
	for (size_t i = 0; i < n; i++) {
		struct arm *a = &arms[arm_index(&obs[i])];
		switch (mb_verdict_classify_obs(&obs[i])) {
		case MB_OBS_PASS:
			a->pass++;
			break;
		case MB_OBS_FAIL:
			a->fail++;
			break;
		case MB_OBS_NO_EVIDENCE:
			a->no_evidence++;
			break;
		default:
			a->unreached++;
		}
	}
}

static int arms_summary(struct mb_buf *b, const struct arm arms[])
{
	int rc = 0, first = 1;
	for (size_t a = 0; a < N_ARMS && !rc; a++) {
		enum mb_variant v = (enum mb_variant)(a / 2);
		int total = arms[a].pass + arms[a].fail;
		if (total == 0 && !arms[a].no_evidence && !arms[a].unreached)
			continue;
		rc = mb_buf_printf(b, "%s%s%s %d/%d passed", first ? "" : ", ", mb_variant_name(v),
		                   a % 2 == 0                       ? ""
		                   : v == MB_VARIANT_ALTERNATE_POOL ? " via the primary pool"
		                                                    : " via the alternate pool",
		                   arms[a].pass, total);
		first = 0;
	}
	return rc;
}

/* Sets an "incomplete" verdict when some send gives no evidence; returns 1 when it did. */
/* Sends still pending when the verdict is made: a run that finishes closes its window, so they
 * belong to a run that stopped, some perhaps before they left. resume sends what is left and
 * collects like a run (collect alone would only read the bounce mailbox). One line for all. */
_Static_assert(MB_VARIANT_COUNT <= 32, "the pending variants are a set of 32 bits");

static void advise_pending(struct mb_buf *steps, int pending, unsigned long variants)
{
	bool first = true;

	if (pending == 1)
		mb_buf_puts(steps, "A send of variant ");
	else
		mb_buf_printf(steps, "%d sends (variants ", pending);
	for (int v = 0; v < MB_VARIANT_COUNT; v++) {
		if (!(variants & (1ul << v)))
			continue;
		mb_buf_printf(steps, "%s%s", first ? "" : ", ",
		              mb_variant_name((enum mb_variant)v));
		first = false;
	}
	mb_buf_printf(steps,
	              "%s still pending: the run stopped before %s resolved, perhaps before "
	              "%s left. `mailbisect resume RUN` sends what is left and collects the "
	              "outcomes; after that, `mailbisect collect RUN` reads bounces that come "
	              "late.\n",
	              pending == 1 ? " is" : ") are", pending == 1 ? "it was" : "they were",
	              pending == 1 ? "it" : "they");
}

static int check_incomplete(const struct mb_verdict_obs *obs, size_t n, const struct arm arms[],
                            struct mb_verdict *out, struct mb_buf *why, struct mb_buf *steps)
{
	int unreached = 0, arms_without_evidence = 0, pending = 0;
	unsigned long pending_variants = 0;
	for (size_t i = 0; i < n; i++) {
		enum mb_obs_class c = mb_verdict_classify_obs(&obs[i]);
		if (c == MB_OBS_UNREACHED) {
			unreached++;
			if (obs[i].state == MB_STATE_SUBMIT_REFUSED &&
			    obs[i].stage == MB_STAGE_AUTH)
				mb_buf_printf(
				    steps,
				    "The relay of pool %s refused AUTH: this is a "
				    "credentials problem on your side, not a receiver "
				    "block. Fix the pool's auth settings, then run again.\n",
				    obs[i].pool ? obs[i].pool : "?");
			else if (obs[i].state == MB_STATE_SUBMIT_REFUSED)
				mb_buf_printf(steps,
				              "The relay of pool %s refused the message at %s: "
				              "fix the sending side (sender address, relay "
				              "permissions) before judging the receiver.\n",
				              obs[i].pool ? obs[i].pool : "?",
				              mb_stage_name(obs[i].stage));
			else if (obs[i].state == MB_STATE_ERROR)
				mb_buf_printf(steps,
				              "Pool %s could not be reached (connection, TLS or "
				              "timeout): check its host, port and TLS settings.\n",
				              obs[i].pool ? obs[i].pool : "?");
			else if (obs[i].state == MB_STATE_PENDING) {
				pending++;
				pending_variants |= 1ul << obs[i].variant;
			}
		}
	}
	if (pending)
		advise_pending(steps, pending, pending_variants);
	for (size_t a = 0; a < N_ARMS; a++)
		if ((arms[a].no_evidence || arms[a].unreached) && arms[a].pass + arms[a].fail == 0)
			arms_without_evidence++;
	if (!unreached && !arms_without_evidence)
		return 0;
	out->fault = "incomplete";
	if (unreached)
		mb_buf_printf(why,
		              "%d send(s) never reached the receiver, so they say nothing "
		              "about content, IP or domain. ",
		              unreached);
	if (arms_without_evidence && !unreached) {
		mb_buf_puts(why, "Some variants got only answers that are not evidence "
		                 "(recipient unknown, mailbox full, rate limit or deferral). ");
		mb_buf_puts(steps, "Use a recipient that exists and is not rate-limited, or wait "
		                   "for deferred sends to finish, then run again.\n");
	}
	return 1;
}

struct scored {
	double weight;
	int mismatches;
};

static void score(const struct mb_verdict_obs *obs, size_t n, struct scored s[])
{
	for (size_t h = 0; h < N_HYPOTHESES; h++) {
		double logw = log(hypotheses[h].prior);
		int miss = 0;
		for (size_t i = 0; i < n; i++) {
			enum mb_obs_class c = mb_verdict_classify_obs(&obs[i]);
			bool fail, predicted;
			if (c != MB_OBS_PASS && c != MB_OBS_FAIL)
				continue;
			fail = c == MB_OBS_FAIL;
			if (hypotheses[h].op == OP_RANDOM) {
				logw += log(0.5);
				continue;
			}
			predicted = predicts_fail(&hypotheses[h], &obs[i].factors,
			                          !(fail && before_data(obs[i].stage)));
			if (fail == predicted) {
				logw += log(1.0 - FLAKE_RATE);
			} else {
				logw += log(FLAKE_RATE);
				miss++;
			}
		}
		s[h].weight = logw;
		s[h].mismatches = miss;
	}
	/* normalise log weights into posteriors */
	double max = s[0].weight, total = 0;
	for (size_t h = 1; h < N_HYPOTHESES; h++)
		if (s[h].weight > max)
			max = s[h].weight;
	for (size_t h = 0; h < N_HYPOTHESES; h++)
		total += (s[h].weight = exp(s[h].weight - max));
	for (size_t h = 0; h < N_HYPOTHESES; h++)
		s[h].weight /= total;
}

static bool same_class(const struct hypothesis *a, const struct hypothesis *b)
{
	return strcmp(a->fault, b->fault) == 0 &&
	       (a->detail == b->detail ||
	        (a->detail && b->detail && !strcmp(a->detail, b->detail))) &&
	       a->relation == b->relation;
}

static bool has_repeats(const struct arm arms[])
{
	for (size_t a = 0; a < N_ARMS; a++)
		if (arms[a].pass + arms[a].fail > 1)
			return true;
	return false;
}

/* True when an alternate-domain send passed: the domain was measured, not concluded. */
static bool domain_measured(const struct mb_verdict_obs *obs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (obs[i].variant == MB_VARIANT_ALTERNATE_DOMAIN &&
		    mb_verdict_classify_obs(&obs[i]) == MB_OBS_PASS)
			return true;
	return false;
}

static void next_steps_for(const struct hypothesis *h, bool measured, struct mb_buf *steps)
{
	if (!strcmp(h->fault, "ip"))
		mb_buf_puts(steps,
		            "Send the escalation ticket to your ESP: the primary pool's IP "
		            "(or range) is refused while the alternate pool passes. Ask for "
		            "delisting or a move to a clean pool; meanwhile route this domain "
		            "through the alternate pool.\n");
	else if (!strcmp(h->fault, "content") && h->detail && !strcmp(h->detail, "links"))
		mb_buf_puts(steps, "A link domain in the message is refused: check each link "
		                   "domain against URL blocklists (Spamhaus DBL, SURBL, URIBL) and "
		                   "replace or remove the listed one.\n");
	else if (!strcmp(h->fault, "content") && h->detail)
		mb_buf_puts(steps,
		            "The template is refused (HTML, images or attachments): "
		            "compare with a plain-text mailing, reduce images, and check the "
		            "attachment types the receiver accepts.\n");
	else if (!strcmp(h->fault, "content"))
		mb_buf_puts(steps,
		            "Content is refused; neither links nor template alone explain it. "
		            "Review both, starting with the link domains.\n");
	else if (!strcmp(h->fault, "domain") && measured)
		mb_buf_puts(steps,
		            "The same message from the alternate sending domain passed while "
		            "every send from this one was refused: check this domain's SPF, "
		            "DKIM and DMARC alignment and its reputation with the receiver.\n");
	else if (!strcmp(h->fault, "domain"))
		mb_buf_puts(steps, "Every variant from this sending domain was refused: check SPF, "
		                   "DKIM and DMARC alignment and the domain's reputation; add an "
		                   "alternate-domain variant to confirm directly.\n");
	else if (!strcmp(h->fault, "ip+content"))
		mb_buf_puts(steps,
		            "Both the primary pool and the content play a part: escalate the "
		            "pool to your ESP and fix the content (see detail).\n");
	else
		mb_buf_puts(steps,
		            "The refusal did not reproduce: it may be intermittent, already "
		            "lifted or volume-dependent. Watch this domain with canary sends.\n");
}

/* The classified refusal texts are second, independent evidence: do they name the same kind
 * of fault as the A/B result? Disagreement lowers the confidence and says what it may mean. */
static void compare_texts(const struct mb_verdict_obs *obs, size_t n, struct mb_verdict *out,
                          struct mb_buf *why, struct mb_buf *steps)
{
	int fails = 0, by[MB_FAULT_COUNT] = {0}, agree = 0, against = 0;
	bool want_ip = !strcmp(out->fault, "ip") || !strcmp(out->fault, "ip+content");
	bool want_content = !strcmp(out->fault, "content") || !strcmp(out->fault, "ip+content");
	bool want_domain = !strcmp(out->fault, "domain");

	for (size_t i = 0; i < n; i++) {
		if (mb_verdict_classify_obs(&obs[i]) != MB_OBS_FAIL)
			continue;
		fails++;
		by[obs[i].fault < MB_FAULT_COUNT ? obs[i].fault : MB_FAULT_UNKNOWN]++;
	}
	if (fails == 0)
		return;
	agree = (want_ip ? by[MB_FAULT_IP] : 0) + (want_content ? by[MB_FAULT_CONTENT] : 0) +
	        (want_domain ? by[MB_FAULT_DOMAIN] : 0);
	against = (!want_ip ? by[MB_FAULT_IP] : 0) + (!want_content ? by[MB_FAULT_CONTENT] : 0) +
	          (!want_domain ? by[MB_FAULT_DOMAIN] : 0);
	if (agree == 0 && against == 0) {
		out->texts = "silent";
		mb_buf_puts(why, "The refusal texts do not say what they object to. ");
		return;
	}
	if (against == 0) {
		out->texts = "agree";
		mb_buf_printf(why, "The receiver's own words agree: %d of %d refusals name %s. ",
		              agree, fails,
		              want_domain    ? "the sending domain (authentication or reputation)"
		              : want_content ? (want_ip ? "the IP or the content" : "the content")
		                             : "an IP or network block");
		return;
	}
	out->texts = agree ? "mixed" : "disagree";
	out->confidence *= agree ? 0.9 : 0.75;
	mb_buf_printf(why, "The refusal texts %s: %d of %d name %s (confidence lowered to %.2f). ",
	              agree ? "are mixed" : "disagree", against, fails,
	              by[MB_FAULT_IP] && !want_ip           ? "an IP or network block"
	              : by[MB_FAULT_DOMAIN] && !want_domain ? "the sending domain"
	                                                    : "the content",
	              out->confidence);
	if (want_domain && by[MB_FAULT_IP])
		mb_buf_puts(steps,
		            "Every pool was refused while the texts name an IP block: the "
		            "block may cover a range that holds both pools. Ask the ESP which "
		            "ranges the pools share.\n");
}

static int conclude(const struct mb_verdict_obs *obs, size_t n, const struct arm arms[],
                    struct mb_verdict *out, struct mb_buf *why, struct mb_buf *steps,
                    struct mb_buf *alts)
{
	struct scored s[N_HYPOTHESES];
	double class_post[N_HYPOTHESES];
	size_t best = 0;

	score(obs, n, s);
	for (size_t h = 0; h < N_HYPOTHESES; h++) {
		class_post[h] = 0;
		for (size_t k = 0; k < N_HYPOTHESES; k++)
			if (same_class(&hypotheses[h], &hypotheses[k]))
				class_post[h] += s[k].weight;
	}
	for (size_t h = 1; h < N_HYPOTHESES; h++)
		if (class_post[h] > class_post[best] + 1e-9)
			best = h;
	/* within the best class, the most probable hypothesis speaks for it */
	for (size_t h = 0; h < N_HYPOTHESES; h++)
		if (same_class(&hypotheses[h], &hypotheses[best]) && s[h].weight > s[best].weight)
			best = h;

	if (hypotheses[best].op == OP_RANDOM) {
		out->fault = "inconclusive";
		mb_buf_puts(why, "Outcomes look random: identical sends got different answers, so "
		                 "no factor explains the refusals (a probabilistic filter, or a "
		                 "block that started or lifted during the run). ");
		mb_buf_puts(steps, "Run again later with a higher repeat; meanwhile treat the "
		                   "receiver as throttling or scoring near its threshold.\n");
		return 0;
	}
	if (s[best].mismatches > 0 &&
	    (!has_repeats(arms) || class_post[best] < CONFIDENT_POSTERIOR)) {
		out->fault = "inconclusive";
		out->confidence = 0;
		mb_buf_printf(why,
		              "No explanation fits every outcome: the closest (%s) is "
		              "contradicted by %d send(s). ",
		              hypotheses[best].words, s[best].mismatches);
		mb_buf_puts(steps,
		            "Outcomes conflict: the block may have started or lifted during "
		            "the run, or the filter is random. Run again with repeat >= 3.\n");
		return 0;
	}
	out->fault = hypotheses[best].fault;
	out->detail = hypotheses[best].detail;
	out->relation = hypotheses[best].relation;
	out->confidence = class_post[best];
	mb_buf_printf(why, "Explanation: %s%s. ", hypotheses[best].words,
	              !strcmp(hypotheses[best].fault, "domain") && domain_measured(obs, n)
	                  ? ", measured directly: the alternate-domain variant passed"
	                  : "");
	if (s[best].mismatches > 0)
		mb_buf_printf(why, "%d send(s) disagreed with it (a flaky filter?). ",
		              s[best].mismatches);
	for (size_t h = 0; h < N_HYPOTHESES; h++) {
		if (same_class(&hypotheses[h], &hypotheses[best]) || s[h].mismatches > 0 ||
		    hypotheses[h].op == OP_RANDOM)
			continue;
		mb_buf_printf(alts, "%s%s", alts->len ? ", " : "", hypotheses[h].words);
	}
	if (alts->len || class_post[best] < CONFIRMED_POSTERIOR) {
		out->unconfirmed = true;
		mb_buf_printf(why, "Unconfirmed: %s also fit%s. ",
		              alts->len ? alts->data : "other explanations", alts->len ? "" : "");
		if (!strcmp(out->fault, "domain"))
			mb_buf_puts(steps, "Not yet confirmed: follow-up sends of a bare variant "
			                   "(plain text, no links) through both pools, or an "
			                   "alternate-domain variant, would separate these.\n");
	}
	compare_texts(obs, n, out, why, steps);
	if (!out->unconfirmed && out->confidence < CONFIRMED_POSTERIOR) {
		/* the refusal texts argued against it */
		out->unconfirmed = true;
		mb_buf_puts(why, "Unconfirmed: the evidence does not agree well enough. ");
	}
	next_steps_for(&hypotheses[best], domain_measured(obs, n), steps);
	return 0;
}

int mb_verdict_infer(const struct mb_verdict_obs *obs, size_t n, struct mb_verdict *out)
{
	struct arm arms[N_ARMS];
	struct mb_buf why = MB_BUF_INIT, steps = MB_BUF_INIT, alts = MB_BUF_INIT;
	int rc = 0;

	memset(out, 0, sizeof *out);
	count_arms(obs, n, arms);
	arms_summary(&why, arms);
	mb_buf_puts(&why, ". ");
	if (n == 0) {
		out->fault = "incomplete";
		mb_buf_puts(&why, "No send was made. ");
	} else if (!check_incomplete(obs, n, arms, out, &why, &steps)) {
		rc = conclude(obs, n, arms, out, &why, &steps, &alts);
	}
	if (mb_buf_terminate(&why) || mb_buf_terminate(&steps)) {
		rc = MB_ENOMEM;
	}
	/* trailing blank */
	if (why.len && why.data[why.len - 1] == ' ')
		why.data[--why.len] = '\0';
	if (steps.len && steps.data[steps.len - 1] == '\n')
		steps.data[--steps.len] = '\0';
	out->summary = mb_buf_steal(&why);
	out->next_steps = mb_buf_steal(&steps);
	out->alternatives = alts.len ? mb_buf_steal(&alts) : NULL;
	mb_buf_free(&alts);
	if (!out->summary || !out->next_steps)
		rc = MB_ENOMEM;
	return rc;
}

void mb_verdict_clear(struct mb_verdict *v)
{
	if (!v)
		return;
	free(v->summary);
	free(v->next_steps);
	free(v->alternatives);
	free(v->link_domain);
	free(v->confounded);
	memset(v, 0, sizeof *v);
}

/* ---- Follow-ups ----------------------------------------------------------------------- */

static double entropy_bits(const double *p, size_t n)
{
	double h = 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] > 1e-12)
			h -= p[i] * log2(p[i]);
	return h;
}

/* Posterior of each verdict class (hypotheses of the same class pooled), under weights w. */
static void class_mass(const double w[], double out[])
{
	for (size_t h = 0; h < N_HYPOTHESES; h++) {
		out[h] = 0;
		for (size_t k = 0; k < N_HYPOTHESES; k++)
			if (same_class(&hypotheses[h], &hypotheses[k])) {
				/* each class is counted once, at its first hypothesis */
				if (k < h)
					break;
				out[h] += w[k];
			}
	}
}

/* Expected information (bits) a send with factors f gives about the verdict class. */
static double expected_gain(const struct scored s[], const struct mb_factors *f)
{
	double prior[N_HYPOTHESES], w_fail[N_HYPOTHESES], w_pass[N_HYPOTHESES];
	double c_prior[N_HYPOTHESES], c_fail[N_HYPOTHESES], c_pass[N_HYPOTHESES];
	double p_fail = 0;

	for (size_t h = 0; h < N_HYPOTHESES; h++) {
		double pf = hypotheses[h].op == OP_RANDOM            ? 0.5
		            : predicts_fail(&hypotheses[h], f, true) ? 1.0 - FLAKE_RATE
		                                                     : FLAKE_RATE;
		prior[h] = s[h].weight;
		w_fail[h] = s[h].weight * pf;
		w_pass[h] = s[h].weight * (1.0 - pf);
		p_fail += w_fail[h];
	}
	for (size_t h = 0; h < N_HYPOTHESES; h++) {
		w_fail[h] = p_fail > 0 ? w_fail[h] / p_fail : 0;
		w_pass[h] = p_fail < 1 ? w_pass[h] / (1.0 - p_fail) : 0;
	}
	class_mass(prior, c_prior);
	class_mass(w_fail, c_fail);
	class_mass(w_pass, c_pass);
	return entropy_bits(c_prior, N_HYPOTHESES) - p_fail * entropy_bits(c_fail, N_HYPOTHESES) -
	       (1.0 - p_fail) * entropy_bits(c_pass, N_HYPOTHESES);
}

bool mb_verdict_next_followup(const struct mb_verdict_obs *obs, size_t n,
                              const struct mb_message_traits *traits, bool have_alternate,
                              bool have_alternate_domain, struct mb_followup *out)
{
	static const enum mb_variant content[] = {
	    MB_VARIANT_ORIGINAL,       MB_VARIANT_PLAIN_TEXT, MB_VARIANT_LINKS_STRIPPED,
	    MB_VARIANT_NO_ATTACHMENTS, MB_VARIANT_BARE,       MB_VARIANT_ALTERNATE_DOMAIN};
	struct scored s[N_HYPOTHESES];
	struct mb_verdict v;
	bool worth = false;

	memset(out, 0, sizeof *out);
	if (n == 0 || mb_verdict_infer(obs, n, &v))
		return false;
	/* settled: one explanation fits every outcome and nothing else does; more mail to a
	 * refusing domain would only polish the figure */
	if (!strcmp(v.fault, "incomplete") ||
	    (strcmp(v.fault, "inconclusive") != 0 && !v.unconfirmed)) {
		mb_verdict_clear(&v);
		return false;
	}
	mb_verdict_clear(&v);
	score(obs, n, s);
	for (int pool = 0; pool < (have_alternate ? 2 : 1); pool++) {
		for (size_t i = 0; i < sizeof content / sizeof content[0]; i++) {
			struct mb_followup c = {content[i], pool == 1, {0}, 0};
			if ((content[i] == MB_VARIANT_NO_ATTACHMENTS && !traits->has_attachments) ||
			    (content[i] == MB_VARIANT_ALTERNATE_DOMAIN &&
			     (!have_alternate_domain || pool == 1)))
				continue;
			c.factors = mb_verdict_factors(content[i], traits);
			if (c.alternate_pool) {
				c.factors.primary_pool = false;
				if (content[i] == MB_VARIANT_ORIGINAL)
					c.variant = MB_VARIANT_ALTERNATE_POOL;
			}
			c.gain = expected_gain(s, &c.factors);
			if (c.gain >= MB_FOLLOWUP_MIN_GAIN && c.gain > out->gain + 1e-9) {
				*out = c;
				worth = true;
			}
		}
	}
	return worth;
}
