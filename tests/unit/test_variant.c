/* Unit tests of message loading and the variant builder: every variant of every example and
 * fixture message is built, parsed again with GMime, and checked for what it must keep
 * (headers, structure, charsets, encodings, attachment bytes, anchor text) and remove. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#include "mailbisect/buf.h"
#include "mailbisect/clock.h"
#include "mailbisect/err.h"
#include "mailbisect/file.h"
#include "mailbisect/variant.h"

#define FIXTURE(name) MB_SOURCE_DIR "/tests/fixtures/messages/" name
#define EXAMPLE(name) MB_SOURCE_DIR "/examples/" name

static const char new_id[] = "<variant-test-1@mailbisect.example>";
static const time_t fixed_date = 1764700000;

/* Every message the variant checks run on. */
static const char *const all_messages[] = {
    EXAMPLE("newsletter.eml"),     EXAMPLE("html-only.eml"), EXAMPLE("invoice-pdf.eml"),
    FIXTURE("related-tricks.eml"), FIXTURE("forwarded.eml"), FIXTURE("japanese.eml"),
    FIXTURE("crlf.eml"),
};
#define N_MESSAGES (sizeof all_messages / sizeof all_messages[0])

/* ---- helpers ---- */

static struct mb_message *load_ok(const char *path)
{
	struct mb_message *msg = NULL;
	struct mb_err err = MB_ERR_INIT;
	int rc = mb_message_load(&msg, path, &err);
	if (rc != 0)
		fail_msg("load %s: got rc %d (%s), want 0", path, rc, err.message);
	return msg;
}

static void build_ok(const struct mb_message *msg, enum mb_variant v, struct mb_buf *out)
{
	struct mb_variant_opts opts = {new_id, fixed_date, NULL};
	struct mb_err err = MB_ERR_INIT;
	int rc = mb_variant_build(msg, v, &opts, out, &err);
	if (rc != 0)
		fail_msg("build %s of %s: got rc %d (%s), want 0", mb_variant_name(v),
		         mb_message_name(msg), rc, err.message);
}

static GMimeMessage *gmime_parse(const char *data, size_t len)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *m = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	assert_non_null(m);
	return m;
}

static GMimeMessage *gmime_load(const char *path)
{
	struct mb_buf buf = MB_BUF_INIT;
	struct mb_err err = MB_ERR_INIT;
	GMimeMessage *m;
	assert_int_equal(mb_file_read(path, 1u << 26, &buf, &err), 0);
	m = gmime_parse(buf.data, buf.len);
	mb_buf_free(&buf);
	return m;
}

static void stream_bytes(GMimeStream *src, struct mb_buf *out)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GByteArray *bytes;
	g_mime_stream_reset(src);
	g_mime_stream_write_to_stream(src, mem);
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	mb_buf_append(out, bytes->data, bytes->len);
	mb_buf_terminate(out);
	g_object_unref(mem);
}

/* Content with the transfer encoding undone. */
static void decoded_bytes(GMimePart *part, struct mb_buf *out)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GByteArray *bytes;
	g_mime_data_wrapper_write_to_stream(g_mime_part_get_content(part), mem);
	bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	mb_buf_append(out, bytes->data, bytes->len);
	mb_buf_terminate(out);
	g_object_unref(mem);
}

/* Content still encoded, as it stands in the message. */
static void raw_bytes(GMimePart *part, struct mb_buf *out)
{
	stream_bytes(g_mime_data_wrapper_get_stream(g_mime_part_get_content(part)), out);
}

/* Decoded text converted from the part's charset to UTF-8. */
static void text_utf8(GMimePart *part, struct mb_buf *out)
{
	struct mb_buf raw = MB_BUF_INIT;
	const char *charset =
	    g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
	gsize written = 0;
	gchar *utf8;

	decoded_bytes(part, &raw);
	if (!charset)
		charset = "us-ascii";
	utf8 = g_convert(raw.data, (gssize)raw.len, "UTF-8", g_mime_charset_iconv_name(charset),
	                 NULL, &written, NULL);
	if (!utf8)
		fail_msg("part in %s does not convert to UTF-8", charset);
	/* CRLF is the canonical form on the wire; compare texts with LF */
	for (gsize i = 0; i < written; i++)
		if (utf8[i] != '\r' || i + 1 >= written || utf8[i + 1] != '\n')
			mb_buf_putc(out, utf8[i]);
	mb_buf_terminate(out);
	g_free(utf8);
	mb_buf_free(&raw);
}

static bool is_inline_text(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	return GMIME_IS_PART(obj) && !g_mime_part_is_attachment(GMIME_PART(obj)) &&
	       g_mime_content_type_is_type(ct, "text", "*");
}

typedef void (*part_fn)(GMimeObject *obj, void *ctx);

/* Every leaf, attached messages included, in document order. */
static void each_leaf(GMimeObject *obj, part_fn fn, void *ctx)
{
	if (GMIME_IS_MULTIPART(obj)) {
		for (int i = 0; i < g_mime_multipart_get_count(GMIME_MULTIPART(obj)); i++)
			each_leaf(g_mime_multipart_get_part(GMIME_MULTIPART(obj), i), fn, ctx);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (inner && g_mime_message_get_mime_part(inner))
			each_leaf(g_mime_message_get_mime_part(inner), fn, ctx);
	} else {
		fn(obj, ctx);
	}
}

static void append_inline_text(GMimeObject *obj, void *ctx)
{
	if (is_inline_text(obj)) {
		text_utf8(GMIME_PART(obj), ctx);
		mb_buf_puts(ctx, "\n");
	}
}

/* All inline text of a message (attached messages included), as UTF-8. */
static void all_text(GMimeMessage *m, struct mb_buf *out)
{
	each_leaf(g_mime_message_get_mime_part(m), append_inline_text, out);
}

/* "multipart/mixed(text/plain,message/rfc822{multipart/alternative(...)})" */
static void structure(GMimeObject *obj, struct mb_buf *out)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	mb_buf_printf(out, "%s/%s", g_mime_content_type_get_media_type(ct),
	              g_mime_content_type_get_media_subtype(ct));
	if (GMIME_IS_MULTIPART(obj)) {
		mb_buf_putc(out, '(');
		for (int i = 0; i < g_mime_multipart_get_count(GMIME_MULTIPART(obj)); i++) {
			if (i)
				mb_buf_putc(out, ',');
			structure(g_mime_multipart_get_part(GMIME_MULTIPART(obj), i), out);
		}
		mb_buf_putc(out, ')');
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		mb_buf_putc(out, '{');
		if (inner && g_mime_message_get_mime_part(inner))
			structure(g_mime_message_get_mime_part(inner), out);
		mb_buf_putc(out, '}');
	}
}

static char *structure_of(GMimeMessage *m)
{
	struct mb_buf out = MB_BUF_INIT;
	structure(g_mime_message_get_mime_part(m), &out);
	return mb_buf_steal(&out);
}

/* A URL that links somewhere. The XHTML namespace and DTD names are not links. */
static const char *find_link_url(const char *text)
{
	static const char *const starts[] = {"http://", "https://", "www.", "http%3a", "https%3a"};
	for (const char *p = text; *p; p++)
		for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++)
			if (strncasecmp(p, starts[k], strlen(starts[k])) == 0 &&
			    strncmp(p, "http://www.w3.org/", 18) != 0 &&
			    (k != 2 ||
			     strncmp(p - 7 >= text ? p - 7 : text, "http://www.w3.org/", 18) != 0))
				return p;
	return NULL;
}

static void assert_crlf_only(const struct mb_buf *out, const char *what)
{
	for (size_t i = 0; i < out->len; i++)
		if (out->data[i] == '\n' && (i == 0 || out->data[i - 1] != '\r'))
			fail_msg("%s: bare LF at byte %zu, want CRLF everywhere", what, i);
	if (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2) != 0)
		fail_msg("%s: does not end with CRLF", what);
}

/* The original's bytes as the builder must write them: LF made CRLF. */
static void to_crlf(const char *data, size_t len, struct mb_buf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			mb_buf_putc(out, '\r');
		mb_buf_putc(out, data[i]);
	}
	mb_buf_terminate(out);
}

static const char *body_of(const char *data)
{
	const char *crlf = strstr(data, "\r\n\r\n"), *lf = strstr(data, "\n\n");
	if (crlf && (!lf || crlf < lf))
		return crlf + 4;
	return lf ? lf + 2 : data + strlen(data);
}

static char *join_strv(char **v)
{
	struct mb_buf out = MB_BUF_INIT;
	for (size_t i = 0; v && v[i]; i++)
		mb_buf_printf(&out, "%s%s", i ? "," : "", v[i]);
	mb_buf_terminate(&out);
	return mb_buf_steal(&out);
}

/* ---- names, loading, accessors ---- */

