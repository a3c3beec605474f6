/* URL finding, removal and host extraction for plain text and attribute values. Written as a
 * small hand scanner (no regex library) so its behaviour on hostile input is easy to bound. */
#include "mailbisect/textlinks.h"
#include "mailbisect/err.h"
#include "mailbisect/str.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WRAP_DEPTH    4 /* redirect inside redirect inside ... */
#define MAX_DECODE_ROUNDS 3 /* percent-encoding applied again by each wrapper */
#define MAX_HOST_BYTES    255

/* Where a URL may begin. The percent-encoded forms appear alone when a wrapper URL was split
 * or pasted; "www." needs a word boundary so e-mail domains are not taken for links. */
static const char *const url_starts[] = {
    "http://", "https://", "ftp://", "http%3a%2f%2f", "https%3a%2f%2f", "www.",
};

/* Suffixes that end prose or HTML text rather than the URL before them. */
static const char *const entity_suffixes[] = {"&gt;", "&lt;", "&quot;", "&#39;", "&nbsp;"};

static bool is_url_byte(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '<' && c != '>' && c != '"' && c != '\'' && c != '`';
}

static bool starts_with(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && strncasecmp(s, prefix, n) == 0;
}

static size_t url_start_at(const char *text, size_t len, size_t i)
{
	unsigned char before = i ? (unsigned char)text[i - 1] : ' ';

	for (size_t k = 0; k < sizeof url_starts / sizeof url_starts[0]; k++) {
		size_t n = strlen(url_starts[k]);
		if (!starts_with(text + i, len - i, url_starts[k]))
			continue;
		if (isalnum(before) || (k == 5 && strchr("./-@_", before)))
			return 0;
		if (i + n >= len || !isalnum((unsigned char)text[i + n]))
			return 0;
		return n;
	}
	return 0;
}

static size_t count_byte(const char *s, size_t len, char c)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += s[i] == c;
	return n;
}

/* Drops sentence punctuation, unbalanced closing brackets and HTML entities at the end. */
static size_t trim_url_end(const char *text, size_t start, size_t end, size_t min_end)
{
	static const char pairs[][2] = {{'(', ')'}, {'[', ']'}, {'{', '}'}};
	bool trimmed = true;

	while (trimmed && end > min_end) {
		char last = text[end - 1];
		trimmed = false;
		if (strchr(".,;:!?*", last)) {
			end--, trimmed = true;
			continue;
		}
		for (size_t k = 0; k < 3 && !trimmed; k++)
			if (last == pairs[k][1] &&
			    count_byte(text + start, end - start, pairs[k][0]) <
			        count_byte(text + start, end - start, pairs[k][1]))
				end--, trimmed = true;
		for (size_t k = 0;
		     k < sizeof entity_suffixes / sizeof entity_suffixes[0] && !trimmed; k++) {
			size_t n = strlen(entity_suffixes[k]);
			if (end - min_end > n && starts_with(text + end - n, n, entity_suffixes[k]))
				end -= n, trimmed = true;
		}
	}
	return end;
}

bool mb_textlinks_find(const char *text, size_t len, size_t from, size_t *start, size_t *end)
{
	for (size_t i = from; i < len; i++) {
		size_t n = url_start_at(text, len, i), e = i + n;
		if (!n)
			continue;
		while (e < len && is_url_byte((unsigned char)text[e]))
			e++;
		e = trim_url_end(text, i, e, i + n + 1);
		*start = i;
		*end = e;
		return true;
	}
	return false;
}

/* The bracket pair that encloses [s, e) exactly, so "<URL>" goes as a whole. */
static bool enclosed(const char *text, size_t len, size_t s, size_t e)
{
	static const char *const pairs[] = {"<>", "()", "[]"};
	if (s == 0 || e >= len)
		return false;
	for (size_t k = 0; k < 3; k++)
		if (text[s - 1] == pairs[k][0] && text[e] == pairs[k][1])
			return true;
	return false;
}

int mb_textlinks_strip(const char *text, size_t len, struct mb_buf *out, mb_url_cb cb, void *ctx)
{
	size_t pos = 0, s, e;
	int rc;

	while (mb_textlinks_find(text, len, pos, &s, &e)) {
		size_t cut_s = s, cut_e = e;
		rc = cb ? cb(ctx, text + s, e - s) : 0;
		if (rc == MB_URL_KEEP) {
			if ((rc = mb_buf_append(out, text + pos, e - pos)) != 0)
				return rc;
			pos = e;
			continue;
		}
		if (rc != 0)
			return rc;
		if (enclosed(text, len, s, e))
			cut_s--, cut_e++;
		/* Nothing but the URL followed on this line: the blank before it dangles. Between
		 * two blanks, one is enough. */
		if (cut_e == len || text[cut_e] == '\n' || text[cut_e] == '\r')
			while (cut_s > pos && (text[cut_s - 1] == ' ' || text[cut_s - 1] == '\t'))
				cut_s--;
		else if (cut_s > pos && text[cut_s - 1] == ' ' && text[cut_e] == ' ')
			cut_s--;
		if ((rc = mb_buf_append(out, text + pos, cut_s - pos)) != 0)
			return rc;
		pos = cut_e;
	}
	if ((rc = mb_buf_append(out, text + pos, len - pos)) != 0)
		return rc;
	return mb_buf_terminate(out);
}

