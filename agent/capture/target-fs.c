/*
 * podflame-target-fs: file operations inside a target process's root filesystem (/proc/PID/root) that no path in
 * that filesystem can redirect. The capture reaches the target's files from outside its mount namespace: a plain
 * path such as /proc/PID/root/tmp/perf-1.map follows the target's symlinks, and an absolute one (/tmp -> /etc)
 * resolves from the capture's own root, outside the target. Here every path is resolved with openat2's
 * RESOLVE_IN_ROOT (symlinks stay inside the target's root), and where the kernel has no openat2 (before 5.6) or a
 * seccomp profile refuses it, one component at a time with O_NOFOLLOW, refusing any symlink. A file's own name is
 * never followed (a link planted at a map's name is not read through).
 *
 *   podflame-target-fs put PID SRC NAME UID DIR...   copy SRC into the first DIR that can take it; print the path
 *   podflame-target-fs get PID PATH MAX_BYTES        write a regular file's bytes to stdout
 *   podflame-target-fs rm PID PATH                   remove a file (never a directory)
 *   podflame-target-fs ls PID DIR PREFIX             list DIR's entries named PREFIX...: `f NAME` (a regular
 *                                                    file), `s NAME` (a socket), `o NAME` (anything else)
 *
 * `put` creates NAME exclusively (mode 0644, an old file of that name is replaced) in a directory that is on a
 * writable filesystem mounted without noexec (the JVM maps the library executable) and writable by UID (the JVM then
 * writes its map next to it); it prints the chosen path as the target sees it, or why each DIR was refused.
 * Exit codes: 0 done, 1 refused or failed (reason on stderr), 2 usage, 3 `get`: larger than MAX_BYTES.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT 0x10
#endif

struct open_how_compat {
  uint64_t flags, mode, resolve;
};

static const char *prog = "podflame-target-fs";

static int fail(const char *what, const char *path, int err) {
  fprintf(stderr, "%s: %s %s: %s\n", prog, what, path, strerror(err));
  return 1;
}

static int usage(void) {
  fprintf(stderr,
          "usage: %s put PID SRC NAME UID DIR... | get PID PATH MAX_BYTES | rm PID PATH | ls PID DIR PREFIX\n",
          prog);
  return 2;
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out) {
  if (s[0] < '0' || s[0] > '9') return 0;
  errno = 0;
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max) return 0;
  *out = v;
  return 1;
}

/* An absolute path of plain components: no `.`, `..`, empty components or NUL tricks. */
static int clean_path(const char *p) {
  if (p[0] != '/' || strlen(p) >= PATH_MAX) return 0;
  for (const char *c = p + 1; *c != '\0';) {
    const char *slash = strchr(c, '/');
    size_t n = slash ? (size_t)(slash - c) : strlen(c);
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return 0;
    if (slash == NULL) break;
    c = slash + 1;
  }
  return 1;
}

static int root_fd(unsigned long pid) {
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/%lu/root", pid);
  int fd = open(proc, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fprintf(stderr, "%s: cannot open %s: %s\n", prog, proc, strerror(errno));
  return fd;
}

static int no_openat2 = -1;

/* Walks `rel` (no leading slash) from `dir` one component at a time, refusing symlinks; the last with `flags`. */
static int open_walk(int dir, const char *rel, int flags, mode_t mode) {
  char copy[PATH_MAX];
  snprintf(copy, sizeof copy, "%s", rel);
  int cur = dup(dir);
  if (cur < 0) return -1;
  char *save = NULL, *part = strtok_r(copy, "/", &save);
  while (part != NULL) {
    char *next = strtok_r(NULL, "/", &save);
    int fd = next != NULL ? openat(cur, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                          : openat(cur, part, flags | O_NOFOLLOW | O_CLOEXEC, mode);
    int err = errno;
    if (fd < 0) {
      /* O_NOFOLLOW with O_DIRECTORY gives ENOTDIR on a symlink: say what it is. */
      struct stat link;
      if (err == ENOTDIR && fstatat(cur, part, &link, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(link.st_mode)) err = ELOOP;
      close(cur);
      errno = err;
      return -1;
    }
    close(cur);
    cur = fd;
    part = next;
  }
  return cur;
}

/*
 * Opens an absolute target path from the target's root without leaving it. The last component is followed only
 * when `follow_last` (a directory: a link such as /tmp -> /var/tmp is the target's own layout, and openat2 keeps it
 * inside the root), and never without openat2.
 */
static int open_in_root(int root, const char *path, int flags, mode_t mode, int follow_last) {
  const char *rel = path + 1;
  if (*rel == '\0') return openat(root, ".", flags | O_CLOEXEC, mode);
  if (no_openat2 < 0) no_openat2 = getenv("PODFLAME_TARGET_FS_NO_OPENAT2") != NULL;
  if (!no_openat2) {
    struct open_how_compat how = {(uint64_t)(flags | (follow_last ? 0 : O_NOFOLLOW) | O_CLOEXEC), (uint64_t)mode,
                                  RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, root, rel, &how, sizeof how);
    if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return (int)fd;
    no_openat2 = 1; /* an old kernel, or a seccomp profile that refuses openat2 */
  }
  return open_walk(root, rel, flags, mode);
}

/* Splits "/a/b/name" into an fd of "/a/b" inside the root and "name". */
static int open_parent(int root, const char *path, char *dir_buf, const char **name) {
  snprintf(dir_buf, PATH_MAX, "%s", path);
  char *slash = strrchr(dir_buf, '/');
  *name = path + (slash - dir_buf) + 1;
  if (slash == dir_buf)
    dir_buf[1] = '\0';
  else
    *slash = '\0';
  return open_in_root(root, dir_buf, O_PATH | O_DIRECTORY, 0, 1);
}

static int copy_fd(int in, int out, const char *what) {
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot read", what, errno);
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0) {
        if (errno == EINTR) continue;
        return fail("cannot write", what, errno);
      }
      off += w;
    }
  }
}

