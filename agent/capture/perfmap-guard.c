/*
 * libpodflame-perfmap-guard.so: preloaded into `perf script` (LD_PRELOAD) by podflame-capture, so that the JIT maps
 * perf reads cannot exhaust its memory or stall it.
 *
 * perf (6.1) names a JIT frame from /tmp/perf-<pid>.map, and it looks for that file first in the target's own mount
 * namespace (dso__find_perf_map: setns into the target's, access(R_OK), then fopen there). That file belongs to the
 * workload: it can plant a link to /dev/zero (perf reads until memory runs out: 830 MB, then the cgroup's OOM kill),
 * a FIFO (perf waits for a writer forever), or a huge sparse file. podflame cannot make perf look elsewhere, so every
 * open of a path /tmp/perf-<digits>.map by perf comes here instead, and is answered with a copy the capture owns:
 *   - opened with O_NOFOLLOW | O_NONBLOCK (a link as the last component fails; a FIFO does not block the open);
 *   - the opened descriptor, not the path, must be a regular file of at most PODFLAME_MAX_MAP_BYTES (a swap between
 *     a check and the read cannot change what is read);
 *   - at most that many bytes are copied into an anonymous memfd (a file that grows while it is read is refused),
 *     and perf gets the memfd.
 * A refused map is as if it were missing (errno EACCES): perf records the frames as [unknown], and one warning line
 * per path goes to stderr in the capture script's JSON form (code PERFMAP_FAILED), which the agent returns with
 * the profile. Any other open passes through untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

// The same default as the capture script's MAX_MAP_BYTES.
#define DEFAULT_MAX_MAP_BYTES (64LL * 1024 * 1024)

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef FILE *(*fopen_fn)(const char *, const char *);

// True for /tmp/perf-<digits>.map, the only name perf reads JIT maps from.
static int is_perf_map(const char *path) {
  static const char prefix[] = "/tmp/perf-";
  if (path == NULL || strncmp(path, prefix, sizeof prefix - 1) != 0) return 0;
  const char *p = path + sizeof prefix - 1;
  if (*p < '0' || *p > '9') return 0;
  while (*p >= '0' && *p <= '9') p++;
  return strcmp(p, ".map") == 0;
}

static long long max_map_bytes(void) {
  const char *s = getenv("PODFLAME_MAX_MAP_BYTES");
  if (s == NULL || *s == '\0') return DEFAULT_MAX_MAP_BYTES;
  char *end;
  long long v = strtoll(s, &end, 10);
  return (*end == '\0' && v >= 0) ? v : DEFAULT_MAX_MAP_BYTES;
}

// One JSON warning line on stderr (the path is digits and fixed text only: nothing to escape).
static void refuse(const char *path, const char *why) {
  char line[512];
  int n = snprintf(line, sizeof line,
                   "{\"podflameWarning\":{\"code\":\"PERFMAP_FAILED\",\"message\":\"a target's perf map %s (in its "
                   "own filesystem; the pid is the one it sees) %s, so perf script did not read it: that JVM's "
                   "JIT-compiled Java frames will show as [unknown]\"}}\n",
                   path, why);
  if (n > 0) {
    ssize_t ignored = write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    (void)ignored;
  }
}

static int real_open(const char *path, int flags) {
  static open_fn next;
  if (next == NULL) next = (open_fn)dlsym(RTLD_NEXT, "open64");
  return next(path, flags);
}

// The checked copy of the map at PATH as a memfd positioned at 0, or -1 with errno set (the warning printed).
static int guarded_open(const char *path) {
  char why[160];
  long long cap = max_map_bytes();
  int fd = real_open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    if (err == ELOOP) refuse(path, "is a symbolic link");
    errno = err == ELOOP ? EACCES : err;
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    snprintf(why, sizeof why, "could not be examined (%s)", strerror(errno));
    goto refused;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(why, sizeof why, "is not a regular file (%s)",
             S_ISFIFO(st.st_mode)                           ? "a FIFO"
             : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
             : S_ISDIR(st.st_mode)                          ? "a directory"
                                                            : "a socket");
    goto refused;
  }
  if (st.st_size > cap) {
    snprintf(why, sizeof why, "is larger than the %lld bytes podflame reads (%lld bytes)", cap, (long long)st.st_size);
    goto refused;
  }
  int copy = memfd_create("podflame-perf-map", MFD_CLOEXEC);
  if (copy < 0) {
    snprintf(why, sizeof why, "could not be copied (memfd_create: %s)", strerror(errno));
    goto refused;
  }
  char buf[65536];
  long long total = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(why, sizeof why, "could not be read (%s)", strerror(errno));
      close(copy);
      goto refused;
    }
    if (n == 0) break;
    total += n;
    if (total > cap) {
      snprintf(why, sizeof why, "grew past the %lld bytes podflame reads while it was read", cap);
      close(copy);
      goto refused;
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(copy, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        snprintf(why, sizeof why, "could not be copied (%s)", strerror(errno));
        close(copy);
        goto refused;
      }
      off += w;
    }
  }
  close(fd);
  lseek(copy, 0, SEEK_SET);
  return copy;
refused:
  close(fd);
  refuse(path, why);
  errno = EACCES;
  return -1;
}

// The mode argument is only there with O_CREAT or O_TMPFILE; reading it otherwise is harmless (an int slot).
#define MODE_ARG(flags, mode)                                                                                          \
  do {                                                                                                                 \
    va_list ap;                                                                                                        \
    va_start(ap, flags);                                                                                               \
    mode = va_arg(ap, int);                                                                                            \
    va_end(ap);                                                                                                        \
  } while (0)

// Only plain reads are guarded: perf never writes a map, and a write would not be ours to redirect.
static int guards(const char *path, int flags) { return (flags & O_ACCMODE) == O_RDONLY && is_perf_map(path); }

EXPORT int open64(const char *path, int flags, ...) {
  int mode;
  MODE_ARG(flags, mode);
  if (guards(path, flags)) return guarded_open(path);
  static open_fn next;
  if (next == NULL) next = (open_fn)dlsym(RTLD_NEXT, "open64");
  return next(path, flags, mode);
}

EXPORT int open(const char *path, int flags, ...) {
  int mode;
  MODE_ARG(flags, mode);
  if (guards(path, flags)) return guarded_open(path);
  static open_fn next;
  if (next == NULL) next = (open_fn)dlsym(RTLD_NEXT, "open");
  return next(path, flags, mode);
}

EXPORT int __open64_2(const char *path, int flags) {
  if (guards(path, flags)) return guarded_open(path);
  return open64(path, flags, 0);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
  int mode;
  MODE_ARG(flags, mode);
  if (guards(path, flags)) return guarded_open(path); // an absolute path: dirfd plays no part
  static openat_fn next;
  if (next == NULL) next = (openat_fn)dlsym(RTLD_NEXT, "openat64");
  return next(dirfd, path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...) {
  int mode;
  MODE_ARG(flags, mode);
  if (guards(path, flags)) return guarded_open(path);
  static openat_fn next;
  if (next == NULL) next = (openat_fn)dlsym(RTLD_NEXT, "openat");
  return next(dirfd, path, flags, mode);
}

static FILE *guarded_fopen(const char *path, const char *how, const char *symbol) {
  if (how != NULL && how[0] == 'r' && strchr(how, '+') == NULL && is_perf_map(path)) {
    int fd = guarded_open(path);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "r");
    if (f == NULL) close(fd);
    return f;
  }
  fopen_fn next = (fopen_fn)dlsym(RTLD_NEXT, symbol);
  return next(path, how);
}

EXPORT FILE *fopen64(const char *path, const char *how) { return guarded_fopen(path, how, "fopen64"); }

EXPORT FILE *fopen(const char *path, const char *how) { return guarded_fopen(path, how, "fopen"); }
