/* log: one-line structured logging to stderr, shared by both servers.
 * Thread-safe: each line is written with a single locked fprintf. Levels follow LOG_LEVEL
 * (error, warning, info, debug). log_route_yder() sends ulfius/MHD messages (which only
 * reach yder) through the same writer. */
#ifndef CLINIC_LOG_H
#define CLINIC_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARNING = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Parses "error|warning|info|debug"; returns -1 for anything else. */
int log_parse_level(const char *s);
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Initialises yder in callback mode so library messages go through log_msg. */
void log_route_yder(const char *app);
void log_close_yder(void);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
