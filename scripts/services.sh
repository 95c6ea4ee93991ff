#!/usr/bin/env bash
# Start PostgreSQL, Redis and RabbitMQ on 127.0.0.1 if they are not answering.
set -uo pipefail

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "Starting PostgreSQL..."
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "Starting Redis..."
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
fi
# RabbitMQ (the Celery tests' broker; guest/guest on 5672).
rabbitmq_up() {
    timeout 2 bash -c '</dev/tcp/127.0.0.1/5672' 2>/dev/null
}
if ! rabbitmq_up; then
    if ! command -v rabbitmq-server >/dev/null && [ "$(id -u)" = 0 ] &&
        command -v apt-get >/dev/null; then
        echo "Installing RabbitMQ..."
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null || true
    fi
    echo "Starting RabbitMQ..."
    rabbitmq-server -detached >/dev/null 2>&1 || true
    timeout 60 rabbitmqctl await_startup >/dev/null 2>&1 || true
    for _ in $(seq 60); do rabbitmq_up && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not available" >&2; exit 1; }
redis-cli -h 127.0.0.1 -p 6379 ping || { echo "Redis is not available" >&2; exit 1; }
rabbitmq_up && echo "RabbitMQ: 127.0.0.1:5672 accepting connections" ||
    { echo "RabbitMQ is not available" >&2; exit 1; }
