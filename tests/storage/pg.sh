#!/bin/sh
# SPDX-License-Identifier: MIT
# A throw-away PostgreSQL 15 server on a free 127.0.0.1 port, for tests/storage/test_postgres.c.
#   pg.sh start DIR OWNER_PID  initdb into DIR (empty, made by the caller), start the server,
#                              create database aiops_test, print PGPORT=<port>. A watchdog
#                              stops the server and removes DIR once OWNER_PID exits, so a
#                              crashed test leaves nothing running.
#   pg.sh stop DIR             stop the server (fast), keep DIR (the outage test starts it again)
#   pg.sh restart DIR          start the stopped server again on the same port
#   pg.sh destroy DIR          stop the server and remove DIR
# Exits non-zero with a message on stderr when anything fails: a missing server is a failure.
# AIOPS_PG_BIN overrides where initdb, pg_ctl and psql are.
set -eu

BIN=${AIOPS_PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=$1
dir=$2

# PostgreSQL refuses to run as root: as root, run it as the postgres OS user.
if [ "$(id -u)" = 0 ]; then
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

# Below the kernel's ephemeral range (ip_local_port_range), so no outgoing connection holds it.
free_port() {
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
    while :; do
        p=$(shuf -i 20000-$((low - 1)) -n 1)
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

pg_start() {
    as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o \
        "-c listen_addresses=127.0.0.1 -p $(cat "$dir/port") -k $dir -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
}

pg_stop() {
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
    fi
}

case $cmd in
start)
    owner=$3
    # The watchdog first, so even a failed start leaves nothing behind. Detached, its output
    # closed, so the caller's popen() returns at once.
    nohup sh -c "while kill -0 $owner 2>/dev/null; do sleep 0.5; done; \
                 '$0' destroy '$dir'" </dev/null >/dev/null 2>&1 &
    [ "$(id -u)" != 0 ] || chown postgres:postgres "$dir"
    as_pg "$BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # Another process may take the port between the check and the bind: try a few.
    for attempt in 1 2 3; do
        free_port >"$dir/port"
        pg_start && break
        [ "$attempt" = 3 ] && { cat "$dir/server.log" >&2; exit 1; }
    done
    as_pg "$BIN/psql" -qAt -h 127.0.0.1 -p "$(cat "$dir/port")" -U postgres -d postgres \
        -c "CREATE DATABASE aiops_test" >/dev/null
    echo "PGPORT=$(cat "$dir/port")"
    ;;
stop) pg_stop ;;
restart) pg_start || { cat "$dir/server.log" >&2; exit 1; } ;;
destroy)
    pg_stop || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: pg.sh start DIR OWNER_PID | stop DIR | restart DIR | destroy DIR" >&2
    exit 2
    ;;
esac
