/* The bounce reader's text side: the human-readable notification (text, or HTML reduced to
 * text) cut off before the returned message, the recipients it names and the reply it quotes
 * for each, ARF feedback fields and auto-reply markers. Untrusted input, bounded throughout. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "mailbisect/buf.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"
#include "bounce_internal.h"

#define NOTICE_MAX_BYTES (256u * 1024u) /* notification text read */
#define NOTICE_MAX_LINES 4000
#define BLOCK_MAX_LINES  60 /* lines of text kept about one recipient */
#define ADDRESS_MAX      320
/* addresses a notice may name: every recipient a report may list, and a few others (the
 * sender, the postmaster) */
#define MAX_CANDIDATES (MB_MAX_DSN_RECIPIENTS + 16)
#define MAX_EXCLUDED   8
#define HEADER_CACHE   24   /* header values remembered per reader */
#define HEADER_ARENA   4096 /* bytes of plain header values kept by a reader */

/* ---- Formats: a name for the bounce's origin, from markers of its header or text ----------- */

/* clang-format off */
static const struct {
	const char *where;  /* "from", "subject", "header:<name>", "text" */
	const char *marker; /* case-insensitive substring */
	const char *provider;
} provider_markers[] = {
	{"header:x-ms-exchange-message-is-ndr", "", "exchange"},
	{"text", "protection.outlook.com", "office365"},
	{"text", "microsoft exchange", "exchange"},
	{"text", "delivery has failed to these recipients", "exchange"},
	{"text", "groups.google.com", "googlegroups"},
	{"from", "googlemail.com", "gmail"},
	{"from", "google.com", "gmail"},
	{"from", "yahoo", "yahoo"},
	{"from", "aol.com", "aol"},
	{"from", "icloud.com", "icloud"},
	{"from", "me.com", "icloud"},
	{"from", "amazonses.com", "amazonses"},
	{"from", "messagelabs.com", "messagelabs"},
	{"header:x-mailer", "<smtp32 v", "imailserver"},
	{"header:x-ses-outgoing", "", "amazonses"},
	{"header:x-mimecast-spam-score", "", "mimecast"},
	{"text", "mimecast", "mimecast"},
	{"text", "barracuda", "barracuda"},
	{"text", "ironport", "cisco"},
	{"text", "trend micro", "trendmicro"},
	{"text", "interscan messaging security", "trendmicro"},
	{"text", "pphosted.com", "proofpoint"},
	{"text", "proofpoint", "proofpoint"},
	{"text", "this is the qmail-send program", "qmail"},
	{"text", "this is the mail system at host", "postfix"},
	{"text", "the postfix program", "postfix"},
	{"text", "mail delivery software", "exim"},
	{"header:x-failed-recipients", "", "exim"},
	{"text", "transcript of session follows", "sendmail"},
	{"text", "the original message was received at", "sendmail"},
	{"text", "dragonfly mail agent", "dragonfly"},
	{"text", "opensmtpd", "opensmtpd"},
};

#define N_PROVIDER_MARKERS (sizeof provider_markers / sizeof provider_markers[0])

const char *mb_bounce_provider_at(size_t i)
{
	for (size_t k = 0; k < N_PROVIDER_MARKERS; k++) {
		bool seen = false; /* named by an earlier marker */
		for (size_t j = 0; j < k && !seen; j++)
			seen = strcmp(provider_markers[j].provider, provider_markers[k].provider) == 0;
		if (!seen && i-- == 0)
			return provider_markers[k].provider;
	}
	return NULL;
}

bool mb_bounce_provider_known(const char *name)
{
	for (size_t k = 0; name && k < N_PROVIDER_MARKERS; k++)
		if (mb_str_ieq(provider_markers[k].provider, name))
			return true;
	return false;
}

/* Lines where the returned message (or its headers) starts: matched at the start of a line,
 * after leading dashes, spaces and asterisks, case-insensitively. */
static const char *const returned_markers[] = {
	"this is a copy of the message",
	"below this line is a copy of the message",
	"original message follows",
	"original message",
	"the original message",
	"message headers follow",
	"headers of the original message",
	"header of the original message",
	"the header of the original message",
	"returned mail",
	"undelivered message",
	"content of the original message",
	"copy of the original message",
	"original message headers",
	"message header follows",
	"the message header",
};

/* Header fields that start a returned message when two of them follow each other. */
static const char *const header_names[] = {
	"return-path:", "received:", "dkim-signature:", "x-received:", "arc-seal:",
	"message-id:", "date:", "from:", "to:", "subject:", "mime-version:",
	"content-type:", "x-mailer:", "reply-to:", "domainkey-signature:",
	"authentication-results:", "x-google-smtp-source:", "return-path :",
};

/* Phrases that say at which SMTP stage the reply came, tried in order. */
static const struct {
	const char *phrase;
	enum mb_stage stage;
} stage_phrases[] = {
	{"end of data", MB_STAGE_DATA},
	{"after data", MB_STAGE_DATA},
	{"data command", MB_STAGE_DATA},
	{"final data", MB_STAGE_DATA},
	{">>> data", MB_STAGE_DATA},
	{"bdat command", MB_STAGE_DATA},
	{"rcpt to", MB_STAGE_RCPT},
	{"smtp:rcpt", MB_STAGE_RCPT},
	{"rcpt command", MB_STAGE_RCPT},
	{"does not like recipient", MB_STAGE_RCPT},
	{"mail from:", MB_STAGE_MAIL},
	{"mail from command", MB_STAGE_MAIL},
	{"mail command", MB_STAGE_MAIL},
	{"ehlo command", MB_STAGE_HELO},
	{"after ehlo ", MB_STAGE_HELO},
	{"after helo ", MB_STAGE_HELO},
	{"helo command", MB_STAGE_HELO},
	{"starttls command", MB_STAGE_HELO},
	{"auth command", MB_STAGE_AUTH},
	{"refused to talk to me", MB_STAGE_CONNECT},
	{"my name was rejected", MB_STAGE_HELO},
	{"sender was rejected", MB_STAGE_MAIL},
	{"after initial connection", MB_STAGE_CONNECT},
	{"greeting", MB_STAGE_CONNECT},
};
/* clang-format on */

/* ---- Small text helpers ---------------------------------------------------------------------- */

