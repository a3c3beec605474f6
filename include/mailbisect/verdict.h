/* Verdict inference: every send is a point in factor space (pool, links, template, sending
 * domain) with an outcome; hypotheses say which factors make the receiver refuse. Those that
 * contradict outcomes lose likelihood; the most probable (simplest on ties) is the verdict and
 * its posterior the confidence. Pure computation: no I/O, no outside libraries. */
#ifndef MAILBISECT_VERDICT_H
#define MAILBISECT_VERDICT_H

#include <stdbool.h>
#include <stddef.h>

#include "mailbisect/outcome.h"
#include "mailbisect/variant.h"

/* Factors of one send (1 = the factor is present in that send). */
struct mb_factors {
	bool primary_pool;   /* sent through the primary pool */
	bool links;          /* carries links */
	bool template;       /* carries HTML, images or attachments */
	bool primary_domain; /* sent from the primary sending domain */
};

/* What the message under test contains; decides each variant's factors. */
struct mb_message_traits {
	bool has_links;
	bool has_html;
	bool has_attachments;
};

struct mb_factors mb_verdict_factors(enum mb_variant v, const struct mb_message_traits *traits);

/* One send's outcome as the inference sees it. */
struct mb_verdict_obs {
	enum mb_variant variant;
	struct mb_factors factors;
	enum mb_state state;
	enum mb_stage stage; /* stage of the refusal; before DATA means content played no part */
	enum mb_fault fault; /* classified fault of the reply (for bounced sends) */
	const char *reason;  /* classified reason, or NULL */
	const char *pool;    /* pool name, for explanations */
};

/* How one observation counts. */
enum mb_obs_class {
	MB_OBS_PASS,        /* delivered or accepted */
	MB_OBS_FAIL,        /* refused by a policy decision of the receiver */
	MB_OBS_NO_EVIDENCE, /* recipient unknown, mailbox full, rate limit, deferral */
	MB_OBS_UNREACHED /* never reached the receiver: submit-refused, suppressed, error, pending
	                  */
};
enum mb_obs_class mb_verdict_classify_obs(const struct mb_verdict_obs *obs);

struct mb_verdict {
	const char *fault;    /* content, ip, domain, ip+content, not-reproduced, inconclusive,
	                         incomplete (static) */
	const char *detail;   /* links, template, or NULL (static) */
	const char *relation; /* for ip+content: "both-needed" or "either-enough"; else NULL */
	double confidence;    /* posterior of the verdict, 0 when not applicable */
	bool unconfirmed;     /* e.g. domain by elimination: other explanations survive */
	const char *texts;    /* what the classified refusal texts say about the verdict:
	                         "agree", "disagree", "mixed" or "silent" (static; NULL when the
	                         verdict has no refusals to compare) */
	char *summary;        /* owned: one paragraph in plain words */
	char *next_steps;     /* owned: what to do next, one step per line */
	char *alternatives;   /* owned: other surviving explanations, comma-separated, or NULL */
	char *confounded;     /* owned: for ip verdicts, what else differed between the pools
	                         besides the IP (relay, account, headers), or NULL. Set by the
	                         report, not by mb_verdict_infer. */
	char *link_domain;    /* owned: the refused link domain, when bisection (or a message with
	                         one link domain) named it; else NULL. Set by the run, not by
	                         mb_verdict_infer. */
};

/* A send a run could add after its planned ones: a content variant through one pool. */
struct mb_followup {
	enum mb_variant variant; /* original, plain-text, links-stripped, no-attachments or bare;
	                            alternate-pool for the original through the alternate pool */
	bool alternate_pool;     /* through the alternate pool */
	struct mb_factors factors;
	double gain; /* expected information about the verdict, in bits */
};

/* Least expected gain (bits) that justifies one more message to a refusing domain. */
#define MB_FOLLOWUP_MIN_GAIN 0.2

/* Chooses the send that best separates the explanations that still fit obs (DESIGN.md,
 * "Verdict": e.g. after four refusals, `bare` through each pool tells a domain block from a
 * pool block plus a link, or links plus template). Returns true with *out set when one is
 * worth sending: the run is not incomplete, the verdict is not yet settled, and the best
 * candidate's expected gain is at least MB_FOLLOWUP_MIN_GAIN. Ties go to the earlier
 * candidate (primary pool before alternate, simpler variants last), so the choice is the
 * same on every run. */
bool mb_verdict_next_followup(const struct mb_verdict_obs *obs, size_t n,
                              const struct mb_message_traits *traits, bool have_alternate,
                              bool have_alternate_domain, struct mb_followup *out);

/* Infers the verdict. Returns 0 or MB_ENOMEM. */
int mb_verdict_infer(const struct mb_verdict_obs *obs, size_t n, struct mb_verdict *out);
void mb_verdict_clear(struct mb_verdict *v);

#endif