static void test_variant_names(void **state)
{
	static const struct {
		enum mb_variant v;
		const char *name;
		bool alternate;
	} cases[] = {
	    {MB_VARIANT_ORIGINAL, "original", false},
	    {MB_VARIANT_PLAIN_TEXT, "plain-text", false},
	    {MB_VARIANT_LINKS_STRIPPED, "links-stripped", false},
	    {MB_VARIANT_ALTERNATE_POOL, "alternate-pool", true},
	    {MB_VARIANT_NO_ATTACHMENTS, "no-attachments", false},
	    {MB_VARIANT_BARE, "bare", false},
	};
	enum mb_variant v;
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (strcmp(mb_variant_name(cases[i].v), cases[i].name) != 0)
			fail_msg("name of %d: got %s, want %s", cases[i].v,
			         mb_variant_name(cases[i].v), cases[i].name);
		if (mb_variant_from_name(cases[i].name, &v) != 0 || v != cases[i].v)
			fail_msg("from_name(%s): got %d, want %d", cases[i].name, v, cases[i].v);
		if (mb_variant_uses_alternate_pool(cases[i].v) != cases[i].alternate)
			fail_msg("%s uses alternate pool: got %d, want %d", cases[i].name,
			         !cases[i].alternate, cases[i].alternate);
	}
	assert_int_equal(mb_variant_from_name("links_stripped", &v), -1);
	assert_int_equal(mb_variant_from_name(NULL, &v), -1);
}