static void trim_blanks_quotes(const char **s, size_t *len)
{
	while (*len && (isspace((unsigned char)**s) || **s == '"' || **s == '\''))
		(*s)++, (*len)--;
	while (*len && (isspace((unsigned char)(*s)[*len - 1]) || (*s)[*len - 1] == '"' ||
	                (*s)[*len - 1] == '\''))
		(*len)--;
}

bool mb_textlinks_is_remote(const char *s, size_t len)
{
	trim_blanks_quotes(&s, &len);
	return starts_with(s, len, "http:") || starts_with(s, len, "https:") ||
	       starts_with(s, len, "ftp:") || starts_with(s, len, "//") ||
	       starts_with(s, len, "www.");
}

bool mb_textlinks_has_url(const char *s, size_t len)
{
	size_t a, b;
	return mb_textlinks_is_remote(s, len) || mb_textlinks_find(s, len, 0, &a, &b);
}

/* Offset where the host of url begins, or len when it has none. */
static size_t host_offset(const char *url, size_t len)
{
	size_t j = 0;

	if (starts_with(url, len, "www."))
		return 0;
	if (starts_with(url, len, "//"))
		return 2;
	while (j < len && j < 32 && (isalnum((unsigned char)url[j]) || strchr("+-.", url[j])))
		j++;
	if (j > 0 && isalpha((unsigned char)url[0]) && starts_with(url + j, len - j, "://"))
		return j + 3;
	return len;
}

static bool is_host_byte(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '-' || c == '_' || c >= 0x80;
}

/* Reports the host of url and returns the offset just after it (len when none). */
static int own_host(const char *url, size_t len, size_t *after, mb_url_cb cb, void *ctx)
{
	size_t hs = host_offset(url, len), ae = hs, he;
	char host[MAX_HOST_BYTES + 1];
	size_t n = 0;

	*after = 0; /* no host of its own: look for a wrapped target from the start */
	if (hs >= len)
		return 0;
	while (ae < len && is_url_byte((unsigned char)url[ae]) && !strchr("/?#\\", url[ae]))
		ae++;
	for (size_t k = hs; k < ae; k++)
		if (url[k] == '@')
			hs = k + 1; /* user info before the last @ */
	he = hs;
	if (he < len && url[he] == '[') {
		while (he < ae && url[he] != ']')
			he++;
		he += he < ae;
	} else {
		while (he < len && is_host_byte((unsigned char)url[he]))
			he++;
	}
	*after = he;
	for (size_t k = hs; k < he && n < MAX_HOST_BYTES; k++)
		host[n++] = (char)tolower((unsigned char)url[k]);
	while (n && host[n - 1] == '.')
		n--;
	if (n == 0 || he - hs > MAX_HOST_BYTES)
		return 0;
	host[n] = '\0';
	return cb(ctx, host, n);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes %XX in place; returns the new length. */
static size_t percent_decode(char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < len && (hi = hex_value(s[i + 1])) >= 0 &&
		    (lo = hex_value(s[i + 2])) >= 0) {
			s[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			s[o++] = s[i];
		}
	}
	return o;
}

static int hosts_at_depth(const char *url, size_t len, mb_url_cb cb, void *ctx, int depth);

/* A wrapped target written with %XX escapes (once per wrapper level): decode, then recurse. */
static int encoded_target_hosts(const char *s, size_t len, mb_url_cb cb, void *ctx, int depth)
{
	char *copy = mb_strndup(s, len);
	size_t n = len;
	int rc;

	if (!copy)
		return MB_ENOMEM;
	for (int round = 0; round < MAX_DECODE_ROUNDS && !starts_with(copy, n, "http://") &&
	                    !starts_with(copy, n, "https://");
	     round++)
		n = percent_decode(copy, n);
	rc = hosts_at_depth(copy, n, cb, ctx, depth + 1);
	free(copy);
	return rc;
}

static int hosts_at_depth(const char *url, size_t len, mb_url_cb cb, void *ctx, int depth)
{
	size_t rest;
	int rc;

	trim_blanks_quotes(&url, &len);
	if ((rc = own_host(url, len, &rest, cb, ctx)) != 0 || depth >= MAX_WRAP_DEPTH)
		return rc;
	for (size_t k = rest; k < len; k++) {
		const char *p = url + k;
		if (starts_with(p, len - k, "http://") || starts_with(p, len - k, "https://"))
			return hosts_at_depth(p, len - k, cb, ctx, depth + 1);
		if (starts_with(p, len - k, "http%") || starts_with(p, len - k, "https%"))
			return encoded_target_hosts(p, len - k, cb, ctx, depth);
	}
	return 0;
}

int mb_textlinks_hosts(const char *url, size_t len, mb_url_cb cb, void *ctx)
{
	return hosts_at_depth(url, len, cb, ctx, 0);
}
