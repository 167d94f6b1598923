/* SPDX-License-Identifier: MIT */
/* The Kafka transports (librdkafka, served from the libuv loop). Config entries:
 *
 *   source: {type: kafka, brokers: "h:9092,...", topics: [metrics], group: aiops-agent,
 *            dead_letter_topic: aiops.dead, properties: {security.protocol: SSL, ...}}
 *   sink:   {type: kafka, brokers: "...", topic: aiops.alerts, format: json|msgpack,
 *            buffer: 10000, properties: {...}}
 *
 * Every properties.<key> goes verbatim to rd_kafka_conf_set(). The source commits offsets only
 * up to host->durable_seq() (at-least-once); a new group starts from the earliest offsets
 * (auto.offset.reset=earliest unless set). The sink is an idempotent producer keyed by
 * resource_id whose messages never expire (message.timeout.ms=0 unless set), so nothing is
 * dropped while the agent lives. "buffer" is read by the pipeline (aiops_sink.queue_max). */
#ifndef AIOPS_KAFKA_H
#define AIOPS_KAFKA_H

#include "transports/transport.h"

extern const struct aiops_source_ops aiops_kafka_source_ops;
extern const struct aiops_sink_ops aiops_kafka_sink_ops;

#endif
