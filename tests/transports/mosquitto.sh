#!/bin/sh
# SPDX-License-Identifier: MIT
# Starts a throw-away Mosquitto broker on 127.0.0.1 for the MQTT tests and prints "PORT PID"
# once it accepts clients. The broker runs in the background, its config, log and
# persistence file in DIR (made by the caller, who stops the broker by PID and removes DIR).
#   mosquitto.sh DIR [PORT]     PORT: restart on that port (the same DIR keeps the config)
# Environment, read when DIR has no config yet:
#   MQTT_PERSIST=1              keep sessions across restarts (saved on SIGTERM)
#   MQTT_USER, MQTT_PASS        require this login (password_file, no anonymous clients)
#   MQTT_TLS=1                  TLS only: a throw-away CA (DIR/ca.crt) signs the broker's
#                               certificate for 127.0.0.1
set -eu

dir=$1
port=${2:-}
conf=$dir/mosquitto.conf

free_port() {
    while :; do
        p=$(shuf -i 20000-60999 -n 1)
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

make_certs() {
    ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    # shellcheck disable=SC2086
    openssl req -x509 $ec -keyout "$dir/ca.key" -out "$dir/ca.crt" -subj /CN=aiops-test-ca \
        -days 1 2>/dev/null
    # shellcheck disable=SC2086
    openssl req $ec -keyout "$dir/server.key" -out "$dir/server.csr" -subj /CN=127.0.0.1 \
        2>/dev/null
    echo "subjectAltName=IP:127.0.0.1" >"$dir/san.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -out "$dir/server.crt" -days 1 -extfile "$dir/san.ext" 2>/dev/null
}

write_conf() {
    {
        echo "listener $1 127.0.0.1"
        echo "user $(id -un)" # as root, Mosquitto would switch to "mosquitto" and lose $dir
        echo "log_dest file $dir/mosquitto.log"
        echo "max_queued_messages 100000"
        echo "queue_qos0_messages true"
        if [ "${MQTT_PERSIST:-0}" = 1 ]; then
            echo "persistence true"
            echo "persistence_location $dir/"
        else
            echo "persistence false"
        fi
        if [ "${MQTT_TLS:-0}" = 1 ]; then
            make_certs
            echo "cafile $dir/ca.crt"
            echo "certfile $dir/server.crt"
            echo "keyfile $dir/server.key"
        fi
        if [ -n "${MQTT_USER:-}" ]; then
            mosquitto_passwd -b -c "$dir/passwd" "$MQTT_USER" "${MQTT_PASS:-}" 2>/dev/null
            chmod 0600 "$dir/passwd"
            echo "allow_anonymous false"
            echo "password_file $dir/passwd"
        else
            echo "allow_anonymous true"
        fi
    } >"$conf"
}

# Login of the readiness probe, as the config requires.
auth() {
    if grep -q '^password_file' "$conf"; then
        echo "-u ${MQTT_USER:-} -P ${MQTT_PASS:-}"
    fi
    if grep -q '^certfile' "$conf"; then
        echo "--cafile $dir/ca.crt"
    fi
}

for try in 1 2 3 4 5; do
    if [ -z "$port" ]; then
        p=$(free_port)
        write_conf "$p"
    else
        p=$port
        [ -f "$conf" ] || write_conf "$p"
    fi
    mosquitto -c "$conf" </dev/null >>"$dir/stdout.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/pid"
    i=0
    while [ $i -lt 100 ]; do
        # shellcheck disable=SC2046
        if mosquitto_pub -h 127.0.0.1 -p "$p" $(auth) -t aiops-test/ready -m 1 2>/dev/null; then
            echo "$p $pid"
            exit 0
        fi
        kill -0 "$pid" 2>/dev/null || break # died: the port was taken meanwhile
        sleep 0.05
        i=$((i + 1))
    done
    kill -TERM "$pid" 2>/dev/null || true
    [ -z "$port" ] || { sleep 0.2; continue; } # a restart waits for the old socket
done
echo "mosquitto did not start; see $dir/mosquitto.log" >&2
exit 1
