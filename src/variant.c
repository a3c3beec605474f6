/* The variant builder: each experiment variant is the original message with one factor
 * changed, written as a complete CRLF message. Parts that a variant does not change keep
 * their source bytes; changed parts keep their transfer encoding, charset and line ends. */
#include "mailbisect/variant.h"
#include "mailbisect/clock.h"
#include "mailbisect/html.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"
#include "mailbisect/textlinks.h"

#include <ctype.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One build in progress: a private parse of the original that the variant may change. */
struct build {
	const char *name;       /* the message's name, for error messages */
	GMimeMessage *mime;     /* owned */
	bool apply;             /* false: only look (collect link hosts), change nothing */
	struct host_set *hosts; /* link hosts are collected here when not NULL */
	struct mb_err *err;
	char *const *only_hosts; /* links-stripped removes only links to these; NULL = all */
};

typedef int (*build_fn)(struct build *b);

static int build_as_received(struct build *b);
static int build_plain_text(struct build *b);
static int build_links_stripped(struct build *b);
static int build_no_attachments(struct build *b);
static int build_bare(struct build *b);

static const struct {
	const char *name;
	bool alternate_pool;
	build_fn build;
} variants[MB_VARIANT_COUNT] = {
    [MB_VARIANT_ORIGINAL] = {"original", false, build_as_received},
    [MB_VARIANT_PLAIN_TEXT] = {"plain-text", false, build_plain_text},
    [MB_VARIANT_LINKS_STRIPPED] = {"links-stripped", false, build_links_stripped},
    [MB_VARIANT_ALTERNATE_POOL] = {"alternate-pool", true, build_as_received},
    [MB_VARIANT_NO_ATTACHMENTS] = {"no-attachments", false, build_no_attachments},
    [MB_VARIANT_BARE] = {"bare", false, build_bare},
    [MB_VARIANT_ALTERNATE_DOMAIN] = {"alternate-domain", false, build_as_received},
};

/* Trace fields of the first delivery: a resend must look like new mail to the ESP. */
static const char *const trace_fields[] = {
    "Received",
    "DKIM-Signature",
    "DomainKey-Signature",
    "Authentication-Results",
    "Return-Path",
    "Delivered-To",
    "Received-SPF",
    "Message-ID",
    "Date",
    "Bcc",
    "Status",
    "Content-Length",
    "Lines",
};
/* Whole families: ARC sets, resend traces and X- fields written by filters on the way. */
static const char *const trace_prefixes[] = {"ARC-", "Resent-", "X-"};
/* X- fields the author's software wrote: they belong to the content. */
static const char *const kept_x_fields[] = {"X-Mailer", "X-Priority", "X-MSMail-Priority"};

/* Charsets where every ASCII byte means ASCII, so tags and URLs can be cut in place. */
static const char *const ascii_compatible_charsets[] = {
    "us-ascii", "ascii",       "utf-8", "utf8",    "iso-8859-", "iso8859", "iso_8859",
    "latin",    "windows-125", "cp125", "x-cp125", "koi8",      "tis-620", "ansi_x3.4",
};

const char *mb_variant_name(enum mb_variant v)
{
	return (unsigned)v < MB_VARIANT_COUNT ? variants[v].name : "unknown";
}

int mb_variant_from_name(const char *name, enum mb_variant *out)
{
	for (int v = 0; name && v < MB_VARIANT_COUNT; v++)
		if (strcmp(variants[v].name, name) == 0) {
			*out = (enum mb_variant)v;
			return 0;
		}
	return -1;
}

bool mb_variant_uses_alternate_pool(enum mb_variant v)
{
	return (unsigned)v < MB_VARIANT_COUNT && variants[v].alternate_pool;
}

/* ---- link host sets ---- */

struct host_set {
	char **items;
	size_t n, alloc;
};

