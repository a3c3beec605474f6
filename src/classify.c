/* Classification of receiver replies: the ordered rule table of classify_rules.h, then the
 * enhanced status code (RFC 3463), then the reply code class. Pure function of its input. */
#include "mailbisect/classify.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "mailbisect/bounce.h"
#include "mailbisect/buf.h"
#include "mailbisect/file.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"
#include "classify_rules.h"

#define N_RULES          (sizeof classify_rules / sizeof classify_rules[0])
#define N_STATUS_RULES   (sizeof classify_status_rules / sizeof classify_status_rules[0])
#define N_PROVIDER_CODES (sizeof classify_provider_codes / sizeof classify_provider_codes[0])
#define ENHANCED_MAX     16

/* The reply as the rules see it (see struct classify_rule): at most REPLY_TEXT_CAP bytes
 * and a NUL, in a buffer sized to the reply (reply_text_size). */
#define REPLY_TEXT_CAP   (MB_MAX_DIAGNOSTIC_BYTES + 1)
#define REPLY_TEXT_SMALL 1024 /* replies up to this size are built on the stack */
#define PAIR_BITS        4096u
struct reply_text {
	char *text;
	size_t len;
	/* the pairs of adjacent bytes the text holds, hashed: a fragment with a pair that is
	 * not here is not in the text, and most fragments of the rule table are ruled out so */
	uint64_t pairs[PAIR_BITS / 64];
};

static unsigned pair_hash(unsigned char a, unsigned char b)
{
	return ((unsigned)a << 5 ^ b) & (PAIR_BITS - 1);
}

static void pairs_build(struct reply_text *rt)
{
	memset(rt->pairs, 0, sizeof rt->pairs);
	for (size_t i = 0; i + 1 < rt->len; i++) {
		unsigned h = pair_hash((unsigned char)rt->text[i], (unsigned char)rt->text[i + 1]);
		rt->pairs[h / 64] |= (uint64_t)1 << (h % 64);
	}
}

/* False when the text holds no "ab" (true may be a hash collision). */
static bool pair_held(const struct reply_text *rt, unsigned char a, unsigned char b)
{
	unsigned h = pair_hash(a, b);
	return (rt->pairs[h / 64] & (uint64_t)1 << (h % 64)) != 0;
}

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
		if (*p >= '2' && *p <= '5' && boundary_before(text, p) && (code = code_at(p)) &&
		    p[3] == ' ' && enhanced_at(p + 4))
			return code;
	return 0;
}

