#!/usr/bin/env bash
# A local AzureStorage-mode cluster in one command: Azurite (Table + Blob, in memory), two gateway silos and one worker
# silo on loopback, each on its own ports, logs and pids under the state directory. Ctrl-C (or `stop`) stops them all.
#
#   infra/local-cluster.sh            # build (Release), start, wait until every silo is ready, then wait for Ctrl-C
#   infra/local-cluster.sh stop       # stop a cluster started in the background (LOCAL_CLUSTER_DETACH=1)
#
# Ports (override with the environment variables in brackets):
#   Azurite Table 10002, Blob 10000, Queue 10001           [AZURITE_TABLE_PORT, AZURITE_BLOB_PORT, AZURITE_QUEUE_PORT]
#   gateway 1: gRPC 5080, HTTP/JSON + probes + /metrics 5081, Orleans silo 11111, Orleans gateway 30000
#   gateway 2: gRPC 5180, HTTP 5181, silo 11112, gateway 30001
#   worker:    HTTP (probes, /metrics) 5191, silo 11113, gateway 30002
#   PORT_OFFSET=N adds N to every port above (a second cluster on the same machine).
# Azurite comes from PATH, from ~/.cache/orleansfeatures/azurite (where the tests install it), or is installed there
# with npm (azurite@3.37.0). API keys are off (FeatureStore:Auth:Mode=None): a local, loopback-only cluster.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${LOCAL_CLUSTER_DIR:-$repo/.local-cluster}"
cluster_id="${LOCAL_CLUSTER_ID:-local}"
offset="${PORT_OFFSET:-0}"
table_port="${AZURITE_TABLE_PORT:-$((10002 + offset))}"
blob_port="${AZURITE_BLOB_PORT:-$((10000 + offset))}"
queue_port="${AZURITE_QUEUE_PORT:-$((10001 + offset))}"
configuration="${CONFIGURATION:-Release}"

stop_all() {
  [[ -d "$state/pids" ]] || return 0
  # Silos first (SIGTERM: a graceful stop, bounded by FeatureStore:Shutdown:Timeout), Azurite last.
  for name in worker gateway2 gateway1 azurite; do
    if [[ -f "$state/pids/$name" ]]; then
      pid="$(cat "$state/pids/$name")"
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
      rm -f "$state/pids/$name"
    fi
  done
}

if [[ "${1:-}" == "stop" ]]; then
  stop_all
  exit 0
fi

azurite="$(command -v azurite || true)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/orleansfeatures/azurite"
if [[ -z "$azurite" && -x "$cache/node_modules/.bin/azurite" ]]; then
  azurite="$cache/node_modules/.bin/azurite"
fi
if [[ -z "$azurite" ]]; then
  echo "installing azurite@3.37.0 into $cache (npm)"
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund --loglevel=error azurite@3.37.0
  azurite="$cache/node_modules/.bin/azurite"
fi

echo "building gateway and silo ($configuration)"
dotnet build "$repo/gateway" -c "$configuration" -v quiet -nologo
dotnet build "$repo/silo" -c "$configuration" -v quiet -nologo
gateway_dll="$repo/gateway/bin/$configuration/net10.0/OrleansFeatures.Gateway.dll"
silo_dll="$repo/silo/bin/$configuration/net10.0/OrleansFeatures.Silo.dll"

mkdir -p "$state/pids" "$state/logs"
stop_all
# Whatever fails below stops what was started; a detached cluster keeps running once it is up.
trap 'stop_all' EXIT

(cd "$state" && exec "$azurite" --silent --inMemoryPersistence --skipApiVersionCheck --disableProductStyleUrl \
  --tableHost 127.0.0.1 --tablePort "$table_port" \
  --blobHost 127.0.0.1 --blobPort "$blob_port" \
  --queueHost 127.0.0.1 --queuePort "$queue_port") >"$state/logs/azurite.log" 2>&1 &
echo $! >"$state/pids/azurite"

connection="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:$table_port/devstoreaccount1;BlobEndpoint=http://127.0.0.1:$blob_port/devstoreaccount1;"
common=(
  --FeatureStore:Mode=AzureStorage
  "--FeatureStore:AzureStorage:ConnectionString=$connection"
  --FeatureStore:AdvertisedIPAddress=127.0.0.1
  "--FeatureStore:ClusterId=$cluster_id"
  --FeatureStore:Shutdown:ReadinessDrain=00:00:02
)

start_silo() { # name dll http-port silo-port gateway-port [grpc-port]
  local name="$1" dll="$2" http="$(($3 + offset))" silo="$(($4 + offset))" orleans_gateway="$(($5 + offset))" grpc="${6:+$(($6 + offset))}"
  local args=("$dll" "${common[@]}" "--FeatureStore:SiloPort=$silo" "--FeatureStore:GatewayPort=$orleans_gateway"
    "--Kestrel:Endpoints:Http:Url=http://127.0.0.1:$http" --Kestrel:Endpoints:Http:Protocols=Http1)
  if [[ -n "$grpc" ]]; then
    args+=("--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:$grpc" --Kestrel:Endpoints:Grpc:Protocols=Http2 --FeatureStore:Auth:Mode=None)
  fi
  mkdir -p "$state/$name"
  (cd "$state/$name" && exec dotnet "${args[@]}") >"$state/logs/$name.log" 2>&1 &
  echo $! >"$state/pids/$name"
}

wait_ready() { # name http-port
  for _ in $(seq 1 900); do
    if curl -fsS "http://127.0.0.1:$(($2 + offset))/healthz/ready" >/dev/null 2>&1; then echo "$1 ready"; return 0; fi
    if ! kill -0 "$(cat "$state/pids/$1")" 2>/dev/null; then echo "$1 exited; see $state/logs/$1.log" >&2; return 1; fi
    sleep 0.2
  done
  echo "$1 not ready after 180 s; see $state/logs/$1.log" >&2
  return 1
}

# The first gateway creates the membership table; the others join it.
start_silo gateway1 "$gateway_dll" 5081 11111 30000 5080
wait_ready gateway1 5081
start_silo gateway2 "$gateway_dll" 5181 11112 30001 5180
start_silo worker "$silo_dll" 5191 11113 30002
wait_ready gateway2 5181
wait_ready worker 5191

cat <<INFO
cluster '$cluster_id' is up (logs: $state/logs):
  gateway 1  gRPC http://127.0.0.1:$((5080 + offset))   HTTP/JSON + probes http://127.0.0.1:$((5081 + offset))
  gateway 2  gRPC http://127.0.0.1:$((5180 + offset))   HTTP/JSON + probes http://127.0.0.1:$((5181 + offset))
  worker     probes + /metrics http://127.0.0.1:$((5191 + offset))
  Azurite    $connection
e.g.  dotnet run --project cli -- --address http://127.0.0.1:$((5080 + offset)) apply examples/definitions/
INFO

if [[ "${LOCAL_CLUSTER_DETACH:-0}" == "1" ]]; then
  trap - EXIT
  echo "detached; stop with: $0 stop"
  exit 0
fi
echo "Ctrl-C stops the cluster"
wait "$(cat "$state/pids/gateway1")" || true
