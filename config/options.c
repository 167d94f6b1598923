/* SPDX-License-Identifier: MIT */
/* The option table: one row per scalar option (key, variables, type, default, field, help), as
 * Fluent Bit's config map does. The table drives the defaults, aiops_config_set, the environment
 * loader, the effective-config printer and the option list of --help and the README. */
#include "config/config.h"

#include "agent/err.h"
#include "agent/mem.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MiB (1024.0 * 1024.0)

static int check_listen(const char *value, char *errbuf, size_t errlen)
{
    char host[64];
    int port;

    if (aiops_config_listen_split(value, host, sizeof(host), &port) < 0) {
        snprintf(errbuf, errlen, "'%s' is not ADDR:PORT (port 0-65535)", value);
        return AIOPS_EINVAL;
    }
    return 0;
}

static int check_url(const char *value, char *errbuf, size_t errlen)
{
    const char *sep = strstr(value, "://");

    if (sep == NULL || sep == value) {
        snprintf(errbuf, errlen, "'%s' is not a URL (scheme://...)", value);
        return AIOPS_EINVAL;
    }
    return 0;
}

static int check_method(const char *value, char *errbuf, size_t errlen)
{
    if (aiops_detector_find(value) == NULL) {
        snprintf(errbuf, errlen, "unknown method '%s'", value);
        return AIOPS_EINVAL;
    }
    return 0;
}

/* Three descending priorities in (0, 1]: critical, major, minor. */
static int check_bands(const char *value, char *errbuf, size_t errlen)
{
    double b[3];

    if (aiops_config_parse_bands(value, b) < 0) {
        snprintf(errbuf, errlen, "'%s' is not three descending priorities in (0, 1]", value);
        return AIOPS_EINVAL;
    }
    return 0;
}

int aiops_config_parse_bands(const char *value, double out[3])
{
    char *end;
    const char *p = value;

    for (int i = 0; i < 3; i++) {
        errno = 0;
        out[i] = strtod(p, &end);
        if (end == p || errno != 0 || !(out[i] > 0 && out[i] <= 1) ||
            (i > 0 && out[i] >= out[i - 1]))
            return AIOPS_EINVAL;
        p = end;
        if (i < 2 && *p++ != ',')
            return AIOPS_EINVAL;
    }
    return *p == '\0' ? 0 : AIOPS_EINVAL;
}

