/* Lines of `mailbisect classify`: aligned text for people, JSON Lines for scripts. Every JSON
 * line has the same keys (null when the bounce does not say), so scripts need no guessing. */
#include "mailbisect/classify_report.h"
#include "mailbisect/buf.h"
#include "mailbisect/str.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s, 0 when it is not one (overlong forms, surrogates
 * and code points over U+10FFFF included). */
static size_t utf8_valid_len(const unsigned char *s, size_t len)
{
	size_t n;
	unsigned long cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2, cp = s[0] & 0x1Fu;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3, cp = s[0] & 0x0Fu;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3Fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* A copy that JSON can carry: bytes that are not UTF-8 become U+FFFD, the rest is kept. */
static int utf8_copy(struct mb_buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0;
	int rc = 0;

	mb_buf_reset(out);
	while (i < len && !rc) {
		size_t n = utf8_valid_len(p + i, len - i);
		rc = n ? mb_buf_append(out, p + i, n) : mb_buf_puts(out, "\xEF\xBF\xBD");
		i += n ? n : 1;
	}
	return rc ? rc : mb_buf_terminate(out);
}

/* Adds a string (made valid UTF-8) or null. */
static int add_text(cJSON *obj, const char *key, const char *value)
{
	struct mb_buf copy = MB_BUF_INIT;
	cJSON *item;

	if (!value)
		return cJSON_AddNullToObject(obj, key) ? 0 : MB_ENOMEM;
	if (utf8_copy(&copy, value))
		return MB_ENOMEM;
	item = cJSON_AddStringToObject(obj, key, copy.data);
	mb_buf_free(&copy);
	return item ? 0 : MB_ENOMEM;
}

static int add_code(cJSON *obj, const char *key, int code)
{
	cJSON *item =
	    code > 0 ? cJSON_AddNumberToObject(obj, key, code) : cJSON_AddNullToObject(obj, key);
	return item ? 0 : MB_ENOMEM;
}

static int print_json_line(FILE *out, cJSON *obj, struct mb_err *err)
{
	char *text = cJSON_PrintUnformatted(obj);
	int rc = 0;

	if (!text)
		return mb_err_set(err, MB_ENOMEM, "out of memory");
	if (fputs(text, out) == EOF || fputc('\n', out) == EOF)
		rc = mb_err_set(err, MB_EIO, "cannot write to standard output");
	free(text);
	return rc;
}

static cJSON *record_json(const struct mb_classify_origin *origin, const struct mb_bounce *b,
                          size_t i)
{
	const struct mb_bounce_record *r = &b->records[i];
	cJSON *o = cJSON_CreateObject();
	int rc;

	if (!o)
		return NULL;
	rc = add_text(o, "file", origin->file);
	if (!rc && !cJSON_AddNumberToObject(o, "message", (double)origin->message))
		rc = MB_ENOMEM;
	if (!rc && !cJSON_AddNumberToObject(o, "index", (double)(i + 1)))
		rc = MB_ENOMEM;
	if (!rc)
		rc = add_text(o, "kind", mb_bounce_kind_name(b->kind));
	if (!rc)
		rc = add_text(o, "recipient", r->recipient);
	if (!rc)
		rc = add_text(o, "action", r->action);
	if (!rc)
		rc = add_text(o, "status", r->status);
	if (!rc)
		rc = add_code(o, "replycode", r->reply_code);
	if (!rc)
		rc = add_text(o, "diagnostic", r->diagnostic);
	if (!rc)
		rc = add_text(o, "diagnostic_type", r->diagnostic_type);
	if (!rc)
		rc = add_text(o, "remote_mta", r->remote_mta);
	if (!rc)
		rc = add_text(o, "stage", mb_stage_name(r->stage));
	if (!rc)
		rc = add_text(o, "reason", r->cls.reason);
	if (!rc)
		rc = add_text(o, "fault", mb_fault_name(r->cls.fault));
	if (!rc && !cJSON_AddBoolToObject(o, "hard", r->cls.hard))
		rc = MB_ENOMEM;
	if (!rc)
		rc = add_text(o, "feedback_type", r->feedback_type);
	if (!rc)
		rc = add_text(o, "provider", b->provider);
	if (!rc)
		rc = add_text(o, "envid", b->envid);
	if (!rc)
		rc = add_text(o, "original_message_id", b->original_message_id);
	if (rc) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Appends a printable copy of untrusted text, "-" when there is none. */
static int put_field(struct mb_buf *line, const char *value, int width)
{
	size_t start = line->len;
	int rc = value && *value ? mb_str_printable(line, value, strlen(value), false)
	                         : mb_buf_putc(line, '-');
	while (!rc && line->len - start < (size_t)width)
		rc = mb_buf_putc(line, ' ');
	return rc ? rc : mb_buf_putc(line, ' ');
}

/* FILE[#N] INDEX RECIPIENT KIND ACTION STATUS CODE STAGE REASON FAULT hard|soft DIAGNOSTIC */
static int record_text(struct mb_buf *line, const struct mb_classify_origin *origin,
                       const struct mb_bounce *b, size_t i)
{
	const struct mb_bounce_record *r = &b->records[i];
	char code[16] = "-", index[24];
	int rc;

	mb_buf_reset(line);
	if (r->reply_code > 0)
		snprintf(code, sizeof code, "%d", r->reply_code);
	snprintf(index, sizeof index, "%zu", i + 1);
	rc = mb_str_printable(line, origin->file, strlen(origin->file), false);
	if (!rc && origin->in_mbox)
		rc = mb_buf_printf(line, "#%zu", origin->message);
	while (!rc && line->len < 30)
		rc = mb_buf_putc(line, ' ');
	if (!rc)
		rc = mb_buf_putc(line, ' ');
	if (!rc)
		rc = put_field(line, index, 2);
	if (!rc)
		rc = put_field(line, r->recipient, 30);
	if (!rc)
		rc = put_field(line, mb_bounce_kind_name(b->kind), 9);
	if (!rc)
		rc = put_field(line, r->action, 9);
	if (!rc)
		rc = put_field(line, r->status, 7);
	if (!rc)
		rc = put_field(line, code, 3);
	if (!rc)
		rc = put_field(line, mb_stage_name(r->stage), 7);
	if (!rc)
		rc = put_field(line, r->cls.reason, 16);
	if (!rc)
		rc = put_field(line, mb_fault_name(r->cls.fault), 11);
	if (!rc)
		rc = put_field(line, r->cls.hard ? "hard" : "soft", 4);
	if (!rc && r->feedback_type)
		rc = mb_buf_puts(line, "feedback-type=");
	if (!rc && r->feedback_type)
		rc = put_field(line, r->feedback_type, 0);
	if (!rc && r->diagnostic)
		rc = mb_str_printable(line, r->diagnostic, strlen(r->diagnostic), false);
	while (!rc && line->len && line->data[line->len - 1] == ' ')
		line->data[--line->len] = '\0';
	return rc ? rc : mb_buf_putc(line, '\n');
}

int mb_classify_report_bounce(FILE *out, bool json, const struct mb_classify_origin *origin,
                              const struct mb_bounce *b, struct mb_err *err)
{
	struct mb_buf line = MB_BUF_INIT;
	int rc = 0;

	for (size_t i = 0; i < b->n_records && !rc; i++) {
		if (json) {
			cJSON *o = record_json(origin, b, i);
			rc = o ? print_json_line(out, o, err)
			       : mb_err_set(err, MB_ENOMEM, "out of memory");
			cJSON_Delete(o);
		} else if (record_text(&line, origin, b, i)) {
			rc = mb_err_set(err, MB_ENOMEM, "out of memory");
		} else if (fwrite(line.data, 1, line.len, out) != line.len) {
			rc = mb_err_set(err, MB_EIO, "cannot write to standard output");
		}
	}
	mb_buf_free(&line);
	return rc;
}

static int reply_json(FILE *out, const struct mb_classify_reply *reply, struct mb_err *err)
{
	cJSON *o = cJSON_CreateObject();
	int rc = o ? add_text(o, "reply", reply->text) : MB_ENOMEM;

	if (!rc)
		rc = add_text(o, "stage", mb_stage_name(reply->stage));
	if (!rc)
		rc = add_code(o, "replycode", reply->code);
	if (!rc)
		rc = add_text(o, "status", reply->status);
	if (!rc)
		rc = add_text(o, "reason", reply->cls->reason);
	if (!rc)
		rc = add_text(o, "fault", mb_fault_name(reply->cls->fault));
	if (!rc && !cJSON_AddBoolToObject(o, "hard", reply->cls->hard))
		rc = MB_ENOMEM;
	rc = rc ? mb_err_set(err, MB_ENOMEM, "out of memory") : print_json_line(out, o, err);
	cJSON_Delete(o);
	return rc;
}

/* REASON FAULT hard|soft STAGE CODE STATUS REPLY */
static int reply_text(FILE *out, const struct mb_classify_reply *reply, struct mb_err *err)
{
	struct mb_buf line = MB_BUF_INIT;
	char code[16] = "-";
	int rc;

	if (reply->code > 0)
		snprintf(code, sizeof code, "%d", reply->code);
	rc = put_field(&line, reply->cls->reason, 16);
	if (!rc)
		rc = put_field(&line, mb_fault_name(reply->cls->fault), 11);
	if (!rc)
		rc = put_field(&line, reply->cls->hard ? "hard" : "soft", 4);
	if (!rc)
		rc = put_field(&line, mb_stage_name(reply->stage), 7);
	if (!rc)
		rc = put_field(&line, code, 3);
	if (!rc)
		rc = put_field(&line, reply->status, 7);
	if (!rc)
		rc = mb_str_printable(&line, reply->text, strlen(reply->text), false);
	if (!rc)
		rc = mb_buf_putc(&line, '\n');
	if (rc)
		rc = mb_err_set(err, MB_ENOMEM, "out of memory");
	else if (fwrite(line.data, 1, line.len, out) != line.len)
		rc = mb_err_set(err, MB_EIO, "cannot write to standard output");
	mb_buf_free(&line);
	return rc;
}

int mb_classify_report_reply(FILE *out, bool json, const struct mb_classify_reply *reply,
                             struct mb_err *err)
{
	return json ? reply_json(out, reply, err) : reply_text(out, reply, err);
}
