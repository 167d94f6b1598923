/* SPDX-License-Identifier: MIT */
/* The YAML configuration file, read with libyaml's document loader. Scalar options go through
 * the option table (aiops_config_set); sources, sinks and detection.rules are lists built here.
 * Every error names the file, the line and the dotted key. */
#include "config/config.h"

#include "agent/err.h"
#include "agent/mem.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#define KEY_MAX         256  /* longest dotted key looked at; longer ones are unknown */
#define ENTRY_KV_MAX    1024 /* keys of one source or sink, nested ones included */
#define ENTRY_DEPTH_MAX 4    /* mappings nested inside a source or sink */

struct loader {
    yaml_document_t doc;
    const char *path;
    char *errbuf;
    size_t errlen;
    char msg[512]; /* the message fail() is writing */
};

/* Writes "path:line: message" into errbuf and returns err. */
static int fail_at(struct loader *ld, const yaml_node_t *n, int err)
{
    snprintf(ld->errbuf, ld->errlen, "%s:%lu: %s", ld->path,
             n != NULL ? (unsigned long)n->start_mark.line + 1 : 0ul, ld->msg);
    return err;
}

/* fail(ld, node, err, printf-style message): the error, at the node's line. A macro rather than
 * a va_list function, which clang-analyzer's valist checker misreads across files. */
#define fail(ld, n, err, ...)                                                                      \
    (snprintf((ld)->msg, sizeof((ld)->msg), __VA_ARGS__), fail_at(ld, n, err))

static int fail_nomem(struct loader *ld)
{
    snprintf(ld->errbuf, ld->errlen, "%s: out of memory", ld->path);
    return AIOPS_ENOMEM;
}

static yaml_node_t *node_at(struct loader *ld, int id)
{
    return yaml_document_get_node(&ld->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
    const char *s;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    s = scalar(n);
    return strcmp(s, "") == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *kind(const yaml_node_t *n)
{
    return n->type == YAML_SEQUENCE_NODE  ? "a list"
           : n->type == YAML_MAPPING_NODE ? "a mapping"
                                          : "a scalar";
}

/* Writes prefix.key (or key) into buf; false when the result does not fit or the key is not a
 * plain string (a key with a NUL byte matches nothing). */
static bool join_key(char *buf, size_t len, const char *prefix, const yaml_node_t *k)
{
    int n;

    if (strlen(scalar(k)) != k->data.scalar.length)
        return false;
    if (prefix != NULL)
        n = snprintf(buf, len, "%s.%s", prefix, scalar(k));
    else
        n = snprintf(buf, len, "%s", scalar(k));
    return n >= 0 && (size_t)n < len;
}

/* A list of scalars as one string, items joined with ",". *out is the caller's to free. */
static int join_sequence(struct loader *ld, const char *key, yaml_node_t *seq, char **out)
{
    size_t total = 1, at = 0;
    char *s;

    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *item = node_at(ld, *it);

        if (item == NULL || item->type != YAML_SCALAR_NODE)
            return fail(ld, item != NULL ? item : seq, AIOPS_EINVAL,
                        "'%s': list items must be scalars, not %s", key,
                        item != NULL ? kind(item) : "nothing");
        total += strlen(scalar(item)) + 1;
    }
    s = aiops_malloc(total);
    if (s == NULL)
        return fail_nomem(ld);
    s[0] = '\0';
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        const char *v = scalar(node_at(ld, *it));
        size_t n = strlen(v);

        if (at > 0)
            s[at++] = ',';
        memcpy(s + at, v, n);
        at += n;
        s[at] = '\0';
    }
    *out = s;
    return 0;
}

/* One option of the table, from a scalar or (for list options) a sequence. */
static int load_option(struct loader *ld, struct aiops_config *cfg, const struct aiops_option *o,
                       yaml_node_t *v)
{
    char msg[512];
    char *joined = NULL;
    const char *value;
    int err;

    if (v->type == YAML_MAPPING_NODE ||
        (v->type == YAML_SEQUENCE_NODE && !(o->flags & AIOPS_OPT_LIST)))
        return fail(ld, v, AIOPS_EINVAL, "'%s' must be a scalar, not %s", o->key, kind(v));
    if (v->type == YAML_SEQUENCE_NODE) {
        err = join_sequence(ld, o->key, v, &joined);
        if (err < 0)
            return err;
        value = joined;
    } else if (is_null(v)) {
        return fail(ld, v, AIOPS_EINVAL, "'%s' has no value (write \"\" for an empty string)",
                    o->key);
    } else {
        value = scalar(v);
    }
    err = aiops_config_set(cfg, o->key, value, msg, sizeof(msg));
    aiops_free(joined);
    if (err == AIOPS_ENOMEM)
        return fail_nomem(ld);
    if (err < 0)
        return fail(ld, v, AIOPS_EINVAL, "%s", msg);
    return 0;
}

