/* SPDX-License-Identifier: MIT */
/* The environment: a .env file read into the process environment (as python-dotenv does), then
 * each option's AIOPS_* variable, or else the old Python service's name for it (DATABASE_URL,
 * HOST and PORT, DEBUG, Z_SCORE_THRESHOLD, ...). */
#include "config/config.h"

#include "agent/err.h"
#include "agent/mem.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOTENV_MAX (1u << 20) /* a .env file larger than 1 MiB is refused */

/* Reads the whole file into a NUL-terminated block; *out NULL when the file does not exist. */
static int read_file(const char *path, char **out, char *errbuf, size_t errlen)
{
    size_t len = 0, n;
    char *buf;
    FILE *f;

    *out = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return AIOPS_EIO;
    }
    buf = aiops_malloc(DOTENV_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        snprintf(errbuf, errlen, "%s: out of memory", path);
        return AIOPS_ENOMEM;
    }
    while ((n = fread(buf + len, 1, DOTENV_MAX + 1 - len, f)) > 0)
        len += n;
    fclose(f);
    if (len > DOTENV_MAX) {
        aiops_free(buf);
        snprintf(errbuf, errlen, "%s: larger than %u bytes", path, DOTENV_MAX);
        return AIOPS_E2BIG;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

static bool is_name_char(char c, bool first)
{
    return c == '_' || isalpha((unsigned char)c) ||
           (!first && (isdigit((unsigned char)c) || c == '.'));
}

/* Parses one value starting at *p (just after '='), unquoting it in place; *p ends past the
 * line. Returns the value (NUL-terminated, inside the buffer) or NULL when a quote is open. */
static char *parse_value(char **p, unsigned *line)
{
    char *s = *p, *out, *val;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\'' || *s == '"') {
        char q = *s++;

        val = out = s;
        for (; *s != q; s++) {
            if (*s == '\0')
                return NULL;
            if (*s == '\n')
                (*line)++;
            if (q == '"' && *s == '\\' && s[1] != '\0') {
                s++;
                *out++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s == 'r' ? '\r' : *s;
                continue;
            }
            *out++ = *s;
        }
        s++;
        /* Whatever follows the closing quote up to the end of the line is a comment. */
        s += strcspn(s, "\n");
    } else {
        char *end;

        val = s;
        end = s + strcspn(s, "\n");
        out = end;
        for (char *c = s; c < end; c++) {
            if (*c == '#' && (c == s || c[-1] == ' ' || c[-1] == '\t')) {
                out = c;
                break;
            }
        }
        while (out > val && (out[-1] == ' ' || out[-1] == '\t' || out[-1] == '\r'))
            out--;
        s = end;
    }
    if (*s == '\n')
        s++;
    *out = '\0';
    *p = s;
    return val;
}

int aiops_config_load_dotenv(const char *path, char *errbuf, size_t errlen)
{
    unsigned line = 1;
    char *buf, *p;
    int err;

    err = read_file(path, &buf, errbuf, errlen);
    if (err < 0 || buf == NULL)
        return err;
    p = buf;
    while (*p != '\0') {
        unsigned at = line;
        char *name, *value;
        size_t n;

        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '\n' || *p == '#' || *p == '\0') { /* blank line or comment */
            p += strcspn(p, "\n");
            if (*p == '\n') {
                p++;
                line++;
            }
            continue;
        }
        if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t')) {
            p += 6;
            while (*p == ' ' || *p == '\t')
                p++;
        }
        name = p;
        for (n = 0; is_name_char(p[n], n == 0); n++)
            ;
        p += n;
        while (*p == ' ' || *p == '\t')
            p++;
        if (n == 0 || *p != '=') {
            snprintf(errbuf, errlen, "%s:%u: expected NAME=VALUE", path, at);
            err = AIOPS_EINVAL;
            goto out_free_buf;
        }
        name[n] = '\0';
        p++;
        value = parse_value(&p, &line);
        if (value == NULL) {
            snprintf(errbuf, errlen, "%s:%u: %s: the quote is not closed", path, at, name);
            err = AIOPS_EINVAL;
            goto out_free_buf;
        }
        line++;
        if (setenv(name, value, 0) != 0) { /* 0: a variable already set wins */
            snprintf(errbuf, errlen, "%s:%u: %s: %s", path, at, name, strerror(errno));
            err = errno == ENOMEM ? AIOPS_ENOMEM : AIOPS_EINVAL;
            goto out_free_buf;
        }
    }
out_free_buf:
    aiops_free(buf);
    return err;
}

/* HOST and PORT of the old service: each replaces its half of http.listen. */
static int load_host_port(struct aiops_config *cfg, const char *host, const char *port,
                          char *errbuf, size_t errlen)
{
    char cur_host[64], listen[160], msg[256];
    int cur_port, err;

    if (aiops_config_listen_split(cfg->listen, cur_host, sizeof(cur_host), &cur_port) < 0) {
        snprintf(cur_host, sizeof(cur_host), "127.0.0.1");
        cur_port = 8000;
    }
    if (host != NULL) {
        if (host[0] == '\0' || strlen(host) >= sizeof(cur_host) || strpbrk(host, " []") != NULL) {
            snprintf(errbuf, errlen, "environment variable HOST: '%s' is not a host", host);
            return AIOPS_EINVAL;
        }
        snprintf(cur_host, sizeof(cur_host), "%s", host);
    }
    if (port != NULL) {
        char *end;
        long v;

        errno = 0;
        v = isdigit((unsigned char)port[0]) ? strtol(port, &end, 10) : -1;
        if (v < 0 || v > 65535 || errno != 0 || *end != '\0') {
            snprintf(errbuf, errlen, "environment variable PORT: '%s' is not a port (0-65535)",
                     port);
            return AIOPS_EINVAL;
        }
        cur_port = (int)v;
    }
    snprintf(listen, sizeof(listen), strchr(cur_host, ':') ? "[%s]:%d" : "%s:%d", cur_host,
             cur_port);
    err = aiops_config_set(cfg, "http.listen", listen, msg, sizeof(msg));
    if (err < 0)
        snprintf(errbuf, errlen, "environment variables HOST/PORT: %s", msg);
    return err;
}

int aiops_config_load_env(struct aiops_config *cfg, char *errbuf, size_t errlen)
{
    char msg[512];
    int err;

    for (size_t i = 0; i < aiops_config_n_options; i++) {
        const struct aiops_option *o = &aiops_config_options[i];
        const char *name = o->env, *value = getenv(o->env);

        if (value == NULL && o->offset == offsetof(struct aiops_config, listen)) {
            const char *host = getenv("HOST"), *port = getenv("PORT");

            if (host == NULL && port == NULL)
                continue;
            err = load_host_port(cfg, host, port, errbuf, errlen);
            if (err < 0)
                return err;
            continue;
        }
        if (value == NULL && o->legacy != NULL) {
            name = o->legacy;
            value = getenv(o->legacy);
        }
        if (value == NULL)
            continue;
        err = aiops_config_set(cfg, o->key, value, msg, sizeof(msg));
        if (err < 0) {
            snprintf(errbuf, errlen, "environment variable %s: %s", name, msg);
            return err;
        }
    }
    return 0;
}
