/* SPDX-License-Identifier: MIT */
/* One broker connection on the loop, shared by the MQTT source and sink (see mqtt_client.h):
 * option parsing, libmosquitto driven by a uv_poll_t and a uv_timer_t, reconnects with backoff. */
#include "transports/mqtt_client.h"

#include "agent/err.h"
#include "agent/log.h"
#include "agent/mem.h"
#include "config/config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TICK_MS            1000  /* loop_misc period: keepalive is checked to the second */
#define BACKOFF_MIN_MS     100   /* first retry after a failure */
#define BACKOFF_MAX_MS     5000  /* retries settle at this period */
#define CONNECT_TIMEOUT_MS 10000 /* a socket without CONNACK this long is dropped */

/* A poll handle is bound to one fd, and each connection has a new socket: one per socket,
 * freed from its close callback. */
struct mqtt_poll {
    uv_poll_t h;
    struct aiops_mqtt_client *c;
};

/* libmosquitto is initialised while any client is open, so a process that stops them all
 * leaves nothing of it behind (LeakSanitizer). Loop thread only. */
static int lib_users;

static void lib_acquire(void)
{
    if (lib_users++ == 0)
        mosquitto_lib_init();
}

static void lib_release(void)
{
    assert(lib_users > 0);
    if (--lib_users == 0)
        mosquitto_lib_cleanup();
}

/* ---- options ---- */

static const char *const common_keys[] = {
    "url",           "qos",          "client_id",    "username",  "password",      "tls.ca_file",
    "tls.cert_file", "tls.key_file", "tls.insecure", "keepalive", "clean_session", NULL,
};

static bool key_in(const char *key, const char *const *list)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (strcmp(key, list[i]) == 0)
            return true;
    return false;
}

static int parse_bool(const char *key, const char *v, bool *out, char *errbuf, size_t errlen)
{
    if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0) {
        *out = true;
        return 0;
    }
    if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcasecmp(v, "no") == 0) {
        *out = false;
        return 0;
    }
    snprintf(errbuf, errlen, "%s: \"%s\" is not true or false", key, v);
    return AIOPS_EINVAL;
}

static int parse_int(const char *key, const char *v, long min, long max, int *out, char *errbuf,
                     size_t errlen)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        snprintf(errbuf, errlen, "%s: \"%s\" is not a whole number in %ld..%ld", key, v, min, max);
        return AIOPS_EINVAL;
    }
    *out = (int)n;
    return 0;
}

/* mqtt://host[:port][/] or mqtts://...; [v6] hosts in brackets. */
static int parse_url(struct aiops_mqtt_options *o, const char *url, char *errbuf, size_t errlen)
{
    const char *p, *host, *host_end;
    int port;

    if (strncmp(url, "mqtt://", 7) == 0) {
        p = url + 7;
        port = 1883;
    } else if (strncmp(url, "mqtts://", 8) == 0) {
        p = url + 8;
        port = 8883;
        o->tls = true;
    } else {
        snprintf(errbuf, errlen, "url: \"%s\" is not mqtt://host:port or mqtts://host:port", url);
        return AIOPS_EINVAL;
    }
    if (strchr(p, '@') != NULL) {
        snprintf(errbuf, errlen, "url: credentials belong in username and password");
        return AIOPS_EINVAL;
    }
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL)
            goto bad;
        p = host_end + 1;
    } else {
        host = p;
        host_end = p + strcspn(p, ":/");
        p = host_end;
    }
    if (host_end == host)
        goto bad;
    if (*p == ':') {
        char num[8];
        size_t n = strcspn(p + 1, "/");

        if (n == 0 || n >= sizeof(num))
            goto bad;
        memcpy(num, p + 1, n);
        num[n] = '\0';
        if (parse_int("url", num, 1, 65535, &port, errbuf, errlen) < 0)
            goto bad;
        p += 1 + n;
    }
    if (strcmp(p, "") != 0 && strcmp(p, "/") != 0)
        goto bad;
    o->host = aiops_strndup(host, (size_t)(host_end - host));
    if (o->host == NULL)
        return AIOPS_ENOMEM;
    o->port = port;
    return 0;
bad:
    snprintf(errbuf, errlen, "url: \"%s\" is not mqtt://host:port or mqtts://host:port", url);
    return AIOPS_EINVAL;
}

