/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the configuration parsers: arbitrary bytes as a YAML config file and as
 * a .env file. Either may be rejected; neither may crash, leak or leave cfg half-freed. */
#include "agent/mem.h"
#include "config/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[64];

static int write_file(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL)
        return -1;
    fwrite(data, 1, size, f);
    fclose(f);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct aiops_config cfg;
    char errbuf[512];

    if (path[0] == '\0')
        snprintf(path, sizeof(path), "/tmp/aiops-fuzz-config.%d", (int)getpid());
    if (write_file(data, size) < 0)
        return 0;
    if (aiops_config_init(&cfg) == 0) {
        if (aiops_config_load_file(&cfg, path, errbuf, sizeof(errbuf)) == 0)
            aiops_config_validate(&cfg, errbuf, sizeof(errbuf));
        aiops_config_fini(&cfg);
    }
    /* The same bytes as a .env file; it may set variables, so start each run clean. */
    clearenv();
    aiops_config_load_dotenv(path, errbuf, sizeof(errbuf));
    clearenv();
    unlink(path);
    return 0;
}
