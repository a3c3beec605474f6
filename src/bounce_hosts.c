/* Decisions kept per bounce format, per local delivery agent and per remote host: where the
 * writer of a bounce or the host that refused documents what its own words mean, that meaning
 * decides before the general rules do. Tables of data; the matching is a few lines. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "mailbisect/str.h"
#include "bounce_internal.h"

#define WORDS_MAX 3

/* clang-format off */

/* One documented decision. Every condition given must hold. */
struct decision {
	const char *who;            /* format (bounce.h provider name), agent or host class */
	const char *status;         /* enhanced code, 'x' = any class digit; NULL = any */
	unsigned stages;            /* bit mask of (1u << enum mb_stage); 0 = any */
	const char *all[WORDS_MAX]; /* fragments that must all occur, any case */
	const char *reason;
	enum mb_fault fault;
};

#define AT(s) (1u << MB_STAGE_##s)
#define ANY_STAGE 0u
#define F_IP MB_FAULT_IP
#define F_DOMAIN MB_FAULT_DOMAIN
#define F_CONTENT MB_FAULT_CONTENT
#define F_RECIPIENT MB_FAULT_RECIPIENT
#define F_TRANSIENT MB_FAULT_TRANSIENT
#define F_SENDER MB_FAULT_SENDER_SIDE

/* Formats whose writer states the reason in its own words (the notice of a gateway or an MTA
 * that says "unknown user" of a recipient it refused itself, whatever the stage). */
static const struct decision format_decisions[] = {
	{"messagelabs", NULL, ANY_STAGE, {"no such user"}, "userunknown", F_RECIPIENT},
	{"messagelabs", NULL, ANY_STAGE, {"542 ", " rejected"}, "userunknown", F_RECIPIENT},
	{"messagelabs", NULL, ANY_STAGE, {"turn on smtp authentication"}, "securityerror", F_SENDER},
	/* Trend Micro's gateway says "Unable to deliver" of addresses it refused itself */
	{"trendmicro", NULL, ANY_STAGE, {"unable to deliver message to <"}, "userunknown", F_RECIPIENT},
	{"imailserver", NULL, ANY_STAGE, {"unknown user"}, "userunknown", F_RECIPIENT},
	{"imailserver", NULL, ANY_STAGE, {"invalid final delivery userid"}, "userunknown", F_RECIPIENT},
	{"imailserver", NULL, ANY_STAGE, {"unknown host"}, "hostunknown", F_RECIPIENT},
	{"imailserver", NULL, ANY_STAGE, {"mailbox exceeds allowed size"}, "mailboxfull", F_RECIPIENT},
	{"imailserver", NULL, ANY_STAGE, {"virus detected"}, "virusdetected", F_CONTENT},
	{"imailserver", NULL, ANY_STAGE, {"delivery failed "}, "expired", F_TRANSIENT},
};

/* Local delivery agents: the marker that names one in a reply, then what its messages mean
 * (anything else it says is a failure of the agent, "mailererror"). Only for replies given
 * at or after DATA: an agent runs once the message is in. */
static const struct {
	const char *agent;
	const char *markers[2];
} delivery_agents[] = {
	{"dovecot", {"> was automatically rejected:", NULL}},
	{"mail.local", {"mail.local: ", NULL}},
	{"procmail", {"procmail: ", "/procmail "}},
	{"maildrop", {"maildrop: ", NULL}},
	{"vpopmail", {"vdelivermail: ", NULL}},
	{"vmailmgr", {"vdeliver: ", NULL}},
};

