/* The reason of one bounce record: the reply classified by the rule set, then what only the
 * whole bounce can tell (a feedback report, an auto-reply, a success notice, a local delivery
 * program's failure, a "user unknown" that came after the recipient was accepted). */
#include <string.h>

#include "mailbisect/classify.h"
#include "mailbisect/str.h"
#include "bounce_internal.h"

static void set(struct mb_classification *c, const char *reason, enum mb_fault fault, bool hard)
{
	c->reason = reason;
	c->fault = fault;
	c->hard = hard;
	c->rule = -1;
}

/* The enhanced code's subject ("5.1.1" -> 1), or -1. */
static int status_subject(const char *status)
{
	if (!status || strlen(status) < 5 || status[1] != '.' || status[3] != '.')
		return -1;
	return status[2] - '0';
}

static bool action_is(const struct mb_bounce_record *r, const char *action)
{
	return r->action && mb_str_ieq(r->action, action);
}

/* Enhanced codes precise enough to name the reason whatever the text says (RFC 3463, RFC
 * 7505, RFC 7372). The vague ones (x.0.0, x.1.1 sent for rate limits, x.2.0 sent for DMARC,
 * x.5.x sent for IP blocks, x.7.1) are not here: the text decides those. Some precise codes
 * are still reused by receivers for a neighbouring case the text names: "yield" lists the
 * text reasons that keep their word over the code (Microsoft's 5.1.10 "recipient not found",
 * a 5.6.x content refusal that says spam, a 4.3.2 sent for a connection rate limit). */
static const struct {
	const char *code; /* 'x' = class */
	const char *reason;
	enum mb_fault fault;
	const char *yield[3];
} decisive_statuses[] = {
    {"x.2.2", "mailboxfull", MB_FAULT_RECIPIENT, {NULL}},
    {"x.3.4", "mesgtoobig", MB_FAULT_CONTENT, {NULL}},
    {"x.2.3", "exceedlimit", MB_FAULT_CONTENT, {NULL}},
    {"x.7.13", "suspend", MB_FAULT_RECIPIENT, {NULL}},
    {"x.1.6", "hasmoved", MB_FAULT_RECIPIENT, {NULL}},
    {"x.7.20", "authfailure", MB_FAULT_DOMAIN, {NULL}},
    {"x.7.21", "authfailure", MB_FAULT_DOMAIN, {NULL}},
    {"x.7.22", "authfailure", MB_FAULT_DOMAIN, {NULL}},
    {"x.7.23", "authfailure", MB_FAULT_DOMAIN, {NULL}},
    {"x.7.24", "authfailure", MB_FAULT_DOMAIN, {NULL}},
    {"x.7.26", "authfailure", MB_FAULT_DOMAIN, {NULL}},
    {"x.7.25", "requireptr", MB_FAULT_IP, {NULL}},
    {"x.1.7", "rejected", MB_FAULT_DOMAIN, {NULL}},
    {"x.1.8", "rejected", MB_FAULT_DOMAIN, {NULL}},
    {"x.1.2", "hostunknown", MB_FAULT_RECIPIENT, {NULL}},
    {"x.3.2", "notaccept", MB_FAULT_RECIPIENT, {"toomanyconn", "speeding", NULL}},
    {"x.1.10", "notaccept", MB_FAULT_RECIPIENT, {"userunknown", NULL}},
    {"x.7.27", "notaccept", MB_FAULT_RECIPIENT, {NULL}},
    {"x.6.0", "contenterror", MB_FAULT_CONTENT, {"spamdetected", "virusdetected", NULL}},
    {"x.6.1", "contenterror", MB_FAULT_CONTENT, {"spamdetected", "virusdetected", NULL}},
    {"x.5.3", "toomanyconn", MB_FAULT_TRANSIENT, {NULL}},
};

static bool code_matches(const char *pattern, const char *status)
{
	return status && strcmp(pattern + 1, status + 1) == 0 &&
	       (status[0] == '4' || status[0] == '5');
}

