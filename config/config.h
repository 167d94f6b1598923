/* SPDX-License-Identifier: MIT */
/* The agent's effective configuration. Sources, lowest to highest: built-in defaults, the YAML
 * file, a .env file in the working directory, the process environment (AIOPS_* and the old
 * service's names), command-line flags. Every scalar option is one row in options.c. */
#ifndef AIOPS_CONFIG_H
#define AIOPS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "detectors/detector.h"

/* A free-form section entry (a source, a sink): its type and its other keys, as strings.
 * Later modules interpret them; here they are only carried and printed. */
struct aiops_config_kv {
    char *key;
    char *value; /* scalars as written; sequences joined with "," */
};

struct aiops_config_entry {
    char *type;                 /* "kafka", "mqtt", ... */
    struct aiops_config_kv *kv; /* owned, n_kv entries */
    size_t n_kv;
};

/* detection.rules[]: methods etc. for metrics whose name matches a glob. */
struct aiops_config_rule {
    char *match;    /* glob on the metric name */
    char **methods; /* owned, n_methods names */
    size_t n_methods;
    enum aiops_sensitivity sensitivity;
    uint32_t window; /* 0: the default window */
};

struct aiops_config {
    /* http */
    char *listen;                     /* "ADDR:PORT", default "127.0.0.1:8000" */
    uint64_t max_body_bytes;          /* request body limit, default 16 MiB */
    char *cors_origins;               /* comma-separated allowed origins; empty: CORS off */
    uint32_t detect_max_series;       /* series per detect request, default 10 */
    uint32_t detect_min_points;       /* points per series, default 10 */
    uint32_t detect_max_points;       /* points per series, default 1,000,000 */
    uint32_t http_idle_timeout_ms;    /* idle keep-alive connections are closed after this */
    uint32_t http_request_timeout_ms; /* a request must arrive whole within this, or 408 */
    /* storage */
    char *database_url;            /* "sqlite:///./aiops.db"; "sqlite+aiosqlite:///" accepted */
    uint32_t store_batch_ms;       /* longest a history row waits before its batch is written */
    uint32_t store_queue_max;      /* rows waiting to be written before new ones are dropped */
    uint32_t store_retention_days; /* history and resolved events kept this long; 0: forever */
    /* logging */
    char *log_level;  /* debug|info|warning|error; DEBUG=true means debug */
    char *log_format; /* text|json */
    bool debug;       /* the old service's DEBUG */
    /* detection */
    char *default_method;           /* method of a detect request that names none */
    char *default_sensitivity;      /* low|medium|high */
    double z_score_threshold;       /* medium threshold in standard deviations (3) */
    uint32_t window;                /* incremental window in points (256) */
    uint32_t moving_average_window; /* DEFAULT_WINDOW_SIZE (10) */
    uint32_t subsequence_length;    /* the matrix profile's subsequence, points (16) */
    double sensitivity_low;         /* expected anomaly share per level, for ML detectors */
    double sensitivity_medium;
    double sensitivity_high;
    uint64_t seed;        /* seed of randomised detectors */
    char *stream_methods; /* methods of series no rule matches, comma-separated */
    /* events */
    double grouping_window_seconds; /* ANOMALY_GROUPING_WINDOW_SECONDS (300) */
    double priority_step;           /* priority rise that republishes an open event */
    char *severity_bands;           /* "critical,major,minor" lowest priorities */
    char *correlate_by;             /* label grouping events into incidents; "": resource */
    uint32_t events_kept;           /* resolved events kept in memory */
    /* streaming */
    uint32_t max_series;
    double idle_seconds;       /* a series with no point this long is evicted */
    double checkpoint_seconds; /* detector state saved this often */
    char *resource_tag;        /* tag naming the resource in Telegraf/Influx/collectd */

    /* Sections for the streaming pieces; parsed from the file only. */
    struct aiops_config_entry *sources;
    size_t n_sources;
    struct aiops_config_entry *sinks;
    size_t n_sinks;
    struct aiops_config_rule *rules;
    size_t n_rules;

    char *config_file; /* the file loaded, or NULL */
};

/* Fills cfg with the built-in defaults. Returns 0 or AIOPS_ENOMEM. */
int aiops_config_init(struct aiops_config *cfg);
void aiops_config_fini(struct aiops_config *cfg);

/* Loads a YAML file over cfg. On error returns AIOPS_EINVAL/AIOPS_ENOENT and writes a message
 * that names the file, the key (e.g. "http.listen") and the line into errbuf. */