/* A comma-separated list of method names. */
static int check_methods(const char *value, char *errbuf, size_t errlen)
{
    char name[64];

    for (const char *p = value;; p++) {
        size_t n = strcspn(p, ",");

        if (n == 0 || n >= sizeof(name)) {
            snprintf(errbuf, errlen, "'%s' is not a list of method names", value);
            return AIOPS_EINVAL;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        if (check_method(name, errbuf, errlen) < 0)
            return AIOPS_EINVAL;
        p += n;
        if (*p == '\0')
            return 0;
    }
}

#define FIELD(f) offsetof(struct aiops_config, f)

/* clang-format off */
const struct aiops_option aiops_config_options[] = {
    {.key = "http.listen", .env = "AIOPS_LISTEN", .legacy = "HOST, PORT", .type = AIOPS_OPT_STRING,
     .def = "127.0.0.1:8000", .offset = FIELD(listen), .check = check_listen,
     .help = "Address and port of the HTTP API (HOST and PORT each replace one half)."},
    {.key = "http.max_body_bytes", .env = "AIOPS_MAX_BODY_BYTES", .type = AIOPS_OPT_U64,
     .def = "16MiB", .offset = FIELD(max_body_bytes), .min = 1024, .max = 4096 * MiB,
     .flags = AIOPS_OPT_SIZE, .help = "Largest request body accepted, in bytes."},
    {.key = "http.cors_origins", .env = "AIOPS_CORS_ORIGINS", .type = AIOPS_OPT_STRING,
     .def = "", .offset = FIELD(cors_origins), .flags = AIOPS_OPT_LIST,
     .help = "Comma-separated origins allowed by CORS (\"*\" for any); empty turns CORS off."},
    {.key = "http.detect_max_series", .env = "AIOPS_DETECT_MAX_SERIES", .type = AIOPS_OPT_U32,
     .def = "10", .offset = FIELD(detect_max_series), .min = 1, .max = 100000,
     .help = "Most series in one detect request."},
    {.key = "http.detect_min_points", .env = "AIOPS_DETECT_MIN_POINTS", .type = AIOPS_OPT_U32,
     .def = "10", .offset = FIELD(detect_min_points), .min = 1, .max = UINT32_MAX,
     .help = "Fewest points per series in a detect request."},
    {.key = "http.detect_max_points", .env = "AIOPS_DETECT_MAX_POINTS", .type = AIOPS_OPT_U32,
     .def = "1000000", .offset = FIELD(detect_max_points), .min = 1, .max = UINT32_MAX,
     .help = "Most points per series in a detect request."},
    {.key = "http.idle_timeout_ms", .env = "AIOPS_HTTP_IDLE_TIMEOUT_MS", .type = AIOPS_OPT_U32,
     .def = "30000", .offset = FIELD(http_idle_timeout_ms), .min = 100, .max = 86400000,
     .help = "A keep-alive connection with no request in flight is closed after this, in ms."},
    {.key = "http.request_timeout_ms", .env = "AIOPS_HTTP_REQUEST_TIMEOUT_MS",
     .type = AIOPS_OPT_U32, .def = "60000", .offset = FIELD(http_request_timeout_ms), .min = 100,
     .max = 86400000,
     .help = "A request must arrive whole within this of its first byte, or gets 408, in ms."},
    {.key = "storage.url", .env = "AIOPS_DATABASE_URL", .legacy = "DATABASE_URL",
     .type = AIOPS_OPT_STRING, .def = "sqlite:///./aiops.db", .offset = FIELD(database_url),
     .check = check_url,
     .help = "Database for history and events (sqlite:///PATH, sqlite+aiosqlite:///PATH)."},
    {.key = "storage.batch_ms", .env = "AIOPS_STORE_BATCH_MS", .type = AIOPS_OPT_U32,
     .def = "50", .offset = FIELD(store_batch_ms), .min = 1, .max = 60000,
     .help = "Longest a history row waits before its batch is written, in ms."},
    {.key = "storage.queue_max", .env = "AIOPS_STORE_QUEUE_MAX", .type = AIOPS_OPT_U32,
     .def = "65536", .offset = FIELD(store_queue_max), .min = 1, .max = UINT32_MAX,
     .help = "Rows waiting to be written before new ones are dropped."},
    {.key = "storage.retention_days", .env = "AIOPS_RETENTION_DAYS", .type = AIOPS_OPT_U32,
     .def = "30", .offset = FIELD(store_retention_days), .min = 0, .max = 36500,
     .help = "Days history rows and resolved events are kept (0: forever); pruned hourly."},
    {.key = "log.level", .env = "AIOPS_LOG_LEVEL", .type = AIOPS_OPT_ENUM, .def = "info",
     .offset = FIELD(log_level), .choices = "debug|info|warning|warn|error",
     .help = "Lowest level logged."},
    {.key = "log.format", .env = "AIOPS_LOG_FORMAT", .type = AIOPS_OPT_ENUM, .def = "text",
     .offset = FIELD(log_format), .choices = "text|json",
     .help = "One line per event, as text or as JSON."},
    {.key = "log.debug", .env = "AIOPS_DEBUG", .legacy = "DEBUG", .type = AIOPS_OPT_BOOL,
     .def = "false", .offset = FIELD(debug),
     .help = "The old service's DEBUG: true sets log.level to debug."},
    {.key = "http.detect_default_method", .env = "AIOPS_DEFAULT_METHOD",
     .type = AIOPS_OPT_STRING, .def = "isolation-forest", .offset = FIELD(default_method),
     .check = check_method, .help = "Method of a detect request that names none."},
    {.key = "detection.default.methods", .env = "AIOPS_METHODS", .type = AIOPS_OPT_STRING,
     .def = "auto", .offset = FIELD(stream_methods), .check = check_methods,
     .flags = AIOPS_OPT_LIST,
     .help = "Methods of a streamed series no rule matches; a point is anomalous when any is."},
    {.key = "detection.default.sensitivity", .env = "AIOPS_DEFAULT_SENSITIVITY",
     .type = AIOPS_OPT_ENUM, .def = "medium", .offset = FIELD(default_sensitivity),
     .choices = "low|medium|high", .help = "Sensitivity of a request or rule that names none."},
    {.key = "detection.default.window", .env = "AIOPS_WINDOW", .type = AIOPS_OPT_U32,
     .def = "256", .offset = FIELD(window), .min = 2, .max = 1u << 24,
     .help = "Points of history each streamed series keeps."},
    {.key = "detection.z_score_threshold", .env = "AIOPS_Z_SCORE_THRESHOLD",
     .legacy = "Z_SCORE_THRESHOLD", .type = AIOPS_OPT_DOUBLE, .def = "3",
     .offset = FIELD(z_score_threshold), .min = 0.6, .max = 100,
     .help = "Medium z-score threshold in standard deviations (low +1, high -0.5)."},
    {.key = "detection.moving_average_window", .env = "AIOPS_MOVING_AVERAGE_WINDOW",
     .legacy = "DEFAULT_WINDOW_SIZE", .type = AIOPS_OPT_U32, .def = "10",
     .offset = FIELD(moving_average_window), .min = 2, .max = 1u << 24,
     .help = "Points the moving average looks back."},
    {.key = "detection.subsequence_length", .env = "AIOPS_SUBSEQUENCE_LENGTH",
     .type = AIOPS_OPT_U32, .def = "16", .offset = FIELD(subsequence_length), .min = 4,
     .max = 512, .help = "Points of the stretches the matrix profile (dtai-auto, auto) compares."},
    {.key = "detection.sensitivity_low", .env = "AIOPS_SENSITIVITY_LOW",
     .legacy = "SENSITIVITY_LOW", .type = AIOPS_OPT_DOUBLE, .def = "0.01",
     .offset = FIELD(sensitivity_low), .min = 0.0001, .max = 0.5,
     .help = "Expected share of anomalies at low sensitivity (ML detectors)."},
    {.key = "detection.sensitivity_medium", .env = "AIOPS_SENSITIVITY_MEDIUM",
     .legacy = "SENSITIVITY_MEDIUM", .type = AIOPS_OPT_DOUBLE, .def = "0.05",
     .offset = FIELD(sensitivity_medium), .min = 0.0001, .max = 0.5,
     .help = "Expected share of anomalies at medium sensitivity."},
    {.key = "detection.sensitivity_high", .env = "AIOPS_SENSITIVITY_HIGH",
     .legacy = "SENSITIVITY_HIGH", .type = AIOPS_OPT_DOUBLE, .def = "0.1",
     .offset = FIELD(sensitivity_high), .min = 0.0001, .max = 0.5,
     .help = "Expected share of anomalies at high sensitivity."},
    {.key = "detection.seed", .env = "AIOPS_SEED", .type = AIOPS_OPT_U64, .def = "42",
     .offset = FIELD(seed), .min = 0, .max = 18446744073709551615.0,
     .help = "Seed of randomised detectors: the same seed gives the same scores."},
    {.key = "events.grouping_window_seconds", .env = "AIOPS_GROUPING_WINDOW_SECONDS",
     .legacy = "ANOMALY_GROUPING_WINDOW_SECONDS", .type = AIOPS_OPT_DOUBLE, .def = "300",
     .offset = FIELD(grouping_window_seconds), .min = 0, .max = 31536000,
     .help = "Anomalies of one series this close together, in seconds, form one event."},
    {.key = "events.priority_step", .env = "AIOPS_PRIORITY_STEP", .type = AIOPS_OPT_DOUBLE,
     .def = "0.1", .offset = FIELD(priority_step), .min = 0.001, .max = 1,
     .help = "An open event is published again when its priority has risen this much."},
    {.key = "events.severity_bands", .env = "AIOPS_SEVERITY_BANDS", .type = AIOPS_OPT_STRING,
     .def = "0.8,0.6,0.4", .offset = FIELD(severity_bands), .check = check_bands,
     .flags = AIOPS_OPT_LIST,
     .help = "Lowest priority of critical, major and minor events; below is warning."},
    {.key = "events.correlate_by", .env = "AIOPS_CORRELATE_BY", .type = AIOPS_OPT_STRING,
     .def = "", .offset = FIELD(correlate_by),
     .help = "Label whose value groups events into incidents (\"service\"); empty: the resource."},
    {.key = "events.kept", .env = "AIOPS_EVENTS_KEPT", .type = AIOPS_OPT_U32, .def = "10000",
     .offset = FIELD(events_kept), .min = 10, .max = 10000000,
     .help = "Resolved events kept in memory for GET /api/v1/events (the store keeps all)."},
    {.key = "streaming.max_series", .env = "AIOPS_MAX_SERIES", .type = AIOPS_OPT_U32,
     .def = "100000", .offset = FIELD(max_series), .min = 1, .max = 100000000,
     .help = "Series tracked at most; the one idle longest is evicted for a new one."},
    {.key = "streaming.idle_seconds", .env = "AIOPS_IDLE_SECONDS", .type = AIOPS_OPT_DOUBLE,
     .def = "3600", .offset = FIELD(idle_seconds), .min = 1, .max = 31536000,
     .help = "A series with no point for this long is evicted (its checkpoint stays)."},
    {.key = "streaming.checkpoint_seconds", .env = "AIOPS_CHECKPOINT_SECONDS",
     .type = AIOPS_OPT_DOUBLE, .def = "60", .offset = FIELD(checkpoint_seconds), .min = 1,
     .max = 86400, .help = "How often changed series' detector state is saved to the store."},
    {.key = "streaming.resource_tag", .env = "AIOPS_RESOURCE_TAG", .type = AIOPS_OPT_STRING,
     .def = "host", .offset = FIELD(resource_tag),
     .help = "Tag naming the resource in Telegraf, Influx line and collectd payloads."},
};
/* clang-format on */

const size_t aiops_config_n_options =
    sizeof(aiops_config_options) / sizeof(aiops_config_options[0]);

const struct aiops_option *aiops_config_option_find(const char *key)
{
    for (size_t i = 0; i < aiops_config_n_options; i++) {
        if (strcmp(aiops_config_options[i].key, key) == 0)
            return &aiops_config_options[i];
    }
    return NULL;
}

bool aiops_config_is_section(const char *prefix)
{
    size_t n = strlen(prefix);

    for (size_t i = 0; i < aiops_config_n_options; i++) {
        const char *k = aiops_config_options[i].key;
        if (strncmp(k, prefix, n) == 0 && k[n] == '.')
            return true;
    }
    return false;
}

static void *field_of(struct aiops_config *cfg, const struct aiops_option *o)
{
    return (char *)cfg + o->offset;
}

static const void *cfield_of(const struct aiops_config *cfg, const struct aiops_option *o)
{
    return (const char *)cfg + o->offset;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on", "t", "y"};
    static const char *const no[] = {"false", "0", "no", "off", "f", "n"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return AIOPS_EINVAL;
}

/* A decimal unsigned integer, with a byte suffix when size is set. */
static int parse_unsigned(const char *s, bool size, uint64_t *out)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {{"B", 1},          {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
                 {"KB", 1000},      {"MB", 1000000},     {"GB", 1000000000},  {"K", 1ull << 10},
                 {"M", 1ull << 20}, {"G", 1ull << 30}};
    uint64_t v, mult = 1;
    char *end;

    if (!isdigit((unsigned char)s[0]))
        return AIOPS_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return AIOPS_ERANGE;
    if (size) {
        while (*end == ' ')
            end++;
        if (*end != '\0') {
            size_t i;
            for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                if (strcasecmp(end, units[i].suffix) == 0)
                    break;
            }
            if (i == sizeof(units) / sizeof(units[0]))
                return AIOPS_EINVAL;
            mult = units[i].mult;
            end += strlen(end);
        }
    }
    if (*end != '\0')
        return AIOPS_EINVAL;
    if (v > UINT64_MAX / mult)
        return AIOPS_ERANGE;
    *out = v * mult;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    double v;

    if (s[0] == '\0' || isspace((unsigned char)s[0]))
        return AIOPS_EINVAL;
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v))
        return AIOPS_EINVAL;
    *out = v;
    return 0;
}

