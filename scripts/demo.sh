#!/usr/bin/env bash
# `npm run demo`: podflame end to end on one Debian machine (as root). It sets up what is missing (Debian packages,
# the Docker engine, the local base image: scripts/provision.sh; node_modules; the build; the capture image; the
# demo app's image), starts a demo Java app container labelled as kubelet labels pod containers (pod demo-shop,
# namespace demo, container shop), starts podflame-agent on loopback, profiles the app through the CLI, writes
# demo.svg, and prints its path and the hottest Java frames. Everything it started is removed on exit, the agent's
# log too unless the demo failed (then its path is printed).
#
# Settings (environment): PODFLAME_DEMO_PORT (default 7071), PODFLAME_DEMO_SECONDS (10), PODFLAME_DEMO_OUTPUT
# (demo.svg), PODFLAME_DEMO_KEEP=1 keeps the app container and agent running for a look around.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PODFLAME_DEMO_PORT:-7071}
SECONDS_TO_PROFILE=${PODFLAME_DEMO_SECONDS:-10}
OUTPUT=${PODFLAME_DEMO_OUTPUT:-demo.svg}
KEEP=${PODFLAME_DEMO_KEEP:-0}
POD_NAME=demo-shop
POD_NAMESPACE=demo
CONTAINER_NAME=shop
AGENT_LOG=$(mktemp /tmp/podflame-demo-agent.XXXXXX.log)

say() { printf 'podflame demo: %s\n' "$*" >&2; }
fail() {
  say "FAILED: $*"
  exit 1
}

# Image tags carry a hash of their inputs, so an edited capture script or demo app is rebuilt, an unchanged one not.
content_tag() { cat "$@" | sha256sum | cut -c1-12; }