static bool local_char(int c)
{
	return isalnum(c) || (c && strchr(".!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

static bool domain_char(int c)
{
	return isalnum(c) || c == '.' || c == '-' || c == '_';
}

/* The address around s[at] ('@'): its start and end, or false. */
static bool address_around(const char *s, size_t len, size_t at, size_t *a, size_t *b)
{
	size_t i = at, j = at + 1;
	bool dot = false;

	while (i > 0 && local_char((unsigned char)s[i - 1]))
		i--;
	if (i > 0 && s[i - 1] == '"') { /* "quoted local"@domain */
		size_t q = i - 1;
		while (q > 0 && s[q - 1] != '"' && s[q - 1] != '\n' && at - q < 128)
			q--;
		if (q > 0 && s[q - 1] == '"')
			i = q - 1;
	}
	while (i < at && (s[i] == '.' || s[i] == '/' || s[i] == '='))
		i++;
	while (j < len && domain_char((unsigned char)s[j])) {
		dot |= s[j] == '.';
		j++;
	}
	while (j > at + 1 && (s[j - 1] == '.' || s[j - 1] == '-'))
		j--;
	if (i == at || j == at + 1 || !dot || j - i > ADDRESS_MAX)
		return false;
	*a = i;
	*b = j;
	return true;
}

/* Inside a URL ("http://host/x?u=a@b"): a scheme before it with no space in between. */
static bool in_url(const char *s, size_t a)
{
	size_t i = a;
	while (i > 0 && !isspace((unsigned char)s[i - 1]) && s[i - 1] != '<' && s[i - 1] != '"' &&
	       a - i < 2048)
		i--;
	return mb_str_icontains(s + i, a - i, "://") != NULL;
}

static bool address_equal(const char *a, size_t n, const char *b)
{
	return b && strlen(b) == n && strncasecmp(a, b, n) == 0;
}

/* The bare address of a header value ("Name <a@b>" -> "a@b"), into out; empty if none. */
static void header_address(const char *v, char *out, size_t size)
{
	const char *a, *b;
	out[0] = '\0';
	if (!v)
		return;
	if ((a = strchr(v, '<')) && (b = strchr(a, '>'))) {
		a++;
	} else {
		a = v;
		b = v + strcspn(v, ",");
	}
	while (a < b && isspace((unsigned char)*a))
		a++;
	while (b > a && isspace((unsigned char)b[-1]))
		b--;
	if (b > a && (size_t)(b - a) < size && memchr(a, '@', (size_t)(b - a))) {
		memcpy(out, a, (size_t)(b - a));
		out[b - a] = '\0';
	}
}

/* ---- MIME ------------------------------------------------------------------------------------ */

struct parts {
	GMimeObject *plain, *html;   /* the notification (outside returned messages) */
	GMimePart *feedback;         /* message/feedback-report */
	GMimeMessage *returned;      /* message/rfc822 */
	GMimePart *returned_headers; /* text/rfc822-headers */
	size_t count;
};

static void parts_walk(struct parts *p, GMimeObject *obj, int depth)
{
	GMimeContentType *ct;

	if (!obj || depth > MB_MAX_MIME_DEPTH || ++p->count > MB_MAX_MIME_PARTS)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);
		for (int i = 0; i < n; i++)
			parts_walk(p, g_mime_multipart_get_part(mp, i), depth + 1);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(obj)) {
		if (!p->returned)
			p->returned = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		return;
	}
	if (!GMIME_IS_PART(obj) || !(ct = g_mime_object_get_content_type(obj)))
		return;
	if (g_mime_content_type_is_type(ct, "message", "feedback-report")) {
		if (!p->feedback)
			p->feedback = GMIME_PART(obj);
	} else if (g_mime_content_type_is_type(ct, "text", "rfc822-headers") ||
	           g_mime_content_type_is_type(ct, "message", "global-headers")) {
		if (!p->returned_headers)
			p->returned_headers = GMIME_PART(obj);
	} else if (g_mime_content_type_is_type(ct, "text", "plain") ||
	           !g_mime_content_type_get_media_type(ct)) {
		if (!p->plain)
			p->plain = obj;
	} else if (g_mime_content_type_is_type(ct, "text", "html")) {
		if (!p->html)
			p->html = obj;
	}
}

/* What converting ASCII text from a charset to UTF-8 does to it. */
enum ascii_kind {
	ASCII_KEPT,  /* every ASCII byte stands for itself (ASCII, UTF-8, ISO-8859-x, ...) */
	ASCII_UTF7,  /* printable ASCII stands for itself, but '+' starts base64 (RFC 2152) */
	ASCII_JIS,   /* ASCII stands for itself until an ESC shifts (ISO-2022-JP, RFC 1468) */
	ASCII_OTHER, /* anything else: the conversion decides */
};

/* ISO-8859-1 under the names iconv knows it by. */
static bool charset_is_latin1(const char *charset)
{
	static const char *const names[] = {"iso-8859-1", "iso8859-1",  "iso_8859-1", "latin1",
	                                    "l1",         "iso-ir-100", "cp819",      "ibm819"};
	for (size_t i = 0; charset && i < sizeof names / sizeof names[0]; i++)
		if (g_ascii_strcasecmp(charset, names[i]) == 0)
			return true;
	return false;
}

static enum ascii_kind charset_ascii_kind(const char *charset)
{
	static const char *const exact[] = {"us-ascii", "ascii", "utf-8", "utf8"};
	static const char *const families[] = {"iso-8859-", "windows-125"};
	static const char *const utf7[] = {"utf-7", "unicode-1-1-utf-7", "csunicode11utf7"};
	static const char *const jis[] = {"iso-2022-jp", "csiso2022jp"};
	if (!charset)
		return ASCII_KEPT;
	for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
		if (g_ascii_strcasecmp(charset, exact[i]) == 0)
			return ASCII_KEPT;
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
		if (g_ascii_strncasecmp(charset, families[i], strlen(families[i])) == 0)
			return ASCII_KEPT;
	if (charset_is_latin1(charset))
		return ASCII_KEPT;
	for (size_t i = 0; i < sizeof utf7 / sizeof utf7[0]; i++)
		if (g_ascii_strcasecmp(charset, utf7[i]) == 0)
			return ASCII_UTF7;
	for (size_t i = 0; i < sizeof jis / sizeof jis[0]; i++)
		if (g_ascii_strcasecmp(charset, jis[i]) == 0)
			return ASCII_JIS;
	return ASCII_OTHER;
}

/* Text that a UTF-7 or ISO-2022-JP converter hands on byte for byte: printable ASCII, tab and
 * line ends, so no ESC; for UTF-7 also no '+', and no '\\' or '~', which glibc's UTF-7
 * decoder refuses. */
static bool shift_free(const guint8 *s, size_t n, enum ascii_kind kind)
{
	for (size_t i = 0; i < n; i++) {
		guint8 c = s[i];
		if (c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c < 0x20 || c > 0x7e ||
		    (kind == ASCII_UTF7 && (c == '+' || c == '\\' || c == '~')))
			return false;
	}
	return true;
}

/* No byte of s[0..n) has its high bit set (tested a word at a time). */
static bool all_ascii(const guint8 *s, size_t n)
{
	size_t i = 0;
	for (; i + sizeof(uint64_t) <= n; i += sizeof(uint64_t)) {
		uint64_t w;
		memcpy(&w, s + i, sizeof w);
		if (w & UINT64_C(0x8080808080808080))
			return false;
	}
	for (; i < n; i++)
		if (s[i] >= 0x80)
			return false;
	return true;
}

/* UTF-8 that a UTF-8 to UTF-8 conversion gives back as it is: valid, without NUL, and without
 * the byte-order mark or the noncharacters, which a converter may treat apart. */
static bool utf8_kept(const guint8 *s, size_t n)
{
	const gchar *p = (const gchar *)s, *end = p + n;

	if (n > G_MAXSSIZE || !g_utf8_validate(p, (gssize)n, NULL))
		return false;
	for (; p < end; p = g_utf8_next_char(p)) {
		gunichar c;
		if ((unsigned char)*p < 0x80)
			continue;
		c = g_utf8_get_char(p);
		if (c == 0xFEFF || (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE)
			return false;
	}
	return true;
}

/* ISO-8859-1 to UTF-8 (each byte is the code point of the same number), up to the first NUL
 * and at most max bytes, as the C string a converter hands out would be cut. */
static int latin1_to_utf8(const guint8 *s, size_t n, size_t max, struct mb_buf *out)
{
	size_t start = out->len;
	int rc = 0;

	for (size_t i = 0; i < n && s[i] && !rc; i++) {
		char two[2] = {(char)(0xC0 | s[i] >> 6), (char)(0x80 | (s[i] & 0x3F))};
		rc = s[i] < 0x80 ? mb_buf_putc(out, (char)s[i]) : mb_buf_append(out, two, 2);
	}
	if (!rc && out->len - start > max) {
		out->len = start + max;
		out->data[out->len] = '\0';
	}
	return rc;
}

static bool charset_is_utf8(const char *charset)
{
	return charset && (g_ascii_strcasecmp(charset, "utf-8") == 0 ||
	                   g_ascii_strcasecmp(charset, "utf8") == 0);
}

/* The text of a part whose decoded bytes are all ASCII in a charset that keeps them (for UTF-7
 * and ISO-2022-JP: ASCII that does not shift), valid UTF-8 labelled so, or ISO-8859-1, as
 * GMime's conversion would give it but without opening a converter for it (most notices are
 * such). Returns 1 when out has it, 0 when the part needs the conversion, or MB_ENOMEM. */
static int part_text_ascii(GMimeObject *obj, size_t max, struct mb_buf *out)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	struct mb_buf bytes = MB_BUF_INIT;
	const char *charset;
	enum ascii_kind kind;
	size_t n, keep;
	const char *nul;
	bool ascii;
	int rc;

	if (!ct || (kind = charset_ascii_kind(
	                charset = g_mime_content_type_get_parameter(ct, "charset"))) == ASCII_OTHER)
		return 0;
	if (!g_mime_part_get_content(GMIME_PART(obj)))
		return 1; /* no text at all */
	if ((rc = bounce_part_bytes(GMIME_PART(obj), SIZE_MAX, &bytes)))
		return rc;
	n = bytes.len;
	keep = n > max ? max : n;
	ascii = kind == ASCII_KEPT ? all_ascii((const guint8 *)bytes.data, n)
	                           : shift_free((const guint8 *)bytes.data, n, kind);
	if (!ascii && charset_is_utf8(charset) && utf8_kept((const guint8 *)bytes.data, n)) {
		/* no NUL in it: GMime's string would hold all of it */
		rc = mb_buf_append(out, bytes.data, keep) ? MB_ENOMEM : 1;
	} else if (!ascii && charset_is_latin1(charset)) {
		rc = latin1_to_utf8((const guint8 *)bytes.data, n, max, out) ? MB_ENOMEM : 1;
	} else if (ascii) {
		if (keep && (nul = memchr(bytes.data, '\0', keep)))
			keep = (size_t)(nul -
			                bytes.data); /* the C string GMime hands out ends there */
		rc = keep && mb_buf_append(out, bytes.data, keep) ? MB_ENOMEM : 1;
	}
	mb_buf_free(&bytes);
	return rc;
}

/* Decoded text of a part (charset converted to UTF-8 where GMime knows it). */
static int part_text(GMimeObject *obj, size_t max, struct mb_buf *out)
{
	char *text;
	int rc = 0;

	if (!obj || !GMIME_IS_TEXT_PART(obj))
		return 0;
	if ((rc = part_text_ascii(obj, max, out)))
		return rc < 0 ? rc : 0;
	text = g_mime_text_part_get_text(GMIME_TEXT_PART(obj));
	if (text)
		rc = mb_buf_append(out, text, strnlen(text, max));
	g_free(text);
	return rc;
}

/* Raw decoded bytes of a part (no charset conversion). */
static int part_bytes(GMimePart *part, struct mb_buf *out)
{
	return bounce_part_bytes(part, NOTICE_MAX_BYTES, out);
}

/* HTML reduced to text: tags become line breaks or spaces, script/style dropped, the common
 * entities decoded. Only for reading the words of an NDR, never for output. */
static int html_to_text(const char *s, size_t len, struct mb_buf *out)
{
	size_t i = 0;
	int rc = 0;

	while (i < len && !rc) {
		if (s[i] == '<') {
			size_t j = i + 1;
			bool block;
			if (len - j >= 6 && (strncasecmp(s + j, "script", 6) == 0 ||
			                     strncasecmp(s + j, "style", 5) == 0)) {
				const char *end = mb_str_icontains(
				    s + j, len - j,
				    s[j] == 's' || s[j] == 'S'
				        ? (tolower((unsigned char)s[j + 1]) == 'c' ? "</script"
				                                                   : "</style")
				        : "</style");
				j = end ? (size_t)(end - s) : len;
			}
			while (j < len && s[j] != '>')
				j++;
			block = i + 2 < len && (strncasecmp(s + i + 1, "br", 2) == 0 ||
			                        strncasecmp(s + i + 1, "p", 1) == 0 ||
			                        strncasecmp(s + i + 1, "/p", 2) == 0 ||
			                        strncasecmp(s + i + 1, "div", 3) == 0 ||
			                        strncasecmp(s + i + 1, "/div", 4) == 0 ||
			                        strncasecmp(s + i + 1, "tr", 2) == 0 ||
			                        strncasecmp(s + i + 1, "li", 2) == 0);
			rc = mb_buf_putc(out, block ? '\n' : ' ');
			i = j < len ? j + 1 : len;
		} else if (s[i] == '&') {
			static const struct {
				const char *name, *text;
			} entities[] = {{"&nbsp;", " "}, {"&lt;", "<"},    {"&gt;", ">"},
			                {"&amp;", "&"},  {"&quot;", "\""}, {"&#39;", "'"}};
			size_t k;
			for (k = 0; k < sizeof entities / sizeof entities[0]; k++)
				if (strncasecmp(s + i, entities[k].name,
				                strlen(entities[k].name)) == 0)
					break;
			if (k < sizeof entities / sizeof entities[0]) {
				rc = mb_buf_puts(out, entities[k].text);
				i += strlen(entities[k].name);
			} else {
				rc = mb_buf_putc(out, s[i++]);
			}
		} else {
			rc = mb_buf_putc(out, s[i++]);
		}
	}
	return rc;
}

/* ---- The notification's lines ------------------------------------------------------------- */

struct line {
	const char *s;
	size_t len;
};

struct notice {
	struct mb_buf text; /* LF line ends, NULs replaced */
	struct line *lines;
	size_t n;
};

static bool header_line(const struct line *l)
{
	unsigned char first;

	if (!l->len)
		return false;
	first = (unsigned char)tolower((unsigned char)l->s[0]);
	for (size_t i = 0; i < sizeof header_names / sizeof header_names[0]; i++)
		if ((unsigned char)header_names[i][0] == first &&
		    l->len >= strlen(header_names[i]) &&
		    strncasecmp(l->s, header_names[i], strlen(header_names[i])) == 0)
			return true;
	return false;
}

/* Fields a notice echoes about the message it failed to deliver ("Subject: 'Hello'",
 * "Date: ..."): two of them in a row do not yet start a returned header block. */
static bool header_line_weak(const struct line *l)
{
	static const char *const weak[] = {"subject:", "date:", "from:", "to:", "reply-to:"};
	for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++)
		if (l->len >= strlen(weak[i]) && strncasecmp(l->s, weak[i], strlen(weak[i])) == 0)
			return true;
	return false;
}

