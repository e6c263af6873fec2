#!/usr/bin/env bash
# Make sure the local MariaDB, RabbitMQ and Redis answer; start the ones that do not.
# Used by `make run`, `make test` and `.ci/run`. Exits non-zero, saying which one, if a
# service still does not answer. Hosts and ports come from the environment (see README).
set -u
DB_HOST=${BBP_TEST_DB_HOST:-127.0.0.1}; DB_PORT=${BBP_TEST_DB_PORT:-3306}
MQ_HOST=${BBP_TEST_AMQP_HOST:-127.0.0.1}; MQ_PORT=${BBP_TEST_AMQP_PORT:-5672}
RD_HOST=${BBP_TEST_REDIS_HOST:-127.0.0.1}; RD_PORT=${BBP_TEST_REDIS_PORT:-6379}

answers() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
is_local() { [ "$1" = 127.0.0.1 ] || [ "$1" = localhost ]; }
wait_for() {  # name host port seconds
  for _ in $(seq 1 "$4"); do answers "$2" "$3" && return 0; sleep 1; done
  echo "ensure-services: $1 does not answer on $2:$3." >&2; return 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else "$@"; fi; }

rc=0
if ! answers "$DB_HOST" "$DB_PORT"; then
  if is_local "$DB_HOST" && [ -x /usr/sbin/mariadbd ]; then
    echo "ensure-services: starting MariaDB" >&2
    as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null
    as_root start-stop-daemon --start --oknodo --background --chuid mysql --exec /usr/sbin/mariadbd
  fi
  wait_for "MariaDB/MySQL (start it; tests read BBP_TEST_DB_HOST/PORT, make run BBP_DATABASE_URL in dev.env)" "$DB_HOST" "$DB_PORT" 60 || rc=1
fi
if ! answers "$MQ_HOST" "$MQ_PORT"; then
  if is_local "$MQ_HOST" && command -v rabbitmq-server >/dev/null; then
    echo "ensure-services: starting RabbitMQ" >&2
    as_root rabbitmq-server -detached
  fi
  wait_for "RabbitMQ (start it; tests read BBP_TEST_AMQP_HOST/PORT, make run BBP_AMQP_URL in dev.env)" "$MQ_HOST" "$MQ_PORT" 90 || rc=1
fi
if ! answers "$RD_HOST" "$RD_PORT"; then
  if is_local "$RD_HOST"; then
    if ! command -v redis-server >/dev/null; then
      echo "ensure-services: installing redis-server" >&2
      as_root apt-get install -y redis-server >/dev/null 2>&1
    fi
    echo "ensure-services: starting Redis" >&2
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 --port "$RD_PORT" --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
  wait_for "Redis (start it, or set BBP_TEST_REDIS_HOST/PORT)" "$RD_HOST" "$RD_PORT" 30 || rc=1
fi
exit $rc
