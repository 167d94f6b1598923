/* SPDX-License-Identifier: MIT */
/* The embedded SQLite store: the default behind storage/store.h. Only the store registry in
 * storage/store.c names it. */
#ifndef AIOPS_SQLITE_H
#define AIOPS_SQLITE_H

#include "storage/store.h"

/* Rows a batch holds before the writer thread wakes without waiting for batch_ms. */
#define AIOPS_SQLITE_BATCH_ROWS 1024
/* The schema this build creates and reads (PRAGMA user_version and table schema_version):
 * 1 is the Python service's two tables, 2 adds events and checkpoints. Older databases are
 * migrated in place at open; a newer one is refused. */
#define AIOPS_SQLITE_SCHEMA_VERSION 2

/* Serves "sqlite://" and "sqlite+<driver>://" URLs, as SQLAlchemy spells them:
 * sqlite:///rel/path.db, sqlite:////abs/path.db, sqlite://, sqlite://:memory:,
 * sqlite:///:memory:. */
extern const struct aiops_store_ops aiops_sqlite_store_ops;

#endif
