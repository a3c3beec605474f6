/* Classification of receiver replies: the ordered rule table of classify_rules.h, then the
 * enhanced status code (RFC 3463), then the reply code class. Pure function of its input. */
#include "mailbisect/classify.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include "mailbisect/limits.h"
#include "classify_rules.h"

#define N_RULES        (sizeof classify_rules / sizeof classify_rules[0])
#define N_STATUS_RULES (sizeof classify_status_rules / sizeof classify_status_rules[0])
#define ENHANCED_MAX   16

/* The reply as the rules see it (see struct classify_rule). */
struct reply_text {
	char text[MB_MAX_DIAGNOSTIC_BYTES + 2];
	size_t len;
};

/* Length of an enhanced status code ("5.7.1", "4.7.650") at s, or 0. The class must be 2, 4
 * or 5 and the subject 0-7 (RFC 3463), so an IP address like 5.9.12.1 is not one. */
static size_t enhanced_at(const char *s)
{
	size_t i = 1, digits;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	if (s[i++] != '.' || s[i] < '0' || s[i] > '7' || isdigit((unsigned char)s[i + 1]))
		return 0;
	i++;
	if (s[i++] != '.')
		return 0;
	for (digits = 0; isdigit((unsigned char)s[i]) && digits < 3; digits++)
		i++;
	if (digits == 0 || isdigit((unsigned char)s[i]) ||
	    (s[i] == '.' && isdigit((unsigned char)s[i + 1])))
		return 0;
	return i;
}

/* A three-digit reply code at s followed by a space, '-' or the end. */
static int code_at(const char *s)
{
	if (s[0] < '2' || s[0] > '5' || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]))
		return 0;
	if (s[3] != '\0' && s[3] != ' ' && s[3] != '-' && s[3] != '\t' && s[3] != '\r' &&
	    s[3] != '\n')
		return 0;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

static bool boundary_before(const char *text, const char *p)
{
	return p == text || !isalnum((unsigned char)p[-1]);
}

/* Reply code when none was given: at the start ("550 ...", "#550 ...") or as "554 5.7.1"
 * anywhere (an NDR quoting the remote reply). */
static int code_in(const char *text)
{
	const char *p = text;
	int code;

	while (*p == ' ' || *p == '\t' || *p == '#' || *p == '"' || *p == '\'')
		p++;
	if ((code = code_at(p)))
		return code;
	for (p = text; *p; p++)
		if (boundary_before(text, p) && (code = code_at(p)) && p[3] == ' ' &&
		    enhanced_at(p + 4))
			return code;
	return 0;
}

static void enhanced_in(const char *text, char *out)
{
	out[0] = '\0';
	for (const char *p = text; *p; p++) {
		size_t n;
		if ((p == text || (!isdigit((unsigned char)p[-1]) && p[-1] != '.')) &&
		    (n = enhanced_at(p)) && n < ENHANCED_MAX) {
			memcpy(out, p, n);
			out[n] = '\0';
			return;
		}
	}
}

/* Length of a multi-line reply prefix at s ("550-5.7.1 ", "550 5.7.1 ", "421-"), or 0. At
 * the start of a line a bare "550 " counts too. */
static size_t prefix_at(const char *s, bool line_start)
{
	size_t n, e;
	if (!code_at(s) || (s[3] != '-' && s[3] != ' '))
		return 0;
	n = 4;
	e = enhanced_at(s + n);
	if (e && (s[n + e] == ' ' || s[n + e] == '\0' || s[n + e] == '\n' || s[n + e] == '\r'))
		return n + e;
	return s[3] == '-' || line_start ? n : 0;
}

/* Lower case, whitespace and '_' runs to one space, reply prefixes dropped, a space at both
 * ends so that word boundaries hold at the edges. */
static void reply_text_build(struct reply_text *rt, const char *text)
{
	size_t cap = sizeof rt->text - 1, n = 0;
	bool space = true, line_start = true;

	rt->text[n++] = ' ';
	for (const char *p = text; *p && n < cap - 1;) {
		unsigned char c = (unsigned char)*p;
		size_t skip;
		if (space && (skip = prefix_at(p, line_start))) {
			p += skip;
			line_start = false;
			continue;
		}
		line_start = c == '\n';
		if (isspace(c) || c == '_') {
			if (!space)
				rt->text[n++] = ' ';
			space = true;
		} else {
			rt->text[n++] = (char)tolower(c);
			space = false;
		}
		p++;
	}
	if (!space)
		rt->text[n++] = ' ';
	rt->text[n] = '\0';
	rt->len = n;
}