static const struct decision agent_decisions[] = {
	{"dovecot", NULL, ANY_STAGE, {"not enough disk space"}, "mailboxfull", F_RECIPIENT},
	{"dovecot", NULL, ANY_STAGE, {"quota exceeded"}, "mailboxfull", F_RECIPIENT},
	{"dovecot", NULL, ANY_STAGE, {"mailbox doesn't exist: "}, "userunknown", F_RECIPIENT},
	{"mail.local", NULL, ANY_STAGE, {"disc quota exceeded"}, "mailboxfull", F_RECIPIENT},
	{"mail.local", NULL, ANY_STAGE, {"mailbox full or quota exceeded"}, "mailboxfull", F_RECIPIENT},
	{"mail.local", NULL, ANY_STAGE, {"temporary file write error"}, "systemerror", F_TRANSIENT},
	{"mail.local", NULL, ANY_STAGE, {": invalid mailbox path"}, "userunknown", F_RECIPIENT},
	{"mail.local", NULL, ANY_STAGE, {": unknown user:"}, "userunknown", F_RECIPIENT},
	{"mail.local", NULL, ANY_STAGE, {": user missing home directory"}, "userunknown", F_RECIPIENT},
	{"mail.local", NULL, ANY_STAGE, {": user unknown"}, "userunknown", F_RECIPIENT},
	{"procmail", NULL, ANY_STAGE, {"quota exceeded while writing"}, "mailboxfull", F_RECIPIENT},
	{"procmail", NULL, ANY_STAGE, {"user over quota"}, "mailboxfull", F_RECIPIENT},
	{"procmail", NULL, ANY_STAGE, {"service unavailable"}, "systemerror", F_RECIPIENT},
	{"procmail", NULL, ANY_STAGE, {"no space left to finish writing"}, "systemfull", F_RECIPIENT},
	{"maildrop", NULL, ANY_STAGE, {"maildir over quota."}, "mailboxfull", F_RECIPIENT},
	{"maildrop", NULL, ANY_STAGE, {"cannot find system user"}, "userunknown", F_RECIPIENT},
	{"maildrop", NULL, ANY_STAGE, {"invalid user specified."}, "userunknown", F_RECIPIENT},
	{"vpopmail", NULL, ANY_STAGE, {"user does not exist, but will deliver to "}, "filtered", F_RECIPIENT},
	{"vpopmail", NULL, ANY_STAGE, {"is over quota"}, "mailboxfull", F_RECIPIENT},
	{"vpopmail", NULL, ANY_STAGE, {"account is locked email bounced"}, "suspend", F_RECIPIENT},
	{"vpopmail", NULL, ANY_STAGE, {"no mailbox here by that name."}, "userunknown", F_RECIPIENT},
	{"vmailmgr", NULL, ANY_STAGE, {"system quota violation"}, "mailboxfull", F_RECIPIENT},
	{"vmailmgr", NULL, ANY_STAGE, {"invalid or unknown base user or domain"}, "userunknown", F_RECIPIENT},
	{"vmailmgr", NULL, ANY_STAGE, {"invalid or unknown virtual user"}, "userunknown", F_RECIPIENT},
	{"vmailmgr", NULL, ANY_STAGE, {"does not refer to a virtual user"}, "userunknown", F_RECIPIENT},
};

/* Remote hosts (and the domains they serve) grouped by the provider that runs them. */
static const struct {
	const char *suffix; /* a host name or domain ending so (after a dot) belongs to it */
	const char *name;
} host_classes[] = {
	{"ezweb.ne.jp", "kddi"},
	{"au.com", "kddi"},
	{"docomo.ne.jp", "nttdocomo"},
	{"hotmail.com", "outlook"},
	{"messagelabs.com", "messagelabs"},
	{"mimecast.com", "mimecast"},
	{"yahoodns.net", "yahoo"},
	{"secureserver.net", "godaddy"},
};

