/* SPDX-License-Identifier: MIT */
/* `aiops-agent replay`: a CSV file through one detector's incremental path, the way the agent
 * sees a live stream, with the scores written as CSV to stdout (for NAB-style evaluation). */
#include "agent/cli.h"
#include "agent/csv.h"
#include "agent/err.h"
#include "config/config.h"
#include "detectors/detector.h"

#include <stdio.h>
#include <string.h>

#define REPLAY_OUT_BUF (1u << 20) /* stdout is written in 1 MiB blocks */
#define REPLAY_IN_BUF  (1u << 16)

static char out_buf[REPLAY_OUT_BUF];
static char in_buf[REPLAY_IN_BUF];

static void print_usage(FILE *f)
{
    fputs("usage: aiops-agent replay --method M [--sensitivity low|medium|high] [--config FILE]\n"
          "                          [--set KEY=VALUE] FILE.csv\n"
          "       aiops-agent replay --list-methods\n"
          "Scores a timestamp,value CSV (\"-\" for stdin) point by point and prints\n"
          "timestamp,value,anomaly_score,is_anomaly.\n",
          f);
}

static void print_methods(FILE *f)
{
    fputs("implemented methods:", f);
    for (size_t i = 0; i < aiops_detector_count(); i++)
        fprintf(f, " %s", aiops_detector_at(i)->name);
    fputs("\n", f);
}

/* True when arg is --name or --name=VALUE. */
static bool is_flag(const char *arg, const char *name)
{
    size_t n = strlen(name);

    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int aiops_cmd_replay(int argc, char **argv)
{
    struct aiops_config cfg;
    struct aiops_detector_params params;
    struct aiops_detector *d = NULL;
    struct aiops_csv_stats stats;
    const struct aiops_detector_ops *ops;
    enum aiops_sensitivity sens;
    const char *method = NULL, *sensitivity = NULL, *path = NULL;
    char errbuf[512];
    FILE *in = NULL;
    bool only_files = false;
    int err, status = 2;

    err = aiops_cli_load_config(&cfg, &argc, argv, errbuf, sizeof(errbuf));
    if (err < 0) {
        fprintf(stderr, "aiops-agent replay: %s\n", errbuf);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char **slot = NULL;

        if (!only_files && is_flag(argv[i], "--method"))
            slot = &method;
        else if (!only_files && is_flag(argv[i], "--sensitivity"))
            slot = &sensitivity;
        if (slot != NULL) {
            const char *eq = strchr(argv[i], '=');

            if (eq != NULL) {
                *slot = eq + 1;
            } else if (i + 1 < argc) {
                *slot = argv[++i];
            } else {
                fprintf(stderr, "aiops-agent replay: %s needs a value\n", argv[i]);
                goto out_fini_config;
            }
        } else if (!only_files && strcmp(argv[i], "--list-methods") == 0) {
            /* One implemented method per line, for scripts such as bench/nab.sh. */
            for (size_t m = 0; m < aiops_detector_count(); m++)
                printf("%s\n", aiops_detector_at(m)->name);
            status = 0;
            goto out_fini_config;
        } else if (!only_files && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
            print_usage(stdout);
            status = 0;
            goto out_fini_config;
        } else if (!only_files && strcmp(argv[i], "--") == 0) {
            only_files = true;
        } else if (!only_files && argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "aiops-agent replay: unknown flag '%s'\n", argv[i]);
            print_usage(stderr);
            goto out_fini_config;
        } else if (path == NULL) {
            path = argv[i];
        } else {
            fprintf(stderr, "aiops-agent replay: one CSV file at a time ('%s')\n", argv[i]);
            goto out_fini_config;
        }
    }
    if (path == NULL) {
        print_usage(stderr);
        goto out_fini_config;
    }
    if (method == NULL)
        method = cfg.default_method;
    ops = aiops_detector_find(method);
    if (ops == NULL) {
        fprintf(stderr, "aiops-agent replay: unknown method '%s'\n", method);
        print_methods(stderr);
        goto out_fini_config;
    }
    if (sensitivity == NULL)
        sensitivity = cfg.default_sensitivity;
    if (aiops_sensitivity_parse(sensitivity, &sens) < 0) {
        fprintf(stderr, "aiops-agent replay: sensitivity must be low, medium or high, not '%s'\n",
                sensitivity);
        goto out_fini_config;
    }

    status = 1;
    aiops_config_detector_params(&cfg, sens, &params);
    err = aiops_detector_create(&d, ops, &params);
    if (err < 0) {
        fprintf(stderr, "aiops-agent replay: %s: %s\n", ops->name, aiops_strerror(err));
        goto out_fini_config;
    }
    in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "aiops-agent replay: %s: %s\n", path, strerror(errno));
        goto out_destroy_detector;
    }
    setvbuf(in, in_buf, _IOFBF, sizeof(in_buf));
    setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));

    err = aiops_csv_score_stream(d, in, path, stdout, stderr, &stats);
    if (err < 0)
        fprintf(stderr, "aiops-agent replay: %s: %s\n", path, aiops_strerror(err));
    else if (stats.rows == 0)
        fprintf(stderr, "aiops-agent replay: %s: no usable rows\n", path);
    else
        status = 0;
    if (in != stdin)
        fclose(in);
out_destroy_detector:
    aiops_detector_destroy(d);
out_fini_config:
    aiops_config_fini(&cfg);
    return status;
}