/* Fragment search with the word-boundary convention of classify_rules.h. */
static bool fragment_in(const struct reply_text *rt, const char *fragment)
{
	char core[64];
	size_t len = strlen(fragment);
	bool want_before = false, want_after = false;
	const char *p = rt->text;

	if (len && fragment[0] == ' ')
		want_before = true, fragment++, len--;
	if (len && fragment[len - 1] == ' ')
		want_after = true, len--;
	if (len == 0 || len >= sizeof core)
		return len == 0;
	memcpy(core, fragment, len);
	core[len] = '\0';
	while ((p = strstr(p, core))) {
		if ((!want_before || p == rt->text || !isalnum((unsigned char)p[-1])) &&
		    (!want_after || !isalnum((unsigned char)p[len])))
			return true;
		p++;
	}
	return false;
}

/* Enhanced code pattern: 'x' = one digit, a final '*' = any rest, otherwise exact. */
static bool enhanced_matches(const char *pattern, const char *code)
{
	for (; *pattern; pattern++, code++) {
		if (*pattern == '*' && pattern[1] == '\0')
			return true;
		if (*pattern == 'x' ? !isdigit((unsigned char)*code) : *pattern != *code)
			return false;
	}
	return *code == '\0';
}

static bool rule_matches(const struct classify_rule *r, enum mb_stage stage, int code_or_class,
                         const char *enhanced, const struct reply_text *rt)
{
	if (r->stages && !(r->stages & (1u << stage)))
		return false;
	if (r->code_min && (code_or_class < r->code_min || code_or_class > r->code_max))
		return false;
	if (r->enhanced && (!*enhanced || !enhanced_matches(r->enhanced, enhanced)))
		return false;
	for (size_t i = 0; i < sizeof r->all / sizeof r->all[0] && r->all[i]; i++)
		if (!fragment_in(rt, r->all[i]))
			return false;
	for (size_t i = 0; i < sizeof r->none / sizeof r->none[0] && r->none[i]; i++)
		if (fragment_in(rt, r->none[i]))
			return false;
	return true;
}

static bool before_data(enum mb_stage stage)
{
	return stage == MB_STAGE_CONNECT || stage == MB_STAGE_HELO || stage == MB_STAGE_AUTH ||
	       stage == MB_STAGE_MAIL || stage == MB_STAGE_RCPT;
}

void mb_classify_reply(enum mb_stage stage, int code, const char *enhanced, const char *text,
                       struct mb_classification *out)
{
	struct reply_text rt;
	char status[ENHANCED_MAX];
	int klass;

	if ((unsigned)stage >= MB_STAGE_COUNT)
		stage = MB_STAGE_UNKNOWN;
	if (!text)
		text = "";
	if (code < 200 || code > 599)
		code = code_in(text);
	/* a given code wins over the text's, unless it says nothing (X.0.0) */
	enhanced_in(text, status);
	if (enhanced && enhanced_at(enhanced) == strlen(enhanced) &&
	    strlen(enhanced) < ENHANCED_MAX && (!status[0] || strcmp(enhanced + 1, ".0.0") != 0))
		strcpy(status, enhanced);
	/* when code and enhanced code disagree on the class (a "220-" banner quoted before the
	 * reply, an exit status taken for a code), the enhanced code is the reply's own */
	if (code && status[0] && code / 100 != status[0] - '0')
		code = 0;
	klass = code ? code / 100 : status[0] ? status[0] - '0' : 0;

	out->reason = "undefined";
	out->fault = klass == 4 ? MB_FAULT_TRANSIENT : MB_FAULT_UNKNOWN;
	out->hard = klass == 5;
	out->rule = -1;
	if (klass == 2) {
		out->reason = "delivered";
		return;
	}

	reply_text_build(&rt, text);
	for (size_t i = 0; i < N_RULES; i++) {
		if (!rule_matches(&classify_rules[i], stage, code ? code : klass * 100, status,
		                  &rt))
			continue;
		out->reason = classify_rules[i].reason;
		out->fault = classify_rules[i].fault;
		out->rule = (int)i;
		/* the stage is evidence: content cannot be judged before it was sent */
		if (out->fault == MB_FAULT_CONTENT && before_data(stage))
			out->fault = MB_FAULT_UNKNOWN;
		if (klass == 0)
			out->hard = out->fault != MB_FAULT_TRANSIENT;
		return;
	}
	for (size_t i = 0; status[0] && i < N_STATUS_RULES; i++) {
		if (!enhanced_matches(classify_status_rules[i].code, status))
			continue;
		out->reason = classify_status_rules[i].reason;
		/* 4xx are transient unless the text said otherwise */
		out->fault = klass == 4 ? MB_FAULT_TRANSIENT : classify_status_rules[i].fault;
		if (out->fault == MB_FAULT_CONTENT && before_data(stage))
			out->fault = MB_FAULT_UNKNOWN;
		break;
	}
}