static void test_load_refuses_bad_files(void **state)
{
	static const struct {
		const char *path;
		int code;
		const char *fragment;
	} cases[] = {
	    {FIXTURE("empty.eml"), MB_EDATA, "not a MIME message: the file is empty"},
	    {FIXTURE("garbage.bin"), MB_EDATA, "not a MIME message"},
	    {FIXTURE("no-headers.eml"), MB_EDATA, "not a MIME message"},
	    {FIXTURE("not-a-message.eml"), MB_EDATA, "not a MIME message: no From"},
	    {FIXTURE("missing.eml"), MB_ENOINPUT, "missing.eml"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_message *msg = (struct mb_message *)&msg;
		struct mb_err err = MB_ERR_INIT;
		int rc = mb_message_load(&msg, cases[i].path, &err);
		if (rc != cases[i].code || !strstr(err.message, cases[i].fragment) ||
		    !strstr(err.message, strrchr(cases[i].path, '/') + 1) || msg != NULL)
			fail_msg(
			    "load %s: got rc %d \"%s\", want rc %d with \"%s\" and the file name",
			    cases[i].path, rc, err.message, cases[i].code, cases[i].fragment);
	}
}

static void nested_multiparts(struct mb_buf *b, int depth)
{
	mb_buf_puts(b, "From: a@x.example\nSubject: deep\nMIME-Version: 1.0\n");
	for (int i = 0; i < depth; i++)
		mb_buf_printf(b, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i,
		              i);
	mb_buf_puts(b, "Content-Type: text/plain\n\ninnermost\n");
	for (int i = depth - 1; i >= 0; i--)
		mb_buf_printf(b, "--b%d--\n", i);
}

static void many_parts(struct mb_buf *b, int parts)
{
	mb_buf_puts(b, "From: a@x.example\nSubject: wide\nMIME-Version: 1.0\n"
	               "Content-Type: multipart/mixed; boundary=\"w\"\n\n");
	for (int i = 0; i < parts; i++)
		mb_buf_puts(b,
		            "--w\nContent-Type: multipart/alternative; boundary=\"v\"\n\n--v--\n");
	mb_buf_puts(b, "--w--\n");
}

static void test_parse_refuses_hostile_bytes(void **state)
{
	enum { HUGE_LINE, DEEP, WIDE, MANY_FIELDS, NUL_IN_HEADER, CONTINUATION_FIRST };
	static const struct {
		int kind;
		const char *fragment;
	} cases[] = {
	    {HUGE_LINE, "header line 2 longer than"},
	    {DEEP, "nested deeper than"},
	    {WIDE, "more than 1000 MIME parts"},
	    {MANY_FIELDS, "more than 2000 header fields"},
	    {NUL_IN_HEADER, "NUL byte in header line 1"},
	    {CONTINUATION_FIRST, "continuation line"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_buf b = MB_BUF_INIT;
		struct mb_message *msg = NULL;
		struct mb_err err = MB_ERR_INIT;
		int rc;
		switch (cases[i].kind) {
		case HUGE_LINE:
			mb_buf_puts(&b, "From: a@x.example\nSubject: ");
			for (int k = 0; k < 70000; k++)
				mb_buf_putc(&b, 'a');
			mb_buf_puts(&b, "\n\nbody\n");
			break;
		case DEEP:
			nested_multiparts(&b, 40);
			break;
		case WIDE:
			many_parts(&b, 1100);
			break;
		case MANY_FIELDS:
			mb_buf_puts(&b, "From: a@x.example\n");
			for (int k = 0; k < 2100; k++)
				mb_buf_printf(&b, "Comments: %d\n", k);
			mb_buf_puts(&b, "\nbody\n");
			break;
		case NUL_IN_HEADER:
			mb_buf_append(&b, "From: a\0@x.example\n\nbody\n", 25);
			break;
		default:
			mb_buf_puts(&b, " folded: first\nFrom: a@x.example\n\nbody\n");
			break;
		}
		rc = mb_message_parse(&msg, b.data, b.len, "hostile.eml", &err);
		if (rc != MB_EDATA || !strstr(err.message, cases[i].fragment) ||
		    strncmp(err.message, "hostile.eml: ", 13) != 0)
			fail_msg("hostile case %zu: got rc %d \"%s\", want MB_EDATA "
			         "\"hostile.eml: ...%s...\"",
			         i, rc, err.message, cases[i].fragment);
		mb_message_free(msg);
		mb_buf_free(&b);
	}
}

static void test_parse_accepts_nesting_within_limits(void **state)
{
	struct mb_buf b = MB_BUF_INIT, out = MB_BUF_INIT;
	struct mb_message *msg = NULL;
	struct mb_err err = MB_ERR_INIT;
	(void)state;
	nested_multiparts(&b, 20);
	assert_int_equal(mb_message_parse(&msg, b.data, b.len, "deep.eml", &err), 0);
	build_ok(msg, MB_VARIANT_PLAIN_TEXT, &out);
	if (!strstr(out.data, "\r\n\r\ninnermost\r\n"))
		fail_msg("plain-text of 20 nested multiparts: got \"%s\", want the innermost text",
		         out.data);
	mb_message_free(msg);
	mb_buf_free(&b);
	mb_buf_free(&out);
}

static void test_parse_skips_mbox_separator(void **state)
{
	static const char mbox[] = "From news@sender.example Tue Dec  2 09:14:00 2025\n"
	                           "From: news@sender.example\nSubject: from mbox\n\nbody\n";
	struct mb_message *msg = NULL;
	struct mb_err err = MB_ERR_INIT;
	size_t len;
	(void)state;
	assert_int_equal(mb_message_parse(&msg, mbox, strlen(mbox), "mbox", &err), 0);
	assert_string_equal(mb_message_subject(msg), "from mbox");
	assert_true(strncmp(mb_message_data(msg, &len), "From: ", 6) == 0);
	mb_message_free(msg);
}

static void test_accessors(void **state)
{
	static const struct {
		const char *path;
		const char *subject, *from, *to;
		bool html, attachments;
	} cases[] = {
	    {EXAMPLE("newsletter.eml"), "Winter sale: up to 40% off \xe2\x9d\x84",
	     "news@sender.example", "alice@victim.example", true, false},
	    {EXAMPLE("html-only.eml"),
	     "Votre r\xc3\xa9servation est confirm\xc3\xa9"
	     "e",
	     "reservations@sender.example", "alice@victim.example", true, false},
	    {EXAMPLE("invoice-pdf.eml"), "Your invoice 1042", "billing@sender.example",
	     "alice@victim.example", false, true},
	    {FIXTURE("related-tricks.eml"), "Spring collection", "shop@sender.example",
	     "alice@victim.example, bob@victim.example", true, false},
	    {FIXTURE("forwarded.eml"), "Fwd: Spring preview", "desk@sender.example",
	     "alice@victim.example", false, true},
	    {FIXTURE("japanese.eml"),
	     "\xe3\x82\xbb\xe3\x83\xbc\xe3\x83\xab\xe9\x96\x8b\xe5\xa7\x8b\xe3\x81\xae"
	     "\xe3\x81\x8a\xe7\x9f\xa5\xe3\x82\x89\xe3\x81\x9b",
	     "news@sender.example", "yamada@victim.example", true, false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_message *msg = load_ok(cases[i].path);
		const char *got[3] = {mb_message_subject(msg), mb_message_from(msg),
		                      mb_message_to(msg)};
		const char *want[3] = {cases[i].subject, cases[i].from, cases[i].to};
		for (int k = 0; k < 3; k++)
			if (!got[k] || strcmp(got[k], want[k]) != 0)
				fail_msg("%s field %d: got \"%s\", want \"%s\"", cases[i].path, k,
				         got[k] ? got[k] : "(null)", want[k]);
		if (mb_message_has_html(msg) != cases[i].html ||
		    mb_message_has_attachments(msg) != cases[i].attachments)
			fail_msg("%s: got html %d attachments %d, want %d %d", cases[i].path,
			         mb_message_has_html(msg), mb_message_has_attachments(msg),
			         cases[i].html, cases[i].attachments);
		mb_message_free(msg);
	}
}

static void test_link_domains(void **state)
{
	static const struct {
		const char *path;
		const char *want;
	} cases[] = {
	    {EXAMPLE("newsletter.eml"), "cdn.sender.example,click.tracker.example,"
	                                "open.tracker.example,www.sender.example"},
	    {EXAMPLE("html-only.eml"), "click.tracker.example,www.sender.example"},
	    {EXAMPLE("invoice-pdf.eml"), "billing.sender.example"},
	    {FIXTURE("related-tricks.eml"),
	     "cdn.sender.example,click.tracker.example,fonts.fontsite.example,"
	     "img.sender.example,maps.sender.example,open.tracker.example,shop.sender.example,"
	     "survey.sender.example,www.other-sender.example,www.sender.example"},
	    {FIXTURE("forwarded.eml"), "click.tracker.example,open.tracker.example,"
	                               "spring.sender.example,www.sender.example"},
	    {FIXTURE("japanese.eml"), "click.tracker.example,www.sender.example"},
	    {FIXTURE("crlf.eml"), "click.tracker.example,www.sender.example"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_message *msg = load_ok(cases[i].path);
		struct mb_err err = MB_ERR_INIT;
		char **domains = NULL, *got;
		assert_int_equal(mb_message_link_domains(msg, &domains, &err), 0);
		got = join_strv(domains);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("link domains of %s:\n got  %s\n want %s", cases[i].path, got,
			         cases[i].want);
		free(got);
		mb_strv_free(domains);
		mb_message_free(msg);
	}
}

static void test_variant_link_domains(void **state)
{
	static const struct {
		const char *path;
		enum mb_variant v;
		const char *want;
	} cases[] = {
	    {EXAMPLE("newsletter.eml"), MB_VARIANT_ORIGINAL,
	     "cdn.sender.example,click.tracker.example,open.tracker.example,www.sender.example"},
	    {EXAMPLE("newsletter.eml"), MB_VARIANT_LINKS_STRIPPED, ""},
	    {EXAMPLE("newsletter.eml"), MB_VARIANT_PLAIN_TEXT,
	     "click.tracker.example,www.sender.example"},
	    {EXAMPLE("newsletter.eml"), MB_VARIANT_BARE, ""},
	    {EXAMPLE("html-only.eml"), MB_VARIANT_PLAIN_TEXT,
	     "click.tracker.example,www.sender.example"},
	    {EXAMPLE("html-only.eml"), MB_VARIANT_BARE, ""},
	    {FIXTURE("related-tricks.eml"), MB_VARIANT_LINKS_STRIPPED, ""},
	    {FIXTURE("forwarded.eml"), MB_VARIANT_NO_ATTACHMENTS, "www.sender.example"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_message *msg = load_ok(cases[i].path);
		struct mb_err err = MB_ERR_INIT;
		char **domains = NULL, *got;
		int rc = mb_variant_link_domains(msg, cases[i].v, &domains, &err);
		if (rc != 0)
			fail_msg("variant link domains: got rc %d (%s)", rc, err.message);
		got = join_strv(domains);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("link domains of %s of %s: got \"%s\", want \"%s\"",
			         mb_variant_name(cases[i].v), cases[i].path, got, cases[i].want);
		free(got);
		mb_strv_free(domains);
		mb_message_free(msg);
	}
}

/* ---- what every variant of every message must do ---- */

/* Header fields a resend keeps as the author wrote them (when the original has them). */
static const char *const kept_fields[] = {
    "From",
    "To",
    "Cc",
    "Subject",
    "Reply-To",
    "MIME-Version",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "X-Mailer",
    "X-Priority",
};
/* Trace fields of the first delivery, all present in some example or fixture. */
static const char *const trace_fields[] = {
    "Received",
    "DKIM-Signature",
    "Authentication-Results",
    "Return-Path",
    "Delivered-To",
    "X-Original-To",
    "Received-SPF",
    "ARC-Seal",
    "ARC-Message-Signature",
    "ARC-Authentication-Results",
    "X-Spam-Status",
    "X-Spam-Score",
    "X-Virus-Scanned",
    "X-ESP-Campaign",
    "X-Spam-Flag",
    "X-Forefront-Antispam-Report",
    "X-MS-Exchange-Organization-SCL",
    "X-Barracuda-Spam-Score",
};

static int count_fields(GMimeMessage *m, const char *name)
{
	GMimeHeaderList *list = g_mime_object_get_header_list(GMIME_OBJECT(m));
	int n = 0;
	for (int i = 0; i < g_mime_header_list_get_count(list); i++)
		n += strcasecmp(g_mime_header_get_name(g_mime_header_list_get_header_at(list, i)),
		                name) == 0;
	return n;
}

static void check_headers(GMimeMessage *orig, GMimeMessage *out, const char *what)
{
	char date[64];
	const char *got;

	for (size_t k = 0; k < sizeof kept_fields / sizeof kept_fields[0]; k++) {
		const char *want = g_mime_object_get_header(GMIME_OBJECT(orig), kept_fields[k]);
		got = g_mime_object_get_header(GMIME_OBJECT(out), kept_fields[k]);
		if ((want || got) && (!want || !got || strcmp(want, got) != 0))
			fail_msg("%s: %s got \"%s\", want \"%s\"", what, kept_fields[k],
			         got ? got : "(none)", want ? want : "(none)");
	}
	for (size_t k = 0; k < sizeof trace_fields / sizeof trace_fields[0]; k++)
		if (count_fields(out, trace_fields[k]))
			fail_msg("%s: trace field %s still there", what, trace_fields[k]);
	mb_clock_rfc5322(fixed_date, date, sizeof date);
	got = g_mime_object_get_header(GMIME_OBJECT(out), "Date");
	if (count_fields(out, "Date") != 1 || !got || strcmp(got, date) != 0)
		fail_msg("%s: Date got \"%s\" (%d fields), want one \"%s\"", what,
		         got ? got : "(none)", count_fields(out, "Date"), date);
	got = g_mime_object_get_header(GMIME_OBJECT(out), "Message-ID");
	if (count_fields(out, "Message-ID") != 1 || !got || strcmp(got, new_id) != 0)
		fail_msg("%s: Message-ID got \"%s\", want one \"%s\"", what, got ? got : "(none)",
		         new_id);
}

static void test_every_variant_headers_and_crlf(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_MESSAGES; i++) {
		struct mb_message *msg = load_ok(all_messages[i]);
		GMimeMessage *orig = gmime_load(all_messages[i]);
		for (int v = 0; v < MB_VARIANT_COUNT; v++) {
			struct mb_buf out = MB_BUF_INIT;
			char what[512];
			GMimeMessage *built;
			snprintf(what, sizeof what, "%s of %s", mb_variant_name(v),
			         all_messages[i]);
			build_ok(msg, (enum mb_variant)v, &out);
			assert_crlf_only(&out, what);
			built = gmime_parse(out.data, out.len);
			check_headers(orig, built, what);
			g_object_unref(built);
			mb_buf_free(&out);
		}
		g_object_unref(orig);
		mb_message_free(msg);
	}
}

/* original and alternate-pool: the body goes out byte for byte (only made CRLF). */
static void test_original_body_unchanged(void **state)
{
	static const enum mb_variant same[] = {MB_VARIANT_ORIGINAL, MB_VARIANT_ALTERNATE_POOL};
	(void)state;
	for (size_t i = 0; i < N_MESSAGES; i++) {
		struct mb_message *msg = load_ok(all_messages[i]);
		struct mb_buf want = MB_BUF_INIT;
		size_t len;
		const char *data = mb_message_data(msg, &len);
		to_crlf(body_of(data), len - (size_t)(body_of(data) - data), &want);
		if (want.len < 2 || memcmp(want.data + want.len - 2, "\r\n", 2) != 0)
			mb_buf_puts(&want, "\r\n");
		for (size_t k = 0; k < 2; k++) {
			struct mb_buf out = MB_BUF_INIT;
			build_ok(msg, same[k], &out);
			if (strcmp(body_of(out.data), want.data) != 0)
				fail_msg("%s of %s: body differs from the original's",
				         mb_variant_name(same[k]), all_messages[i]);
			mb_buf_free(&out);
		}
		mb_buf_free(&want);
		mb_message_free(msg);
	}
}

struct pair_walk {
	GMimeObject *orig[64], *built[64];
	int n_orig, n_built;
};

static void add_orig(GMimeObject *obj, void *ctx)
{
	struct pair_walk *w = ctx;
	if (w->n_orig < 64)
		w->orig[w->n_orig++] = obj;
}

static void add_built(GMimeObject *obj, void *ctx)
{
	struct pair_walk *w = ctx;
	if (w->n_built < 64)
		w->built[w->n_built++] = obj;
}

/* Leaf by leaf: same Content-Type (charset included) and transfer encoding; parts that are
 * not inline text keep their encoded bytes. */
static void check_parts_kept(GMimeMessage *orig, GMimeMessage *built, const char *what)
{
	struct pair_walk w = {{0}, {0}, 0, 0};
	each_leaf(g_mime_message_get_mime_part(orig), add_orig, &w);
	each_leaf(g_mime_message_get_mime_part(built), add_built, &w);
	assert_int_equal(w.n_orig, w.n_built);
	for (int i = 0; i < w.n_orig; i++) {
		gchar *ct_o =
		    g_mime_content_type_get_mime_type(g_mime_object_get_content_type(w.orig[i]));
		gchar *ct_b =
		    g_mime_content_type_get_mime_type(g_mime_object_get_content_type(w.built[i]));
		const char *cs_o = g_mime_object_get_content_type_parameter(w.orig[i], "charset");
		const char *cs_b = g_mime_object_get_content_type_parameter(w.built[i], "charset");
		if (strcmp(ct_o, ct_b) != 0 ||
		    ((cs_o || cs_b) && (!cs_o || !cs_b || strcmp(cs_o, cs_b))))
			fail_msg("%s: leaf %d is %s charset %s, want %s charset %s", what, i, ct_b,
			         cs_b ? cs_b : "-", ct_o, cs_o ? cs_o : "-");
		if (g_mime_part_get_content_encoding(GMIME_PART(w.orig[i])) !=
		    g_mime_part_get_content_encoding(GMIME_PART(w.built[i])))
			fail_msg("%s: leaf %d (%s) changed its transfer encoding", what, i, ct_o);
		if (!is_inline_text(w.orig[i])) {
			struct mb_buf raw = MB_BUF_INIT, a = MB_BUF_INIT, b = MB_BUF_INIT;
			raw_bytes(GMIME_PART(w.orig[i]), &raw);
			to_crlf(raw.data, raw.len, &a);
			raw_bytes(GMIME_PART(w.built[i]), &b);
			if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
				fail_msg("%s: leaf %d (%s) bytes changed", what, i, ct_o);
			mb_buf_free(&raw);
			mb_buf_free(&a);
			mb_buf_free(&b);
		}
		g_free(ct_o);
		g_free(ct_b);
	}
}

static void test_links_stripped(void **state)
{
	static const struct {
		const char *path;
		const char *kept[12];   /* in the UTF-8 text of the variant's inline parts */
		const char *raw_absent; /* nowhere in the variant's bytes, QP pieces included */
	} cases[] = {
	    {EXAMPLE("newsletter.eml"),
	     {"Shop the sale", "Black leather boots", "Unsubscribe", "Hello Alice,",
	      "<b>40% off</b>", "Shop the sale:\nBlack leather",
	      "background: #f4f4f4 none repeat-x;"},
	     "tracker"},
	    {EXAMPLE("html-only.eml"),
	     {"Voir ma r\xc3\xa9servation",
	      "notre centre d\xe2\x80\x99"
	      "aide.",
	      "\xe2\x80\x9c"
	      "Caf\xc3\xa9 d\xe2\x80\x99\xc3\xa9t\xc3\xa9\xe2\x80\x9d",
	      "42,50 \xe2\x82\xac"},
	     "tracker"},
	    {EXAMPLE("invoice-pdf.eml"),
	     {"You can also view and pay it online:\n"},
	     "billing.sender"},
	    {FIXTURE("related-tricks.eml"),
	     {"Start here", "Go to your cart", "this text is inside an unclosed anchor",
	      "cell link", "misplaced in table", "<center>Book now</center>",
	      "src=\"cid:fallback@sender.example\"", "<img src=\"cid:hero@sender.example\"",
	      "url(cid:bg@sender.example)", "<form method=\"post\">",
	      "background-image:none;color:#333", "<a href=\"#top\">the top</a>"},
	     "tracker"},
	    {FIXTURE("forwarded.eml"),
	     {"See the preview", "Our spring preview is online.", "The archive copy is at"},
	     "tracker"},
	    {FIXTURE("japanese.eml"),
	     {"\xe5\x86\xac\xe3\x81\xae\xe3\x82\xbb\xe3\x83\xbc\xe3\x83\xab", /* 冬のセール */
	      "\xe8\xa9\xb3\xe3\x81\x97\xe3\x81\x8f\xe3\x81\xaf\xe3\x81\x93\xe3\x81\xa1"
	      "\xe3\x82\x89</p>",                     /* 詳しくはこちら</p> */
	      "\xe8\xa1\xa8\xe7\xa4\xba\xe3\x81\x8c", /* 表示が */
	      "\xe3\x82\xbd\xe3\x83\x95\xe3\x83\x88\xe6\xa9\x9f\xe8\x83\xbd"}, /* ソフト機能 */
	     "tracker"},
	    {FIXTURE("crlf.eml"),
	     {"<P>Verify or verify via partner.</P>\n", "Your code is 4471."},
	     "tracker"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_message *msg = load_ok(cases[i].path);
		GMimeMessage *orig = gmime_load(cases[i].path), *built;
		struct mb_buf out = MB_BUF_INIT, text = MB_BUF_INIT;
		char *s_orig, *s_built, what[512];
		const char *left;
		snprintf(what, sizeof what, "links-stripped of %s", cases[i].path);
		build_ok(msg, MB_VARIANT_LINKS_STRIPPED, &out);
		built = gmime_parse(out.data, out.len);
		s_orig = structure_of(orig);
		s_built = structure_of(built);
		if (strcmp(s_orig, s_built) != 0)
			fail_msg("%s: structure got %s, want %s", what, s_built, s_orig);
		check_parts_kept(orig, built, what);
		all_text(built, &text);
		if ((left = find_link_url(text.data)) != NULL)
			fail_msg("%s: a link is left: \"%.60s\"", what, left);
		for (size_t k = 0; k < 12 && cases[i].kept[k]; k++)
			if (!strstr(text.data, cases[i].kept[k]))
				fail_msg("%s: lost \"%s\"; text is:\n%s", what, cases[i].kept[k],
				         text.data);
		if (strstr(body_of(out.data), cases[i].raw_absent))
			fail_msg("%s: \"%s\" still in the bytes", what, cases[i].raw_absent);
		free(s_orig);
		free(s_built);
		g_object_unref(orig);
		g_object_unref(built);
		mb_buf_free(&out);
		mb_buf_free(&text);
		mb_message_free(msg);
	}
}

/* Headers of the attached message stay as they were (only the body is edited). */
static void test_links_stripped_keeps_attached_headers(void **state)
{
	static const char *const kept[] = {
	    "\r\nReceived: from out-7.esp.example (out-7.esp.example [198.51.100.7])\r\n",
	    "\r\nMessage-ID: <inner-1@sender.example>\r\n",
	    "\r\nContent-Disposition: attachment; filename=\"Spring preview.eml\"\r\n",
	};
	struct mb_message *msg = load_ok(FIXTURE("forwarded.eml"));
	struct mb_buf out = MB_BUF_INIT;
	(void)state;
	build_ok(msg, MB_VARIANT_LINKS_STRIPPED, &out);
	for (size_t k = 0; k < sizeof kept / sizeof kept[0]; k++)
		if (!strstr(out.data, kept[k]))
			fail_msg("links-stripped of forwarded.eml lost \"%s\"", kept[k]);
	mb_buf_free(&out);
	mb_message_free(msg);
}

/* A base64 part's decoded text keeps its CRLF line ends after editing. */
static void test_links_stripped_keeps_line_ends(void **state)
{
	struct mb_message *msg = load_ok(FIXTURE("crlf.eml"));
	struct mb_buf out = MB_BUF_INIT, html = MB_BUF_INIT;
	GMimeMessage *built;
	GMimeObject *part;
	(void)state;
	build_ok(msg, MB_VARIANT_LINKS_STRIPPED, &out);
	built = gmime_parse(out.data, out.len);
	part = g_mime_multipart_get_part(GMIME_MULTIPART(g_mime_message_get_mime_part(built)), 1);
	decoded_bytes(GMIME_PART(part), &html);
	if (strcmp(html.data, "<HTML><BODY>\r\n<P>Your code is 4471.</P>\r\n<P>Verify or verify "
	                      "via partner.</P>\r\n</BODY></HTML>\r\n") != 0)
		fail_msg("decoded HTML of crlf.eml links-stripped: got \"%s\"", html.data);
	g_object_unref(built);
	mb_buf_free(&html);
	mb_buf_free(&out);
	mb_message_free(msg);
}

struct plain_case {
	const char *path;
	const char *charset; /* of the single text/plain part */
	bool own;            /* the message's own text part, unchanged */
	const char *kept[4]; /* in its UTF-8 text */
};

static void check_single_text_part(GMimeMessage *built, const struct plain_case *c,
                                   const char *what, struct mb_buf *text)
{
	GMimeObject *body = g_mime_message_get_mime_part(built);
	const char *charset = g_mime_object_get_content_type_parameter(body, "charset");
	char *shape = structure_of(built);
	if (strcmp(shape, "text/plain") != 0)
		fail_msg("%s: structure got %s, want text/plain", what, shape);
	if (!charset || strcasecmp(charset, c->charset) != 0)
		fail_msg("%s: charset got %s, want %s", what, charset ? charset : "(none)",
		         c->charset);
	text_utf8(GMIME_PART(body), text);
	if (strstr(text->data, "<html") || strstr(text->data, "<p>") || strstr(text->data, "<P>"))
		fail_msg("%s: HTML left in the text:\n%s", what, text->data);
	free(shape);
}

static const struct plain_case plain_cases[] = {
    {EXAMPLE("newsletter.eml"),
     "utf-8",
     true,
     {"Shop the sale: https://click.tracker.example/c/8f2k1?u=https%3A%2F%2Fwww.sender.example"
      "%2Fwinter-sale"}},
    {EXAMPLE("html-only.eml"),
     "utf-8",
     false,
     {"Voir ma r\xc3\xa9servation <https://click.tracker.example/r/77aa?url=https%3A%2F%2F"
      "www.sender.example%2Freservations%2F9931>",
      "notre centre d\xe2\x80\x99"
      "aide <https://www.sender.example/aide>.",
      "Ch\xc3\xa8re cliente,\n\nVotre r\xc3\xa9servation \xe2\x80\x9c"
      "Caf\xc3\xa9 d\xe2\x80\x99\xc3\xa9t\xc3\xa9\xe2\x80\x9d est confirm\xc3\xa9"
      "e "
      "\xe2\x80\x94 total : 42,50 \xe2\x82\xac.",
      "\xc3\x80 bient\xc3\xb4t,\nL\xe2\x80\x99\xc3\xa9quipe Sender"}},
    {EXAMPLE("invoice-pdf.eml"),
     "us-ascii",
     true,
     {"https://billing.sender.example/invoices/1042"}},
    {FIXTURE("related-tricks.eml"),
     "us-ascii",
     true,
     {"Go to your cart: https://click.tracker.example/c/1?u="}},
    {FIXTURE("forwarded.eml"), "utf-8", true, {"https://www.sender.example/archive/77"}},
    {FIXTURE("japanese.eml"), "ISO-2022-JP", true, {"https://www.sender.example/jp/sale"}},
};

static void test_plain_text(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof plain_cases / sizeof plain_cases[0]; i++) {
		const struct plain_case *c = &plain_cases[i];
		struct mb_message *msg = load_ok(c->path);
		GMimeMessage *orig = gmime_load(c->path), *built;
		struct mb_buf out = MB_BUF_INIT, text = MB_BUF_INIT;
		char what[512];
		snprintf(what, sizeof what, "plain-text of %s", c->path);
		build_ok(msg, MB_VARIANT_PLAIN_TEXT, &out);
		built = gmime_parse(out.data, out.len);
		check_single_text_part(built, c, what, &text);
		for (size_t k = 0; k < 4 && c->kept[k]; k++)
			if (!strstr(text.data, c->kept[k]))
				fail_msg("%s: want \"%s\" in the text:\n%s", what, c->kept[k],
				         text.data);
		if (c->own) { /* the original's own text part, encoded bytes and all */
			struct pair_walk w = {{0}, {0}, 0, 0};
			struct mb_buf a = MB_BUF_INIT, a_crlf = MB_BUF_INIT, b = MB_BUF_INIT;
			each_leaf(g_mime_message_get_mime_part(orig), add_orig, &w);
			raw_bytes(GMIME_PART(w.orig[0]), &a);
			to_crlf(a.data, a.len, &a_crlf);
			raw_bytes(GMIME_PART(g_mime_message_get_mime_part(built)), &b);
			if (strcmp(a_crlf.data, b.data) != 0)
				fail_msg("%s: text part bytes changed:\n%s\nwant\n%s", what, b.data,
				         a.data);
			mb_buf_free(&a);
			mb_buf_free(&a_crlf);
			mb_buf_free(&b);
		}
		g_object_unref(orig);
		g_object_unref(built);
		mb_buf_free(&out);
		mb_buf_free(&text);
		mb_message_free(msg);
	}
}

static void test_bare(void **state)
{
	static const char *const words[] = {
	    "Shop the sale:\n",   "Voir ma r\xc3\xa9servation\n", "view and pay it online:\n",
	    "Go to your cart:\n", "The archive copy is at .",     "\xe8\xa9\xb3"};
	(void)state;
	for (size_t i = 0; i < sizeof plain_cases / sizeof plain_cases[0]; i++) {
		const struct plain_case *c = &plain_cases[i];
		struct mb_message *msg = load_ok(c->path);
		struct mb_buf out = MB_BUF_INIT, text = MB_BUF_INIT;
		GMimeMessage *built;
		const char *left;
		char what[512];
		snprintf(what, sizeof what, "bare of %s", c->path);
		build_ok(msg, MB_VARIANT_BARE, &out);
		built = gmime_parse(out.data, out.len);
		check_single_text_part(built, c, what, &text);
		if ((left = find_link_url(text.data)) != NULL)
			fail_msg("%s: a link is left: \"%.60s\"", what, left);
		if (!strstr(text.data, words[i]))
			fail_msg("%s: want \"%s\" in the text:\n%s", what, words[i], text.data);
		g_object_unref(built);
		mb_buf_free(&out);
		mb_buf_free(&text);
		mb_message_free(msg);
	}
}

static void test_no_attachments(void **state)
{
	static const struct {
		const char *path;
		const char *structure;
	} cases[] = {
	    {EXAMPLE("invoice-pdf.eml"), "multipart/mixed(text/plain)"},
	    {FIXTURE("forwarded.eml"), "multipart/mixed(text/plain)"},
	    {FIXTURE("related-tricks.eml"),
	     "multipart/related(multipart/alternative(text/plain,text/html),image/png,image/gif)"},
	    {EXAMPLE("newsletter.eml"), "multipart/alternative(text/plain,text/html)"},
	    {EXAMPLE("html-only.eml"), "text/html"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mb_message *msg = load_ok(cases[i].path);
		struct mb_buf out = MB_BUF_INIT;
		GMimeMessage *built;
		char *shape;
		build_ok(msg, MB_VARIANT_NO_ATTACHMENTS, &out);
		built = gmime_parse(out.data, out.len);
		shape = structure_of(built);
		if (strcmp(shape, cases[i].structure) != 0)
			fail_msg("no-attachments of %s: structure got %s, want %s", cases[i].path,
			         shape, cases[i].structure);
		free(shape);
		g_object_unref(built);
		mb_buf_free(&out);
		mb_message_free(msg);
	}
}

/* The PDF's base64 lines appear in the original and links-stripped variants exactly. */
static void test_attachment_bytes_identical(void **state)
{
	static const enum mb_variant keep[] = {MB_VARIANT_ORIGINAL, MB_VARIANT_LINKS_STRIPPED,
	                                       MB_VARIANT_ALTERNATE_POOL};
	GMimeMessage *orig = gmime_load(EXAMPLE("invoice-pdf.eml"));
	GMimeObject *pdf =
	    g_mime_multipart_get_part(GMIME_MULTIPART(g_mime_message_get_mime_part(orig)), 1);
	struct mb_message *msg = load_ok(EXAMPLE("invoice-pdf.eml"));
	struct mb_buf raw = MB_BUF_INIT, want = MB_BUF_INIT, decoded = MB_BUF_INIT;
	(void)state;
	raw_bytes(GMIME_PART(pdf), &raw);
	to_crlf(raw.data, raw.len, &want);
	decoded_bytes(GMIME_PART(pdf), &decoded);
	assert_true(strncmp(decoded.data, "%PDF-1.4", 8) == 0);
	assert_string_equal(g_mime_part_get_filename(GMIME_PART(pdf)), "invoice-1042.pdf");
	for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
		struct mb_buf out = MB_BUF_INIT;
		build_ok(msg, keep[k], &out);
		if (!strstr(out.data, want.data))
			fail_msg("%s of invoice-pdf.eml: the PDF's encoded bytes changed",
			         mb_variant_name(keep[k]));
		mb_buf_free(&out);
	}
	g_object_unref(orig);
	mb_buf_free(&raw);
	mb_buf_free(&want);
	mb_buf_free(&decoded);
	mb_message_free(msg);
}

static void test_build_checks_arguments(void **state)
{
	struct mb_message *msg = load_ok(EXAMPLE("newsletter.eml"));
	static const char *const bad_ids[] = {NULL, "", "no-brackets@x.example", "<no-at-sign>",
	                                      "<with space@x.example>"};
	struct mb_buf out = MB_BUF_INIT;
	struct mb_err err = MB_ERR_INIT;
	(void)state;
	for (size_t k = 0; k < sizeof bad_ids / sizeof bad_ids[0]; k++) {
		struct mb_variant_opts opts = {bad_ids[k], 0, NULL};
		int rc = mb_variant_build(msg, MB_VARIANT_ORIGINAL, &opts, &out, &err);
		if (rc != MB_EUSAGE)
			fail_msg("message id \"%s\": got rc %d, want MB_EUSAGE",
			         bad_ids[k] ? bad_ids[k] : "(null)", rc);
	}
	assert_int_equal(mb_variant_build(msg, MB_VARIANT_ORIGINAL, NULL, &out, &err), MB_EUSAGE);
	assert_int_equal(mb_variant_build(msg, MB_VARIANT_COUNT,
	                                  &(struct mb_variant_opts){new_id, 0, NULL}, &out, &err),
	                 MB_EUSAGE);
	out.cap = 100; /* the output limit is respected */
	assert_int_equal(mb_variant_build(msg, MB_VARIANT_ORIGINAL,
	                                  &(struct mb_variant_opts){new_id, 0, NULL}, &out, &err),
	                 MB_ENOMEM);
	mb_buf_free(&out);
	mb_message_free(msg);
}

static void test_plain_text_needs_a_text_body(void **state)
{
	static const char only_image[] =
	    "From: a@x.example\nSubject: picture\nMIME-Version: 1.0\n"
	    "Content-Type: image/png\nContent-Transfer-Encoding: base64\n"
	    "\niVBORw0KGgo=\n";
	struct mb_message *msg = NULL;
	struct mb_err err = MB_ERR_INIT;
	struct mb_buf out = MB_BUF_INIT;
	int rc;
	(void)state;
	assert_int_equal(mb_message_parse(&msg, only_image, strlen(only_image), "image.eml", &err),
	                 0);
	rc = mb_variant_build(msg, MB_VARIANT_PLAIN_TEXT,
	                      &(struct mb_variant_opts){new_id, 0, NULL}, &out, &err);
	if (rc != MB_EDATA || !strstr(err.message, "image.eml: no text/plain or text/html part"))
		fail_msg("plain-text of an image: got rc %d \"%s\", want MB_EDATA naming the file",
		         rc, err.message);
	mb_buf_free(&out);
	mb_message_free(msg);
}

/* alternate-domain: the original bytes of the body, the From address replaced (display name
 * kept), Sender removed; nothing else of the headers changes but the fresh trace fields. */
static void test_alternate_domain(void **state)
{
	static const char msg_text[] = "From: Sender News <news@sender.example>\r\n"
	                               "Sender: bulk@sender.example\r\n"
	                               "To: alice@victim.example\r\n"
	                               "Subject: December news\r\n"
	                               "MIME-Version: 1.0\r\n"
	                               "Content-Type: text/plain; charset=utf-8\r\n"
	                               "\r\n"
	                               "Read the news at https://click.tracker.example/x\r\n";
	struct mb_variant_opts opts = {new_id, fixed_date, "news@sender-two.example"};
	struct mb_err err = MB_ERR_INIT;
	struct mb_message *msg = NULL;
	struct mb_buf out = MB_BUF_INIT;
	GMimeMessage *m;
	InternetAddressList *from;
	(void)state;

	assert_int_equal(mb_message_parse(&msg, msg_text, sizeof msg_text - 1, "t.eml", &err), 0);
	assert_int_equal(mb_variant_build(msg, MB_VARIANT_ALTERNATE_DOMAIN, &opts, &out, &err), 0);
	m = gmime_parse(out.data, out.len);
	from = g_mime_message_get_from(m);
	assert_int_equal(internet_address_list_length(from), 1);
	assert_string_equal(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(
	                        internet_address_list_get_address(from, 0))),
	                    "news@sender-two.example");
	assert_string_equal(internet_address_get_name(internet_address_list_get_address(from, 0)),
	                    "Sender News");
	assert_null(g_mime_object_get_header(GMIME_OBJECT(m), "Sender"));
	assert_string_equal(g_mime_message_get_subject(m), "December news");
	if (!strstr(out.data, "\r\n\r\nRead the news at https://click.tracker.example/x\r\n"))
		fail_msg("body changed: got\n%s", out.data);
	g_object_unref(m);
	mb_buf_free(&out);
	mb_message_free(msg);
}

/* ---- links-stripped restricted to some link hosts (link-domain bisection) ---- */

#define PARTNER_NEWSLETTER FIXTURE("newsletter-partner.eml")

/* "a,b" -> {"a", "b", NULL}; the caller frees with mb_strv_free. */
static char **split_hosts(const char *list)
{
	size_t n = 1;
	char **v;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	v = calloc(n + 1, sizeof *v);
	assert_non_null(v);
	n = 0;
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		v[n] = calloc(len + 1, 1);
		assert_non_null(v[n]);
		memcpy(v[n++], p, len);
		p += len + (p[len] == ',');
	}
	return v;
}

static void build_strip_ok(const struct mb_message *msg, char *const *hosts, struct mb_buf *out)
{
	struct mb_variant_opts opts = {new_id, fixed_date, NULL};
	struct mb_err err = MB_ERR_INIT;
	int rc = mb_variant_build_strip_hosts(msg, hosts, &opts, out, &err);
	if (rc != 0)
		fail_msg("strip hosts of %s: got rc %d (%s), want 0", mb_message_name(msg), rc,
		         err.message);
}

/* Link domains a built message carries, found by parsing it again. */
static char *domains_of_built(const struct mb_buf *built)
{
	struct mb_message *parsed = NULL;
	struct mb_err err = MB_ERR_INIT;
	char **domains = NULL, *joined;
	assert_int_equal(mb_message_parse(&parsed, built->data, built->len, "built", &err), 0);
	assert_int_equal(mb_message_link_domains(parsed, &domains, &err), 0);
	joined = join_strv(domains);
	mb_strv_free(domains);
	mb_message_free(parsed);
	return joined;
}

static char **domains_of(const struct mb_message *msg)
{
	struct mb_err err = MB_ERR_INIT;
	char **domains = NULL;
	assert_int_equal(mb_message_link_domains(msg, &domains, &err), 0);
	return domains;
}

/* host equals one of set or ends in "." + one of them */
static bool under_any(const char *host, char *const *set)
{
	for (size_t k = 0; set[k]; k++) {
		size_t h = strlen(host), n = strlen(set[k]);
		if (h == n ? strcmp(host, set[k]) == 0
		           : h > n && host[h - n - 1] == '.' && strcmp(host + h - n, set[k]) == 0)
			return true;
	}
	return false;
}

/* The link domains of all that are not (under) one of set, joined with ",". */
static char *domains_without(char *const *all, char *const *set)
{
	struct mb_buf out = MB_BUF_INIT;
	for (size_t i = 0; all[i]; i++)
		if (!under_any(all[i], set))
			mb_buf_printf(&out, "%s%s", out.len ? "," : "", all[i]);
	mb_buf_terminate(&out);
	return mb_buf_steal(&out);
}

static void test_strip_hosts_link_domains(void **state)
{
	static const struct {
		const char *strip, *want;
	} cases[] = {
	    {"", "cdn.shop.example,click.mailer.example,open.mailer.example,www.partner.example,"
	         "www.shop.example"},
	    {"open.mailer.example", "cdn.shop.example,click.mailer.example,www.partner.example,"
	                            "www.shop.example"},
	    {"click.mailer.example", "cdn.shop.example,open.mailer.example,www.partner.example,"
	                             "www.shop.example"},
	    {"www.partner.example", "cdn.shop.example,click.mailer.example,open.mailer.example,"
	                            "www.shop.example"},
	    {"www.shop.example", "cdn.shop.example,click.mailer.example,open.mailer.example,"
	                         "www.partner.example"},
	    {"cdn.shop.example", "click.mailer.example,open.mailer.example,www.partner.example,"
	                         "www.shop.example"},
	    /* whole domains take in their subdomains */
	    {"shop.example", "click.mailer.example,open.mailer.example,www.partner.example"},
	    {"mailer.example", "cdn.shop.example,www.partner.example,www.shop.example"},
	    {"partner.example", "cdn.shop.example,click.mailer.example,open.mailer.example,"
	                        "www.shop.example"},
	    {"Shop.Example.", "click.mailer.example,open.mailer.example,www.partner.example"},
	    {"shop.example,partner.example", "click.mailer.example,open.mailer.example"},
	    {"shop.example,mailer.example,partner.example", ""},
	    /* a suffix that is not a whole label, and hosts the message does not link to */
	    {"hop.example,example.org,mailer", "cdn.shop.example,click.mailer.example,"
	                                       "open.mailer.example,www.partner.example,"
	                                       "www.shop.example"},
	};
	struct mb_message *msg = load_ok(PARTNER_NEWSLETTER);
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char **hosts = split_hosts(cases[i].strip), *got;
		struct mb_buf out = MB_BUF_INIT;
		build_strip_ok(msg, hosts, &out);
		got = domains_of_built(&out);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("link domains after stripping \"%s\":\n got  %s\n want %s",
			         cases[i].strip, got, cases[i].want);
		free(got);
		mb_buf_free(&out);
		mb_strv_free(hosts);
	}
	mb_message_free(msg);
}

/* Every subset of the newsletter's link hosts, and of its three domains: the variant keeps
 * its structure, headers and attachment bytes, and carries exactly the other link hosts. */
static void test_strip_hosts_every_subset(void **state)
{
	static const char *const domains[] = {"mailer.example", "partner.example", "shop.example"};
	struct mb_message *msg = load_ok(PARTNER_NEWSLETTER);
	GMimeMessage *orig = gmime_load(PARTNER_NEWSLETTER);
	char **all = domains_of(msg), *s_orig = structure_of(orig);
	size_t n = 0;
	(void)state;
	while (all[n])
		n++;
	assert_int_equal(n, 5);
	for (int pass = 0; pass < 2; pass++) {
		size_t members = pass == 0 ? n : 3;
		for (unsigned mask = 0; mask < 1u << members; mask++) {
			char *set[6] = {NULL}, *want, *got, *s_built, what[256];
			struct mb_buf out = MB_BUF_INIT;
			GMimeMessage *built;
			size_t k = 0;
			for (size_t b = 0; b < members; b++)
				if (mask & 1u << b)
					set[k++] = pass == 0 ? all[b] : (char *)domains[b];
			snprintf(what, sizeof what, "stripping %s subset %#x",
			         pass ? "domain" : "host", mask);
			build_strip_ok(msg, set, &out);
			assert_crlf_only(&out, what);
			built = gmime_parse(out.data, out.len);
			check_headers(orig, built, what);
			check_parts_kept(orig, built, what);
			s_built = structure_of(built);
			if (strcmp(s_orig, s_built) != 0)
				fail_msg("%s: structure got %s, want %s", what, s_built, s_orig);
			want = domains_without(all, set);
			got = domains_of_built(&out);
			if (strcmp(got, want) != 0)
				fail_msg("%s: link domains\n got  %s\n want %s", what, got, want);
			free(want);
			free(got);
			free(s_built);
			g_object_unref(built);
			mb_buf_free(&out);
		}
	}
	free(s_orig);
	g_object_unref(orig);
	mb_strv_free(all);
	mb_message_free(msg);
}

/* The two ends of a bisection: no host stripped is the original variant, byte for byte;
 * every link host stripped is links-stripped, byte for byte (related-tricks.eml has a
 * mailto: link, which leads to no host and therefore stays). */
static void test_strip_hosts_none_and_all(void **state)
{
	static const char *const messages[] = {
	    PARTNER_NEWSLETTER,         EXAMPLE("newsletter.eml"),     EXAMPLE("html-only.eml"),
	    EXAMPLE("invoice-pdf.eml"), FIXTURE("related-tricks.eml"), FIXTURE("forwarded.eml"),
	    FIXTURE("japanese.eml"),    FIXTURE("crlf.eml"),
	};
	static char *const no_hosts[] = {NULL};
	(void)state;
	for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++) {
		struct mb_message *msg = load_ok(messages[i]);
		struct mb_buf original = MB_BUF_INIT, stripped = MB_BUF_INIT, none = MB_BUF_INIT,
		              null_set = MB_BUF_INIT, every = MB_BUF_INIT;
		char **all = domains_of(msg);
		bool mailto = strstr(messages[i], "related-tricks") != NULL;
		build_ok(msg, MB_VARIANT_ORIGINAL, &original);
		build_ok(msg, MB_VARIANT_LINKS_STRIPPED, &stripped);
		build_strip_ok(msg, no_hosts, &none);
		build_strip_ok(msg, NULL, &null_set);
		build_strip_ok(msg, all, &every);
		if (strcmp(none.data, original.data) != 0 ||
		    strcmp(null_set.data, original.data) != 0)
			fail_msg("%s: stripping no host differs from the original variant",
			         messages[i]);
		if (!mailto && strcmp(every.data, stripped.data) != 0)
			fail_msg("%s: stripping every link host differs from links-stripped:\n"
			         "got\n%s\nwant\n%s",
			         messages[i], every.data, stripped.data);
		if (mailto && (!strstr(every.data, "<a href=\"mailto:help@sender.example\">") ||
		               strstr(stripped.data, "mailto:help@sender.example")))
			fail_msg("%s: the mailto: link should stay only when stripping hosts",
			         messages[i]);
		if (mailto) {
			char *got = domains_of_built(&every);
			if (strcmp(got, "") != 0)
				fail_msg("%s: stripping every host left %s", messages[i], got);
			free(got);
		}
		mb_strv_free(all);
		mb_buf_free(&original);
		mb_buf_free(&stripped);
		mb_buf_free(&none);
		mb_buf_free(&null_set);
		mb_buf_free(&every);
		mb_message_free(msg);
	}
}

