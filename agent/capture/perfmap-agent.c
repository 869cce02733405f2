/*
 * podflame's JVMTI perf-map agent: makes a running JVM write /tmp/perf-<pid>.map (the pid it sees for itself), the
 * JIT symbol map perf reads, on JDKs that have no `jcmd Compiler.perfmap` (8 to 16), and with inlined methods on any
 * JDK. It runs inside the customer's JVM, so it is small, does its work inside Agent_OnAttach and leaves nothing
 * running: it opens a JVMTI environment, turns on CompiledMethodLoad and DynamicCodeGenerated, replays them for code
 * compiled earlier with GenerateEvents (HotSpot posts the replay on the calling thread before returning), turns them
 * off and disposes of the environment. Loading it again later (the next capture) does the same again.
 *
 *   jattach PID load /tmp/podflame-perfmap-<hash>.so true dir=/tmp,inline=1
 *
 * Options, comma-separated: `dir=ABS_PATH` where the map goes (default /tmp), `inline=0|1` (default 0).
 * Return codes (Agent_OnAttach's, which jattach prints as `return code: N`): 0 written; 1 bad options; 2 no JVMTI
 * environment; 3 capability refused; 4 the map file could not be created; 5 a write failed; 6 events refused.
 *
 * Names are exactly those JDK 17's Compiler.perfmap writes (Method::external_name): `long Hot.fib(int)`,
 * `void java.lang.Object.<init>()`, `java.lang.Object Shop$$Lambda$16/0x00007fd04c003c50.apply(java.lang.Object)`,
 * so podflame's collapser names both sources alike. With inline=1 each PC range of a compiled method gets the chain
 * of methods inlined there, outermost first, joined by `->` (perf-map-agent's "unfoldall" form, which
 * stackcollapse-perf.pl splits into frames and tags `_[i]`). A method it cannot name (JVMTI refuses, e.g. unloaded
 * meanwhile) keeps its address range, named UNNAMED, so perf still attributes the samples to a JIT frame; the capture
 * script counts those lines.
 *
 * Build: gcc -O2 -fPIC -shared -fvisibility=hidden -I$JDK/include -I$JDK/include/linux -o libperfmap.so this.c
 * (any JDK's headers: the JVMTI 1.2 functions used here exist from JDK 8 on).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jvmti.h>
#include <jvmticmlr.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define UNNAMED "[unnamed Java method]"
/* One method's name is cut here (class names may be up to 64 KiB); a map line holds at most LINE_MAX_BYTES. */
#define NAME_MAX_BYTES 4096
#define LINE_MAX_BYTES 65536
#define DIR_MAX_BYTES 1024

enum { RC_OK = 0, RC_OPTIONS = 1, RC_ENV = 2, RC_CAPABILITY = 3, RC_OPEN = 4, RC_WRITE = 5, RC_EVENTS = 6 };

/* Captures never overlap in one JVM: a second attach waits for the first. */
static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * Compiler threads post CompiledMethodLoad for code compiled while the events are on, concurrently with the replay
 * on the attaching thread: every write takes this lock, and a callback that comes after the map was closed (events
 * are being turned off) finds `out` NULL and returns.
 */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

struct name_entry {
  jmethodID method;
  char *name; /* malloc'd; UNNAMED is never stored */
};

/* The state of one attach; reset at the start of the next. Only touched under write_lock. */
static struct {
  FILE *out;
  int inline_chains;
  int write_failed;
  /* jmethodID → external name, open addressing: an inline chain names the same few methods over and over. */
  struct name_entry *names;
  size_t names_cap, names_len;
} st;

/* ---- names ---------------------------------------------------------------------------------------------------- */

struct buf {
  char *p;
  size_t len, cap;
};

