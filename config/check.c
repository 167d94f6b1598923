/* SPDX-License-Identifier: MIT */
/* `aiops-agent config check`: loads the configuration the way every command does and prints
 * the effective result (secrets masked), or names the bad key. `config options [--markdown]`
 * prints the option table, which is where the README's option list comes from. */
#include "agent/cli.h"
#include "config/config.h"

#include <stdio.h>
#include <string.h>

static void print_usage(FILE *out)
{
    fputs("usage: aiops-agent config check [--config FILE] [--listen ADDR:PORT]\n"
          "                                [--database-url URL] [--log-level L]\n"
          "                                [--log-format F] [--set KEY=VALUE]\n"
          "       aiops-agent config options [--markdown]\n"
          "`check` prints the effective configuration (exit 0) or the bad key (exit 1).\n",
          out);
}

/* True when args hold a usage mistake in the shared flags: one without its value, or a --set
 * that is not KEY=VALUE. These exit 2, a bad value exits 1. */
static bool flags_misused(int argc, char **argv)
{
    static const char *const flags[] = {"--config",       "--set",       "--listen",
                                        "--database-url", "--log-level", "--log-format"};

    for (int i = 1; i < argc; i++) {
        for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
            size_t n = strlen(flags[f]);
            const char *value;

            if (strncmp(argv[i], flags[f], n) != 0 || (argv[i][n] != '\0' && argv[i][n] != '='))
                continue;
            if (argv[i][n] == '=')
                value = argv[i] + n + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return true;
            if (f == 1 && (value[0] == '=' || strchr(value, '=') == NULL))
                return true;
            break;
        }
    }
    return false;
}

static int cmd_check(int argc, char **argv)
{
    struct aiops_config cfg;
    char errbuf[1024];
    int err;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return 0;
        }
    }
    if (flags_misused(argc, argv)) {
        print_usage(stderr);
        return 2;
    }
    err = aiops_cli_load_config(&cfg, &argc, argv, errbuf, sizeof(errbuf));
    if (err < 0) {
        fprintf(stderr, "aiops-agent config check: %s\n", errbuf);
        return 1;
    }
    if (argc > 1) {
        fprintf(stderr, "aiops-agent config check: unexpected argument '%s'\n", argv[1]);
        print_usage(stderr);
        aiops_config_fini(&cfg);
        return 2;
    }
    err = aiops_config_print(&cfg, stdout);
    aiops_config_fini(&cfg);
    if (err < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "aiops-agent config check: cannot write the configuration\n");
        return 1;
    }
    return 0;
}

int aiops_cmd_config(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "options") == 0) {
        if (argc == 2 || (argc == 3 && strcmp(argv[2], "--markdown") == 0)) {
            aiops_config_print_options(stdout, argc == 3);
            return 0;
        }
    } else if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        print_usage(stdout);
        return 0;
    }
    print_usage(stderr);
    return 2;
}