/* Appends key=value to e; takes ownership of value (freed on failure too). */
static int entry_push(struct loader *ld, struct aiops_config_entry *e, const char *key, char *value,
                      size_t *cap, const yaml_node_t *at)
{
    struct aiops_config_kv *kv;
    char *k;

    if (e->n_kv == ENTRY_KV_MAX) {
        aiops_free(value);
        return fail(ld, at, AIOPS_EINVAL, "more than %d keys in one entry", ENTRY_KV_MAX);
    }
    if (e->n_kv == *cap) {
        size_t n = *cap ? *cap * 2 : 8;

        kv = aiops_realloc(e->kv, n * sizeof(*kv));
        if (kv == NULL)
            goto err_free_value;
        e->kv = kv;
        *cap = n;
    }
    k = aiops_strdup(key);
    if (k == NULL)
        goto err_free_value;
    e->kv[e->n_kv].key = k;
    e->kv[e->n_kv].value = value;
    e->n_kv++;
    return 0;
err_free_value:
    aiops_free(value);
    return fail_nomem(ld);
}

/* One key of a source or sink: scalars as written, lists joined with ",", mappings flattened
 * into "name.key". */
static int entry_add(struct loader *ld, struct aiops_config_entry *e, const char *name,
                     yaml_node_t *v, size_t *cap, int depth)
{
    char *value;
    int err;

    if (v->type == YAML_SCALAR_NODE) {
        value = aiops_strdup(is_null(v) ? "" : scalar(v));
        if (value == NULL)
            return fail_nomem(ld);
        return entry_push(ld, e, name, value, cap, v);
    }
    if (v->type == YAML_SEQUENCE_NODE) {
        err = join_sequence(ld, name, v, &value);
        if (err < 0)
            return err;
        return entry_push(ld, e, name, value, cap, v);
    }
    if (depth >= ENTRY_DEPTH_MAX)
        return fail(ld, v, AIOPS_EINVAL, "'%s' is nested too deeply", name);
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(ld, p->key), *pv = node_at(ld, p->value);
        char sub[KEY_MAX];

        if (k == NULL || pv == NULL || k->type != YAML_SCALAR_NODE ||
            !join_key(sub, sizeof(sub), name, k))
            return fail(ld, k != NULL ? k : v, AIOPS_EINVAL, "'%s': a key is not a short string",
                        name);
        err = entry_add(ld, e, sub, pv, cap, depth + 1);
        if (err < 0)
            return err;
    }
    return 0;
}

static int load_entry(struct loader *ld, const char *section, size_t i, yaml_node_t *m,
                      struct aiops_config_entry *e)
{
    size_t cap = 0;
    int err;

    if (m->type != YAML_MAPPING_NODE)
        return fail(ld, m, AIOPS_EINVAL, "'%s[%zu]' must be a mapping, not %s", section, i,
                    kind(m));
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
        char name[KEY_MAX];

        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE ||
            !join_key(name, sizeof(name), NULL, k))
            return fail(ld, k != NULL ? k : m, AIOPS_EINVAL,
                        "'%s[%zu]': a key is not a short "
                        "string",
                        section, i);
        if (strcmp(name, "type") == 0) {
            char *type;

            if (v->type != YAML_SCALAR_NODE || is_null(v) || scalar(v)[0] == '\0')
                return fail(ld, v, AIOPS_EINVAL, "'%s[%zu].type' must be a name", section, i);
            type = aiops_strdup(scalar(v));
            if (type == NULL)
                return fail_nomem(ld);
            aiops_free(e->type);
            e->type = type;
            continue;
        }
        err = entry_add(ld, e, name, v, &cap, 0);
        if (err < 0)
            return err;
    }
    if (e->type == NULL)
        return fail(ld, m, AIOPS_EINVAL, "'%s[%zu]' has no 'type'", section, i);
    return 0;
}

/* sources: or sinks:, a list of mappings; replaces what cfg held. */
static int load_entries(struct loader *ld, const char *section, yaml_node_t *seq,
                        struct aiops_config_entry **list, size_t *count)
{
    struct aiops_config_entry *e = NULL;
    size_t n = 0;
    int err;