/* The line after the one that ends at q (NULL past the end). */
static bool line_after(const char *q, const char *end, struct line *next)
{
	const char *r = q + (q < end && *q == '\r' && q + 1 < end && q[1] == '\n' ? 2 : 1), *t;
	if (q >= end || r >= end)
		return false;
	t = r;
	while (t < end && *t != '\n' && *t != '\r')
		t++;
	next->s = r;
	next->len = (size_t)(t - r);
	return true;
}

static bool returned_marker(const struct line *l)
{
	size_t i = 0;
	bool decorated;
	while (i < l->len && (l->s[i] == '-' || l->s[i] == ' ' || l->s[i] == '*' ||
	                      l->s[i] == '=' || l->s[i] == '_' || l->s[i] == '\t'))
		i++;
	decorated = i >= 2 || (l->len > 0 && l->s[l->len - 1] == '-');
	if (i >= l->len)
		return false; /* no marker is empty */
	for (size_t k = 0; k < sizeof returned_markers / sizeof returned_markers[0]; k++) {
		size_t n;
		/* the markers are lower case: most lines fail on the first letter */
		if (tolower((unsigned char)l->s[i]) != returned_markers[k][0])
			continue;
		n = strlen(returned_markers[k]);
		if (l->len - i >= n && strncasecmp(l->s + i, returned_markers[k], n) == 0 &&
		    (decorated || l->len - i - n < 24))
			return true;
	}
	return false;
}

/* Splits into lines (LF, CRLF, CR) and stops at the returned message. */
static int notice_lines(struct notice *nt)
{
	char *p = nt->text.data, *end = p + nt->text.len;
	size_t alloc = 0;

	for (char *z = p; z < end && (z = memchr(z, '\0', (size_t)(end - z))); z++)
		*z = ' ';
	while (p < end && nt->n < NOTICE_MAX_LINES) {
		char *q = memchr(p, '\n', (size_t)(end - p)), *cr;
		struct line l;
		/* the line ends at the first LF or CR */
		if (!q)
			q = end;
		if ((cr = memchr(p, '\r', (size_t)(q - p))))
			q = cr;
		l.s = p;
		l.len = (size_t)(q - p);
		if (returned_marker(&l))
			break;
		if (header_line(&l) && nt->n > 0) {
			/* two header lines in a row: a returned header block, unless both are
			 * fields a notice echoes and no third follows */
			struct line next, third;
			bool has_next = line_after(q, end, &next);
			if (has_next && next.len && isspace((unsigned char)next.s[0]))
				break;
			if (has_next && header_line(&next)) {
				if (!header_line_weak(&l) || !header_line_weak(&next))
					break;
				if (line_after(next.s + next.len, end, &third) &&
				    header_line(&third))
					break;
			}
		}
		if (nt->n == alloc) {
			struct line *list;
			alloc = alloc ? alloc * 2 : 64;
			if (!(list = realloc(nt->lines, alloc * sizeof *list)))
				return MB_ENOMEM;
			nt->lines = list;
		}
		nt->lines[nt->n++] = l;
		p = q;
		if (p < end && *p == '\r')
			p++;
		if (p < end && *p == '\n')
			p++;
	}
	return 0;
}

static void notice_free(struct notice *nt)
{
	mb_buf_free(&nt->text);
	free(nt->lines);
}

/* ---- Pairs: the pairs of adjacent bytes a text holds, hashed into a bit set. A phrase with a
 * pair the text lacks is not in it, and most phrases are ruled out so without a search. ---- */