/* The canonical spelling of s among choices ("a|b|c"), copied into buf; or -1. */
static int match_choice(const char *choices, const char *s, char *buf, size_t len)
{
    const char *p = choices;

    while (*p != '\0') {
        size_t n = strcspn(p, "|");
        if (n == strlen(s) && n < len && strncasecmp(p, s, n) == 0) {
            memcpy(buf, p, n);
            buf[n] = '\0';
            return 0;
        }
        p += n;
        if (*p == '|')
            p++;
    }
    return -1;
}

static void range_text(const struct aiops_option *o, char *buf, size_t len)
{
    if (o->type == AIOPS_OPT_DOUBLE)
        snprintf(buf, len, "%g to %g", o->min, o->max);
    else
        snprintf(buf, len, "%.0f to %.0f", o->min, o->max);
}

/* Replaces the string at *slot with a copy of the n bytes at s. */
static int replace_string(char **slot, const char *s, size_t n)
{
    char *copy = aiops_strndup(s, n);

    if (copy == NULL)
        return AIOPS_ENOMEM;
    aiops_free(*slot);
    *slot = copy;
    return 0;
}

static int set_option(struct aiops_config *cfg, const struct aiops_option *o, const char *value,
                      char *errbuf, size_t errlen)
{
    void *field = field_of(cfg, o);
    char range[64], choice[32], problem[256];
    uint64_t u;
    double d;
    bool b;
    int err;

    switch (o->type) {
    case AIOPS_OPT_STRING: {
        size_t n = strlen(value);
        if (o->flags & AIOPS_OPT_FIRST) {
            while (isspace((unsigned char)*value))
                value++;
            n = strcspn(value, ",");
            while (n > 0 && isspace((unsigned char)value[n - 1]))
                n--;
        }
        if (o->check != NULL) {
            char *tmp = aiops_strndup(value, n);
            if (tmp == NULL)
                return AIOPS_ENOMEM;
            err = o->check(tmp, problem, sizeof(problem));
            aiops_free(tmp);
            if (err < 0) {
                snprintf(errbuf, errlen, "%s: %s", o->key, problem);
                return err;
            }
        }
        return replace_string(field, value, n);
    }
    case AIOPS_OPT_BOOL:
        if (parse_bool(value, &b) < 0) {
            snprintf(errbuf, errlen, "%s: '%s' is not true or false", o->key, value);
            return AIOPS_EINVAL;
        }
        *(bool *)field = b;
        if (b && o->offset == offsetof(struct aiops_config, debug))
            return replace_string(&cfg->log_level, "debug", 5);
        return 0;
    case AIOPS_OPT_U32:
    case AIOPS_OPT_U64:
        err = parse_unsigned(value, o->flags & AIOPS_OPT_SIZE, &u);
        range_text(o, range, sizeof(range));
        if (err == AIOPS_EINVAL) {
            snprintf(errbuf, errlen, "%s: '%s' is not %s (%s)", o->key, value,
                     o->flags & AIOPS_OPT_SIZE ? "a size" : "an unsigned integer", range);
            return AIOPS_EINVAL;
        }
        if (err < 0 || (double)u < o->min || (double)u > o->max) {
            snprintf(errbuf, errlen, "%s: %s is out of range (%s)", o->key, value, range);
            return AIOPS_ERANGE;
        }
        if (o->type == AIOPS_OPT_U32)
            *(uint32_t *)field = (uint32_t)u;
        else
            *(uint64_t *)field = u;
        return 0;
    case AIOPS_OPT_DOUBLE:
        range_text(o, range, sizeof(range));
        if (parse_double(value, &d) < 0) {
            snprintf(errbuf, errlen, "%s: '%s' is not a number (%s)", o->key, value, range);
            return AIOPS_EINVAL;
        }
        if (d < o->min || d > o->max) {
            snprintf(errbuf, errlen, "%s: %s is out of range (%s)", o->key, value, range);
            return AIOPS_ERANGE;
        }
        *(double *)field = d;
        return 0;
    case AIOPS_OPT_ENUM:
        if (match_choice(o->choices, value, choice, sizeof(choice)) < 0) {
            snprintf(errbuf, errlen, "%s: '%s' is not one of %s", o->key, value, o->choices);
            return AIOPS_EINVAL;
        }
        return replace_string(field, choice, strlen(choice));
    }
    return AIOPS_EINVAL;
}