static void buf_putn(struct buf *b, const char *s, size_t n) {
  if (b->len >= b->cap) return;
  if (n > b->cap - b->len) n = b->cap - b->len;
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void buf_puts(struct buf *b, const char *s) { buf_putn(b, s, strlen(s)); }

static void buf_putc(struct buf *b, char c) { buf_putn(b, &c, 1); }

/*
 * A class name in internal form (`java/lang/String`) as Klass::external_name prints it (`java.lang.String`).
 * Hidden classes (JDK 15+): JVMTI writes the name's suffix after `.` (`Shop$$Lambda$16.0x0000000800c03000`, the spec)
 * or `+` (HotSpot's internal form), and JDK 17 prints it after `/`. JDK 8's anonymous classes end in `/<digits>`
 * (`Shop$$Lambda$1/1831932724`), a segment that no class or package named in Java source can have: kept as `/`.
 */
static void put_class_name(struct buf *b, const char *internal, size_t n) {
  size_t last_slash = n;
  for (size_t i = 0; i < n; i++)
    if (internal[i] == '/') last_slash = i;
  int anonymous_suffix = last_slash < n && last_slash + 1 < n;
  for (size_t i = last_slash + 1; anonymous_suffix && i < n; i++)
    if (internal[i] < '0' || internal[i] > '9') anonymous_suffix = 0;
  for (size_t i = 0; i < n; i++) {
    char c = internal[i];
    if (c == '/')
      c = (anonymous_suffix && i == last_slash) ? '/' : '.';
    else if (c == '.' || c == '+')
      c = '/';
    buf_putc(b, c);
  }
}

/* One type of a method descriptor at *sig (`I`, `[[Ljava/lang/String;`), advancing past it. 0 when malformed. */
static int put_type(struct buf *b, const char **sig) {
  const char *s = *sig;
  int dims = 0;
  while (*s == '[') {
    dims++;
    s++;
  }
  switch (*s) {
  case 'Z': buf_puts(b, "boolean"); s++; break;
  case 'B': buf_puts(b, "byte"); s++; break;
  case 'C': buf_puts(b, "char"); s++; break;
  case 'S': buf_puts(b, "short"); s++; break;
  case 'I': buf_puts(b, "int"); s++; break;
  case 'J': buf_puts(b, "long"); s++; break;
  case 'F': buf_puts(b, "float"); s++; break;
  case 'D': buf_puts(b, "double"); s++; break;
  case 'V': buf_puts(b, "void"); s++; break;
  case 'L': {
    const char *end = strchr(s, ';');
    if (end == NULL) return 0;
    put_class_name(b, s + 1, (size_t)(end - s - 1));
    s = end + 1;
    break;
  }
  default: return 0;
  }
  while (dims-- > 0) buf_puts(b, "[]");
  *sig = s;
  return 1;
}

/* `(ILjava/lang/String;)[J` → `long[]` + ` Class.name(` + `int, java.lang.String` + `)`, as Method::external_name. */
static int format_method(struct buf *b, const char *klass_sig, const char *name, const char *desc) {
  const char *ret = strchr(desc, ')');
  size_t klen = strlen(klass_sig);
  if (desc[0] != '(' || ret == NULL || klen < 3 || klass_sig[0] != 'L' || klass_sig[klen - 1] != ';') return 0;
  const char *r = ret + 1;
  if (!put_type(b, &r) || *r != '\0') return 0;
  buf_putc(b, ' ');
  put_class_name(b, klass_sig + 1, klen - 2);
  buf_putc(b, '.');
  buf_puts(b, name);
  buf_putc(b, '(');
  const char *p = desc + 1;
  for (int first = 1; p < ret; first = 0) {
    if (!first) buf_puts(b, ", ");
    if (!put_type(b, &p)) return 0;
  }
  buf_putc(b, ')');
  return 1;
}

/* A map line ends at `\n`: names are modified UTF-8, where any other byte may appear, so control bytes become `?`. */
static void sanitize(char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) s[i] = '?';
}

/* The external name of a method, malloc'd, or NULL when JVMTI cannot name it (or memory is short). */
static char *method_name_uncached(jvmtiEnv *jvmti, jmethodID method) {
  char *name = NULL, *desc = NULL, *klass_sig = NULL, *result = NULL;
  jclass klass = NULL;
  if ((*jvmti)->GetMethodName(jvmti, method, &name, &desc, NULL) != JVMTI_ERROR_NONE) goto done;
  if ((*jvmti)->GetMethodDeclaringClass(jvmti, method, &klass) != JVMTI_ERROR_NONE) goto done;
  if ((*jvmti)->GetClassSignature(jvmti, klass, &klass_sig, NULL) != JVMTI_ERROR_NONE) goto done;
  char tmp[NAME_MAX_BYTES];
  struct buf b = {tmp, 0, sizeof tmp - 1};
  if (format_method(&b, klass_sig, name, desc)) {
    sanitize(tmp, b.len);
    tmp[b.len] = '\0';
    result = strdup(tmp);
  }
done:
  if (name) (*jvmti)->Deallocate(jvmti, (unsigned char *)name);
  if (desc) (*jvmti)->Deallocate(jvmti, (unsigned char *)desc);
  if (klass_sig) (*jvmti)->Deallocate(jvmti, (unsigned char *)klass_sig);
  /* A local reference from a callback or from Agent_OnAttach: freed when that returns to the VM. */
  return result;
}