/* The decoded text/html (part 1.1.2.1) of a built newsletter-partner variant, with LF. */
static void partner_html(const struct mb_buf *built, struct mb_buf *html)
{
	GMimeMessage *m = gmime_parse(built->data, built->len);
	GMimeObject *mixed = g_mime_message_get_mime_part(m);
	GMimeObject *alt = g_mime_multipart_get_part(GMIME_MULTIPART(mixed), 0);
	GMimeObject *related = g_mime_multipart_get_part(GMIME_MULTIPART(alt), 1);
	GMimeObject *part = g_mime_multipart_get_part(GMIME_MULTIPART(related), 0);
	struct mb_buf decoded = MB_BUF_INIT;
	decoded_bytes(GMIME_PART(part), &decoded);
	for (size_t i = 0; i < decoded.len; i++)
		if (decoded.data[i] != '\r' || i + 1 >= decoded.len || decoded.data[i + 1] != '\n')
			mb_buf_putc(html, decoded.data[i]);
	mb_buf_terminate(html);
	mb_buf_free(&decoded);
	g_object_unref(m);
}

/* What stays and what goes, byte for byte, for one host at a time. */
static void test_strip_hosts_keeps_the_rest(void **state)
{
	static const char pixel[] =
	    "<img src=\"https://open.mailer.example/o/8812/Zk3q.gif\" width=\"1\" height=\"1\" "
	    "alt=\"\" border=\"0\" style=\"height:1px!important;width:1px!important\">";
	static const struct {
		const char *strip;
		const char *in_html[6];  /* in the decoded HTML of the variant */
		const char *not_html[4]; /* nowhere in it */
		const char *in_text[4];  /* in the UTF-8 text of every inline part */
	} cases[] = {
	    {"click.mailer.example",
	     {"<a href=\"https://www.shop.example/?utm_source=newsletter&amp;utm_medium=email\">"
	      "<img src=\"cid:logo-8812@shop.example\"",
	      "<img src=\"https://cdn.shop.example/n/8812/hero.jpg\" "
	      "srcset=\"https://cdn.shop.example/n/8812/hero@2x.jpg 2x\"",
	      "<v:roundrect xmlns:v=\"urn:schemas-microsoft-com:vml\" style=\"height:44px;",
	      "<p class=\"button\">Shop the collection</p>",
	      "<p><img src=\"https://cdn.shop.example/n/8812/partner.png\" alt=\"Partner offer\" "
	      "width=\"120\"></p>",
	      pixel},
	     {"click.mailer", "www.partner.example"},
	     {"View in your browser:\n\nHello Marta,",
	      "Manage your subscription: https://www.shop.example/account/newsletter?id=8812",
	      "Unsubscribe:\n",
	      "Track your parcel: https://www.partner.example/track?o=20417&c=shop"}},
	    {"cdn.shop.example",
	     {".banner { background: #2f3b2f none no-repeat top; }",
	      "<td class=\"banner\">\n\n</td>",
	      "<a href=\"https://click.mailer.example/c/8812/2?u=https%3A%2F%2Fwww.partner.example"
	      "%2Foffer%3Fref%3Dshop\"></a>",
	      "<td style=\"padding:24px;background-image:none\">", pixel},
	     {"cdn.shop"},
	     {"https://click.mailer.example/c/8812/1?u=https%3A%2F%2Fwww.shop.example%2Fautumn"}},
	    {"www.partner.example",
	     {"<a href=\"https://click.mailer.example/c/8812/1?u=https%3A%2F%2Fwww.shop.example"
	      "%2Fautumn%3Futm_source%3Dnewsletter\" style=",
	      "<p><img src=\"https://cdn.shop.example/n/8812/partner.png\"",
	      "carrier partner: see the offer.</p>"},
	     {"partner.example"},
	     {"carrier partner:\n\n\nManage", "<https://click.mailer.example/u/8812?s=Zk3q>",
	      "Track your parcel:\n", "Order details: https://www.shop.example/orders/20417"}},
	};
	struct mb_message *msg = load_ok(PARTNER_NEWSLETTER);
	struct mb_buf original = MB_BUF_INIT, orig_html = MB_BUF_INIT;
	(void)state;
	build_ok(msg, MB_VARIANT_ORIGINAL, &original);
	partner_html(&original, &orig_html);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char **hosts = split_hosts(cases[i].strip);
		struct mb_buf out = MB_BUF_INIT, html = MB_BUF_INIT, text = MB_BUF_INIT;
		GMimeMessage *built;
		build_strip_ok(msg, hosts, &out);
		partner_html(&out, &html);
		built = gmime_parse(out.data, out.len);
		all_text(built, &text);
		for (size_t k = 0; k < 6 && cases[i].in_html[k]; k++)
			if (!strstr(html.data, cases[i].in_html[k]))
				fail_msg("stripping %s: HTML lost \"%s\"; it is:\n%s",
				         cases[i].strip, cases[i].in_html[k], html.data);
		for (size_t k = 0; k < 4 && cases[i].not_html[k]; k++)
			if (strstr(html.data, cases[i].not_html[k]))
				fail_msg("stripping %s: \"%s\" still in the HTML:\n%s",
				         cases[i].strip, cases[i].not_html[k], html.data);
		for (size_t k = 0; k < 4 && cases[i].in_text[k]; k++)
			if (!strstr(text.data, cases[i].in_text[k]))
				fail_msg("stripping %s: lost \"%s\"; text is:\n%s", cases[i].strip,
				         cases[i].in_text[k], text.data);
		g_object_unref(built);
		mb_buf_free(&out);
		mb_buf_free(&html);
		mb_buf_free(&text);
		mb_strv_free(hosts);
	}
	mb_buf_free(&original);
	mb_buf_free(&orig_html);
	mb_message_free(msg);
}

