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

void bounce_classify(const struct mb_rules *rules, const struct mb_bounce *b,
                     struct mb_bounce_record *r)
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

	/* a local delivery program (procmail, a pipe) failed: its exit status is no reply */
	if (r->diagnostic_type && strstr(r->diagnostic_type, "unix")) {
		set(c, "mailererror", MB_FAULT_RECIPIENT, c->hard);
		return;
	}
	/* "user unknown" after the recipient was accepted, or with a status that is not about
	 * the address, is a filter speaking (Sisimai's "filtered") */
	if (strcmp(c->reason, "userunknown") == 0 && status_subject(r->status) != 1 &&
	    r->stage != MB_STAGE_RCPT && r->stage != MB_STAGE_MAIL) {
		c->reason = "filtered";
		return;
	}
	if (strcmp(c->reason, "undefined") == 0 && action_is(r, "delayed")) {
		set(c, "expired", MB_FAULT_TRANSIENT, false);
		return;
	}
}
