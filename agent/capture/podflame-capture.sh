#!/usr/bin/env bash
# podflame-capture DURATION_SECONDS FREQUENCY_HZ
#
# The entrypoint of podflame's capture image. It runs in a short-lived container that shares ONLY the target
# container's PID namespace (`--pid=container:<target>`), so /proc lists the target's processes and
# /proc/<pid>/root reaches the target's filesystem. It records every target process with perf, makes each JVM write
# its JIT symbol map at the end of the recording (jattach, which switches to the JVM's uid/gid itself), copies the
# maps in, and writes `perf script` text to stdout: the agent streams that straight into the collapser.
#
# Where a JVM's map comes from: JDK 17 and later write it themselves (`jcmd Compiler.perfmap`, no code loaded into
# the JVM). JDK 8 to 16 have no such command: podflame's JVMTI agent (perfmap-agent.c, built into
# $PODFLAME_NATIVE_DIR) is copied into the target's filesystem, loaded with `jattach PID load`, writes the same map
# in the same form, and is removed again. PODFLAME_JAVA_INLINED=1 uses the agent on every JDK, with the chain of
# inlined methods for each code range (`outer->inner`, split into frames by the collapser). Every file in the
# target's filesystem is reached through podflame-target-fs (target-fs.c), which no symlink there can redirect.
#
# Contract with the agent:
# - stdout carries nothing but `perf script` output;
# - stderr carries warnings as JSON lines, `{"podflameWarning":{"code":"...","message":"...","pid":N}}`, and other
#   text (perf's own messages, progress), which the agent keeps as the tail of an error report;
# - a non-zero exit means the capture failed and the reason is on stderr: 2 bad arguments, 3 no target process,
#   4 perf record failed, 5 perf script failed (or no recording could be read), 6 no JVM could record the event,
#   143 stopped by SIGTERM.
# - PODFLAME_EVENT=alloc|lock|wall records a Flight Recorder event instead (see "Flight Recorder events" below):
#   stdout then carries the JVMs' recordings, one Flight Recorder file after the other.
#
# Warning codes: NO_JVM, NO_PRESERVE_FRAME_POINTER, JDK_TOO_OLD, ATTACH_FAILED, PERFMAP_FAILED, TARGET_EXITED,
# DYNAMIC_AGENT_LOADED (JDK 21+ logged JEP 451's notice for our agent), JIT_NAMES_INCOMPLETE (the agent could not
# name some compiled methods), INLINING_IMPRECISE (inlined frames asked for, without -XX:+DebugNonSafepoints),
# EVENT_UNSUPPORTED (a JVM that cannot record the Flight Recorder event asked for).
#
# Host mode (nodes without Docker: the agent runs this script itself, in the host PID namespace): the environment
# names the target's processes by their host PIDs, as the agent found them through /proc/<pid>/cgroup, and a work
# directory of this capture's own (captures run side by side in one /tmp):
#   PODFLAME_TARGET_PIDS="4242 4250"  PODFLAME_WORK_DIR=/tmp/podflame-capture-…
# JVMs write their map as /tmp/perf-<PID in their namespace>.map in their own mount namespace, where perf (6.1)
# finds it by itself; a copy named by the host PID goes into our /tmp too, for a perf that does not look there. The
# copies are listed in $WORK/copied-maps, and the agent removes them. If the agent dies, the capture stops.
# jattach is pointed at a JVM in another mount namespace only when it can enter that namespace (CAP_SYS_ADMIN and
# CAP_SYS_CHROOT, no seccomp filter, the node's user namespace): otherwise it would create and delete its attach
# trigger through the JVM's symlinks from our root, i.e. in the node's files (attach_crosses_namespace). Without
# them a JVM is recorded without Java names, with ATTACH_FAILED (EVENT_UNSUPPORTED for Flight Recorder events).
set -uo pipefail

readonly WORK=${PODFLAME_WORK_DIR:-/tmp}
readonly HOST_PIDS=${PODFLAME_TARGET_PIDS:-}
HOST_MODE=0
[ -n "$HOST_PIDS" ] && HOST_MODE=1
readonly HOST_MODE
# A JVM stuck at a safepoint (or stopped) never answers an attach; don't let it hang the capture.
readonly ATTACH_TIMEOUT=${PODFLAME_ATTACH_TIMEOUT:-10}
# How often the recording loop looks at perf and the targets, in seconds.
readonly CHECK_INTERVAL=0.5
# perf restarts allowed per capture (see record below).
readonly MAX_SEGMENTS=20
# Largest JIT map copied in: a big application's is tens of MB. The target writes it, so it is bounded well below the
# capture's memory (its /tmp is a tmpfs counted there); a larger one is refused with a warning.
readonly MAX_MAP_BYTES=${PODFLAME_MAX_MAP_BYTES:-$((64 * 1024 * 1024))}
# Host mode: perf script's address space (ulimit -v), in KiB; 0 leaves it unbounded. See "perf script" below.
readonly SCRIPT_MAX_VMEM_KIB=${PODFLAME_SCRIPT_MAX_VMEM_KIB:-$((4 * 1024 * 1024))}
# podflame's native parts: the JVMTI map agent, the target-filesystem helper and perf script's map guard.
readonly NATIVE_DIR=${PODFLAME_NATIVE_DIR:-/usr/local/lib/podflame}
readonly MAP_AGENT="$NATIVE_DIR/libpodflame-perfmap.so"
readonly TARGET_FS="$NATIVE_DIR/podflame-target-fs"
readonly MAP_GUARD="$NATIVE_DIR/libpodflame-perfmap-guard.so"
# Where the agent library may go in the target, in order: the JVM maps it executable and writes its map next to it.
readonly AGENT_DIRS=(/tmp /dev/shm)
readonly UNNAMED_METHOD='[unnamed Java method]'
readonly JAVA_INLINED=${PODFLAME_JAVA_INLINED:-0}
# What is recorded: cpu (perf, the default) or a Flight Recorder event of the JVMs: alloc, lock, wall.
readonly EVENT=${PODFLAME_EVENT:-cpu}
# Largest Flight Recorder file copied out of a target; the agent bounds what it reads again (--max-output-bytes).
readonly MAX_JFR_BYTES=${PODFLAME_MAX_JFR_BYTES:-$((256 * 1024 * 1024))}

say() { printf 'podflame-capture: %s\n' "$*" >&2; }

usage_error() {
  say "$1"
  say "usage: podflame-capture DURATION_SECONDS(1-600) FREQUENCY_HZ(1-999)"
  exit 2
}

# Escapes a string for a JSON string literal: backslash, quote, and control characters. Cut to 2000 characters
# first: messages quote what a target's processes answered, bash's pattern substitution is quadratic on long
# strings, and the agent reads warning lines of at most 64 KiB.
json_string() {
  local s=${1:0:2000}
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  # Any other control character would make the line invalid JSON; drop it.
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '"%s"' "$s"
}

# warn CODE MESSAGE [PID]: one JSON line on stderr.
warn() {
  local pid_field=''
  [ -n "${3:-}" ] && pid_field=",\"pid\":$3"
  printf '{"podflameWarning":{"code":%s,"message":%s%s}}\n' "$(json_string "$1")" "$(json_string "$2")" \
    "$pid_field" >&2
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]] && [ "${#1}" -le 6 ]; }