/* What those providers document about their replies. */
static const struct decision host_decisions[] = {
	/* au (KDDI): "550 : User unknown" is the domain filter, "550 <addr>: User unknown" the
	 * address */
	{"kddi", NULL, ANY_STAGE, {"550 : user unknown"}, "filtered", F_RECIPIENT},
	{"kddi", NULL, ANY_STAGE, {">: user unknown"}, "userunknown", F_RECIPIENT},
	/* NTT docomo answers "Unknown user" for a missing address at RCPT and for its
	 * recipients' sender filters at DATA */
	{"nttdocomo", NULL, ANY_STAGE, {"552 too much mail data"}, "mailboxfull", F_RECIPIENT},
	{"nttdocomo", NULL, ANY_STAGE, {"552 too many recipients"}, "toomanyconn", F_TRANSIENT},
	{"nttdocomo", NULL, ANY_STAGE, {"503 bad sequence of commands"}, "syntaxerror", F_SENDER},
	{"nttdocomo", NULL, ANY_STAGE, {"504 command parameter not implemented"}, "syntaxerror", F_SENDER},
	{"nttdocomo", "5.1.1", ANY_STAGE, {NULL}, "userunknown", F_RECIPIENT},
	{"nttdocomo", "5.2.0", ANY_STAGE, {NULL}, "filtered", F_RECIPIENT},
	{"nttdocomo", "5.0.0", AT(RCPT), {NULL}, "userunknown", F_RECIPIENT},
	{"nttdocomo", "5.0.0", AT(DATA), {NULL}, "rejected", F_RECIPIENT},
	/* Outlook.com (Hotmail) */
	{"outlook", NULL, ANY_STAGE, {"requested action not taken: mailbox unavailable"}, "userunknown", F_RECIPIENT},
	{"outlook", NULL, ANY_STAGE, {"domain is not reachable"}, "hostunknown", F_RECIPIENT},
	/* Symantec Email Security.cloud (MessageLabs) */
	{"messagelabs", NULL, ANY_STAGE, {"no such user"}, "userunknown", F_RECIPIENT},
	{"messagelabs", NULL, ANY_STAGE, {"invalid recipient"}, "userunknown", F_RECIPIENT},
	{"messagelabs", NULL, ANY_STAGE, {"mailbox is not allowed"}, "userunknown", F_RECIPIENT},
	{"messagelabs", NULL, ANY_STAGE, {"domain authentication fail"}, "authfailure", F_DOMAIN},
	{"messagelabs", NULL, ANY_STAGE, {"connection rejected by policy"}, "badreputation", F_IP},
	{"messagelabs", NULL, ANY_STAGE, {"your ip address has been "}, "blocked", F_IP},
	{"messagelabs", NULL, ANY_STAGE, {"your domain has been black"}, "rejected", F_DOMAIN},
	{"messagelabs", NULL, ANY_STAGE, {"your email address has been black"}, "rejected", F_DOMAIN},
	{"messagelabs", NULL, ANY_STAGE, {"badmailfrom list"}, "rejected", F_DOMAIN},
	{"messagelabs", NULL, ANY_STAGE, {"message filtered"}, "spamdetected", F_CONTENT},
	/* Mimecast: its security policies are its virus and spam signature scanners */
	{"mimecast", NULL, ANY_STAGE, {"554 ", "email rejected due to security policies"}, "virusdetected", F_CONTENT},
	{"mimecast", NULL, ANY_STAGE, {"spf sender invalid"}, "authfailure", F_DOMAIN},
	{"mimecast", NULL, ANY_STAGE, {"dkim sender invalid"}, "authfailure", F_DOMAIN},
	{"mimecast", NULL, ANY_STAGE, {"dmarc sender invalid"}, "authfailure", F_DOMAIN},
	{"mimecast", NULL, ANY_STAGE, {"local ct ip reputation"}, "badreputation", F_IP},
	{"mimecast", NULL, ANY_STAGE, {"550 ", "invalid recipient"}, "userunknown", F_RECIPIENT},
	{"mimecast", NULL, ANY_STAGE, {"envelope blocked"}, "rejected", F_DOMAIN},
	/* Yahoo Inc.: its TSS deferrals name the sender as a whole, not one cause */
	{"yahoo", NULL, ANY_STAGE, {"dd this user doesn't have a "}, "userunknown", F_RECIPIENT},
	{"yahoo", NULL, ANY_STAGE, {"mailbox not found"}, "userunknown", F_RECIPIENT},
	{"yahoo", NULL, ANY_STAGE, {"unexpected volume or user complaints"}, "rejected", F_IP},
	{"yahoo", NULL, ANY_STAGE, {" will be permanently deferred"}, "rejected", F_IP},
	{"yahoo", NULL, ANY_STAGE, {" is no longer valid."}, "suspend", F_RECIPIENT},
	{"yahoo", NULL, ANY_STAGE, {"this mailbox is disabled"}, "suspend", F_RECIPIENT},
	{"yahoo", NULL, ANY_STAGE, {"not accepted for policy reasons"}, "policyviolation", F_CONTENT},
	{"yahoo", NULL, ANY_STAGE, {"user is receiving mail too quickly"}, "speeding", F_TRANSIENT},
	{"yahoo", NULL, ANY_STAGE, {"max message per connection reached"}, "toomanyconn", F_TRANSIENT},
	/* GoDaddy writes a documented code at the end of its replies */
	{"godaddy", NULL, ANY_STAGE, {" ib401"}, "securityerror", F_SENDER},
	{"godaddy", NULL, ANY_STAGE, {" ib501"}, "notcompliantrfc", F_CONTENT},
	{"godaddy", NULL, ANY_STAGE, {" ib502"}, "notcompliantrfc", F_CONTENT},
	{"godaddy", NULL, ANY_STAGE, {" ib506"}, "rejected", F_DOMAIN},
	{"godaddy", NULL, ANY_STAGE, {" ib508"}, "authfailure", F_DOMAIN},
	{"godaddy", NULL, ANY_STAGE, {" ib108"}, "requireptr", F_IP},
	{"godaddy", NULL, ANY_STAGE, {" ib212"}, "spamdetected", F_CONTENT},
	{"godaddy", NULL, ANY_STAGE, {" ib705"}, "virusdetected", F_CONTENT},
	{"godaddy", NULL, ANY_STAGE, {" ib605"}, "toomanyconn", F_TRANSIENT},
	{"godaddy", NULL, ANY_STAGE, {" ib007"}, "toomanyconn", F_TRANSIENT},
	{"godaddy", NULL, ANY_STAGE, {" ib101"}, "speeding", F_TRANSIENT},
	{"godaddy", NULL, ANY_STAGE, {" ib103"}, "badreputation", F_IP},
	{"godaddy", NULL, ANY_STAGE, {" ib104"}, "blocked", F_IP},
	{"godaddy", NULL, ANY_STAGE, {" ib105"}, "blocked", F_IP},
	{"godaddy", NULL, ANY_STAGE, {" ib106"}, "blocked", F_IP},
	{"godaddy", NULL, ANY_STAGE, {" ib110"}, "blocked", F_IP},
	{"godaddy", NULL, ANY_STAGE, {" ib111"}, "blocked", F_IP},
	{"godaddy", NULL, ANY_STAGE, {" ib112"}, "blocked", F_IP},
	{"godaddy", NULL, ANY_STAGE, {" ib113"}, "blocked", F_IP},
	{"godaddy", NULL, ANY_STAGE, {" ib504"}, "speeding", F_TRANSIENT},
	{"godaddy", NULL, ANY_STAGE, {" ib510"}, "speeding", F_TRANSIENT},
	{"godaddy", NULL, ANY_STAGE, {" ib607"}, "speeding", F_TRANSIENT},
};

