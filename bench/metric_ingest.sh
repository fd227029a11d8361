#!/usr/bin/env bash
# Metric ingest cost per task (issue 13, item 7): the CPU time Berth spends (server and agent: the one `berth up`
# process) and the engine spends (dockerd and containerd: Berth reads every running task's usage through the
# engine's stats API every 10 s and turns it into AWS/ECS metrics), per running task per minute, measured as the
# difference between N idle tasks and none over the same window. CPU time from /proc (user + system), so other load
# on the machine does not change the figure much.
#
#   cargo build --release -p berth && bench/metric_ingest.sh      # TASKS=40 WINDOW=60 by default
set -euo pipefail
cd "$(dirname "$0")/.."
TASKS=${TASKS:-40}
WINDOW=${WINDOW:-60}
BERTH=${BERTH:-target/release/berth}
IMAGE=${IMAGE:-$(docker images --format '{{.Repository}}:{{.Tag}}' | grep '^berth-workload:' | head -1)}
[ -n "$IMAGE" ] || { echo "build the workload image first (any test that runs a task builds it)" >&2; exit 1; }
export PATH="$PWD/.venv/bin:$PATH"
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BERTH" up --data-dir "$dir" --listen "127.0.0.1:$port" --cleanup-wait-seconds 5 >"$dir/berth.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; docker ps -aq --filter name=berth-ingest- | xargs -r docker rm -f >/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -f "$dir/credentials.json" ] && break; sleep 0.2; done
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=$(python3 -c "import json,sys; print(json.load(open('$dir/credentials.json'))['accessKeyId'])")
export AWS_SECRET_ACCESS_KEY=$(python3 -c "import json,sys; print(json.load(open('$dir/credentials.json'))['secretAccessKey'])")
for _ in $(seq 100); do
  [ "$(aws ecs list-container-instances --query 'length(containerInstanceArns)' 2>/dev/null)" = "1" ] && break; sleep 0.3
done

ticks() { # CPU ticks (user + system) of the pids given
  local sum=0
  for p in "$@"; do set -- $(cut -d' ' -f14,15 "/proc/$p/stat"); sum=$((sum + $1 + $2)); done
  echo $sum
}
engine_pids() { pgrep -x dockerd; pgrep -x containerd; }
measure() { # CPU seconds of berth, and of the engine, over WINDOW seconds
  local e0 b0 e1 b1
  b0=$(ticks $pid); e0=$(ticks $(engine_pids)); sleep "$WINDOW"; b1=$(ticks $pid); e1=$(ticks $(engine_pids))
  local hz; hz=$(getconf CLK_TCK)
  echo "$(echo "scale=3; ($b1-$b0)/$hz" | bc) $(echo "scale=3; ($e1-$e0)/$hz" | bc)"
}
sleep 15 # past start-up work
read -r idle_berth idle_engine < <(measure)
aws ecs register-task-definition --family ingest --container-definitions \
  "[{\"name\":\"app\",\"image\":\"$IMAGE\",\"memory\":8,\"essential\":true,\"entryPoint\":[\"/berth-workload\"],\"command\":[\"sleep\",\"3600\"]}]" >/dev/null
left=$TASKS
while [ "$left" -gt 0 ]; do n=$(( left < 10 ? left : 10 )); aws ecs run-task --task-definition ingest --count "$n" >/dev/null; left=$((left - n)); done
for _ in $(seq 300); do
  [ "$(aws ecs describe-tasks --tasks $(aws ecs list-tasks --query 'taskArns[]' --output text) --query "length(tasks[?lastStatus=='RUNNING'])")" = "$TASKS" ] && break
  sleep 1
done
sleep 25 # past the starts, and a usage report has gone out
read -r busy_berth busy_engine < <(measure)
per() { echo "scale=1; 1000*($1-$2)/$TASKS" | bc; }
echo "tasks=$TASKS window=${WINDOW}s"
echo "berth (server + agent): idle ${idle_berth}s, with tasks ${busy_berth}s -> $(per "$busy_berth" "$idle_berth") ms CPU per task per ${WINDOW}s"
echo "engine (dockerd + containerd): idle ${idle_engine}s, with tasks ${busy_engine}s -> $(per "$busy_engine" "$idle_engine") ms CPU per task per ${WINDOW}s"
