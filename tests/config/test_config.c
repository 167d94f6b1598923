/* SPDX-License-Identifier: MIT */
/* The configuration module: defaults from the option table, the YAML file, .env and the
 * environment (AIOPS_* and the old service's names), the shared command-line flags, the
 * printer's masking and `config check`. Each test runs in its own empty directory. */
#include "agent/cli.h"
#include "agent/err.h"
#include "agent/mem.h"
#include "config/config.h"
#include "tests/support.h"

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/redirect.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void init(void)
{
    /* A clean environment: nothing the shell exported may reach the loader. */
    for (size_t i = 0; i < aiops_config_n_options; i++)
        unsetenv(aiops_config_options[i].env);
    static const char *const legacy[] = {"DATABASE_URL",
                                         "HOST",
                                         "PORT",
                                         "DEBUG",
                                         "SENSITIVITY_LOW",
                                         "SENSITIVITY_MEDIUM",
                                         "SENSITIVITY_HIGH",
                                         "Z_SCORE_THRESHOLD",
                                         "DEFAULT_WINDOW_SIZE",
                                         "ANOMALY_GROUPING_WINDOW_SECONDS",
                                         "AIOPS_CONFIG"};
    for (size_t i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++)
        unsetenv(legacy[i]);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/aiops-config-test.XXXXXX");
    cr_assert(mkdtemp(tmpdir) != NULL);
    cr_assert(eq(int, chdir(tmpdir), 0));
}