/* clang-format on */

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool status_matches(const char *pattern, const char *status)
{
	if (!status)
		return false;
	for (; *pattern; pattern++, status++)
		if (*pattern == 'x' ? !isdigit((unsigned char)*status) : *pattern != *status)
			return false;
	return *status == '\0';
}

static bool decision_holds(const struct decision *d, const struct mb_bounce_record *r)
{
	const char *text = r->diagnostic ? r->diagnostic : "";
	size_t len = strlen(text);

	if (d->status && !status_matches(d->status, r->status))
		return false;
	if (d->stages && !(d->stages & (1u << r->stage)))
		return false;
	for (size_t i = 0; i < WORDS_MAX && d->all[i]; i++)
		if (!mb_str_icontains(text, len, d->all[i]))
			return false;
	return true;
}

/* The first decision of list[0..n) for who that holds, applied to c. */
static bool decide(const struct decision *list, size_t n, const char *who,
                   const struct mb_bounce_record *r, struct mb_classification *c)
{
	for (size_t i = 0; who && i < n; i++) {
		if (strcmp(list[i].who, who) != 0 || !decision_holds(&list[i], r))
			continue;
		c->reason = list[i].reason;
		c->fault = list[i].fault;
		if ((r->status && r->status[0] == '4') || r->reply_code / 100 == 4)
			c->fault = MB_FAULT_TRANSIENT;
		if (c->fault == MB_FAULT_CONTENT && r->stage != MB_STAGE_DATA &&
		    r->stage != MB_STAGE_UNKNOWN)
			c->fault = MB_FAULT_UNKNOWN; /* content is not seen before DATA */
		c->rule = -1;
		return true;
	}
	return false;
}

bool bounce_decide_by_format(const struct mb_bounce *b, const struct mb_bounce_record *r,
                             struct mb_classification *c)
{
	return decide(format_decisions, N(format_decisions), b->provider, r, c);
}

