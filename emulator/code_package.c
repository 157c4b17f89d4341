/* Unpacking deployment packages (see include/lemu/code_package.h). Every file is created with
 * openat() relative to a directory fd that was itself opened with O_NOFOLLOW, one component at a
 * time, so no entry can be written through a symlink (the classic zip-slip variant where one entry
 * is a link and a later one writes "link/x"). Symlink entries are created after all files and then
 * checked with realpath(): one that resolves outside the tree fails the whole package.
 *
 * libzip is not linked: it is dlopen()ed by its SONAME the first time an archive is unpacked
 * (systemd's dlopen_many_sym_or_warn pattern), because Debian's libzip pulls in libcrypto and
 * libbz2, ~3.5 MB of mapped pages an idle lemu has no use for (tests/bench: idle RSS <= 10 MB).
 * Every zip_* call below goes through a sym_zip_* pointer whose type is taken from <zip.h>. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "lemu/code_package.h"
#include "lemu/logs.h"
#include "lemu/util.h"

#ifndef LEMU_LIBZIP_SONAME
#error "LEMU_LIBZIP_SONAME (libzip's SONAME, e.g. from CMakeLists.txt) must be defined"
#endif

#define CP_READ_CHUNK 65536
#define CP_DIR_MODE 0755
#define CP_FILE_MODE 0644
#define CP_EXEC_MODE 0755
#define CP_NFTW_FDS 32

/* Compression ratio bound (issue 11: a zip bomb is refused by its ratio, not only by the 250 MB
 * cap). Real deployment packages stay well below it: source, node_modules and site-packages text
 * deflates 3-10x, binaries and .pyc 2-4x; the most compressible large file found in Debian's
 * Python and Node trees is botocore's S3 endpoint-rule-set-1.json (1.6 MB, bundled by countless
 * Python functions) at 49x. Deflate's own ceiling is ~1030x, reached by runs of one byte, which
 * is what bombs are made of (42.zip, the overlapping-entry bombs: ~1000x per entry); bzip2 goes far
 * beyond. 200x leaves 4x of margin over that JSON and catches every deflate bomb of a constant
 * run. Entries up to CP_RATIO_MIN_BYTES uncompressed are not checked: small padded or empty-ish
 * files (100 KB of spaces is ~1000x) are common and harmless, and what they add up to is bounded
 * by the entry count and the total cap. The bound is checked on the sizes the central directory
 * declares (before anything is written) and again on the bytes actually written, since headers
 * can lie: an entry stops at CP_RATIO_MAX times its compressed size whatever its header says. */
#define CP_RATIO_MAX 200ULL
#define CP_RATIO_MIN_BYTES (1024ULL * 1024ULL)

/* The libzip functions lemu uses: each is a pointer sym_<name> of <zip.h>'s type, resolved by
 * cp_zip_load(). */
#define CP_ZIP_SYMS(XX)                                                                            \
  XX(zip_discard)                                                                                  \
  XX(zip_error_fini)                                                                               \
  XX(zip_error_init)                                                                               \
  XX(zip_error_strerror)                                                                           \
  XX(zip_fclose)                                                                                   \
  XX(zip_file_get_external_attributes)                                                             \
  XX(zip_fopen_index)                                                                              \
  XX(zip_fread)                                                                                    \
  XX(zip_get_num_entries)                                                                          \
  XX(zip_open_from_source)                                                                         \
  XX(zip_source_buffer_create)                                                                     \
  XX(zip_source_free)                                                                              \
  XX(zip_stat_index)                                                                               \
  XX(zip_stat_init)

#define CP_ZIP_DECLARE(name) static __typeof__(name) *sym_##name;
CP_ZIP_SYMS(CP_ZIP_DECLARE)
#undef CP_ZIP_DECLARE

static pthread_mutex_t cp_zip_lock = PTHREAD_MUTEX_INITIALIZER;
static void *cp_zip_handle; /* set once every sym_zip_* is; never closed */

struct cp_link {
  char *path;   /* relative path of the link */
  char *target; /* its content */
};

struct cp_state {
  zip_t *za;
  int root_fd;
  char *root_real;
  unsigned long long max_unzipped;
  unsigned long long written;
  struct cp_link *links;
  size_t n_links;
  char *reason;
};

/* Does an entry of `bytes` uncompressed from `comp` compressed stay within the ratio bound? */
static bool cp_ratio_ok(unsigned long long bytes, unsigned long long comp)
{
  return bytes <= CP_RATIO_MIN_BYTES || bytes / CP_RATIO_MAX + (bytes % CP_RATIO_MAX != 0) <= comp;
}

