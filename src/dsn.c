/* Delivery status notifications: GMime finds the parts of a bounce, the delivery-status field
 * groups are read by hand, and the notification text gives each recipient's SMTP stage. */
#include "gmime_init.h"
#include "mailbisect/dsn.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "mailbisect/buf.h"
#include "mailbisect/limits.h"
#include "mailbisect/str.h"
#include "bounce_internal.h"

/* Bytes of the human-readable notification searched for stage phrases, and how many of its
 * paragraphs are kept: enough for MB_MAX_DSN_RECIPIENTS recipients with some prose around. */
#define NOTICE_MAX_BYTES      (1024u * 1024u)
#define NOTICE_MAX_PARAGRAPHS (2 * MB_MAX_DSN_RECIPIENTS)
/* text/plain parts tried as a delivery-status fallback. */
#define FALLBACK_MAX_PARTS 8
#define FIELD_NAME_MAX     76u
#define MESSAGE_ID_MAX     998u

/* ---- Field groups (RFC 3464 section 2.1, read by hand) ---------------------------------- */

/* Called once per complete field: group counts blank-line separated groups from 0. A nonzero
 * return stops reading (1 = enough, negative = error). */
typedef int (*field_visit_fn)(void *ctx, size_t group, const char *name, const char *value);

/* Start of the next line; *len gets this line's length without its CR LF / LF / CR. */
static const char *line_next(const char *p, const char *end, size_t *len)
{
	const char *q = memchr(p, '\n', (size_t)(end - p)), *cr;
	/* the line ends at the first LF or CR */
	if (!q)
		q = end;
	if ((cr = memchr(p, '\r', (size_t)(q - p))))
		q = cr;
	*len = (size_t)(q - p);
	if (q < end && *q == '\r' && q + 1 < end && q[1] == '\n')
		return q + 2;
	return q < end ? q + 1 : q;
}

static bool line_blank(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t')
			return false;
	return true;
}

/* Appends what fits under the buffer's cap: a hostile field is cut, never refused. NULs
 * become spaces so the C strings handed out keep the whole text. */
static int append_bounded(struct mb_buf *buf, const char *s, size_t len)
{
	size_t cap = buf->cap ? buf->cap : MB_BUF_DEFAULT_CAP;
	size_t room = cap > buf->len ? cap - buf->len : 0;
	size_t start = buf->len;
	int rc;

	if (len > room)
		len = room;
	if ((rc = mb_buf_append(buf, s, len)))
		return rc;
	if (!buf->data)
		return 0;
	for (char *z = buf->data + start, *end = buf->data + buf->len;
	     z < end && (z = memchr(z, '\0', (size_t)(end - z))); z++)
		*z = ' ';
	return 0;
}

static void rtrim_buf(struct mb_buf *buf)
{
	while (buf->len && (buf->data[buf->len - 1] == ' ' || buf->data[buf->len - 1] == '\t'))
		buf->data[--buf->len] = '\0';
}

/* "Name: value" with a name of printable ASCII but no colon (RFC 5322 ftext). */
static bool field_start(const char *p, size_t len, size_t *name_len)
{
	size_t i = 0;
	while (i < len && p[i] != ':' && (unsigned char)p[i] > 32 && (unsigned char)p[i] < 127)
		i++;
	if (i == 0 || i >= len || p[i] != ':' || i > FIELD_NAME_MAX)
		return false;
	*name_len = i;
	return true;
}

struct field_state {
	struct mb_buf name, value;
	bool open;
	size_t group, in_group, total;
};

static int field_flush(struct field_state *st, field_visit_fn visit, void *ctx)
{
	int rc;
	if (!st->open)
		return 0;
	st->open = false;
	rtrim_buf(&st->value);
	if (mb_buf_terminate(&st->value))
		return MB_ENOMEM;
	st->in_group++;
	if (++st->total > MB_MAX_HEADERS * 4u)
		return 1;
	rc = visit(ctx, st->group, st->name.data, st->value.data);
	return rc;
}

/* Reads field groups: any line ends, blank lines separate groups, continuation lines are
 * joined with one space (the fold replaced a single space in what the MTA wrote), and a line
 * that is not a field is skipped instead of ending the group. */
static int fields_read(const char *s, size_t len, field_visit_fn visit, void *ctx)
{
	struct field_state st = {MB_BUF_INIT, MB_BUF_INIT, false, 0, 0, 0};
	const char *p = s, *end = s + len;
	int rc = 0;

	st.name.cap = FIELD_NAME_MAX + 1;
	st.value.cap = MB_MAX_LINE_BYTES;
	while (p < end && !rc) {
		size_t n, name_len;
		const char *next = line_next(p, end, &n);

		if (line_blank(p, n)) {
			rc = field_flush(&st, visit, ctx);
			if (st.in_group) {
				st.group++;
				st.in_group = 0;
			}
		} else if (p[0] == ' ' || p[0] == '\t') {
			if (st.open) {
				size_t skip = 0;
				while (skip < n && (p[skip] == ' ' || p[skip] == '\t'))
					skip++;
				rtrim_buf(&st.value);
				if (st.value.len)
					rc = append_bounded(&st.value, " ", 1);
				if (!rc)
					rc = append_bounded(&st.value, p + skip, n - skip);
			}
		} else {
			rc = field_flush(&st, visit, ctx);
			if (!rc && field_start(p, n, &name_len)) {
				size_t v = name_len + 1;
				while (v < n && (p[v] == ' ' || p[v] == '\t'))
					v++;
				mb_buf_reset(&st.name);
				mb_buf_reset(&st.value);
				rc = append_bounded(&st.name, p, name_len);
				if (!rc)
					rc = append_bounded(&st.value, p + v, n - v);
				if (!rc)
					rc = mb_buf_terminate(&st.value);
				st.open = rc == 0;
			}
		}
		p = next;
	}
	if (!rc)
		rc = field_flush(&st, visit, ctx);
	mb_buf_free(&st.name);
	mb_buf_free(&st.value);
	return rc < 0 ? rc : 0;
}