/* A decisive code names the reason; only a full mailbox said in words, or a reason the code
 * yields to, outranks it. */
static bool decisive_status(const struct mb_bounce_record *r, struct mb_classification *c)
{
	for (size_t i = 0; i < sizeof decisive_statuses / sizeof decisive_statuses[0]; i++) {
		if (!code_matches(decisive_statuses[i].code, r->status))
			continue;
		if (strcmp(c->reason, "mailboxfull") == 0)
			return false;
		for (size_t k = 0; k < 3 && decisive_statuses[i].yield[k]; k++)
			if (strcmp(c->reason, decisive_statuses[i].yield[k]) == 0)
				return false;
		c->reason = decisive_statuses[i].reason;
		c->fault = r->status[0] == '4' ? MB_FAULT_TRANSIENT : decisive_statuses[i].fault;
		c->rule = -1;
		return true;
	}
	return false;
}

static bool reason_in(const char *reason, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], reason) == 0)
			return true;
	return false;
}

/* Reasons that say nothing about who refused: a refusal at MAIL FROM is then about the
 * sender, one at the greeting about the connecting host. A security or policy reason is
 * vague too when only the enhanced code gave it (no rule understood the words). */
static bool vague(const struct mb_classification *c)
{
	static const char *const list[] = {"undefined", "onhold",      "userunknown",
	                                   "filtered",  "systemerror", "syntaxerror"};
	static const char *const code_only[] = {"securityerror", "policyviolation"};
	return reason_in(c->reason, list, sizeof list / sizeof list[0]) ||
	       (c->rule < 0 &&
	        reason_in(c->reason, code_only, sizeof code_only / sizeof code_only[0]));
}

/* Statements that the account does not exist, explicit enough to stand whatever the stage
 * (a generic "user unknown" after DATA is a filter's answer, these are not). */
static bool account_missing(const struct mb_bounce_record *r)
{
	static const char *const phrases[] = {"dd this user doesn't have a", "does not have a",
	                                      "name is not recognized", "not listed in",
	                                      "address couldn't be found"};
	for (size_t i = 0; r->diagnostic && i < sizeof phrases / sizeof phrases[0]; i++)
		if (mb_str_icontains(r->diagnostic, strlen(r->diagnostic), phrases[i]))
			return true;
	return false;
}

/* "550 mx.example.org does not exist": a domain name (a dot, no '@') is what is missing. */
static bool domain_missing(const char *text)
{
	const char *p = text, *w;
	while (p && (p = strstr(p, " does not exist"))) {
		bool dot = false;
		for (w = p; w > text && w[-1] != ' ' && w[-1] != '<'; w--) {
			if (w[-1] == '@' || w[-1] == ':')
				return false;
			dot |= w[-1] == '.';
		}
		if (dot && w < p && p[-1] != '.')
			return true;
		p++;
	}
	return false;
}