/* Only the tracking pixel's host: the HTML is the original without that one tag, and every
 * other part (text alternative, logo, attached message) keeps its encoded bytes. */
static void test_strip_hosts_pixel_only(void **state)
{
	static const char pixel[] =
	    "<img src=\"https://open.mailer.example/o/8812/Zk3q.gif\" width=\"1\" height=\"1\" "
	    "alt=\"\" border=\"0\" style=\"height:1px!important;width:1px!important\">";
	static char *const open_host[] = {"open.mailer.example", NULL};
	struct mb_message *msg = load_ok(PARTNER_NEWSLETTER);
	struct mb_buf original = MB_BUF_INIT, out = MB_BUF_INIT, orig_html = MB_BUF_INIT,
	              html = MB_BUF_INIT, want = MB_BUF_INIT;
	const char *at, *qp_text = "https://click.mailer.example/c/8812/1?u=3Dhttps%3A%2F%2F"
	                           "www.shop.example%2F=\r\nautumn%3Futm_source%3Dnewsletter\r\n";
	(void)state;
	build_ok(msg, MB_VARIANT_ORIGINAL, &original);
	build_strip_ok(msg, open_host, &out);
	partner_html(&original, &orig_html);
	partner_html(&out, &html);
	at = strstr(orig_html.data, pixel);
	assert_non_null(at);
	mb_buf_append(&want, orig_html.data, (size_t)(at - orig_html.data));
	mb_buf_puts(&want, at + strlen(pixel));
	if (strcmp(html.data, want.data) != 0)
		fail_msg("HTML without the pixel:\n got  %s\n want %s", html.data, want.data);
	if (!strstr(out.data, qp_text))
		fail_msg("the text alternative was re-encoded: \"%s\" is gone", qp_text);
	if (strcmp(strstr(out.data, "\r\n--mix-8812\r\nContent-Type: message/rfc822"),
	           strstr(original.data, "\r\n--mix-8812\r\nContent-Type: message/rfc822")) != 0)
		fail_msg("the attached message changed");
	mb_buf_free(&original);
	mb_buf_free(&out);
	mb_buf_free(&orig_html);
	mb_buf_free(&html);
	mb_buf_free(&want);
	mb_message_free(msg);
}

