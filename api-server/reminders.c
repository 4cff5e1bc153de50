/* reminders: see reminders.h. */
#include "reminders.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"

bool reminders_publish(PGconn *conn, const struct app_config *cfg)
{
    char leads[REMINDER_MAX_LEADS * 8 + 3];
    size_t len = (size_t)snprintf(leads, sizeof leads, "{");
    for (int i = 0; i < cfg->reminder_lead_count && len < sizeof leads; i++)
        len += (size_t)snprintf(leads + len, sizeof leads - len, "%s%ld", i ? "," : "", cfg->reminder_leads[i]);
    if (len < sizeof leads)
        snprintf(leads + len, sizeof leads - len, "}");
    const char *p[] = {leads};
    PGresult *r = db_exec(conn, "SELECT reminder_leads_set($1::integer[])", 1, p);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        log_error("cannot store REMINDER_LEAD_MINUTES in the database: %s", PQerrorMessage(conn));
    else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
        log_info("reminders: leads are now %s minutes; upcoming appointments planned again", leads);
    PQclear(r);
    return ok;
}
