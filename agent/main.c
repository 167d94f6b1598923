/* SPDX-License-Identifier: MIT */
/* aiops-agent's entry point: picks the subcommand and hands it the rest of the command line.
 * With no command word (or only flags) the agent runs, as the old service's `uvicorn` did. */
#include "agent/cli.h"
#include "config/config.h"

#include <stdio.h>
#include <string.h>

static void print_usage(FILE *out)
{
    fputs("usage: aiops-agent [run] [--config FILE] [--listen ADDR:PORT] [--database-url URL]\n"
          "                   [--log-level L] [--log-format text|json] [--set KEY=VALUE]\n"
          "       aiops-agent replay --method M [--sensitivity low|medium|high] FILE.csv\n"
          "       aiops-agent config check [--config FILE] [flags]\n"
          "       aiops-agent demo [--url URL] [--method M] [--sensitivity S]\n"
          "       aiops-agent --version | --help\n"
          "\n"
          "Streaming anomaly detection for infrastructure metrics. `run` serves the detect API,\n"
          "health, methods and metrics over HTTP (default http://127.0.0.1:8000) and keeps its\n"
          "history in SQLite (default ./aiops.db) until SIGINT/SIGTERM.\n"
          "\n"
          "Options (YAML key, environment variables, default); flags beat environment beats\n"
          "file beats defaults, and --set KEY=VALUE sets any key:\n",
          out);
    aiops_config_print_options(out, false);
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "run";

    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
        printf("aiops-agent %s\n", AIOPS_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        print_usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return aiops_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "replay") == 0)
        return aiops_cmd_replay(argc - 1, argv + 1);
    if (strcmp(cmd, "config") == 0)
        return aiops_cmd_config(argc - 1, argv + 1);
    if (strcmp(cmd, "demo") == 0)
        return aiops_cmd_demo(argc - 1, argv + 1);
    if (cmd[0] == '-') {
        /* Flags only: run. argv[0] stands in for the command word. */
        return aiops_cmd_run(argc, argv);
    }
    fprintf(stderr, "aiops-agent: unknown command '%s'\n\n", cmd);
    print_usage(stderr);
    return 2;
}