int aiops_config_set(struct aiops_config *cfg, const char *key, const char *value, char *errbuf,
                     size_t errlen)
{
    const struct aiops_option *o = aiops_config_option_find(key);

    if (o == NULL) {
        snprintf(errbuf, errlen, "unknown key '%s'", key);
        return AIOPS_ENOENT;
    }
    return set_option(cfg, o, value, errbuf, errlen);
}

int aiops_config_init(struct aiops_config *cfg)
{
    char errbuf[256];
    int err;

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < aiops_config_n_options; i++) {
        const struct aiops_option *o = &aiops_config_options[i];

        err = set_option(cfg, o, o->def, errbuf, sizeof(errbuf));
        assert(err == 0 || err == AIOPS_ENOMEM); /* the defaults are valid */
        if (err < 0)
            goto err_fini;
    }
    return 0;
err_fini:
    aiops_config_fini(cfg);
    return err;
}

void aiops_config_entries_free(struct aiops_config_entry *e, size_t n)
{
    for (size_t i = 0; e != NULL && i < n; i++) {
        for (size_t j = 0; j < e[i].n_kv; j++) {
            aiops_free(e[i].kv[j].key);
            aiops_free(e[i].kv[j].value);
        }
        aiops_free(e[i].kv);
        aiops_free(e[i].type);
    }
    aiops_free(e);
}

