/* HTML editing for the variant builder, on gumbo's source byte offsets: links, remote images
 * and tracking pixels are cut out of the original bytes (never a re-serialised tree), and a
 * plain-text rendering can be derived. Input is untrusted, at most MB_MAX_HTML_BYTES. */
#ifndef MAILBISECT_HTML_H
#define MAILBISECT_HTML_H

#include <stdbool.h>
#include <stddef.h>

#include "mailbisect/buf.h"
#include "mailbisect/err.h"
#include "mailbisect/textlinks.h"

/* Appends html with every link removed to out: <a href> and <area> wrappers (the anchor
 * text stays), remote <img>/<source>/<link>, attributes holding URLs (srcset, background,
 * form action, VML href/src, ...), remote CSS url() (replaced by "none") and @import, bare
 * URLs in text, and all of these inside HTML comments (Outlook conditional comments). Every
 * other byte is copied unchanged. html may use any ASCII-compatible charset; multibyte
 * charsets must be converted to UTF-8 first.
 * cb (may be NULL: remove every link) decides for each URL (see mb_url_cb); whatever holds
 * a kept URL stays: an anchor whose href is kept keeps its tags, an image whose src is kept
 * stays, a kept url() or @import is left as written. An element with some URLs kept and
 * some not keeps its tag and loses only the attributes whose URLs go (a style attribute
 * only those url()s). An attribute value with several URLs (srcset) goes when any goes.
 * Errors: MB_EDATA (too large, nested too deeply), MB_ENOMEM, or cb's value when it is
 * neither 0 nor MB_URL_KEEP. */
int mb_html_strip_links(const char *html, size_t len, struct mb_buf *out, mb_url_cb cb, void *ctx,
                        struct mb_err *err);

/* Appends a plain-text rendering of UTF-8 html to out (UTF-8, LF line ends, ends with one
 * newline): block elements become line breaks, entities are decoded, script/style/head are
 * dropped, images give their alt text. With keep_urls a link is written "anchor text <URL>";
 * without it no URL is left in the text at all. Errors as mb_html_strip_links. */
int mb_html_to_text(const char *html, size_t len, bool keep_urls, struct mb_buf *out,
                    struct mb_err *err);

#endif