/* A redirect wrapper goes when any host it leads to is stripped, taking the wrapper's own
 * host with it where no other link carries that host. */
static void test_strip_hosts_wrapper(void **state)
{
	static const char text[] = "From: news@sender.example\r\nTo: a@victim.example\r\n"
	                           "Subject: w\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
	                           "Shop: https://click.t.example/c?u=https%3A%2F%2Fwww.s.example"
	                           "%2F\r\nOffer: https://www.p.example/o\r\n";
	static const struct {
		const char *strip, *want_domains, *want_body;
	} cases[] = {
	    {"www.s.example", "www.p.example", "Shop:\r\nOffer: https://www.p.example/o\r\n"},
	    {"click.t.example", "www.p.example", "Shop:\r\nOffer: https://www.p.example/o\r\n"},
	    {"p.example", "click.t.example,www.s.example",
	     "Shop: https://click.t.example/c?u=https%3A%2F%2Fwww.s.example%2F\r\nOffer:\r\n"},
	};
	struct mb_message *msg = NULL;
	struct mb_err err = MB_ERR_INIT;
	(void)state;
	assert_int_equal(mb_message_parse(&msg, text, strlen(text), "wrapper.eml", &err), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char **hosts = split_hosts(cases[i].strip), *got;
		struct mb_buf out = MB_BUF_INIT;
		build_strip_ok(msg, hosts, &out);
		got = domains_of_built(&out);
		if (strcmp(got, cases[i].want_domains) != 0 ||
		    strcmp(body_of(out.data), cases[i].want_body) != 0)
			fail_msg("stripping %s: got domains \"%s\" body \"%s\", want \"%s\" \"%s\"",
			         cases[i].strip, got, body_of(out.data), cases[i].want_domains,
			         cases[i].want_body);
		free(got);
		mb_buf_free(&out);
		mb_strv_free(hosts);
	}
	mb_message_free(msg);
}

