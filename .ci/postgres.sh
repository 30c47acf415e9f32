#!/usr/bin/env bash
# Makes sure a PostgreSQL answers at 127.0.0.1:5432 for user postgres with trust authentication
# over local TCP, with a database named "test" (the storage tests create and drop their own
# databases beside it). Installs Debian's postgresql when it is missing, starts the cluster when it
# is down. Idempotent; run as root (CI is). Usage: bash .ci/postgres.sh
set -euo pipefail

HOST=127.0.0.1
PORT=${ADENROLL_PG_PORT:-5432}       # overridable only to test this script on a scratch cluster
CLUSTER=${ADENROLL_PG_CLUSTER:-main}

log() { printf 'postgres.sh: %s\n' "$*"; }
ready() { pg_isready -q -h "$HOST" -p "$PORT"; }
as_postgres() { psql -w -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U postgres "$@"; }

wait_ready() {
  for _ in $(seq 1 60); do
    ready && return 0
    sleep 0.5
  done
  log "PostgreSQL did not become ready at $HOST:$PORT"
  return 1
}

if ! command -v pg_isready >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  log "PostgreSQL is not installed: installing Debian's postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends postgresql postgresql-client
fi

version=$(ls /etc/postgresql | head -1)
if [ -z "$version" ]; then
  log "no cluster under /etc/postgresql"
  exit 1
fi
hba="/etc/postgresql/$version/$CLUSTER/pg_hba.conf"

# Trust for local TCP from 127.0.0.1 (the first matching line wins, so it goes first).
if [ -f "$hba" ] && ! grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
  log "allowing trust authentication for 127.0.0.1/32 in $hba"
  { echo "host all all 127.0.0.1/32 trust # added by .ci/postgres.sh"; cat "$hba"; } >"$hba.new"
  chown --reference="$hba" "$hba.new" 2>/dev/null || true
  chmod --reference="$hba" "$hba.new" 2>/dev/null || true
  mv "$hba.new" "$hba"
  if ready; then pg_ctlcluster --skip-systemctl-redirect "$version" "$CLUSTER" reload; fi
fi

if ! ready; then
  log "starting cluster $version/$CLUSTER"
  pg_ctlcluster --skip-systemctl-redirect "$version" "$CLUSTER" start
  wait_ready
fi

if ! as_postgres -d postgres -tAc 'select 1' >/dev/null; then
  log "cannot connect as postgres to $HOST:$PORT without a password"
  exit 1
fi
if [ "$(as_postgres -d postgres -tAc "select 1 from pg_database where datname = 'test'")" != "1" ]; then
  log "creating database test"
  as_postgres -d postgres -c 'create database test'
fi
log "PostgreSQL $(as_postgres -d test -tAc 'show server_version') ready at postgres://postgres@$HOST:$PORT/test"