/* Why DIR cannot take the library, or NULL when it can (the fd is then returned through *out). */
static const char *refuse_dir(int root, const char *dir, unsigned long uid, int *out) {
  static char reason[256];
  int fd = open_in_root(root, dir, O_RDONLY | O_DIRECTORY, 0, 1);
  if (fd < 0) {
    snprintf(reason, sizeof reason, "%s",
             errno == ELOOP ? "is or passes through a symbolic link (followed only with openat2, Linux 5.6+)"
                            : strerror(errno));
    return reason;
  }
  struct statvfs vfs;
  struct stat st;
  if (fstatvfs(fd, &vfs) != 0 || fstat(fd, &st) != 0) {
    snprintf(reason, sizeof reason, "%s", strerror(errno));
  } else if (vfs.f_flag & ST_RDONLY) {
    snprintf(reason, sizeof reason, "is on a read-only file system");
  } else if (vfs.f_flag & ST_NOEXEC) {
    snprintf(reason, sizeof reason, "is mounted noexec (the JVM cannot load a library from it)");
  } else if (!(st.st_mode & S_IWOTH) && !(st.st_uid == uid && (st.st_mode & S_IWUSR))) {
    snprintf(reason, sizeof reason, "is not writable by the JVM's user %lu", uid);
  } else {
    *out = fd;
    return NULL;
  }
  close(fd);
  return reason;
}

static int cmd_put(unsigned long pid, const char *src, const char *name, unsigned long uid, char **dirs, int ndirs) {
  if (strchr(name, '/') != NULL || name[0] == '.' || name[0] == '\0') return usage();
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) return fail("cannot open", src, errno);
  int root = root_fd(pid);
  if (root < 0) return 1;
  for (int i = 0; i < ndirs; i++) {
    int dir = -1;
    if (!clean_path(dirs[i])) {
      fprintf(stderr, "%s: %s: not a clean absolute path\n", prog, dirs[i]);
      continue;
    }
    const char *why = refuse_dir(root, dirs[i], uid, &dir);
    if (why != NULL) {
      fprintf(stderr, "%s: %s %s\n", prog, dirs[i], why);
      continue;
    }
    /* A file of that name is a leftover of an earlier capture, or not ours: either way it is replaced, not used. */
    if (unlinkat(dir, name, 0) != 0 && errno != ENOENT) {
      fprintf(stderr, "%s: %s/%s exists and cannot be replaced: %s\n", prog, dirs[i], name, strerror(errno));
      close(dir);
      continue;
    }
    int out = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0) {
      fprintf(stderr, "%s: cannot create %s/%s: %s\n", prog, dirs[i], name, strerror(errno));
      close(dir);
      continue;
    }
    int rc = copy_fd(in, out, src);
    if (rc == 0 && fchmod(out, 0644) != 0) rc = fail("cannot chmod", name, errno);
    if (close(out) != 0 && rc == 0) rc = fail("cannot write", name, errno);
    if (rc != 0) {
      unlinkat(dir, name, 0);
      close(dir);
      return rc;
    }
    close(dir);
    printf("%s/%s\n", strcmp(dirs[i], "/") == 0 ? "" : dirs[i], name);
    return 0;
  }
  return 1;
}

