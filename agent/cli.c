/* SPDX-License-Identifier: MIT */
/* The flags every command shares (--config, --listen, --database-url, --log-level,
 * --log-format, --set KEY=VALUE): taken out of argv and applied over the file and the
 * environment, so flags rank highest. Then the configuration is checked and logging set up. */
#include "agent/cli.h"

#include "agent/err.h"
#include "agent/log.h"
#include "agent/mem.h"
#include "config/config.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *flag;
    const char *key; /* NULL: --config and --set, handled apart */
} shared_flags[] = {
    {"--config", NULL},           {"--set", NULL},
    {"--listen", "http.listen"},  {"--database-url", "storage.url"},
    {"--log-level", "log.level"}, {"--log-format", "log.format"},
};

#define N_SHARED (sizeof(shared_flags) / sizeof(shared_flags[0]))

/* One flag taken from argv, applied once the file and the environment are loaded. */
struct pending {
    size_t flag;       /* index into shared_flags */
    const char *value; /* borrowed from argv */
};

/* The shared flag arg is (--flag or --flag=VALUE), or -1. */
static int match_flag(const char *arg)
{
    for (size_t i = 0; i < N_SHARED; i++) {
        size_t n = strlen(shared_flags[i].flag);

        if (strncmp(arg, shared_flags[i].flag, n) == 0 && (arg[n] == '\0' || arg[n] == '='))
            return (int)i;
    }
    return -1;
}

static int apply(struct aiops_config *cfg, const struct pending *p, char *errbuf, size_t errlen)
{
    const char *flag = shared_flags[p->flag].flag, *key = shared_flags[p->flag].key;
    char msg[512], name[128];
    const char *value = p->value;
    int err;

    if (key == NULL) { /* --set KEY=VALUE */
        const char *eq = strchr(p->value, '=');
        size_t n = eq != NULL ? (size_t)(eq - p->value) : 0;

        if (eq == NULL || n == 0 || n >= sizeof(name)) {
            snprintf(errbuf, errlen, "--set '%s': expected KEY=VALUE", p->value);
            return AIOPS_EINVAL;
        }
        memcpy(name, p->value, n);
        name[n] = '\0';
        key = name;
        value = eq + 1;
    }
    err = aiops_config_set(cfg, key, value, msg, sizeof(msg));
    if (err < 0)
        snprintf(errbuf, errlen, "%s %s: %s", flag, p->value, msg);
    return err;
}

int aiops_cli_load_config(struct aiops_config *cfg, int *argc, char **argv, char *errbuf,
                          size_t errlen)
{
    const char *file = NULL;
    enum aiops_log_level level;
    enum aiops_log_format format;
    struct pending *pending;
    size_t n_pending = 0;
    int kept = 1, i, err;

    memset(cfg, 0, sizeof(*cfg)); /* finalised: what an error leaves behind */
    pending = aiops_calloc((size_t)(*argc > 0 ? *argc : 1), sizeof(*pending));
    if (pending == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return AIOPS_ENOMEM;
    }
    for (i = 1; i < *argc; i++) {
        int f = match_flag(argv[i]);
        const char *eq, *value;

        if (strcmp(argv[i], "--") == 0)
            break; /* the rest belongs to the command */
        if (f < 0) {
            argv[kept++] = argv[i];
            continue;
        }
        eq = strchr(argv[i], '=');
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < *argc) {
            value = argv[++i];
        } else {
            snprintf(errbuf, errlen, "%s needs a value", argv[i]);
            err = AIOPS_EINVAL;
            goto err_free_pending;
        }
        if (shared_flags[f].key == NULL && strcmp(shared_flags[f].flag, "--config") == 0) {
            file = value;
        } else {
            pending[n_pending].flag = (size_t)f;
            pending[n_pending].value = value;
            n_pending++;
        }
    }
    for (; i < *argc; i++)
        argv[kept++] = argv[i];
    if (*argc > 0) {
        *argc = kept;
        argv[kept] = NULL;
    }

    err = aiops_config_load(cfg, file, errbuf, errlen); /* finalises cfg on error */
    if (err < 0)
        goto err_free_pending;
    for (size_t k = 0; k < n_pending; k++) {
        err = apply(cfg, &pending[k], errbuf, errlen);
        if (err < 0)
            goto err_fini_config;
    }
    err = aiops_config_validate(cfg, errbuf, errlen);
    if (err < 0)
        goto err_fini_config;
    if (aiops_log_level_parse(cfg->log_level, &level) < 0 ||
        aiops_log_format_parse(cfg->log_format, &format) < 0) {
        snprintf(errbuf, errlen, "log.level '%s' or log.format '%s' is not valid", cfg->log_level,
                 cfg->log_format);
        err = AIOPS_EINVAL;
        goto err_fini_config;
    }
    aiops_log_setup(level, format);
    aiops_free(pending);
    return 0;
err_fini_config:
    aiops_config_fini(cfg);
err_free_pending:
    aiops_free(pending);
    return err;
}