static lemu_err_t cp_fail(struct cp_state *st, lemu_err_t rc, const char *fmt, const char *name)
{
  if (!st->reason)
    st->reason = util_asprintf(fmt, name);
  return rc;
}

/* No absolute path, no ".." component (either separator counts: Windows tools write '\'). */
static bool cp_name_safe(const char *name)
{
  const char *p = name;

  if (!name[0] || name[0] == '/' || name[0] == '\\')
    return false;
  while (*p) {
    size_t n = strcspn(p, "/\\");
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return false;
    p += n;
    if (*p)
      p++;
  }
  return true;
}

/* Open (creating as needed) the directory that holds the last component of rel, walking from
 * the root without following any symlink. Returns the fd (caller closes) and points *leaf into
 * rel's copy in buf; -1 when a component is not a plain directory. create_last: rel names a
 * directory to create entirely (then *leaf is NULL). */
static int cp_open_parent(struct cp_state *st, char *buf, bool create_last, char **leaf)
{
  /* F_DUPFD_CLOEXEC, not dup(): dup() drops close-on-exec, and no fd of lemu's may reach a
   * handler process (docs/security.md). */
  int fd = fcntl(st->root_fd, F_DUPFD_CLOEXEC, 0);
  char *p = buf, *save = NULL, *comp, *next;

  *leaf = NULL;
  if (fd < 0)
    return -1;
  comp = strtok_r(p, "/", &save);
  while (comp) {
    int nfd;
    next = strtok_r(NULL, "/", &save);
    if (!strcmp(comp, ".")) {
      comp = next;
      continue;
    }
    if (!next && !create_last) {
      *leaf = comp;
      return fd;
    }
    if (mkdirat(fd, comp, CP_DIR_MODE) < 0 && errno != EEXIST) {
      close(fd);
      return -1;
    }
    nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(fd);
    if (nfd < 0)
      return -1;
    fd = nfd;
    comp = next;
  }
  if (!create_last) { /* "dir/." or similar: nothing to name */
    close(fd);
    return -1;
  }
  return fd;
}

/* comp: the entry's compressed size, against which the bytes really written are held to the ratio
 * bound (CP_RATIO_MAX). */
static lemu_err_t cp_write_file(struct cp_state *st, zip_int64_t index, const char *name, mode_t mode,
                                unsigned long long comp)
{
  char *rel = util_strdup(name), *leaf, *chunk = NULL;
  zip_file_t *zf = NULL;
  int dfd = -1, fd = -1;
  lemu_err_t rc = LEMU_ERR_NOMEM;
  unsigned long long entry_written = 0;
  zip_int64_t n;

  if (!rel)
    goto out;
  dfd = cp_open_parent(st, rel, false, &leaf);
  if (dfd < 0) {
    rc = cp_fail(st, LEMU_ERR_INVAL, "entry '%s' does not fit in the code directory (a parent is "
                 "not a directory)", name);
    goto out;
  }
  fd = openat(dfd, leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    rc = errno == ELOOP || errno == EISDIR ? cp_fail(st, LEMU_ERR_INVAL, "entry '%s' collides with a "
                                                     "directory or link", name)
                                           : LEMU_ERR_IO;
    goto out;
  }
  zf = sym_zip_fopen_index(st->za, (zip_uint64_t)index, 0);
  chunk = malloc(CP_READ_CHUNK);
  if (!zf) {
    rc = cp_fail(st, LEMU_ERR_INVAL, "entry '%s' cannot be read (encrypted or unsupported "
                 "compression)", name);
    goto out;
  }
  if (!chunk)
    goto out;
  while ((n = sym_zip_fread(zf, chunk, CP_READ_CHUNK)) > 0) {
    char *p = chunk;
    st->written += (unsigned long long)n;
    entry_written += (unsigned long long)n;
    if (st->written > st->max_unzipped) {
      rc = LEMU_ERR_TOOBIG;
      goto out;
    }
    if (!cp_ratio_ok(entry_written, comp)) {
      if (!st->reason)
        st->reason = util_asprintf("entry '%s' expands to more than %llu times its %llu compressed "
                                   "bytes, whatever its header says (a zip bomb?)", name, CP_RATIO_MAX,
                                   comp);
      rc = LEMU_ERR_INVAL;
      goto out;
    }
    while (n > 0) {
      ssize_t w = write(fd, p, (size_t)n);
      if (w < 0) {
        if (errno == EINTR)
          continue;
        rc = LEMU_ERR_IO;
        goto out;
      }
      p += w;
      n -= w;
    }
  }
  if (n < 0) {
    rc = cp_fail(st, LEMU_ERR_INVAL, "entry '%s' is corrupt", name);
    goto out;
  }
  rc = sym_zip_fclose(zf) == 0 ? LEMU_ERR_OK : cp_fail(st, LEMU_ERR_INVAL, "entry '%s' fails its CRC check", name);
  zf = NULL;
out:
  if (zf)
    sym_zip_fclose(zf);
  if (fd >= 0)
    close(fd);
  if (dfd >= 0)
    close(dfd);
  free(chunk);
  free(rel);
  return rc;
}

