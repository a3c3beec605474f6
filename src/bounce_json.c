/* The bounce reader's JSON side: Amazon SES event notifications (Bounce, Complaint, Delivery),
 * as sent to an SNS e-mail subscription, with or without the SNS envelope. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mailbisect/limits.h"
#include "mailbisect/str.h"
#include "bounce_internal.h"

/* Nesting allowed for the SNS envelope around the SES event. */
#define JSON_MAX_WRAP 2

static const char *string_of(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* "smtp; 550 5.1.1 user unknown" -> "550 5.1.1 user unknown". */
static const char *untyped(const char *s)
{
	const char *semi = s ? strchr(s, ';') : NULL;
	if (!semi || semi - s > 16)
		return s;
	for (semi++; *semi == ' '; semi++)
		;
	return semi;
}

static int reply_code_of(const char *s)
{
	if (!s || !(s[0] >= '2' && s[0] <= '5') || !isdigit((unsigned char)s[1]) ||
	    !isdigit((unsigned char)s[2]) || (s[3] != ' ' && s[3] != '-' && s[3] != '\0'))
		return 0;
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

/* "250 2.6.0 Message received" -> "2.6.0", or NULL. */
static char *status_after_code(const char *s)
{
	size_t n = 0;
	if (!reply_code_of(s))
		return NULL;
	s += 4;
	while (s[n] && (isdigit((unsigned char)s[n]) || s[n] == '.') && n < 12)
		n++;
	return n >= 5 && s[1] == '.' ? mb_strndup(s, n) : NULL;
}

/* A record for address in *out; *out stays NULL for an empty address and past the limit of
 * recipients read (the rest are left out, as a report's are). */
static int add(struct mb_bounce *b, const char *address, struct mb_bounce_record **out)
{
	struct mb_bounce_record *r;
	if (!address || !*address)
		return 0;
	if (!(r = bounce_record_add(b)))
		return b->truncated ? 0 : MB_ENOMEM;
	if (!(r->recipient = mb_strdup(address)))
		return MB_ENOMEM;
	*out = r;
	return 0;
}

static int read_bounce(const cJSON *event, struct mb_bounce *b)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(event, "bouncedRecipients"), *item;
	int rc = 0;

	cJSON_ArrayForEach(item, list)
	{
		struct mb_bounce_record *r = NULL;
		const char *diagnostic = untyped(string_of(item, "diagnosticCode"));
		const char *action = string_of(item, "action"), *status = string_of(item, "status");
		if ((rc = add(b, string_of(item, "emailAddress"), &r)))
			break;
		if (!r)
			continue;
		r->action = mb_strdup(action);
		r->status = mb_strdup(status);
		r->diagnostic = mb_strdup(diagnostic);
		r->reply_code = reply_code_of(diagnostic);
		if ((!r->diagnostic && diagnostic) || (!r->action && action) ||
		    (!r->status && status)) {
			rc = MB_ENOMEM;
			break;
		}
	}
	b->kind = MB_BOUNCE_DSN;
	return rc;
}

static int read_complaint(const cJSON *event, struct mb_bounce *b)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(event, "complainedRecipients"), *item;
	const char *type = string_of(event, "complaintFeedbackType");
	int rc = 0;

	cJSON_ArrayForEach(item, list)
	{
		struct mb_bounce_record *r = NULL;
		if ((rc = add(b, string_of(item, "emailAddress"), &r)))
			break;
		if (r && type && !(r->feedback_type = mb_strdup(type))) {
			rc = MB_ENOMEM;
			break;
		}
	}
	b->kind = MB_BOUNCE_FEEDBACK;
	return rc;
}

static int read_delivery(const cJSON *event, struct mb_bounce *b)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(event, "recipients"), *item;
	const char *response = string_of(event, "smtpResponse");
	int rc = 0;

	cJSON_ArrayForEach(item, list)
	{
		struct mb_bounce_record *r = NULL;
		if (!cJSON_IsString(item))
			continue;
		if ((rc = add(b, item->valuestring, &r)))
			break;
		if (!r)
			continue;
		r->action = mb_strdup("delivered");
		r->reply_code = reply_code_of(response);
		r->status = status_after_code(response);
		r->diagnostic = mb_strdup(response);
		if (!r->action || (!r->diagnostic && response)) {
			rc = MB_ENOMEM; /* a status that cannot be copied is left out */
			break;
		}
	}
	b->kind = MB_BOUNCE_DSN;
	return rc;
}

static int read_event(const cJSON *root, struct mb_bounce *b, int depth)
{
	const char *type = string_of(root, "notificationType");
	const char *wrapped = string_of(root, "Message");
	const cJSON *mail = cJSON_GetObjectItemCaseSensitive(root, "mail");
	const char *id = mail ? string_of(mail, "messageId") : NULL;
	int rc = 0;

	if (!type && wrapped && depth < JSON_MAX_WRAP) { /* SNS envelope */
		cJSON *inner = cJSON_Parse(wrapped);
		if (inner)
			rc = read_event(inner, b, depth + 1);
		cJSON_Delete(inner);
		return rc;
	}
	if (!type)
		return 0;
	if (strcmp(type, "Bounce") == 0)
		rc = read_bounce(cJSON_GetObjectItemCaseSensitive(root, "bounce"), b);
	else if (strcmp(type, "Complaint") == 0)
		rc = read_complaint(cJSON_GetObjectItemCaseSensitive(root, "complaint"), b);
	else if (strcmp(type, "Delivery") == 0)
		rc = read_delivery(cJSON_GetObjectItemCaseSensitive(root, "delivery"), b);
	if (!b->n_records)
		b->kind = MB_BOUNCE_NONE;
	else
		b->provider = "amazonses";
	if (!rc && id && !b->original_message_id && !(b->original_message_id = mb_strdup(id)))
		rc = MB_ENOMEM;
	return rc;
}

int bounce_read_json(const char *text, size_t len, struct mb_bounce *b)
{
	const char *end = NULL;
	cJSON *root;
	int rc;

	while (len && isspace((unsigned char)*text))
		text++, len--;
	if (!len || *text != '{')
		return 0;
	if (!(root = cJSON_ParseWithLengthOpts(text, len, &end, 0)))
		return 0;
	rc = read_event(root, b, 0);
	cJSON_Delete(root);
	return rc;
}
