/* The table of transports, picked by the pool's "transport" name: adding a way of submitting
 * mail is adding a file with its mb_transport_ops and a row here. */
#include "mailbisect/transport.h"

#include <stdlib.h>
#include <string.h>

/* Defined in src/smtp.c. */
extern const struct mb_transport_ops mb_smtp_transport;

static const struct mb_transport_ops *const transports[] = {
    &mb_smtp_transport,
};

/* Same order as transports[]; a unit test keeps the two in agreement. */
static const char *const transport_names[] = {
    "smtp",
    NULL,
};

const struct mb_transport_ops *mb_transport_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++)
		if (strcmp(transports[i]->name, name) == 0)
			return transports[i];
	return NULL;
}

const char *const *mb_transport_names(void)
{
	return transport_names;
}

void mb_send_result_clear(struct mb_send_result *res)
{
	if (!res)
		return;
	free(res->text);
	free(res->relay);
	free(res->queue_id);
	memset(res, 0, sizeof *res);
}
