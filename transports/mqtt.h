/* SPDX-License-Identifier: MIT */
/* MQTT source and sink (libmosquitto, its socket driven by the libuv loop: no thread of its own).
 * The source subscribes to topic filters and hands each message to the pipeline; the sink
 * publishes alerts to a templated topic and keeps each one until the broker acknowledges it.
 *
 * Keys of an entry (transport.h's start() fails with errbuf naming any other key):
 *   url            mqtt://host[:port] (1883) or mqtts://host[:port] (8883, TLS). Host names are
 *                  resolved synchronously on each connection attempt: prefer addresses.
 *   qos            0 or 1 (default 1), for subscriptions and for publishes.
 *   client_id      the source's default, while clean_session is false, is stable across
 *                  restarts: "aiops-agent-<hostname>-<source name>", so the broker keeps the
 *                  session and its queued QoS 1 messages while the agent is away or
 *                  reconnecting (two agents on one host with one config need explicit ids).
 *                  Otherwise "aiops-agent-<pid>-<n>".
 *   username, password
 *   tls.ca_file    (default: the system store, /etc/ssl/certs), tls.cert_file + tls.key_file
 *                  (client certificate), tls.insecure (true: skip the host name check).
 *   keepalive      seconds, 5..65535 (default 30).
 *   clean_session  source default false (see client_id), sink default true (the sink re-sends
 *                  what was not acknowledged itself, so it needs no session).
 * Source only:
 *   topics         filters, wildcards allowed (a YAML list is joined with ","): "metrics/#".
 * Sink only:
 *   topic          template, default "aiops/alerts/{resource_id}/{metric}". In the values, '/',
 *                  '+', '#' and control characters become '_' (a value adds no topic level and
 *                  no wildcard); so does any non-ASCII byte when a value is not valid UTF-8.
 *   format         json (default) or msgpack: which encoding of the event is the payload.
 *   buffer         the pipeline's s->queue_max (alerts queued before sources pause).
 *
 * Delivery. Source: MQTT has no offsets; at QoS 1 libmosquitto acknowledges a message (PUBACK)
 * once deliver() has returned, whether or not its effects are durable yet: at-most-once across
 * an agent crash, at-least-once across broker restarts. pause() stops reading the socket (TCP
 * backpressure reaches the broker); keepalive pings are still written, but a pause longer than
 * about the keepalive ends the connection, which is re-made on resume() (QoS 1 messages wait
 * in the broker's session meanwhile when clean_session is false).
 * Sink: at-least-once while the agent lives. publish() never drops: an alert leaves the queue
 * on its PUBACK (QoS 1) or once written (QoS 0). At most 100 are in flight; after a lost
 * connection every unacknowledged alert is sent again, in order, on the next one. stop()
 * tries to deliver the queue for up to 5 s, then disconnects.
 *
 * Prometheus samples (label source="<name>" or sink="<name>"):
 *   aiops_source_messages_total, aiops_source_rejected_total (deliver returned 0),
 *   aiops_source_connected, aiops_source_subscribed, aiops_source_paused,
 *   aiops_source_reconnects_total (connection attempts after the first);
 *   aiops_sink_queued, aiops_sink_queue_max, aiops_sink_inflight, aiops_sink_published_total
 *   (acknowledged), aiops_sink_resent_total, aiops_sink_connected, aiops_sink_reconnects_total. */
#ifndef AIOPS_MQTT_H
#define AIOPS_MQTT_H

#include "transports/transport.h"

extern const struct aiops_source_ops aiops_mqtt_source_ops;
extern const struct aiops_sink_ops aiops_mqtt_sink_ops;

#endif