static int host_set_add(void *ctx, const char *host, size_t len)
{
	struct host_set *set = ctx;
	char *copy;

	for (size_t i = 0; i < set->n; i++)
		if (strlen(set->items[i]) == len && memcmp(set->items[i], host, len) == 0)
			return 0;
	if (set->n + 1 >= set->alloc) {
		size_t alloc = set->alloc ? set->alloc * 2 : 16;
		char **items = realloc(set->items, alloc * sizeof *items);
		if (!items)
			return MB_ENOMEM;
		set->items = items;
		set->alloc = alloc;
	}
	if (!(copy = mb_strndup(host, len)))
		return MB_ENOMEM;
	set->items[set->n++] = copy;
	set->items[set->n] = NULL;
	return 0;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hands the set over as a sorted NULL-terminated array. */
static int host_set_steal(struct host_set *set, char ***out)
{
	if (!set->items && !(set->items = calloc(1, sizeof *set->items)))
		return MB_ENOMEM;
	if (set->n)
		qsort(set->items, set->n, sizeof *set->items, compare_strings);
	*out = set->items;
	set->items = NULL;
	set->n = set->alloc = 0;
	return 0;
}

void mb_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* The hosts that links-stripped restricted to some hosts removes links to. */
struct host_filter {
	char *const *hosts; /* NULL-terminated, borrowed */
	bool matched;
};

/* IP addresses have no subdomains: "2.1" must not take in 192.0.2.1. */
static bool is_ip_literal(const char *host, size_t len)
{
	if (len && host[0] == '[')
		return true;
	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)host[i]) && host[i] != '.')
			return false;
	return true;
}

/* host is one of the set or a subdomain of one (the labels before it are whole). */
static int filter_host(void *ctx, const char *host, size_t len)
{
	struct host_filter *f = ctx;

	for (size_t k = 0; f->hosts[k] && !f->matched; k++) {
		const char *want = f->hosts[k];
		size_t n = strlen(want);
		while (n && want[n - 1] == '.')
			n--;
		if (n == 0 || n > len || strncasecmp(host + len - n, want, n) != 0)
			continue;
		f->matched = n == len || (host[len - n - 1] == '.' && !is_ip_literal(host, len));
	}
	return 0;
}

/* Sees every URL a link edit would remove: its hosts go into the build's set, and with a
 * host filter only the URLs that lead to one of its hosts (wrapped targets included) go. */
static int collect_url(void *ctx, const char *url, size_t len)
{
	struct build *b = ctx;
	struct host_filter filter = {b->only_hosts, false};
	int rc = b->hosts ? mb_textlinks_hosts(url, len, host_set_add, b->hosts) : 0;

	if (rc || !b->only_hosts)
		return rc;
	if ((rc = mb_textlinks_hosts(url, len, filter_host, &filter)) != 0)
		return rc;
	return filter.matched ? 0 : MB_URL_KEEP;
}

/* ---- part content ---- */

static int stream_to_buf(GMimeStream *mem, struct mb_buf *out)
{
	GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	return mb_buf_append(out, bytes->data, bytes->len) ? MB_ENOMEM : mb_buf_terminate(out);
}

/* The part's content with its transfer encoding undone (charset untouched). */
static int decode_part(GMimePart *part, struct mb_buf *out)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	GMimeStream *mem = g_mime_stream_mem_new();
	int rc = 0;

	if (content && g_mime_data_wrapper_write_to_stream(content, mem) < 0)
		rc = MB_EDATA;
	if (!rc)
		rc = stream_to_buf(mem, out);
	g_object_unref(mem);
	return rc;
}

/* New decoded content; GMime encodes it again with the part's own transfer encoding, and
 * the Content-Type (charset included) stays as it was. */
static void set_content(GMimePart *part, const char *data, size_t len)
{
	GMimeStream *mem = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeDataWrapper *content =
	    g_mime_data_wrapper_new_with_stream(mem, GMIME_CONTENT_ENCODING_DEFAULT);

	g_mime_part_set_content(part, content);
	g_object_unref(content);
	g_object_unref(mem);
}

