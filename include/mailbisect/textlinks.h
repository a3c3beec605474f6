/* URLs in plain text: finding them, removing them (anchor words stay), and naming the hosts
 * they point to, including targets hidden in percent-encoded redirect/tracking wrappers.
 * Input text is untrusted bytes in any ASCII-compatible charset; nothing here allocates
 * beyond the caller's buffers. */
#ifndef MAILBISECT_TEXTLINKS_H
#define MAILBISECT_TEXTLINKS_H

#include <stdbool.h>
#include <stddef.h>

#include "mailbisect/buf.h"

/* Called with each URL found (bytes borrowed for the call only); a nonzero return stops the
 * scan and is returned by the caller. The editing functions (mb_textlinks_strip,
 * mb_html_strip_links) ask it about each URL they would remove: 0 removes it, MB_URL_KEEP
 * leaves it in place, and any other value stops the edit and is returned. */
typedef int (*mb_url_cb)(void *ctx, const char *url, size_t len);

/* An editing callback's answer "leave this URL where it is" (never an MB_E code). */
#define MB_URL_KEEP 1

/* Finds the first URL in text[from..len): http://, https://, ftp://, www.host, or the
 * percent-encoded forms http%3A%2F%2F and https%3A%2F%2F. Trailing punctuation that ends a
 * sentence is not part of it. Returns true and sets [*start, *end). */
bool mb_textlinks_find(const char *text, size_t len, size_t from, size_t *start, size_t *end);

/* Appends text without its URLs to out. A URL in <...>, (...) or [...] goes with its
 * brackets; a space left dangling at the end of a line goes too. cb (may be NULL: remove
 * every URL) decides for each URL; a kept URL stays with the bytes around it. Returns 0,
 * MB_ENOMEM, or cb's value when it is neither 0 nor MB_URL_KEEP. */
int mb_textlinks_strip(const char *text, size_t len, struct mb_buf *out, mb_url_cb cb, void *ctx);

/* True when s (a URL or attribute value; surrounding blanks and quotes ignored) points
 * somewhere remote: http:, https:, ftp:, a scheme-relative //host, or www.host. cid:, data:,
 * mailto: and relative paths are not remote. */
bool mb_textlinks_is_remote(const char *s, size_t len);

/* True when s contains a URL anywhere (mb_textlinks_find) or is remote. */
bool mb_textlinks_has_url(const char *s, size_t len);

/* Calls cb with each host name the URL leads to, lower-case, without port or user info:
 * its own host, then the hosts of URLs wrapped in its path or query (plain or
 * percent-encoded, up to three levels of encoding). URLs without a host (mailto:, cid:,
 * relative) give none. */
int mb_textlinks_hosts(const char *url, size_t len, mb_url_cb cb, void *ctx);

#endif