void aiops_config_rules_free(struct aiops_config_rule *r, size_t n)
{
    for (size_t i = 0; r != NULL && i < n; i++) {
        for (size_t j = 0; j < r[i].n_methods; j++)
            aiops_free(r[i].methods[j]);
        aiops_free(r[i].methods);
        aiops_free(r[i].match);
    }
    aiops_free(r);
}

void aiops_config_fini(struct aiops_config *cfg)
{
    for (size_t i = 0; i < aiops_config_n_options; i++) {
        const struct aiops_option *o = &aiops_config_options[i];

        if (o->type == AIOPS_OPT_STRING || o->type == AIOPS_OPT_ENUM)
            aiops_free(*(char **)field_of(cfg, o));
    }
    aiops_config_entries_free(cfg->sources, cfg->n_sources);
    aiops_config_entries_free(cfg->sinks, cfg->n_sinks);
    aiops_config_rules_free(cfg->rules, cfg->n_rules);
    aiops_free(cfg->config_file);
    memset(cfg, 0, sizeof(*cfg));
}

void aiops_config_format_value(const struct aiops_config *cfg, const struct aiops_option *o,
                               char *buf, size_t len)
{
    const void *field = cfield_of(cfg, o);
    const char *s;

    switch (o->type) {
    case AIOPS_OPT_STRING:
    case AIOPS_OPT_ENUM:
        s = *(char *const *)field;
        snprintf(buf, len, "%s", s != NULL ? s : "");
        break;
    case AIOPS_OPT_BOOL:
        snprintf(buf, len, "%s", *(const bool *)field ? "true" : "false");
        break;
    case AIOPS_OPT_U32:
        snprintf(buf, len, "%" PRIu32, *(const uint32_t *)field);
        break;
    case AIOPS_OPT_U64:
        snprintf(buf, len, "%" PRIu64, *(const uint64_t *)field);
        break;
    case AIOPS_OPT_DOUBLE: {
        double d = *(const double *)field;
        snprintf(buf, len, "%.15g", d);
        if (strtod(buf, NULL) != d)
            snprintf(buf, len, "%.17g", d);
        break;
    }
    }
}