static bool is_ascii_compatible(const char *charset)
{
	if (!charset || !*charset)
		return true;
	for (size_t k = 0;
	     k < sizeof ascii_compatible_charsets / sizeof ascii_compatible_charsets[0]; k++)
		if (mb_str_istarts(charset, ascii_compatible_charsets[k]))
			return true;
	return false;
}

/* Converts with iconv through GLib; false when the bytes are not valid in from. */
static bool convert(const char *data, size_t len, const char *to, const char *from,
                    struct mb_buf *out)
{
	gsize written = 0;
	gchar *converted = g_convert(data, (gssize)len, g_mime_charset_iconv_name(to),
	                             g_mime_charset_iconv_name(from), NULL, &written, NULL);
	bool ok =
	    converted && mb_buf_append(out, converted, written) == 0 && mb_buf_terminate(out) == 0;

	g_free(converted);
	return ok;
}

static const char *content_type_text(GMimeObject *obj, char *text, size_t size)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char *charset = g_mime_object_get_content_type_parameter(obj, "charset");

	snprintf(text, size, "%s/%s%s%s", ct ? g_mime_content_type_get_media_type(ct) : "text",
	         ct ? g_mime_content_type_get_media_subtype(ct) : "plain",
	         charset ? "; charset=" : "", charset ? charset : "");
	return text;
}

/* Names the part in an error: "newsletter.eml: part 1.2 (text/html; charset=utf-8): ...". */
static int part_error(struct build *b, GMimeObject *obj, const char *where, int rc,
                      const char *what)
{
	char type[128];
	content_type_text(obj, type, sizeof type);
	if (what)
		return mb_err_set(b->err, rc, "%s: part %s (%s): %s", b->name, where, type, what);
	return mb_err_prefix(b->err, "%s: part %s (%s): ", b->name, where, type);
}

/* ---- links-stripped (and link collection): one walk over every inline text part ---- */

static int edit_links(struct build *b, const char *data, size_t len, bool html,
                      struct mb_buf *edited)
{
	if (html)
		return mb_html_strip_links(data, len, edited, collect_url, b, b->err);
	return mb_textlinks_strip(data, len, edited, collect_url, b);
}

/* Removes links from one text part. Multibyte charsets (iso-2022-jp, shift_jis, ...) are
 * edited as UTF-8 and converted back; the part is only re-encoded when something changed. */
static int strip_text_part(struct build *b, GMimePart *part, bool html, const char *where)
{
	GMimeObject *obj = GMIME_OBJECT(part);
	const char *charset = g_mime_object_get_content_type_parameter(obj, "charset");
	bool multibyte = !is_ascii_compatible(charset);
	struct mb_buf decoded = MB_BUF_INIT, utf8 = MB_BUF_INIT, edited = MB_BUF_INIT;
	struct mb_buf *source = multibyte ? &utf8 : &decoded;
	int rc = decode_part(part, &decoded);

	if (rc)
		rc = part_error(b, obj, where, rc, "cannot decode the content");
	else if (multibyte && !convert(decoded.data, decoded.len, "utf-8", charset, &utf8))
		rc = part_error(b, obj, where, MB_EDATA, "cannot convert the text to UTF-8");
	else if ((rc = edit_links(b, source->data, source->len, html, &edited)) != 0)
		rc = html ? part_error(b, obj, where, rc, NULL)
		          : part_error(b, obj, where, rc, "out of memory");
	if (!rc && b->apply &&
	    (edited.len != source->len || memcmp(edited.data, source->data, edited.len) != 0)) {
		if (multibyte)
			mb_buf_reset(&decoded); /* reused for the text in its own charset again */
		if (multibyte && !convert(edited.data, edited.len, charset, "utf-8", &decoded))
			rc = part_error(b, obj, where, MB_EDATA,
			                "cannot convert the edited text back to its charset");
		else
			set_content(part, multibyte ? decoded.data : edited.data,
			            multibyte ? decoded.len : edited.len);
	}
	mb_buf_free(&decoded);
	mb_buf_free(&utf8);
	mb_buf_free(&edited);
	return rc;
}