static lemu_err_t cp_make_dir(struct cp_state *st, const char *name)
{
  char *rel = util_strdup(name), *leaf;
  int fd;

  if (!rel)
    return LEMU_ERR_NOMEM;
  fd = cp_open_parent(st, rel, true, &leaf);
  free(rel);
  if (fd < 0)
    return cp_fail(st, LEMU_ERR_INVAL, "directory entry '%s' collides with a file or link", name);
  close(fd);
  return LEMU_ERR_OK;
}

static lemu_err_t cp_read_link_target(struct cp_state *st, zip_int64_t index, const char *name,
                                      zip_uint64_t size)
{
  zip_file_t *zf;
  struct cp_link *grown;
  char *target;
  zip_int64_t n;

  if (size == 0 || size >= PATH_MAX)
    return cp_fail(st, LEMU_ERR_INVAL, "symlink entry '%s' has no usable target", name);
  target = calloc(1, (size_t)size + 1);
  if (!target)
    return LEMU_ERR_NOMEM;
  zf = sym_zip_fopen_index(st->za, (zip_uint64_t)index, 0);
  n = zf ? sym_zip_fread(zf, target, size) : -1;
  if (zf)
    sym_zip_fclose(zf);
  if (n != (zip_int64_t)size || memchr(target, '\0', (size_t)size)) {
    free(target);
    return cp_fail(st, LEMU_ERR_INVAL, "symlink entry '%s' is corrupt", name);
  }
  if (target[0] == '/') {
    free(target);
    return cp_fail(st, LEMU_ERR_INVAL, "symlink entry '%s' points to an absolute path outside the "
                   "code directory", name);
  }
  grown = realloc(st->links, (st->n_links + 1) * sizeof(*grown));
  if (!grown) {
    free(target);
    return LEMU_ERR_NOMEM;
  }
  st->links = grown;
  st->links[st->n_links].path = util_strdup(name);
  st->links[st->n_links].target = target;
  if (!st->links[st->n_links].path) {
    free(target);
    return LEMU_ERR_NOMEM;
  }
  st->n_links++;
  return LEMU_ERR_OK;
}