[ $# -eq 2 ] || usage_error "expected 2 arguments, got $#"
is_uint "$1" && [ "$1" -ge 1 ] && [ "$1" -le 600 ] || usage_error "duration must be whole seconds from 1 to 600, got '$1'"
is_uint "$2" && [ "$2" -ge 1 ] && [ "$2" -le 999 ] || usage_error "frequency must be whole Hz from 1 to 999, got '$2'"
[[ $MAX_MAP_BYTES =~ ^[0-9]{1,12}$ ]] || usage_error "PODFLAME_MAX_MAP_BYTES must be a number of bytes, got '$MAX_MAP_BYTES'"
[[ $JAVA_INLINED =~ ^[01]$ ]] || usage_error "PODFLAME_JAVA_INLINED must be 0 or 1, got '$JAVA_INLINED'"
[[ $SCRIPT_MAX_VMEM_KIB =~ ^[0-9]{1,12}$ ]] || usage_error "PODFLAME_SCRIPT_MAX_VMEM_KIB must be a number of KiB, got '$SCRIPT_MAX_VMEM_KIB'"
[[ $EVENT =~ ^(cpu|alloc|lock|wall)$ ]] || usage_error "PODFLAME_EVENT must be cpu, alloc, lock or wall, got '$EVENT'"
[[ $MAX_JFR_BYTES =~ ^[0-9]{1,12}$ ]] || usage_error "PODFLAME_MAX_JFR_BYTES must be a number of bytes, got '$MAX_JFR_BYTES'"
readonly DURATION=$((10#$1)) FREQUENCY=$((10#$2))
if [ "$HOST_MODE" = 1 ]; then
  [[ $HOST_PIDS =~ ^[0-9]{1,9}(\ [0-9]{1,9}){0,4095}$ ]] || usage_error "PODFLAME_TARGET_PIDS must be PIDs separated by spaces"
  [ -d "$WORK" ] && [ ! -L "$WORK" ] || usage_error "PODFLAME_WORK_DIR must be an existing directory"
fi
# In host mode, the agent that started us; when it is gone, nobody reads the profile.
readonly AGENT_PID=$PPID

# Our own processes share the PID namespace with the target's but not the mount namespace: that tells them apart
# (PIDs, parents and names cannot: the target may run anything, including another bash).
OWN_MNT_NS=$(readlink /proc/self/ns/mnt)
readonly OWN_MNT_NS

# Prints the PIDs of the target container's processes, one per line, ascending.
target_pids() {
  local dir ns pid
  if [ "$HOST_MODE" = 1 ]; then
    for pid in $HOST_PIDS; do [ -d "/proc/$pid" ] && printf '%s\n' "$pid"; done | sort -n -u
    return
  fi
  for dir in /proc/[0-9]*; do
    ns=$(readlink "$dir/ns/mnt" 2>/dev/null) || continue # gone meanwhile
    [ "$ns" = "$OWN_MNT_NS" ] && continue
    printf '%s\n' "${dir#/proc/}"
  done | sort -n
}

# When a process started (field 22 of /proc/PID/stat, in clock ticks since boot); empty when it is gone. Read after
# the last ')': the name before it may hold spaces and parentheses.
start_time_of() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  read -r -a fields <<<"${stat##*) }"
  printf '%s' "${fields[19]:-}"
}

declare -A STARTED=()
# True when PID is still the process recorded at the start. A PID that now names another process (the target's
# exited and the number was reused) is dropped, with a warning, before perf or jattach are pointed at it again.
same_process() {
  local now
  [ -d "/proc/$1" ] || return 1
  [ -n "${STARTED[$1]:-}" ] || return 0 # unreadable at the start: nothing to compare
  now=$(start_time_of "$1")
  [ -z "$now" ] && return 1 # gone meanwhile
  [ "$now" = "${STARTED[$1]}" ] && return 0
  if [ -z "${REUSED[$1]:-}" ]; then
    REUSED[$1]=1
    warn TARGET_EXITED "process $1 exited during the capture and its PID now belongs to another process, which is not recorded: the samples of the first until then are kept, its JIT-compiled Java frames cannot be named" "$1"
  fi
  return 1
}
declare -A REUSED=()

# The path of a process's executable, e.g. /usr/lib/jvm/java-17-openjdk-amd64/bin/java; empty when unreadable.
exe_of() {
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 0
  printf '%s' "${exe% (deleted)}"
}

# A JVM is a process whose executable is named java (a JDK's bin/java or a jlink'd runtime's), or, when /proc/PID/exe
# cannot be read, whose argv[0] is.
is_jvm() {
  local exe argv0
  exe=$(exe_of "$1")
  [ "${exe##*/}" = java ] && return 0
  argv0=$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null) || argv0=''
  argv0=${argv0%%$'\n'*}
  [ "${argv0##*/}" = java ]
}

# Host mode: why jattach must not be pointed at JVM $1, printed, and success; failure when it may. jattach (2.1)
# enters the JVM's mount namespace with setns(2), which needs CAP_SYS_ADMIN and CAP_SYS_CHROOT; when that fails it
# carries on with our paths instead: it creates `.attach_pid<ns pid>` (O_TRUNC) through /proc/<pid>/cwd and
# /proc/<pid>/root/tmp, where an absolute symlink the JVM's owner planted resolves from our root (the node's, through
# /proc/1/root), and later deletes it. A root JVM could make us truncate or delete any file of the node. So a JVM in
# another mount namespace is attached to only when the setns will work; one in ours (a JVM on the node itself) names
# nothing across a boundary.
attach_crosses_namespace() {
  local ns
  [ "$HOST_MODE" = 1 ] || return 1
  if ! ns=$(readlink "/proc/$1/ns/mnt" 2>/dev/null); then
    printf 'cannot be attached to safely: its mount namespace (/proc/%s/ns/mnt) could not be read' "$1"
    return 0
  fi
  [ "$ns" = "$OWN_MNT_NS" ] && return 1
  [ -n "$SETNS_BLOCKER" ] || return 1
  printf 'cannot be attached to safely: %s' "$SETNS_BLOCKER"
  return 0
}

# Host mode: why setns(2) into another container's mount namespace would fail for us (then jattach would fall back
# to paths outside the JVM's namespace), empty when it works. Read once, from our own status: CapEff, bit 21
# CAP_SYS_ADMIN and bit 18 CAP_SYS_CHROOT (our children, root like us, get the same); Seccomp 0 (a filter may refuse
# setns whatever the capabilities); and the initial user namespace (its uid_map maps all 2^32 uids), where those
# capabilities hold over every container's mount namespace.
setns_blocker() {
  local status caps missing=() mode map
  status=$(cat "/proc/$$/status" 2>/dev/null) || status=''
  caps=$(sed -n 's/^CapEff:[[:space:]]*\([0-9a-fA-F]\{1,16\}\)$/\1/p' <<<"$status")
  mode=$(sed -n 's/^Seccomp:[[:space:]]*\([0-9]\)$/\1/p' <<<"$status")
  if [ -z "$caps" ]; then
    missing=(SYS_ADMIN SYS_CHROOT)
  else
    (((16#$caps >> 21 & 1) == 1)) || missing+=(SYS_ADMIN)
    (((16#$caps >> 18 & 1) == 1)) || missing+=(SYS_CHROOT)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    printf "host mode attaches only from inside the JVM's mount namespace, which needs CAP_SYS_ADMIN and CAP_SYS_CHROOT: add %s to the agent's capabilities" "${missing[*]}"
  elif [ "$mode" != 0 ]; then
    printf "host mode attaches only from inside the JVM's mount namespace, and the agent runs under a seccomp filter (Seccomp: %s) that may refuse setns: run it with seccomp Unconfined" "${mode:-unknown}"
  else
    map=$(tr -s ' \t' ' ' <"/proc/$$/uid_map" 2>/dev/null) || map=''
    [ "$map" = ' 0 0 4294967295' ] ||
      printf "host mode attaches only from inside the JVM's mount namespace, and the agent runs in a user namespace of its own, whose capabilities do not reach other containers': run it in the node's"
  fi
}
SETNS_BLOCKER=''
[ "$HOST_MODE" = 1 ] && SETNS_BLOCKER=$(setns_blocker)
readonly SETNS_BLOCKER

# jattach PID ARGS...: runs jattach with a timeout; its output (the JVM's answer or its own error, at most 64 KiB:
# the target is not trusted to answer briefly) goes to stdout.
attach() {
  attach_within "$ATTACH_TIMEOUT" "$@"
}

# attach_within SECONDS PID ARGS...: attach with a timeout of its own. Never to a JVM that a first attach would kill
# (attach_unsafe): that fails at once, with the reason as its output.
attach_within() {
  local seconds=$1 pid=$2 why
  shift 2
  if why=$(attach_unsafe "$pid") || why=$(attach_crosses_namespace "$pid"); then
    printf 'not attached: JVM %s %s\n' "$pid" "$why"
    return 1
  fi
  timeout "$seconds" jattach "$pid" "$@" 2>&1 | head -c 65536
}

# Prints why attaching to JVM $1 would harm it and succeeds, or fails when attaching is safe. jattach asks a JVM
# without an attach socket (`.java_pid<its pid>` in its /tmp) to open one with SIGQUIT: a JVM that does not catch
# SIGQUIT (-Xrs, -XX:+ReduceSignalUsage: bit 3 of SigCgt in /proc/PID/status clear) dies of it, with a core dump.
# One with a socket is attached through it and never signalled. Read each time: the socket appears on a first
# attach, and a JVM may be replaced meanwhile.
attach_unsafe() {
  local pid=$1 nspid mask listing
  nspid=$(ns_pid "$pid")
  nspid=${nspid:-$pid}
  listing=$("$TARGET_FS" ls "$pid" /tmp ".java_pid$nspid" 2>/dev/null) || listing=''
  grep -q -x -F -e "s .java_pid$nspid" <<<"$listing" && return 1
  mask=$(sed -n 's/^SigCgt:[[:space:]]*\([0-9a-fA-F]\{1,16\}\)$/\1/p' "/proc/$pid/status" 2>/dev/null)
  # SIGQUIT is signal 3: bit 2 (value 4) of the mask's last hex digit.
  [ -n "$mask" ] && (((16#${mask: -1} & 4) != 0)) && return 1
  if [ -z "$mask" ]; then
    printf 'cannot be attached to safely: its signal handlers (/proc/%s/status) could not be read' "$pid"
  elif grep -q -x -F -e '-Xrs' -e '-XX:+ReduceSignalUsage' <<<"$(jvm_options "$pid")"; then
    printf 'runs with -Xrs (or -XX:+ReduceSignalUsage) and has no attach socket: attaching would send it SIGQUIT, which it does not catch, and kill it. Start it with -XX:+StartAttachListener (it opens its socket at start) or without -Xrs'
  else
    printf 'does not catch SIGQUIT and has no attach socket: attaching would send it SIGQUIT and kill it. Start it with -XX:+StartAttachListener (it opens its socket at start) or without -Xrs'
  fi
  return 0
}

# JVM $1's options, one per line: its command line, then JAVA_TOOL_OPTIONS and JDK_JAVA_OPTIONS split on spaces.
jvm_options() {
  local env
  tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null
  env=$(tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null) || env=''
  sed -n 's/^\(JAVA_TOOL_OPTIONS\|JDK_JAVA_OPTIONS\)=//p' <<<"$env" | tr ' ' '\n'
}

# True when the JVM was started with -XX:+DisableAttachMechanism (command line, JAVA_TOOL_OPTIONS or
# JDK_JAVA_OPTIONS). Attaching anyway would only make it print a thread dump (jattach's SIGQUIT) and time out.
attach_disabled() {
  local flag='-XX:+DisableAttachMechanism' args env
  # Read whole, then searched: `grep -q` in a pipe may stop reading early, and pipefail would call that a failure.
  args=$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null) || args=''
  env=$(tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null) || env=''
  grep -q -x -F -e "$flag" <<<"$args" && return 0
  grep -E '^(JAVA_TOOL_OPTIONS|JDK_JAVA_OPTIONS)=' <<<"$env" | grep -q -F -e "$flag"
}

# An attach failure on one line, for a message: jattach's own words without its banner, at most 300 bytes (the
# target answers; it is not trusted to answer briefly).
attach_error() {
  printf '%s' "$1" | grep -v -e '^Connected to remote JVM' -e '^$' | tr '\n' ' ' | head -c 300 | sed 's/ *$//'
}

# Prints the Java major version the JVM itself reports (8, 11, 17, ...), empty when it does not answer. Asked over the
# attach API (`properties`: java.specification.version is 1.8 on JDK 8, 11 on JDK 11), never read from files of the
# target's image, which need not belong to the running JVM. VM.version (`JDK 8.0_402`) for a JVM without properties.
jvm_major() {
  local out version
  out=$(attach "$1" properties) || out=''
  version=$(sed -n 's/^java\.specification\.version=\([0-9.]*\).*/\1/p' <<<"$out" | head -n 1)
  if [ -z "$version" ]; then
    out=$(attach "$1" jcmd VM.version) || return 0
    version=$(sed -n 's/^JDK \([0-9][0-9._]*\).*/\1/p;T;q' <<<"$out")
  fi
  java_major "$version"
}

# 17.0.15 → 17, 1.8 → 8, 1.8.0_402 → 8.
java_major() {
  local major=${1%%.*}
  [ "$major" = 1 ] && major=$(printf '%s' "$1" | cut -d. -f2)
  is_uint "$major" && printf '%s' "$((10#$major))"
}

# The effective uid of a process ("Uid:	1000	1000	1000	1000").
uid_of() {
  sed -n 's/^Uid:[[:space:]]*[0-9]*[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null
}

JVMS=()
declare -A JVM_MAJOR=() AGENT_ALLOWED=()
# Checks a JVM before recording: attachable, JDK 8 or later, frame pointers preserved.
check_jvm() {
  local pid=$1 major out
  sweep_leftovers "$pid"
  if attach_disabled "$pid"; then
    warn ATTACH_FAILED "JVM $pid runs with -XX:+DisableAttachMechanism, so its JIT symbol map cannot be requested: its JIT-compiled Java frames will show as [unknown]. Remove the flag to profile it with Java names." "$pid"
    return
  fi
  if out=$(attach_unsafe "$pid") || out=$(attach_crosses_namespace "$pid"); then
    warn ATTACH_FAILED "JVM $pid $out. It is recorded without its JIT symbol map: its JIT-compiled Java frames will show as [unknown]." "$pid"
    return
  fi
  if ! out=$(attach "$pid" jcmd VM.flags); then
    local hint='Check that it does not run with -XX:+DisableAttachMechanism.'
    # HotSpot opens its attach socket in /tmp: a read-only root without a writable /tmp cannot be attached to.
    grep -q -F -e 'Read-only file system' <<<"$out" &&
      hint='The JVM opens its attach socket in /tmp: give the container a writable /tmp (an emptyDir).'
    warn ATTACH_FAILED "could not attach to JVM $pid (jattach: $(attach_error "$out")); its JIT-compiled Java frames will show as [unknown]. $hint" "$pid"
    return
  fi
  major=$(jvm_major "$pid")
  if [ -n "$major" ] && [ "$major" -lt 8 ]; then
    warn JDK_TOO_OLD "JVM $pid runs Java $major: podflame names Java frames on JDK 8 and later, so its JIT-compiled Java frames will show as [unknown]. Run it on JDK 8+." "$pid"
    return
  fi
  JVMS+=("$pid")
  JVM_MAJOR[$pid]=$major
  # JEP 451: a JVM started with -XX:+EnableDynamicAgentLoading prints no notice when an agent is loaded.
  grep -q -F -e '-XX:+EnableDynamicAgentLoading' <<<"$out" && AGENT_ALLOWED[$pid]=1
  # Without it, HotSpot records where inlined code sits only at safepoints and calls (unless a JVMTI agent listened
  # while the method compiled), so an inlined method with no call of its own is charged to its caller.
  if [ "$JAVA_INLINED" = 1 ] && ! grep -q -F -e '-XX:+DebugNonSafepoints' <<<"$out"; then
    warn INLINING_IMPRECISE "JVM $pid runs without -XX:+DebugNonSafepoints: an inlined method that makes no calls of its own is shown as part of the method it was inlined into. For exact inlined frames add -XX:+UnlockDiagnosticVMOptions -XX:+DebugNonSafepoints (no measurable cost) and restart it." "$pid"
  fi
  if ! grep -q -F -e '-XX:+PreserveFramePointer' <<<"$out"; then
    warn NO_PRESERVE_FRAME_POINTER "JVM $pid runs without -XX:+PreserveFramePointer: its Java stacks will be truncated (callers of JIT-compiled methods missing). Add -XX:+PreserveFramePointer to JAVA_TOOL_OPTIONS (about 1-3% CPU) and restart it." "$pid"
  fi
}

# At the end of the recording (so methods compiled during it resolve), the JVM writes its map as
# /tmp/perf-<its own pid>.map (or <dir>/perf-... for our agent) in its own mount namespace. It is fetched through
# podflame-target-fs: on the Docker path into our /tmp as perf-<pid>.map, where perf script looks (the PID namespace
# is shared, so the pids agree), and removed from the target so repeated captures leave nothing behind.
collect_map() {
  local pid=$1 major=${JVM_MAJOR[$1]:-} nspid dir
  nspid=$(ns_pid "$pid")
  nspid=${nspid:-$pid}
  if [ "$JAVA_INLINED" = 1 ] || { [ -n "$major" ] && [ "$major" -lt 17 ]; }; then
    dir=$(agent_map "$pid" "$major") || return
  else
    dir=$(perfmap_map "$pid" "$nspid") || {
      # e.g. a read-only /tmp: JDK 17's Compiler.perfmap can only write there, our agent can write elsewhere.
      say "JVM $pid wrote no map with Compiler.perfmap; trying podflame's JVMTI agent"
      dir=$(agent_map "$pid" "$major") || return
    }
  fi
  fetch_map "$pid" "$dir/perf-$nspid.map"
}

# Compiler.perfmap (JDK 17+): prints /tmp when the JVM wrote /tmp/perf-NSPID.map, fails otherwise (quietly: the
# caller falls back to the agent).
perfmap_map() {
  local pid=$1 nspid=$2 out
  if ! out=$(attach "$pid" jcmd Compiler.perfmap); then
    say "JVM $pid: jcmd Compiler.perfmap failed (jattach: $(attach_error "$out"))"
    return 1
  fi
  "$TARGET_FS" get "$pid" "/tmp/perf-$nspid.map" 0 >/dev/null 2>&1
  [ $? = 3 ] || return 1 # 3: larger than 0 bytes, i.e. a regular file with a map in it
  printf '/tmp'
}

# The agent's library name: one per build, so loading it again in the same JVM finds the library already loaded
# (glibc matches the path) instead of mapping another copy for each capture.
agent_name() {
  local sum
  sum=$(sha256sum "$MAP_AGENT" 2>/dev/null) || return 1
  printf 'podflame-perfmap-%s.so' "${sum:0:16}"
}

# Loads podflame's JVMTI agent into the JVM, which writes <dir>/perf-<its pid>.map; prints that dir, or warns and
# fails. The library goes into the first of AGENT_DIRS the JVM can load it from and write beside, and is removed
# from there once loaded (the JVM keeps it mapped).
agent_map() {
  local pid=$1 major=$2 name uid lib out rc dir agent_rc why
  if [ ! -r "$MAP_AGENT" ] || [ ! -x "$TARGET_FS" ]; then
    warn ATTACH_FAILED "podflame's JVMTI agent is missing from this capture image ($NATIVE_DIR), so JVM $pid (Java ${major:-?}) gets no JIT symbol map: its JIT-compiled Java frames will show as [unknown]" "$pid"
    return 1
  fi
  name=$(agent_name) || return 1
  uid=$(uid_of "$pid")
  if ! out=$("$TARGET_FS" put "$pid" "$MAP_AGENT" "$name" "${uid:-0}" "${AGENT_DIRS[@]}" 2>&1); then
    warn ATTACH_FAILED "could not place podflame's JVMTI agent in JVM $pid's filesystem ($(printf '%s' "$out" | sed 's/^podflame-target-fs: //' | tr '\n' ';' | sed 's/;$//; s/;/; /g')), so it gets no JIT symbol map: its JIT-compiled Java frames will show as [unknown]. Give the container a writable /tmp (an emptyDir) to profile it with Java names." "$pid"
    return 1
  fi
  lib=$(tail -n 1 <<<"$out")
  dir=${lib%/*}
  out=$(attach "$pid" load "$lib" true "dir=${dir:-/},inline=$JAVA_INLINED")
  rc=$?
  "$TARGET_FS" rm "$pid" "$lib" 2>/dev/null
  if [ "$rc" != 0 ]; then
    # jattach prints the agent's own return code (`return code: 4`) when the agent ran; otherwise the attach or the
    # library load failed, and jattach's words say why (`Process 7 not found`).
    agent_rc=$(sed -n 's/^return code: \(-\{0,1\}[0-9][0-9]*\)$/\1/p' <<<"$out" | tail -n 1)
    if [ -n "$agent_rc" ]; then
      why=$(agent_failure "$agent_rc")
    elif [ "$rc" = 124 ]; then
      why="the JVM did not answer within ${ATTACH_TIMEOUT}s"
    else
      why="jattach: $(attach_error "$out")"
    fi
    [ -d "/proc/$pid" ] || why="$why; the JVM has exited"
    warn ATTACH_FAILED "JVM $pid could not run podflame's JVMTI agent ($why), so it gets no JIT symbol map: its JIT-compiled Java frames will show as [unknown]" "$pid"
    return 1
  fi
  # A JVM whose version did not answer (a slow attach) may be 21+: said rather than left silent.
  if { [ -z "$major" ] || [ "$major" -ge 21 ]; } && [ -z "${AGENT_ALLOWED[$pid]:-}" ]; then
    warn DYNAMIC_AGENT_LOADED "JVM $pid (Java ${major:-of unknown version: if 21 or later, it}) printed a warning on its own stderr that an agent was loaded dynamically (JEP 451): podflame's JVMTI agent, loaded for $([ "$JAVA_INLINED" = 1 ] && echo 'inlined frames' || echo 'its JIT symbol map'). It runs only while the map is written. A future JDK may refuse it unless the JVM runs with -XX:+EnableDynamicAgentLoading." "$pid"
  fi
  printf '%s' "${dir:-/}"
}

# What the agent's return code (Agent_OnAttach's, printed by jattach) means; perfmap-agent.c defines them.
agent_failure() {
  case $1 in
    1) echo "the agent refused its options" ;;
    2) echo "the JVM offers no JVMTI environment" ;;
    3) echo "the JVM refused the capability to list compiled methods" ;;
    4) echo "the map file could not be created (the directory is not writable by the JVM's user)" ;;
    5) echo "writing the map failed (disk full?)" ;;
    6) echo "the JVM refused the compiled-method events" ;;
    *) echo "the agent returned $1" ;;
  esac
}

# Fetches the map the JVM wrote at PATH (in its filesystem) to where perf script reads it, bounded: the target's
# files are not trusted (a FIFO or /dev/zero there would hang or fill the capture). Counts the address ranges the
# agent could not name.
fetch_map() {
  local pid=$1 src=$2 dst unnamed
  if [ "$HOST_MODE" = 1 ]; then
    fetch_map_host "$pid" "$src"
    return
  fi
  dst="$WORK/perf-$pid.map"
  if ! timeout "$ATTACH_TIMEOUT" "$TARGET_FS" get "$pid" "$src" "$MAX_MAP_BYTES" >"$dst" 2>"$WORK/fetch.err"; then
    map_failed "$pid" "$src"
    rm -f "$dst"
    return
  fi
  "$TARGET_FS" rm "$pid" "$src" 2>/dev/null
  count_unnamed "$pid" "$dst"
}

# The PERFMAP_FAILED warning for a map that could not be fetched; one larger than MAX_MAP_BYTES says so.
map_failed() {
  local why
  why=$(sed 's/^podflame-target-fs: //' "$WORK/fetch.err" | head -c 300 | tr '\n' ' ')
  if grep -q -e 'more than [0-9]*$' -e 'grew past' "$WORK/fetch.err"; then
    warn PERFMAP_FAILED "JVM $1's perf map at $2 in its container is larger than the $((MAX_MAP_BYTES / 1024 / 1024)) MiB podflame copies ($why), so it was not read: its JIT-compiled Java frames will show as [unknown]" "$1"
  else
    warn PERFMAP_FAILED "JVM $1's perf map at $2 in its container could not be read ($why); its JIT-compiled Java frames will show as [unknown]" "$1"
  fi
}

count_unnamed() {
  local unnamed
  unnamed=$(grep -c -F -e "$UNNAMED_METHOD" "$2")
  if [ "${unnamed:-0}" -gt 0 ]; then
    warn JIT_NAMES_INCOMPLETE "podflame's JVMTI agent could not name $unnamed of JVM $1's compiled code ranges (methods unloaded while it ran); their frames show as $UNNAMED_METHOD" "$1"
  fi
}

# The PID of a process in its own (innermost) PID namespace, e.g. 1 from "NSpid:	4242	1".
ns_pid() {
  sed -n 's/^NSpid:.*[[:space:]]\([0-9][0-9]*\)$/\1/p' "/proc/$1/status" 2>/dev/null
}

TARGET_MAPS=()
# Host mode: a map in the target's /tmp stays there until perf script has read it (perf 6.1 looks in the target's
# mount namespace itself; removed at the end), and a copy named by the host PID goes into our /tmp unless a file of
# that name is there (never overwritten: not ours). A map elsewhere (/dev/shm) is always copied: perf looks only in
# /tmp.
fetch_map_host() {
  local pid=$1 src=$2 dst="/tmp/perf-$1.map" tmp="$WORK/perf-$1.map"
  if ! timeout "$ATTACH_TIMEOUT" "$TARGET_FS" get "$pid" "$src" "$MAX_MAP_BYTES" >"$tmp" 2>"$WORK/fetch.err"; then
    map_failed "$pid" "$src"
    rm -f "$tmp"
    return
  fi
  TARGET_MAPS+=("$pid:$src")
  count_unnamed "$pid" "$tmp"
  if [ "${PODFLAME_COPY_MAPS:-1}" = 1 ] || [ "${src%/*}" != /tmp ]; then
    # Anyone may write the node's /tmp, so the copy is never opened there by name: it is made readable in our own
    # work directory (0700, ours alone), then hard-linked in. link(2) follows no symlink and fails if the name
    # exists, so a link, FIFO or file planted at that name (before or meanwhile) is neither written through nor
    # replaced. A work directory on another filesystem than /tmp gets no copy.
    chmod 0644 "$tmp"
    if ln -T "$tmp" "$dst" 2>/dev/null; then
      printf '%s\n' "$dst" >>"$WORK/copied-maps"
    else
      say "JVM $pid: no copy of its map at $dst (the name is taken, or $WORK is on another filesystem)"
    fi
  fi
  rm -f "$tmp"
}

now_ms() { local us=${EPOCHREALTIME/./}; printf '%s' $((10#$us / 1000)); }

alive_pids_csv() {
  local pid list=''
  for pid in "$@"; do same_process "$pid" && list+="${list:+,}$pid"; done
  printf '%s' "$list"
}

# The thread IDs of the given processes (comma-separated PIDs), one per line.
threads_of() {
  local pid task
  for pid in ${1//,/ }; do
    for task in "/proc/$pid/task/"[0-9]*; do [ -d "$task" ] && printf '%s\n' "${task##*/}"; done
  done
}

# True when one of the given thread IDs (whitespace-separated) no longer exists.
any_thread_gone() {
  local tid
  for tid in $1; do [ -d "/proc/$tid" ] || return 0; done
  return 1
}

# Waits up to $2 seconds for process $1 to end, then kills it; sets WAIT_STATUS to its exit status.
wait_or_kill() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$1" 2>/dev/null && kill -KILL "$1" 2>/dev/null
  WAIT_STATUS=0
  wait "$1" || WAIT_STATUS=$?
}

SEGMENTS=()
PERF_PID=''
PERF_LOG=''
CTL_FD=''
ACK_FD=''
WATCHED_THREADS=''

# perf's own messages, minus the control chatter, go to our stderr once its segment ends.
flush_perf_log() {
  [ -n "$PERF_LOG" ] && [ -f "$PERF_LOG" ] && grep -v -e '^Events enabled$' -e '^Events disabled$' "$PERF_LOG" >&2
  PERF_LOG=''
}

close_control() {
  [ -n "$CTL_FD" ] && exec {CTL_FD}>&-
  [ -n "$ACK_FD" ] && exec {ACK_FD}>&-
  CTL_FD=''
  ACK_FD=''
  rm -f "$WORK/perf-ctl.fifo" "$WORK/perf-ack.fifo"
}

# Starts perf record on the given processes (comma-separated PIDs) and returns once it records, or 1 if it failed.
# perf starts with its events disabled and is enabled through its control FIFO: its acknowledgement says that the
# events are open and the existing mappings written, so the recording time is counted from there, and the segment
# is never interrupted half set up (perf then leaves a file it cannot read back).
start_segment() {
  local pids=$1 out="$WORK/perf-${#SEGMENTS[@]}.data" before reply i ignored started=0
  PERF_LOG="$WORK/perf-${#SEGMENTS[@]}.log"
  mkfifo "$WORK/perf-ctl.fifo" "$WORK/perf-ack.fifo"
  exec {CTL_FD}<>"$WORK/perf-ctl.fifo" {ACK_FD}<>"$WORK/perf-ack.fifo"
  before=$(threads_of "$pids")
  # cpu-clock: a software event, present in VMs without a hardware PMU. No build-id collection (it copies every DSO
  # into a cache this throwaway container never reuses) and no BPF program events (it reads every BPF program on
  # the node): each costs most of a second.
  perf record -F "$FREQUENCY" -g -e cpu-clock --no-buildid --no-buildid-cache --no-bpf-event -D -1 \
    --control "fd:$CTL_FD,$ACK_FD" -o "$out" -p "$pids" >&2 2>"$PERF_LOG" &
  PERF_PID=$!
  echo enable >&"$CTL_FD"
  for ((i = 0; i < 60; i++)); do
    if read -r -t 0.5 -u "$ACK_FD" reply; then
      started=1
      break
    fi
    kill -0 "$PERF_PID" 2>/dev/null || break
  done
  if [ "$started" = 0 ]; then
    kill -INT "$PERF_PID" 2>/dev/null
    wait_or_kill "$PERF_PID" 5
    PERF_PID=''
    flush_perf_log
    close_control
    rm -f "$out"
    return 1
  fi
  SEGMENTS+=("$out")
  # The threads perf opened an event for: those there before and after it started, minus those that were already
  # gone when it tried (it says so: "WARNING: Ignored open failure for pid 35").
  ignored=$(sed -n 's/^WARNING: Ignored open failure for pid \([0-9]*\)$/\1/p' "$PERF_LOG")
  WATCHED_THREADS=$({
    printf '%s\n' "$before"
    threads_of "$pids"
  } | sort -u | grep -v -x -F -e "${ignored:-none}" | tr '\n' ' ')
  return 0
}

# Stops the running perf record through its control FIFO (it writes its data and exits), with SIGINT as the
# fallback; returns its exit status.
stop_segment() {
  local reply
  [ -n "$PERF_PID" ] || return 0
  echo stop >&"$CTL_FD"
  read -r -t 10 -u "$ACK_FD" reply || kill -INT "$PERF_PID" 2>/dev/null
  wait_or_kill "$PERF_PID" 30
  PERF_PID=''
  flush_perf_log
  close_control
  # 130: the SIGINT fallback, after which perf still writes its data.
  [ "$WAIT_STATUS" = 130 ] && WAIT_STATUS=0
  return "$WAIT_STATUS"
}

on_term() {
  say "stopped by a signal; discarding the capture"
  [ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null
  jfr_discard_all
  exit 143
}
trap on_term TERM INT

# Starts a segment on the processes still alive, retrying: perf record -p sometimes fails (status 255, no message)
# when a thread exits while it starts. A real failure (permissions, a missing event) fails every time, so only
# consecutive failures count: a JVM that churns threads can fail a start now and then over a long capture.
readonly MAX_START_FAILURES=6
start_segment_retrying() {
  local pids failures=0
  while :; do
    pids=$(alive_pids_csv "${PIDS[@]}")
    [ -n "$pids" ] || return 2
    start_segment "$pids" && return 0
    failures=$((failures + 1))
    if [ "$failures" -ge "$MAX_START_FAILURES" ]; then
      say "perf record failed $failures times in a row on processes $pids (see its messages above)"
      exit 4
    fi
    say "perf record did not start on processes $pids; trying again"
    sleep 0.1
  done
}

# Records the target processes for DURATION seconds. perf record -p opens one event per thread that exists when it
# starts, and once one of those threads exits it busy-loops at 100% CPU until the end (poll keeps reporting POLLHUP
# for the dead thread's event; seen with perf 6.1 and 6.12 on kernel 6.18). JVMs end threads routinely (compiler
# threads, idle pool workers); threads started later share their parent's event and do no harm. So perf runs in
# the background while this loop watches the threads it opened: when one is gone, perf is stopped (its data kept)
# and a new segment starts on the processes still alive. Each restart loses perf's start-up time of samples.
record() {
  local deadline remaining
  start_segment_retrying || return 0
  T_RECORDING=$(now_ms)
  deadline=$((T_RECORDING + DURATION * 1000))
  while :; do
    remaining=$((deadline - $(now_ms)))
    [ "$remaining" -le 0 ] && break
    if [ "$HOST_MODE" = 1 ] && ! kill -0 "$AGENT_PID" 2>/dev/null; then
      say "the agent that started this capture is gone"
      on_term
    fi
    if [ "$remaining" -lt 500 ]; then sleep "0.$(printf '%03d' "$remaining")"; else sleep "$CHECK_INTERVAL"; fi
    if ! kill -0 "$PERF_PID" 2>/dev/null; then
      # perf ended by itself: with status 0 when every recorded process has exited.
      wait_or_kill "$PERF_PID" 1
      PERF_PID=''
      flush_perf_log
      close_control
      if [ "$WAIT_STATUS" != 0 ]; then
        say "perf record stopped with status $WAIT_STATUS (see its message above)"
        start_segment_retrying || return 0
        continue
      fi
      say "every recorded process exited; recording stopped early"
      return 0
    fi
    if [ "${#SEGMENTS[@]}" -lt "$MAX_SEGMENTS" ] && [ $((deadline - $(now_ms))) -gt 1000 ] &&
      any_thread_gone "$WATCHED_THREADS"; then
      stop_segment || say "perf record stopped with status $WAIT_STATUS (see its message above)"
      say "a recorded thread exited; restarting perf (it busy-loops otherwise)"
      start_segment_retrying || return 0
    fi
  done
  T_STOPPING=$(now_ms)
  stop_segment || say "perf record stopped with status $WAIT_STATUS (see its message above)"
}

# --- Flight Recorder events: alloc, lock, wall ---------------------------------------------------------------------
# For these the JVM records, not perf: each JVM of the target gets a Flight Recorder recording of its own, named for
# this capture, with settings of ours that enable only the events the graph is made of. At the end the recording is
# stopped, which writes it to its file in the JVM's filesystem; the file is copied out through podflame-target-fs and
# removed there; stdout carries the files one after the other (a Flight Recorder file is a sequence of
# self-contained chunks, so the concatenation is one valid file). The recording goes to Flight Recorder's disk
# repository (disk=true, in the JVM's java.io.tmpdir): an in-memory recording (disk=false) comes out empty when another
# recording runs in the JVM (-XX:StartFlightRecording, or a second capture at once), as Flight Recorder then keeps
# its data on disk. It carries a duration of its own, the capture's plus JFR_MARGIN, so a capture killed outright
# (SIGKILL) leaves no recording running for longer than that; the JVM then writes its file, which the next capture of
# that JVM removes (sweep_leftovers: the names say until when they may be in use). One stopped by SIGTERM stops them
# at once. Exit 6: no JVM of the target could record the event (the reason on stderr).

# Unique among captures: PIDs of capture containers repeat, the time does not.
readonly JFR_START_TIMEOUT=${PODFLAME_JFR_START_TIMEOUT:-30}
# How much longer than the capture a recording lasts if the capture dies: the stop at the end of the capture comes
# after the other JVMs' starts and the earlier JVMs' copies, so the first JVM's recording must outlast those.
readonly JFR_MARGIN=10
# A file of ours in a target is in use for at most the capture's duration plus its starts and copies; after this many
# more seconds it is a killed capture's leftover. The name carries that time: podflame-<unix seconds>-<unique>.
readonly JFR_LEFTOVER_SECONDS=300
readonly JFR_NAME="podflame-$((EPOCHSECONDS + DURATION + JFR_LEFTOVER_SECONDS))-${EPOCHREALTIME/./}-$$"
JFR_PIDS=()
declare -A JFR_DIR=()

# A Flight Recorder <event> element: enabled, with stack traces, and one more setting when given.
jfr_event() {
  printf '  <event name="%s">\n    <setting name="enabled">true</setting>\n' "$1"
  printf '    <setting name="stackTrace">true</setting>\n'
  [ -n "${2:-}" ] && printf '    <setting name="%s">%s</setting>\n' "$2" "$3"
  printf '  </event>\n'
}

# The recording's settings (.jfc) for EVENT on a JVM of Java major version $1 (empty when unknown).
jfr_settings() {
  local major=$1 period
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<configuration version="2.0" label="podflame %s">\n' "$EVENT"
  case $EVENT in
    alloc)
      # JDK 16+ samples allocations at a bounded rate, each sample weighted by the bytes its thread allocated since
      # the last one; older JDKs record each new TLAB and each allocation outside one.
      if [ -n "$major" ] && [ "$major" -ge 16 ]; then
        jfr_event jdk.ObjectAllocationSample throttle '150/s'
      else
        jfr_event jdk.ObjectAllocationInNewTLAB
        jfr_event jdk.ObjectAllocationOutsideTLAB
      fi
      ;;
    lock)
      # Waits shorter than a millisecond cost more to record than they tell.
      jfr_event jdk.JavaMonitorEnter threshold '1 ms'
      jfr_event jdk.ThreadPark threshold '1 ms'
      ;;
    wall)
      # The sampling frequency as a period; HotSpot samples at most every 10 ms.
      period=$(((1000 + FREQUENCY / 2) / FREQUENCY))
      [ "$period" -lt 10 ] && period=10
      jfr_event jdk.ExecutionSample period "$period ms"
      jfr_event jdk.NativeMethodSample period "$period ms"
      # The sampler skips threads that sleep, park, wait or block on a monitor: their waits, each written when it
      # ends, become samples at the period (shared/jfr). A wait shorter than the period would round to at most one
      # sample: none is recorded, so a JVM of many short waits writes at most one event per thread and period.
      # Every JDK with Flight Recorder (8u272+) has these four events.
      jfr_event jdk.ThreadSleep threshold "$period ms"
      jfr_event jdk.ThreadPark threshold "$period ms"
      jfr_event jdk.JavaMonitorWait threshold "$period ms"
      jfr_event jdk.JavaMonitorEnter threshold "$period ms"
      ;;
  esac
  printf '</configuration>\n'
}

# The JVM's own name for its version ("JDK 8.0_402", "JDK 21.0.5"), for messages. A JVM that cannot be attached to
# (attaching disabled: asking would only make it print a thread dump and time out after ATTACH_TIMEOUT; or unsafe)
# is named by its JDK's release file beside its executable ("JDK 17.0.15 at /usr/lib/jvm/java-17-openjdk-amd64"),
# else by that folder; "an unknown JDK" when nothing says.
jdk_title() {
  local out version home
  if ! attach_disabled "$1" && ! attach_unsafe "$1" >/dev/null && ! attach_crosses_namespace "$1" >/dev/null; then
    out=$(attach "$1" jcmd VM.version) || out=''
    version=$(sed -n 's/^\(JDK [0-9][0-9._a-z-]*\).*/\1/p;T;q' <<<"$out")
    [ -n "$version" ] && printf '%s' "$version" && return
  fi
  home=$(exe_of "$1")
  home=${home%/bin/java}
  if [ -n "$home" ] && [ "$home" != "$(exe_of "$1")" ]; then
    version=$("$TARGET_FS" get "$1" "$home/release" 65536 2>/dev/null | sed -n 's/^JAVA_VERSION="\([0-9][0-9._a-z-]*\)"$/\1/p;T;q')
    printf '%s' "JDK ${version:+$version }at $home"
    return
  fi
  printf 'an unknown JDK'
}

# Removes the files a killed capture left in JVM $1's filesystem: ours by name (podflame-<until>-<unique>.jfc or .jfr),
# regular files only, and only once their time is past (a capture running beside this one keeps its own). Through
# podflame-target-fs: no symlink of the target leads elsewhere.
sweep_leftovers() {
  local pid=$1 dir type name
  for dir in "${AGENT_DIRS[@]}"; do
    while read -r type name; do
      [ "$type" = f ] && [[ $name =~ ^podflame-([0-9]{1,12})-[0-9]+-[0-9]+\.(jfc|jfr)$ ]] || continue
      [ "$((10#${BASH_REMATCH[1]}))" -lt "$EPOCHSECONDS" ] || continue
      "$TARGET_FS" rm "$pid" "$dir/$name" 2>/dev/null &&
        say "removed $dir/$name from JVM $pid's filesystem: left by an earlier capture that was killed"
    done < <("$TARGET_FS" ls "$pid" "$dir" podflame- 2>/dev/null)
  done
}

# EVENT_UNSUPPORTED for one JVM, with the reason.
jfr_unsupported() {
  warn EVENT_UNSUPPORTED "JVM $1 ($(jdk_title "$1")) cannot record $EVENT with its Flight Recorder: $2" "$1"
}

# Starts this capture's recording in JVM $1, or warns why it cannot.
jfr_start() {
  local pid=$1 major uid out placed
  sweep_leftovers "$pid"
  if attach_disabled "$pid"; then
    jfr_unsupported "$pid" "it runs with -XX:+DisableAttachMechanism. Remove the flag to record $EVENT."
    return
  fi
  if out=$(attach_unsafe "$pid") || out=$(attach_crosses_namespace "$pid"); then
    jfr_unsupported "$pid" "it $out."
    return
  fi
  major=$(jvm_major "$pid")
  if [ -n "$major" ] && [ "$major" -lt 8 ]; then
    jfr_unsupported "$pid" "Flight Recorder needs JDK 8u272 or later."
    return
  fi
  jfr_settings "$major" >"$WORK/$JFR_NAME.jfc"
  uid=$(uid_of "$pid")
  if ! out=$("$TARGET_FS" put "$pid" "$WORK/$JFR_NAME.jfc" "$JFR_NAME.jfc" "${uid:-0}" "${AGENT_DIRS[@]}" 2>&1); then
    jfr_unsupported "$pid" "its recording settings could not be placed in its filesystem ($(printf '%s' "$out" | sed 's/^podflame-target-fs: //' | tr '\n' ' ' | head -c 300)). Give the container a writable /tmp (an emptyDir)."
    return
  fi
  placed=$(tail -n 1 <<<"$out")
  JFR_DIR[$pid]=${placed%/*}
  # Listed before it starts: a SIGTERM that arrives while JFR.start runs must still stop it.
  JFR_PIDS+=("$pid")
  # The first recording in a JVM loads Flight Recorder itself: seconds on a busy node. With a duration, JDK 21+
  # insists on a file to write at its end (by default in the JVM's working directory, often not writable): the one
  # JFR.stop writes and the capture reads.
  out=$(attach_within "$JFR_START_TIMEOUT" "$pid" jcmd "JFR.start name=$JFR_NAME settings=$placed disk=true duration=$((DURATION + JFR_MARGIN))s filename=$(jfr_file "$pid")")
  "$TARGET_FS" rm "$pid" "$placed" 2>/dev/null
  if ! grep -q -e '^Started recording' <<<"$out"; then
    [ -d "/proc/$pid" ] || out="$out; the JVM has exited"
    jfr_unsupported "$pid" "JFR.start answered: $(attach_error "$out"). JDK 8 needs update 272 or later; the JVM must not run with -XX:-FlightRecorder."
    JFR_PIDS=("${JFR_PIDS[@]:0:${#JFR_PIDS[@]}-1}")
    return
  fi
}

# Where JVM $1's recording is written, in its filesystem: beside the settings, in a directory the JVM can write.
jfr_file() {
  printf '%s/%s.jfr' "${JFR_DIR[$1]:-/tmp}" "$JFR_NAME"
}

# Stops a recording without keeping its data (SIGTERM): stopping writes its file, which is removed at once.
jfr_discard() {
  attach "$1" jcmd "JFR.stop name=$JFR_NAME" >/dev/null 2>&1
  "$TARGET_FS" rm "$1" "$(jfr_file "$1")" 2>/dev/null
}

jfr_discard_all() {
  local pid
  for pid in "${JFR_PIDS[@]}"; do [ -d "/proc/$pid" ] && jfr_discard "$pid"; done
  JFR_PIDS=()
}

# Stops JVM $1's recording, which writes it to its file, and writes the file to stdout; 1 when there is none.
jfr_collect() {
  local pid=$1 file out staged="$WORK/$JFR_NAME-$1.jfr"
  file=$(jfr_file "$pid")
  out=$(attach "$pid" jcmd "JFR.stop name=$JFR_NAME")
  local stopped=$?
  if { [ "$stopped" != 0 ] || grep -q -i -e 'error\|exception\|could not' <<<"$out"; } &&
    ! grep -q -x -F -e "f ${file##*/}" <<<"$("$TARGET_FS" ls "$pid" "${file%/*}" "${file##*/}" 2>/dev/null)"; then
    # (A recording that outlived its duration has stopped by itself and written its file: that file is read.)
    [ -d "/proc/$pid" ] || out="$out; the JVM has exited"
    warn TARGET_EXITED "JVM $pid's recording could not be written ($(attach_error "$out")): its $EVENT events are missing" "$pid"
    "$TARGET_FS" rm "$pid" "$file" 2>/dev/null
    return 1
  fi
  # Staged first: a copy cut short must not leave half a file on stdout.
  if ! timeout "$ATTACH_TIMEOUT" "$TARGET_FS" get "$pid" "$file" "$MAX_JFR_BYTES" >"$staged" 2>"$WORK/fetch.err"; then
    local why
    why=$(sed 's/^podflame-target-fs: //' "$WORK/fetch.err" | head -c 300 | tr '\n' ' ')
    warn TARGET_EXITED "JVM $pid's recording at $file could not be read ($why; at most $((MAX_JFR_BYTES / 1024 / 1024)) MiB are copied): its $EVENT events are missing" "$pid"
    "$TARGET_FS" rm "$pid" "$file" 2>/dev/null
    rm -f "$staged"
    return 1
  fi
  "$TARGET_FS" rm "$pid" "$file" 2>/dev/null
  cat "$staged"
  rm -f "$staged"
}

# The whole capture for a Flight Recorder event.
jfr_capture() {
  local pid deadline remaining written=0
  mapfile -t PIDS < <(target_pids)
  for pid in "${PIDS[@]}"; do STARTED[$pid]=$(start_time_of "$pid"); done
  if [ ${#PIDS[@]} -eq 0 ]; then
    say "no processes found in the target container: the container has exited"
    exit 3
  fi
  for pid in "${PIDS[@]}"; do is_jvm "$pid" && jfr_start "$pid"; done
  T_CHECKED=$(now_ms)
  if [ ${#JFR_PIDS[@]} -eq 0 ]; then
    say "EVENT_UNSUPPORTED: no JVM among the container's ${#PIDS[@]} processes could record $EVENT: $EVENT comes from a JVM's Flight Recorder (JDK 8u272, 11 and later); only cpu profiles any process"
    exit 6
  fi
  say "recording $EVENT in JVMs ${JFR_PIDS[*]} for ${DURATION}s with Flight Recorder ($JFR_NAME)"
  deadline=$((T_CHECKED + DURATION * 1000))
  while :; do
    remaining=$((deadline - $(now_ms)))
    [ "$remaining" -le 0 ] && break
    if [ "$HOST_MODE" = 1 ] && ! kill -0 "$AGENT_PID" 2>/dev/null; then
      say "the agent that started this capture is gone"
      on_term
    fi
    if [ "$remaining" -lt 500 ]; then sleep "0.$(printf '%03d' "$remaining")"; else sleep "$CHECK_INTERVAL"; fi
  done
  T_RECORDED=$(now_ms)
  for pid in "${JFR_PIDS[@]}"; do
    if ! same_process "$pid"; then
      warn TARGET_EXITED "JVM $pid exited during the capture: its recording went with it" "$pid"
      continue
    fi
    jfr_collect "$pid" && written=$((written + 1))
  done
  JFR_PIDS=()
  T_END=$(now_ms)
  if [ "$written" -eq 0 ]; then
    say "no JVM's recording could be read: no usable recording"
    exit 5
  fi
  say "timings-ms checks=$((T_CHECKED - T_START)) recording=$((T_RECORDED - T_CHECKED)) dump=$((T_END - T_RECORDED)) segments=0"
}

T_START=$(now_ms)
if [ "$EVENT" != cpu ]; then
  jfr_capture
  exit
fi
T_RECORDING=$T_START
T_STOPPING=''
mapfile -t PIDS < <(target_pids)
for pid in "${PIDS[@]}"; do STARTED[$pid]=$(start_time_of "$pid"); done
if [ ${#PIDS[@]} -eq 0 ]; then
  if [ "$HOST_MODE" = 1 ]; then
    say "none of the target container's processes ($HOST_PIDS) is left: the container has exited"
  else
    say "no processes found in the target container's PID namespace: the container has exited"
  fi
  exit 3
fi

jvm_count=0
for pid in "${PIDS[@]}"; do
  if is_jvm "$pid"; then
    jvm_count=$((jvm_count + 1))
    check_jvm "$pid"
  fi
done
if [ "$jvm_count" -eq 0 ]; then
  warn NO_JVM "no JVM found among the container's ${#PIDS[@]} processes; profiling all of them, without Java names"
fi

say "recording processes $(alive_pids_csv "${PIDS[@]}") for ${DURATION}s at ${FREQUENCY} Hz"
T_CHECKED=$(now_ms)
record
T_RECORDED=$(now_ms)
T_STOPPING=${T_STOPPING:-$T_RECORDED}

for pid in "${PIDS[@]}"; do
  if [ ! -d "/proc/$pid" ] && [ -z "${REUSED[$pid]:-}" ]; then
    warn TARGET_EXITED "process $pid exited during the capture: its samples until then are kept, but its JIT-compiled Java frames cannot be named" "$pid"
  fi
done
for pid in "${JVMS[@]}"; do
  [ -d "/proc/$pid" ] && same_process "$pid" && collect_map "$pid"
done

T_MAPPED=$(now_ms)

# One event line per sample with pid/tid and no period, so the collapser counts each sample once:
#   hot-fibonacci     1/25      859.314833: cpu-clock:
#   	    7f083ceca940 long Hot.hotFibonacci(int) (/tmp/perf-1.map)
# -f: use map files and perf.data even though another user owns them. --no-inline: the inline expansion runs
# addr2line per frame and adds seconds for frames the collapser would drop anyway.
# perf reads /tmp/perf-<pid>.map in each target's own mount namespace before ours, with a plain open of a file the
# workload owns: a link to /dev/zero there made it read until the memory limit, a FIFO made it wait forever. So perf
# script runs with podflame's map guard preloaded (perfmap-guard.c): each map it opens is opened without following a
# link, must be a regular file of at most MAX_MAP_BYTES (checked on the opened descriptor), and is handed over as a
# bounded copy in memory; a refused one leaves that JVM's frames [unknown], with a PERFMAP_FAILED warning the guard
# writes to our stderr. Still bounded in time (SCRIPT_TIMEOUT: a map on a file system that never answers) and, in
# host mode, where the agent's own memory limit would be the only bound, in address space (SCRIPT_MAX_VMEM_KIB).
readonly SCRIPT_TIMEOUT=${PODFLAME_SCRIPT_TIMEOUT:-120}
preload=''
if [ -r "$MAP_GUARD" ]; then
  preload=$MAP_GUARD
else
  say "podflame's perf map guard is missing ($MAP_GUARD): perf script reads the targets' maps unchecked"
fi
# perf script of one segment, its map opens guarded, its memory bounded in host mode (a subshell: ulimit stays there).
run_perf_script() {
  (
    local limit
    limit=$(ulimit -v)
    # Lowered only: a tighter limit set by whoever started us stays.
    if [ "$HOST_MODE" = 1 ] && [ "$SCRIPT_MAX_VMEM_KIB" -gt 0 ] &&
      { [ "$limit" = unlimited ] || [ "$limit" -gt "$SCRIPT_MAX_VMEM_KIB" ]; }; then
      ulimit -v "$SCRIPT_MAX_VMEM_KIB" 2>/dev/null || say "could not bound perf script's memory (ulimit -v $SCRIPT_MAX_VMEM_KIB)"
    fi
    PODFLAME_MAX_MAP_BYTES=$MAX_MAP_BYTES LD_PRELOAD=$preload \
      exec timeout "$SCRIPT_TIMEOUT" perf script -f -i "$1" -F comm,pid,tid,time,event,ip,sym,dso --no-inline
  )
}
written=0
for data in "${SEGMENTS[@]}"; do
  [ -s "$data" ] || continue
  if run_perf_script "$data"; then
    written=$((written + 1))
  else
    status=$?
    if [ "$status" = 124 ]; then
      say "perf script did not finish within ${SCRIPT_TIMEOUT}s on $data: a target's /tmp/perf-PID.map that never ends (a FIFO, /dev/zero) stalls it"
    else
      say "perf script failed on $data (see its message above)"
    fi
  fi
done
# Host mode: perf script has read the maps in the targets' /tmp; leave nothing behind there.
for map in "${TARGET_MAPS[@]}"; do "$TARGET_FS" rm "${map%%:*}" "${map#*:}" 2>/dev/null; done
if [ "$written" -eq 0 ]; then
  say "perf script produced nothing: no usable recording"
  exit 5
fi
T_END=$(now_ms)
# Where the time went, for the agent's logs and benchmark, e.g.
#   podflame-capture: timings-ms checks=25 perf-start=180 recording=3001 perf-stop=90 maps=40 script=310 segments=1
say "timings-ms checks=$((T_CHECKED - T_START)) perf-start=$((T_RECORDING - T_CHECKED)) recording=$((T_STOPPING - T_RECORDING)) perf-stop=$((T_RECORDED - T_STOPPING)) maps=$((T_MAPPED - T_RECORDED)) script=$((T_END - T_MAPPED)) segments=${#SEGMENTS[@]}"
