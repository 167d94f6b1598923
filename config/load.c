/* SPDX-License-Identifier: MIT */
/* The configuration chain every command starts from (defaults, YAML file, .env, environment)
 * and the printer of the effective configuration, with secrets masked, that
 * `aiops-agent config check` shows. */
#include "config/config.h"

#include "agent/err.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DOTENV_PATH ".env" /* read from the working directory, as python-dotenv does */
#define MASK        "***"

int aiops_config_load(struct aiops_config *cfg, const char *file, char *errbuf, size_t errlen)
{
    int err;

    err = aiops_config_init(cfg);
    if (err < 0) {
        snprintf(errbuf, errlen, "out of memory");
        return err;
    }
    /* .env first: it may name the file (AIOPS_CONFIG); it still ranks above the file, since
     * its values are read back with the environment below. */
    err = aiops_config_load_dotenv(DOTENV_PATH, errbuf, errlen);
    if (err < 0)
        goto err_fini_config;
    if (file == NULL) {
        file = getenv("AIOPS_CONFIG");
        if (file != NULL && file[0] == '\0')
            file = NULL;
    }
    if (file != NULL) {
        err = aiops_config_load_file(cfg, file, errbuf, errlen);
        if (err < 0)
            goto err_fini_config;
    }
    err = aiops_config_load_env(cfg, errbuf, errlen);
    if (err < 0)
        goto err_fini_config;
    return 0;
err_fini_config:
    aiops_config_fini(cfg);
    return err;
}

static bool is_secret_key(const char *key)
{
    static const char *const words[] = {"password", "passwd", "secret", "token", "sasl"};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcasestr(key, words[i]) != NULL)
            return true;
    }
    return false;
}

/* Copies value into buf, masking the password of a URL ("scheme://user:***@host"); a URL with
 * a user but no password keeps it. A list of URLs ("a://u:p@h,b://...") is masked item by
 * item. */
static void mask_url(const char *value, char *buf, size_t len)
{
    size_t at = 0;

    buf[0] = '\0';
    while (*value != '\0' && at + 1 < len) {
        const char *sep = strstr(value, "://"), *auth, *end, *colon, *atsign;

        if (sep == NULL) {
            snprintf(buf + at, len - at, "%s", value);
            return;
        }
        auth = sep + 3;
        end = auth + strcspn(auth, "/?#,");
        atsign = NULL;
        for (const char *c = auth; c < end; c++) {
            if (*c == '@')
                atsign = c;
        }
        colon = atsign != NULL ? memchr(auth, ':', (size_t)(atsign - auth)) : NULL;
        if (colon == NULL) {
            at += (size_t)snprintf(buf + at, len - at, "%.*s", (int)(end - value), value);
        } else {
            at += (size_t)snprintf(buf + at, len - at, "%.*s" MASK "%.*s", (int)(colon + 1 - value),
                                   value, (int)(end - atsign), atsign);
        }
        value = end;
    }
    if (at >= len)
        buf[len - 1] = '\0';
}

/* Writes s as a double-quoted YAML scalar. */
static void put_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* Writes a key plain when it is a simple word ("sasl.password"), else quoted. */
static void put_key(FILE *out, const char *key)
{
    size_t n = strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

    if (n > 0 && key[n] == '\0' && isalpha((unsigned char)key[0]))
        fputs(key, out);
    else
        put_quoted(out, key);
}

static void put_value(FILE *out, const char *key, const char *value)
{
    char masked[1024];

    if (is_secret_key(key) && value[0] != '\0') {
        put_quoted(out, MASK);
        return;
    }
    mask_url(value, masked, sizeof(masked));
    put_quoted(out, masked);
}

static void print_entries(FILE *out, const char *section, const struct aiops_config_entry *e,
                          size_t n)
{
    fprintf(out, "%s:%s\n", section, n == 0 ? " []" : "");
    for (size_t i = 0; i < n; i++) {
        fputs("  - type: ", out);
        put_quoted(out, e[i].type);
        fputs("\n", out);
        for (size_t j = 0; j < e[i].n_kv; j++) {
            fprintf(out, "    ");
            put_key(out, e[i].kv[j].key);
            fputs(": ", out);
            put_value(out, e[i].kv[j].key, e[i].kv[j].value);
            fputs("\n", out);
        }
    }
}

static void print_rules(FILE *out, const struct aiops_config *cfg)
{
    fprintf(out, "  rules:%s\n", cfg->n_rules == 0 ? " []" : "");
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct aiops_config_rule *r = &cfg->rules[i];

        fputs("    - match: ", out);
        put_quoted(out, r->match);
        fputs("\n      methods: [", out);
        for (size_t j = 0; j < r->n_methods; j++) {
            fputs(j ? ", " : "", out);
            put_quoted(out, r->methods[j]);
        }
        fprintf(out, "]\n      sensitivity: %s\n", aiops_sensitivity_name(r->sensitivity));
        if (r->window != 0)
            fprintf(out, "      window: %u\n", (unsigned)r->window);
    }
}

/* Number of leading dot-separated components a and b share. */
static int common_depth(const char *a, const char *b)
{
    int depth = 0;

    for (size_t i = 0;; i++) {
        if (a[i] != b[i])
            return depth;
        if (a[i] == '.')
            depth++;
        if (a[i] == '\0')
            return depth;
    }
}

int aiops_config_print(const struct aiops_config *cfg, FILE *out)
{
    const char *prev = "";
    char value[1024];

    fprintf(out, "# aiops-agent effective configuration (file: %s)\n",
            cfg->config_file ? cfg->config_file : "none");
    for (size_t i = 0; i < aiops_config_n_options; i++) {
        const struct aiops_option *o = &aiops_config_options[i];
        int shared = common_depth(prev, o->key), depth = 0;
        const char *k = o->key;

        if (strncmp(prev, "detection.", 10) == 0 && strncmp(k, "detection.", 10) != 0)
            print_rules(out, cfg);
        /* Open every section of this key that the previous key did not share. */
        for (const char *dot; (dot = strchr(k, '.')) != NULL; k = dot + 1, depth++) {
            if (depth >= shared)
                fprintf(out, "%*s%.*s:\n", 2 * depth, "", (int)(dot - k), k);
        }
        fprintf(out, "%*s%s: ", 2 * depth, "", k);
        aiops_config_format_value(cfg, o, value, sizeof(value));
        if (o->type == AIOPS_OPT_STRING || o->type == AIOPS_OPT_ENUM) {
            if (o->flags & AIOPS_OPT_FIRST) {
                fputc('[', out);
                put_value(out, o->key, value);
                fputc(']', out);
            } else {
                put_value(out, o->key, value);
            }
        } else {
            fputs(value, out);
        }
        fputs("\n", out);
        prev = o->key;
    }
    if (strncmp(prev, "detection.", 10) == 0)
        print_rules(out, cfg);
    print_entries(out, "sources", cfg->sources, cfg->n_sources);
    print_entries(out, "sinks", cfg->sinks, cfg->n_sinks);
    return ferror(out) ? AIOPS_EIO : 0;
}