static bool has_media_type(GMimeObject *obj, const char *type, const char *subtype)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	return ct && g_mime_content_type_is_type(ct, type, subtype ? subtype : "*");
}

/* text/html and its relatives (text/x-amp-html, text/watch-html) are edited as HTML. */
static bool is_html(GMimeObject *obj)
{
	const char *subtype =
	    g_mime_content_type_get_media_subtype(g_mime_object_get_content_type(obj));
	return subtype && mb_str_icontains(subtype, strlen(subtype), "html") != NULL;
}

static int strip_object(struct build *b, GMimeObject *obj, const char *where, int depth);

static int strip_multipart(struct build *b, GMimeMultipart *mp, const char *where, int depth)
{
	int rc = 0;
	for (int i = 0; i < g_mime_multipart_get_count(mp) && !rc; i++) {
		char child[256];
		snprintf(child, sizeof child, "%s.%d", where, i + 1);
		rc = strip_object(b, g_mime_multipart_get_part(mp, i), child, depth + 1);
	}
	return rc;
}

/* Attachments stay byte-identical; attached messages (message/rfc822) are walked into: their
 * body's links go, their headers stay. */
static int strip_object(struct build *b, GMimeObject *obj, const char *where, int depth)
{
	if (depth > MB_MAX_MIME_DEPTH)
		return mb_err_set(b->err, MB_EDATA, "%s: MIME parts nested deeper than %d levels",
		                  b->name, MB_MAX_MIME_DEPTH);
	if (GMIME_IS_MULTIPART(obj))
		return strip_multipart(b, GMIME_MULTIPART(obj), where, depth);
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		GMimeObject *body = inner ? g_mime_message_get_mime_part(inner) : NULL;
		return body ? strip_object(b, body, where, depth + 1) : 0;
	}
	if (!GMIME_IS_PART(obj) || g_mime_part_is_attachment(GMIME_PART(obj)) ||
	    !has_media_type(obj, "text", NULL))
		return 0;
	return strip_text_part(b, GMIME_PART(obj), is_html(obj), where);
}

static int build_links_stripped(struct build *b)
{
	GMimeObject *body = g_mime_message_get_mime_part(b->mime);
	return body ? strip_object(b, body, "1", 1) : 0;
}

static int build_as_received(struct build *b)
{
	(void)b;
	return 0;
}

/* ---- plain-text and bare ---- */

/* The first inline text part of a subtype, not looking inside attached messages. */
static GMimeObject *find_body(GMimeObject *obj, const char *subtype, int depth)
{
	if (depth > MB_MAX_MIME_DEPTH)
		return NULL;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++) {
			GMimeObject *found =
			    find_body(g_mime_multipart_get_part(mp, i), subtype, depth + 1);
			if (found)
				return found;
		}
		return NULL;
	}
	if (GMIME_IS_PART(obj) && !g_mime_part_is_attachment(GMIME_PART(obj)) &&
	    has_media_type(obj, "text", subtype))
		return obj;
	return NULL;
}

/* Copies the charset name announced by an HTML <meta> (bounded sniffing of the first bytes,
 * like a browser's prescan). */
static bool sniff_meta_charset(const char *html, size_t len, char *out, size_t size)
{
	const char *p = mb_str_icontains(html, len < 4096 ? len : 4096, "charset=");
	size_t n = 0;

	if (!p)
		return false;
	p += 8;
	while (p < html + len && (*p == '"' || *p == '\''))
		p++;
	while (p + n < html + len && n + 1 < size &&
	       (isalnum((unsigned char)p[n]) || strchr("-_.:", p[n])))
		n++;
	memcpy(out, p, n);
	out[n] = '\0';
	return n > 0;
}

/* HTML bytes as UTF-8 for the text rendering. Labels are often wrong: iso-8859-1 is read as
 * windows-1252 (its superset in practice), undeclared or invalid text falls back to
 * windows-1252, and bytes that fit nothing become U+FFFD. */