static size_t hash_method(jmethodID m) {
  uintptr_t x = (uintptr_t)m;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (size_t)x;
}

static void names_free(void) {
  for (size_t i = 0; i < st.names_cap; i++) free(st.names[i].name);
  free(st.names);
  st.names = NULL;
  st.names_cap = st.names_len = 0;
}

static int names_grow(void) {
  size_t cap = st.names_cap ? st.names_cap * 2 : 4096;
  struct name_entry *grown = calloc(cap, sizeof *grown);
  if (grown == NULL) return 0;
  for (size_t i = 0; i < st.names_cap; i++) {
    if (st.names[i].method == NULL) continue;
    size_t j = hash_method(st.names[i].method) & (cap - 1);
    while (grown[j].method != NULL) j = (j + 1) & (cap - 1);
    grown[j] = st.names[i];
  }
  free(st.names);
  st.names = grown;
  st.names_cap = cap;
  return 1;
}

/* The method's name, from the cache or JVMTI; UNNAMED when it has none. Caller holds write_lock. */
static const char *method_name(jvmtiEnv *jvmti, jmethodID method) {
  if (st.names_len * 2 >= st.names_cap && !names_grow()) {
    char *uncached = method_name_uncached(jvmti, method);
    /* Out of memory: name this line without caching (leaks nothing: freed right after use by the caller's copy). */
    static char one[NAME_MAX_BYTES];
    if (uncached == NULL) return UNNAMED;
    snprintf(one, sizeof one, "%s", uncached);
    free(uncached);
    return one;
  }
  size_t i = hash_method(method) & (st.names_cap - 1);
  while (st.names[i].method != NULL) {
    if (st.names[i].method == method) return st.names[i].name ? st.names[i].name : UNNAMED;
    i = (i + 1) & (st.names_cap - 1);
  }
  st.names[i].method = method;
  st.names[i].name = method_name_uncached(jvmti, method);
  st.names_len++;
  return st.names[i].name ? st.names[i].name : UNNAMED;
}

/* ---- the map -------------------------------------------------------------------------------------------------- */

/* One line as JDK 17 writes it: `0x00007f083ceca940 0x0000000000000120 long Hot.hotFibonacci(int)`. */
static void write_line(const void *start, uintptr_t size, const char *name) {
  if (size == 0 || st.out == NULL) return;
  if (fprintf(st.out, "0x%016" PRIxPTR " 0x%016" PRIxPTR " %s\n", (uintptr_t)start, size, name) < 0)
    st.write_failed = 1;
}

/* The inline chain at one PC, outermost first: HotSpot lists methods[0] innermost, the compiled method last. */
static void format_chain(jvmtiEnv *jvmti, const PCStackInfo *pc, struct buf *b) {
  b->len = 0;
  for (jint i = pc->numstackframes - 1; i >= 0; i--) {
    const char *name = method_name(jvmti, pc->methods[i]);
    size_t need = strlen(name) + (i > 0 ? 2 : 0);
    /* A chain too long for a line keeps its outer part: the frames nearest the root say where the time went. */
    if (b->len + need > b->cap) break;
    buf_puts(b, name);
    if (i > 0) buf_puts(b, "->");
  }
  b->p[b->len] = '\0';
}

static int compare_pc(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)(*(const PCStackInfo *const *)a)->pc, y = (uintptr_t)(*(const PCStackInfo *const *)b)->pc;
  return x < y ? -1 : x > y;
}

/*
 * A compiled method with its inline records, one line per run of PCs with the same chain. HotSpot records a PC
 * after the instruction it describes (the return address of a call, a safepoint poll), so the chain of PC p covers
 * the addresses after the previous recorded PC up to and including p: exactly a caller frame's return address, and
 * for a sampled instruction between recorded PCs the scope of the next one. Past the last recorded PC (exception
 * handlers, stubs of the method) the compiled method alone.
 */