/* Copies cfg's value of key into *out (NULL when absent and def is NULL). */
static int dup_key(const struct aiops_config_entry *cfg, const char *key, const char *def,
                   char **out)
{
    const char *v = aiops_config_entry_get(cfg, key, def);

    *out = NULL;
    if (v == NULL)
        return 0;
    *out = aiops_strdup(v);
    return *out == NULL ? AIOPS_ENOMEM : 0;
}

void aiops_mqtt_options_fini(struct aiops_mqtt_options *o)
{
    aiops_free(o->host);
    aiops_free(o->topics);
    aiops_free(o->client_id);
    aiops_free(o->username);
    aiops_free(o->password);
    aiops_free(o->ca_file);
    aiops_free(o->cert_file);
    aiops_free(o->key_file);
    memset(o, 0, sizeof(*o));
}

int aiops_mqtt_options_parse(struct aiops_mqtt_options *o, const struct aiops_config_entry *cfg,
                             const char *const *extra, const char *topics_key,
                             const char *topics_default, bool clean_session_default,
                             const char *client_id_default, char *errbuf, size_t errlen)
{
    const char *v;
    int err;

    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < cfg->n_kv; i++) {
        const char *k = cfg->kv[i].key;

        if (strcmp(k, "type") != 0 && !key_in(k, common_keys) && !key_in(k, extra)) {
            snprintf(errbuf, errlen, "%s: unknown key for an mqtt %s", k,
                     strcmp(topics_key, "topic") == 0 ? "sink" : "source");
            return AIOPS_EINVAL;
        }
    }
    v = aiops_config_entry_get(cfg, "url", NULL);
    if (v == NULL) {
        snprintf(errbuf, errlen, "url: missing (mqtt://host:port)");
        return AIOPS_EINVAL;
    }
    err = parse_url(o, v, errbuf, errlen);
    if (err < 0)
        goto err_fini;
    v = aiops_config_entry_get(cfg, topics_key, topics_default);
    if (v == NULL || *v == '\0') {
        snprintf(errbuf, errlen, "%s: missing", topics_key);
        err = AIOPS_EINVAL;
        goto err_fini;
    }
    err = parse_int("qos", aiops_config_entry_get(cfg, "qos", "1"), 0, 1, &o->qos, errbuf, errlen);
    if (err < 0)
        goto err_fini;
    err = parse_int("keepalive", aiops_config_entry_get(cfg, "keepalive", "30"), 5, 65535,
                    &o->keepalive, errbuf, errlen);
    if (err < 0)
        goto err_fini;
    o->clean_session = clean_session_default;
    v = aiops_config_entry_get(cfg, "clean_session", NULL);
    if (v != NULL && (err = parse_bool("clean_session", v, &o->clean_session, errbuf, errlen)) < 0)
        goto err_fini;
    v = aiops_config_entry_get(cfg, "tls.insecure", NULL);
    if (v != NULL && (err = parse_bool("tls.insecure", v, &o->tls_insecure, errbuf, errlen)) < 0)
        goto err_fini;
    err = dup_key(cfg, "client_id", client_id_default, &o->client_id);
    if (err == 0 && o->client_id != NULL && (*o->client_id == '\0' || strlen(o->client_id) > 256)) {
        snprintf(errbuf, errlen, "client_id: empty or longer than 256 bytes");
        err = AIOPS_EINVAL;
    }
    if (err == 0)
        err = dup_key(cfg, topics_key, topics_default, &o->topics);
    if (err == 0)
        err = dup_key(cfg, "username", NULL, &o->username);
    if (err == 0)
        err = dup_key(cfg, "password", NULL, &o->password);
    if (err == 0)
        err = dup_key(cfg, "tls.ca_file", NULL, &o->ca_file);
    if (err == 0)
        err = dup_key(cfg, "tls.cert_file", NULL, &o->cert_file);
    if (err == 0)
        err = dup_key(cfg, "tls.key_file", NULL, &o->key_file);
    if (err < 0)
        goto err_fini;
    if (o->password != NULL && o->username == NULL) {
        snprintf(errbuf, errlen, "password: set without username");
        err = AIOPS_EINVAL;
        goto err_fini;
    }
    if ((o->cert_file == NULL) != (o->key_file == NULL)) {
        snprintf(errbuf, errlen, "%s: tls.cert_file and tls.key_file go together",
                 o->cert_file == NULL ? "tls.cert_file" : "tls.key_file");
        err = AIOPS_EINVAL;
        goto err_fini;
    }
    if (!o->tls && (o->ca_file != NULL || o->cert_file != NULL || o->tls_insecure)) {
        snprintf(errbuf, errlen, "url: tls.* options need an mqtts:// url");
        err = AIOPS_EINVAL;
        goto err_fini;
    }
    return 0;
