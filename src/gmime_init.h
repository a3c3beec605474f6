/* GMime's one-time global set-up, shared by the modules that use GMime (message, variant,
 * DSN and bounce reading). Private to src/: GMime never appears in public headers. */
#ifndef MAILBISECT_GMIME_INIT_H
#define MAILBISECT_GMIME_INIT_H

/* Calls g_mime_init() once per process, whichever module comes first; safe from any thread. */
void mb_gmime_init(void);

#endif