int aiops_config_listen_split(const char *listen, char *host, size_t hostlen, int *port)
{
    const char *colon, *h = listen;
    size_t n;
    uint64_t p;

    if (listen == NULL)
        return AIOPS_EINVAL;
    colon = strrchr(listen, ':');
    if (colon == NULL || parse_unsigned(colon + 1, false, &p) < 0 || p > 65535)
        return AIOPS_EINVAL;
    n = (size_t)(colon - listen);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') { /* "[::1]:8000" */
        h++;
        n -= 2;
    } else if (memchr(h, ':', n) != NULL || memchr(h, '[', n) != NULL) {
        return AIOPS_EINVAL; /* an IPv6 address needs its brackets */
    }
    if (n == 0 || n >= hostlen || memchr(h, ' ', n) != NULL)
        return AIOPS_EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (int)p;
    return 0;
}

void aiops_config_detector_params(const struct aiops_config *cfg, enum aiops_sensitivity s,
                                  struct aiops_detector_params *out)
{
    aiops_detector_params_init(out);
    out->sensitivity = s;
    out->window = cfg->window;
    out->ma_window = cfg->moving_average_window;
    out->subsequence = cfg->subsequence_length;
    out->z_threshold = cfg->z_score_threshold;
    out->seed = cfg->seed;
}