    if (!is_null(seq)) {
        if (seq->type != YAML_SEQUENCE_NODE)
            return fail(ld, seq, AIOPS_EINVAL, "'%s' must be a list of mappings, not %s", section,
                        kind(seq));
        n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    }
    if (n > 0) {
        e = aiops_calloc(n, sizeof(*e));
        if (e == NULL)
            return fail_nomem(ld);
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *m = node_at(ld, seq->data.sequence.items.start[i]);

        err = m != NULL ? load_entry(ld, section, i, m, &e[i])
                        : fail(ld, seq, AIOPS_EINVAL, "'%s[%zu]' is missing", section, i);
        if (err < 0)
            goto err_free_entries;
    }
    aiops_config_entries_free(*list, *count);
    *list = e;
    *count = n;
    return 0;
err_free_entries:
    aiops_config_entries_free(e, n);
    return err;
}

static int rule_methods(struct loader *ld, size_t i, yaml_node_t *v, struct aiops_config_rule *r)
{
    size_t n = 1;

    if (v->type == YAML_MAPPING_NODE || is_null(v))
        return fail(ld, v, AIOPS_EINVAL, "'detection.rules[%zu].methods' must be a list of names",
                    i);
    if (v->type == YAML_SEQUENCE_NODE)
        n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    for (size_t j = 0; j < r->n_methods; j++)
        aiops_free(r->methods[j]);
    aiops_free(r->methods);
    r->methods = NULL;
    r->n_methods = 0;
    if (n == 0)
        return 0;
    r->methods = aiops_calloc(n, sizeof(*r->methods));
    if (r->methods == NULL)
        return fail_nomem(ld);
    for (size_t j = 0; j < n; j++) {
        yaml_node_t *item =
            v->type == YAML_SEQUENCE_NODE ? node_at(ld, v->data.sequence.items.start[j]) : v;

        if (item == NULL || item->type != YAML_SCALAR_NODE || is_null(item))
            return fail(ld, item != NULL ? item : v, AIOPS_EINVAL,
                        "'detection.rules[%zu].methods' items must be method names", i);
        r->methods[j] = aiops_strdup(scalar(item));
        if (r->methods[j] == NULL)
            return fail_nomem(ld);
        r->n_methods++;
    }
    return 0;
}

static int load_rule(struct loader *ld, const struct aiops_config *cfg, size_t i, yaml_node_t *m,
                     struct aiops_config_rule *r)
{
    int err;

    if (m->type != YAML_MAPPING_NODE)
        return fail(ld, m, AIOPS_EINVAL, "'detection.rules[%zu]' must be a mapping, not %s", i,
                    kind(m));
    /* A rule without a sensitivity takes the default as it stands when the rule is read. */
    if (aiops_sensitivity_parse(cfg->default_sensitivity, &r->sensitivity) < 0)
        r->sensitivity = AIOPS_SENSITIVITY_MEDIUM;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
        char name[KEY_MAX];

        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE ||
            !join_key(name, sizeof(name), NULL, k))
            return fail(ld, k != NULL ? k : m, AIOPS_EINVAL,
                        "'detection.rules[%zu]': a key is not a short string", i);
        if (strcmp(name, "methods") == 0 || strcmp(name, "method") == 0) {
            err = rule_methods(ld, i, v, r);
            if (err < 0)
                return err;
            continue;
        }
        if (v->type != YAML_SCALAR_NODE || is_null(v))
            return fail(ld, v, AIOPS_EINVAL, "'detection.rules[%zu].%s' must be a scalar", i, name);
        if (strcmp(name, "match") == 0) {
            char *match = aiops_strdup(scalar(v));

            if (match == NULL)
                return fail_nomem(ld);
            aiops_free(r->match);
            r->match = match;
        } else if (strcmp(name, "sensitivity") == 0) {
            if (aiops_sensitivity_parse(scalar(v), &r->sensitivity) < 0)
                return fail(ld, v, AIOPS_EINVAL,
                            "'detection.rules[%zu].sensitivity': '%s' is not low, medium or high",
                            i, scalar(v));
        } else if (strcmp(name, "window") == 0) {
            const char *s = scalar(v);
            unsigned long long w = 0;
            char *end = NULL;

            if (s[0] >= '0' && s[0] <= '9')
                w = strtoull(s, &end, 10);
            if (end == NULL || *end != '\0' || w > (1u << 24) || w == 1)
                return fail(ld, v, AIOPS_EINVAL,
                            "'detection.rules[%zu].window': '%s' is not a window (2 to %u, or 0)",
                            i, s, 1u << 24);
            r->window = (uint32_t)w;
        } else {
            return fail(ld, k, AIOPS_EINVAL, "unknown key 'detection.rules[%zu].%s'", i, name);
        }
    }
    if (r->match == NULL)
        return fail(ld, m, AIOPS_EINVAL, "'detection.rules[%zu]' has no 'match'", i);
    return 0;
}