static void write_inlined(jvmtiEnv *jvmti, jmethodID method, const void *code, uintptr_t size,
                          const jvmtiCompiledMethodLoadInlineRecord *rec) {
  uintptr_t begin = (uintptr_t)code, end = begin + size;
  PCStackInfo **pcs = malloc(sizeof *pcs * (size_t)rec->numpcs);
  char *line = malloc(LINE_MAX_BYTES), *prev = malloc(LINE_MAX_BYTES);
  if (pcs == NULL || line == NULL || prev == NULL) {
    free(pcs);
    free(line);
    free(prev);
    write_line(code, size, method_name(jvmti, method));
    return;
  }
  jint n = 0;
  for (jint i = 0; i < rec->numpcs; i++) {
    uintptr_t pc = (uintptr_t)rec->pcinfo[i].pc;
    if (pc >= begin && pc < end && rec->pcinfo[i].numstackframes > 0) pcs[n++] = &rec->pcinfo[i];
  }
  qsort(pcs, (size_t)n, sizeof *pcs, compare_pc);
  struct buf cur = {line, 0, LINE_MAX_BYTES - 1};
  uintptr_t run_start = begin, next = begin;
  prev[0] = '\0';
  for (jint i = 0; i < n; i++) {
    uintptr_t pc_end = (uintptr_t)pcs[i]->pc + 1;
    if (pc_end <= next) continue; /* the same PC twice: the first record wins */
    format_chain(jvmti, pcs[i], &cur);
    if (run_start < next && strcmp(prev, line) != 0) {
      write_line((const void *)run_start, next - run_start, prev);
      run_start = next;
    }
    memcpy(prev, line, cur.len + 1);
    next = pc_end;
  }
  if (run_start < next) write_line((const void *)run_start, next - run_start, prev);
  if (next < end) write_line((const void *)next, end - next, method_name(jvmti, method));
  free(pcs);
  free(line);
  free(prev);
}

static void JNICALL on_compiled_method_load(jvmtiEnv *jvmti, jmethodID method, jint code_size, const void *code_addr,
                                            jint map_length, const jvmtiAddrLocationMap *map,
                                            const void *compile_info) {
  (void)map_length;
  (void)map;
  if (code_size <= 0) return;
  pthread_mutex_lock(&write_lock);
  if (st.out != NULL) {
    const jvmtiCompiledMethodLoadInlineRecord *inline_rec = NULL;
    for (const jvmtiCompiledMethodLoadRecordHeader *h = compile_info; st.inline_chains && h != NULL; h = h->next) {
      if (h->kind == JVMTI_CMLR_INLINE_INFO) inline_rec = (const jvmtiCompiledMethodLoadInlineRecord *)h;
    }
    if (inline_rec != NULL && inline_rec->numpcs > 0 && inline_rec->pcinfo != NULL)
      write_inlined(jvmti, method, code_addr, (uintptr_t)code_size, inline_rec);
    else
      write_line(code_addr, (uintptr_t)code_size, method_name(jvmti, method));
  }
  pthread_mutex_unlock(&write_lock);
}

/* VM code: `Interpreter`, `StubRoutines (1)`, `I2C/C2I adapters`, runtime stubs. */
static void JNICALL on_dynamic_code_generated(jvmtiEnv *jvmti, const char *name, const void *address, jint length) {
  (void)jvmti;
  if (length <= 0) return;
  char clean[NAME_MAX_BYTES];
  snprintf(clean, sizeof clean, "%s", name != NULL && name[0] != '\0' ? name : "[unnamed VM code]");
  sanitize(clean, strlen(clean));
  pthread_mutex_lock(&write_lock);
  write_line(address, (uintptr_t)length, clean);
  pthread_mutex_unlock(&write_lock);
}

/* ---- attach --------------------------------------------------------------------------------------------------- */

struct options {
  char dir[DIR_MAX_BYTES];
  int inline_chains;
};

/* `dir=/tmp,inline=1`; unknown keys and relative directories are refused, so a typo never writes elsewhere. */
static int parse_options(const char *text, struct options *o) {
  snprintf(o->dir, sizeof o->dir, "/tmp");
  o->inline_chains = 0;
  if (text == NULL) return 1;
  char copy[DIR_MAX_BYTES + 64];
  if (strlen(text) >= sizeof copy) return 0;
  strcpy(copy, text);
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
    if (strncmp(tok, "dir=", 4) == 0) {
      const char *d = tok + 4;
      if (d[0] != '/' || strlen(d) >= sizeof o->dir || strstr(d, "/../") != NULL) return 0;
      snprintf(o->dir, sizeof o->dir, "%s", d);
    } else if (strcmp(tok, "inline=1") == 0) {
      o->inline_chains = 1;
    } else if (strcmp(tok, "inline=0") == 0) {
      o->inline_chains = 0;
    } else {
      return 0;
    }
  }
  return 1;
}

/*
 * The map is written under a temporary name created exclusively (never through an existing file or link) and
 * renamed over perf-<pid>.map once complete: a reader never sees half a map, and a link planted at the final name is
 * replaced, not followed.
 */