static int html_as_utf8(GMimeObject *obj, const char *data, size_t len, struct mb_buf *out)
{
	const char *label = g_mime_object_get_content_type_parameter(obj, "charset");
	char sniffed[64];
	gchar *valid;

	if (!label && sniff_meta_charset(data, len, sniffed, sizeof sniffed))
		label = sniffed;
	if ((!label || mb_str_istarts(label, "utf") || mb_str_istarts(label, "us-ascii")) &&
	    g_utf8_validate(data, (gssize)len, NULL))
		return mb_buf_append(out, data, len) ? MB_ENOMEM : mb_buf_terminate(out);
	if (label && !mb_str_istarts(label, "utf") && !mb_str_istarts(label, "us-ascii") &&
	    convert(data, len, "utf-8", g_mime_charset_iso_to_windows(label), out))
		return 0;
	mb_buf_reset(out);
	if (convert(data, len, "utf-8", "windows-1252", out))
		return 0;
	mb_buf_reset(out);
	valid = g_utf8_make_valid(data, (gssize)len);
	int rc = mb_buf_puts(out, valid);
	g_free(valid);
	return rc;
}

static bool needs_quoted_printable(const char *text, size_t len)
{
	size_t line = 0;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)text[i] >= 0x80 || ++line > 76)
			return true;
		if (text[i] == '\n')
			line = 0;
	}
	return false;
}

/* A new text/plain part in UTF-8 (7bit when it can be, else quoted-printable). */
static GMimeObject *new_text_part(const char *text, size_t len)
{
	GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(part), "charset", "utf-8");
	g_mime_part_set_content_encoding(GMIME_PART(part),
	                                 needs_quoted_printable(text, len)
	                                     ? GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE
	                                     : GMIME_CONTENT_ENCODING_7BIT);
	set_content(GMIME_PART(part), text, len);
	return GMIME_OBJECT(part);
}

static int text_from_html(struct build *b, GMimeObject *html, bool keep_urls)
{
	struct mb_buf decoded = MB_BUF_INIT, utf8 = MB_BUF_INIT, text = MB_BUF_INIT;
	int rc = decode_part(GMIME_PART(html), &decoded);

	if (rc)
		rc = part_error(b, html, "1", rc, "cannot decode the content");
	else if ((rc = html_as_utf8(html, decoded.data, decoded.len, &utf8)) != 0)
		rc = part_error(b, html, "1", rc, "out of memory");
	else if ((rc = mb_html_to_text(utf8.data, utf8.len, keep_urls, &text, b->err)) != 0)
		rc = part_error(b, html, "1", rc, NULL);
	if (!rc) {
		GMimeObject *part = new_text_part(text.data, text.len);
		g_mime_message_set_mime_part(b->mime, part);
		g_object_unref(part);
	}
	mb_buf_free(&decoded);
	mb_buf_free(&utf8);
	mb_buf_free(&text);
	return rc;
}

/* The message's own text/plain alternative when it has one, else text from its HTML. */
static int make_plain(struct build *b, bool keep_urls)
{
	GMimeObject *body = g_mime_message_get_mime_part(b->mime), *text, *html;
	int rc = 0;

	if (!body || !(text = find_body(body, "plain", 0))) {
		html = body ? find_body(body, "html", 0) : NULL;
		if (!html)
			return mb_err_set(
			    b->err, MB_EDATA,
			    "%s: no text/plain or text/html part to make a plain-text "
			    "variant from",
			    b->name);
		return text_from_html(b, html, keep_urls);
	}
	g_object_ref(text);
	if (!keep_urls)
		rc = strip_text_part(b, GMIME_PART(text), false, "1");
	if (!rc)
		g_mime_message_set_mime_part(b->mime, text);
	g_object_unref(text);
	return rc;
}

static int build_plain_text(struct build *b)
{
	return make_plain(b, true);
}

static int build_bare(struct build *b)
{
	return make_plain(b, false);
}

/* ---- no-attachments ---- */

/* Attachments: what the sender attached, not what the body shows. Inline images of a
 * multipart/related body stay; a forwarded message counts unless marked inline. */