#define PAIR_BITS 4096u

static unsigned pair_hash(unsigned char a, unsigned char b)
{
	return ((unsigned)a << 5 ^ b) & (PAIR_BITS - 1);
}

/* False when the text of pairs cannot hold phrase (true may be a hash collision). */
static bool pairs_held(const uint64_t *pairs, const char *phrase)
{
	for (size_t i = 0; phrase[i] && phrase[i + 1]; i++) {
		unsigned h = pair_hash((unsigned char)phrase[i], (unsigned char)phrase[i + 1]);
		if (!(pairs[h / 64] & (uint64_t)1 << (h % 64)))
			return false;
	}
	return true;
}

/* ---- Recipients named in the text --------------------------------------------------------------
 */

struct candidate {
	char address[ADDRESS_MAX + 1];
	size_t line;   /* where its block starts */
	bool at_start; /* the line starts with it (a recipient list entry) */
	bool self;     /* the bounce's own To or Return-Path: a recipient only when no other
	                * address is named (a message sent to oneself) */
};

struct reader {
	struct notice nt;
	char excluded[MAX_EXCLUDED][ADDRESS_MAX + 1];
	size_t n_excluded;
	char self[MAX_EXCLUDED][ADDRESS_MAX + 1];
	size_t n_self;
	struct candidate *cand; /* grown as addresses are found */
	size_t n_cand, alloc_cand;
	bool cand_full; /* MAX_CANDIDATES reached: later addresses were not looked at */
	const char *subject;
	char from[ADDRESS_MAX + 1];
	char *lower; /* the notice text in ASCII lower case (NULs were made spaces), or NULL */
	/* header values looked up so far (see header()), the plain ones unfolded into arena */
	struct {
		GMimeMessage *m;
		const char *name; /* the caller's string: looked up by address */
		const char *value;
	} headers[HEADER_CACHE];
	size_t n_headers, arena_used;
	char arena[HEADER_ARENA];
};

/* A reader whose lists are empty. Their entries are written as they are counted, so only the
 * counts and pointers are set here (the arrays are most of its 30 KB). */
static struct reader *reader_new(void)
{
	struct reader *r = malloc(sizeof *r);
	if (!r)
		return NULL;
	r->nt = (struct notice){MB_BUF_INIT, NULL, 0};
	r->n_excluded = r->n_self = r->n_cand = r->alloc_cand = 0;
	r->cand = NULL;
	r->cand_full = false;
	r->subject = NULL;
	r->from[0] = '\0';
	r->lower = NULL;
	r->n_headers = r->arena_used = 0;
	return r;
}

/* dst = src[0..n) with the ASCII capitals made small, eight bytes at a time: a byte's 0x20
 * bit is set where it is 'A'..'Z' (no high bit, at least 'A', not above 'Z'). */
static void ascii_lower_copy(char *dst, const char *src, size_t n)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), high = ones * 0x80;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w, low7, from_a, above_z;
		memcpy(&w, src + i, 8);
		low7 = w & ~high;
		from_a = low7 + ones * (0x80 - 'A');  /* high bit: byte & 0x7f >= 'A' */
		above_z = low7 + ones * (0x7f - 'Z'); /* high bit: byte & 0x7f > 'Z' */
		w ^= ((from_a & ~above_z & ~w & high) >> 2);
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] >= 'A' && src[i] <= 'Z' ? (char)(src[i] - 'A' + 'a') : src[i];
}

/* The notice text in lower case once, so that the many markers looked for in it are plain
 * substring searches; without memory the searches fold case themselves. */
static void notice_lower(struct reader *r)
{
	const char *s = r->nt.text.data;
	size_t n = r->nt.text.len;
	if (!s || !(r->lower = malloc(n + 1)))
		return;
	ascii_lower_copy(r->lower, s, n);
	r->lower[n] = '\0';
}

/* The notice text holds needle (lower case), ignoring case. */
static bool notice_has(const struct reader *r, const char *needle)
{
	if (r->lower)
		return strstr(r->lower, needle) != NULL;
	return r->nt.text.data && mb_str_icontains(r->nt.text.data, r->nt.text.len, needle);
}

static bool excluded(const struct reader *r, const char *a, size_t n)
{
	for (size_t i = 0; i < r->n_excluded; i++)
		if (address_equal(a, n, r->excluded[i]))
			return true;
	return false;
}

static void exclude(struct reader *r, const char *address)
{
	if (address && *address && r->n_excluded < MAX_EXCLUDED && strlen(address) <= ADDRESS_MAX)
		strcpy(r->excluded[r->n_excluded++], address);
}

static bool is_self(const struct reader *r, const char *a, size_t n)
{
	for (size_t i = 0; i < r->n_self; i++)
		if (address_equal(a, n, r->self[i]))
			return true;
	return false;
}

static void add_self(struct reader *r, const char *address)
{
	if (address && *address && r->n_self < MAX_EXCLUDED && strlen(address) <= ADDRESS_MAX)
		strcpy(r->self[r->n_self++], address);
}

/* The line starts with the address, maybe after '<', a quote, or a short label ending in ':'
 * ("To:", "Recipient address:", "Original-Recipient: rfc822;"). */
static bool starts_line(const struct line *l, size_t a)
{
	size_t i = 0, words = 0;
	while (i < a && isspace((unsigned char)l->s[i]))
		i++;
	while (i < a && (l->s[i] == '<' || l->s[i] == '"' || l->s[i] == '\'' || l->s[i] == '*' ||
	                 l->s[i] == '-' || l->s[i] == ' '))
		i++;
	if (i == a)
		return true;
	/* a label of up to four words and a colon or semicolon */
	for (size_t j = i; j < a; j++) {
		if (l->s[j] == ' ')
			words++;
		if ((l->s[j] == ':' || l->s[j] == ';') && words < 4) {
			size_t k = j + 1;
			while (k < a && (l->s[k] == ' ' || l->s[k] == '<' || l->s[k] == '\t' ||
			                 (l->s[k] == ';') || isalnum((unsigned char)l->s[k]) ||
			                 l->s[k] == '-'))
				k++;
			return k == a && !memchr(l->s + i, '>', j - i) &&
			       !mb_str_icontains(l->s + i, j - i, "from");
		}
	}
	return false;
}

/* Returns 0 or MB_ENOMEM. */
static int candidates_find(struct reader *r)
{
	for (size_t li = 0; li < r->nt.n; li++) {
		const struct line *l = &r->nt.lines[li];
		for (size_t i = 0; i < l->len; i++) {
			const char *at = memchr(l->s + i, '@', l->len - i);
			size_t a, b, k;
			if (!at)
				break;
			i = (size_t)(at - l->s);
			if (!address_around(l->s, l->len, i, &a, &b))
				continue;
			i = b;
			if (in_url(l->s, a) || excluded(r, l->s + a, b - a))
				continue;
			for (k = 0; k < r->n_cand; k++)
				if (address_equal(l->s + a, b - a, r->cand[k].address))
					break;
			if (k < r->n_cand) {
				if (!r->cand[k].at_start && starts_line(l, a)) {
					r->cand[k].at_start = true;
					r->cand[k].line = li;
				}
				continue;
			}
			if (r->n_cand == MAX_CANDIDATES) {
				r->cand_full = true;
				return 0;
			}
			if (r->n_cand == r->alloc_cand) {
				size_t alloc = r->alloc_cand ? r->alloc_cand * 2 : 8;
				struct candidate *list = realloc(r->cand, alloc * sizeof *list);
				if (!list)
					return MB_ENOMEM;
				r->cand = list;
				r->alloc_cand = alloc;
			}
			memcpy(r->cand[k].address, l->s + a, b - a);
			r->cand[k].address[b - a] = '\0';
			r->cand[k].line = li;
			r->cand[k].at_start = starts_line(l, a);
			r->cand[k].self = is_self(r, l->s + a, b - a);
			r->n_cand++;
		}
	}
	return 0;
}

static const struct candidate *candidate_of(const struct reader *r, const char *address)
{
	for (size_t i = 0; address && i < r->n_cand; i++)
		if (mb_str_ieq(r->cand[i].address, address))
			return &r->cand[i];
	return NULL;
}

/* ---- What the text says about one recipient ----------------------------------------------- */

