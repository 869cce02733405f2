#!/usr/bin/env bash
# scripts/measure-capture-privileges.sh CAPTURE_IMAGE JDK_IMAGE
#
# What breaks without each privilege of a capture container: runs a uid 1000 JVM (test/workloads' Hot, under sh -c)
# and captures it 3 s with the agent's settings (agent/runtime/docker-runtime.ts: every capability dropped but
# SYS_ADMIN, SYS_CHROOT, SYS_PTRACE, SETUID, SETGID, DAC_READ_SEARCH, SYSLOG; the engine's default seccomp profile;
# no-new-privileges; read-only root, tmpfs /tmp), then once more without each capability in turn, and prints one
# line per run: the capture's exit code, whether the hot Java method and a native frame of libjvm
# (thread_native_entry) are named, the warnings, and what else failed.
# The table in docs/security.md ("The capture container's privileges") is its output on the test machine. Needs the Docker engine; the
# images are those the tests build (test/helpers/docker-env.ts), e.g.
#   bash scripts/measure-capture-privileges.sh podflame-perf:test-0123456789ab podflame-jdk:test-0123456789ab
set -uo pipefail

readonly CAPTURE_IMAGE=${1:?usage: measure-capture-privileges.sh CAPTURE_IMAGE JDK_IMAGE}
readonly JDK_IMAGE=${2:?usage: measure-capture-privileges.sh CAPTURE_IMAGE JDK_IMAGE}
readonly LABEL=podflame-test=measure-privileges
readonly JVM=podflame-measure-jvm-$$
readonly ERR=$(mktemp)
trap 'docker rm -f "$JVM" >/dev/null 2>&1; rm -f "$ERR"' EXIT

docker run -d --name "$JVM" --label "$LABEL" --network none -u 1000:1000 "$JDK_IMAGE" \
  sh -c 'java -Xmx128m -XX:+PreserveFramePointer -cp /app Hot; sleep infinity' >/dev/null
# The workload says when it runs; give the JIT the rest of a few seconds.
for ((i = 0; i < 120; i++)); do docker logs "$JVM" 2>&1 | grep -q 'Hot: started' && break; sleep 1; done
[ "$i" -lt 120 ] || { echo "the JVM did not start" >&2; exit 1; }
sleep 5

readonly CAPS=(SYS_ADMIN SYS_CHROOT SYS_PTRACE SETUID SETGID DAC_READ_SEARCH SYSLOG)

# capture WITHOUT [EXTRA_DOCKER_ARGS...]: one line of the table.
capture() {
  local without=$1 caps=() c hot native rc notes out
  shift
  for c in "${CAPS[@]}"; do [ "$c" = "$without" ] || caps+=(--cap-add "$c"); done
  out=$(docker run --rm --label "$LABEL" --network none --pid "container:$JVM" --cap-drop ALL "${caps[@]}" \
    --security-opt no-new-privileges --read-only --tmpfs /tmp:rw,nosuid,nodev,noexec,size=256m "$@" \
    "$CAPTURE_IMAGE" 3 99 2>"$ERR")
  rc=$?
  hot=$(grep -c -F 'Hot.hotFibonacci' <<<"$out")
  native=$(grep -c -F 'thread_native_entry' <<<"$out")
  notes=$(grep -o '"code":"[A-Z_]*"' "$ERR" | sort -u | sed 's/"code"://; s/"//g' | tr '\n' ' ')
  grep -q 'environ: Permission denied' "$ERR" && notes+="environ-unreadable "
  grep -q -i 'perf_event_open\|Permission denied.*perf\|No permission' "$ERR" && notes+="perf-refused "
  printf '%-22s exit=%-3s java-named=%-3s native-named=%-3s %s\n' "${without:-(none)}" "$rc" \
    "$([ "$hot" -gt 0 ] && echo yes || echo no)" "$([ "$native" -gt 0 ] && echo yes || echo no)" "${notes:-ok}"
}

echo "engine $(docker version --format '{{.Server.Version}}'), kernel $(uname -r)," \
  "perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid), kptr_restrict=$(cat /proc/sys/kernel/kptr_restrict)"
echo "capabilities: ${CAPS[*]}"
echo "without:"
capture ''
for c in "${CAPS[@]}"; do capture "$c"; done
echo "seccomp: the engine default (above) and unconfined:"
capture '' --security-opt seccomp=unconfined
# CAP_PERFMON in place of CAP_SYS_ADMIN, where this engine accepts it (Docker 20.10 rejects it as unknown).
if docker create --cap-add PERFMON --label "$LABEL" "$CAPTURE_IMAGE" 1 1 >/dev/null 2>&1; then
  echo "PERFMON instead of SYS_ADMIN:"
  capture SYS_ADMIN --cap-add PERFMON
else
  echo "PERFMON instead of SYS_ADMIN: this engine rejects CAP_PERFMON"
fi
docker container prune -f --filter "label=$LABEL" >/dev/null
# Kernel symbols: readable addresses in /proc/kallsyms (zeros mean every kernel frame is [unknown]).
for without in '' SYSLOG; do
  caps=()
  for c in "${CAPS[@]}"; do [ "$c" = "$without" ] || caps+=(--cap-add "$c"); done
  first=$(docker run --rm --label "$LABEL" --network none --cap-drop ALL "${caps[@]}" --entrypoint sh \
    "$CAPTURE_IMAGE" -c 'head -n 1 /proc/kallsyms')
  printf 'kallsyms without %-8s %s\n' "${without:-(none)}:" "$first"
done
