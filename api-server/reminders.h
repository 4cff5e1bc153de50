/* reminders: hands the api-server's REMINDER_LEAD_MINUTES to the database, where the reminder schedule
 * lives (sql/0024_reminders.sql: the triggers plan each confirmed appointment's reminders from the one
 * row of reminder_settings, and the senders' claim releases them when due). */
#ifndef CLINIC_REMINDERS_H
#define CLINIC_REMINDERS_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "app.h"

/* Writes cfg's leads into reminder_settings (reminder_leads_set: when they differ from the stored ones,
 * every upcoming confirmed appointment is planned again). Logs a change; false (logged) on failure. */
bool reminders_publish(PGconn *conn, const struct app_config *cfg);

#endif