/* Length of "550-5.7.1 " / "550 " / "550-" at a line start, or 0. */
static size_t reply_prefix(const char *s, size_t len)
{
	size_t i = 0;
	if (len < 4 || !(s[0] >= '2' && s[0] <= '5') || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]) || (s[3] != '-' && s[3] != ' '))
		return 0;
	i = 4;
	if (i < len && isdigit((unsigned char)s[i]) && i + 1 < len && s[i + 1] == '.') {
		size_t j = i;
		while (j < len && (isdigit((unsigned char)s[j]) || s[j] == '.'))
			j++;
		if (j < len && s[j] == ' ')
			i = j + 1;
	}
	return i;
}

/* The lines [first, last) joined into one: trimmed, one space between, the "550-5.7.1"
 * prefixes of continuation lines of a multi-line reply dropped. */
static int block_join(const struct notice *nt, size_t first, size_t last, struct mb_buf *out)
{
	char open_code[4] = ""; /* "550" while a "550-" multi-line reply goes on */
	int rc = 0;

	out->cap = MB_MAX_DIAGNOSTIC_BYTES;
	for (size_t i = first; i < last && !rc; i++) {
		const char *s = nt->lines[i].s;
		size_t n = nt->lines[i].len, p;
		while (n && isspace((unsigned char)*s))
			s++, n--;
		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		if (!n)
			continue;
		p = reply_prefix(s, n);
		if (p && open_code[0] && strncmp(s, open_code, 3) == 0) {
			s += p;
			n -= p;
		}
		open_code[0] = '\0';
		/* the last "550-" of the line: each '-' from the fourth byte on may end one */
		for (const char *dash = n > 3 ? memchr(s + 3, '-', n - 3) : NULL; dash;
		     dash = dash + 1 < s + n ? memchr(dash + 1, '-', (size_t)(s + n - dash - 1))
		                             : NULL) {
			size_t k = (size_t)(dash - s) - 3;
			if ((k == 0 || s[k - 1] == ' ') && reply_prefix(s + k, n - k)) {
				memcpy(open_code, s + k, 3);
				open_code[3] = '\0';
			}
		}
		if (out->len && (rc = mb_buf_putc(out, ' ')))
			break;
		if (out->len + n > MB_MAX_DIAGNOSTIC_BYTES)
			n = MB_MAX_DIAGNOSTIC_BYTES - out->len;
		rc = mb_buf_append(out, s, n);
	}
	return rc ? rc : mb_buf_terminate(out);
}

static size_t enhanced_len(const char *s)
{
	size_t i = 1, d;
	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	if (s[i++] != '.' || !isdigit((unsigned char)s[i]) || isdigit((unsigned char)s[i + 1]))
		return 0;
	i++;
	if (s[i++] != '.')
		return 0;
	for (d = 0; isdigit((unsigned char)s[i]) && d < 3; d++)
		i++;
	if (d == 0 || isdigit((unsigned char)s[i]) ||
	    (s[i] == '.' && isdigit((unsigned char)s[i + 1])))
		return 0;
	return i;
}

/* Length of the enhanced status code at p when it stands alone there (not part of an address,
 * a version or a number), else 0. */
static size_t status_at(const char *text, const char *p)
{
	if (*p != '2' && *p != '4' && *p != '5')
		return 0; /* what enhanced_len would say, without looking around first */
	bool after_code = p - text >= 4 && p[-1] == '-' && isdigit((unsigned char)p[-2]) &&
	                  isdigit((unsigned char)p[-3]) && isdigit((unsigned char)p[-4]);
	if (p != text && !after_code &&
	    (isalnum((unsigned char)p[-1]) || p[-1] == '.' || p[-1] == '-' || p[-1] == '/' ||
	     p[-1] == '['))
		return 0;
	return enhanced_len(p);
}

/* Codes that say nothing of their own: X.0.0, and 4.4.7 (a queue giving up, whatever the
 * receiver last said). */
static bool status_empty(const char *s, size_t n)
{
	return (n == 5 && strncmp(s + 1, ".0.0", 4) == 0) ||
	       (n == 5 && strncmp(s, "4.4.7", 5) == 0);
}

/* The enhanced status code of a text: the first one that says something, else the first
 * empty one ("554 4.4.7 Message expired <421 4.4.2 Connection timed out>" -> 4.4.2). */
char *bounce_status_in_text(const char *text)
{
	const char *empty = NULL;
	size_t empty_len = 0;
	if (!text)
		return NULL;
	for (const char *p = text; *p; p++) {
		size_t n = status_at(text, p);
		if (!n)
			continue;
		if (!status_empty(p, n))
			return mb_strndup(p, n);
		if (!empty) {
			empty = p;
			empty_len = n;
		}
		p += n - 1;
	}
	return empty ? mb_strndup(empty, empty_len) : NULL;
}

/* Report Status fields that defer to the code of the reply they quote: queue and system
 * codes, and protocol codes sent for refusals of every kind. 'x' = class. */
static const char *const status_field_deferring[] = {"4.4.7", "4.7.0", "5.3.", "x.5.1",
                                                     "x.5.2", "x.5.4", "x.5.5"};

static bool status_says_little(const char *s)
{
	return strstr(s, ".0") != NULL;
}

/* Which of the report's Status field and the code quoted in the reply names the case better;
 * the reply code's class settles a disagreement on the class. */
static const char *status_prefer(const char *field, const char *quoted, int reply_code)
{
	char klass = reply_code ? (char)('0' + reply_code / 100) : '\0';

	if (!field || strlen(field) < 5)
		return quoted ? quoted : field;
	if (!quoted || strlen(quoted) < 5 || strcmp(field, quoted) == 0)
		return field;
	if (klass && field[0] != quoted[0]) {
		if (field[0] == klass)
			return field;
		if (quoted[0] == klass)
			return quoted;
	}
	if (strcmp(field + 1, ".0.0") == 0)
		return strcmp(quoted + 1, ".0.0") == 0 ? field : quoted;
	if (status_says_little(field) && !status_says_little(quoted))
		return quoted;
	if (strcmp(quoted + 1, ".0.0") == 0)
		return field;
	for (size_t i = 0; i < sizeof status_field_deferring / sizeof status_field_deferring[0];
	     i++) {
		const char *d = status_field_deferring[i];
		if (d[0] == 'x' ? strncmp(field + 1, d + 1, strlen(d) - 1) == 0
		                : strncmp(field, d, strlen(d)) == 0)
			return quoted;
	}
	if (strcmp(field, "5.1.1") == 0)
		return status_says_little(quoted) || strncmp(quoted, "5.5.", 4) == 0 ? field
		                                                                     : quoted;
	if (strcmp(field, "5.1.3") == 0 && strncmp(quoted, "5.7.", 4) == 0)
		return quoted;
	return field;
}

int bounce_status_settle(struct mb_bounce_record *rec)
{
	char *quoted;

	/* A Status field that is not an RFC 3463 code ("6.1.1", "5.1", text) is not one: the
	 * reply's own code, if any, takes its place. */
	if (rec->status && (!enhanced_len(rec->status) || rec->status[enhanced_len(rec->status)])) {
		free(rec->status);
		rec->status = NULL;
	}
	quoted = bounce_status_in_text(rec->diagnostic);
	const char *best = status_prefer(rec->status, quoted, rec->reply_code);

	if (best == quoted && quoted) {
		free(rec->status);
		rec->status = quoted;
		return 0;
	}
	free(quoted);
	return 0;
}

/* Reply code: "said: 550", "host x [ip]: 550", "<<< 550", or a line-leading "550 " / "550-"
 * (here: after the start or a space following ':' or '>'). */
static int code_in_text(const char *text)
{
	for (const char *p = text; *p; p++) {
		const char *q = p;
		if (!(p[0] >= '4' && p[0] <= '5') || !isdigit((unsigned char)p[1]) ||
		    !isdigit((unsigned char)p[2]) || (p[3] != ' ' && p[3] != '-' && p[3] != '\0'))
			continue;
		if (p != text && (isalnum((unsigned char)p[-1]) || p[-1] == '.' || p[-1] == '#'))
			continue;
		while (q > text && q[-1] == ' ')
			q--;
		if (q == text || q[-1] == ':' || q[-1] == '>' || q[-1] == '(' || q[-1] == '\'' ||
		    q[-1] == '"' || q[-1] == ';' || enhanced_len(p + 4) ||
		    (p[3] == '-' && !isdigit((unsigned char)p[4])))
			return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	}
	return 0;
}

/* The text lower case, whitespace and '_' runs made one space, is searched for the
 * phrases. */
