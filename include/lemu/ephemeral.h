/* Ephemeral storage: each execution environment's TMPDIR (Lambda's /tmp), empty at the start of
 * the environment, removed with it, and limited to the function's EphemeralStorage.Size so that a
 * handler that fills it gets ENOSPC, as on Lambda. One mode is chosen when lemu starts:
 *   tmpfs  a tmpfs of EphemeralStorage MB per environment (lemu may mount, no memory cgroup);
 *   loop   an ext4 file system of EphemeralStorage MB per environment on a loop device, backed by
 *          a sparse image on disk (lemu may mount, memory cgroups in force: a tmpfs's pages would
 *          be charged to the handler's memory, page cache of a disk file system is reclaimable);
 *   dir    a plain directory, size not enforced (lemu may not mount, or no loop device / mkfs).
 * The per-size ext4 image is formatted once by mkfs.ext4 (e2fsprogs) and kept in memory as a
 * template; an environment's image is a copy of its few allocated blocks, so creating one costs
 * a file write, a LOOP_CONFIGURE and a mount, no mkfs. */
#ifndef LEMU_EPHEMERAL_H
#define LEMU_EPHEMERAL_H

#include <stdbool.h>
#include <stddef.h>
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
 * handler's MemorySize) for the loop mode, or the directory mode when loops cannot be used. Slow
 * (formats the default 512 MB image: one mkfs.ext4, ~20 ms); call once at start. */
void ephemeral_memory_cgroups(struct ephemeral *e);
/* What is in force, for the startup line ("TMPDIR a size-limited ..."). */
void ephemeral_describe(const struct ephemeral *e, char *out, size_t n);
/* A fresh, empty TMPDIR for environment id, size_mb MB where the size is enforced: a malloc'd
 * path, or NULL when not even a directory can be made. The first environment of a size other than
 * 512 MB formats its template (one mkfs.ext4) in the loop mode. */
char *ephemeral_create(struct ephemeral *e, unsigned long id, int size_mb);
/* Empty, unmount and remove it. Takes path (NULL is a no-op). */
void ephemeral_destroy(struct ephemeral *e, char *path);
/* Unmount and remove everything under the base directory; free the templates. */
void ephemeral_cleanup(struct ephemeral *e);

/* Pure parts, exposed for the unit tests. */
/* The mode: tmpfs without memory cgroups where lemu may mount; loop with memory cgroups where
 * lemu may mount and loop devices and mkfs.ext4 work; otherwise the directory. */
enum ephemeral_mode ephemeral_choose_mode(bool memory_cgroups, bool can_mount, bool loop_ready);
/* The pid in a base directory's name ("lemu-1234" -> 1234), or 0 when name is not one. */
pid_t ephemeral_base_pid(const char *name);
/* Image size in bytes for a first try at an ext4 file system with at least size_mb MB free:
 * size_mb plus ext4's metadata (inode tables, ~1.6%, and a few MB), 4 KiB aligned. */
unsigned long long ephemeral_image_bytes(int size_mb);

#endif
