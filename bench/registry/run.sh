#!/usr/bin/env bash
# Registry benchmark: Berth's registry against the CNCF registry (Debian's docker-registry, distribution 2.8),
# both on this machine, in the same run, measured with skopeo and wrk.
#
#   bench/registry/run.sh            # RUNS=3 by default; results in $WORK/results.md
#
# Needs: skopeo, docker-registry, wrk, apache2-utils (htpasswd), nginx, python3, curl, cargo.
# Berth runs as `registry-dev` (crates/registry/src/bin/registry-dev.rs): the same Registry and router `berth up`
# mounts, with the ECR API unauthenticated on loopback. To measure `berth up` instead, start it, then set
# BERTH_ENDPOINT=127.0.0.1:7700 and BERTH_PASSWORD=$(aws ecr get-login-password) and create the repositories with
# `aws ecr create-repository` (the script skips starting registry-dev when BERTH_ENDPOINT is set).
#
# Auth: Berth always requires credentials (skopeo: --creds AWS:<token>, which follows the Docker token flow:
# 401 + Bearer challenge, GET /v2/token with Basic, then Bearer on every request; wrk: the bearer token on every
# request, verified with HMAC-SHA256). The CNCF registry runs twice: without auth ("cncf-open": the fastest it can
# be, so the stricter comparison) and with htpasswd ("cncf-htpasswd": bcrypt cost 5, checked on every request,
# which is how that registry authenticates without a separate token server).
#
# Floor ("static"): nginx serving the big image's manifest and blobs as plain files (sendfile, no auth, no registry
# logic) at the URLs a pull asks for. No registry can serve a pull faster than that, so its pull time is the floor
# the client (skopeo) sets on this machine, and CNCF's time divided by it is the best ratio any registry could show.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNS=${RUNS:-3}
WRK_SECONDS=${WRK_SECONDS:-10}
WORK=${WORK:-$(mktemp -d /tmp/berth-registry-bench.XXXXXX)}   # registries' storage: the ext4 disk
# Client-side files (the images skopeo reads, and what it pulls into) live on tmpfs, the same for every registry, so
# that the times measure the registries rather than skopeo's own disk I/O.
CLIENT=${CLIENT:-/dev/shm/berth-registry-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

for tool in skopeo docker-registry wrk htpasswd nginx python3 curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install skopeo docker-registry wrk apache2-utils nginx)"; exit 1; }
done
echo "work dir: $WORK"
rm -rf "$WORK/berth" "$WORK/cncf-open" "$WORK/cncf-htpasswd" "$WORK/static" "$CLIENT/out"   # every run starts from empty registries
mkdir -p "$CLIENT"
if [ -z "${BERTH_ENDPOINT:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p berth-registry --bin registry-dev)
fi
[ -d "$CLIENT/images/big" ] || python3 "$HERE/make_images.py" "$CLIENT/images"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -s -o /dev/null "http://$1/v2/" && return 0; sleep 0.1; done; echo "no server at $1"; exit 1; }

# --- Berth ---------------------------------------------------------------------------------------------------
if [ -z "${BERTH_ENDPOINT:-}" ]; then
  BERTH_ENDPOINT=127.0.0.1:$(port)
  "$CARGO_TARGET_DIR/release/registry-dev" --data-dir "$WORK/berth" --listen "$BERTH_ENDPOINT" \
    --token-file "$WORK/berth.token" >"$WORK/berth.log" 2>&1 &
  PIDS+=($!)
  wait_http "$BERTH_ENDPOINT"
  BERTH_PASSWORD=$(cat "$WORK/berth.token")
fi

# --- CNCF distribution, open and htpasswd ----------------------------------------------------------------------
htpasswd -Bbn bench bench-password >"$WORK/htpasswd"
start_cncf() { # name port auth?
  local dir="$WORK/$1"; mkdir -p "$dir"
  {
    echo "version: 0.1"
    echo "log: {level: error, accesslog: {disabled: true}}"
    echo "storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}, cache: {blobdescriptor: inmemory}}"
    echo "http: {addr: 127.0.0.1:$2}"
    [ "$3" = auth ] && echo "auth: {htpasswd: {realm: bench, path: $WORK/htpasswd}}"
  } >"$dir/config.yml"
  docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
  PIDS+=($!)
}
OPEN_ENDPOINT=127.0.0.1:$(port); start_cncf cncf-open "${OPEN_ENDPOINT#*:}" none
AUTH_ENDPOINT=127.0.0.1:$(port); start_cncf cncf-htpasswd "${AUTH_ENDPOINT#*:}" auth
sleep 0.5; wait_http "$OPEN_ENDPOINT"; wait_http "$AUTH_ENDPOINT"