static int load_rules(struct loader *ld, struct aiops_config *cfg, yaml_node_t *seq)
{
    struct aiops_config_rule *r = NULL;
    size_t n = 0;
    int err;

    if (!is_null(seq)) {
        if (seq->type != YAML_SEQUENCE_NODE)
            return fail(ld, seq, AIOPS_EINVAL,
                        "'detection.rules' must be a list of mappings, not %s", kind(seq));
        n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    }
    if (n > 0) {
        r = aiops_calloc(n, sizeof(*r));
        if (r == NULL)
            return fail_nomem(ld);
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *m = node_at(ld, seq->data.sequence.items.start[i]);

        err = m != NULL ? load_rule(ld, cfg, i, m, &r[i])
                        : fail(ld, seq, AIOPS_EINVAL, "'detection.rules[%zu]' is missing", i);
        if (err < 0)
            goto err_free_rules;
    }
    aiops_config_rules_free(cfg->rules, cfg->n_rules);
    cfg->rules = r;
    cfg->n_rules = n;
    return 0;
err_free_rules:
    aiops_config_rules_free(r, n);
    return err;
}

/* A mapping at prefix (NULL: the top level): options, sections and the three lists. */
static int load_mapping(struct loader *ld, struct aiops_config *cfg, const char *prefix,
                        yaml_node_t *m)
{
    int err;

    if (is_null(m))
        return 0;
    if (m->type != YAML_MAPPING_NODE) {
        if (prefix == NULL)
            return fail(ld, m, AIOPS_EINVAL, "the top level must be a mapping, not %s", kind(m));
        return fail(ld, m, AIOPS_EINVAL, "'%s' must be a mapping, not %s", prefix, kind(m));
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node_at(ld, p->key), *v = node_at(ld, p->value);
        const struct aiops_option *o;
        char key[KEY_MAX];

        if (k == NULL || v == NULL)
            return fail(ld, m, AIOPS_EINVAL, "a key or value is missing");
        if (k->type != YAML_SCALAR_NODE)
            return fail(ld, k, AIOPS_EINVAL, "keys must be scalars, not %s%s%s", kind(k),
                        prefix ? " (in " : "", prefix ? prefix : "");
        if (!join_key(key, sizeof(key), prefix, k))
            return fail(ld, k, AIOPS_EINVAL, "unknown key '%.64s...'", scalar(k));
        if (strcmp(key, "sources") == 0)
            err = load_entries(ld, key, v, &cfg->sources, &cfg->n_sources);
        else if (strcmp(key, "sinks") == 0)
            err = load_entries(ld, key, v, &cfg->sinks, &cfg->n_sinks);
        else if (strcmp(key, "detection.rules") == 0)
            err = load_rules(ld, cfg, v);
        else if ((o = aiops_config_option_find(key)) != NULL)
            err = load_option(ld, cfg, o, v);
        else if (aiops_config_is_section(key))
            err = load_mapping(ld, cfg, key, v);
        else
            err = fail(ld, k, AIOPS_EINVAL, "unknown key '%s'", key);
        if (err < 0)
            return err;
    }
    return 0;
}

int aiops_config_load_file(struct aiops_config *cfg, const char *path, char *errbuf, size_t errlen)
{
    struct loader ld = {.path = path, .errbuf = errbuf, .errlen = errlen};
    yaml_parser_t parser;
    yaml_node_t *root;
    char *name;
    FILE *f;
    int err;

    f = fopen(path, "rb");
    if (f == NULL) {
        err = errno == ENOENT ? AIOPS_ENOENT : AIOPS_EIO;
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return err;
    }
    if (!yaml_parser_initialize(&parser)) {
        err = fail_nomem(&ld);
        goto err_close_file;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &ld.doc)) {
        if (parser.error == YAML_MEMORY_ERROR) {
            err = fail_nomem(&ld);
        } else {
            snprintf(errbuf, errlen, "%s:%lu: YAML syntax error: %s%s%s", path,
                     (unsigned long)parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "malformed", parser.context ? " " : "",
                     parser.context ? parser.context : "");
            err = AIOPS_EINVAL;
        }
        goto err_delete_parser;
    }
    root = yaml_document_get_root_node(&ld.doc);
    err = root != NULL ? load_mapping(&ld, cfg, NULL, root) : 0;
    if (err < 0)
        goto err_delete_document;
    name = aiops_strdup(path);
    if (name == NULL) {
        err = fail_nomem(&ld);
        goto err_delete_document;
    }
    aiops_free(cfg->config_file);
    cfg->config_file = name;
    yaml_document_delete(&ld.doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return 0;
err_delete_document:
    yaml_document_delete(&ld.doc);
err_delete_parser:
    yaml_parser_delete(&parser);
err_close_file:
    fclose(f);
    return err;
}