err_fini:
    if (err == AIOPS_ENOMEM)
        snprintf(errbuf, errlen, "out of memory");
    aiops_mqtt_options_fini(o);
    return err;
}

/* ---- the connection ---- */

static void after_call(struct aiops_mqtt_client *c);
static void finish_close(struct aiops_mqtt_client *c);
static void on_timer(uv_timer_t *t);

static struct aiops_mqtt_client *client_of(void *obj)
{
    return obj;
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    struct aiops_mqtt_client *c = client_of(obj);

    (void)mosq;
    if (rc != 0) {
        /* libmosquitto closes the socket after this; after_call retries with backoff. */
        if (!c->warned)
            aiops_warn("mqtt", "%s: %s:%d refused the connection: %s", c->name, c->opt->host,
                       c->opt->port, mosquitto_connack_string(rc));
        c->warned = true;
        return;
    }
    c->connected = true;
    c->connects++;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->warned = false;
    aiops_info("mqtt", "%s: connected to %s:%d as %s", c->name, c->opt->host, c->opt->port,
               c->opt->client_id);
    if (c->ev->connected != NULL)
        c->ev->connected(c);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
    struct aiops_mqtt_client *c = client_of(obj);

    (void)mosq;
    if (c->ev->message != NULL && !c->closing)
        c->ev->message(c, m);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *granted)
{
    struct aiops_mqtt_client *c = client_of(obj);

    (void)mosq;
    if (c->ev->subscribed != NULL)
        c->ev->subscribed(c, mid, n, granted);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    struct aiops_mqtt_client *c = client_of(obj);

    (void)mosq;
    if (c->ev->published != NULL)
        c->ev->published(c, mid);
}

/* libmosquitto's own words on a failure (the OpenSSL reason of a TLS error, say): at warn for
 * the first failure of an outage, like ours, at debug after that. */
static void on_log(struct mosquitto *mosq, void *obj, int level, const char *text)
{
    struct aiops_mqtt_client *c = client_of(obj);

    (void)mosq;
    if (level == MOSQ_LOG_ERR && !c->warned)
        aiops_warn("mqtt", "%s: libmosquitto: %s", c->name, text);
    else if (level == MOSQ_LOG_ERR || level == MOSQ_LOG_WARNING)
        aiops_debug("mqtt", "%s: libmosquitto: %s", c->name, text);
}

/* A configured mosquitto object, or NULL with errbuf filled. The settings are checked here
 * (TLS files are opened), so start() reports them. */
static struct mosquitto *make_mosq(struct aiops_mqtt_client *c, char *errbuf, size_t errlen)
{
    const struct aiops_mqtt_options *o = c->opt;
    struct mosquitto *mosq;
    const char *what = NULL;
    int rc = MOSQ_ERR_SUCCESS;

    mosq = mosquitto_new(o->client_id, o->clean_session, c);
    if (mosq == NULL) {
        snprintf(errbuf, errlen, "mosquitto_new: %s", strerror(errno));
        return NULL;
    }
    mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (o->username != NULL) {
        what = "username";
        rc = mosquitto_username_pw_set(mosq, o->username, o->password);
    }
    if (rc == MOSQ_ERR_SUCCESS && o->tls) {
        /* No CA file: the system's store (capath), as a browser would. */
        what = o->ca_file != NULL ? "tls.ca_file" : o->cert_file != NULL ? "tls.cert_file" : "url";
        rc = mosquitto_tls_set(mosq, o->ca_file, o->ca_file != NULL ? NULL : "/etc/ssl/certs",
                               o->cert_file, o->key_file, NULL);
        if (rc == MOSQ_ERR_SUCCESS && o->tls_insecure) {
            what = "tls.insecure";
            rc = mosquitto_tls_insecure_set(mosq, true);
        }
    }
    if (rc == MOSQ_ERR_SUCCESS && c->max_inflight > 0) {
        what = "max_inflight";
        rc = mosquitto_max_inflight_messages_set(mosq, c->max_inflight);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(errbuf, errlen, "%s: %s", what, mosquitto_strerror(rc));
        mosquitto_destroy(mosq);
        return NULL;
    }
    mosquitto_log_callback_set(mosq, on_log);
    mosquitto_connect_callback_set(mosq, on_connect);
    mosquitto_message_callback_set(mosq, on_message);
    mosquitto_subscribe_callback_set(mosq, on_subscribe);
    mosquitto_publish_callback_set(mosq, on_publish);
    return mosq;
}