static bool is_attachment(GMimeObject *obj, bool in_related)
{
	GMimeContentDisposition *disposition = g_mime_object_get_content_disposition(obj);

	if (GMIME_IS_MESSAGE_PART(obj))
		return !disposition ||
		       !mb_str_ieq(g_mime_content_disposition_get_disposition(disposition),
		                   "inline");
	if (!GMIME_IS_PART(obj))
		return false;
	if (g_mime_part_is_attachment(GMIME_PART(obj)))
		return true;
	if (has_media_type(obj, "text", NULL) || in_related)
		return false;
	return g_mime_part_get_filename(GMIME_PART(obj)) != NULL;
}

/* Removes attachments below obj; true when obj is a multipart left with no parts. */
static bool remove_attachments(GMimeObject *obj, int depth)
{
	GMimeMultipart *mp;
	bool related;

	if (!GMIME_IS_MULTIPART(obj) || depth > MB_MAX_MIME_DEPTH)
		return false;
	mp = GMIME_MULTIPART(obj);
	related = has_media_type(obj, "multipart", "related");
	for (int i = g_mime_multipart_get_count(mp) - 1; i >= 0; i--) {
		GMimeObject *child = g_mime_multipart_get_part(mp, i);
		if (is_attachment(child, related) || remove_attachments(child, depth + 1))
			g_object_unref(g_mime_multipart_remove_at(mp, i));
	}
	return g_mime_multipart_get_count(mp) == 0;
}

static bool any_attachment(GMimeObject *obj, bool in_related, int depth)
{
	GMimeMultipart *mp;
	bool related;

	if (is_attachment(obj, in_related))
		return true;
	if (!GMIME_IS_MULTIPART(obj) || depth > MB_MAX_MIME_DEPTH)
		return false;
	mp = GMIME_MULTIPART(obj);
	related = has_media_type(obj, "multipart", "related");
	for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
		if (any_attachment(g_mime_multipart_get_part(mp, i), related, depth + 1))
			return true;
	return false;
}

static int build_no_attachments(struct build *b)
{
	GMimeObject *body = g_mime_message_get_mime_part(b->mime);

	if (body && (is_attachment(body, false) || remove_attachments(body, 1))) {
		GMimeObject *empty = new_text_part("", 0);
		g_mime_message_set_mime_part(b->mime, empty);
		g_object_unref(empty);
	}
	return 0;
}

/* ---- headers and output ---- */

static bool in_list(const char *name, const char *const *list, size_t n, bool prefix)
{
	for (size_t k = 0; k < n; k++)
		if (prefix ? mb_str_istarts(name, list[k]) : mb_str_ieq(name, list[k]))
			return true;
	return false;
}

static bool is_trace_field(const char *name)
{
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
	if (in_list(name, kept_x_fields, COUNT(kept_x_fields), false))
		return false;
	return in_list(name, trace_fields, COUNT(trace_fields), false) ||
	       in_list(name, trace_prefixes, COUNT(trace_prefixes), true);
#undef COUNT
}

/* From with another address: the display name of the original's first From mailbox stays;
 * Sender goes (it would name the primary domain). */
static void set_from_address(GMimeMessage *mime, const char *address)
{
	InternetAddressList *from = g_mime_message_get_from(mime);
	InternetAddress *first = from && internet_address_list_length(from) > 0
	                             ? internet_address_list_get_address(from, 0)
	                             : NULL;
	const char *name = first ? internet_address_get_name(first) : NULL;
	InternetAddress *repl = internet_address_mailbox_new(name, address);

	if (from) {
		internet_address_list_clear(from);
		internet_address_list_add(from, repl);
	}
	g_object_unref(repl);
	g_mime_object_remove_header(GMIME_OBJECT(mime), "Sender");
}

/* RFC 5322 field name: one or more printable ASCII characters except the colon. A line of a
 * broken original that GMime kept as a "field" without such a name would go out as a header
 * line no receiver reads as one: it is dropped. */
