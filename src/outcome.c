/* Names of outcome states, SMTP stages, fault categories and sources: one table each, used by
 * the store, JSON output and reports alike. */
#include "mailbisect/outcome.h"

#include <string.h>

static const char *const state_names[MB_STATE_COUNT] = {
    [MB_STATE_PENDING] = "pending",       [MB_STATE_DELIVERED] = "delivered",
    [MB_STATE_ACCEPTED] = "accepted",     [MB_STATE_BOUNCED] = "bounced",
    [MB_STATE_DEFERRED] = "deferred",     [MB_STATE_SUBMIT_REFUSED] = "submit-refused",
    [MB_STATE_SUPPRESSED] = "suppressed", [MB_STATE_ERROR] = "error",
};

static const char *const stage_names[MB_STAGE_COUNT] = {
    [MB_STAGE_UNKNOWN] = "unknown", [MB_STAGE_CONNECT] = "connect", [MB_STAGE_HELO] = "helo",
    [MB_STAGE_AUTH] = "auth",       [MB_STAGE_MAIL] = "mail",       [MB_STAGE_RCPT] = "rcpt",
    [MB_STAGE_DATA] = "data",
};

static const char *const fault_names[MB_FAULT_COUNT] = {
    [MB_FAULT_UNKNOWN] = "unknown",         [MB_FAULT_IP] = "ip",
    [MB_FAULT_DOMAIN] = "domain",           [MB_FAULT_CONTENT] = "content",
    [MB_FAULT_RECIPIENT] = "recipient",     [MB_FAULT_TRANSIENT] = "transient",
    [MB_FAULT_SENDER_SIDE] = "sender-side",
};

static const char *const source_names[MB_SOURCE_COUNT] = {
    [MB_SOURCE_NONE] = "none",
    [MB_SOURCE_SMTP] = "smtp",
    [MB_SOURCE_DSN] = "dsn",
    [MB_SOURCE_WINDOW] = "window",
};

static int lookup(const char *const *names, int count, const char *name)
{
	for (int i = 0; name && i < count; i++)
		if (names[i] && strcmp(names[i], name) == 0)
			return i;
	return -1;
}

const char *mb_state_name(enum mb_state s)
{
	return (unsigned)s < MB_STATE_COUNT ? state_names[s] : "pending";
}

int mb_state_from_name(const char *name, enum mb_state *out)
{
	int i = lookup(state_names, MB_STATE_COUNT, name);
	if (i < 0)
		return -1;
	*out = (enum mb_state)i;
	return 0;
}

const char *mb_stage_name(enum mb_stage s)
{
	return (unsigned)s < MB_STAGE_COUNT ? stage_names[s] : "unknown";
}

int mb_stage_from_name(const char *name, enum mb_stage *out)
{
	int i = lookup(stage_names, MB_STAGE_COUNT, name);
	if (i < 0)
		return -1;
	*out = (enum mb_stage)i;
	return 0;
}

const char *mb_fault_name(enum mb_fault f)
{
	return (unsigned)f < MB_FAULT_COUNT ? fault_names[f] : "unknown";
}

int mb_fault_from_name(const char *name, enum mb_fault *out)
{
	int i = lookup(fault_names, MB_FAULT_COUNT, name);
	if (i < 0)
		return -1;
	*out = (enum mb_fault)i;
	return 0;
}

const char *mb_source_name(enum mb_source s)
{
	return (unsigned)s < MB_SOURCE_COUNT ? source_names[s] : "none";
}

bool mb_state_is_final(enum mb_state s)
{
	return s != MB_STATE_PENDING && s != MB_STATE_DEFERRED;
}
