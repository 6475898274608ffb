#!/usr/bin/env bash
# What the test suite needs besides npm packages, installed (Debian) and started on loopback when
# missing: Chromium for the console's browser tests, Redis and PostgreSQL for the cluster tests,
# Kamailio for the cluster's SIP dispatcher configuration (run, not started as a service).
# Idempotent: a second run finds everything up and changes nothing. Run as root (CI) or with the
# packages already installed and the services already running.
set -euo pipefail

PG_USER=callbridge
PG_PASSWORD=callbridge
PG_DB=callbridge_test

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v redis-server >/dev/null || need+=(redis-server)
command -v kamailio >/dev/null || [[ -x /usr/sbin/kamailio ]] || need+=(kamailio)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "test-services: missing ${need[*]}: install them (apt-get install ${need[*]}) or run this as root" >&2
    exit 1
  fi
  echo "test-services: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Redis on 127.0.0.1:6379, no persistence (tests own their keys and flush them).
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes \
    --logfile /tmp/callbridge-test-redis.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null

# PostgreSQL: Debian's own cluster on 127.0.0.1:5432, a role and a database for the tests.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  pg_lsclusters -h | grep -q "^$version main" || pg_createcluster "$version" main >/dev/null
  pg_ctlcluster "$version" main start
  for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.1; done
fi
pg_isready -q -h 127.0.0.1 -p 5432
if [[ $(id -u) -eq 0 ]]; then
  psql_admin() { runuser -u postgres -- psql -qtAX "$@"; }
  if [[ -z $(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'") ]]; then
    psql_admin -c "CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD' CREATEDB"
  fi
  if [[ -z $(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") ]]; then
    psql_admin -c "CREATE DATABASE $PG_DB OWNER $PG_USER"
  fi
fi
echo "test-services: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), redis $(redis-server --version | awk '{print $3}'), postgresql ready (postgres://$PG_USER@127.0.0.1:5432/$PG_DB)"
