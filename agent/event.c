/* SPDX-License-Identifier: MIT */
/* Encodings of a streaming event: JSON for the API, the store and most alert consumers, msgpack
 * for sinks configured with `format: msgpack`. Both carry the same keys. */
#include "agent/event.h"

#include "agent/err.h"
#include "agent/timestamp.h"
#include "transports/api_json.h"

#include <msgpack.h>
#include <string.h>

const char *aiops_event_status_name(enum aiops_event_status s)
{
    return s == AIOPS_EVENT_OPEN ? "open" : "resolved";
}

static void json_key_string(struct aiops_buf *out, const char *key, const char *v)
{
    aiops_buf_printf(out, ",\"%s\":", key);
    aiops_json_string(out, v, strlen(v));
}

static void json_key_number(struct aiops_buf *out, const char *key, double v)
{
    aiops_buf_printf(out, ",\"%s\":", key);
    aiops_json_number(out, v);
}

int aiops_event_to_json(const struct aiops_event *e, struct aiops_buf *out)
{
    char start[32], end[32], updated[32];

    aiops_time_format_utc(e->start_ms, start, sizeof(start));
    aiops_time_format_utc(e->end_ms, end, sizeof(end));
    aiops_time_format_utc(e->updated_ms, updated, sizeof(updated));
    aiops_buf_puts(out, "{\"id\":\"");
    aiops_buf_puts(out, e->id);
    aiops_buf_puts(out, "\"");
    json_key_string(out, "resource_id", e->resource_id);
    json_key_string(out, "metric", e->metric);
    json_key_string(out, "status", aiops_event_status_name(e->status));
    json_key_string(out, "start_time", start);
    json_key_string(out, "end_time", end);
    json_key_number(out, "duration_seconds", e->duration_seconds);
    json_key_number(out, "max_score", e->max_score);
    aiops_buf_printf(out, ",\"anomaly_points\":%lld", (long long)e->anomaly_points);
    json_key_number(out, "peak_value", e->peak_value);
    json_key_number(out, "priority", e->priority);
    json_key_string(out, "severity", e->severity);
    json_key_string(out, "method", e->method);
    json_key_string(out, "reason", e->reason);
    aiops_buf_puts(out, ",\"labels\":");
    aiops_buf_puts(out, e->labels_json); /* already JSON */
    json_key_string(out, "incident_id", e->incident_id);
    json_key_string(out, "updated_at", updated);
    aiops_buf_printf(out, ",\"version\":%u}", (unsigned)e->version);
    return out->err;
}

static int write_buf(void *data, const char *buf, size_t len)
{
    return aiops_buf_append(data, buf, len) < 0 ? -1 : 0;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);

    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    pack_str(pk, k);
    pack_str(pk, v);
}

static void pack_kv_double(msgpack_packer *pk, const char *k, double v)
{
    pack_str(pk, k);
    msgpack_pack_double(pk, v);
}

/* labels_json is the flat {"k":"v"} object the tracker wrote: repack it as a map. */
static void pack_labels(msgpack_packer *pk, const char *json)
{
    struct {
        const char *s;
        size_t n;
    } parts[64];
    size_t n = 0;

    for (const char *p = json; *p != '\0' && n < 64; p++) {
        if (*p != '"')
            continue;
        parts[n].s = ++p;
        while (*p != '\0' && *p != '"')
            p += (*p == '\\' && p[1] != '\0') ? 2 : 1;
        parts[n].n = (size_t)(p - parts[n].s);
        n++;
        if (*p == '\0')
            break;
    }
    n &= ~(size_t)1;
    msgpack_pack_map(pk, n / 2);
    for (size_t i = 0; i < n; i++) {
        /* Escapes stay as written: labels are plain words in practice. */
        msgpack_pack_str(pk, parts[i].n);
        msgpack_pack_str_body(pk, parts[i].s, parts[i].n);
    }
}

int aiops_event_to_msgpack(const struct aiops_event *e, struct aiops_buf *out)
{
    msgpack_packer pk;
    char start[32], end[32], updated[32];

    aiops_time_format_utc(e->start_ms, start, sizeof(start));
    aiops_time_format_utc(e->end_ms, end, sizeof(end));
    aiops_time_format_utc(e->updated_ms, updated, sizeof(updated));
    msgpack_packer_init(&pk, out, write_buf);
    msgpack_pack_map(&pk, 18);
    pack_kv_str(&pk, "id", e->id);
    pack_kv_str(&pk, "resource_id", e->resource_id);
    pack_kv_str(&pk, "metric", e->metric);
    pack_kv_str(&pk, "status", aiops_event_status_name(e->status));
    pack_kv_str(&pk, "start_time", start);
    pack_kv_str(&pk, "end_time", end);
    pack_kv_double(&pk, "duration_seconds", e->duration_seconds);
    pack_kv_double(&pk, "max_score", e->max_score);
    pack_str(&pk, "anomaly_points");
    msgpack_pack_int64(&pk, e->anomaly_points);
    pack_kv_double(&pk, "peak_value", e->peak_value);
    pack_kv_double(&pk, "priority", e->priority);
    pack_kv_str(&pk, "severity", e->severity);
    pack_kv_str(&pk, "method", e->method);
    pack_kv_str(&pk, "reason", e->reason);
    pack_str(&pk, "labels");
    pack_labels(&pk, e->labels_json);
    pack_kv_str(&pk, "incident_id", e->incident_id);
    pack_kv_str(&pk, "updated_at", updated);
    pack_str(&pk, "version");
    msgpack_pack_uint32(&pk, e->version);
    return out->err;
}