static void handle_closed(struct aiops_mqtt_client *c)
{
    assert(c->open_handles > 0);
    if (--c->open_handles == 0) {
        lib_release();
        c->ev->closed(c); /* may free c */
    }
}

static void on_poll_closed(uv_handle_t *h)
{
    struct mqtt_poll *p = h->data;
    struct aiops_mqtt_client *c = p->c;

    aiops_free(p);
    handle_closed(c);
}

/* Stops watching the socket. uv_close stops the poll at once: before mosquitto_destroy closes
 * the fd, or just after libmosquitto closed it itself, and always before a new socket could
 * reuse its number (attempts start only from the timer). */
static void unwatch(struct aiops_mqtt_client *c)
{
    if (c->poll != NULL) {
        uv_close((uv_handle_t *)&c->poll->h, on_poll_closed);
        c->poll = NULL;
    }
    c->events = 0;
}

/* Ends the current connection without a word to the broker; true when it was connected. */
static bool teardown(struct aiops_mqtt_client *c)
{
    bool was = c->connected;

    unwatch(c);
    if (c->mosq != NULL) {
        mosquitto_destroy(c->mosq); /* closes the socket */
        c->mosq = NULL;
    }
    c->connected = false;
    return was;
}

static void schedule_retry(struct aiops_mqtt_client *c)
{
    uv_timer_stop(&c->timer);
    if (c->closing || !c->reading)
        return; /* set_reading(true) retries */
    uv_timer_start(&c->timer, on_timer, c->backoff_ms, 0);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void lost(struct aiops_mqtt_client *c, const char *why)
{
    bool was = teardown(c);

    c->drop_pending = false;
    if (was) {
        aiops_warn("mqtt", "%s: connection to %s:%d lost: %s", c->name, c->opt->host, c->opt->port,
                   why);
        c->warned = true;
    } else if (!c->warned) {
        aiops_warn("mqtt", "%s: cannot connect to %s:%d: %s (retrying)", c->name, c->opt->host,
                   c->opt->port, why);
        c->warned = true;
    } else {
        aiops_debug("mqtt", "%s: cannot connect to %s:%d: %s", c->name, c->opt->host, c->opt->port,
                    why);
    }
    if (was && c->ev->lost != NULL)
        c->ev->lost(c);
    if (!c->closing)
        schedule_retry(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct mqtt_poll *p = h->data;
    struct aiops_mqtt_client *c = p->c;
    int rc = MOSQ_ERR_SUCCESS;

    if (status < 0) {
        /* libuv reports POLLERR as UV_EBADF: the socket failed (reset, refused). */
        lost(c, status == UV_EBADF ? "socket error" : uv_strerror(status));
        goto out;
    }
    c->in_call = true;
    if ((events & UV_READABLE) != 0)
        rc = mosquitto_loop_read(c->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS && (events & UV_WRITABLE) != 0 && mosquitto_socket(c->mosq) >= 0)
        rc = mosquitto_loop_write(c->mosq, 1);
    c->in_call = false;
    if (rc != MOSQ_ERR_SUCCESS && c->mosq != NULL && mosquitto_socket(c->mosq) >= 0)
        c->drop_pending = true; /* an error that left the socket open: start afresh */
    after_call(c);
out:
    if (!c->closing && c->ev->idle != NULL)
        c->ev->idle(c);
}

/* Starts a connection attempt on a fresh mosquitto object (or the one start() checked). */
static void attempt(struct aiops_mqtt_client *c)
{
    char errbuf[256];
    int rc;

    if (c->mosq == NULL)
        c->mosq = make_mosq(c, errbuf, sizeof(errbuf));
    if (c->mosq == NULL) {
        lost(c, errbuf);
        return;
    }
    c->attempts++;
    c->connect_started = uv_now(c->loop);
    c->in_call = true;
    rc = mosquitto_connect_async(c->mosq, c->opt->host, c->opt->port, c->opt->keepalive);
    c->in_call = false;
    if (rc != MOSQ_ERR_SUCCESS) {
        lost(c, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        return;
    }
    uv_timer_start(&c->timer, on_timer, TICK_MS, TICK_MS);
    after_call(c);
}

static void on_timer(uv_timer_t *t)
{
    struct aiops_mqtt_client *c = t->data;

    if (c->mosq == NULL || mosquitto_socket(c->mosq) < 0) {
        attempt(c);
    } else if (!c->connected && uv_now(c->loop) - c->connect_started > CONNECT_TIMEOUT_MS) {
        lost(c, "no CONNACK in time");
    } else {
        c->in_call = true;
        mosquitto_loop_misc(c->mosq); /* PINGREQ when due; closes a silent connection */
        c->in_call = false;
        after_call(c);
    }
    if (!c->closing && c->ev->idle != NULL)
        c->ev->idle(c);
}

/* Polls for what libmosquitto needs now. */
static void watch(struct aiops_mqtt_client *c)
{
    unsigned want = 0;
    int fd = mosquitto_socket(c->mosq);

    if (c->reading)
        want |= UV_READABLE;
    if (mosquitto_want_write(c->mosq))
        want |= UV_WRITABLE;
    if (c->poll == NULL) {
        struct mqtt_poll *p = aiops_malloc(sizeof(*p));

        if (p == NULL) {
            lost(c, "out of memory");
            return;
        }
        if (uv_poll_init_socket(c->loop, &p->h, fd) < 0) {
            aiops_free(p);
            lost(c, "cannot poll the socket");
            return;
        }
        p->h.data = p;
        p->c = c;
        c->poll = p;
        c->open_handles++;
        c->events = 0;
    }
    if (want == c->events)
        return;
    if (want == 0)
        uv_poll_stop(&c->poll->h);
    else
        uv_poll_start(&c->poll->h, (int)want, on_poll);
    c->events = want;
}

/* After any libmosquitto call: handles a close or drop asked for meanwhile, notices a closed
 * socket, and polls for what is needed next. */
static void after_call(struct aiops_mqtt_client *c)
{
    if (c->in_call)
        return; /* the outer call's after_call does it */
    if (c->closing) {
        finish_close(c);
        return;
    }
    if (c->mosq == NULL)
        return;
    if (c->drop_pending)
        lost(c, "dropped after an error");
    else if (mosquitto_socket(c->mosq) < 0)
        lost(c, "closed");
    else
        watch(c);
}

void aiops_mqtt_client_sync(struct aiops_mqtt_client *c)
{
    after_call(c);
}

void aiops_mqtt_client_drop(struct aiops_mqtt_client *c, const char *why)
{
    if (c->in_call) {
        c->drop_pending = true;
        return;
    }
    if (c->mosq != NULL && !c->closing)
        lost(c, why);
}

void aiops_mqtt_client_set_reading(struct aiops_mqtt_client *c, bool on)
{
    if (c->reading == on || c->closing)
        return;
    c->reading = on;
    if (c->mosq != NULL && mosquitto_socket(c->mosq) >= 0)
        watch(c);
    else if (on && c->mosq == NULL && !uv_is_active((uv_handle_t *)&c->timer))
        uv_timer_start(&c->timer, on_timer, 0, 0); /* the retry held back while paused */
}

static void on_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void finish_close(struct aiops_mqtt_client *c)
{
    if (c->close_started)
        return;
    c->close_started = true;
    if (c->mosq != NULL && c->connected) {
        c->in_call = true;
        mosquitto_disconnect(c->mosq); /* written at once when the socket takes it */
        c->in_call = false;
    }
    teardown(c);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

void aiops_mqtt_client_close(struct aiops_mqtt_client *c)
{
    c->closing = true;
    if (!c->in_call)
        finish_close(c);
}

int aiops_mqtt_client_start(struct aiops_mqtt_client *c, uv_loop_t *loop, const char *name,
                            const struct aiops_mqtt_options *opt,
                            const struct aiops_mqtt_client_events *ev, char *errbuf, size_t errlen)
{
    unsigned max_inflight = c->max_inflight;

    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->name = name;
    c->opt = opt;
    c->ev = ev;
    c->max_inflight = max_inflight;
    c->reading = true;
    c->backoff_ms = BACKOFF_MIN_MS;
    lib_acquire();
    c->mosq = make_mosq(c, errbuf, errlen);
    if (c->mosq == NULL) {
        lib_release();
        return errno == ENOMEM ? AIOPS_ENOMEM : AIOPS_EINVAL;
    }
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 1;
    uv_timer_start(&c->timer, on_timer, 0, 0); /* first attempt from the loop */
    return 0;
}