static void enhanced_in(const char *text, char *out)
{
	out[0] = '\0';
	for (const char *p = text; *p; p++) {
		size_t n;
		if ((*p == '2' || *p == '4' || *p == '5') &&
		    (p == text || (!isdigit((unsigned char)p[-1]) && p[-1] != '.')) &&
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
/* Bytes reply_text_build needs for text: a space before and after it, and the NUL. */
static size_t reply_text_size(const char *text)
{
	return strnlen(text, REPLY_TEXT_CAP) + 3 < REPLY_TEXT_CAP + 1
	           ? strnlen(text, REPLY_TEXT_CAP) + 3
	           : REPLY_TEXT_CAP + 1;
}

static void reply_text_build(struct reply_text *rt, const char *text)
{
	size_t cap = REPLY_TEXT_CAP, n = 0;
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
		/* the C locale's white space and case: no locale is set */
		if (c == ' ' || c == '_' || (c >= '\t' && c <= '\r')) {
			if (!space)
				rt->text[n++] = ' ';
			space = true;
		} else {
			rt->text[n++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
			space = false;
		}
		p++;
	}
	if (!space)
		rt->text[n++] = ' ';
	rt->text[n] = '\0';
	rt->len = n;
	pairs_build(rt);
}

/* Longest fragment searched, without its boundary spaces, plus one. */
#define FRAGMENT_CORE_MAX 64

/* First occurrence of pat[0..m) in s[0..n), or NULL (m > 0). */
static const char *span_find(const char *s, size_t n, const char *pat, size_t m)
{
	while (n >= m) {
		const char *p = memchr(s, pat[0], n - m + 1);
		if (!p)
			return NULL;
		if (memcmp(p, pat, m) == 0)
			return p;
		n -= (size_t)(p - s) + 1;
		s = p + 1;
	}
	return NULL;
}

/* Fragment search with the word-boundary convention of classify_rules.h. */
static bool fragment_in(const struct reply_text *rt, const char *fragment)
{
	bool want_before = fragment[0] == ' ', want_after = false;
	const char *p = rt->text, *end = rt->text + rt->len;
	size_t len = 0;

	if (want_before)
		fragment++;
	/* measured while its pairs are looked up: most fragments of the table are not in the
	 * text and are settled here (a final space asks for a boundary, it is no pair) */
	for (; fragment[len]; len++) {
		unsigned char a = (unsigned char)fragment[len],
		              b = (unsigned char)fragment[len + 1];
		if (b && !(b == ' ' && !fragment[len + 2]) && !pair_held(rt, a, b))
			return false;
	}
	if (len && fragment[len - 1] == ' ')
		want_after = true, len--;
	if (len == 0 || len >= FRAGMENT_CORE_MAX)
		return len == 0;
	/* the reply text holds no NUL: a search over its length finds what strstr would */
	while ((p = span_find(p, (size_t)(end - p), fragment, len))) {
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

static bool rule_matches(const struct classify_rule *r, const char *provider, enum mb_stage stage,
                         int code_or_class, const char *enhanced, const struct reply_text *rt)
{
	if (r->provider && (!provider || !mb_str_ieq(r->provider, provider)))
		return false;
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

/* ---- Rule sets ------------------------------------------------------------------------------ */

/* Largest rules file read, and most rules it may hold. */
#define RULES_FILE_MAX_BYTES (4u * 1024u * 1024u)
#define RULES_FILE_MAX_RULES 10000
#define FRAGMENT_MAX         63

/* Where a built-in rule's required pairs sit in struct mb_rules' pairs. */
struct rule_pairs {
	uint32_t first, count;
};

struct mb_rules {
	struct classify_rule *loaded; /* tried first, in file order; strings owned */
	size_t n_loaded;
	/* index of the built-in table: for each rule, the pair hashes its "all" fragments
	 * need (those fragment_in looks up), so that most rules are ruled out by a few bit
	 * tests before any of their conditions is read */
	struct rule_pairs builtin[N_RULES];
	uint16_t *pairs;
};

/* The reasons a rule may give (Sisimai's vocabulary plus our two); rules files are checked
 * against it and loaded rules point at these static strings. */
static const char *const known_reasons[] = {
    "blocked",        "badreputation", "requireptr",       "authfailure",     "spamdetected",
    "virusdetected",  "contenterror",  "notcompliantrfc",  "policyviolation", "securityerror",
    "rejected",       "suppressed",    "norelaying",       "speeding",        "toomanyconn",
    "failedstarttls", "userunknown",   "hostunknown",      "mailboxfull",     "suspend",
    "hasmoved",       "filtered",      "notaccept",        "mesgtoobig",      "exceedlimit",
    "expired",        "networkerror",  "systemerror",      "systemfull",      "mailererror",
    "syntaxerror",    "delivered",     "feedback",         "vacation",        "onhold",
    "undefined",      "urlreputation", "domainreputation",
};

static const char *reason_static(const char *name)
{
	for (size_t i = 0; i < sizeof known_reasons / sizeof known_reasons[0]; i++)
		if (strcmp(known_reasons[i], name) == 0)
			return known_reasons[i];
	return NULL;
}

static void rule_strings_free(struct classify_rule *r)
{
	free((char *)r->enhanced);
	free((char *)r->provider);
	for (size_t i = 0; i < CLASSIFY_MAX_ALL; i++)
		free((char *)r->all[i]);
	for (size_t i = 0; i < CLASSIFY_MAX_NONE; i++)
		free((char *)r->none[i]);
}

static void loaded_free(struct classify_rule *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rule_strings_free(&list[i]);
	free(list);
}

/* The pairs fragment_in looks up for fragment, as hashes into out (NULL: only counted). */
static size_t fragment_pairs(const char *fragment, uint16_t *out)
{
	size_t n = 0;
	if (fragment[0] == ' ')
		fragment++;
	for (size_t len = 0; fragment[len]; len++) {
		unsigned char a = (unsigned char)fragment[len],
		              b = (unsigned char)fragment[len + 1];
		if (b && !(b == ' ' && !fragment[len + 2])) {
			if (out)
				out[n] = (uint16_t)pair_hash(a, b);
			n++;
		}
	}
	return n;
}

/* The pairs of all of a rule's "all" fragments into out (NULL: only counted). */
static size_t rule_pairs_of(const struct classify_rule *r, uint16_t *out)
{
	size_t n = 0;
	for (size_t i = 0; i < CLASSIFY_MAX_ALL && r->all[i]; i++)
		n += fragment_pairs(r->all[i], out ? out + n : NULL);
	return n;
}

/* Fills the index of the built-in table in rules (once per rule set, from the const table). */
static int builtin_index(struct mb_rules *rules)
{
	size_t total = 0;
	for (size_t i = 0; i < N_RULES; i++)
		total += rule_pairs_of(&classify_rules[i], NULL);
	if (!(rules->pairs = malloc((total ? total : 1) * sizeof *rules->pairs)))
		return MB_ENOMEM;
	total = 0;
	for (size_t i = 0; i < N_RULES; i++) {
		rules->builtin[i].first = (uint32_t)total;
		rules->builtin[i].count =
		    (uint32_t)rule_pairs_of(&classify_rules[i], rules->pairs + total);
		total += rules->builtin[i].count;
	}
	return 0;
}

int mb_rules_builtin(struct mb_rules **out, struct mb_err *err)
{
	if (!(*out = calloc(1, sizeof **out)))
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	if (builtin_index(*out)) {
		free(*out);
		*out = NULL;
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	}
	return 0;
}

void mb_rules_free(struct mb_rules *rules)
{
	if (!rules)
		return;
	loaded_free(rules->loaded, rules->n_loaded);
	free(rules->pairs);
	free(rules);
}

size_t mb_rules_count(const struct mb_rules *rules)
{
	return N_RULES + (rules ? rules->n_loaded : 0);
}

/* Errors of one rule, "FILE: rule N: KEY: what". */
struct rule_ctx {
	const char *path;
	size_t number; /* 1-based */
	struct mb_err *err;
};

static int rule_error(const struct rule_ctx *c, const char *key, const char *what)
{
	return mb_err_set(c->err, MB_ECONFIG, "%s: rule %zu: %s%s%s", c->path, c->number,
	                  key ? key : "", key ? ": " : "", what);
}

static int rule_stages(const struct rule_ctx *c, const cJSON *v, struct classify_rule *r)
{
	const cJSON *item;
	enum mb_stage stage;

	if (cJSON_IsString(v)) {
		if (mb_stage_from_name(v->valuestring, &stage))
			return rule_error(c, "stage",
			                  "unknown stage (connect, helo, auth, mail, "
			                  "rcpt, data, unknown)");
		r->stages = 1u << stage;
		return 0;
	}
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0)
		return rule_error(c, "stage", "must be a stage name or a non-empty array of them");
	cJSON_ArrayForEach(item, v)
	{
		if (!cJSON_IsString(item) || mb_stage_from_name(item->valuestring, &stage))
			return rule_error(c, "stage",
			                  "unknown stage (connect, helo, auth, mail, "
			                  "rcpt, data, unknown)");
		r->stages |= 1u << stage;
	}
	return 0;
}

static bool reply_code_ok(const cJSON *v, int *out)
{
	if (!cJSON_IsNumber(v) || v->valuedouble < 200 || v->valuedouble > 599 ||
	    v->valuedouble != (double)(int)v->valuedouble)
		return false;
	*out = (int)v->valuedouble;
	return true;
}

static int rule_code(const struct rule_ctx *c, const cJSON *v, struct classify_rule *r)
{
	if (cJSON_IsNumber(v)) {
		if (!reply_code_ok(v, &r->code_min))
			return rule_error(c, "code", "must be a reply code 200-599");
		r->code_max = r->code_min;
		return 0;
	}
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 ||
	    !reply_code_ok(cJSON_GetArrayItem(v, 0), &r->code_min) ||
	    !reply_code_ok(cJSON_GetArrayItem(v, 1), &r->code_max) || r->code_min > r->code_max)
		return rule_error(c, "code",
		                  "must be a reply code or a range [low, high] of "
		                  "reply codes 200-599");
	return 0;
}

/* "x.7.1", "5.7.7xx", "4.*": class digit or x, then up to two dot-separated parts of digits
 * or x, a final '*' allowed. */
static bool enhanced_pattern_ok(const char *s)
{
	size_t dots = 0, run = 0;
	if (!(*s == 'x' || *s == '2' || *s == '4' || *s == '5'))
		return false;
	for (s++; *s; s++) {
		if (*s == '*')
			return s[1] == '\0' && run == 0;
		if (*s == '.') {
			if ((dots && run == 0) || ++dots > 2)
				return false;
			run = 0;
		} else if (isdigit((unsigned char)*s) || *s == 'x') {
			if (++run > 3 || dots == 0)
				return false;
		} else {
			return false;
		}
	}
	return dots == 2 && run > 0;
}

/* Fragments are stored as the matcher sees the text: lower case, one space per run. */
static char *fragment_copy(const char *s)
{
	struct mb_buf b = MB_BUF_INIT;
	bool space = false;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isspace(ch) || ch == '_') {
			if (!space && mb_buf_putc(&b, ' '))
				goto fail;
			space = true;
		} else {
			if (mb_buf_putc(&b, (char)tolower(ch)))
				goto fail;
			space = false;
		}
	}
	if (mb_buf_terminate(&b))
		goto fail;
	return mb_buf_steal(&b);
fail:
	mb_buf_free(&b);
	return NULL;
}

static int rule_fragments(const struct rule_ctx *c, const char *key, const cJSON *v,
                          const char **slots, size_t n_slots)
{
	const cJSON *item;
	size_t i = 0;
	char what[96];

	if (cJSON_IsString(v)) {
		if (!*v->valuestring || strlen(v->valuestring) > FRAGMENT_MAX)
			return rule_error(c, key, "fragments must be 1-63 bytes long");
		if (!(slots[0] = fragment_copy(v->valuestring)))
			return mb_err_set(c->err, MB_ENOMEM, "out of memory");
		return 0;
	}
	if (!cJSON_IsArray(v))
		return rule_error(c, key, "must be a string or an array of strings");
	if (cJSON_GetArraySize(v) == 0) /* it would check nothing, and match every reply */
		return rule_error(c, key, "must name at least one fragment");
	if ((size_t)cJSON_GetArraySize(v) > n_slots) {
		snprintf(what, sizeof what, "at most %zu fragments", n_slots);
		return rule_error(c, key, what);
	}
	cJSON_ArrayForEach(item, v)
	{
		if (!cJSON_IsString(item))
			return rule_error(c, key, "must be a string or an array of strings");
		if (!*item->valuestring || strlen(item->valuestring) > FRAGMENT_MAX)
			return rule_error(c, key, "fragments must be 1-63 bytes long");
		if (!(slots[i++] = fragment_copy(item->valuestring)))
			return mb_err_set(c->err, MB_ENOMEM, "out of memory");
	}
	return 0;
}

static int rule_string(const struct rule_ctx *c, const char *key, const cJSON *v, const char **out)
{
	if (!cJSON_IsString(v) || !*v->valuestring || strlen(v->valuestring) > FRAGMENT_MAX)
		return rule_error(c, key, "must be a non-empty string");
	if (!(*out = strdup(v->valuestring)))
		return mb_err_set(c->err, MB_ENOMEM, "out of memory");
	return 0;
}

static const char *reason_at(size_t i)
{
	return i < sizeof known_reasons / sizeof known_reasons[0] ? known_reasons[i] : NULL;
}

/* An error about key whose message is head followed by the names at(0), at(1)... allows. */
static int names_error(const struct rule_ctx *c, const char *key, const char *head,
                       const char *(*at)(size_t))
{
	struct mb_buf what = MB_BUF_INIT;
	const char *name;
	int rc = mb_buf_printf(&what, "%s (one of", head);

	for (size_t i = 0; !rc && (name = at(i)); i++)
		rc = mb_buf_printf(&what, "%s %s", i ? "," : "", name);
	if (!rc)
		rc = mb_buf_puts(&what, ")");
	rc = rc ? mb_err_set(c->err, MB_ENOMEM, "out of memory") : rule_error(c, key, what.data);
	mb_buf_free(&what);
	return rc;
}

static int rule_parse(const struct rule_ctx *c, const cJSON *obj, struct classify_rule *r)
{
	const cJSON *v;
	bool has_reason = false, has_fault = false, has_condition = false;
	int rc = 0;

	if (!cJSON_IsObject(obj))
		return rule_error(c, NULL, "must be an object");
	for (v = obj->child; v && !rc; v = v->next) {
		const char *key = v->string ? v->string : "";
		/* a key given twice is a mistake to report, not a value to overwrite */
		for (const cJSON *w = obj->child; w != v && !rc; w = w->next)
			if (w->string && strcmp(w->string, key) == 0)
				rc = rule_error(c, key, "given twice");
		if (rc)
			break;
		if (strcmp(key, "stage") == 0) {
			rc = rule_stages(c, v, r);
		} else if (strcmp(key, "code") == 0) {
			rc = rule_code(c, v, r);
		} else if (strcmp(key, "enhanced") == 0) {
			if (!cJSON_IsString(v) || !enhanced_pattern_ok(v->valuestring))
				rc = rule_error(c, key,
				                "must be an enhanced code pattern like "
				                "\"5.7.1\", \"x.7.26\", \"5.7.7xx\", \"4.*\"");
			else
				rc = rule_string(c, key, v, &r->enhanced);
		} else if (strcmp(key, "all") == 0) {
			rc = rule_fragments(c, key, v, r->all, CLASSIFY_MAX_ALL);
			has_condition = true;
		} else if (strcmp(key, "none") == 0) {
			rc = rule_fragments(c, key, v, r->none, CLASSIFY_MAX_NONE);
		} else if (strcmp(key, "reason") == 0) {
			if (!cJSON_IsString(v) || !(r->reason = reason_static(v->valuestring)))
				rc = names_error(c, key, "unknown reason", reason_at);
			has_reason = true;
		} else if (strcmp(key, "fault") == 0) {
			if (!cJSON_IsString(v) || mb_fault_from_name(v->valuestring, &r->fault))
				rc = rule_error(c, key,
				                "unknown fault (ip, domain, content, "
				                "recipient, transient, sender-side, unknown)");
			has_fault = true;
		} else if (strcmp(key, "provider") == 0) {
			if (cJSON_IsString(v) && !mb_bounce_provider_known(v->valuestring)) {
				char head[96];
				snprintf(head, sizeof head, "unknown format \"%.60s\"",
				         v->valuestring);
				rc = names_error(c, key, head, mb_bounce_provider_at);
			} else
				rc = rule_string(c, key, v, &r->provider);
		} else if (strcmp(key, "comment") == 0) {
			if (!cJSON_IsString(v))
				rc = rule_error(c, key, "must be a string");
		} else {
			char what[160];
			snprintf(what, sizeof what, "unknown key \"%.100s\"", key);
			rc = rule_error(c, NULL, what);
		}
		if (strcmp(key, "stage") == 0 || strcmp(key, "code") == 0 ||
		    strcmp(key, "enhanced") == 0 || strcmp(key, "provider") == 0)
			has_condition = true;
	}
	if (!rc && !has_reason)
		rc = rule_error(c, "reason", "missing");
	if (!rc && !has_fault)
		rc = rule_error(c, "fault", "missing");
	if (!rc && !has_condition)
		rc = rule_error(c, NULL, "has no condition (stage, code, enhanced, all, provider)");
	return rc;
}

int mb_rules_load_file(struct mb_rules *rules, const char *path, struct mb_err *err)
{
	struct mb_buf text = MB_BUF_INIT;
	struct classify_rule *list = NULL;
	cJSON *root = NULL;
	const cJSON *obj;
	const char *json, *end = NULL;
	size_t n = 0, total;
	int rc;

	if (!rules || !path)
		return mb_err_set(err, MB_ESOFTWARE, "rules: no rule set or path");
	if ((rc = mb_file_read(path, RULES_FILE_MAX_BYTES, &text, err)))
		return rc;
	json = text.data ? text.data : "";
	root = cJSON_ParseWithLengthOpts(json, text.len, &end, 0);
	if (!root && !end) {
		rc = mb_err_set(err, MB_ENOMEM, "out of memory");
		goto out;
	}
	/* past white space: after the array it is allowed, before an error it is not the place */
	while (end < json + text.len && *end && strchr(" \t\r\n", *end))
		end++;
	if (!root || end < json + text.len) {
		long line, column;
		size_t at = (size_t)(end - json);
		mb_text_position(json, text.len, at, &line, &column);
		rc = mb_err_set(err, MB_EDATA, "%s: line %ld, column %ld: %s", path, line, column,
		                root             ? "text after the rule array"
		                : at >= text.len ? "not valid JSON (unexpected end of file)"
		                                 : "not valid JSON");
		goto out;
	}
	{
		/* rule text is C strings: a NUL would cut a fragment short, silently */
		const char *nul = memchr(json, '\0', text.len);
		size_t at = nul ? (size_t)(nul - json) : 0;
		if (nul || mb_json_escaped_nul(json, text.len, &at) >= 0) {
			long line, column;
			mb_text_position(json, text.len, at, &line, &column);
			rc = mb_err_set(err, MB_EDATA,
			                "%s: line %ld, column %ld: %s, which no rule can hold",
			                path, line, column,
			                nul ? "a NUL byte" : "an escaped NUL character (\\u0000)");
			goto out;
		}
	}
	if (!cJSON_IsArray(root)) {
		rc = mb_err_set(err, MB_EDATA, "%s: must be a JSON array of rule objects", path);
		goto out;
	}
	total = (size_t)cJSON_GetArraySize(root);
	if (total > RULES_FILE_MAX_RULES) {
		rc = mb_err_set(err, MB_EDATA, "%s: %zu rules, at most %d", path, total,
		                RULES_FILE_MAX_RULES);
		goto out;
	}
	if (!(list = calloc(total + rules->n_loaded + 1, sizeof *list))) {
		rc = mb_err_set(err, MB_ENOMEM, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(obj, root)
	{
		struct rule_ctx c = {path, n + 1, err};
		rc = rule_parse(&c, obj, &list[n++]);
		if (rc)
			goto out;
	}
	/* the new file's rules go in front of those loaded before */
	if (rules->n_loaded)
		memcpy(list + n, rules->loaded, rules->n_loaded * sizeof *list);
	free(rules->loaded);
	rules->loaded = list;
	rules->n_loaded += n;
	list = NULL;
	n = 0;
out:
	loaded_free(list, n);
	cJSON_Delete(root);
	mb_buf_free(&text);
	return rc;
}

/* ---- Classification ------------------------------------------------------------------------ */

static bool before_data(enum mb_stage stage)
{
	return stage == MB_STAGE_CONNECT || stage == MB_STAGE_HELO || stage == MB_STAGE_AUTH ||
	       stage == MB_STAGE_MAIL || stage == MB_STAGE_RCPT;
}

/* The first rule of list[0..n) that matches, or -1. */
static long first_match(const struct classify_rule *list, size_t n, const char *provider,
                        enum mb_stage stage, int code_or_class, const char *status,
                        const struct reply_text *rt)
{
	for (size_t i = 0; i < n; i++)
		if (rule_matches(&list[i], provider, stage, code_or_class, status, rt))
			return (long)i;
	return -1;
}

/* first_match over the built-in table with the index of rules. */
static long first_match_builtin(const struct mb_rules *rules, const char *provider,
                                enum mb_stage stage, int code_or_class, const char *status,
                                const struct reply_text *rt)
{
	if (!rules || !rules->pairs)
		return first_match(classify_rules, N_RULES, provider, stage, code_or_class, status,
		                   rt);
	for (size_t i = 0; i < N_RULES; i++) {
		const uint16_t *h = rules->pairs + rules->builtin[i].first;
		size_t k = 0, n = rules->builtin[i].count;
		while (k < n && (rt->pairs[h[k] / 64] & (uint64_t)1 << (h[k] % 64)))
			k++;
		if (k == n &&
		    rule_matches(&classify_rules[i], provider, stage, code_or_class, status, rt))
			return (long)i;
	}
	return -1;
}

static void apply_rule(const struct classify_rule *r, int index, enum mb_stage stage, int klass,
                       struct mb_classification *out)
{
	out->reason = r->reason;
	out->fault = r->fault;
	out->rule = index;
	/* the stage is evidence: content cannot be judged before it was sent */
	if (out->fault == MB_FAULT_CONTENT && before_data(stage))
		out->fault = MB_FAULT_UNKNOWN;
	if (klass == 0)
		out->hard = out->fault != MB_FAULT_TRANSIENT;
}

/* ---- Provider codes ------------------------------------------------------------------------- */

#define PROVIDER_CODE_MAX 24

/* The code written after a label at p: letters, digits, '_' and '-', lower case, into out. */
static size_t provider_code_token(const char *p, char *out, size_t size)
{
	size_t n = 0;
	while ((isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == '-') && n + 1 < size) {
		out[n] = (char)tolower((unsigned char)p[n]);
		n++;
	}
	out[n] = '\0';
	return n;
}

/* The number that ends a code ("004_405" -> 405, "in-1310" -> 1310), or -1. */
static int provider_code_number(const char *token, size_t len)
{
	size_t end = len, start;
	int number = 0;
	if (end == 0 || !isdigit((unsigned char)token[end - 1]))
		return -1;
	start = end;
	while (start > 0 && isdigit((unsigned char)token[start - 1]) && end - start < 4)
		start--;
	for (size_t i = start; i < end; i++)
		number = number * 10 + (token[i] - '0');
	return start == end ? -1 : number;
}

static bool provider_code_word(const char *pattern, const char *token)
{
	size_t n = strlen(pattern);
	if (n && pattern[n - 1] == '*')
		return strncmp(pattern, token, n - 1) == 0;
	return strcmp(pattern, token) == 0;
}

/* The first letters of the provider-code labels (lower case), as bits; computed once. */
static uint32_t provider_code_starts(void)
{
	static _Atomic uint32_t memo; /* 0: not yet (a label starts with a letter) */
	uint32_t starts = atomic_load_explicit(&memo, memory_order_relaxed);

	if (starts)
		return starts;
	for (size_t i = 0; i < N_PROVIDER_CODES; i++) {
		char first = classify_provider_codes[i].label[0];
		if (first >= 'a' && first <= 'z') /* a label is found after a letter only */
			starts |= UINT32_C(1) << (first - 'a');
	}
	atomic_store_explicit(&memo, starts, memory_order_relaxed);
	return starts;
}

/* The first documented provider code in the text, as an index into classify_provider_codes,
 * or -1. */
static long provider_code_find(const char *text)
{
	uint32_t starts = provider_code_starts();

	for (const char *p = text; *p; p++) {
		/* ASCII letters only: c | 0x20 is the lower case of a letter */
		unsigned char c = (unsigned char)*p, lower = (unsigned char)(c | 0x20);
		const char *absent = NULL; /* a label found not to be here (codes share labels) */
		if (lower < 'a' || lower > 'z' || !(starts & UINT32_C(1) << (lower - 'a')) ||
		    !boundary_before(text, p))
			continue;
		for (size_t i = 0; i < N_PROVIDER_CODES; i++) {
			const char *label = classify_provider_codes[i].label;
			size_t n, len;
			char token[PROVIDER_CODE_MAX];
			int number;
			if (label[0] != lower || (absent && strcmp(label, absent) == 0))
				continue;
			n = strlen(label);
			if (strncasecmp(p, label, n) != 0 ||
			    !(len = provider_code_token(p + n, token, sizeof token))) {
				absent = label;
				continue;
			}
			if (classify_provider_codes[i].word) {
				if (provider_code_word(classify_provider_codes[i].word, token))
					return (long)i;
				continue;
			}
			number = provider_code_number(token, len);
			if (number >= classify_provider_codes[i].low &&
			    number <= classify_provider_codes[i].high)
				return (long)i;
		}
	}
	return -1;
}

void mb_classify_reply_provider(const struct mb_rules *rules, const char *provider,
                                enum mb_stage stage, int code, const char *enhanced,
                                const char *text, struct mb_classification *out)
{
	struct reply_text reply, *rt = &reply;
	char status[ENHANCED_MAX], small[REPLY_TEXT_SMALL];
	size_t size;
	size_t n_loaded = rules ? rules->n_loaded : 0;
	long hit, code_hit;
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

	size = reply_text_size(text);
	if (!(rt->text = size <= sizeof small ? small : malloc(size)))
		return;
	reply_text_build(rt, text);
	hit = first_match(rules ? rules->loaded : NULL, n_loaded, provider, stage,
	                  code ? code : klass * 100, status, rt);
	if (hit >= 0) {
		apply_rule(&rules->loaded[hit], (int)hit, stage, klass, out);
	} else if ((code_hit = provider_code_find(text)) >= 0) {
		struct classify_rule r = {0};
		r.reason = classify_provider_codes[code_hit].reason;
		r.fault = classify_provider_codes[code_hit].fault;
		apply_rule(&r, (int)(n_loaded + N_RULES), stage, klass, out);
		hit = code_hit;
	} else if ((hit = first_match_builtin(rules, provider, stage, code ? code : klass * 100,
	                                      status, rt)) >= 0) {
		apply_rule(&classify_rules[hit], (int)(n_loaded + (size_t)hit), stage, klass, out);
	}
	if (rt->text != small)
		free(rt->text);
	if (hit >= 0)
		return;
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

void mb_classify_reply_with(const struct mb_rules *rules, enum mb_stage stage, int code,
                            const char *enhanced, const char *text, struct mb_classification *out)
{
	mb_classify_reply_provider(rules, NULL, stage, code, enhanced, text, out);
}

void mb_classify_reply(enum mb_stage stage, int code, const char *enhanced, const char *text,
                       struct mb_classification *out)
{
	mb_classify_reply_provider(NULL, NULL, stage, code, enhanced, text, out);
}
