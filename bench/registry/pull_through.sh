#!/usr/bin/env bash
# Pull-through cache benchmark: a ~102 MiB image (6 random layers) pulled with skopeo
#   - directly from the upstream (Debian's docker-registry = CNCF distribution, no auth),
#   - through Berth's registry cold (a pull-through cache rule, nothing cached: Berth fetches from the upstream while
#     it streams to the client and stores),
#   - through Berth warm (everything cached; the tag within its 24 h recheck interval).
#
#   bench/registry/pull_through.sh          # RUNS=3 by default; medians printed
#
# Needs: skopeo, docker-registry, python3, curl, bc, cargo. Berth runs as `registry-dev` (release build), the same
# Registry and /v2/ router `berth server` mounts. Client files live on tmpfs, as in bench/registry/run.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNS=${RUNS:-3}
WORK=${WORK:-$(mktemp -d /tmp/berth-ptc-bench.XXXXXX)}
CLIENT=${CLIENT:-/dev/shm/berth-registry-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for tool in skopeo docker-registry python3 curl bc; do
  command -v "$tool" >/dev/null || { echo "missing $tool"; exit 1; }
done
(cd "$ROOT" && cargo build --release -q -p berth-registry --bin registry-dev)
mkdir -p "$CLIENT"
[ -d "$CLIENT/images/big" ] || python3 "$HERE/make_images.py" "$CLIENT/images"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "http://$1/v2/" && return 0; sleep 0.1; done; echo "no server at $1"; exit 1; }
nocache() { rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb "$HOME/.local/share/containers/cache/blob-info-cache-v1.boltdb"; }
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$WORK/last.err" || { cat "$WORK/last.err"; exit 1; }; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

UP=127.0.0.1:$(port)
mkdir -p "$WORK/up"
printf 'version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}, cache: {blobdescriptor: inmemory}}\nhttp: {addr: %s}\n' \
  "$WORK/up/data" "$UP" >"$WORK/up/config.yml"
docker-registry serve "$WORK/up/config.yml" >"$WORK/up/log" 2>&1 &
PIDS+=($!)
wait_http "$UP"
nocache
skopeo copy -q --dest-tls-verify=false "oci:$CLIENT/images/big:v1" "docker://$UP/lib/big:v1"

pull() { # endpoint repo [creds]
  nocache; rm -rf "$CLIENT/out"
  skopeo copy -q --src-tls-verify=false ${3:+--src-creds "$3"} "docker://$1/$2:v1" "oci:$CLIENT/out:v1"
}
: >"$WORK/direct"; : >"$WORK/cold"; : >"$WORK/warm"
for run in $(seq "$RUNS"); do
  BERTH=127.0.0.1:$(port)
  rm -rf "$WORK/berth"
  "$CARGO_TARGET_DIR/release/registry-dev" --data-dir "$WORK/berth" --listen "$BERTH" --token-file "$WORK/berth.token" \
    --pull-through-allow "http://$UP" >"$WORK/berth.log" 2>&1 &
  pid=$!
  wait_http "$BERTH"
  curl -sf -X POST "http://$BERTH/" -H 'x-amz-target: AmazonEC2ContainerRegistry_V20150921.CreatePullThroughCacheRule' \
    -H 'content-type: application/x-amz-json-1.1' \
    -d "{\"ecrRepositoryPrefix\":\"up\",\"upstreamRegistryUrl\":\"http://$UP\"}" >/dev/null
  creds="AWS:$(cat "$WORK/berth.token")"
  seconds pull "$UP" lib/big >>"$WORK/direct"
  seconds pull "$BERTH" up/lib/big "$creds" >>"$WORK/cold"
  seconds pull "$BERTH" up/lib/big "$creds" >>"$WORK/warm"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "run $run: direct $(tail -1 "$WORK/direct") s, cold $(tail -1 "$WORK/cold") s, warm $(tail -1 "$WORK/warm") s"
done
d=$(median <"$WORK/direct"); c=$(median <"$WORK/cold"); w=$(median <"$WORK/warm")
echo "medians over $RUNS runs: direct from the upstream $d s, cold through Berth $c s ($(echo "scale=2; $c / $d" | bc)x the direct time), warm through Berth $w s ($(echo "scale=2; $w / $d" | bc)x the direct time)"