static bool valid_field_name(const char *name)
{
	if (!name || !*name)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 33 || *p > 126 || *p == ':')
			return false;
	return true;
}

/* GMime writes a field's raw value as it stands, and the raw value ends with its line end.
 * One that does not (a NUL byte in the original cut it short) would run into the next line
 * and end the header block: the line end is put back. */
static void terminate_raw_value(GMimeHeader *h)
{
	const char *raw = g_mime_header_get_raw_value(h);
	size_t len = raw ? strlen(raw) : 0;
	char *fixed;

	if (!raw || (len && raw[len - 1] == '\n') || !(fixed = g_malloc(len + 2)))
		return;
	memcpy(fixed, raw, len);
	fixed[len] = '\n';
	fixed[len + 1] = '\0';
	g_mime_header_set_raw_value(h, fixed);
	g_free(fixed);
}

static void drop_invalid_fields(GMimeObject *obj, int depth)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(obj);
	for (int i = list ? g_mime_header_list_get_count(list) - 1 : -1; i >= 0; i--) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		if (!valid_field_name(g_mime_header_get_name(h)))
			g_mime_header_list_remove_at(list, i);
		else
			terminate_raw_value(h);
	}
	if (depth > MB_MAX_MIME_DEPTH)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			drop_invalid_fields(g_mime_multipart_get_part(mp, i), depth + 1);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (inner)
			drop_invalid_fields(GMIME_OBJECT(inner), depth + 1);
	} else if (GMIME_IS_MESSAGE(obj)) {
		GMimeObject *body = g_mime_message_get_mime_part(GMIME_MESSAGE(obj));
		if (body)
			drop_invalid_fields(body, depth + 1);
	}
}

static void set_fresh_headers(GMimeMessage *mime, const struct mb_variant_opts *opts)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(GMIME_OBJECT(mime));
	char date[64];

	drop_invalid_fields(GMIME_OBJECT(mime), 0);
	for (int i = g_mime_header_list_get_count(list) - 1; i >= 0; i--)
		if (is_trace_field(
		        g_mime_header_get_name(g_mime_header_list_get_header_at(list, i))))
			g_mime_header_list_remove_at(list, i);
	if (opts->from)
		set_from_address(mime, opts->from);
	mb_clock_rfc5322(opts->date ? opts->date : time(NULL), date, sizeof date);
	g_mime_object_set_header(GMIME_OBJECT(mime), "Date", date, NULL);
	g_mime_object_set_header(GMIME_OBJECT(mime), "Message-ID", opts->message_id, NULL);
}

/* GMime writes LF; SMTP wants CRLF everywhere. unix2dos leaves existing CRLF alone. */
static int write_crlf(struct build *b, struct mb_buf *out)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GMimeStream *filtered = g_mime_stream_filter_new(mem);
	GMimeFilter *unix2dos = g_mime_filter_unix2dos_new(FALSE);
	int rc = 0;

	g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), unix2dos);
	if (g_mime_object_write_to_stream(GMIME_OBJECT(b->mime), NULL, filtered) < 0 ||
	    g_mime_stream_flush(filtered) < 0)
		rc = mb_err_set(b->err, MB_ESOFTWARE, "%s: GMime could not write the variant",
		                b->name);
	if (!rc && (stream_to_buf(mem, out) ||
	            ((out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2) != 0) &&
	             mb_buf_puts(out, "\r\n"))))
		rc = mb_err_set(b->err, MB_ENOMEM, "%s: variant larger than the output limit",
		                b->name);
	g_object_unref(unix2dos);
	g_object_unref(filtered);
	g_object_unref(mem);
	return rc;
}

static int build_open(struct build *b, const struct mb_message *msg, struct mb_err *err)
{
	size_t len;
	const char *data = mb_message_data(msg, &len);
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);

	b->name = mb_message_name(msg);
	b->err = err;
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	b->mime = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream); /* the message's parts hold it from here */
	return b->mime ? 0 : mb_err_set(err, MB_EDATA, "%s: not a MIME message", b->name);
}

