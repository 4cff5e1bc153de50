/* log: see log.h. The level is a process-wide atomic so it may be read from any thread. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <yder.h>

static atomic_int current_level = LOG_INFO;
static const char *const level_names[] = {"error", "warning", "info", "debug"};

int log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void log_set_level(enum log_level level) { atomic_store(&current_level, (int)level); }

int log_enabled(enum log_level level) { return (int)level <= atomic_load(&current_level); }

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s\n", tm.tm_year + 1900, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], line);
}

static void yder_to_log(void *cls, const char *app, const time_t date, const unsigned long level,
                        const char *message)
{
    (void)cls;
    (void)date;
    enum log_level l = LOG_DEBUG;
    if (level & Y_LOG_LEVEL_ERROR)
        l = LOG_ERROR;
    else if (level & Y_LOG_LEVEL_WARNING)
        l = LOG_WARNING;
    else if (level & Y_LOG_LEVEL_INFO)
        l = LOG_INFO;
    log_msg(l, "lib=%s msg=\"%s\"", app, message);
}

void log_route_yder(const char *app)
{
    y_init_logs(app, Y_LOG_MODE_CALLBACK, Y_LOG_LEVEL_WARNING, NULL, NULL);
    y_set_logs_callback(yder_to_log, NULL, NULL);
}

void log_close_yder(void) { y_close_logs(); }
