/* SPDX-License-Identifier: MIT */
/* stderr logger (see log.h). */
#include "agent/log.h"

#include "agent/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum aiops_log_level min_level = AIOPS_LOG_INFO;
static enum aiops_log_format line_format = AIOPS_LOG_TEXT;
static const char *const level_names[] = {"debug", "info", "warning", "error"};

void aiops_log_setup(enum aiops_log_level level, enum aiops_log_format format)
{
    min_level = level;
    line_format = format;
}

int aiops_log_level_parse(const char *s, enum aiops_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum aiops_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warn") == 0) {
        *out = AIOPS_LOG_WARN;
        return 0;
    }
    return AIOPS_EINVAL;
}

int aiops_log_format_parse(const char *s, enum aiops_log_format *out)
{
    if (strcasecmp(s, "text") == 0)
        *out = AIOPS_LOG_TEXT;
    else if (strcasecmp(s, "json") == 0)
        *out = AIOPS_LOG_JSON;
    else
        return AIOPS_EINVAL;
    return 0;
}

bool aiops_log_enabled(enum aiops_log_level level)
{
    return level >= min_level;
}

/* Appends s to buf as the inside of a JSON string. Returns the new length. */
static size_t append_json_escaped(char *buf, size_t len, size_t cap, const char *s)
{
    for (; *s != '\0' && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c < 0x20) {
            len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

void aiops_log(enum aiops_log_level level, const char *module, const char *fmt, ...)
{
    char msg[1024], line[2304], stamp[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    size_t len;

    if (level < min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + len, sizeof(stamp) - len, ".%03ldZ", ts.tv_nsec / 1000000);

    if (line_format == AIOPS_LOG_JSON) {
        len = (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"",
                               stamp, level_names[level]);
        len = append_json_escaped(line, len, sizeof(line), module);
        len += (size_t)snprintf(line + len, sizeof(line) - len, "\",\"msg\":\"");
        len = append_json_escaped(line, len, sizeof(line), msg);
        len += (size_t)snprintf(line + len, sizeof(line) - len, "\"}\n");
    } else {
        len = (size_t)snprintf(line, sizeof(line), "%s %-7s %s: %s\n", stamp, level_names[level],
                               module, msg);
    }
    if (len >= sizeof(line)) {
        len = sizeof(line) - 1;
        line[len - 1] = '\n';
    }
    /* One write per line keeps lines whole when the thread pool logs too. */
    if (write(STDERR_FILENO, line, len) < 0)
        return;
}
