/* SPDX-License-Identifier: MIT */
/* What the MQTT source and sink share (not for other modules): their options, and one
 * connection to a broker kept open on the loop. libmosquitto's socket is watched by a uv_poll_t
 * (readable while reading, writable only while mosquitto_want_write()) and a uv_timer_t calls
 * mosquitto_loop_misc() each second for the keepalive; no thread of libmosquitto's runs. A lost
 * connection is retried with backoff (100 ms doubling to 5 s) on a fresh mosquitto object, so
 * nothing of the old session's client-side state survives: the owner re-sends what it needs. */
#ifndef AIOPS_MQTT_CLIENT_H
#define AIOPS_MQTT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct aiops_config_entry;
struct mosquitto;
struct mosquitto_message;

/* An entry's settings; every string is owned (NULL when unset). */
struct aiops_mqtt_options {
    char *host;      /* from url */
    int port;        /* from url; 1883, or 8883 for mqtts:// */
    bool tls;        /* mqtts:// */
    char *topics;    /* source: comma-separated filters; sink: the topic template */
    int qos;         /* 0 or 1 */
    char *client_id; /* NULL when neither cfg nor the default gave one: the owner sets it */
    char *username, *password;
    char *ca_file, *cert_file, *key_file;
    bool tls_insecure; /* do not check the broker's host name against its certificate */
    int keepalive;     /* seconds, 5..65535 */
    bool clean_session;
};

/* Parses cfg into o. extra is a NULL-terminated list of the keys this role accepts besides
 * type and the common ones (url, qos, client_id, username, password, tls.*, keepalive,
 * clean_session); any other key fails with errbuf naming it. topics_key names the key of
 * o->topics, topics_default its value when absent (NULL: required). client_id_default (may be
 * NULL) is used when cfg has none. Returns 0, AIOPS_EINVAL (errbuf names the key and the problem)
 * or AIOPS_ENOMEM; on failure o holds nothing. */
int aiops_mqtt_options_parse(struct aiops_mqtt_options *o, const struct aiops_config_entry *cfg,
                             const char *const *extra, const char *topics_key,
                             const char *topics_default, bool clean_session_default,
                             const char *client_id_default, char *errbuf, size_t errlen);
void aiops_mqtt_options_fini(struct aiops_mqtt_options *o);

struct aiops_mqtt_client;

/* What the owner hears, from the loop: from inside libmosquitto's callbacks (connected,
 * message, subscribed, published), or from aiops_mqtt_client_sync/drop (lost). published may
 * also come from inside the owner's own mosquitto_publish (QoS 0 is "published" once written). */
struct aiops_mqtt_client_events {
    void (*connected)(struct aiops_mqtt_client *c); /* CONNACK accepted: (re)subscribe, send */
    void (*lost)(struct aiops_mqtt_client *c);      /* a connected session ended */
    void (*message)(struct aiops_mqtt_client *c, const struct mosquitto_message *m);
    void (*subscribed)(struct aiops_mqtt_client *c, int mid, int n, const int *granted);
    void (*published)(struct aiops_mqtt_client *c, int mid); /* PUBACK (QoS 1), sent (QoS 0) */
    void (*idle)(struct aiops_mqtt_client *c);   /* after each loop callback: owner's follow-up */
    void (*closed)(struct aiops_mqtt_client *c); /* after aiops_mqtt_client_close: all handles
                                                  * closed; the owner may free the client now */
};

struct aiops_mqtt_client {
    uv_loop_t *loop;
    const char *name;                     /* borrowed log/metrics label ("mqtt[0]") */
    const struct aiops_mqtt_options *opt; /* borrowed */
    const struct aiops_mqtt_client_events *ev;
    struct mosquitto *mosq;   /* NULL between connections */
    struct mqtt_poll *poll;   /* watches mosq's socket; NULL when none */
    uv_timer_t timer;         /* keepalive tick while a socket is open; backoff otherwise */
    uint64_t connect_started; /* uv_now of the current attempt, ms */
    uint32_t backoff_ms;      /* wait before the next attempt */
    unsigned events;          /* UV_READABLE | UV_WRITABLE currently polled */
    int open_handles;         /* the timer and any poll handle not yet closed */
    bool connected;           /* CONNACK accepted on the current socket */
    bool reading;             /* false while the owner paused reading */
    bool closing;             /* aiops_mqtt_client_close called */
    bool in_call;             /* inside a libmosquitto call made by this file */
    bool warned;              /* a failure of this outage was logged at warn already */
    bool drop_pending;        /* drop asked for inside a libmosquitto call */
    bool close_started;       /* handles are being closed */
    unsigned max_inflight;    /* set by the owner before start: QoS 1 messages libmosquitto
                               * sends before PUBACKs (0: its default, 20) */
    uint64_t attempts;        /* connection attempts started */
    uint64_t connects;        /* CONNACKs accepted */
};

/* Starts connecting c on loop (first attempt right away). opt, name and ev are borrowed and
 * must outlive c. Returns 0, AIOPS_ENOMEM or AIOPS_EIO (libmosquitto failed; errbuf says why);
 * on failure nothing is left open and closed is never called. */
int aiops_mqtt_client_start(struct aiops_mqtt_client *c, uv_loop_t *loop, const char *name,
                            const struct aiops_mqtt_options *opt,
                            const struct aiops_mqtt_client_events *ev, char *errbuf, size_t errlen);
/* Disconnects (a DISCONNECT packet when connected), closes the handles, then calls ev->closed
 * from the loop. Safe from inside any event. */
void aiops_mqtt_client_close(struct aiops_mqtt_client *c);
/* Reading on or off (pause/resume). While off, keepalive packets are still written; a
 * connection lost while off is retried only once reading is back on, because a new session
 * needs its CONNACK read. */
void aiops_mqtt_client_set_reading(struct aiops_mqtt_client *c, bool on);
/* After the owner called libmosquitto on c->mosq (publish, subscribe): watches for writes it
 * queued, notices a socket it closed. */
void aiops_mqtt_client_sync(struct aiops_mqtt_client *c);
/* Drops the current connection (after a failed call) and retries with backoff. */
void aiops_mqtt_client_drop(struct aiops_mqtt_client *c, const char *why);

#endif