static enum mb_stage stage_in_text(const char *text)
{
	enum mb_stage stage = MB_STAGE_UNKNOWN;
	size_t n = 0, size = strlen(text) + 1;
	bool space = false;
	char small[512]; /* most texts fit: no allocation for them */
	uint64_t pairs[PAIR_BITS / 64];
	char *norm = size <= sizeof small ? small : malloc(size);

	if (!norm)
		return MB_STAGE_UNKNOWN;
	memset(pairs, 0, sizeof pairs);
	/* one pass: ASCII case folding and the C locale's white space (no locale is set), the
	 * pairs noted as the bytes are written */
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		unsigned char c = *p;
		if (c == ' ' || c == '_' || (c >= '\t' && c <= '\r')) {
			if (space)
				continue;
			c = ' ';
			space = true;
		} else {
			space = false;
			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c - 'A' + 'a');
		}
		norm[n] = (char)c;
		if (n) {
			unsigned h = pair_hash((unsigned char)norm[n - 1], c);
			pairs[h / 64] |= (uint64_t)1 << (h % 64);
		}
		n++;
	}
	norm[n] = '\0';
	for (size_t i = 0; n && i < sizeof stage_phrases / sizeof stage_phrases[0]; i++)
		if (pairs_held(pairs, stage_phrases[i].phrase) &&
		    strstr(norm, stage_phrases[i].phrase)) {
			stage = stage_phrases[i].stage;
			break;
		}
	if (norm != small)
		free(norm);
	return stage;
}

/* Fills what the record lacks from the text block [first, last). */
static int record_fill(struct mb_bounce_record *rec, const struct notice *nt, size_t first,
                       size_t last)
{
	struct mb_buf block = MB_BUF_INIT;
	bool from_block = false; /* the diagnostic is the block, whose stage was looked for */
	int rc;

	if (last > first + BLOCK_MAX_LINES)
		last = first + BLOCK_MAX_LINES;
	if ((rc = block_join(nt, first, last, &block)))
		goto out;
	if (rec->stage == MB_STAGE_UNKNOWN && block.data)
		rec->stage = stage_in_text(block.data);
	if (!rec->diagnostic && block.len) {
		rec->diagnostic = mb_buf_steal(&block);
		from_block = true;
	}
	if (!rec->diagnostic)
		goto out;
	if (!rec->reply_code)
		rec->reply_code = code_in_text(rec->diagnostic);
	if (rec->stage == MB_STAGE_UNKNOWN && !from_block)
		rec->stage = stage_in_text(rec->diagnostic);
out:
	mb_buf_free(&block);
	return rc;
}

/* The block of lines about candidate i: from its line to the next candidate's. */
static void block_of(const struct reader *r, const struct candidate *c, size_t *first, size_t *last)
{
	*first = c ? c->line : 0;
	*last = r->nt.n;
	for (size_t i = 0; c && i < r->n_cand; i++)
		if (&r->cand[i] != c && r->cand[i].at_start && !r->cand[i].self &&
		    r->cand[i].line > *first && r->cand[i].line < *last)
			*last = r->cand[i].line;
}

/* ---- Header helpers ----------------------------------------------------------------------- */

#define RECEIVED_PLAIN_MAX 2048 /* longest Received value read without GMime's decoding */

/* A header value as GMime's decoded value reads, unfolded into buf from the raw value: the
 * same text when the raw value is plain printable ASCII without an encoded word ("=?"), as
 * nearly all are, and then GMime's decoding (which allocates) is not needed. NULL otherwise,
 * or when it does not fit in size bytes. */
static const char *header_plain(GMimeHeader *h, char *buf, size_t size)
{
	const char *raw = g_mime_header_get_raw_value(h);
	size_t n = 0, kept = 0;

	if (!raw)
		return NULL;
	/* GMime's unfolding: linear white space trimmed at both ends, CR and LF dropped */
	while (*raw == ' ' || *raw == '\t' || *raw == '\r' || *raw == '\n')
		raw++;
	if (strlen(raw) >= size)
		return NULL; /* GMime's decoding gives what does not fit here */
	for (const char *p = raw; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c > ' ' && c < 0x7f && c != '=') { /* most bytes */
			buf[n++] = (char)c;
			kept = n;
		} else if (c == ' ' || c == '\t') {
			buf[n++] = (char)c;
		} else if (c == '=' && p[1] != '?') {
			buf[n++] = (char)c;
			kept = n;
		} else if (c != '\r' && c != '\n') {
			return NULL; /* an encoded word, a control or an 8-bit byte */
		}
	}
	buf[kept] = '\0';
	return buf;
}

/* The value of the first name field of m, as g_mime_object_get_header gives it. The reader
 * remembers it, or its absence, for the next lookup with the same name string, and a plain
 * value is unfolded into its arena. */
static const char *header(struct reader *r, GMimeMessage *m, const char *name)
{
	GMimeHeaderList *list;
	GMimeHeader *h;
	const char *v = NULL;

	if (!m)
		return NULL;
	for (size_t i = 0; i < r->n_headers; i++)
		if (r->headers[i].m == m && r->headers[i].name == name)
			return r->headers[i].value;
	list = g_mime_object_get_header_list(GMIME_OBJECT(m));
	if (list && (h = g_mime_header_list_get_header(list, name))) {
		if ((v = header_plain(h, r->arena + r->arena_used,
		                      sizeof r->arena - r->arena_used)))
			r->arena_used += strlen(v) + 1;
		else
			v = g_mime_header_get_value(h);
	}
	if (r->n_headers < HEADER_CACHE) {
		r->headers[r->n_headers].m = m;
		r->headers[r->n_headers].name = name;
		r->headers[r->n_headers++].value = v;
	}
	return v;
}

static int add_recipient(struct mb_bounce *b, const char *address, size_t n,
                         struct mb_bounce_record **out)
{
	struct mb_bounce_record *rec;
	*out = NULL;
	for (size_t i = 0; i < b->n_records; i++)
		if (b->records[i].recipient && address_equal(address, n, b->records[i].recipient))
			return 0;
	if (!(rec = bounce_record_add(b)))
		return b->truncated ? 0 : MB_ENOMEM;
	if (!(rec->recipient = mb_strndup(address, n)))
		return MB_ENOMEM;
	*out = rec;
	return 0;
}

/* Adds each address of a list ("a@b, c@d", "<a@b>") as a record. */
static int add_recipient_list(struct mb_bounce *b, const char *list, bool first_only)
{
	size_t len = list ? strlen(list) : 0;
	int rc = 0;
	for (size_t i = 0; i < len && !rc; i++) {
		size_t a, e;
		struct mb_bounce_record *rec;
		if (list[i] != '@' || !address_around(list, len, i, &a, &e))
			continue;
		rc = add_recipient(b, list + a, e - a, &rec);
		if (first_only)
			break;
		i = e;
	}
	return rc;
}

/* ---- ARF feedback reports (RFC 5965) ------------------------------------------------------- */

static int feedback_read(struct reader *r, struct parts *p, struct mb_bounce *b)
{
	struct mb_buf body = MB_BUF_INIT;
	char type[64] = "";
	size_t before = b->n_records;
	int rc;
	const char *s, *end;

	if ((rc = part_bytes(p->feedback, &body)) || !body.data)
		goto out;
	s = body.data;
	end = s + body.len;
	while (s < end && !rc) {
		const char *e = memchr(s, '\n', (size_t)(end - s));
		size_t n = e ? (size_t)(e - s) : (size_t)(end - s);
		char line[1024];
		if (n >= sizeof line)
			n = sizeof line - 1;
		memcpy(line, s, n);
		line[n] = '\0';
		mb_str_trim(line);
		if (mb_str_istarts(line, "Feedback-Type:")) {
			snprintf(type, sizeof type, "%.*s", (int)sizeof type - 1, line + 14);
			mb_str_trim(type);
		} else if (mb_str_istarts(line, "Original-Rcpt-To:") ||
		           mb_str_istarts(line, "Removal-Recipient:")) {
			rc = add_recipient_list(b, strchr(line, ':') + 1, false);
		}
		s = e ? e + 1 : end;
	}
	if (!rc && b->n_records == before && p->returned)
		rc = add_recipient_list(b, header(r, p->returned, "To"), false);
	if (!rc && b->n_records == before && p->returned_headers) {
		struct mb_buf h = MB_BUF_INIT;
		const char *to;
		if (!(rc = part_bytes(p->returned_headers, &h)) && h.data &&
		    (to = mb_str_icontains(h.data, h.len, "\nTo:")))
			rc = add_recipient_list(b, to + 4, false);
		mb_buf_free(&h);
	}
	for (size_t i = before; i < b->n_records && !rc; i++)
		if (*type && !(b->records[i].feedback_type = mb_strdup(type)))
			rc = MB_ENOMEM;
	b->kind = MB_BOUNCE_FEEDBACK;
out:
	mb_buf_free(&body);
	return rc;
}