static void build_close(struct build *b)
{
	if (b->mime)
		g_object_unref(b->mime);
	b->mime = NULL;
}

static bool valid_message_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n < 5 || n > 250 || id[0] != '<' || id[n - 1] != '>' || !memchr(id, '@', n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7F)
			return false;
	return true;
}

static int build_variant(const struct mb_message *msg, enum mb_variant v, char *const *only_hosts,
                         const struct mb_variant_opts *opts, struct mb_buf *out, struct mb_err *err)
{
	struct build b = {NULL, NULL, true, NULL, err, only_hosts};
	int rc;

	if ((unsigned)v >= MB_VARIANT_COUNT)
		return mb_err_set(err, MB_EUSAGE, "unknown variant %d", (int)v);
	if (!opts || !valid_message_id(opts->message_id))
		return mb_err_set(err, MB_EUSAGE,
		                  "variant %s: a Message-ID like <id@domain> is required",
		                  variants[v].name);
	if ((rc = build_open(&b, msg, err)) == 0 && (rc = variants[v].build(&b)) == 0) {
		set_fresh_headers(b.mime, opts);
		rc = write_crlf(&b, out);
	}
	build_close(&b);
	return rc;
}

int mb_variant_build(const struct mb_message *msg, enum mb_variant v,
                     const struct mb_variant_opts *opts, struct mb_buf *out, struct mb_err *err)
{
	return build_variant(msg, v, NULL, opts, out, err);
}

int mb_variant_build_strip_hosts(const struct mb_message *msg, char *const *hosts,
                                 const struct mb_variant_opts *opts, struct mb_buf *out,
                                 struct mb_err *err)
{
	static char *const no_hosts[] = {NULL};
	return build_variant(msg, MB_VARIANT_LINKS_STRIPPED, hosts ? hosts : no_hosts, opts, out,
	                     err);
}

bool mb_message_has_html(const struct mb_message *msg)
{
	struct build b = {NULL, NULL, false, NULL, NULL, NULL};
	GMimeObject *body;
	bool found = false;

	if (build_open(&b, msg, NULL) == 0 && (body = g_mime_message_get_mime_part(b.mime)))
		found = find_body(body, "html", 0) != NULL;
	build_close(&b);
	return found;
}

/* The same test no-attachments removes by. */
bool mb_message_has_attachments(const struct mb_message *msg)
{
	struct build b = {NULL, NULL, false, NULL, NULL, NULL};
	GMimeObject *body;
	bool found = false;

	if (build_open(&b, msg, NULL) == 0 && (body = g_mime_message_get_mime_part(b.mime)))
		found = any_attachment(body, false, 1);
	build_close(&b);
	return found;
}

int mb_message_link_domains(const struct mb_message *msg, char ***out, struct mb_err *err)
{
	struct host_set hosts = {NULL, 0, 0};
	struct build b = {NULL, NULL, false, &hosts, err, NULL};
	int rc;

	*out = NULL;
	if ((rc = build_open(&b, msg, err)) == 0)
		rc = build_links_stripped(&b);
	build_close(&b);
	if (!rc && host_set_steal(&hosts, out))
		rc = mb_err_set(err, MB_ENOMEM, "%s: out of memory", mb_message_name(msg));
	mb_strv_free(hosts.items);
	return rc;
}

int mb_variant_link_domains(const struct mb_message *msg, enum mb_variant v, char ***out,
                            struct mb_err *err)
{
	static const char probe_id[] = "<link-domains@mailbisect.invalid>";
	struct mb_variant_opts opts = {probe_id, 1, NULL};
	struct mb_buf built = MB_BUF_INIT;
	struct mb_message *variant = NULL;
	int rc;

	*out = NULL;
	rc = mb_variant_build(msg, v, &opts, &built, err);
	if (!rc)
		rc = mb_message_parse(&variant, built.data, built.len, mb_message_name(msg), err);
	if (!rc)
		rc = mb_message_link_domains(variant, out, err);
	mb_message_free(variant);
	mb_buf_free(&built);
	return rc;
}
