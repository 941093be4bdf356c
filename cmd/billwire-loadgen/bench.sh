#!/usr/bin/env bash
# Webhook throughput, measured as the issue asks: billwire serve on a fresh
# database of the local PostgreSQL, billwire-loadgen at concurrency 8, then
# the bare-database ceiling (pgbench with shared/bench/one-event-txn.sql) on
# the same server in the same run. Loopback only; bounded; stops by itself.
# After the load, the loadgen checks that the tables hold exactly the state
# the traffic leads to (it fails the run otherwise).
#
#   cmd/billwire-loadgen/bench.sh [EVENTS]        (default 20000)
#   SERVE_FLAGS="--webhook-writers 4" cmd/billwire-loadgen/bench.sh   (extra serve flags)
#
# PGHOST/PGPORT/PGUSER select the server (default 127.0.0.1:5432, postgres).
# Both sides connect without TLS (sslmode=disable), as local deployments do.
set -euo pipefail
cd "$(dirname "$0")/../.."
events=${1:-20000}
host=${PGHOST:-127.0.0.1} port=${PGPORT:-5432} user=${PGUSER:-postgres}
# Databases of this run only: a run never drops another's.
db=billwire_bench_$$ ceiling=billwire_bench_ceiling_$$
bin=$(mktemp -d)
cleanup() {
  kill ${serve_pid:-} ${mock_pid:-} 2>/dev/null || true
  rm -rf "$bin"
  command psql -h "$host" -p "$port" -U "$user" -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
    -c "DROP DATABASE IF EXISTS $ceiling WITH (FORCE)" 2>/dev/null || true
}
trap cleanup EXIT
go build -o "$bin/billwire" ./cmd/billwire
go build -o "$bin/loadgen" ./cmd/billwire-loadgen
go build -o "$bin/stripe-mock" github.com/stripe/stripe-mock

psql() { command psql -h "$host" -p "$port" -U "$user" -v ON_ERROR_STOP=1 -q "$@"; }
psql -d postgres -c "CREATE DATABASE $db" -c "CREATE DATABASE $ceiling"
psql -d "$ceiling" -c "CREATE TABLE webhook_events (id text PRIMARY KEY, type text, created bigint, payload jsonb);
  CREATE TABLE objects (id text PRIMARY KEY, status text, last_event_created bigint, data jsonb, updated_at timestamptz DEFAULT now());"

# stripe-mock answers the account check of `keys set`; nothing else calls Stripe.
mock_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/stripe-mock" -http-addr 127.0.0.1:$mock_port -https-addr 127.0.0.1:0 >/dev/null 2>&1 &
mock_pid=$!
sleep 1

export DATABASE_URL="postgres://$user@$host:$port/$db?sslmode=disable" \
  BILLWIRE_MASTER_KEY=$(head -c 32 /dev/urandom | base64) \
  BILLWIRE_STRIPE_API_BASE=http://127.0.0.1:$mock_port BILLWIRE_LOG_LEVEL=warn
secret=whsec_bench$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
echo sk_test_4eC39HqLyjWDarjtT1zdp7dc | "$bin/billwire" keys set --env test >/dev/null
echo "$secret" | "$bin/billwire" webhook setup --env test --signing-secret-stdin >/dev/null
addr=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/billwire" serve --addr "$addr" ${SERVE_FLAGS:-} &
serve_pid=$!
for _ in $(seq 50); do curl -fs "http://$addr/readyz" >/dev/null && break; sleep 0.1; done

# Checkpoints (other databases' DROP DATABASE forces one) make the pages written
# next log whole images: a phase that meets many of them pays more per write.
checkpoints() { psql -d postgres -Atc "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"; }

echo "== billwire: $events events (+10% duplicates, shuffled), concurrency 8"
c0=$(checkpoints)
"$bin/loadgen" --url "http://$addr/webhooks/stripe/test" --secret "$secret" --events "$events" \
  --concurrency 8 --duplicates 0.1 --shuffle --check-database "$DATABASE_URL"
echo "checkpoints during the load: $(( $(checkpoints) - c0 ))"
kill $serve_pid; wait $serve_pid 2>/dev/null || true; serve_pid=

echo "== bare-database ceiling: pgbench -n -c 8 -j 2 -T 20 -f one-event-txn.sql"
c0=$(checkpoints)
PGSSLMODE=disable pgbench -h "$host" -p "$port" -U "$user" -n -c 8 -j 2 -T 20 \
  -f ../shared/bench/one-event-txn.sql "$ceiling" 2>&1 | grep -E '^(tps|latency average)'
echo "checkpoints during pgbench: $(( $(checkpoints) - c0 ))"
