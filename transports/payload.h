/* SPDX-License-Identifier: MIT */
/* Payload decoders: one broker message (or HTTP ingest body) in, metric points out. Formats are
 * sniffed per message: our own schema in JSON or msgpack, Telegraf's json and msgpack
 * serializers, the Influx line protocol and collectd's JSON. Pure functions of their input, no
 * I/O, safe on any thread; each has a libFuzzer target. */
#ifndef AIOPS_PAYLOAD_H
#define AIOPS_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "agent/metric.h"

enum aiops_payload_format {
    AIOPS_PAYLOAD_AUTO,    /* sniffed from the first bytes of each message */
    AIOPS_PAYLOAD_JSON,    /* our schema, Telegraf json or collectd JSON, told apart by keys */
    AIOPS_PAYLOAD_MSGPACK, /* our schema or Telegraf msgpack */
    AIOPS_PAYLOAD_INFLUX,  /* Influx line protocol */
};

struct aiops_payload_options {
    enum aiops_payload_format format;
    const char *resource_tag; /* the tag naming the resource in Telegraf/Influx/collectd
                               * payloads ("host"); collectd's "host" field otherwise */
    int64_t now_ms;           /* timestamp for points that carry none (Influx lines may not) */
    size_t max_points;        /* per message; more is rejected as "too_large" (0: 100,000) */
};

/* Why a message was rejected. reason is one of a small fixed set (a Prometheus label value):
 * "empty", "syntax", "schema", "value", "timestamp", "too_large", "unknown_format". */
struct aiops_payload_error {
    const char *reason; /* static */
    char detail[256];   /* for the log: what is wrong and where (byte offset, line, field) */
};

/* Defaults: AUTO, resource_tag "host", now_ms 0, max_points 100,000. */
void aiops_payload_options_init(struct aiops_payload_options *o);

/* Decodes one message and calls fn once per point, in message order. A message is all or
 * nothing: when any point in it is invalid nothing is emitted, so a retry or the dead-letter
 * topic sees the message whole. Returns the number of points (0 for a valid message with
 * none, e.g. Telegraf fields that are all strings), AIOPS_EINVAL with *err filled when the
 * message is malformed, AIOPS_ENOMEM, or the negative value fn returned. */
int aiops_payload_decode(const void *data, size_t len, const struct aiops_payload_options *o,
                         aiops_point_fn fn, void *ctx, struct aiops_payload_error *err);

/* Each format on its own (what AUTO dispatches to; also the fuzz targets' entry points). */
int aiops_payload_decode_json(const void *data, size_t len, const struct aiops_payload_options *o,
                              aiops_point_fn fn, void *ctx, struct aiops_payload_error *err);
int aiops_payload_decode_msgpack(const void *data, size_t len,
                                 const struct aiops_payload_options *o, aiops_point_fn fn,
                                 void *ctx, struct aiops_payload_error *err);
int aiops_payload_decode_influx(const void *data, size_t len, const struct aiops_payload_options *o,
                                aiops_point_fn fn, void *ctx, struct aiops_payload_error *err);

#endif
