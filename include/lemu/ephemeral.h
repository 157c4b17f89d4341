/* Ephemeral storage: each execution environment's TMPDIR (Lambda's /tmp), empty at the start of
 * the environment, removed with it, and limited to the function's EphemeralStorage.Size so that a
 * handler that fills it gets ENOSPC, as on Lambda. One mode is chosen when lemu starts:
 *   tmpfs  a tmpfs of EphemeralStorage MB per environment (lemu may mount, no memory cgroup);
 *   loop   an ext4 file system of EphemeralStorage MB per environment on a loop device, backed by
 *          a sparse image on disk (lemu may mount, memory cgroups in force: a tmpfs's pages would
 *          be charged to the handler's memory, page cache of a disk file system is reclaimable);
 *   dir    a plain directory, size not enforced (lemu may not mount, or no loop device / mkfs).
 * The per-size ext4 image is formatted once by mkfs.ext4 (e2fsprogs) and kept on disk as a
 * template, in $XDG_CACHE_HOME/lemu/ephemeral (~/.cache/lemu/ephemeral), across lemu's runs; an
 * environment's image is a copy of it (a reflink, or its few allocated extents copied in the
 * kernel), so creating one costs a copy, a LOOP_CONFIGURE and a mount, no mkfs, and lemu holds
 * no template in memory. */
#ifndef LEMU_EPHEMERAL_H
#define LEMU_EPHEMERAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "lemu/err.h"

enum ephemeral_mode {
  EPHEMERAL_DIR,   /* plain directory, size not enforced */
  EPHEMERAL_TMPFS, /* size-limited tmpfs */
  EPHEMERAL_LOOP,  /* size-limited ext4 on a loop device */
};

struct ephemeral_loop;

/* Process-wide state, built once at start. */
struct ephemeral {
  enum ephemeral_mode mode;
  char *base;                 /* <run dir>/lemu-<pid> (owned, removed at exit) */
  bool can_mount;             /* lemu may mount (root or CAP_SYS_ADMIN) */
  const char *note;           /* why the size is not enforced, when it is not */
  bool loop_warned;           /* a failed loop mount was logged once */
  struct ephemeral_loop *loop; /* the loop mode: templates, spare file systems, worker (owned) */
};

/* Create the base directory, remove what a lemu killed by SIGKILL left behind (stale lemu-<pid>
 * directories whose pid is gone: their mounts too), and probe whether lemu may mount. Chooses the
 * tmpfs mode where it may, else the directory mode. Logs only what it cleaned up. */
lemu_err_t ephemeral_init(struct ephemeral *e);
/* Environments are in memory cgroups: leave the tmpfs mode (its pages would be charged to the
 * handler's MemorySize) for the loop mode, or the directory mode when loops cannot be used. Opens
 * the default 512 MB template from the cache (~0.3 ms), or formats it (one mkfs.ext4, ~20 ms)
 * when the cache has no valid one; call once at start. */
void ephemeral_memory_cgroups(struct ephemeral *e);
/* What is in force, for the startup line ("TMPDIR a size-limited ..."). */
void ephemeral_describe(const struct ephemeral *e, char *out, size_t n);
/* A fresh, empty TMPDIR for environment id, size_mb MB where the size is enforced: a malloc'd
 * path, or NULL when not even a directory can be made. The first environment of a size other than
 * 512 MB opens its template in the loop mode (formats it when it is not cached: one mkfs.ext4). */
char *ephemeral_create(struct ephemeral *e, unsigned long id, int size_mb);
/* Empty, unmount and remove it. Takes path (NULL is a no-op). */
void ephemeral_destroy(struct ephemeral *e, char *path);
/* Unmount and remove everything under the base directory; close the templates (the cached ones
 * stay for the next start). */
void ephemeral_cleanup(struct ephemeral *e);

/* Pure parts, exposed for the unit tests. */
/* The mode: tmpfs without memory cgroups where lemu may mount; loop with memory cgroups where
 * lemu may mount and loop devices and mkfs.ext4 work; otherwise the directory. */
enum ephemeral_mode ephemeral_choose_mode(bool memory_cgroups, bool can_mount, bool loop_ready);
/* Image size in bytes for a first try at an ext4 file system with at least size_mb MB free:
 * size_mb plus ext4's metadata (inode tables, ~1.6%, and a few MB), 4 KiB aligned. */
unsigned long long ephemeral_image_bytes(int size_mb);

/* The template cache. A template is an ext4 image whose first 1024 bytes (left by ext4 to boot
 * loaders) hold lemu's record: what it is, for which size and key, and a checksum of its content.
 * It is used only when the record, the ext4 superblock and the checksum all hold; else it is
 * made again. */
#define EPHEMERAL_TEMPLATE_FORMAT 1 /* bump when what lemu does to a fresh image changes */
#define EPHEMERAL_RECORD_BYTES 64
#define EPHEMERAL_HEAD_BYTES 2048   /* the record, then the ext4 superblock at 1024 */

struct ephemeral_record {
  int size_mb;
  uint64_t key;                   /* ephemeral_template_key() */
  unsigned long long image_bytes; /* the file's size */
  uint64_t checksum;              /* of its non-zero 4 KiB blocks past the record */
};

/* A 64-bit hash of p, continuing from h (0 to start). Not cryptographic: it finds corruption. */
uint64_t ephemeral_hash(uint64_t h, const void *p, size_t n);
/* What a template depends on besides its size: lemu's template format, mkfs.ext4's options and the
 * identity (device, inode, size, mtime) of the mkfs.ext4 binary and of /etc/mke2fs.conf (conf
 * NULL: there is none). An upgrade of e2fsprogs or a change of either gives another key. */
uint64_t ephemeral_template_key(const struct stat *mkfs, const struct stat *conf);
/* The template's file name in the cache directory, "ext4-<size_mb>m-<key, 16 hex>.img"; returns
 * what snprintf returns. */
int ephemeral_template_name(char *out, size_t n, int size_mb, uint64_t key);
/* The pid in the name of a template being made (".tmp-1234-ext4-..." -> 1234), else 0. */
pid_t ephemeral_temp_pid(const char *name);
/* Write r's record into the first EPHEMERAL_RECORD_BYTES of head. */
void ephemeral_record_put(unsigned char *head, const struct ephemeral_record *r);
/* Whether head (an image's first EPHEMERAL_HEAD_BYTES) and its file size are those of a template
 * of size_mb made for key: NULL when so (the record in *out), else why not. The checksum is the
 * caller's to compare. */
const char *ephemeral_template_check(const unsigned char *head, unsigned long long file_bytes,
                                     int size_mb, uint64_t key, struct ephemeral_record *out);

#endif
