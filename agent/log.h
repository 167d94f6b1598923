/* SPDX-License-Identifier: MIT */
/* Logging to stderr, one line per event, as text or JSON. Thread-safe: each line is
 * formatted into a local buffer and written with one write(2). */
#ifndef AIOPS_LOG_H
#define AIOPS_LOG_H

#include <stdbool.h>

enum aiops_log_level { AIOPS_LOG_DEBUG, AIOPS_LOG_INFO, AIOPS_LOG_WARN, AIOPS_LOG_ERROR };
enum aiops_log_format { AIOPS_LOG_TEXT, AIOPS_LOG_JSON };

void aiops_log_setup(enum aiops_log_level level, enum aiops_log_format format);
/* Parses "debug", "info", "warning"/"warn", "error" (any case). Returns 0 or AIOPS_EINVAL. */
int aiops_log_level_parse(const char *s, enum aiops_log_level *out);
int aiops_log_format_parse(const char *s, enum aiops_log_format *out);
bool aiops_log_enabled(enum aiops_log_level level);

/* `module` is a short fixed word ("http", "store") that makes lines greppable. */
void aiops_log(enum aiops_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define aiops_debug(mod, ...) aiops_log(AIOPS_LOG_DEBUG, mod, __VA_ARGS__)
#define aiops_info(mod, ...)  aiops_log(AIOPS_LOG_INFO, mod, __VA_ARGS__)
#define aiops_warn(mod, ...)  aiops_log(AIOPS_LOG_WARN, mod, __VA_ARGS__)
#define aiops_error(mod, ...) aiops_log(AIOPS_LOG_ERROR, mod, __VA_ARGS__)

#endif