int aiops_config_validate(const struct aiops_config *cfg, char *errbuf, size_t errlen)
{
    char value[512], problem[256];
    enum aiops_sensitivity sens;

    /* Each row again: a caller may have written the struct directly. */
    for (size_t i = 0; i < aiops_config_n_options; i++) {
        const struct aiops_option *o = &aiops_config_options[i];
        const char *s;

        if (o->type != AIOPS_OPT_STRING && o->type != AIOPS_OPT_ENUM)
            continue;
        s = *(char *const *)cfield_of(cfg, o);
        if (s == NULL) {
            snprintf(errbuf, errlen, "%s: not set", o->key);
            return AIOPS_EINVAL;
        }
        if (o->check != NULL && o->check(s, problem, sizeof(problem)) < 0) {
            snprintf(errbuf, errlen, "%s: %s", o->key, problem);
            return AIOPS_EINVAL;
        }
        if (o->type == AIOPS_OPT_ENUM && match_choice(o->choices, s, value, sizeof(value)) < 0) {
            snprintf(errbuf, errlen, "%s: '%s' is not one of %s", o->key, s, o->choices);
            return AIOPS_EINVAL;
        }
    }
    if (cfg->detect_min_points > cfg->detect_max_points) {
        snprintf(errbuf, errlen,
                 "http.detect_min_points (%" PRIu32 ") is above http.detect_max_points (%" PRIu32
                 ")",
                 cfg->detect_min_points, cfg->detect_max_points);
        return AIOPS_EINVAL;
    }
    if (!(cfg->sensitivity_low <= cfg->sensitivity_medium &&
          cfg->sensitivity_medium <= cfg->sensitivity_high)) {
        snprintf(errbuf, errlen,
                 "detection.sensitivity_low/medium/high must not decrease (%g, %g, %g)",
                 cfg->sensitivity_low, cfg->sensitivity_medium, cfg->sensitivity_high);
        return AIOPS_EINVAL;
    }
    if (aiops_sensitivity_parse(cfg->default_sensitivity, &sens) < 0) {
        snprintf(errbuf, errlen, "detection.default.sensitivity: '%s' is not low, medium or high",
                 cfg->default_sensitivity);
        return AIOPS_EINVAL;
    }
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct aiops_config_rule *r = &cfg->rules[i];

        for (size_t j = 0; j < r->n_methods; j++) {
            if (check_method(r->methods[j], problem, sizeof(problem)) < 0) {
                snprintf(errbuf, errlen, "detection.rules[%zu].methods: %s", i, problem);
                return AIOPS_EINVAL;
            }
        }
        if (r->window == 1) {
            snprintf(errbuf, errlen, "detection.rules[%zu].window: must be at least 2", i);
            return AIOPS_EINVAL;
        }
    }
    return 0;
}

void aiops_config_print_options(FILE *out, bool markdown)
{
    if (markdown) {
        fputs("| Key | Environment | Default | Description |\n"
              "|-----|-------------|---------|-------------|\n",
              out);
    }
    for (size_t i = 0; i < aiops_config_n_options; i++) {
        const struct aiops_option *o = &aiops_config_options[i];

        if (markdown) {
            fprintf(out, "| `%s` | `%s`%s%s%s | `%s` | %s", o->key, o->env, o->legacy ? ", `" : "",
                    o->legacy ? o->legacy : "", o->legacy ? "`" : "", o->def[0] ? o->def : "\"\"",
                    o->help);
            if (o->type == AIOPS_OPT_ENUM)
                fprintf(out, " One of `%s`.", o->choices);
            fputs(" |\n", out);
        } else {
            fprintf(out, "  %-32s %s%s%s, default %s\n", o->key, o->env, o->legacy ? ", " : "",
                    o->legacy ? o->legacy : "", o->def[0] ? o->def : "\"\"");
            fprintf(out, "      %s", o->help);
            if (o->type == AIOPS_OPT_ENUM)
                fprintf(out, " (%s)", o->choices);
            fputs("\n", out);
        }
    }
    if (markdown) {
        fputs("\nThe file also holds `sources:`, `sinks:` and `detection.rules:`, lists of "
              "mappings that only the file can set.\n",
              out);
    } else {
        fputs("  sources, sinks, detection.rules: lists in the YAML file only\n", out);
    }
}

const char *aiops_config_entry_get(const struct aiops_config_entry *e, const char *key,
                                   const char *def)
{
    for (size_t i = 0; e != NULL && i < e->n_kv; i++)
        if (strcmp(e->kv[i].key, key) == 0)
            return e->kv[i].value;
    return def;
}