bool bounce_decide_by_agent(const struct mb_bounce_record *r, struct mb_classification *c)
{
	const char *text = r->diagnostic;
	size_t len = text ? strlen(text) : 0;

	if (!text || (r->stage != MB_STAGE_UNKNOWN && r->stage != MB_STAGE_DATA))
		return false;
	for (size_t i = 0; i < N(delivery_agents); i++) {
		for (size_t k = 0; k < 2 && delivery_agents[i].markers[k]; k++) {
			if (!mb_str_icontains(text, len, delivery_agents[i].markers[k]))
				continue;
			if (!decide(agent_decisions, N(agent_decisions), delivery_agents[i].agent,
			            r, c)) {
				c->reason = "mailererror";
				c->fault = MB_FAULT_RECIPIENT;
				c->rule = -1;
			}
			return true;
		}
	}
	return false;
}

void bounce_host_copy(const char *s, char *out, size_t size)
{
	size_t n = 0;
	while (s && (*s == ' ' || *s == '\t' || *s == '['))
		s++;
	while (s && n + 1 < size &&
	       (isalnum((unsigned char)s[n]) || s[n] == '.' || s[n] == '-' || s[n] == '_')) {
		out[n] = (char)tolower((unsigned char)s[n]);
		n++;
	}
	while (n && out[n - 1] == '.')
		n--;
	out[n] = '\0';
}

/* The provider class of a host name or domain, or NULL. */
static const char *host_class(const char *host)
{
	size_t len = host ? strlen(host) : 0;
	for (size_t i = 0; len && i < N(host_classes); i++) {
		size_t n = strlen(host_classes[i].suffix);
		if (len < n || strcasecmp(host + len - n, host_classes[i].suffix) != 0)
			continue;
		if (len == n || host[len - n - 1] == '.')
			return host_classes[i].name;
	}
	return NULL;
}

static bool host_char(int c)
{
	return isalnum(c) || c == '.' || c == '-';
}

/* Whether bounce_host_copy would keep a '.' of the name at p (a dot before a later byte
 * that is not one), found without copying: most words of a reply are no host name. */
static bool host_copy_has_dot(const char *p)
{
	bool dot = false;
	for (size_t n = 0; n < BOUNCE_HOST_MAX && (isalnum((unsigned char)p[n]) || p[n] == '.' ||
	                                           p[n] == '-' || p[n] == '_');
	     n++) {
		if (p[n] == '.')
			dot = true;
		else if (dot)
			return true;
	}
	return false;
}

/* The class of the first host named in the reply ("host mx.example.org[192.0.2.1] said",
 * "talking to mx.example.org."): host names, not the domains of addresses. */
static const char *host_class_in_text(const char *text)
{
	char host[BOUNCE_HOST_MAX + 1];
	for (const char *p = text; p && *p; p++) {
		const char *name;
		if (!host_char((unsigned char)*p) || (p > text && host_char((unsigned char)p[-1])))
			continue;
		if (p > text && (p[-1] == '@' || p[-1] == '='))
			continue;
		if (host_copy_has_dot(p)) {
			bounce_host_copy(p, host, sizeof host);
			if (strchr(host, '.') && (name = host_class(host)))
				return name;
		}
		while (p[1] && host_char((unsigned char)p[1]))
			p++;
	}
	return NULL;
}

/* The provider behind the record: the recipient's domain, the remote host (the Remote-MTA,
 * else a host the reply names), then the hosts that reported and passed on the bounce. */
static const char *record_host_class(const struct bounce_context *ctx,
                                     const struct mb_bounce_record *r)
{
	const char *at = r->recipient ? strrchr(r->recipient, '@') : NULL;
	const char *name = NULL;
	char host[BOUNCE_HOST_MAX + 1];

	if (at && (name = host_class(at + 1)))
		return name;
	if (r->remote_mta) {
		const char *s = r->remote_mta;
		while (*s == ' ' || *s == '[')
			s++;
		bounce_host_copy(s, host, sizeof host);
		if ((name = host_class(host)))
			return name;
	}
	if ((name = host_class_in_text(r->diagnostic)))
		return name;
	if (ctx && (name = host_class(ctx->reporting)))
		return name;
	for (size_t i = 0; ctx && i < ctx->n_received; i++)
		if ((name = host_class(ctx->received[i])))
			return name;
	return NULL;
}

bool bounce_decide_by_host(const struct bounce_context *ctx, const struct mb_bounce_record *r,
                           struct mb_classification *c)
{
	return decide(host_decisions, N(host_decisions), record_host_class(ctx, r), r, c);
}