static void test_strip_hosts_checks_arguments(void **state)
{
	static char *const hosts[] = {"www.sender.example", NULL};
	struct mb_message *msg = load_ok(EXAMPLE("newsletter.eml"));
	struct mb_buf out = MB_BUF_INIT;
	struct mb_err err = MB_ERR_INIT;
	(void)state;
	assert_int_equal(mb_variant_build_strip_hosts(msg, hosts, NULL, &out, &err), MB_EUSAGE);
	assert_int_equal(mb_variant_build_strip_hosts(
	                     msg, hosts, &(struct mb_variant_opts){"<bad", 0, NULL}, &out, &err),
	                 MB_EUSAGE);
	mb_buf_free(&out);
	mb_message_free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_variant_names),
	    cmocka_unit_test(test_load_refuses_bad_files),
	    cmocka_unit_test(test_parse_refuses_hostile_bytes),
	    cmocka_unit_test(test_parse_accepts_nesting_within_limits),
	    cmocka_unit_test(test_parse_skips_mbox_separator),
	    cmocka_unit_test(test_accessors),
	    cmocka_unit_test(test_link_domains),
	    cmocka_unit_test(test_variant_link_domains),
	    cmocka_unit_test(test_every_variant_headers_and_crlf),
	    cmocka_unit_test(test_original_body_unchanged),
	    cmocka_unit_test(test_links_stripped),
	    cmocka_unit_test(test_links_stripped_keeps_attached_headers),
	    cmocka_unit_test(test_links_stripped_keeps_line_ends),
	    cmocka_unit_test(test_plain_text),
	    cmocka_unit_test(test_bare),
	    cmocka_unit_test(test_alternate_domain),
	    cmocka_unit_test(test_no_attachments),
	    cmocka_unit_test(test_attachment_bytes_identical),
	    cmocka_unit_test(test_build_checks_arguments),
	    cmocka_unit_test(test_plain_text_needs_a_text_body),
	    cmocka_unit_test(test_strip_hosts_link_domains),
	    cmocka_unit_test(test_strip_hosts_every_subset),
	    cmocka_unit_test(test_strip_hosts_none_and_all),
	    cmocka_unit_test(test_strip_hosts_keeps_the_rest),
	    cmocka_unit_test(test_strip_hosts_pixel_only),
	    cmocka_unit_test(test_strip_hosts_wrapper),
	    cmocka_unit_test(test_strip_hosts_checks_arguments),
	};
	g_mime_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
