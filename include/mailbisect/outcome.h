/* The normalised outcome of one send, whatever source reported it (SMTP reply, DSN, ESP
 * event), and the vocabularies for states, SMTP stages, reasons and fault categories. */
#ifndef MAILBISECT_OUTCOME_H
#define MAILBISECT_OUTCOME_H

#include <stdbool.h>
#include <time.h>

enum mb_state {
	MB_STATE_PENDING = 0,    /* journaled, not yet resolved */
	MB_STATE_DELIVERED,      /* receiver confirmed delivery (success DSN, seed mailbox) */
	MB_STATE_ACCEPTED,       /* relay took it, no bounce before the window closed */
	MB_STATE_BOUNCED,        /* receiver refused it (5xx) */
	MB_STATE_DEFERRED,       /* 4xx, still retrying at window end */
	MB_STATE_SUBMIT_REFUSED, /* our own relay/ESP refused it (auth, sender) */
	MB_STATE_SUPPRESSED,     /* the ESP never tried (suppression list) */
	MB_STATE_ERROR,          /* connect / TLS / timeout / protocol failure on our side */
	MB_STATE_COUNT
};

enum mb_stage {
	MB_STAGE_UNKNOWN = 0,
	MB_STAGE_CONNECT,
	MB_STAGE_HELO,
	MB_STAGE_AUTH,
	MB_STAGE_MAIL,
	MB_STAGE_RCPT,
	MB_STAGE_DATA,
	MB_STAGE_COUNT
};

/* Fault category of one classified reply (evidence, not the verdict). */
enum mb_fault {
	MB_FAULT_UNKNOWN = 0,
	MB_FAULT_IP,
	MB_FAULT_DOMAIN,
	MB_FAULT_CONTENT,
	MB_FAULT_RECIPIENT,
	MB_FAULT_TRANSIENT,
	MB_FAULT_SENDER_SIDE,
	MB_FAULT_COUNT
};

/* Where an outcome record came from. */
enum mb_source {
	MB_SOURCE_NONE = 0,
	MB_SOURCE_SMTP,   /* synchronous reply of the relay we talked to */
	MB_SOURCE_DSN,    /* a delivery status notification in the bounce mailbox */
	MB_SOURCE_WINDOW, /* nothing arrived before the window closed */
	MB_SOURCE_COUNT
};

const char *mb_state_name(enum mb_state s);
int mb_state_from_name(const char *name, enum mb_state *out); /* 0 or -1 */
const char *mb_stage_name(enum mb_stage s);
int mb_stage_from_name(const char *name, enum mb_stage *out);
const char *mb_fault_name(enum mb_fault f);
int mb_fault_from_name(const char *name, enum mb_fault *out);
const char *mb_source_name(enum mb_source s);

/* True for states that are final (anything but pending and deferred). */
bool mb_state_is_final(enum mb_state s);

#endif