static int cmd_get(unsigned long pid, const char *path, unsigned long max) {
  if (!clean_path(path)) return usage();
  int root = root_fd(pid);
  if (root < 0) return 1;
  /*
   * Found without opening it (O_PATH): a FIFO or a device planted at the path is never opened (opening one may
   * block or act); only a regular file is then opened for reading, through the descriptor already found.
   */
  int found = open_in_root(root, path, O_PATH, 0, 0);
  if (found < 0) return fail("cannot open", path, errno);
  struct stat st;
  if (fstat(found, &st) != 0) return fail("cannot stat", path, errno);
  if (S_ISLNK(st.st_mode)) {
    fprintf(stderr, "%s: %s is one of the target's symbolic links: not followed\n", prog, path);
    return 1;
  }
  if (!S_ISREG(st.st_mode)) {
    fprintf(stderr, "%s: %s is not a regular file\n", prog, path);
    return 1;
  }
  char self[64];
  snprintf(self, sizeof self, "/proc/self/fd/%d", found);
  int fd = open(self, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("cannot open", path, errno);
  close(found);
  if ((unsigned long long)st.st_size > max) {
    fprintf(stderr, "%s: %s holds %lld bytes, more than %lu\n", prog, path, (long long)st.st_size, max);
    return 3;
  }
  char buf[1 << 16];
  unsigned long total = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot read", path, errno);
    if (n == 0) break;
    /* The file may grow while it is read: never more than MAX_BYTES. */
    if (total + (unsigned long)n > max) {
      fprintf(stderr, "%s: %s grew past %lu bytes while read\n", prog, path, max);
      return 3;
    }
    total += (unsigned long)n;
    if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) return fail("cannot write", "stdout", errno);
  }
  return fflush(stdout) == 0 ? 0 : fail("cannot write", "stdout", errno);
}

static int cmd_rm(unsigned long pid, const char *path) {
  if (!clean_path(path) || strcmp(path, "/") == 0) return usage();
  int root = root_fd(pid);
  if (root < 0) return 1;
  char dir_buf[PATH_MAX];
  const char *name;
  int dir = open_parent(root, path, dir_buf, &name);
  if (dir < 0) return fail("cannot open the directory of", path, errno);
  if (unlinkat(dir, name, 0) != 0 && errno != ENOENT) return fail("cannot remove", path, errno);
  return 0;
}

/*
 * Lists DIR's entries whose names start with PREFIX, each with its type as lstat sees it (a link is `o`, never
 * followed): the capture finds its own leftovers (podflame-...) and a JVM's attach socket (.java_pid<N>) this way,
 * without a path the target's symlinks could redirect. Names holding a newline are skipped (one entry per line).
 */
static int cmd_ls(unsigned long pid, const char *dir_path, const char *prefix) {
  if (!clean_path(dir_path) || prefix[0] == '\0' || strchr(prefix, '/') != NULL) return usage();
  int root = root_fd(pid);
  if (root < 0) return 1;
  int fd = open_in_root(root, dir_path, O_RDONLY | O_DIRECTORY, 0, 1);
  if (fd < 0) return fail("cannot open", dir_path, errno);
  DIR *dir = fdopendir(fd);
  if (dir == NULL) return fail("cannot list", dir_path, errno);
  size_t n = strlen(prefix);
  for (struct dirent *e; (errno = 0, e = readdir(dir)) != NULL;) {
    if (strncmp(e->d_name, prefix, n) != 0 || strchr(e->d_name, '\n') != NULL) continue;
    struct stat st;
    if (fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue; /* gone meanwhile */
    printf("%c %s\n", S_ISREG(st.st_mode) ? 'f' : S_ISSOCK(st.st_mode) ? 's' : 'o', e->d_name);
  }
  int err = errno;
  closedir(dir);
  if (err != 0) return fail("cannot list", dir_path, err);
  return fflush(stdout) == 0 ? 0 : fail("cannot write", "stdout", errno);
}

int main(int argc, char **argv) {
  unsigned long pid, uid, max;
  if (argc < 3 || !parse_ulong(argv[2], 4194304, &pid) || pid == 0) return usage();
  if (strcmp(argv[1], "put") == 0 && argc >= 7 && parse_ulong(argv[5], 4294967294UL, &uid))
    return cmd_put(pid, argv[3], argv[4], uid, argv + 6, argc - 6);
  if (strcmp(argv[1], "get") == 0 && argc == 5 && parse_ulong(argv[4], ULONG_MAX, &max))
    return cmd_get(pid, argv[3], max);
  if (strcmp(argv[1], "rm") == 0 && argc == 4) return cmd_rm(pid, argv[3]);
  if (strcmp(argv[1], "ls") == 0 && argc == 5) return cmd_ls(pid, argv[3], argv[4]);
  return usage();
}
