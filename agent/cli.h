/* SPDX-License-Identifier: MIT */
/* The subcommands of aiops-agent. main.c parses the command word and hands the remaining
 * arguments (argv[0] is the command word) to one of these; each returns the exit status. */
#ifndef AIOPS_CLI_H
#define AIOPS_CLI_H

#include <stddef.h>

struct aiops_config;

int aiops_cmd_run(int argc, char **argv);    /* agent/run.c: serve until SIGINT/SIGTERM */
int aiops_cmd_replay(int argc, char **argv); /* agent/replay.c: CSV through the incremental path */
int aiops_cmd_config(int argc, char **argv); /* config/check.c: "config check" */
int aiops_cmd_demo(int argc, char **argv);   /* agent/demo.c: the old example script */

/* Loads defaults, file, .env and environment, then applies the flags shared by every command
 * and removes them from argv (argc updated): --config FILE, --listen ADDR:PORT,
 * --database-url URL, --log-level L, --log-format F, --set KEY=VALUE. Validates, and sets up
 * logging. Returns 0, or a negative AIOPS_E* with a message naming the bad key/flag. */
int aiops_cli_load_config(struct aiops_config *cfg, int *argc, char **argv, char *errbuf,
                          size_t errlen);

#endif