/* Lexically: does <dir of rel>/<target> stay inside the root? */
static bool cp_lexically_inside(const char *rel, const char *target)
{
  char *joined = util_asprintf("%s/../%s", rel, target), *save = NULL, *comp;
  long depth = 0;
  bool inside = true;

  if (!joined)
    return false;
  for (comp = strtok_r(joined, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
    if (!strcmp(comp, "."))
      continue;
    if (!strcmp(comp, "..")) {
      if (--depth < 0) {
        inside = false;
        break;
      }
    } else {
      depth++;
    }
  }
  free(joined);
  return inside;
}

static lemu_err_t cp_make_links(struct cp_state *st, const char *dest)
{
  size_t i, rootlen = strlen(st->root_real);

  for (i = 0; i < st->n_links; i++) {
    char *rel = util_strdup(st->links[i].path), *leaf;
    int dfd;
    if (!rel)
      return LEMU_ERR_NOMEM;
    dfd = cp_open_parent(st, rel, false, &leaf);
    if (dfd < 0 || symlinkat(st->links[i].target, dfd, leaf) < 0) {
      if (dfd >= 0)
        close(dfd);
      free(rel);
      return cp_fail(st, LEMU_ERR_INVAL, "symlink entry '%s' collides with another entry", st->links[i].path);
    }
    close(dfd);
    free(rel);
  }
  /* Only now that every link exists can their combined resolution be checked. */
  for (i = 0; i < st->n_links; i++) {
    char *full = util_asprintf("%s/%s", dest, st->links[i].path), resolved[PATH_MAX];
    bool ok;
    if (!full)
      return LEMU_ERR_NOMEM;
    if (realpath(full, resolved))
      ok = strncmp(resolved, st->root_real, rootlen) == 0 &&
           (resolved[rootlen] == '/' || resolved[rootlen] == '\0');
    else
      ok = errno == ENOENT && cp_lexically_inside(st->links[i].path, st->links[i].target);
    free(full);
    if (!ok)
      return cp_fail(st, LEMU_ERR_INVAL, "symlink entry '%s' points outside the code directory",
                     st->links[i].path);
  }
  return LEMU_ERR_OK;
}

static lemu_err_t cp_entry(struct cp_state *st, zip_int64_t i)
{
  zip_stat_t zs;
  zip_uint8_t opsys = 0;
  zip_uint32_t attr = 0;
  mode_t mode = 0;
  const char *name;
  size_t len;

  sym_zip_stat_init(&zs);
  if (sym_zip_stat_index(st->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW, &zs) != 0 || !(zs.valid & ZIP_STAT_NAME))
    return cp_fail(st, LEMU_ERR_INVAL, "entry %s cannot be read", "?");
  name = zs.name;
  if (!cp_name_safe(name))
    return cp_fail(st, LEMU_ERR_INVAL, "entry '%s' would be written outside the code directory", name);
  if (sym_zip_file_get_external_attributes(st->za, (zip_uint64_t)i, 0, &opsys, &attr) == 0 &&
      opsys == ZIP_OPSYS_UNIX)
    mode = (mode_t)(attr >> 16);
  len = strlen(name);
  if (name[len - 1] == '/' || S_ISDIR(mode))
    return cp_make_dir(st, name);
  if (S_ISLNK(mode))
    return cp_read_link_target(st, i, name, (zs.valid & ZIP_STAT_SIZE) ? zs.size : 0);
  return cp_write_file(st, i, name, (mode & 0111) ? CP_EXEC_MODE : CP_FILE_MODE,
                       (zs.valid & ZIP_STAT_COMP_SIZE) ? zs.comp_size : 0);
}

/* dlopen() libzip and resolve every sym_zip_* on first use; later calls return at once. A failure
 * is logged with the library's name and dlerror() and retried on the next archive (installing
 * libzip then needs no restart). LEMU_ERR_IO: libzip is missing or lacks a symbol. */
static lemu_err_t cp_zip_load(void)
{
  lemu_err_t rc = LEMU_ERR_OK;
  const char *missing = NULL;
  void *h, *p;

  pthread_mutex_lock(&cp_zip_lock);
  if (cp_zip_handle)
    goto out;
  h = dlopen(LEMU_LIBZIP_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    logs_error("cannot load libzip (%s), so zip code packages cannot be unpacked: %s",
               LEMU_LIBZIP_SONAME, dlerror());
    rc = LEMU_ERR_IO;
    goto out;
  }
#define CP_ZIP_RESOLVE(name)                                                                       \
  if (!missing) {                                                                                  \
    p = dlsym(h, #name);                                                                           \
    if (p)                                                                                         \
      sym_##name = (__typeof__(sym_##name))p;                                                      \
    else                                                                                           \
      missing = #name;                                                                             \
  }
  CP_ZIP_SYMS(CP_ZIP_RESOLVE)
#undef CP_ZIP_RESOLVE
  if (missing) {
    logs_error("cannot load libzip (%s), so zip code packages cannot be unpacked: it has no %s",
               LEMU_LIBZIP_SONAME, missing);
    dlclose(h);
    rc = LEMU_ERR_IO;
    goto out;
  }
  cp_zip_handle = h;
out:
  pthread_mutex_unlock(&cp_zip_lock);
  return rc;
}

lemu_err_t code_package_extract(const void *zip, size_t len, const char *dest,
                                unsigned long long max_unzipped, struct code_package *info,
                                char **reason)
{
  struct cp_state st = {.root_fd = -1, .max_unzipped = max_unzipped};
  zip_source_t *src = NULL;
  zip_error_t zerr;
  zip_int64_t n, i;
  unsigned long long declared = 0;
  lemu_err_t rc = LEMU_ERR_INVAL;
  bool made_dest = false;

  *reason = NULL;
  memset(info, 0, sizeof(*info));
  code_package_sha256_b64(zip, len, info->sha256_b64);
  info->code_size = len;
  if (cp_zip_load() != LEMU_ERR_OK)
    return LEMU_ERR_IO;
  sym_zip_error_init(&zerr);
  src = sym_zip_source_buffer_create(zip, len, 0, &zerr);
  if (!src) {
    rc = LEMU_ERR_NOMEM;
    goto out;
  }
  st.za = sym_zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
  if (!st.za) {
    sym_zip_source_free(src);
    st.reason = util_asprintf("not a valid zip archive (%s)", sym_zip_error_strerror(&zerr));
    goto out;
  }
  n = sym_zip_get_num_entries(st.za, 0);
  if (n < 0 || n > CODE_PACKAGE_MAX_ENTRIES) {
    st.reason = util_asprintf("the archive has too many entries (at most %d)", CODE_PACKAGE_MAX_ENTRIES);
    goto out;
  }
  /* Refuse from the directory alone what is already too big, or compressed beyond the ratio
   * bound (the first such entry is named); the bytes actually written are counted as well, since
   * a header can lie. Too big wins: that is AWS's own answer. */
  for (i = 0; i < n; i++) {
    zip_stat_t zs;
    sym_zip_stat_init(&zs);
    if (sym_zip_stat_index(st.za, (zip_uint64_t)i, ZIP_FL_ENC_RAW, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
      continue;
    declared += zs.size;
    if (!st.reason && (zs.valid & ZIP_STAT_COMP_SIZE) && !cp_ratio_ok(zs.size, zs.comp_size))
      st.reason = util_asprintf("entry '%s' declares %llu bytes from %llu compressed, more than %llu "
                                "times (a zip bomb?)", (zs.valid & ZIP_STAT_NAME) ? zs.name : "?",
                                (unsigned long long)zs.size, (unsigned long long)zs.comp_size,
                                CP_RATIO_MAX);
  }
  if (declared > max_unzipped) {
    rc = LEMU_ERR_TOOBIG;
    goto out;
  }
  if (st.reason)
    goto out; /* rc is LEMU_ERR_INVAL */
  if (mkdir(dest, CP_DIR_MODE) < 0) {
    rc = LEMU_ERR_IO;
    goto out;
  }
  made_dest = true;
  st.root_fd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  st.root_real = realpath(dest, NULL);
  if (st.root_fd < 0 || !st.root_real) {
    rc = LEMU_ERR_IO;
    goto out;
  }
  for (i = 0; i < n; i++) {
    rc = cp_entry(&st, i);
    if (rc)
      goto out;
  }
  rc = cp_make_links(&st, dest);
  if (rc)
    goto out;
  info->unzipped_size = st.written;
out:
  if (st.za)
    sym_zip_discard(st.za);
  sym_zip_error_fini(&zerr);
  if (st.root_fd >= 0)
    close(st.root_fd);
  for (i = 0; i < (zip_int64_t)st.n_links; i++) {
    free(st.links[i].path);
    free(st.links[i].target);
  }
  free(st.links);
  free(st.root_real);
  if (rc && made_dest)
    code_package_remove_tree(dest);
  if (rc == LEMU_ERR_INVAL)
    *reason = st.reason ? st.reason : util_strdup("not a valid zip archive");
  else
    free(st.reason);
  return rc;
}

/* nettle's SHA-256: nettle is in lemu's process anyway (libmicrohttpd -> gnutls -> nettle), where
 * OpenSSL's libcrypto would map ~3.4 MB more. */
void code_package_sha256_b64(const void *data, size_t len, char out[CODE_PACKAGE_SHA_B64_LEN + 1])
{
  struct sha256_ctx ctx;
  uint8_t md[SHA256_DIGEST_SIZE];
  char *b64;

  out[0] = '\0';
  sha256_init(&ctx);
  sha256_update(&ctx, len, data);
  sha256_digest(&ctx, sizeof(md), md);
  b64 = util_base64_encode(md, sizeof(md));
  if (b64)
    snprintf(out, CODE_PACKAGE_SHA_B64_LEN + 1, "%s", b64);
  free(b64);
}

static int cp_remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

lemu_err_t code_package_remove_tree(const char *path)
{
  struct stat st;

  if (lstat(path, &st) < 0)
    return errno == ENOENT ? LEMU_ERR_OK : LEMU_ERR_IO;
  return nftw(path, cp_remove_one, CP_NFTW_FDS, FTW_DEPTH | FTW_PHYS) == 0 ? LEMU_ERR_OK : LEMU_ERR_IO;
}
