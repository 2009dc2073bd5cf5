#!/bin/sh
# Entry point of the sherpack-test/postgres stand-in (scripts/docker-bases.sh): the official
# postgres image's interface, in short. On an empty $PGDATA it creates the cluster with
# POSTGRES_USER / POSTGRES_PASSWORD (password auth over TCP) and the database POSTGRES_DB.
set -eu
if [ "${1:-postgres}" = postgres ]; then
  [ "$#" -gt 0 ] && shift
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    user="${POSTGRES_USER:-postgres}"
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    db="${POSTGRES_DB:-$user}"
    if [ "$db" != postgres ]; then
      pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
      createdb -U "$user" "$db"
      pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
  fi
  exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