AGENT_PID=''
CONTAINERS=()
cleanup() {
  local rc=$?
  if [ "$KEEP" = 1 ] && [ "$rc" = 0 ]; then
    say "PODFLAME_DEMO_KEEP=1: leaving the agent (pid $AGENT_PID, http://127.0.0.1:$PORT, log $AGENT_LOG) and containers ${CONTAINERS[*]} running"
    return
  fi
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    say "stopping the agent (pid $AGENT_PID)"
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$AGENT_PID" 2>/dev/null || true
  fi
  if [ ${#CONTAINERS[@]} -gt 0 ]; then
    say "removing the demo containers"
    docker rm -f "${CONTAINERS[@]}" >/dev/null 2>&1 || true
  fi
  # The agent's log is worth keeping only when something went wrong; an empty one (no agent started yet) never.
  if [ "$rc" != 0 ] && [ -s "$AGENT_LOG" ]; then
    say "the agent's last log lines (the whole log is kept: $AGENT_LOG):"
    tail -n 20 "$AGENT_LOG" >&2
  else
    rm -f "$AGENT_LOG"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Machine: packages, dockerd, base image (each step says what it does).
bash scripts/provision.sh

# 2. Node side: dependencies and the build.
if [ ! -d node_modules ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
say "building (npm run build)"
npm run build --silent || fail "npm run build failed (see the compiler's messages above)"

# 3. Images.
CAPTURE_IMAGE=${PODFLAME_CAPTURE_IMAGE:-podflame-perf:demo-$(content_tag Dockerfile.perf agent/capture/podflame-capture.sh)}
if docker image inspect "$CAPTURE_IMAGE" >/dev/null 2>&1; then
  say "capture image $CAPTURE_IMAGE present"
else
  say "building the capture image $CAPTURE_IMAGE (docker build --network host -f Dockerfile.perf; a minute or two the first time)"
  docker build -q --network host --force-rm -f Dockerfile.perf -t "$CAPTURE_IMAGE" . >/dev/null
fi
DEMO_IMAGE=podflame-demo-shop:$(content_tag scripts/demo/Dockerfile scripts/demo/DemoShop.java)
if docker image inspect "$DEMO_IMAGE" >/dev/null 2>&1; then
  say "demo app image $DEMO_IMAGE present"
else
  say "building the demo app image $DEMO_IMAGE (JDK 17 and scripts/demo/DemoShop.java)"
  docker build -q --network host --force-rm -t "$DEMO_IMAGE" scripts/demo >/dev/null
fi

# 4. The demo app, as kubelet would run it: a pause (sandbox) container and the app container, with kubelet's labels.
POD_UID=$(cat /proc/sys/kernel/random/uuid)
labels() {
  printf -- '--label\nio.kubernetes.pod.uid=%s\n--label\nio.kubernetes.pod.name=%s\n--label\nio.kubernetes.pod.namespace=%s\n--label\nio.kubernetes.container.name=%s\n--label\nio.kubernetes.docker.type=%s\n' \
    "$POD_UID" "$POD_NAME" "$POD_NAMESPACE" "$1" "$2"
}
mapfile -t SANDBOX_LABELS < <(labels POD podsandbox)
mapfile -t APP_LABELS < <(labels "$CONTAINER_NAME" container)
say "starting pod $POD_NAMESPACE/$POD_NAME (uid $POD_UID): sandbox and container $CONTAINER_NAME (network none)"
CONTAINERS+=("$(docker run -d --network none --name "k8s_POD_${POD_NAME}_${POD_NAMESPACE}_${POD_UID}_0" \
  "${SANDBOX_LABELS[@]}" --entrypoint sleep "$DEMO_IMAGE" infinity)")
CONTAINERS+=("$(docker run -d --network none --memory 512m --name "k8s_${CONTAINER_NAME}_${POD_NAME}_${POD_NAMESPACE}_${POD_UID}_0" \
  "${APP_LABELS[@]}" "$DEMO_IMAGE")")
APP_ID=${CONTAINERS[1]}
for _ in $(seq 1 150); do
  docker logs "$APP_ID" 2>&1 | grep -q 'DemoShop: started' && break
  [ "$(docker inspect -f '{{.State.Running}}' "$APP_ID")" = true ] || fail "the demo app exited: $(docker logs "$APP_ID" 2>&1 | tail -5)"
  sleep 0.2
done
docker logs "$APP_ID" 2>&1 | grep -q 'DemoShop: started' || fail "the demo app did not start within 30 s"
say "demo app running; letting the JIT warm up for 3 s"
sleep 3

# 5. The agent, on loopback, without authentication.
say "starting podflame-agent on 127.0.0.1:$PORT with capture image $CAPTURE_IMAGE (log: $AGENT_LOG)"
# Node flags: agent/node-flags.ts says why.
node --max-semi-space-size=2 dist/agent/main.js --listen "127.0.0.1:$PORT" --capture-image "$CAPTURE_IMAGE" --node-name "$(hostname)" \
  >"$AGENT_LOG" 2>&1 &
AGENT_PID=$!
ready=0
for _ in $(seq 1 100); do
  kill -0 "$AGENT_PID" 2>/dev/null || fail "the agent exited: $(tail -5 "$AGENT_LOG")"
  if node -e "fetch('http://127.0.0.1:$PORT/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; then
    ready=1
    break
  fi
  sleep 0.2
done
[ "$ready" = 1 ] || fail "the agent did not become ready within 20 s"
say "agent ready"

# 6. Profile through the CLI, as a user would.
say "profiling $POD_NAMESPACE/$POD_NAME container $CONTAINER_NAME for ${SECONDS_TO_PROFILE}s:"
say "  node dist/client/cli/main.js profile --agent http://127.0.0.1:$PORT --pod-uid $POD_UID -c $CONTAINER_NAME -d $SECONDS_TO_PROFILE -o $OUTPUT"
node dist/client/cli/main.js profile --agent "http://127.0.0.1:$PORT" --pod-uid "$POD_UID" -c "$CONTAINER_NAME" \
  -d "$SECONDS_TO_PROFILE" -o "$OUTPUT"
[ -s "$OUTPUT" ] || fail "no flame graph was written to $OUTPUT"

# 7. What it found.
SVG_PATH=$(realpath "$OUTPUT")
say "flame graph written: $SVG_PATH"
grep -q '<title>DemoShop\.' "$OUTPUT" || fail "the flame graph does not name the demo app's methods (DemoShop.*)"
node dist/scripts/demo/hottest-frames.js "$SVG_PATH" 10
