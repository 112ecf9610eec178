#!/usr/bin/env bash
# Start a local PostgreSQL for the collector's tests and benchmarks, and print its URL.
#
# Idempotent: installs PostgreSQL from Debian packages only when it is missing, reuses an existing
# cluster, starts it only when it is down, and creates the role and database only once.
# Runs as root on Debian 12 (CI and developer machines). Listens on 127.0.0.1 only.
#
# Usage:  eval "$(bash scripts/start-postgres.sh --export)"   # sets POSTURE_TEST_POSTGRES_URL
#         bash scripts/start-postgres.sh                      # prints the URL on stdout
# Environment: POSTURE_PG_USER, POSTURE_PG_PASSWORD, POSTURE_PG_DB, POSTURE_PG_PORT override
# the defaults (posture / posture / posture_test / 5432).
set -euo pipefail

user="${POSTURE_PG_USER:-posture}"
password="${POSTURE_PG_PASSWORD:-posture}"
db="${POSTURE_PG_DB:-posture_test}"
port="${POSTURE_PG_PORT:-5432}"

log() { echo "start-postgres: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (it installs packages and manages the cluster)"
    exit 1
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing PostgreSQL from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y postgresql >&2
fi

# The newest installed major version, and its first cluster (Debian creates "main").
version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
cluster="$(pg_lsclusters --no-header 2>/dev/null | awk -v v="$version" '$1 == v { print $2; exit }')"
if [ -z "$cluster" ]; then
    cluster=main
    log "creating cluster $version/$cluster"
    pg_createcluster "$version" "$cluster" --port "$port" >&2
fi

conf_dir="/etc/postgresql/$version/$cluster"
# Loopback only, on the chosen port, with headroom for the tests' many short-lived pools. A drop-in
# under conf.d (included last by Debian's postgresql.conf) overrides the defaults without editing them.
mkdir -p "$conf_dir/conf.d"
cat > "$conf_dir/conf.d/posture.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
max_connections = 200
CONF
test -f "$conf_dir/pg_hba.conf"

status="$(pg_lsclusters --no-header | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c { print $4 }')"
if [ "$status" != "online" ]; then
    log "starting cluster $version/$cluster"
    pg_ctlcluster "$version" "$cluster" start >&2
else
    # listen_addresses and port only change on restart; leave a running cluster alone unless
    # it does not listen where we want it.
    if ! su postgres -c "psql -h 127.0.0.1 -p $port -d postgres -Atc 'select 1'" >/dev/null 2>&1; then
        pg_ctlcluster "$version" "$cluster" restart >&2
    fi
fi

# Wait until it accepts connections.
for _ in $(seq 1 60); do
    if su postgres -c "psql -p $port -h 127.0.0.1 -d postgres -Atc 'select 1'" >/dev/null 2>&1 \
        || su postgres -c "psql -p $port -d postgres -Atc 'select 1'" >/dev/null 2>&1; then
        break
    fi
    sleep 0.5
done

psql_admin() { su postgres -c "psql -p $port -d postgres -v ON_ERROR_STOP=1 -Atc \"$1\""; }

if [ "$(psql_admin "select 1 from pg_roles where rolname = '$user'")" != "1" ]; then
    log "creating role $user"
    psql_admin "create role $user login password '$password' createdb" >&2
else
    psql_admin "alter role $user login password '$password' createdb" >&2
fi
if [ "$(psql_admin "select 1 from pg_database where datname = '$db'")" != "1" ]; then
    log "creating database $db"
    psql_admin "create database $db owner $user" >&2
fi

url="postgres://$user:$password@127.0.0.1:$port/$db"
if [ "${1:-}" = "--export" ]; then
    echo "export POSTURE_TEST_POSTGRES_URL='$url'"
else
    echo "$url"
fi
