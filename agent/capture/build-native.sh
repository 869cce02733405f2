#!/usr/bin/env bash
# Builds podflame's native capture parts into OUT_DIR: libpodflame-perfmap.so (the JVMTI map agent, loaded into
# target JVMs), podflame-target-fs (file access inside a target's root that its symlinks cannot redirect) and
# libpodflame-perfmap-guard.so (preloaded into perf script: the JIT maps it reads are checked, bounded copies).
# Needs gcc, libc headers and any JDK's include/ (jvmti.h, jvmticmlr.h): JAVA_HOME, else the JDK of `javac` on PATH.
#   bash agent/capture/build-native.sh OUT_DIR
# Used by Dockerfile.perf and Dockerfile.agent, and by the host-mode tests on this machine.
set -euo pipefail
out=${1:?usage: build-native.sh OUT_DIR}
src=$(cd "$(dirname "$0")" && pwd)
jdk=${JAVA_HOME:-}
if [ -z "$jdk" ] && command -v javac >/dev/null; then jdk=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")"); fi
if [ -z "$jdk" ] || [ ! -f "$jdk/include/jvmti.h" ]; then
  echo "build-native: no JDK headers found (set JAVA_HOME to a JDK with include/jvmti.h)" >&2
  exit 1
fi
mkdir -p "$out"
# Hardened as Debian builds its packages; -Werror: a warning in code that runs inside a customer's JVM is a bug.
flags=(-std=c11 -O2 -g0 -Wall -Wextra -Werror -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Wl,-z,relro,-z,now)
gcc "${flags[@]}" -fPIC -shared -fvisibility=hidden -I"$jdk/include" -I"$jdk/include/linux" \
  -o "$out/libpodflame-perfmap.so" "$src/perfmap-agent.c" -lpthread
gcc "${flags[@]}" -fPIE -pie -o "$out/podflame-target-fs" "$src/target-fs.c"
gcc "${flags[@]}" -fPIC -shared -fvisibility=hidden -o "$out/libpodflame-perfmap-guard.so" "$src/perfmap-guard.c" -ldl
chmod 0644 "$out/libpodflame-perfmap.so" "$out/libpodflame-perfmap-guard.so"
chmod 0755 "$out/podflame-target-fs"
