#!/usr/bin/env bash
# The load balancer against nginx (issue 11, item 8): the same reverse proxy in front of the same 4 backends,
# measured with wrk, keep-alive and `Connection: close`, a 13-byte and a 64 KiB body.
#
#   bench/lb.sh            # needs nginx and wrk (Debian: apt-get install -y nginx-light wrk)
#
# Backends: 4 processes of `lb_backend` (a static single-threaded hyper server, crates/lb/examples), on
# 127.0.0.1:18181-18184. nginx: `worker_processes auto`, an upstream with `keepalive 128`, HTTP/1.1 to the
# backends, the same X-Forwarded-* headers. Berth: `lb_serve` (crates/lb/examples) with one load balancer, one
# HTTP listener and one target group of the 4 backends (round robin, health checks every 30 s).
# Then one backend is killed 3 s into a 10 s run against each proxy, counting the errors clients see.
# Env: DURATION (default 15s), CONNECTIONS (64), THREADS (2), ONLY (one scenario, e.g. close-small, or kill).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
NGINX_PORT=18190
BERTH_PORT=18191
BACKENDS=(18181 18182 18183 18184)

command -v nginx >/dev/null || { echo "nginx is missing: apt-get install -y nginx-light" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
cargo build --release -q -p berth-lb --example lb_serve --example lb_backend
BIN=target/release/examples

WORK=$(mktemp -d /tmp/bench-lb.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

BACKEND_PIDS=()
for p in "${BACKENDS[@]}"; do
  "$BIN/lb_backend" "127.0.0.1:$p" & BACKEND_PIDS+=($!); PIDS+=($!)
done

UPSTREAMS=""
TARGETS=""
for p in "${BACKENDS[@]}"; do
  UPSTREAMS+="    server 127.0.0.1:$p;"$'\n'
  TARGETS+="\"127.0.0.1:$p\","
done
cat > "$WORK/nginx.conf" <<CONF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/body;
  proxy_temp_path $WORK/proxy;
  fastcgi_temp_path $WORK/fastcgi;
  uwsgi_temp_path $WORK/uwsgi;
  scgi_temp_path $WORK/scgi;
  upstream backends {
$UPSTREAMS    keepalive 128;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Port \$server_port;
    }
  }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK" -g 'daemon off;' & NGINX_PID=$!; PIDS+=($NGINX_PID)

cat > "$WORK/lb.json" <<JSON
{"load_balancers": [{"id": "bench", "bind_ip": "127.0.0.1", "listeners": [{
   "id": "http", "port": $BERTH_PORT, "protocol": "HTTP",
   "default_action": {"type": "forward", "target_groups": [{"target_group_id": "tg"}]}}]}],
 "target_groups": [{"id": "tg", "health_check": {"path": "/"}, "targets": [${TARGETS%,}]}]}
JSON
"$BIN/lb_serve" "$WORK/lb.json" >/dev/null & BERTH_PID=$!; PIDS+=($BERTH_PID)

for port in $NGINX_PORT $BERTH_PORT; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
done

# CPU time (clock ticks) of a process and its children (nginx's workers); the machine may be shared, so the
# CPU each proxy spends per request is reported next to the throughput.
ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}
run() { # name pid url extra-header...
  local name=$1 pid=$2 url=$3; shift 3
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$@" "$url" >/dev/null   # warm-up
  local before; before=$(ticks "$pid")
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" > "$WORK/$name.txt"
  echo "cpu_ticks $(( $(ticks "$pid") - before ))" >> "$WORK/$name.txt"
}
SCENARIOS=("keepalive-small::/" "keepalive-64k::/64k" "close-small:close:/" "close-64k:close:/64k")
for s in "${SCENARIOS[@]}"; do
  IFS=: read -r name conn path <<<"$s"
  [ -n "${ONLY:-}" ] && [ "$ONLY" != "$name" ] && continue
  extra=()
  [ "$conn" = close ] && extra=(-H "Connection: close")
  run "nginx-$name" "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT$path" "${extra[@]}"
  run "berth-$name" "$BERTH_PID" "http://127.0.0.1:$BERTH_PORT$path" "${extra[@]}"
done

# A backend killed 3 s into a 10 s keep-alive run (then restarted): what clients see.
kill_run() { # name url
  wrk -t"$THREADS" -c"$CONNECTIONS" -d10s --latency "$2" > "$WORK/$1.txt" &
  local wrk_pid=$!
  sleep 3
  kill "${BACKEND_PIDS[0]}"
  wait "$wrk_pid"
  echo "cpu_ticks 0" >> "$WORK/$1.txt"
  "$BIN/lb_backend" "127.0.0.1:${BACKENDS[0]}" & BACKEND_PIDS[0]=$!; PIDS+=($!)
  sleep 0.5
}
if [ -z "${ONLY:-}" ] || [ "$ONLY" = kill ]; then
  kill_run nginx-kill "http://127.0.0.1:$NGINX_PORT/"
  kill_run berth-kill "http://127.0.0.1:$BERTH_PORT/"
fi

python3 - "$WORK" <<'PY'
import re, sys, os
work = sys.argv[1]
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    n, u = float(m.group(1)), m.group(2)
    return n / 1000 if u == "us" else n * 1000 if u == "s" else n
def parse(name):
    t = open(os.path.join(work, name + ".txt")).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p50 = ms(re.search(r"\s50%\s+(\S+)", t).group(1))
    p99 = ms(re.search(r"\s99%\s+(\S+)", t).group(1))
    errs = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    if m: errs += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    if m: errs += int(m.group(1))
    requests = int(re.search(r"(\d+) requests in", t).group(1))
    ticks = int(re.search(r"cpu_ticks (\d+)", t).group(1))
    hz = os.sysconf("SC_CLK_TCK")
    return rps, p50, p99, errs, ticks / hz * 1e6 / max(requests, 1)
print("| scenario | nginx req/s | Berth req/s | ratio | nginx p50 / p99 | Berth p50 / p99 | p99 ratio | CPU per request nginx / Berth | errors nginx / Berth |")
print("|---|---|---|---|---|---|---|---|---|")
for name in ["keepalive-small", "keepalive-64k", "close-small", "close-64k", "kill"]:
    if not os.path.exists(os.path.join(work, "nginx-" + name + ".txt")): continue
    n, b = parse("nginx-" + name), parse("berth-" + name)
    if name == "kill":
        print(f"| a backend killed after 3 s (keep-alive, 10 s) | {n[0]:,.0f} | {b[0]:,.0f} | {b[0]/n[0]:.2f}x | "
              f"{n[1]:.2f} / {n[2]:.2f} ms | {b[1]:.2f} / {b[2]:.2f} ms | {b[2]/n[2]:.2f}x | - | **{n[3]} / {b[3]}** |")
        continue
    print(f"| {name} | {n[0]:,.0f} | {b[0]:,.0f} | **{b[0]/n[0]:.2f}x** | {n[1]:.2f} / {n[2]:.2f} ms | "
          f"{b[1]:.2f} / {b[2]:.2f} ms | {b[2]/n[2]:.2f}x | {n[4]:.0f} / {b[4]:.0f} µs | {n[3]} / {b[3]} |")
PY