# --- the floor: nginx serving the big image as static files ------------------------------------------------------
STATIC_ENDPOINT=127.0.0.1:$(port)
chmod 755 "$WORK"   # nginx's workers run as an unprivileged user
python3 "$HERE/static_tree.py" "$CLIENT/images/big" "$WORK/static/root/v2/static/big"
cat >"$WORK/static/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/static/nginx.pid;
error_log $WORK/static/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  server {
    listen $STATIC_ENDPOINT;
    root $WORK/static/root;
    location = /v2/ { default_type application/json; return 200 '{}'; }
    location /v2/static/big/manifests/ { default_type application/vnd.oci.image.manifest.v1+json; }
    location /v2/static/big/blobs/ { default_type application/octet-stream; }
  }
}
CONF
nginx -c "$WORK/static/nginx.conf" &
PIDS+=($!)
wait_http "$STATIC_ENDPOINT"

endpoint() { case $1 in berth) echo "$BERTH_ENDPOINT";; cncf-open) echo "$OPEN_ENDPOINT";; cncf-htpasswd) echo "$AUTH_ENDPOINT";; static) echo "$STATIC_ENDPOINT";; esac; }
creds() { case $1 in berth) echo "AWS:$BERTH_PASSWORD";; cncf-htpasswd) echo "bench:bench-password";; *) echo "";; esac; }
cred_flag() { local c; c=$(creds "$2"); [ -n "$c" ] && echo "--$1-creds=$c" || echo "--$1-tls-verify=false"; }
prepare() { # registry repo-prefix: Berth needs its repositories created first (as ECR does)
  [ "$1" = berth ] || return 0
  local names=("$2/big"); for i in $(seq -f %03g 0 199); do names+=("$2/img$i"); done
  python3 "$HERE/ecr.py" "$BERTH_ENDPOINT" "${names[@]}"
}
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$WORK/last.err" || { cat "$WORK/last.err"; exit 1; }; e=$(date +%s.%N); echo "$e - $s" | bc; }
# skopeo remembers where blobs were seen and tries cross-repository mounts; start every copy from a clean cache.
nocache() { rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb "$HOME/.local/share/containers/cache/blob-info-cache-v1.boltdb"; }

push_big() { nocache; skopeo copy -q --dest-tls-verify=false $(cred_flag dest "$1") "oci:$CLIENT/images/big:v1" "docker://$(endpoint "$1")/$2/big:v1"; }
pull_big() { nocache; rm -rf "$CLIENT/out"; skopeo copy -q --src-tls-verify=false $(cred_flag src "$1") "docker://$(endpoint "$1")/$2/big:v1" "oci:$CLIENT/out:v1"; }
push_small() { nocache; skopeo sync --src dir --dest docker --dest-tls-verify=false $(cred_flag dest "$1") "$CLIENT/images/small" "$(endpoint "$1")/$2"; }
pull_small() {
  nocache; rm -rf "$CLIENT/out"; mkdir -p "$CLIENT/out"
  local c; c=$(creds "$1")
  {
    echo "$(endpoint "$1"):"
    echo "  tls-verify: false"
    [ -n "$c" ] && echo "  credentials: {username: \"${c%%:*}\", password: \"${c#*:}\"}"
    echo "  images:"
    for i in $(seq -f %03g 0 199); do echo "    $2/img$i: [latest]"; done
  } >"$WORK/sync.yaml"
  skopeo sync --src yaml --dest dir "$WORK/sync.yaml" "$CLIENT/out"
}

RESULTS="$WORK/results.tsv"; : >"$RESULTS"
for run in $(seq "$RUNS"); do
  order=(berth cncf-open cncf-htpasswd); [ $((run % 2)) = 0 ] && order=(cncf-open cncf-htpasswd berth)
  for reg in "${order[@]}"; do
    prefix="r$run"
    prepare "$reg" "$prefix"
    for op in push_big pull_big push_small pull_small; do
      t=$(seconds $op "$reg" "$prefix")
      printf '%s\t%s\t%s\t%s\n' "$reg" "$op" "$run" "$t" | tee -a "$RESULTS"
    done
  done
  t=$(seconds pull_big static static)   # the floor: same pull, from static files
  printf 'static\tpull_big\t%s\t%s\n' "$run" "$t" | tee -a "$RESULTS"
done

# --- manifest GET latency, 64 connections --------------------------------------------------------------------
ACCEPT="application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
for reg in berth cncf-open cncf-htpasswd; do
  case $reg in
    berth) auth=(-H "Authorization: Bearer $BERTH_PASSWORD");;
    cncf-open) auth=();;
    cncf-htpasswd) auth=(-H "Authorization: Basic $(printf bench:bench-password | base64)");;
  esac
  url="http://$(endpoint $reg)/v2/r1/big/manifests/v1"
  curl -sf -o /dev/null "${auth[@]}" -H "Accept: $ACCEPT" "$url" || { echo "manifest GET failed on $reg"; exit 1; }
  wrk -t2 -c64 -d"${WRK_SECONDS}s" --latency "${auth[@]}" -H "Accept: $ACCEPT" "$url" >"$WORK/wrk-$reg.txt"
  printf '%s\tmanifest_get\t%s\n' "$reg" "$(python3 "$HERE/latency.py" <"$WORK/wrk-$reg.txt")" | tee -a "$RESULTS"
done
python3 "$HERE/report.py" "$RESULTS" | tee "$WORK/results.md"
rm -rf "$CLIENT/out"