static void fini(void)
{
    aiops_mem_fail_after(-1);
    if (chdir("/") == 0 && tmpdir[0] != '\0')
        nftw(tmpdir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
    aiops_test_check_leaks();
}

TestSuite(config, .init = init, .fini = fini);

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(name, "w");

    cr_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

static const char issue_example[] =
    "sources:\n"
    "  - {type: kafka, brokers: \"127.0.0.1:9092\", topics: [metrics], group: aiops-agent}\n"
    "  - {type: mqtt, url: \"mqtt://127.0.0.1:1883\", topics: [\"metrics/#\"], qos: 1}\n"
    "sinks:\n"
    "  - {type: kafka, brokers: \"127.0.0.1:9092\", topic: aiops.alerts}\n"
    "storage: {url: \"postgresql://postgres@127.0.0.1:5432/aiops\"}\n"
    "detection:\n"
    "  default: {methods: [auto], sensitivity: medium, window: 256}\n"
    "  rules:\n"
    "    - {match: \"latency*\", methods: [prophet, z-score], sensitivity: high}\n"
    "events: {grouping_window_seconds: 300}\n";

static const char *kv(const struct aiops_config_entry *e, const char *key)
{
    for (size_t i = 0; i < e->n_kv; i++) {
        if (strcmp(e->kv[i].key, key) == 0)
            return e->kv[i].value;
    }
    return NULL;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Loads text as config.yaml over the defaults; returns the error, errbuf holds the message. */
static int load_text(struct aiops_config *cfg, const char *text, char *errbuf, size_t errlen)
{
    write_file("config.yaml", text);
    cr_assert(eq(int, aiops_config_init(cfg), 0));
    return aiops_config_load_file(cfg, "config.yaml", errbuf, errlen);
}

/* Runs aiops_cli_load_config on a NULL-terminated argument list (copied, it is edited). */
static int cli_load(struct aiops_config *cfg, const char *const *args, int *argc, char **argv,
                    char *errbuf, size_t errlen)
{
    int n = 0;

    while (args[n] != NULL) {
        argv[n] = (char *)args[n];
        n++;
    }
    argv[n] = NULL;
    *argc = n;
    return aiops_cli_load_config(cfg, argc, argv, errbuf, errlen);
}

Test(config, starts_from_the_documented_defaults)
{
    struct aiops_config cfg;
    char errbuf[256];

    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(str, cfg.listen, "127.0.0.1:8000"));
    cr_assert(eq(u64, cfg.max_body_bytes, 16u << 20));
    cr_assert(eq(str, cfg.cors_origins, ""));
    cr_assert(eq(u32, cfg.detect_max_series, 10));
    cr_assert(eq(u32, cfg.detect_min_points, 10));
    cr_assert(eq(u32, cfg.detect_max_points, 1000000));
    cr_assert(eq(str, cfg.database_url, "sqlite:///./aiops.db"));
    cr_assert(eq(u32, cfg.store_batch_ms, 50));
    cr_assert(eq(u32, cfg.store_queue_max, 65536));
    cr_assert(eq(str, cfg.log_level, "info"));
    cr_assert(eq(str, cfg.log_format, "text"));
    cr_assert(not(cfg.debug));
    cr_assert(eq(str, cfg.default_method, "isolation-forest"));
    cr_assert(eq(str, cfg.default_sensitivity, "medium"));
    cr_assert(eq(dbl, cfg.z_score_threshold, 3.0));
    cr_assert(eq(u32, cfg.window, 256));
    cr_assert(eq(u32, cfg.moving_average_window, 10));
    cr_assert(eq(u32, cfg.subsequence_length, 16));
    cr_assert(eq(dbl, cfg.sensitivity_low, 0.01));
    cr_assert(eq(dbl, cfg.sensitivity_medium, 0.05));
    cr_assert(eq(dbl, cfg.sensitivity_high, 0.1));
    cr_assert(eq(u64, cfg.seed, 42));
    cr_assert(eq(dbl, cfg.grouping_window_seconds, 300.0));
    cr_assert(eq(sz, cfg.n_sources, 0));
    cr_assert(eq(sz, cfg.n_rules, 0));
    cr_assert(eq(ptr, cfg.config_file, NULL));
    cr_assert(eq(int, aiops_config_validate(&cfg, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    aiops_config_fini(&cfg);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(config, loads_the_example_of_the_issue_with_its_sources_sinks_and_rules)
{
    struct aiops_config cfg;
    char errbuf[256] = "";

    cr_assert(eq(int, load_text(&cfg, issue_example, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    cr_assert(eq(str, cfg.config_file, "config.yaml"));
    cr_assert(eq(sz, cfg.n_sources, 2));
    cr_assert(eq(str, cfg.sources[0].type, "kafka"));
    cr_assert(eq(str, (char *)kv(&cfg.sources[0], "brokers"), "127.0.0.1:9092"));
    cr_assert(eq(str, (char *)kv(&cfg.sources[0], "topics"), "metrics"));
    cr_assert(eq(str, (char *)kv(&cfg.sources[0], "group"), "aiops-agent"));
    cr_assert(eq(ptr, (void *)kv(&cfg.sources[0], "type"), NULL), "type is not a kv");
    cr_assert(eq(str, cfg.sources[1].type, "mqtt"));
    cr_assert(eq(str, (char *)kv(&cfg.sources[1], "url"), "mqtt://127.0.0.1:1883"));
    cr_assert(eq(str, (char *)kv(&cfg.sources[1], "topics"), "metrics/#"));
    cr_assert(eq(str, (char *)kv(&cfg.sources[1], "qos"), "1"));
    cr_assert(eq(sz, cfg.n_sinks, 1));
    cr_assert(eq(str, cfg.sinks[0].type, "kafka"));
    cr_assert(eq(str, (char *)kv(&cfg.sinks[0], "topic"), "aiops.alerts"));
    cr_assert(eq(str, cfg.database_url, "postgresql://postgres@127.0.0.1:5432/aiops"));
    cr_assert(eq(str, cfg.stream_methods, "auto"));
    cr_assert(eq(str, cfg.default_sensitivity, "medium"));
    cr_assert(eq(u32, cfg.window, 256));
    cr_assert(eq(sz, cfg.n_rules, 1));
    cr_assert(eq(str, cfg.rules[0].match, "latency*"));
    cr_assert(eq(sz, cfg.rules[0].n_methods, 2));
    cr_assert(eq(str, cfg.rules[0].methods[0], "prophet"));
    cr_assert(eq(str, cfg.rules[0].methods[1], "z-score"));
    cr_assert(eq(int, cfg.rules[0].sensitivity, AIOPS_SENSITIVITY_HIGH));
    cr_assert(eq(u32, cfg.rules[0].window, 0));
    cr_assert(eq(dbl, cfg.grouping_window_seconds, 300.0));
    cr_assert(eq(int, aiops_config_validate(&cfg, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    aiops_config_fini(&cfg);
}

Test(config, loads_every_scalar_section_and_joins_lists)
{
    struct aiops_config cfg;
    char errbuf[256] = "";
    int err = load_text(&cfg,
                        "http:\n"
                        "  listen: 0.0.0.0:9000\n"
                        "  max_body_bytes: 1MiB\n"
                        "  cors_origins: [\"http://a\", \"http://b\"]\n"
                        "  detect_max_series: 20\n"
                        "  detect_min_points: 5\n"
                        "  detect_max_points: 500\n"
                        "storage: {url: \"sqlite:///tmp/x.db\", batch_ms: 10, queue_max: 99}\n"
                        "log: {level: WARNING, format: json}\n"
                        "detection:\n"
                        "  z_score_threshold: 2.5\n"
                        "  moving_average_window: 7\n"
                        "  subsequence_length: 24\n"
                        "  sensitivity_low: 0.02\n"
                        "  sensitivity_medium: 0.04\n"
                        "  sensitivity_high: 0.2\n"
                        "  seed: 7\n"
                        "  default: {methods: z-score, sensitivity: low, window: 64}\n"
                        "events: {grouping_window_seconds: 60.5}\n",
                        errbuf, sizeof(errbuf));

    cr_assert(eq(int, err, 0), "%s", errbuf);
    cr_assert(eq(str, cfg.listen, "0.0.0.0:9000"));
    cr_assert(eq(u64, cfg.max_body_bytes, 1u << 20));
    cr_assert(eq(str, cfg.cors_origins, "http://a,http://b"));
    cr_assert(eq(u32, cfg.detect_max_series, 20));
    cr_assert(eq(u32, cfg.detect_min_points, 5));
    cr_assert(eq(u32, cfg.detect_max_points, 500));
    cr_assert(eq(str, cfg.database_url, "sqlite:///tmp/x.db"));
    cr_assert(eq(u32, cfg.store_batch_ms, 10));
    cr_assert(eq(u32, cfg.store_queue_max, 99));
    cr_assert(eq(str, cfg.log_level, "warning"), "enum values are stored in canonical case");
    cr_assert(eq(str, cfg.log_format, "json"));
    cr_assert(eq(dbl, cfg.z_score_threshold, 2.5));
    cr_assert(eq(u32, cfg.moving_average_window, 7));
    cr_assert(eq(u32, cfg.subsequence_length, 24));
    cr_assert(eq(dbl, cfg.sensitivity_high, 0.2));
    cr_assert(eq(u64, cfg.seed, 7));
    cr_assert(eq(str, cfg.stream_methods, "z-score"));
    cr_assert(eq(str, cfg.default_sensitivity, "low"));
    cr_assert(eq(u32, cfg.window, 64));
    cr_assert(eq(dbl, cfg.grouping_window_seconds, 60.5));
    aiops_config_fini(&cfg);
}

Test(config, flattens_nested_mappings_of_a_source)
{
    struct aiops_config cfg;
    char errbuf[256] = "";
    int err = load_text(&cfg,
                        "sources:\n"
                        "  - type: kafka\n"
                        "    properties:\n"
                        "      security.protocol: SASL_SSL\n"
                        "      sasl: {username: u, password: p}\n",
                        errbuf, sizeof(errbuf));

    cr_assert(eq(int, err, 0), "%s", errbuf);
    cr_assert(eq(sz, cfg.sources[0].n_kv, 3));
    cr_assert(eq(str, (char *)kv(&cfg.sources[0], "properties.security.protocol"), "SASL_SSL"));
    cr_assert(eq(str, (char *)kv(&cfg.sources[0], "properties.sasl.password"), "p"));
    aiops_config_fini(&cfg);
}

Test(config, names_an_unknown_key_with_its_file_and_line)
{
    struct aiops_config cfg;
    char errbuf[256] = "";
    int err = load_text(&cfg, "# comment\nhttp:\n  lisen: 0.0.0.0:8000\n", errbuf, sizeof(errbuf));

    cr_assert(eq(int, err, AIOPS_EINVAL));
    cr_assert(eq(str, errbuf, "config.yaml:3: unknown key 'http.lisen'"));
    aiops_config_fini(&cfg);

    err = load_text(&cfg, "bogus: 1\n", errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, AIOPS_EINVAL));
    cr_assert(eq(str, errbuf, "config.yaml:1: unknown key 'bogus'"));
    aiops_config_fini(&cfg);

    err = load_text(&cfg, "detection:\n  rules:\n    - {match: a, colour: red}\n", errbuf,
                    sizeof(errbuf));
    cr_assert(eq(int, err, AIOPS_EINVAL));
    cr_assert(eq(str, errbuf, "config.yaml:3: unknown key 'detection.rules[0].colour'"));
    aiops_config_fini(&cfg);
}

Test(config, names_the_key_and_line_of_a_value_of_the_wrong_type)
{
    struct aiops_config cfg;
    char errbuf[256] = "";
    int err;

    err = load_text(&cfg, "http:\n  detect_max_series: lots\n", errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, AIOPS_EINVAL));
    cr_assert(starts(errbuf, "config.yaml:2: http.detect_max_series: 'lots'"), "%s", errbuf);
    cr_assert(eq(u32, cfg.detect_max_series, 10), "a rejected value leaves the old one");
    aiops_config_fini(&cfg);

    err = load_text(&cfg, "log:\n  format: json\n  level: [debug]\n", errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, AIOPS_EINVAL));
    cr_assert(eq(str, errbuf, "config.yaml:3: 'log.level' must be a scalar, not a list"));
    aiops_config_fini(&cfg);

    err = load_text(&cfg, "http: [1, 2]\n", errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, AIOPS_EINVAL));
    cr_assert(eq(str, errbuf, "config.yaml:1: 'http' must be a mapping, not a list"));
    aiops_config_fini(&cfg);

    err = load_text(&cfg, "sources:\n  - {brokers: x}\n", errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, AIOPS_EINVAL));
    cr_assert(eq(str, errbuf, "config.yaml:2: 'sources[0]' has no 'type'"));
    aiops_config_fini(&cfg);

    err = load_text(&cfg, "detection: {z_score_threshold: -1}\n", errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, AIOPS_EINVAL));
    cr_assert(not(eq(ptr, strstr(errbuf, "config.yaml:1: detection.z_score_threshold"), NULL)),
              "%s", errbuf);
    aiops_config_fini(&cfg);
}

Test(config, reports_yaml_syntax_errors_and_missing_files)
{
    struct aiops_config cfg;
    char errbuf[256] = "";
    int err;

    err = load_text(&cfg, "http:\n  listen: [\n", errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, AIOPS_EINVAL));
    cr_assert(starts(errbuf, "config.yaml:"), "%s", errbuf);
    cr_assert(not(eq(ptr, strstr(errbuf, "YAML syntax error"), NULL)), "%s", errbuf);
    aiops_config_fini(&cfg);

    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    err = aiops_config_load_file(&cfg, "nope.yaml", errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, AIOPS_ENOENT));
    cr_assert(starts(errbuf, "nope.yaml: "), "%s", errbuf);
    aiops_config_fini(&cfg);

    err = load_text(&cfg, "", errbuf, sizeof(errbuf));
    cr_assert(eq(int, err, 0), "an empty file changes nothing");
    cr_assert(eq(str, cfg.listen, "127.0.0.1:8000"));
    aiops_config_fini(&cfg);
}

Test(config, survives_hostile_yaml_without_crashing)
{
    static const char *const inputs[] = {
        "a: &a [*a]\n",
        "sources: &s [{type: x, p: &p {a: *p}}]\n",
        "sources: [{type: x, l: [[1]]}]\n",
        "detection: &d {default: *d}\n",
        "? [a]\n: b\n",
        "http: {listen: \"\\0\"}\n",
        "--- 1\n--- 2\n",
        "sources: [1, 2]\n",
        "detection: {rules: [{match: a, methods: {x: 1}}]}\n",
        "detection: {rules: [{match: a, window: 1}]}\n",
        "\xff\xfe\x00garbage",
    };
    struct aiops_config cfg;
    char errbuf[256];

    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        int err = load_text(&cfg, inputs[i], errbuf, sizeof(errbuf));

        cr_assert(le(int, err, 0));
        aiops_config_fini(&cfg);
    }
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(config, aiops_names_beat_the_old_services_names)
{
    struct aiops_config cfg;
    char errbuf[256] = "";

    setenv("Z_SCORE_THRESHOLD", "2", 1);
    setenv("AIOPS_Z_SCORE_THRESHOLD", "4", 1);
    setenv("DEFAULT_WINDOW_SIZE", "20", 1);
    setenv("SENSITIVITY_LOW", "0.001", 1);
    setenv("ANOMALY_GROUPING_WINDOW_SECONDS", "60", 1);
    setenv("AIOPS_LOG_FORMAT", "json", 1);
    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(int, aiops_config_load_env(&cfg, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    cr_assert(eq(dbl, cfg.z_score_threshold, 4.0));
    cr_assert(eq(u32, cfg.moving_average_window, 20), "the legacy name alone works");
    cr_assert(eq(dbl, cfg.sensitivity_low, 0.001));
    cr_assert(eq(dbl, cfg.grouping_window_seconds, 60.0));
    cr_assert(eq(str, cfg.log_format, "json"));
    aiops_config_fini(&cfg);
}

Test(config, names_the_variable_of_a_bad_environment_value)
{
    struct aiops_config cfg;
    char errbuf[256] = "";

    setenv("SENSITIVITY_HIGH", "lots", 1);
    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(int, aiops_config_load_env(&cfg, errbuf, sizeof(errbuf)), AIOPS_EINVAL));
    cr_assert(starts(errbuf, "environment variable SENSITIVITY_HIGH: "), "%s", errbuf);
    aiops_config_fini(&cfg);

    unsetenv("SENSITIVITY_HIGH");
    setenv("PORT", "80a", 1);
    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(int, aiops_config_load_env(&cfg, errbuf, sizeof(errbuf)), AIOPS_EINVAL));
    cr_assert(starts(errbuf, "environment variable PORT: "), "%s", errbuf);
    aiops_config_fini(&cfg);
}

Test(config, host_and_port_each_replace_their_half_of_listen)
{
    struct aiops_config cfg;
    char errbuf[256] = "";

    setenv("PORT", "9001", 1);
    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(int, aiops_config_load_env(&cfg, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    cr_assert(eq(str, cfg.listen, "127.0.0.1:9001"));
    aiops_config_fini(&cfg);

    unsetenv("PORT");
    setenv("HOST", "0.0.0.0", 1);
    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(int, aiops_config_load_env(&cfg, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    cr_assert(eq(str, cfg.listen, "0.0.0.0:8000"));
    aiops_config_fini(&cfg);

    setenv("HOST", "::1", 1);
    setenv("PORT", "8080", 1);
    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(int, aiops_config_load_env(&cfg, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    cr_assert(eq(str, cfg.listen, "[::1]:8080"));
    aiops_config_fini(&cfg);

    setenv("AIOPS_LISTEN", "10.0.0.1:1234", 1);
    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(int, aiops_config_load_env(&cfg, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    cr_assert(eq(str, cfg.listen, "10.0.0.1:1234"), "AIOPS_LISTEN beats HOST and PORT");
    aiops_config_fini(&cfg);
}

Test(config, accepts_the_old_services_database_url_and_debug)
{
    struct aiops_config cfg;
    char errbuf[256] = "";

    setenv("DATABASE_URL", "sqlite+aiosqlite:///./old.db", 1);
    setenv("DEBUG", "true", 1);
    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(int, aiops_config_load_env(&cfg, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    cr_assert(eq(str, cfg.database_url, "sqlite+aiosqlite:///./old.db"));
    cr_assert(cfg.debug);
    cr_assert(eq(str, cfg.log_level, "debug"));
    cr_assert(eq(int, aiops_config_validate(&cfg, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    aiops_config_fini(&cfg);

    setenv("DEBUG", "1", 1);
    setenv("AIOPS_DATABASE_URL", "sqlite:///./new.db", 1);
    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(int, aiops_config_load_env(&cfg, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    cr_assert(eq(str, cfg.database_url, "sqlite:///./new.db"));
    cr_assert(eq(str, cfg.log_level, "debug"));
    aiops_config_fini(&cfg);

    setenv("DEBUG", "false", 1);
    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(int, aiops_config_load_env(&cfg, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    cr_assert(not(cfg.debug));
    cr_assert(eq(str, cfg.log_level, "info"));
    aiops_config_fini(&cfg);
}

Test(config, dotenv_fills_unset_variables_without_overriding_set_ones)
{
    char errbuf[256] = "";

    setenv("PORT", "7000", 1);
    write_file(".env", "# the old service's settings\n"
                       "PORT=8001\n"
                       "export HOST=\"0.0.0.0\"\n"
                       "DATABASE_URL = 'sqlite:///./a b.db'  # quoted\n"
                       "\n"
                       "AIOPS_CORS_ORIGINS=http://x # trailing comment\n"
                       "EMPTY=\n");
    cr_assert(eq(int, aiops_config_load_dotenv(".env", errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    cr_assert(eq(str, getenv("PORT"), "7000"), "an existing variable wins");
    cr_assert(eq(str, getenv("HOST"), "0.0.0.0"));
    cr_assert(eq(str, getenv("DATABASE_URL"), "sqlite:///./a b.db"));
    cr_assert(eq(str, getenv("AIOPS_CORS_ORIGINS"), "http://x"));
    cr_assert(eq(str, getenv("EMPTY"), ""));
    cr_assert(eq(int, aiops_config_load_dotenv("missing.env", errbuf, sizeof(errbuf)), 0));

    write_file("bad.env", "OK=1\nNOT A LINE\n");
    cr_assert(eq(int, aiops_config_load_dotenv("bad.env", errbuf, sizeof(errbuf)), AIOPS_EINVAL));
    cr_assert(eq(str, errbuf, "bad.env:2: expected NAME=VALUE"));
    write_file("open.env", "A=\"never closed\n");
    cr_assert(eq(int, aiops_config_load_dotenv("open.env", errbuf, sizeof(errbuf)), AIOPS_EINVAL));
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(config, flags_beat_the_environment_which_beats_the_file)
{
    const char *const args[] = {"run",     "--config", "config.yaml",      "--listen=0.0.0.0:7777",
                                "keep-me", "--set",    "detection.seed=9", "--log-format",
                                "json",    NULL};
    struct aiops_config cfg;
    char *argv[16], errbuf[256] = "";
    int argc;

    write_file("config.yaml", "http: {listen: \"1.1.1.1:1\", detect_max_series: 3}\n"
                              "detection: {seed: 5, z_score_threshold: 2}\n"
                              "log: {format: text}\n");
    setenv("AIOPS_LISTEN", "2.2.2.2:2", 1);
    setenv("AIOPS_Z_SCORE_THRESHOLD", "3.5", 1);
    cr_assert(eq(int, cli_load(&cfg, args, &argc, argv, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    cr_assert(eq(str, cfg.listen, "0.0.0.0:7777"), "flag over env over file");
    cr_assert(eq(dbl, cfg.z_score_threshold, 3.5), "env over file");
    cr_assert(eq(u32, cfg.detect_max_series, 3), "file over defaults");
    cr_assert(eq(u64, cfg.seed, 9));
    cr_assert(eq(str, cfg.log_format, "json"));
    cr_assert(eq(str, cfg.config_file, "config.yaml"));
    cr_assert(eq(int, argc, 2), "the shared flags are removed");
    cr_assert(eq(str, argv[0], "run"));
    cr_assert(eq(str, argv[1], "keep-me"));
    cr_assert(eq(ptr, argv[2], NULL));
    aiops_config_fini(&cfg);
}

Test(config, finds_the_file_through_aiops_config_and_dotenv)
{
    const char *const args[] = {"replay", "--", "--listen", NULL};
    struct aiops_config cfg;
    char *argv[8], errbuf[256] = "";
    int argc;

    write_file("from-env.yaml", "http: {detect_max_series: 4}\n");
    write_file(".env", "AIOPS_CONFIG=from-env.yaml\nAIOPS_WINDOW=32\n");
    cr_assert(eq(int, cli_load(&cfg, args, &argc, argv, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    cr_assert(eq(u32, cfg.detect_max_series, 4));
    cr_assert(eq(u32, cfg.window, 32));
    cr_assert(eq(int, argc, 3), "flags after -- belong to the command");
    cr_assert(eq(str, argv[2], "--listen"));
    aiops_config_fini(&cfg);
}

Test(config, flag_errors_name_the_flag_and_leave_nothing_to_free)
{
    const char *const bad_key[] = {"run", "--set", "http.lisen=1", NULL};
    const char *const bad_value[] = {"run", "--log-level", "loud", NULL};
    const char *const no_value[] = {"run", "--database-url", NULL};
    const char *const bad_listen[] = {"run", "--listen", "localhost", NULL};
    const char *const bad_file[] = {"run", "--config", "absent.yaml", NULL};
    struct aiops_config cfg;
    char *argv[8], errbuf[256] = "";
    int argc;

    cr_assert(eq(int, cli_load(&cfg, bad_key, &argc, argv, errbuf, sizeof(errbuf)), AIOPS_ENOENT));
    cr_assert(eq(str, errbuf, "--set http.lisen=1: unknown key 'http.lisen'"));
    cr_assert(eq(ptr, cfg.listen, NULL));
    cr_assert(eq(long, aiops_mem_live(), 0));

    cr_assert(
        eq(int, cli_load(&cfg, bad_value, &argc, argv, errbuf, sizeof(errbuf)), AIOPS_EINVAL));
    cr_assert(starts(errbuf, "--log-level loud: log.level: "), "%s", errbuf);
    cr_assert(eq(int, cli_load(&cfg, no_value, &argc, argv, errbuf, sizeof(errbuf)), AIOPS_EINVAL));
    cr_assert(eq(str, errbuf, "--database-url needs a value"));
    cr_assert(
        eq(int, cli_load(&cfg, bad_listen, &argc, argv, errbuf, sizeof(errbuf)), AIOPS_EINVAL));
    cr_assert(starts(errbuf, "--listen localhost: http.listen: "), "%s", errbuf);
    cr_assert(eq(int, cli_load(&cfg, bad_file, &argc, argv, errbuf, sizeof(errbuf)), AIOPS_ENOENT));
    cr_assert(starts(errbuf, "absent.yaml: "), "%s", errbuf);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(config, validate_checks_values_across_fields)
{
    struct aiops_config cfg;
    char errbuf[256] = "";

    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(
        eq(int, aiops_config_set(&cfg, "http.detect_min_points", "2000000", errbuf, sizeof(errbuf)),
           0));
    cr_assert(eq(int, aiops_config_validate(&cfg, errbuf, sizeof(errbuf)), AIOPS_EINVAL));
    cr_assert(not(eq(ptr, strstr(errbuf, "http.detect_min_points"), NULL)), "%s", errbuf);
    aiops_config_fini(&cfg);

    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    aiops_config_set(&cfg, "detection.sensitivity_low", "0.3", errbuf, sizeof(errbuf));
    cr_assert(eq(int, aiops_config_validate(&cfg, errbuf, sizeof(errbuf)), AIOPS_EINVAL));
    cr_assert(not(eq(ptr, strstr(errbuf, "detection.sensitivity_low"), NULL)), "%s", errbuf);
    aiops_config_fini(&cfg);

    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    cr_assert(eq(int,
                 aiops_config_set(&cfg, "detection.default.methods", "no-such-method", errbuf,
                                  sizeof(errbuf)),
                 AIOPS_EINVAL));
    cr_assert(eq(str, errbuf, "detection.default.methods: unknown method 'no-such-method'"));
    aiops_config_fini(&cfg);

    cr_assert(eq(int,
                 load_text(&cfg, "detection: {rules: [{match: x, methods: [nope]}]}\n", errbuf,
                           sizeof(errbuf)),
                 0));
    cr_assert(eq(int, aiops_config_validate(&cfg, errbuf, sizeof(errbuf)), AIOPS_EINVAL));
    cr_assert(eq(str, errbuf, "detection.rules[0].methods: unknown method 'nope'"));
    aiops_config_fini(&cfg);
}

Test(config, splits_listen_into_host_and_port)
{
    char host[64];
    int port = 0;

    cr_assert(eq(int, aiops_config_listen_split("127.0.0.1:8000", host, sizeof(host), &port), 0));
    cr_assert(eq(str, host, "127.0.0.1"));
    cr_assert(eq(int, port, 8000));
    cr_assert(eq(int, aiops_config_listen_split("[::1]:80", host, sizeof(host), &port), 0));
    cr_assert(eq(str, host, "::1"));
    cr_assert(eq(int, port, 80));
    cr_assert(
        eq(int, aiops_config_listen_split("localhost", host, sizeof(host), &port), AIOPS_EINVAL));
    cr_assert(
        eq(int, aiops_config_listen_split("h:70000", host, sizeof(host), &port), AIOPS_EINVAL));
    cr_assert(eq(int, aiops_config_listen_split(":80", host, sizeof(host), &port), AIOPS_EINVAL));
    cr_assert(
        eq(int, aiops_config_listen_split("::1:80", host, sizeof(host), &port), AIOPS_EINVAL));
}

Test(config, hands_the_detection_section_to_detectors)
{
    struct aiops_detector_params p;
    struct aiops_config cfg;
    char errbuf[256];

    cr_assert(eq(int, aiops_config_init(&cfg), 0));
    aiops_config_set(&cfg, "detection.default.window", "64", errbuf, sizeof(errbuf));
    aiops_config_set(&cfg, "detection.moving_average_window", "5", errbuf, sizeof(errbuf));
    aiops_config_set(&cfg, "detection.z_score_threshold", "2.5", errbuf, sizeof(errbuf));
    aiops_config_set(&cfg, "detection.seed", "1234", errbuf, sizeof(errbuf));
    aiops_config_set(&cfg, "detection.subsequence_length", "32", errbuf, sizeof(errbuf));
    aiops_config_detector_params(&cfg, AIOPS_SENSITIVITY_HIGH, &p);
    cr_assert(eq(int, p.sensitivity, AIOPS_SENSITIVITY_HIGH));
    cr_assert(eq(u32, p.window, 64));
    cr_assert(eq(u32, p.ma_window, 5));
    cr_assert(eq(dbl, p.z_threshold, 2.5));
    cr_assert(eq(u64, p.seed, 1234));
    cr_assert(eq(u32, p.subsequence, 32));
    cr_assert(
        eq(int, aiops_config_set(&cfg, "detection.subsequence_length", "3", errbuf, sizeof(errbuf)),
           AIOPS_ERANGE),
        "a matrix profile needs stretches of 4 points at least");
    aiops_config_fini(&cfg);
}

/* aiops_config_print into a string. */
static char *print_to_string(const struct aiops_config *cfg)
{
    static char out[16384];
    FILE *f = fmemopen(out, sizeof(out), "w");

    cr_assert(f != NULL);
    cr_assert(eq(int, aiops_config_print(cfg, f), 0));
    fclose(f);
    return out;
}

Test(config, print_masks_passwords_and_secret_keys)
{
    struct aiops_config cfg;
    char errbuf[256] = "";
    const char *text;
    int err = load_text(&cfg,
                        "storage: {url: \"postgresql://user:hunter2@db:5432/aiops\"}\n"
                        "sources:\n"
                        "  - type: kafka\n"
                        "    brokers: \"k:9092\"\n"
                        "    properties: {sasl.username: bob, sasl.password: s3cr3t}\n"
                        "    api_token: t0ken\n"
                        "sinks:\n"
                        "  - {type: mqtt, url: \"mqtt://u:pw@broker:1883\", topic: a}\n",
                        errbuf, sizeof(errbuf));

    cr_assert(eq(int, err, 0), "%s", errbuf);
    text = print_to_string(&cfg);
    cr_assert(not(eq(ptr, strstr(text, "\"postgresql://user:***@db:5432/aiops\""), NULL)), "%s",
              text);
    cr_assert(not(eq(ptr, strstr(text, "\"mqtt://u:***@broker:1883\""), NULL)), "%s", text);
    cr_assert(eq(ptr, strstr(text, "hunter2"), NULL), "%s", text);
    cr_assert(eq(ptr, strstr(text, "s3cr3t"), NULL), "%s", text);
    cr_assert(eq(ptr, strstr(text, "t0ken"), NULL), "%s", text);
    cr_assert(eq(ptr, strstr(text, ":pw@"), NULL), "%s", text);
    cr_assert(not(eq(ptr, strstr(text, "properties.sasl.password: \"***\""), NULL)), "%s", text);
    cr_assert(not(eq(ptr, strstr(text, "http:\n  listen: \"127.0.0.1:8000\"\n"), NULL)), "%s",
              text);
    cr_assert(not(eq(ptr, strstr(text, "\n  cors_origins: \"\"\n"), NULL)), "%s", text);
    cr_assert(not(eq(ptr, strstr(text, "  default:\n    methods: \"auto\"\n"), NULL)), "%s", text);
    aiops_config_fini(&cfg);
}

Test(config, printed_configuration_loads_back_to_the_same_values)
{
    struct aiops_config cfg, again;
    char errbuf[256] = "";
    const char *text;

    cr_assert(eq(int, load_text(&cfg, issue_example, errbuf, sizeof(errbuf)), 0), "%s", errbuf);
    aiops_config_set(&cfg, "detection.z_score_threshold", "2.75", errbuf, sizeof(errbuf));
    text = print_to_string(&cfg);
    cr_assert(eq(int, load_text(&again, text, errbuf, sizeof(errbuf)), 0), "%s\n%s", errbuf, text);
    cr_assert(eq(str, again.listen, cfg.listen));
    cr_assert(eq(dbl, again.z_score_threshold, 2.75));
    cr_assert(eq(str, again.stream_methods, "auto"));
    cr_assert(eq(sz, again.n_sources, 2));
    cr_assert(eq(str, (char *)kv(&again.sources[1], "topics"), "metrics/#"));
    cr_assert(eq(sz, again.n_rules, 1));
    cr_assert(eq(int, again.rules[0].sensitivity, AIOPS_SENSITIVITY_HIGH));
    aiops_config_fini(&again);
    aiops_config_fini(&cfg);
}

Test(config, option_list_covers_every_row_in_markdown)
{
    static char out[16384];
    FILE *f = fmemopen(out, sizeof(out), "w");

    cr_assert(f != NULL);
    aiops_config_print_options(f, true);
    fclose(f);
    cr_assert(not(eq(ptr, strstr(out, "| Key | Environment | Default | Description |"), NULL)));
    cr_assert(
        not(eq(ptr, strstr(out, "| `storage.url` | `AIOPS_DATABASE_URL`, `DATABASE_URL` |"), NULL)),
        "%s", out);
    for (size_t i = 0; i < aiops_config_n_options; i++) {
        char cell[96];

        snprintf(cell, sizeof(cell), "| `%s` |", aiops_config_options[i].key);
        cr_assert(not(eq(ptr, strstr(out, cell), NULL)), "%s missing", cell);
    }
}

/* Reads a file of the repository (found from this file's path as CMake compiles it) into text. */
static void read_repo_file(const char *name, char *text, size_t len)
{
    char line[512], path[512];
    const char *here = __FILE__, *tests = strstr(here, "tests/config/");
    FILE *f;

    cr_assert(tests != NULL, "%s", here);
    snprintf(path, sizeof(path), "%.*s%s", (int)(tests - here), here, name);
    f = fopen(path, "r");
    cr_assert(f != NULL, "%s", path);
    text[0] = '\0';
    while (fgets(line, sizeof(line), f) != NULL)
        strncat(text, line, len - strlen(text) - 1);
    fclose(f);
}

Test(config, env_example_lists_every_variable)
{
    static char text[65536];

    read_repo_file(".env.example", text, sizeof(text));
    for (size_t i = 0; i < aiops_config_n_options; i++) {
        char name[64];

        snprintf(name, sizeof(name), "%s=", aiops_config_options[i].env);
        cr_assert(not(eq(ptr, strstr(text, name), NULL)), "%s missing", name);
    }
}

Test(config, readme_documents_every_option)
{
    static char text[131072];

    read_repo_file("README.md", text, sizeof(text));
    for (size_t i = 0; i < aiops_config_n_options; i++) {
        char cell[96];

        snprintf(cell, sizeof(cell), "| `%s` |", aiops_config_options[i].key);
        cr_assert(not(eq(ptr, strstr(text, cell), NULL)), "README lacks %s", cell);
    }
}

Test(config, config_check_exits_0_1_or_2)
{
    char *ok[] = {"config", "check", "--set", "http.detect_max_series=3", NULL};
    char *bad[] = {"config", "check", "--set", "http.lisen=1", NULL};
    char *usage[] = {"config", "check", "--listen", NULL};
    char *extra[] = {"config", "check", "stray", NULL};

    cr_redirect_stdout();
    cr_redirect_stderr();
    cr_assert(eq(int, aiops_cmd_config(4, ok), 0));
    cr_assert(eq(int, aiops_cmd_config(4, bad), 1));
    cr_assert(eq(int, aiops_cmd_config(3, usage), 2));
    cr_assert(eq(int, aiops_cmd_config(3, extra), 2));
    cr_assert(eq(int, aiops_cmd_config(1, ok), 2));
    fflush(stdout);
    fflush(stderr);
    cr_assert(eq(long, aiops_mem_live(), 0));
}

Test(config, load_file_frees_everything_when_an_allocation_fails)
{
    struct aiops_config cfg;
    char errbuf[256];
    long live_before;
    int err;

    write_file("config.yaml", issue_example);
    live_before = aiops_mem_live();
    for (long n = 0;; n++) {
        cr_assert(eq(int, aiops_config_init(&cfg), 0));
        aiops_mem_fail_after(n); /* the n-th allocation from now fails */
        err = aiops_config_load_file(&cfg, "config.yaml", errbuf, sizeof(errbuf));
        aiops_mem_fail_after(-1);
        if (err == 0) {
            cr_assert(eq(sz, cfg.n_sources, 2));
            aiops_config_fini(&cfg);
            break;
        }
        cr_assert(eq(int, err, AIOPS_ENOMEM), "allocation %ld: %s", n, errbuf);
        aiops_config_fini(&cfg);
        cr_assert(eq(long, aiops_mem_live(), live_before), "leak at allocation %ld", n);
    }
    cr_assert(eq(long, aiops_mem_live(), live_before));
}

Test(config, init_and_cli_load_free_everything_when_an_allocation_fails)
{
    const char *const args[] = {"run", "--config", "config.yaml", "--set", "log.level=error", NULL};
    struct aiops_config cfg;
    char *argv[8], errbuf[256];
    int argc, err;

    write_file("config.yaml", issue_example);
    for (long n = 0;; n++) {
        aiops_mem_fail_after(n);
        err = aiops_config_init(&cfg);
        aiops_mem_fail_after(-1);
        if (err == 0) {
            aiops_config_fini(&cfg);
            break;
        }
        cr_assert(eq(int, err, AIOPS_ENOMEM));
        cr_assert(eq(long, aiops_mem_live(), 0), "leak at allocation %ld", n);
    }
    for (long n = 0;; n++) {
        aiops_mem_fail_after(n);
        err = cli_load(&cfg, args, &argc, argv, errbuf, sizeof(errbuf));
        aiops_mem_fail_after(-1);
        if (err == 0) {
            cr_assert(eq(str, cfg.log_level, "error"));
            aiops_config_fini(&cfg);
            break;
        }
        cr_assert(eq(int, err, AIOPS_ENOMEM), "allocation %ld: %s", n, errbuf);
        cr_assert(eq(long, aiops_mem_live(), 0), "leak at allocation %ld", n);
    }
}