/* ---- Field values ------------------------------------------------------------------------- */

/* Splits "type; rest": returns rest, and the type (lower case) in *type when the part before
 * the first ';' is a single short token (so "550 5.1.1 <a@b>; x" has no type). */
static const char *split_type(const char *v, char *type, size_t type_size)
{
	const char *semi = strchr(v, ';');
	const char *a = v, *b;
	size_t n;

	type[0] = '\0';
	if (!semi)
		return v;
	while (a < semi && (*a == ' ' || *a == '\t'))
		a++;
	b = semi;
	while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
		b--;
	n = (size_t)(b - a);
	if (n == 0 || n >= type_size)
		return v;
	for (const char *q = a; q < b; q++)
		if (!isalnum((unsigned char)*q) && *q != '-' && *q != '_' && *q != '.' && *q != '+')
			return v;
	for (size_t i = 0; i < n; i++)
		type[i] = (char)tolower((unsigned char)a[i]);
	type[n] = '\0';
	semi++;
	while (*semi == ' ' || *semi == '\t')
		semi++;
	return semi;
}

static void utf8_put(struct mb_buf *out, uint32_t cp, int *rc)
{
	char b[4];
	size_t n;
	if (cp < 0x80)
		b[0] = (char)cp, n = 1;
	else if (cp < 0x800)
		b[0] = (char)(0xC0 | (cp >> 6)), b[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
	else if (cp < 0x10000)
		b[0] = (char)(0xE0 | (cp >> 12)), b[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
		b[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
	else
		b[0] = (char)(0xF0 | (cp >> 18)), b[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
	if (!*rc)
		*rc = mb_buf_append(out, b, n);
}

/* RFC 6533 utf-8-addr-unitext: "\x{HEX}" stands for one code point; anything else is kept. */
static int unitext_decode(const char *s, struct mb_buf *out)
{
	int rc = 0;
	while (*s && !rc) {
		if (s[0] == '\\' && s[1] == 'x' && s[2] == '{') {
			uint32_t cp = 0;
			size_t i = 3;
			while (isxdigit((unsigned char)s[i]) && i < 9) {
				int c = tolower((unsigned char)s[i]);
				cp = cp * 16 + (uint32_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
				i++;
			}
			if (s[i] == '}' && i > 3 && cp > 0 && cp <= 0x10FFFF &&
			    !(cp >= 0xD800 && cp <= 0xDFFF)) {
				utf8_put(out, cp, &rc);
				s += i + 1;
				continue;
			}
		}
		rc = mb_buf_putc(out, *s++);
	}
	return rc ? rc : mb_buf_terminate(out);
}

/* "rfc822; <user@example.com>" -> "user@example.com"; NULL when empty. */
static char *address_value(const char *v, int *rc)
{
	char type[33];
	struct mb_buf out = MB_BUF_INIT;
	const char *a = split_type(v, type, sizeof type), *b;

	while (*a == ' ' || *a == '\t')
		a++;
	b = a + strlen(a);
	while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
		b--;
	if (b - a >= 2 && *a == '<' && b[-1] == '>')
		a++, b--;
	if (b == a)
		return NULL;
	if (strcmp(type, "utf-8") == 0 && memchr(a, '\\', (size_t)(b - a))) {
		char *raw = mb_strndup(a, (size_t)(b - a));
		int r = raw ? unitext_decode(raw, &out) : MB_ENOMEM;
		free(raw);
		if (r) {
			mb_buf_free(&out);
			*rc = MB_ENOMEM;
			return NULL;
		}
		return mb_buf_steal(&out);
	}
	char *s = mb_strndup(a, (size_t)(b - a));
	if (!s)
		*rc = MB_ENOMEM;
	return s;
}

/* Value without its type prefix ("dns; mx.example" -> "mx.example"). */
static char *untyped_value(const char *v, char *type, size_t type_size, size_t max, int *rc)
{
	const char *rest = split_type(v, type, type_size);
	size_t n = strlen(rest);
	char *s;

	if (n > max) {
		n = max;
		while (n && ((unsigned char)rest[n] & 0xC0) == 0x80)
			n--; /* cut at a character boundary */
	}
	if (n == 0)
		return NULL;
	if (!(s = mb_strndup(rest, n)))
		*rc = MB_ENOMEM;
	return s;
}

/* "5.7.1 (delivery not authorized)" -> "5.7.1". */
static char *status_value(const char *v, int *rc)
{
	size_t n = 0;
	char *s;
	while (v[n] && (isdigit((unsigned char)v[n]) || v[n] == '.') && n < 16)
		n++;
	if (n == 0)
		return NULL;
	if (!(s = mb_strndup(v, n)))
		*rc = MB_ENOMEM;
	return s;
}

static char *lower_value(const char *v, int *rc)
{
	size_t n = 0;
	char *s;
	while (v[n] && !isspace((unsigned char)v[n]) && v[n] != '(' && v[n] != ';' && n < 32)
		n++;
	if (n == 0)
		return NULL;
	if (!(s = mb_strndup(v, n))) {
		*rc = MB_ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	return s;
}

/* Reply code at the start of a diagnostic ("550 5.7.1 ...", "550-5.7.1 ...", "#550 ..."). */
static int reply_code_of(const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	if (!p)
		return 0;
	while (*p == ' ' || *p == '\t' || *p == '#' || *p == '"' || *p == '\'')
		p++;
	if (p[0] >= '2' && p[0] <= '5' && isdigit(p[1]) && isdigit(p[2]) &&
	    (p[3] == '\0' || p[3] == ' ' || p[3] == '-' || p[3] == '\t'))
		return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	return 0;
}

/* Copy of a header value, trimmed and bounded; NULL when absent or empty. */
static char *header_copy(const char *v, size_t max, int *rc)
{
	const char *a = v, *b;
	char *s;
	if (!v)
		return NULL;
	while (*a && isspace((unsigned char)*a))
		a++;
	b = a + strnlen(a, max);
	while (b > a && isspace((unsigned char)b[-1]))
		b--;
	if (b == a)
		return NULL;
	if (!(s = mb_strndup(a, (size_t)(b - a))))
		*rc = MB_ENOMEM;
	return s;
}

/* ---- Building the result ------------------------------------------------------------------ */

static void recipient_clear(struct mb_dsn_recipient *r)
{
	free(r->final_recipient);
	free(r->original_recipient);
	free(r->action);
	free(r->status);
	free(r->diagnostic_type);
	free(r->diagnostic);
	free(r->remote_mta);
	memset(r, 0, sizeof *r);
}

void mb_dsn_free(struct mb_dsn *dsn)
{
	if (!dsn)
		return;
	for (size_t i = 0; i < dsn->n_recipients; i++)
		recipient_clear(&dsn->recipients[i]);
	free(dsn->recipients);
	free(dsn->envid);
	free(dsn->reporting_mta);
	free(dsn->original_message_id);
	free(dsn->delivered_to);
	free(dsn->message_id);
	free(dsn);
}

/* Collects the recipients of one delivery-status body. */
struct status_reader {
	char *envid, *reporting_mta;
	struct mb_dsn_recipient *list;
	size_t n, alloc;
	struct mb_dsn_recipient cur;
	size_t cur_group;
	bool truncated; /* a recipient past MB_MAX_DSN_RECIPIENTS was left out */
};

/* A whole mailbox address: a local part, '@', a domain. A source route
 * ("@relay.example:user@host") or a bare "@domain" is not one. */
static bool mailbox_complete(const char *a)
{
	const char *at = a ? strrchr(a, '@') : NULL;
	return at && at != a && a[0] != '@' && at[1] && strchr(at, '.') && !strchr(a, ':');
}

static int reader_push(struct status_reader *r)
{
	struct mb_dsn_recipient *cur = &r->cur;

	/* the original recipient when the final one is no whole address */
	if (!mailbox_complete(cur->final_recipient) && mailbox_complete(cur->original_recipient)) {
		free(cur->final_recipient);
		cur->final_recipient = NULL;
	}
	if (!cur->final_recipient && cur->original_recipient &&
	    !(cur->final_recipient = strdup(cur->original_recipient)))
		return MB_ENOMEM;
	if (!cur->final_recipient || r->n >= MB_MAX_DSN_RECIPIENTS) {
		r->truncated |= cur->final_recipient != NULL;
		recipient_clear(cur);
		return 0;
	}
	if (r->n == r->alloc) {
		size_t alloc = r->alloc ? r->alloc * 2 : 4;
		struct mb_dsn_recipient *list = realloc(r->list, alloc * sizeof *list);
		if (!list)
			return MB_ENOMEM;
		r->list = list;
		r->alloc = alloc;
	}
	r->list[r->n++] = *cur;
	memset(cur, 0, sizeof *cur);
	return 0;
}

static int reader_field(void *ctx, size_t group, const char *name, const char *value)
{
	struct status_reader *r = ctx;
	struct mb_dsn_recipient *cur = &r->cur;
	char type[33];
	int rc = 0;

	if (group != r->cur_group) {
		if ((rc = reader_push(r)))
			return rc;
		r->cur_group = group;
	}
	if (mb_str_ieq(name, "Original-Envelope-Id")) {
		if (!r->envid)
			r->envid = header_copy(value, MESSAGE_ID_MAX, &rc);
	} else if (mb_str_ieq(name, "Reporting-MTA")) {
		if (!r->reporting_mta)
			r->reporting_mta = untyped_value(value, type, sizeof type, 1024, &rc);
	} else if (mb_str_ieq(name, "Final-Recipient")) {
		/* no blank line between two recipients: a second Final-Recipient starts one */
		if (cur->final_recipient && (rc = reader_push(r)))
			return rc;
		cur->final_recipient = address_value(value, &rc);
	} else if (mb_str_ieq(name, "Original-Recipient")) {
		/* without blank lines, an Original-Recipient after a complete recipient starts
		 * the next one (Action may come before the addresses) */
		if ((cur->original_recipient ||
		     (cur->final_recipient && (cur->status || cur->diagnostic))) &&
		    (rc = reader_push(r)))
			return rc;
		cur->original_recipient = address_value(value, &rc);
	} else if (mb_str_ieq(name, "Action")) {
		if (!cur->action)
			cur->action = lower_value(value, &rc);
	} else if (mb_str_ieq(name, "Status")) {
		if (!cur->status)
			cur->status = status_value(value, &rc);
	} else if (mb_str_ieq(name, "Remote-MTA")) {
		if (!cur->remote_mta)
			cur->remote_mta = untyped_value(value, type, sizeof type, 1024, &rc);
	} else if (mb_str_ieq(name, "Diagnostic-Code")) {
		if (!cur->diagnostic && !cur->diagnostic_type) {
			cur->diagnostic =
			    untyped_value(value, type, sizeof type, MB_MAX_DIAGNOSTIC_BYTES, &rc);
			if (!rc && type[0] && !(cur->diagnostic_type = strdup(type)))
				rc = MB_ENOMEM;
			/* "x-unix; 255" is an exit status, not a reply */
			if (!type[0] || strstr(type, "smtp"))
				cur->reply_code = reply_code_of(cur->diagnostic);
		}
	}
	return rc;
}

static void reader_free(struct status_reader *r)
{
	for (size_t i = 0; i < r->n; i++)
		recipient_clear(&r->list[i]);
	free(r->list);
	recipient_clear(&r->cur);
	free(r->envid);
	free(r->reporting_mta);
	memset(r, 0, sizeof *r);
}

static int reader_run(struct status_reader *r, const char *text, size_t len)
{
	int rc = fields_read(text, len, reader_field, r);
	return rc ? rc : reader_push(r);
}

/* A recipient group that says what happened (a text/plain part that merely mentions an
 * address is not a delivery status). */
static bool reader_has_status(const struct status_reader *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->list[i].action || r->list[i].status)
			return true;
	return false;
}

static void reader_take(struct status_reader *r, struct mb_dsn *dsn)
{
	dsn->is_report = true;
	dsn->envid = r->envid;
	dsn->reporting_mta = r->reporting_mta;
	dsn->recipients = r->list;
	dsn->n_recipients = r->n;
	dsn->truncated = r->truncated;
	r->envid = r->reporting_mta = NULL;
	r->list = NULL;
	r->n = r->alloc = 0;
}

/* ---- SMTP stage from the notification text ------------------------------------------------ */

/* clang-format off */
/* Phrases MTAs write next to the reply, in the order they are tried (Postfix first). */
static const struct {
	const char *phrase;
	enum mb_stage stage;
} stage_phrases[] = {
	{"(in reply to end of DATA command)", MB_STAGE_DATA},
	{"(in reply to DATA command)", MB_STAGE_DATA},
	{"(in reply to BDAT command)", MB_STAGE_DATA},
	{"(in reply to RCPT TO command)", MB_STAGE_RCPT},
	{"(in reply to MAIL FROM command)", MB_STAGE_MAIL},
	{"(in reply to AUTH command)", MB_STAGE_AUTH},
	{"(in reply to EHLO command)", MB_STAGE_HELO},
	{"(in reply to HELO command)", MB_STAGE_HELO},
	{"(in reply to LHLO command)", MB_STAGE_HELO},
	{"(in reply to STARTTLS command)", MB_STAGE_HELO},
	{"refused to talk to me:", MB_STAGE_CONNECT},
	/* Exim */
	{"after end of data:", MB_STAGE_DATA},
	{"after RCPT TO:", MB_STAGE_RCPT},
	{"after MAIL FROM:", MB_STAGE_MAIL},
	{"after initial connection:", MB_STAGE_CONNECT},
	{"after EHLO ", MB_STAGE_HELO},
	{"after HELO ", MB_STAGE_HELO},
	/* Sendmail transcripts */
	{">>> RCPT To:", MB_STAGE_RCPT},
	{">>> MAIL From:", MB_STAGE_MAIL},
	{">>> DATA", MB_STAGE_DATA},
};
/* clang-format on */

/* Every phrase above contains one of these: a paragraph without any (most of them) is
 * passed over in one scan instead of one per phrase. key is the offset of a byte of the
 * anchor that memchr looks for (a rare one: 'f' rather than 'a' or 'r'). */
static const struct {
	const char *text;
	size_t key;
} stage_anchors[] = {{"(in reply to ", 0}, {"refused to talk", 2}, {"after ", 2}, {">>> ", 0}};

/* The anchor a starts at s (ASCII case folded, as mb_str_icontains does). */
static bool stage_anchor_at(const char *s, size_t room, const char *a)
{
	size_t i = 0;
	while (a[i] && i < room &&
	       (s[i] == a[i] || (s[i] >= 'A' && s[i] <= 'Z' && s[i] - 'A' + 'a' == a[i])))
		i++;
	return !a[i];
}

/* Whether anchor k starts in text at a place where its key byte is the byte b. */
static bool stage_anchor_keyed(const char *text, size_t len, size_t k, char b)
{
	const char *a = stage_anchors[k].text, *end = text + len;
	size_t key = stage_anchors[k].key;

	if (len <= key)
		return false;
	for (const char *p = text + key; p < end && (p = memchr(p, b, (size_t)(end - p))); p++)
		if (stage_anchor_at(p - key, (size_t)(end - (p - key)), a))
			return true;
	return false;
}

static bool stage_anchor_in(const char *text, size_t len)
{
	for (size_t k = 0; k < sizeof stage_anchors / sizeof stage_anchors[0]; k++) {
		char b = stage_anchors[k].text[stage_anchors[k].key];
		if (stage_anchor_keyed(text, len, k, b) ||
		    (b >= 'a' && b <= 'z' &&
		     stage_anchor_keyed(text, len, k, (char)(b - 'a' + 'A'))))
			return true;
	}
	return false;
}

/* Whether the text holds the first word of an anchor. A paragraph unfolded from the text
 * (lines joined at white space) can hold an anchor only then, as a word is not split over
 * lines: without one, no paragraph needs to be built. */
static bool stage_words_in(const char *text, size_t len)
{
	for (size_t k = 0; k < sizeof stage_anchors / sizeof stage_anchors[0]; k++) {
		char word[32];
		size_t n = strcspn(stage_anchors[k].text, " ");
		if (n >= sizeof word)
			return true;
		memcpy(word, stage_anchors[k].text, n);
		word[n] = '\0';
		if (mb_str_icontains(text, len, word))
			return true;
	}
	return false;
}

static enum mb_stage stage_in(const char *text, size_t len)
{
	if (!stage_anchor_in(text, len))
		return MB_STAGE_UNKNOWN;
	for (size_t i = 0; i < sizeof stage_phrases / sizeof stage_phrases[0]; i++)
		if (mb_str_icontains(text, len, stage_phrases[i].phrase))
			return stage_phrases[i].stage;
	return MB_STAGE_UNKNOWN;
}

struct paragraph {
	char *address; /* leading "<address>" of the paragraph, or NULL */
	enum mb_stage stage;
};

struct notice {
	struct paragraph *list;
	size_t n;
};

/* The address a paragraph starts with: "<a@b>: host ..." (Postfix) or "  a@b" (Exim). */
static char *leading_address(const char *s, size_t len)
{
	size_t i = 0, start, end;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i < len && s[i] == '<') {
		start = ++i;
		while (i < len && s[i] != '>' && s[i] != ' ')
			i++;
		if (i >= len || s[i] != '>')
			return NULL;
	} else {
		start = i;
		while (i < len && s[i] != ':' && s[i] != ' ' && s[i] != '\t')
			i++;
	}
	end = i;
	if (end == start || !memchr(s + start, '@', end - start) || end - start > 512)
		return NULL;
	return mb_strndup(s + start, end - start);
}

static int notice_add(struct notice *nt, struct mb_buf *para)
{
	enum mb_stage stage;
	struct paragraph *list;

	if (!para->len || nt->n >= NOTICE_MAX_PARAGRAPHS)
		return 0;
	stage = stage_in(para->data, para->len);
	if (stage == MB_STAGE_UNKNOWN)
		return 0;
	list = realloc(nt->list, (nt->n + 1) * sizeof *list);
	if (!list)
		return MB_ENOMEM;
	nt->list = list;
	list[nt->n].stage = stage;
	list[nt->n].address = leading_address(para->data, para->len);
	nt->n++;
	return 0;
}

/* Splits the notification into paragraphs, each unfolded into one line. */
static int notice_read(struct notice *nt, const char *s, size_t len)
{
	struct mb_buf para = MB_BUF_INIT;
	const char *p = s, *end = s + len;
	int rc = 0;

	para.cap = MB_MAX_LINE_BYTES;
	while (p < end && !rc) {
		size_t n, skip = 0;
		const char *next = line_next(p, end, &n);
		if (line_blank(p, n)) {
			rc = notice_add(nt, &para);
			mb_buf_reset(&para);
		} else {
			if (para.len) {
				while (skip < n && (p[skip] == ' ' || p[skip] == '\t'))
					skip++;
				rtrim_buf(&para);
				rc = append_bounded(&para, " ", 1);
			}
			if (!rc)
				rc = append_bounded(&para, p + skip, n - skip);
		}
		p = next;
	}
	if (!rc)
		rc = notice_add(nt, &para);
	mb_buf_free(&para);
	return rc;
}

static void notice_free(struct notice *nt)
{
	for (size_t i = 0; i < nt->n; i++)
		free(nt->list[i].address);
	free(nt->list);
}

/* The stage in the paragraph about this recipient; failing that, the one stage the whole
 * notification names, when it names only one. */
static enum mb_stage notice_stage(const struct notice *nt, const struct mb_dsn_recipient *r)
{
	enum mb_stage only = MB_STAGE_UNKNOWN;

	for (size_t i = 0; i < nt->n; i++) {
		const char *a = nt->list[i].address;
		if (a &&
		    (mb_str_ieq(a, r->final_recipient) || mb_str_ieq(a, r->original_recipient)))
			return nt->list[i].stage;
	}
	for (size_t i = 0; i < nt->n; i++) {
		if (only != MB_STAGE_UNKNOWN && nt->list[i].stage != only)
			return MB_STAGE_UNKNOWN;
		only = nt->list[i].stage;
	}
	return only;
}

/* ---- MIME structure ------------------------------------------------------------------------ */

/* Decoded by GMime's own copy through a decoding filter stream. */
static int content_filtered(GMimeDataWrapper *content, size_t max, struct mb_buf *out)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	GByteArray *bytes;
	int rc = 0;

	if (!mem)
		return MB_ENOMEM;
	if (g_mime_data_wrapper_write_to_stream(content, mem) >= 0) {
		bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
		if (bytes && bytes->len)
			rc = mb_buf_append(out, bytes->data, bytes->len > max ? max : bytes->len);
	}
	g_object_unref(mem);
	return rc;
}

int bounce_part_bytes(GMimePart *part, size_t max, struct mb_buf *out)
{
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	GMimeContentEncoding encoding;
	GMimeStream *stream;
	size_t start = out->len;
	int rc = 0;

	if (!content || !(stream = g_mime_data_wrapper_get_stream(content)))
		return 0;
	encoding = g_mime_data_wrapper_get_encoding(content);
	if (encoding == GMIME_CONTENT_ENCODING_BASE64 ||
	    encoding == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    encoding == GMIME_CONTENT_ENCODING_UUENCODE)
		return content_filtered(content, max, out);
	/* nothing to decode: the bytes as GMime's copy would give them, read where they are */
	if (g_mime_stream_reset(stream) == -1)
		return 0;
	while (!rc && out->len - start < max && !g_mime_stream_eos(stream)) {
		char chunk[4096];
		size_t room = max - (out->len - start);
		ssize_t n =
		    g_mime_stream_read(stream, chunk, room < sizeof chunk ? room : sizeof chunk);
		if (n < 0) { /* a failed copy gives nothing */
			out->len = start;
			if (out->data)
				out->data[start] = '\0';
			break;
		}
		if (n == 0)
			break;
		rc = mb_buf_append(out, chunk, (size_t)n);
	}
	g_mime_stream_reset(stream);
	return rc;
}

/* The decoded content of a leaf part, at most max bytes, NUL-terminated. */
static int part_bytes(GMimePart *part, size_t max, struct mb_buf *out)
{
	int rc = bounce_part_bytes(part, max, out);
	return rc ? rc : mb_buf_terminate(out);
}

/* Message-ID from a header block (text/rfc822-headers, message/global-headers). */
struct id_reader {
	char *id;
	int rc;
};

static int id_field(void *ctx, size_t group, const char *name, const char *value)
{
	struct id_reader *r = ctx;
	if (group > 0)
		return 1;
	if (!r->id && mb_str_ieq(name, "Message-ID"))
		r->id = header_copy(value, MESSAGE_ID_MAX, &r->rc);
	return r->rc ? r->rc : 0;
}

struct walk {
	GMimePart *status;                    /* message/(global-)delivery-status */
	GMimePart *texts[FALLBACK_MAX_PARTS]; /* text/plain leaves, first is the notification */
	size_t n_texts;
	size_t parts;
	char *returned_id;
	int rc;
};

static void walk_returned_headers(struct walk *w, GMimePart *part)
{
	struct mb_buf bytes = MB_BUF_INIT;
	struct id_reader r = {NULL, 0};

	if ((w->rc = part_bytes(part, MB_MAX_MESSAGE_BYTES, &bytes)))
		return;
	w->rc = fields_read(bytes.data, bytes.len, id_field, &r);
	if (!w->rc)
		w->rc = r.rc;
	mb_buf_free(&bytes);
	if (w->rc)
		free(r.id);
	else
		w->returned_id = r.id;
}

/* Visits the report's parts, bounded in depth and count; returned messages are not entered
 * (a bounce of a bounce reports on the outer message only). */
static void walk(struct walk *w, GMimeObject *obj, int depth)
{
	GMimeContentType *ct;

	if (!obj || w->rc || depth > MB_MAX_MIME_DEPTH || ++w->parts > MB_MAX_MIME_PARTS)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);
		for (int i = 0; i < n && !w->rc; i++)
			walk(w, g_mime_multipart_get_part(mp, i), depth + 1);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (m && !w->returned_id)
			w->returned_id =
			    header_copy(g_mime_object_get_header(GMIME_OBJECT(m), "Message-ID"),
			                MESSAGE_ID_MAX, &w->rc);
		return;
	}
	if (!GMIME_IS_PART(obj) || !(ct = g_mime_object_get_content_type(obj)))
		return;
	if (g_mime_content_type_is_type(ct, "message", "delivery-status") ||
	    g_mime_content_type_is_type(ct, "message", "global-delivery-status")) {
		if (!w->status)
			w->status = GMIME_PART(obj);
	} else if (g_mime_content_type_is_type(ct, "text", "rfc822-headers") ||
	           g_mime_content_type_is_type(ct, "message", "global-headers") ||
	           g_mime_content_type_is_type(ct, "message", "rfc822") ||
	           g_mime_content_type_is_type(ct, "message", "global")) {
		if (!w->returned_id)
			walk_returned_headers(w, GMIME_PART(obj));
	} else if (g_mime_content_type_is_type(ct, "text", "plain")) {
		if (w->n_texts < FALLBACK_MAX_PARTS)
			w->texts[w->n_texts++] = GMIME_PART(obj);
	}
}

/* Reads the delivery status from the status part, or else from a text/plain part that holds
 * recipient field groups (some MTAs label it so). */
static int read_status(struct walk *w, struct mb_dsn *dsn)
{
	struct mb_buf bytes = MB_BUF_INIT;
	int rc = 0;

	if (w->status) {
		struct status_reader r = {0};
		if (!(rc = part_bytes(w->status, MB_MAX_MESSAGE_BYTES, &bytes)) &&
		    !(rc = reader_run(&r, bytes.data, bytes.len)))
			reader_take(&r, dsn);
		reader_free(&r);
		mb_buf_free(&bytes);
		return rc;
	}
	for (size_t i = 0; i < w->n_texts && !rc && !dsn->is_report; i++) {
		struct status_reader r = {0};
		mb_buf_reset(&bytes);
		if (!(rc = part_bytes(w->texts[i], MB_MAX_MESSAGE_BYTES, &bytes)) &&
		    mb_str_icontains(bytes.data, bytes.len, "Final-Recipient:") &&
		    !(rc = reader_run(&r, bytes.data, bytes.len)) && reader_has_status(&r))
			reader_take(&r, dsn);
		reader_free(&r);
	}
	mb_buf_free(&bytes);
	return rc;
}

/* The message body after its header, for reports whose MIME structure is broken. */
static const char *body_of(const char *data, size_t len, size_t *body_len)
{
	const char *p = data, *end = data + len;
	while (p < end) {
		size_t n;
		const char *next = line_next(p, end, &n);
		if (n == 0) {
			*body_len = (size_t)(end - next);
			return next;
		}
		p = next;
	}
	*body_len = 0;
	return end;
}

/* A multipart/report whose boundaries never appear (truncated or hand-made): the field
 * groups are read from the raw body. */
static int read_status_raw(const char *data, size_t len, struct mb_dsn *dsn)
{
	struct status_reader r = {0};
	size_t body_len;
	const char *body = body_of(data, len, &body_len);
	int rc = reader_run(&r, body, body_len);
	if (!rc && reader_has_status(&r))
		reader_take(&r, dsn);
	reader_free(&r);
	return rc;
}

static bool is_report_type(GMimeObject *obj)
{
	GMimeContentType *ct = obj ? g_mime_object_get_content_type(obj) : NULL;
	return ct && g_mime_content_type_is_type(ct, "multipart", "report");
}

static int read_stages(struct walk *w, const char *data, size_t len, struct mb_dsn *dsn)
{
	struct mb_buf bytes = MB_BUF_INIT;
	struct notice nt = {NULL, 0};
	int rc = 0;

	if (!dsn->n_recipients)
		return 0;
	if (w->n_texts) {
		rc = part_bytes(w->texts[0], NOTICE_MAX_BYTES, &bytes);
	} else {
		size_t body_len;
		const char *body = body_of(data, len, &body_len);
		rc = mb_buf_append(&bytes, body,
		                   body_len > NOTICE_MAX_BYTES ? NOTICE_MAX_BYTES : body_len);
	}
	if (!rc && bytes.data && stage_words_in(bytes.data, bytes.len))
		rc = notice_read(&nt, bytes.data, bytes.len);
	for (size_t i = 0; !rc && i < dsn->n_recipients; i++)
		dsn->recipients[i].stage = notice_stage(&nt, &dsn->recipients[i]);
	notice_free(&nt);
	mb_buf_free(&bytes);
	return rc;
}

/* The address in a header value: the one in angle brackets, else the first list item. */
static char *address_in_header(const char *v, int *rc)
{
	const char *a, *b;
	char *s;

	if (!v)
		return NULL;
	if ((a = strchr(v, '<')) && (b = strchr(a, '>'))) {
		a++;
	} else {
		a = v;
		b = strchr(v, ',');
		if (!b)
			b = v + strlen(v);
	}
	while (a < b && isspace((unsigned char)*a))
		a++;
	while (b > a && isspace((unsigned char)b[-1]))
		b--;
	if (b == a || b - a > 512)
		return NULL;
	if (!(s = mb_strndup(a, (size_t)(b - a))))
		*rc = MB_ENOMEM;
	return s;
}

static int read_headers(GMimeMessage *m, struct mb_dsn *dsn)
{
	static const char *const delivered[] = {"Delivered-To", "X-Original-To", "To"};
	GMimeObject *obj = GMIME_OBJECT(m);
	int rc = 0;

	for (size_t i = 0; i < 3 && !dsn->delivered_to && !rc; i++)
		dsn->delivered_to =
		    address_in_header(g_mime_object_get_header(obj, delivered[i]), &rc);
	if (!rc)
		dsn->message_id =
		    header_copy(g_mime_object_get_header(obj, "Message-ID"), MESSAGE_ID_MAX, &rc);
	return rc;
}

/* A stream that reads data where it is, without the copy g_mime_stream_mem_new_with_buffer
 * makes: *bytes borrows data (see dsn_bytes_release). */
static GMimeStream *stream_borrowing(const char *data, size_t len, GByteArray **bytes)
{
	GMimeStream *stream;

	*bytes = g_byte_array_new_take((guint8 *)(uintptr_t)data, len);
	stream = g_mime_stream_mem_new_with_byte_array(*bytes);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	return stream;
}

void dsn_bytes_release(GByteArray *bytes)
{
	/* the bytes are the caller's: only the array that lent them to GMime goes */
	guint8 *borrowed = bytes ? g_byte_array_free(bytes, FALSE) : NULL;
	(void)borrowed;
}

int dsn_parse_message(const char *data, size_t len, struct mb_dsn **out, GMimeMessage **message,
                      GByteArray **bytes, struct mb_err *err)
{
	struct walk w = {0};
	struct mb_dsn *dsn;
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *m;
	int rc;

	*out = NULL;
	*message = NULL;
	*bytes = NULL;
	if (!data || len == 0)
		return mb_err_set(err, MB_EDATA, "bounce: empty message");
	if (len > MB_MAX_MESSAGE_BYTES)
		return mb_err_set(err, MB_EDATA, "bounce: %zu bytes, over the limit of %u", len,
		                  MB_MAX_MESSAGE_BYTES);
	mb_gmime_init();
	if (!(dsn = calloc(1, sizeof *dsn)))
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	stream = stream_borrowing(data, len, bytes);
	parser = g_mime_parser_new_with_stream(stream);
	m = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	if (!m) {
		dsn_bytes_release(*bytes);
		*bytes = NULL;
		mb_dsn_free(dsn);
		return mb_err_set(err, MB_EDATA, "bounce: not a message");
	}
	walk(&w, g_mime_message_get_mime_part(m), 0);
	rc = w.rc;
	if (!rc)
		rc = read_status(&w, dsn);
	if (!rc && !dsn->is_report && !w.status && is_report_type(g_mime_message_get_mime_part(m)))
		rc = read_status_raw(data, len, dsn);
	if (!rc && dsn->is_report)
		rc = read_stages(&w, data, len, dsn);
	if (!rc)
		rc = read_headers(m, dsn);
	if (!rc && dsn->is_report) {
		dsn->original_message_id = w.returned_id;
		w.returned_id = NULL;
	}
	free(w.returned_id);
	if (rc) {
		g_object_unref(m);
		dsn_bytes_release(*bytes);
		*bytes = NULL;
		mb_dsn_free(dsn);
		return mb_err_set(err, rc, "bounce: out of memory");
	}
	*out = dsn;
	*message = m;
	return 0;
}

int mb_dsn_parse(const char *data, size_t len, struct mb_dsn **out, struct mb_err *err)
{
	GMimeMessage *m;
	GByteArray *bytes;
	int rc = dsn_parse_message(data, len, out, &m, &bytes, err);
	if (!rc) {
		g_object_unref(m);
		dsn_bytes_release(bytes);
	}
	return rc;
}

/* ---- Matching a report to a send ----------------------------------------------------------- */

/* "<Local@Domain>" and "local@domain" name the same message when local parts are equal and
 * domains equal ignoring case. */
static void id_span(const char *s, const char **a, const char **b)
{
	*a = s;
	*b = s + strlen(s);
	while (*a < *b && (isspace((unsigned char)**a) || **a == '<'))
		(*a)++;
	while (*b > *a && (isspace((unsigned char)(*b)[-1]) || (*b)[-1] == '>'))
		(*b)--;
}

static bool message_id_equal(const char *x, const char *y)
{
	const char *xa, *xb, *ya, *yb, *xat, *yat;
	size_t local;

	if (!x || !y)
		return false;
	id_span(x, &xa, &xb);
	id_span(y, &ya, &yb);
	if (xa == xb || xb - xa != yb - ya)
		return false;
	xat = xb;
	while (xat > xa && xat[-1] != '@')
		xat--;
	yat = yb;
	while (yat > ya && yat[-1] != '@')
		yat--;
	local = (size_t)(xat - xa);
	if (local != (size_t)(yat - ya) || memcmp(xa, ya, local) != 0)
		return false;
	return strncasecmp(xat, yat, (size_t)(xb - xat)) == 0;
}

/* ENVID as sent (xtext, RFC 3461) or as some MTAs return it (decoded). */
static bool envid_equal(const char *returned, const char *sent)
{
	const char *p = returned, *q = sent;
	if (!returned || !sent || !*returned || !*sent)
		return false;
	if (strcmp(returned, sent) == 0)
		return true;
	while (*p && *q) {
		if (p[0] == '+' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
			char hex[3] = {p[1], p[2], 0};
			if ((char)strtol(hex, NULL, 16) != *q)
				return false;
			p += 3;
		} else if (*p++ != *q) {
			return false;
		}
		q++;
	}
	return !*p && !*q;
}

long mb_dsn_match(const struct mb_dsn *dsn, const struct mb_dsn_key *keys, size_t n_keys,
                  enum mb_dsn_match_by *by)
{
	if (by)
		*by = MB_DSN_MATCH_NONE;
	if (!dsn || !keys)
		return -1;
	for (size_t i = 0; dsn->envid && i < n_keys; i++)
		if (envid_equal(dsn->envid, keys[i].envid)) {
			if (by)
				*by = MB_DSN_MATCH_ENVID;
			return (long)i;
		}
	for (size_t i = 0; dsn->original_message_id && i < n_keys; i++)
		if (message_id_equal(dsn->original_message_id, keys[i].message_id)) {
			if (by)
				*by = MB_DSN_MATCH_MESSAGE_ID;
			return (long)i;
		}
	for (size_t i = 0; dsn->delivered_to && *dsn->delivered_to && i < n_keys; i++)
		if (mb_str_ieq(dsn->delivered_to, keys[i].verp_address)) {
			if (by)
				*by = MB_DSN_MATCH_VERP;
			return (long)i;
		}
	return -1;
}

const char *mb_dsn_match_by_name(enum mb_dsn_match_by by)
{
	static const char *const names[] = {
	    [MB_DSN_MATCH_NONE] = "none",
	    [MB_DSN_MATCH_ENVID] = "envid",
	    [MB_DSN_MATCH_MESSAGE_ID] = "message-id",
	    [MB_DSN_MATCH_VERP] = "verp",
	};
	return (unsigned)by < sizeof names / sizeof names[0] ? names[by] : "none";
}