int aiops_config_load_file(struct aiops_config *cfg, const char *path, char *errbuf, size_t errlen);
/* Reads NAME=VALUE lines of a .env file into the process environment, without overriding
 * variables already set (as python-dotenv does). A missing file is not an error. */
int aiops_config_load_dotenv(const char *path, char *errbuf, size_t errlen);
/* Applies AIOPS_* and the legacy variables from the environment. */
int aiops_config_load_env(struct aiops_config *cfg, char *errbuf, size_t errlen);
/* Sets one option by its key ("http.listen") from a string, as a flag would. */
int aiops_config_set(struct aiops_config *cfg, const char *key, const char *value, char *errbuf,
                     size_t errlen);
/* Cross-field checks (listen parses, thresholds ordered, ...). */
int aiops_config_validate(const struct aiops_config *cfg, char *errbuf, size_t errlen);

/* The whole chain for a command: defaults, file (explicit path, or AIOPS_CONFIG), .env,
 * environment. Flags are applied by the caller with aiops_config_set, then validate. */
int aiops_config_load(struct aiops_config *cfg, const char *file, char *errbuf, size_t errlen);

/* Prints the effective configuration as YAML, secrets (passwords, URLs' credentials) masked. */
int aiops_config_print(const struct aiops_config *cfg, FILE *out);
/* Prints the option table (key, env names, default, help) for --help and the README. */
void aiops_config_print_options(FILE *out, bool markdown);

/* Detector parameters for a sensitivity, from the detection section. */
void aiops_config_detector_params(const struct aiops_config *cfg, enum aiops_sensitivity s,
                                  struct aiops_detector_params *out);
/* Parses events.severity_bands into out[0..2] (critical, major, minor). 0 or AIOPS_EINVAL. */
int aiops_config_parse_bands(const char *value, double out[3]);
/* Splits listen into host and port. Returns 0 or AIOPS_EINVAL. host needs 64 bytes. */
int aiops_config_listen_split(const char *listen, char *host, size_t hostlen, int *port);

/* The option table (options.c), shared by the other files of config/; not for other modules.
 * Each row is one scalar option: its YAML key, its variables, its type and default. */
enum aiops_option_type {
    AIOPS_OPT_STRING,
    AIOPS_OPT_BOOL,
    AIOPS_OPT_U32,
    AIOPS_OPT_U64,
    AIOPS_OPT_DOUBLE,
    AIOPS_OPT_ENUM,
};

#define AIOPS_OPT_LIST  0x1u /* also takes a YAML sequence, joined with "," */
#define AIOPS_OPT_FIRST 0x2u /* keeps only the first item of a list */
#define AIOPS_OPT_SIZE  0x4u /* a byte count: KiB/MiB/GiB and KB/MB/GB suffixes accepted */

struct aiops_option {
    const char *key;     /* dotted YAML path, "http.listen" */
    const char *env;     /* AIOPS_* variable */
    const char *legacy;  /* the old service's variable(s), or NULL */
    const char *def;     /* default, as it would be written in the file */
    size_t offset;       /* of the field in struct aiops_config */
    const char *choices; /* AIOPS_OPT_ENUM: "a|b|c" */
    double min, max;     /* numbers: the allowed range, inclusive */
    /* Extra check of a string value; writes the problem into errbuf. NULL: none. */
    int (*check)(const char *value, char *errbuf, size_t errlen);
    const char *help; /* one line */
    enum aiops_option_type type;
    unsigned flags; /* AIOPS_OPT_LIST ... */
};

extern const struct aiops_option aiops_config_options[];
extern const size_t aiops_config_n_options;

/* The row for a key, or NULL. */
const struct aiops_option *aiops_config_option_find(const char *key);
/* True when some option's key starts with prefix followed by '.' ("detection.default"). */
bool aiops_config_is_section(const char *prefix);
/* Writes an option's current value as text into buf (as the file would hold it). */
void aiops_config_format_value(const struct aiops_config *cfg, const struct aiops_option *o,
                               char *buf, size_t len);
/* The value of key in a source/sink entry ("brokers", "properties.security.protocol"), or def
 * when the entry has no such key. Borrowed from e. */
const char *aiops_config_entry_get(const struct aiops_config_entry *e, const char *key,
                                   const char *def);
/* Frees the entries/rules arrays and everything they own. NULL is a no-op. */
void aiops_config_entries_free(struct aiops_config_entry *e, size_t n);
void aiops_config_rules_free(struct aiops_config_rule *r, size_t n);

#endif
