/* String helpers: checked conversions, printable copies of hostile text, address syntax. */
#include "mailbisect/str.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

char *mb_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *mb_strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int mb_str_to_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

size_t mb_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	if (len == 0)
		return 0;
	if (s[0] < 0x80)
		return *cp = s[0], 1;
	if ((s[0] & 0xE0) == 0xC0)
		n = 2, *cp = s[0] & 0x1F;
	else if ((s[0] & 0xF0) == 0xE0)
		n = 3, *cp = s[0] & 0x0F;
	else if ((s[0] & 0xF8) == 0xF0)
		n = 4, *cp = s[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 2 && *cp < 0x80) || (n == 3 && *cp < 0x800) || (n == 4 && *cp < 0x10000) ||
	    *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
		return 0;
	return n;
}

/* Length of a printable UTF-8 sequence at s (1..4): valid, and not a C1 control; 0 otherwise. */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
	uint32_t cp;
	size_t n = mb_utf8_decode(s, len, &cp);
	return n && !(cp >= 0x80 && cp < 0xA0) ? n : 0;
}

int mb_str_printable(struct mb_buf *out, const char *s, size_t len, bool keep_newlines)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	int rc = 0;

	while (i < len && !rc) {
		size_t n;
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
			i++;
			continue;
		}
		if (p[i] == '\n') {
			rc = mb_buf_puts(out, keep_newlines ? "\n" : " ");
			i++;
			continue;
		}
		if (p[i] == '\t') {
			rc = mb_buf_putc(out, '\t');
			i++;
			continue;
		}
		n = utf8_seq_len(p + i, len - i);
		if (n == 0 || (n == 1 && (p[i] < 0x20 || p[i] == 0x7F))) {
			rc = mb_buf_printf(out, "\\x%02X", p[i]);
			i++;
			continue;
		}
		rc = mb_buf_append(out, p + i, n);
		i += n;
	}
	return rc ? rc : mb_buf_terminate(out);
}

bool mb_str_ieq(const char *a, const char *b)
{
	return a && b && strcasecmp(a, b) == 0;
}

bool mb_str_istarts(const char *s, const char *prefix)
{
	return s && prefix && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static unsigned char ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Bounce reading searches every text for many needles: only a position whose first byte
 * matches is compared further, without a library call per position. ASCII case only. */
/* The nearer of two next occurrences, either of which may be NULL (none left). */
static const unsigned char *next_either(const unsigned char *a, const unsigned char *b)
{
	if (a && b)
		return a < b ? a : b;
	return a ? a : b;
}

const char *mb_str_icontains(const char *s, size_t len, const char *needle)
{
	const unsigned char *text = (const unsigned char *)s, *pat = (const unsigned char *)needle;
	const unsigned char *end, *a, *b = NULL, *p;
	size_t n = strlen(needle);
	unsigned char lo, up;

	if (n == 0)
		return s;
	if (n > len)
		return NULL;
	/* a match starts with the first byte of the needle in either case */
	lo = ascii_lower(pat[0]);
	up = lo >= 'a' && lo <= 'z' ? (unsigned char)(lo - 'a' + 'A') : lo;
	end = text + (len - n + 1); /* past the last position a match may start at */
	a = memchr(text, lo, (size_t)(end - text));
	if (up != lo)
		b = memchr(text, up, (size_t)(end - text));
	while ((p = next_either(a, b))) {
		size_t k = 1;
		while (k < n && ascii_lower(p[k]) == ascii_lower(pat[k]))
			k++;
		if (k == n)
			return (const char *)p;
		if (p == a)
			a = p + 1 < end ? memchr(p + 1, lo, (size_t)(end - p - 1)) : NULL;
		else
			b = p + 1 < end ? memchr(p + 1, up, (size_t)(end - p - 1)) : NULL;
	}
	return NULL;
}

const char *mb_addr_domain(const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	return at && at[1] ? at + 1 : NULL;
}

bool mb_addr_in_domain(const char *addr, const char *domain)
{
	const char *d = mb_addr_domain(addr);
	size_t n;
	if (!d || !domain)
		return false;
	n = strlen(d);
	if (n && d[n - 1] == '>')
		n--;
	return strlen(domain) == n && strncasecmp(d, domain, n) == 0;
}

bool mb_addr_valid(const char *addr)
{
	const char *at, *d;
	if (!addr || !*addr)
		return false;
	for (const char *p = addr; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7F || *p == '<' || *p == '>' || *p == ',')
			return false;
	at = strrchr(addr, '@');
	if (!at || at == addr)
		return false;
	d = at + 1;
	if (!*d || *d == '.' || d[strlen(d) - 1] == '.')
		return false;
	return strchr(d, '.') != NULL || (d[0] == '[' && d[strlen(d) - 1] == ']');
}

char *mb_str_trim(char *s)
{
	size_t n = strlen(s);
	char *start = s;
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	while (*start && isspace((unsigned char)*start))
		start++;
	if (start != s)
		memmove(s, start, strlen(start) + 1);
	return s;
}

void mb_text_position(const char *s, size_t len, size_t offset, long *line, long *column)
{
	*line = 1;
	*column = 1;
	if (offset > len)
		offset = len;
	for (size_t i = 0; i < offset; i++) {
		if (s[i] == '\n')
			++*line, *column = 1;
		else if (((unsigned char)s[i] & 0xC0) != 0x80)
			++*column;
	}
}

long mb_json_escaped_nul(const char *json, size_t len, size_t *offset)
{
	long index = -1;

	for (size_t i = 0; i < len; i++) {
		if (json[i] != '"')
			continue;
		index++;
		for (i++; i < len && json[i] != '"'; i++) {
			if (json[i] != '\\' || i + 1 >= len)
				continue;
			if (json[i + 1] == 'u' && i + 5 < len &&
			    memcmp(json + i + 2, "0000", 4) == 0) {
				if (offset)
					*offset = i;
				return index;
			}
			i++; /* the escaped character: an escaped quote does not end the string */
		}
	}
	return -1;
}

bool mb_domain_valid(const char *s, size_t n)
{
	size_t label = 0, labels = 1;

	if (n < 1 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			labels++;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) &&
		    !(c == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[n - 1] != '-' && labels >= 2;
}