/* ---- Auto-replies (RFC 3834) ------------------------------------------------------------- */

static bool is_autoreply(struct reader *r, GMimeMessage *m)
{
	static const char *const subjects[] = {
	    "auto:",         "automatic reply",   "autoreply", "auto-reply", "auto reply",
	    "out of office", "out of the office", "vacation",  "away from"};
	const char *v = header(r, m, "Auto-Submitted");
	const char *subject = header(r, m, "Subject");

	while (v && isspace((unsigned char)*v))
		v++;
	if (v && strncasecmp(v, "auto-replied", 12) == 0)
		return true;
	if (header(r, m, "X-Autoreply") || header(r, m, "X-Autorespond") ||
	    ((v = header(r, m, "Precedence")) && mb_str_icontains(v, strlen(v), "auto_reply")))
		return true;
	for (size_t i = 0; subject && i < sizeof subjects / sizeof subjects[0]; i++)
		if (mb_str_istarts(subject, subjects[i]))
			return true;
	return false;
}

/* ---- A bounce at all? ----------------------------------------------------------------------- */

static bool looks_like_bounce(GMimeMessage *m, struct reader *r)
{
	static const char *const senders[] = {
	    "mailer-daemon", "postmaster", "mail delivery", "mail administrator",
	    "mailer daemon", "<>",         "bounce",        "mdaemon",
	    "notification"};
	static const char *const subjects[] = {
	    "undeliver", "delivery",         "failure",  "failed",    "returned",
	    "bounce",    "not delivered",    "rejected", "error",     "unable to deliver",
	    "non remis", "nicht zustellbar", "warning",  "could not", "problem"};
	const char *from = header(r, m, "From");
	const char *subject = r->subject;

	/* the wording of notices whose sender and subject say nothing ("Re: ...") */
	static const char *const texts[] = {
	    "error message below",           "could not be delivered to", "was not delivered to",
	    "following recipients returned", "wasn't able to deliver",    "could not deliver"};

	if (header(r, m, "X-Failed-Recipients"))
		return true;
	for (size_t i = 0; r->nt.text.data && i < sizeof texts / sizeof texts[0]; i++)
		if (notice_has(r, texts[i]))
			return true;
	for (size_t i = 0; from && i < sizeof senders / sizeof senders[0]; i++)
		if (mb_str_icontains(from, strlen(from), senders[i]))
			return true;
	/* Words like "failed" or "bounce" in the subject of ordinary mail are common: the
	 * subject counts only for a message that an automaton sent (null envelope sender, or an
	 * Auto-Submitted field other than "no"). */
	const char *rp = header(r, m, "Return-Path"), *auto_sub = header(r, m, "Auto-Submitted");
	bool automated =
	    (rp && strstr(rp, "<>")) ||
	    (auto_sub && strncasecmp(auto_sub + strspn(auto_sub, " \t"), "no", 2) != 0);
	for (size_t i = 0; automated && subject && i < sizeof subjects / sizeof subjects[0]; i++)
		if (mb_str_icontains(subject, strlen(subject), subjects[i]))
			return true;
	return false;
}

static void provider_find(GMimeMessage *m, struct reader *r, struct mb_bounce *b)
{
	const char *from = header(r, m, "From"), *v;
	for (size_t i = 0; i < sizeof provider_markers / sizeof provider_markers[0]; i++) {
		const char *where = provider_markers[i].where, *marker = provider_markers[i].marker;
		bool hit = false;
		if (strcmp(where, "from") == 0)
			hit = from && mb_str_icontains(from, strlen(from), marker);
		else if (strcmp(where, "subject") == 0)
			hit =
			    r->subject && mb_str_icontains(r->subject, strlen(r->subject), marker);
		else if (strncmp(where, "header:", 7) == 0)
			hit = (v = header(r, m, where + 7)) != NULL &&
			      (!*marker || mb_str_icontains(v, strlen(v), marker));
		else
			hit = notice_has(r, marker);
		if (hit) {
			b->provider = provider_markers[i].provider;
			return;
		}
	}
}

/* ---- The notification as a whole --------------------------------------------------------- */

/* The raw body after the message header, for a MIME structure that hides the text (a
 * multipart whose boundary parameter was not folded into its Content-Type). */
static int raw_body(const char *data, size_t len, struct mb_buf *out)
{
	for (size_t i = 0; i + 1 < len; i++) {
		size_t skip = data[i] == '\n' && data[i + 1] == '\n'                ? 2
		              : i + 3 < len && memcmp(data + i, "\r\n\r\n", 4) == 0 ? 4
		                                                                    : 0;
		if (skip) {
			size_t n = len - i - skip;
			return mb_buf_append(out, data + i + skip,
			                     n > NOTICE_MAX_BYTES ? NOTICE_MAX_BYTES : n);
		}
	}
	return 0;
}

static int notice_load(struct parts *p, GMimeMessage *m, const char *data, size_t len,
                       struct notice *nt)
{
	GMimeObject *body = g_mime_message_get_mime_part(m);
	int rc = 0;

	nt->text.cap = NOTICE_MAX_BYTES + 1024;
	if (p->plain)
		rc = part_text(p->plain, NOTICE_MAX_BYTES, &nt->text);
	if (!rc && nt->text.len < 16 && p->html) {
		struct mb_buf html = MB_BUF_INIT;
		mb_buf_reset(&nt->text);
		if (!(rc = part_text(p->html, NOTICE_MAX_BYTES, &html)) && html.data)
			rc = html_to_text(html.data, html.len, &nt->text);
		mb_buf_free(&html);
	}
	if (!rc && !nt->text.len && body && GMIME_IS_PART(body) && !p->feedback)
		rc = part_text(body, NOTICE_MAX_BYTES, &nt->text);
	if (!rc && !nt->text.len && body && GMIME_IS_MULTIPART(body) && !p->feedback &&
	    !p->returned && !p->returned_headers)
		rc = raw_body(data, len, &nt->text);
	if (!rc)
		rc = mb_buf_terminate(&nt->text);
	return rc ? rc : notice_lines(nt);
}

/* An event notification in JSON (Amazon SES): read from the notice text, or, when the text
 * was cut at NOTICE_MAX_BYTES, from the whole part it came from (an event naming thousands of
 * recipients is larger). Returns 0 or MB_ENOMEM. */
static int json_read(struct parts *p, GMimeMessage *m, const struct notice *nt, struct mb_bounce *b)
{
	GMimeObject *body = g_mime_message_get_mime_part(m);
	GMimeObject *from = p->plain ? p->plain : body && GMIME_IS_PART(body) ? body : NULL;
	struct mb_buf whole = MB_BUF_INIT;
	size_t i = 0;
	int rc;

	while (i < nt->text.len && isspace((unsigned char)nt->text.data[i]))
		i++;
	if (i == nt->text.len || nt->text.data[i] != '{')
		return 0;
	if (nt->text.len < NOTICE_MAX_BYTES || !from)
		return bounce_read_json(nt->text.data, nt->text.len, b);
	if (!(rc = part_text(from, MB_MAX_MESSAGE_BYTES, &whole)) && whole.data)
		rc = bounce_read_json(whole.data, whole.len, b);
	mb_buf_free(&whole);
	return rc;
}

/* Records for the recipients a text notification names. */
static int ndr_read(struct reader *r, struct parts *p, GMimeMessage *m, struct mb_bounce *b)
{
	const char *failed = header(r, m, "X-Failed-Recipients");
	int rc = 0;

	if (failed)
		rc = add_recipient_list(b, failed, false);
	for (int pass = 0; pass < 2 && !rc && !b->n_records; pass++) {
		/* first the addresses that are not the bounce's own, then (a message sent to
		 * oneself) those listed at the start of a line */
		bool want_self = pass == 1, any_start = false;
		for (size_t i = 0; i < r->n_cand; i++)
			any_start |= r->cand[i].at_start && r->cand[i].self == want_self;
		for (size_t i = 0; i < r->n_cand && !rc; i++) {
			struct mb_bounce_record *rec;
			if (r->cand[i].self != want_self || (any_start && !r->cand[i].at_start) ||
			    (want_self && !r->cand[i].at_start))
				continue;
			rc = add_recipient(b, r->cand[i].address, strlen(r->cand[i].address), &rec);
		}
	}
	if (!rc && b->n_records && r->cand_full)
		b->truncated = true; /* the notice named more addresses than were looked at */
	if (!rc && !b->n_records && p->returned)
		rc = add_recipient_list(b, header(r, p->returned, "To"), true);
	if (!rc && !b->n_records && r->nt.n) {
		/* a failure notice naming nobody: one record without recipient */
		if (!bounce_record_add(b))
			rc = MB_ENOMEM;
	}
	if (b->n_records)
		b->kind = MB_BOUNCE_NDR;
	return rc;
}