void bounce_classify(const struct mb_rules *rules, const struct mb_bounce *b,
                     const struct bounce_context *ctx, struct mb_bounce_record *r)
{
	struct mb_classification *c = &r->cls;

	if (b->kind == MB_BOUNCE_FEEDBACK) {
		set(c, "feedback", MB_FAULT_UNKNOWN, false);
		return;
	}
	if (b->kind == MB_BOUNCE_AUTOREPLY) {
		set(c, "vacation", MB_FAULT_UNKNOWN, false);
		return;
	}
	if (action_is(r, "delivered") || action_is(r, "relayed") || action_is(r, "expanded") ||
	    (r->status && r->status[0] == '2')) {
		set(c, "delivered", MB_FAULT_UNKNOWN, false);
		return;
	}
	mb_classify_reply_provider(rules, b->provider, r->stage, r->reply_code, r->status,
	                           r->diagnostic, c);
	if (c->rule >= 0 && c->rule < (int)(mb_rules_count(rules) - mb_rules_count(NULL)))
		return; /* a rule of the user's own file decides alone */
	/* what the format, the local delivery agent or the refusing host documents for its own
	 * words comes before the general reading */
	if (bounce_decide_by_format(b, r, c) || bounce_decide_by_agent(r, c) ||
	    bounce_decide_by_host(ctx, r, c))
		return;

	if (decisive_status(r, c))
		return;
	if (r->stage == MB_STAGE_MAIL && vague(c)) {
		set(c, "rejected", MB_FAULT_DOMAIN, c->hard);
		return;
	}
	if ((r->stage == MB_STAGE_CONNECT || r->stage == MB_STAGE_HELO) &&
	    (strcmp(c->reason, "undefined") == 0 || (c->rule < 0 && vague(c)))) {
		set(c, "blocked", MB_FAULT_IP, c->hard);
		return;
	}
	/* a local delivery program (procmail, a pipe) failed: its exit status is no reply.
	 * Sendmail's permanent x.3.0 for it says the system could not deliver at all. */
	if (r->diagnostic_type && strstr(r->diagnostic_type, "unix") && b->provider &&
	    strcmp(b->provider, "sendmail") == 0 && r->status && r->status[0] == '5' &&
	    strcmp(r->status + 1, ".3.0") == 0) {
		set(c, "systemerror", MB_FAULT_RECIPIENT, c->hard);
		return;
	}
	if (r->diagnostic_type && strstr(r->diagnostic_type, "unix") &&
	    strcmp(c->reason, "mailboxfull") != 0) {
		set(c, "mailererror", MB_FAULT_RECIPIENT, c->hard);
		return;
	}
	/* "<domain> does not exist": the host part, not the mailbox */
	if ((strcmp(c->reason, "userunknown") == 0 || strcmp(c->reason, "filtered") == 0) &&
	    domain_missing(r->diagnostic)) {
		set(c, "hostunknown", MB_FAULT_RECIPIENT, c->hard);
		return;
	}
	/* "user unknown" after the recipient was accepted, or with a status that is not about
	 * the address, is a filter speaking (Sisimai's "filtered") */
	if (strcmp(c->reason, "userunknown") == 0 && status_subject(r->status) != 1 &&
	    r->stage != MB_STAGE_RCPT && r->stage != MB_STAGE_MAIL && !account_missing(r)) {
		c->reason = "filtered";
		return;
	}
	/* a name that does not resolve for now is a network problem, not a missing host */
	if (strcmp(c->reason, "hostunknown") == 0 &&
	    ((r->status && r->status[0] == '4') || r->reply_code / 100 == 4)) {
		set(c, "networkerror", MB_FAULT_TRANSIENT, false);
		return;
	}
	/* delayed, or refused for now with a code of its own in words no rule knows: still
	 * waiting when it gave up (a bare 4.0.0 "temporary failure" says nothing of the kind) */
	if (strcmp(c->reason, "undefined") == 0 &&
	    (action_is(r, "delayed") ||
	     (r->status && r->status[0] == '4' && strcmp(r->status + 1, ".0.0") != 0))) {
		set(c, "expired", MB_FAULT_TRANSIENT, false);
		return;
	}
	/* no words understood, but the code's subject still says content or security */
	if (strcmp(c->reason, "undefined") == 0 && status_subject(r->status) == 6) {
		set(c, "contenterror", MB_FAULT_CONTENT, c->hard);
		return;
	}
	if (strcmp(c->reason, "undefined") == 0 && status_subject(r->status) == 7) {
		set(c, "securityerror", MB_FAULT_UNKNOWN, c->hard);
		return;
	}
	/* text that no rule understood: a reason is there, not known (Sisimai's "onhold") */
	if (strcmp(c->reason, "undefined") == 0 && r->diagnostic && *r->diagnostic)
		c->reason = "onhold";
}