static int open_map(const struct options *o, char *tmp, size_t tmp_size, char *final, size_t final_size) {
  pid_t pid = getpid();
  snprintf(final, final_size, "%s/perf-%d.map", o->dir, (int)pid);
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  for (int attempt = 0; attempt < 8; attempt++) {
    snprintf(tmp, tmp_size, "%s/.perf-%d.map.%lx%x.tmp", o->dir, (int)pid, (unsigned long)now.tv_nsec, attempt);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) {
      /* perf reads it as another user: readable whatever the JVM's umask. */
      (void)fchmod(fd, 0644);
      st.out = fdopen(fd, "w");
      if (st.out == NULL) {
        close(fd);
        unlink(tmp);
        return 0;
      }
      setvbuf(st.out, NULL, _IOFBF, 1 << 16);
      return 1;
    }
    if (errno != EEXIST) return 0;
  }
  return 0;
}

static jint set_events(jvmtiEnv *jvmti, jvmtiEventMode mode) {
  jvmtiError a = (*jvmti)->SetEventNotificationMode(jvmti, mode, JVMTI_EVENT_COMPILED_METHOD_LOAD, NULL);
  jvmtiError b = (*jvmti)->SetEventNotificationMode(jvmti, mode, JVMTI_EVENT_DYNAMIC_CODE_GENERATED, NULL);
  return a == JVMTI_ERROR_NONE && b == JVMTI_ERROR_NONE;
}

static jint write_map(JavaVM *vm, const struct options *o) {
  jvmtiEnv *jvmti = NULL;
  if ((*vm)->GetEnv(vm, (void **)&jvmti, JVMTI_VERSION_1_2) != JNI_OK || jvmti == NULL) return RC_ENV;
  jint rc = RC_OK;
  jvmtiCapabilities caps;
  memset(&caps, 0, sizeof caps);
  caps.can_generate_compiled_method_load_events = 1;
  jvmtiEventCallbacks callbacks;
  memset(&callbacks, 0, sizeof callbacks);
  callbacks.CompiledMethodLoad = on_compiled_method_load;
  callbacks.DynamicCodeGenerated = on_dynamic_code_generated;
  char tmp[DIR_MAX_BYTES + 64], final[DIR_MAX_BYTES + 64];
  if ((*jvmti)->AddCapabilities(jvmti, &caps) != JVMTI_ERROR_NONE) {
    rc = RC_CAPABILITY;
  } else if ((*jvmti)->SetEventCallbacks(jvmti, &callbacks, (jint)sizeof callbacks) != JVMTI_ERROR_NONE) {
    rc = RC_EVENTS;
  } else {
    pthread_mutex_lock(&write_lock);
    st.write_failed = 0;
    st.inline_chains = o->inline_chains;
    int opened = open_map(o, tmp, sizeof tmp, final, sizeof final);
    pthread_mutex_unlock(&write_lock);
    if (!opened) {
      rc = RC_OPEN;
    } else {
      if (!set_events(jvmti, JVMTI_ENABLE) ||
          (*jvmti)->GenerateEvents(jvmti, JVMTI_EVENT_DYNAMIC_CODE_GENERATED) != JVMTI_ERROR_NONE ||
          (*jvmti)->GenerateEvents(jvmti, JVMTI_EVENT_COMPILED_METHOD_LOAD) != JVMTI_ERROR_NONE)
        rc = RC_EVENTS;
      set_events(jvmti, JVMTI_DISABLE);
      pthread_mutex_lock(&write_lock);
      if (fclose(st.out) != 0 || st.write_failed) rc = rc == RC_OK ? RC_WRITE : rc;
      st.out = NULL;
      names_free();
      pthread_mutex_unlock(&write_lock);
      if (rc == RC_OK && rename(tmp, final) != 0) rc = RC_WRITE;
      if (rc != RC_OK) unlink(tmp);
    }
  }
  /* Callbacks still running on compiler threads find st.out NULL; the library itself is never unloaded. */
  (*jvmti)->DisposeEnvironment(jvmti);
  return rc;
}

JNIEXPORT jint JNICALL Agent_OnAttach(JavaVM *vm, char *options, void *reserved) {
  (void)reserved;
  struct options o;
  if (!parse_options(options, &o)) return RC_OPTIONS;
  pthread_mutex_lock(&attach_lock);
  jint rc = write_map(vm, &o);
  pthread_mutex_unlock(&attach_lock);
  return rc;
}