/* Fills each record's missing text from the notification. */
/* A whole mailbox address (not "@relay:user@host" or "@domain"). */
static bool mailbox_complete(const char *a)
{
	const char *at = a ? strrchr(a, '@') : NULL;
	return at && at != a && a[0] != '@' && at[1] && strchr(at, '.') && !strchr(a, ':');
}

/* A report whose recipient field holds no whole address, with one address the notice lists:
 * that one. */
static int recipient_repair(const struct reader *r, struct mb_bounce *b,
                            struct mb_bounce_record *rec)
{
	const struct candidate *only = NULL;
	char *copy;
	if (b->n_records != 1 || !rec->recipient || mailbox_complete(rec->recipient))
		return 0;
	for (size_t i = 0; i < r->n_cand; i++) {
		if (!r->cand[i].at_start || r->cand[i].self)
			continue;
		if (only && !mb_str_ieq(only->address, r->cand[i].address))
			return 0;
		only = &r->cand[i];
	}
	if (!only)
		return 0;
	if (!(copy = mb_strdup(only->address)))
		return MB_ENOMEM;
	free(rec->recipient);
	rec->recipient = copy;
	return 0;
}

/* A Sendmail transcript's result line for a recipient: "554 <user@example.org>... text". */
static bool transcript_result(const struct line *l)
{
	const char *close;
	if (l->len < 8 || !isdigit((unsigned char)l->s[0]) || !isdigit((unsigned char)l->s[1]) ||
	    !isdigit((unsigned char)l->s[2]) || l->s[3] != ' ' || l->s[4] != '<')
		return false;
	close = memchr(l->s + 5, '>', l->len - 5);
	return close && memchr(l->s + 5, '@', (size_t)(close - l->s - 5)) &&
	       (size_t)(close - l->s) + 4 <= l->len && strncmp(close + 1, "...", 3) == 0;
}

/* In a Sendmail transcript the session about a recipient comes before its result line: the
 * block runs from the previous result line to this one. False when c is not on one. */
static bool transcript_block(const struct reader *r, const struct candidate *c, size_t *first,
                             size_t *last)
{
	if (!c || c->line >= r->nt.n || !transcript_result(&r->nt.lines[c->line]))
		return false;
	*last = c->line + 1;
	*first = c->line;
	while (*first > 0 && !transcript_result(&r->nt.lines[*first - 1]))
		(*first)--;
	return true;
}

static int records_fill(struct reader *r, struct mb_bounce *b)
{
	int rc = 0;
	for (size_t i = 0; i < b->n_records && !rc; i++) {
		struct mb_bounce_record *rec = &b->records[i];
		const struct candidate *c;
		size_t first, last;
		if ((rc = recipient_repair(r, b, rec)))
			break;
		c = candidate_of(r, rec->recipient);
		if (!c && b->n_records > 1 && rec->diagnostic)
			continue;
		if (b->kind == MB_BOUNCE_NDR && b->n_records > 1 &&
		    transcript_block(r, c, &first, &last)) {
			rc = record_fill(rec, &r->nt, first, last);
			continue;
		}
		block_of(r, c, &first, &last);
		if (c && !c->at_start && b->kind != MB_BOUNCE_DSN)
			first = first > 2 ? first - 2 : 0; /* "... to\n  <address>:" */
		rc = record_fill(rec, &r->nt, first, last);
		/* one recipient, and its block quotes no reply: the reply may stand before the
		 * address ("Could not be delivered because of 550 5.1.1 ... recipients: a@b") */
		if (!rc && b->kind == MB_BOUNCE_NDR && b->n_records == 1 && first > 0 &&
		    !rec->status && !rec->reply_code) {
			free(rec->diagnostic);
			rec->diagnostic = NULL;
			rec->stage = MB_STAGE_UNKNOWN;
			rc = record_fill(rec, &r->nt, 0, r->nt.n);
		}
	}
	return rc;
}

/* The hosts of the bounce's own Received fields ("from HOST", "by HOST"), top first. */
static void received_hosts(GMimeMessage *m, struct bounce_context *ctx)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(GMIME_OBJECT(m));
	int n = list ? g_mime_header_list_get_count(list) : 0;
	char plain[RECEIVED_PLAIN_MAX];

	for (int i = 0; i < n && ctx->n_received < BOUNCE_HOSTS_MAX; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
		const char *name = h ? g_mime_header_get_name(h) : NULL, *v;
		static const char *const words[] = {"from ", "by "};
		/* only the Received values are read; most need no decoding by GMime */
		if (!name || !mb_str_ieq(name, "Received"))
			continue;
		if (!(v = header_plain(h, plain, sizeof plain)) &&
		    !(v = g_mime_header_get_value(h)))
			continue;
		for (size_t k = 0; k < 2 && ctx->n_received < BOUNCE_HOSTS_MAX; k++) {
			const char *w =
			    mb_str_icontains(v, strnlen(v, MB_MAX_LINE_BYTES), words[k]);
			char *out = ctx->received[ctx->n_received];
			if (!w)
				continue;
			bounce_host_copy(w + strlen(words[k]), out, BOUNCE_HOST_MAX + 1);
			if (strchr(out, '.'))
				ctx->n_received++;
		}
	}
}

int bounce_read_text(GMimeMessage *m, const char *data, size_t len, struct mb_bounce *b,
                     struct bounce_context *ctx)
{
	struct reader *r;
	struct parts p = {0};
	const char *type;
	int rc = 0;

	if (!m)
		return 0;
	if (!(r = reader_new()))
		return MB_ENOMEM;
	r->subject = header(r, m, "Subject");
	received_hosts(m, ctx);
	parts_walk(&p, g_mime_message_get_mime_part(m), 0);
	if ((rc = notice_load(&p, m, data, len, &r->nt)))
		goto out;
	notice_lower(r);
	{
		char a[ADDRESS_MAX + 1];
		header_address(header(r, m, "From"), a, sizeof a);
		exclude(r, a);
		strcpy(r->from, a);
		header_address(header(r, m, "To"), a, sizeof a);
		add_self(r, a);
		header_address(header(r, m, "Return-Path"), a, sizeof a);
		add_self(r, a);
		if (p.returned) {
			header_address(header(r, p.returned, "From"), a, sizeof a);
			exclude(r, a);
		}
	}
	if ((rc = candidates_find(r)))
		goto out;
	provider_find(m, r, b);
	if (p.feedback || (b->kind == MB_BOUNCE_NONE && (type = header(r, m, "Content-Type")) &&
	                   mb_str_icontains(type, strlen(type), "feedback-report"))) {
		if (p.feedback)
			rc = feedback_read(r, &p, b);
		goto out;
	}
	if (b->kind == MB_BOUNCE_NONE && r->nt.text.data &&
	    ((rc = json_read(&p, m, &r->nt, b)) || b->n_records))
		goto out;
	if (b->kind == MB_BOUNCE_NONE && is_autoreply(r, m) && !looks_like_bounce(m, r)) {
		struct mb_bounce_record *rec;
		if (*r->from && !(rc = add_recipient(b, r->from, strlen(r->from), &rec)) && rec)
			b->kind = MB_BOUNCE_AUTOREPLY;
		goto out;
	}
	if (b->kind == MB_BOUNCE_NONE) {
		if (!looks_like_bounce(m, r))
			goto out;
		if ((rc = ndr_read(r, &p, m, b)))
			goto out;
	}
	rc = records_fill(r, b);
	if (!rc && !b->original_message_id && p.returned) {
		const char *id = header(r, p.returned, "Message-ID");
		if (id && !(b->original_message_id = mb_strdup(id)))
			rc = MB_ENOMEM;
	}
out:
	notice_free(&r->nt);
	free(r->lower);
	free(r->cand);
	free(r);
	return rc;
}
