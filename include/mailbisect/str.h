/* Small string helpers: checked number parsing, printable copies of untrusted text,
 * address/domain handling. Nothing here knows about mail beyond address syntax. */
#ifndef MAILBISECT_STR_H
#define MAILBISECT_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mailbisect/buf.h"

/* strdup that accepts NULL (returns NULL) — check the result when s != NULL. */
char *mb_strdup(const char *s);
char *mb_strndup(const char *s, size_t n);

/* Parses a whole decimal string into [min,max]; 0 on success, -1 otherwise. */
int mb_str_to_long(const char *s, long min, long max, long *out);

/* Appends a printable copy of untrusted bytes: control characters and invalid UTF-8 become
 * \xNN escapes; CR LF and LF become "\n" when keep_newlines, else a space. */
int mb_str_printable(struct mb_buf *out, const char *s, size_t len, bool keep_newlines);

/* Decodes one UTF-8 sequence at s (at most len bytes) into *cp: its length 1..4, or 0 when it
 * is not valid (overlong, surrogate, beyond U+10FFFF, cut short). */
size_t mb_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* The line and column (both from 1; columns count UTF-8 characters) of byte offset in s[0..len),
 * for error messages about a text file. An offset past the end counts as the end. */
void mb_text_position(const char *s, size_t len, size_t offset, long *line, long *column);

/* In valid JSON text, the index (in document order, keys counted) of the first string that
 * holds an escaped NUL (\u0000), or -1; *offset (when not NULL) gets the escape's byte offset.
 * cJSON keeps only the text before such a NUL, so "victim.example\u0000.evil.com" would be
 * read as victim.example: loaders refuse it. */
long mb_json_escaped_nul(const char *json, size_t len, size_t *offset);

/* Case-insensitive ASCII comparisons. */
bool mb_str_ieq(const char *a, const char *b);
bool mb_str_istarts(const char *s, const char *prefix);
/* Case-insensitive search of needle in s[0..len); returns pointer or NULL. */
const char *mb_str_icontains(const char *s, size_t len, const char *needle);

/* A host name of at least two labels: letters, digits and inner hyphens, at most 63 bytes a
 * label and 253 in all (RFC 1035), no trailing dot. s[0..n). */
bool mb_domain_valid(const char *s, size_t n);

/* Domain part of an address (after the last '@', without a trailing '>'), or NULL. Borrowed. */
const char *mb_addr_domain(const char *addr);
/* True when the address's domain equals domain (case-insensitive). */
bool mb_addr_in_domain(const char *addr, const char *domain);
/* Minimal address syntax check: local@domain, no spaces/controls, domain with a dot or a
 * bracketed literal. */
bool mb_addr_valid(const char *addr);

/* Trims ASCII whitespace at both ends in place; returns s. */
char *mb_str_trim(char *s);

#endif
