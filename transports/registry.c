/* SPDX-License-Identifier: MIT */
/* The transports a config's `type:` can name. A new source or sink is one line here. */
#include "transports/transport.h"

#include "transports/kafka.h"
#include "transports/mqtt.h"

#include <string.h>

/* clang-format off */
static const struct aiops_source_ops *const sources[] = {
    &aiops_kafka_source_ops,
    &aiops_mqtt_source_ops,
    NULL,
};

static const struct aiops_sink_ops *const sinks[] = {
    &aiops_kafka_sink_ops,
    &aiops_mqtt_sink_ops,
    NULL,
};
/* clang-format on */

const struct aiops_source_ops *aiops_source_find(const char *type)
{
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
        if (sources[i] != NULL && strcmp(sources[i]->type, type) == 0)
            return sources[i];
    return NULL;
}

const struct aiops_sink_ops *aiops_sink_find(const char *type)
{
    for (size_t i = 0; i < sizeof(sinks) / sizeof(sinks[0]); i++)
        if (sinks[i] != NULL && strcmp(sinks[i]->type, type) == 0)
            return sinks[i];
    return NULL;
}
