/* Ephemeral storage: each environment's /tmp (TMPDIR), size-limited to EphemeralStorage (see
 * include/lemu/ephemeral.h for the three modes and docs/sandbox.md for what each enforces). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/loop.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lemu/ephemeral.h"
#include "lemu/logs.h"
#include "lemu/util.h"

#define MB (1024ULL * 1024ULL)
#define EPH_DEFAULT_MB 512    /* EphemeralStorage.Size when not set; its template is opened at start */
#define EPH_SLACK_MB 4        /* a formatted image may have up to this much more free than asked */
#define EPH_LOOP_TRIES 8      /* LOOP_CTL_GET_FREE races with other loop users */
#define EPH_MOUNT_OPTS "noinit_itable,errors=continue"
#define EPH_MAX_SIZES 8       /* sizes the worker keeps a spare file system of */
#define EPH_REFILL_DELAY_US 20000u /* a spare taken by a lone cold start is replaced this late */
#define EPH_LABEL "lemu-tmp"  /* the file systems' label (mkfs.ext4 -L) */
/* The template cache (see docs/sandbox.md): bump EPH_TEMPLATE_FORMAT when what lemu does to an
 * image after mkfs changes; mkfs.ext4's options and identity are in the key already. */
#define EPH_TEMPLATE_FORMAT EPHEMERAL_TEMPLATE_FORMAT
#define EPH_RECORD_MAGIC "lemu template\n"
#define EPH_RECORD_BYTES EPHEMERAL_RECORD_BYTES
#define EPH_RECORD_AREA 1024  /* ext4 leaves the first 1024 bytes alone: the record lives there */
#define EPH_HEAD_BYTES EPHEMERAL_HEAD_BYTES
#define EPH_TEMP_PREFIX ".tmp-" /* .tmp-<pid>-<name>: a template being made */
#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int) /* <linux/fs.h>, which clashes with <sys/mount.h> */
#endif

enum ephemeral_mode ephemeral_choose_mode(bool memory_cgroups, bool can_mount, bool loop_ready)
{
  if (!can_mount)
    return EPHEMERAL_DIR;
  if (!memory_cgroups)
    return EPHEMERAL_TMPFS;
  return loop_ready ? EPHEMERAL_LOOP : EPHEMERAL_DIR;
}

unsigned long long ephemeral_image_bytes(int size_mb)
{
  unsigned long long b = (unsigned long long)size_mb * MB;

  b += b / 60 + 8 * MB;
  return (b + 4095) & ~4095ULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

/* Remove everything below dir without crossing into another mount (dir itself goes too unless
 * it is a mount point). Deleting files before an unmount also drops their dirty pages, so the
 * unmount does not write them back. */
static void remove_tree(const char *dir)
{
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Undo mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
  char *o = s;

  for (; *s; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
        s[3] <= '7') {
      *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
      s += 3;
    } else {
      *o++ = *s;
    }
  }
  *o = 0;
}

/* Unmount every mount at or below dir, deepest (latest) first. Lazy (MNT_DETACH): a process that
 * still has a file open there keeps the file system until it closes it; a loop device set up
 * with LO_FLAGS_AUTOCLEAR detaches itself when its file system goes. */
static void umount_below(const char *dir)
{
  FILE *f = fopen("/proc/self/mountinfo", "re");
  char line[4096], **pts = NULL;
  size_t n = 0, cap = 0, len = strlen(dir);

  if (!f)
    return;
  while (fgets(line, sizeof(line), f)) {
    char *save = NULL, *tok = strtok_r(line, " ", &save);
    int field;
    for (field = 0; tok && field < 4; field++)
      tok = strtok_r(NULL, " ", &save);
    if (!tok)
      continue;
    unescape(tok);
    if (strncmp(tok, dir, len) != 0 || (tok[len] != '/' && tok[len] != 0))
      continue;
    if (n == cap) {
      char **p = realloc(pts, (cap ? cap * 2 : 8) * sizeof(*pts));
      if (!p)
        break;
      pts = p;
      cap = cap ? cap * 2 : 8;
    }
    if (!(pts[n] = util_strdup(tok)))
      break;
    n++;
  }
  fclose(f);
  while (n > 0) {
    n--;
    remove_tree(pts[n]); /* no dirty data left for the unmount to write back */
    umount2(pts[n], MNT_DETACH);
    free(pts[n]);
  }
  free(pts);
}

/* Unmount and remove a whole lemu-<pid> directory. */
static void remove_base(const char *dir)
{
  umount_below(dir);
  remove_tree(dir);
}

/* Remove the lemu-<pid> directories of lemus that are gone (killed by SIGKILL: no cleanup ran). */
static void remove_stale(const char *run_dir)
{
  DIR *d = opendir(run_dir);
  struct dirent *de;

  if (!d)
    return;
  while ((de = readdir(d))) {
    pid_t pid = util_gone_lemu(de->d_name);
    char *path;
    if (!pid)
      continue;
    path = util_asprintf("%s/%s", run_dir, de->d_name);
    if (path) {
      remove_base(path);
      logs_info("removed %s, left behind by a lemu (pid %d) that is gone", path, (int)pid);
    }
    free(path);
  }
  closedir(d);
}

lemu_err_t ephemeral_init(struct ephemeral *e)
{
  const char *rt = getenv("XDG_RUNTIME_DIR");
  const char *run_dir = rt && *rt ? rt : "/tmp";
  char *probe;

  memset(e, 0, sizeof(*e));
  remove_stale(run_dir);
  e->base = util_asprintf("%s/lemu-%d", run_dir, (int)getpid());
  if (!e->base || (mkdir(e->base, 0700) != 0 && errno != EEXIST))
    return LEMU_ERR_IO;
  /* Probe once whether lemu may mount (root or CAP_SYS_ADMIN). */
  probe = util_asprintf("%s/probe", e->base);
  if (probe && mkdir(probe, 0700) == 0) {
    if (mount("lemu-tmp", probe, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") == 0) {
      e->can_mount = true;
      umount2(probe, MNT_DETACH);
    }
    rmdir(probe);
  }
  free(probe);
  e->mode = ephemeral_choose_mode(false, e->can_mount, false);
  if (!e->can_mount)
    e->note = "cannot mount";
  return LEMU_ERR_OK;
}

/* ---- the template cache: pure parts ---- */

static void put_le(unsigned char *p, uint64_t v, int n)
{
  int i;

  for (i = 0; i < n; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
  uint64_t v = 0;
  int i;

  for (i = n - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

#define HASH_K 0x9e3779b97f4a7c15ULL
#define HASH_P 0xff51afd7ed558ccdULL

static uint64_t hash_word(uint64_t a, uint64_t w)
{
  a = (a ^ w) * HASH_P; /* odd multiplier, then xor-shift: both bijections of a */
  return a ^ (a >> 29);
}

uint64_t ephemeral_hash(uint64_t h, const void *p, size_t n)
{
  const unsigned char *b = p;
  uint64_t lane[4] = {h ^ HASH_K, h + HASH_K, h ^ HASH_P, h - HASH_P}, w;
  size_t i;

  /* Four independent lanes: the multiplies overlap (several GB/s); a template is 0.4-4.3 MB. */
  for (; n >= 32; b += 32, n -= 32)
    for (i = 0; i < 4; i++) {
      memcpy(&w, b + 8 * i, 8);
      lane[i] = hash_word(lane[i], w);
    }
  h = hash_word(hash_word(hash_word(lane[0], lane[1]), lane[2]), lane[3]);
  for (; n >= 8; b += 8, n -= 8) {
    memcpy(&w, b, 8);
    h = hash_word(h, w);
  }
  for (w = 0, i = 0; i < n; i++)
    w |= (uint64_t)b[i] << (8 * i);
  return hash_word(h, w ^ ((uint64_t)n << 56));
}

/* mkfs.ext4's options: part of a template's key, so changing them makes new templates. */
static const char *const mkfs_opts[] = {"-q", "-F", "-b", "4096", "-m", "0", "-O", "^has_journal",
                                        "-E", "lazy_itable_init=1,nodiscard", "-L", EPH_LABEL};
#define N_MKFS_OPTS (sizeof(mkfs_opts) / sizeof(mkfs_opts[0]))

static uint64_t hash_u64(uint64_t h, uint64_t v)
{
  unsigned char b[8];

  put_le(b, v, 8);
  return ephemeral_hash(h, b, 8);
}

static uint64_t hash_stat(uint64_t h, const struct stat *st)
{
  if (!st)
    return hash_u64(h, 0);
  h = hash_u64(h, 1);
  h = hash_u64(h, (uint64_t)st->st_dev);
  h = hash_u64(h, (uint64_t)st->st_ino);
  h = hash_u64(h, (uint64_t)st->st_size);
  h = hash_u64(h, (uint64_t)st->st_mtim.tv_sec);
  return hash_u64(h, (uint64_t)st->st_mtim.tv_nsec);
}

uint64_t ephemeral_template_key(const struct stat *mkfs, const struct stat *conf)
{
  uint64_t h = ephemeral_hash(0, EPH_RECORD_MAGIC, sizeof(EPH_RECORD_MAGIC));
  size_t i;

  h = hash_u64(h, EPH_TEMPLATE_FORMAT);
  h = hash_u64(h, EPH_SLACK_MB);
  for (i = 0; i < N_MKFS_OPTS; i++)
    h = ephemeral_hash(h, mkfs_opts[i], strlen(mkfs_opts[i]) + 1);
  h = hash_stat(h, mkfs);
  return hash_stat(h, conf);
}

int ephemeral_template_name(char *out, size_t n, int size_mb, uint64_t key)
{
  return snprintf(out, n, "ext4-%dm-%016llx.img", size_mb, (unsigned long long)key);
}

pid_t ephemeral_temp_pid(const char *name)
{
  return util_name_pid(name, EPH_TEMP_PREFIX, '-');
}

/* The record at offset 0 of a template (ext4 leaves its first 1024 bytes to boot loaders):
 *   0 magic[16]  16 format u32  20 size_mb u32  24 key u64  32 image bytes u64
 *  40 checksum u64  48 hash of bytes 0-47 u64   (little endian) */
void ephemeral_record_put(unsigned char *head, const struct ephemeral_record *r)
{
  memset(head, 0, EPH_RECORD_BYTES);
  memcpy(head, EPH_RECORD_MAGIC, sizeof(EPH_RECORD_MAGIC));
  put_le(head + 16, EPH_TEMPLATE_FORMAT, 4);
  put_le(head + 20, (uint64_t)r->size_mb, 4);
  put_le(head + 24, r->key, 8);
  put_le(head + 32, r->image_bytes, 8);
  put_le(head + 40, r->checksum, 8);
  put_le(head + 48, ephemeral_hash(0, head, 48), 8);
}

/* ext4 superblock fields (offsets from its start, 1024 bytes into the image) */
#define SB_OFF 1024
#define SB_BLOCKS_LO 0x04
#define SB_LOG_BLOCK 0x18
#define SB_MAGIC 0x38
#define SB_COMPAT 0x5c
#define SB_INCOMPAT 0x60
#define SB_LABEL 0x78
#define SB_BLOCKS_HI 0x150
#define EXT4_MAGIC 0xef53
#define EXT4_COMPAT_JOURNAL 0x4
#define EXT4_INCOMPAT_64BIT 0x80

const char *ephemeral_template_check(const unsigned char *head, unsigned long long file_bytes,
                                     int size_mb, uint64_t key, struct ephemeral_record *out)
{
  const unsigned char *sb = head + SB_OFF;
  uint64_t blocks;

  if (memcmp(head, EPH_RECORD_MAGIC, sizeof(EPH_RECORD_MAGIC)) != 0 ||
      get_le(head + 48, 8) != ephemeral_hash(0, head, 48))
    return "no lemu template record";
  if (get_le(head + 16, 4) != EPH_TEMPLATE_FORMAT || get_le(head + 24, 8) != key)
    return "another template format or mke2fs";
  out->size_mb = (int)get_le(head + 20, 4);
  out->key = key;
  out->image_bytes = get_le(head + 32, 8);
  out->checksum = get_le(head + 40, 8);
  if (out->size_mb != size_mb)
    return "another size";
  if (out->image_bytes != file_bytes || file_bytes < (unsigned long long)size_mb * MB)
    return "truncated or extended";
  if (get_le(sb + SB_MAGIC, 2) != EXT4_MAGIC || get_le(sb + SB_LOG_BLOCK, 4) != 2)
    return "not an ext4 file system of 4 KiB blocks";
  blocks = get_le(sb + SB_BLOCKS_LO, 4);
  if (get_le(sb + SB_INCOMPAT, 4) & EXT4_INCOMPAT_64BIT)
    blocks |= get_le(sb + SB_BLOCKS_HI, 4) << 32;
  if (blocks * 4096 != out->image_bytes)
    return "file system size differs from the image";
  if ((get_le(sb + SB_COMPAT, 4) & EXT4_COMPAT_JOURNAL) ||
      memcmp(sb + SB_LABEL, EPH_LABEL, sizeof(EPH_LABEL)) != 0)
    return "not a file system lemu made";
  return NULL;
}

/* ---- the template cache: files ---- */

/* The cache directory, $XDG_CACHE_HOME/lemu/ephemeral (~/.cache/...), made 0700 where missing.
 * NULL when there is none or it is not safe to mount what it holds: lemu (often root) mounts
 * these images, so the directory must be its own and writable by nobody else. */
static char *cache_dir(void)
{
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME"), *why = NULL;
  char *root = NULL, *lemu = NULL, *dir = NULL;
  struct stat st;

  if (xdg && xdg[0] == '/')
    root = util_strdup(xdg);
  else if (home && home[0] == '/')
    root = util_asprintf("%s/.cache", home);
  if (!root || !(lemu = util_asprintf("%s/lemu", root)) ||
      !(dir = util_asprintf("%s/lemu/ephemeral", root))) {
    why = root ? strerror(ENOMEM) : "no $XDG_CACHE_HOME or $HOME";
    goto out;
  }
  mkdir(root, 0700);
  mkdir(lemu, 0700);
  mkdir(dir, 0700);
  if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    why = "cannot create it";
  else if (st.st_uid != geteuid() || (st.st_mode & 022))
    why = "not owned by lemu's user, or writable by others";
  else if (access(dir, W_OK) != 0)
    why = "not writable";
out:
  if (why) {
    logs_info("TMPDIR templates are not cached (%s%s%s): each start formats one (mkfs.ext4)",
              dir ? dir : "", dir ? ": " : "", why);
    free(dir);
    dir = NULL;
  }
  free(root);
  free(lemu);
  return dir;
}

/* Remove the temporary files of template builds whose lemu is gone (killed mid-way). */
static void cache_sweep(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *de;

  if (!d)
    return;
  while ((de = readdir(d))) {
    if (util_pid_gone(ephemeral_temp_pid(de->d_name)))
      unlinkat(dirfd(d), de->d_name, 0);
  }
  closedir(d);
}

/* Remove the other templates of this size (another mke2fs or format): a new one replaces them. */
static void cache_prune(const char *dir, int size_mb, const char *keep)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  char prefix[32];
  size_t n = (size_t)snprintf(prefix, sizeof(prefix), "ext4-%dm-", size_mb);

  if (!d)
    return;
  while ((de = readdir(d)))
    if (!strncmp(de->d_name, prefix, n) && strcmp(de->d_name, keep) != 0)
      unlinkat(dirfd(d), de->d_name, 0);
  closedir(d);
}

/* mkfs.ext4: the first of $PATH, /usr/sbin, /sbin, /usr/bin that is executable; its path, with
 * its identity (the binary behind any symlink) in *st. NULL when there is none. */
static char *find_mkfs(struct stat *st)
{
  const char *path = getenv("PATH");
  char *dirs = util_asprintf("%s:/usr/sbin:/sbin:/usr/bin", path ? path : ""), *save = NULL, *d;
  char *found = NULL;

  for (d = dirs ? strtok_r(dirs, ":", &save) : NULL; d && !found; d = strtok_r(NULL, ":", &save)) {
    char *p = util_asprintf("%s/mkfs.ext4", d);
    if (p && d[0] == '/' && access(p, X_OK) == 0 && stat(p, st) == 0 && S_ISREG(st->st_mode))
      found = p;
    else
      free(p);
  }
  free(dirs);
  return found;
}

/* Run mkfs.ext4 on an image file; 0 on success. Only when a size has no valid template in the
 * cache: shelling out is simpler and safer than writing ext4 ourselves. The environment is
 * fixed (no MKE2FS_CONFIG and such), so what comes out depends only on the template's key. */
static int run_mkfs(const char *mkfs, const char *img)
{
  char *argv[N_MKFS_OPTS + 3], *envp[] = {"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
  int status;
  pid_t pid;
  size_t i;

  argv[0] = "mkfs.ext4";
  for (i = 0; i < N_MKFS_OPTS; i++)
    argv[i + 1] = (char *)mkfs_opts[i];
  argv[N_MKFS_OPTS + 1] = (char *)img;
  argv[N_MKFS_OPTS + 2] = NULL;
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    sigset_t none;
    int fd = open("/dev/null", O_RDWR);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (fd >= 0) {
      dup2(fd, 0);
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execve(mkfs, argv, envp);
    _exit(127);
  }
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* A loop device for img_fd (LO_FLAGS_AUTOCLEAR: it detaches itself when its file system is
 * unmounted). Returns its fd and writes its /dev path into dev, or -1. */
static int loop_attach(int ctl, int img_fd, const char *label, char *dev, size_t n)
{
  struct loop_config cfg;
  int tries, lfd;
  bool direct = true;

  for (tries = 0; tries < EPH_LOOP_TRIES; tries++) {
    int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
    if (nr < 0)
      return -1;
    snprintf(dev, n, "/dev/loop%d", nr);
    lfd = open(dev, O_RDWR | O_CLOEXEC);
    if (lfd < 0 && errno == ENOENT && mknod(dev, S_IFBLK | 0600, makedev(7, (unsigned)nr)) == 0)
      lfd = open(dev, O_RDWR | O_CLOEXEC);
    if (lfd < 0)
      return -1;
    memset(&cfg, 0, sizeof(cfg));
    cfg.fd = (unsigned)img_fd;
    cfg.block_size = 4096;
    /* Direct I/O: the image's blocks are not cached a second time in the host's page cache. */
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (direct ? LO_FLAGS_DIRECT_IO : 0);
    snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", label);
    if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
      return lfd;
    close(lfd);
    if (errno == EINVAL && direct) {
      direct = false;
      tries--;
    } else if (errno != EBUSY) {
      return -1;
    }
  }
  return -1;
}

/* Mount the image in img_fd at dir: 0 on success. */
static int loop_mount(int ctl, int img_fd, const char *label, const char *dir)
{
  char dev[64];
  int lfd = loop_attach(ctl, img_fd, label, dev, sizeof(dev)), rc;

  if (lfd < 0)
    return -1;
  rc = mount(dev, dir, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, EPH_MOUNT_OPTS);
  if (rc != 0)
    ioctl(lfd, LOOP_CLR_FD, 0);
  close(lfd);
  return rc;
}

/* A mounted, empty file system not yet given to an environment, or a TMPDIR to tear down. */
struct eph_slot {
  struct eph_slot *next;
  int size_mb;
  char *dir;
};

/* The loop mode's state. A worker thread keeps one spare file system mounted for each size in
 * use, so an environment's cold start only takes one from the list (a pointer, under a mutex),
 * and tears TMPDIRs down (empty, unmount, remove: ~2 ms) off lemu's event loop. It makes system
 * calls only; it never forks and never logs. */
struct ephemeral_loop {
  int ctl; /* /dev/loop-control */
  const char *base;
  char *cache; /* the template cache directory, NULL when there is none */
  char *mkfs;  /* mkfs.ext4's path */
  uint64_t key; /* the templates' key: mkfs.ext4's options and identity, the format */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t worker;
  bool worker_on, stop;
  struct ephemeral_template *templates;
  struct eph_slot *spare, *doomed;
  int sizes[EPH_MAX_SIZES]; /* keep a spare of these */
  size_t n_sizes;
  unsigned long seq; /* names tmp-<seq> */
  uint64_t taken_us;        /* util_now_us() of the last create_loop() */
  uint64_t refill_after_us; /* no spare is made before this (0: at once), see create_loop() */
};


/* How an environment's image is made from a template, best first; the first that fails with
 * "not here" (another file system, no reflinks) is not tried again for that template. */
enum eph_copy {
  EPH_COPY_CLONE,    /* FICLONE: share the template's blocks (btrfs, XFS, same file system) */
  EPH_COPY_RANGE,    /* copy_file_range of the allocated extents (in the kernel) */
  EPH_COPY_SENDFILE, /* sendfile of the extents (across file systems, any kernel) */
};

struct eph_extent {
  off_t off;
  off_t len;
};

/* A size's template: an open, validated image file (in the cache directory, or an unlinked one
 * in the run directory when there is no cache) and where its data is; nothing of its content
 * is kept in memory. Made by the main thread only (mkfs is its child, reaped before lemu's loop
 * could see it), added under the mutex, read by the worker, freed after it has stopped. */
struct ephemeral_template {
  struct ephemeral_template *next;
  int size_mb;
  int fd;
  unsigned long long bytes; /* image size */
  struct eph_extent *ext;
  size_t n_ext;
  int copy; /* enum eph_copy; shared hint, accessed atomically */
};

static void template_free(struct ephemeral_template *t)
{
  if (!t)
    return;
  if (t->fd >= 0)
    close(t->fd);
  free(t->ext);
  free(t);
}

/* The allocated extents of fd below end (SEEK_DATA / SEEK_HOLE) into t. */
static int read_extents(struct ephemeral_template *t, int fd, off_t end)
{
  off_t data = 0, hole;

  while (data < end && (data = lseek(fd, data, SEEK_DATA)) >= 0 && data < end) {
    struct eph_extent *x;
    hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0)
      return -1;
    if (hole > end)
      hole = end;
    x = realloc(t->ext, (t->n_ext + 1) * sizeof(*t->ext));
    if (!x)
      return -1;
    t->ext = x;
    t->ext[t->n_ext].off = data;
    t->ext[t->n_ext].len = hole - data;
    t->n_ext++;
    data = hole;
  }
  return data < 0 && errno != ENXIO ? -1 : 0;
}

static bool all_zero(const unsigned char *p, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

/* The checksum of an image: every non-zero 4 KiB block past the record, with its offset. Holes
 * and zero blocks count alike, so a copy that makes holes of zeros (cp --sparse) keeps it. Read
 * with pread (a file truncated meanwhile is an error, not a SIGBUS) into a buffer of its own
 * mapping, which leaves lemu's RSS with the unmap. */
static int image_checksum(const struct ephemeral_template *t, uint64_t *sum)
{
  const size_t cap = 256 * 1024;
  unsigned char *buf = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint64_t h = 0;
  size_t i;
  int rc = -1;

  if (buf == MAP_FAILED)
    return -1;
  for (i = 0; i < t->n_ext; i++) {
    off_t pos = t->ext[i].off < EPH_RECORD_AREA ? EPH_RECORD_AREA : t->ext[i].off;
    off_t end = t->ext[i].off + t->ext[i].len;
    while (pos < end) {
      off_t stop = (pos / (off_t)cap + 1) * (off_t)cap; /* reads end on block edges */
      size_t want = (size_t)((stop < end ? stop : end) - pos), k;
      ssize_t got = pread(t->fd, buf, want, pos);
      if (got <= 0) {
        if (got == 0)
          errno = EIO; /* shorter than its extents: truncated meanwhile */
        goto out;
      }
      /* by 4 KiB blocks of the file (the first starts at the record's end) */
      for (k = 0; k < (size_t)got;) {
        off_t at = pos + (off_t)k;
        size_t n = (size_t)(((at | 4095) + 1) - at);
        if (n > (size_t)got - k)
          n = (size_t)got - k;
        if (!all_zero(buf + k, n)) {
          h = hash_u64(h, (uint64_t)at);
          h = ephemeral_hash(h, buf + k, n);
        }
        k += n;
      }
      pos += got;
    }
  }
  *sum = h;
  rc = 0;
out:
  munmap(buf, cap);
  return rc;
}

/* A template from an open image: its record, superblock and checksum must hold. Takes fd.
 * NULL with *why set when it is not a valid template of size_mb for key. */
static struct ephemeral_template *template_load(int fd, int size_mb, uint64_t key, const char **why)
{
  struct ephemeral_template *t = calloc(1, sizeof(*t));
  unsigned char head[EPH_HEAD_BYTES];
  struct ephemeral_record rec;
  struct stat st;
  uint64_t sum;

  if (!t) {
    close(fd);
    *why = strerror(ENOMEM);
    return NULL;
  }
  t->fd = fd;
  t->size_mb = size_mb;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    *why = "not a regular file of lemu's user";
    goto fail;
  }
  if (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head)) {
    *why = "too short";
    goto fail;
  }
  if ((*why = ephemeral_template_check(head, (unsigned long long)st.st_size, size_mb, key, &rec)))
    goto fail;
  t->bytes = rec.image_bytes;
  if (read_extents(t, fd, (off_t)t->bytes) != 0 || image_checksum(t, &sum) != 0) {
    *why = strerror(errno);
    goto fail;
  }
  if (sum != rec.checksum) {
    *why = "checksum mismatch";
    goto fail;
  }
  return t;
fail:
  template_free(t);
  return NULL;
}

/* Format an image for size_mb in fd at path (at least size_mb MB free, at most EPH_SLACK_MB
 * more), fix its root (mode 1777, no lost+found, as Lambda's empty /tmp) and write its record.
 * mnt is an empty directory to measure it in. 0 on success. */
static int template_format(const char *mkfs, int ctl, int fd, const char *path, const char *mnt,
                           int size_mb, uint64_t key)
{
  unsigned long long want = (unsigned long long)size_mb * MB;
  struct ephemeral_template t = {.fd = fd, .size_mb = size_mb};
  struct ephemeral_record rec = {.size_mb = size_mb, .key = key};
  unsigned char head[EPH_RECORD_BYTES];
  int tries, ok = 0, rc = -1;

  t.bytes = ephemeral_image_bytes(size_mb);
  for (tries = 0; tries < 4 && !ok; tries++) {
    struct statvfs sv;
    unsigned long long avail;
    if (ftruncate(fd, 0) != 0 || ftruncate(fd, (off_t)t.bytes) != 0 || run_mkfs(mkfs, path) != 0 ||
        loop_mount(ctl, fd, "lemu template", mnt) != 0)
      goto out;
    if (statvfs(mnt, &sv) != 0) {
      umount2(mnt, 0);
      goto out;
    }
    avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
    if (avail >= want && avail <= want + EPH_SLACK_MB * MB) {
      char *lf = util_asprintf("%s/lost+found", mnt);
      if (lf)
        rmdir(lf);
      free(lf);
      chmod(mnt, 01777);
      ok = 1;
    }
    umount2(mnt, 0);
    if (!ok) /* metadata grows with the size: correct by the difference, aim 1 MB above */
      t.bytes = (t.bytes + want + MB - avail + 4095) & ~4095ULL;
  }
  if (!ok || read_extents(&t, fd, (off_t)t.bytes) != 0 || image_checksum(&t, &rec.checksum) != 0)
    goto out;
  rec.image_bytes = t.bytes;
  ephemeral_record_put(head, &rec);
  if (pwrite(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) || fsync(fd) != 0)
    goto out;
  rc = 0;
out:
  free(t.ext);
  return rc;
}

/* Make the template of size_mb: format it under a temporary name in the cache directory (or the
 * run directory when there is none), then rename it into place, so that neither two lemus
 * starting at once nor one killed mid-way leave a half-made template under the real name. */
static struct ephemeral_template *template_make(struct ephemeral_loop *l, int size_mb, const char *name)
{
  const char *dir = l->cache ? l->cache : l->base, *why = NULL;
  char *tmp = util_asprintf("%s/%s%d-%s", dir, EPH_TEMP_PREFIX, (int)getpid(), name);
  char *final = util_asprintf("%s/%s", dir, name);
  char *mnt = util_asprintf("%s/template-%d", l->base, size_mb);
  struct ephemeral_template *t = NULL;
  int fd = -1, dfd;

  if (!tmp || !final || !mnt || mkdir(mnt, 0700) != 0)
    goto out;
  unlink(tmp);
  fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 || template_format(l->mkfs, l->ctl, fd, tmp, mnt, size_mb, l->key) != 0)
    goto out;
  if (l->cache && rename(tmp, final) == 0) {
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
      fsync(dfd); /* the rename itself survives a crash */
      close(dfd);
    }
    cache_prune(dir, size_mb, name);
  }
  t = template_load(fd, size_mb, l->key, &why); /* takes fd */
  fd = -1;
  if (!t)
    logs_warn("TMPDIR template for %d MB: the image just made is not valid (%s)", size_mb, why);
out:
  if (fd >= 0)
    close(fd);
  if (tmp)
    unlink(tmp); /* no-op after the rename; the open fd keeps an uncached one */
  if (mnt)
    rmdir(mnt);
  free(tmp);
  free(final);
  free(mnt);
  return t;
}

static struct ephemeral_template *template_find(struct ephemeral_loop *l, int size_mb)
{
  struct ephemeral_template *t;

  for (t = l->templates; t; t = t->next)
    if (t->size_mb == size_mb)
      return t;
  return NULL;
}

/* The template of size_mb: already open, else the cached one if it is valid, else a new one
 * (one mkfs.ext4). Main thread only (see struct ephemeral_template). */
static struct ephemeral_template *template_get(struct ephemeral_loop *l, int size_mb)
{
  struct ephemeral_template *t;
  char name[64], *path = NULL;
  const char *why = NULL;
  uint64_t t0 = util_now_us();
  int fd;

  pthread_mutex_lock(&l->mu);
  t = template_find(l, size_mb);
  pthread_mutex_unlock(&l->mu);
  if (t)
    return t;
  ephemeral_template_name(name, sizeof(name), size_mb, l->key);
  if (l->cache && (path = util_asprintf("%s/%s", l->cache, name))) {
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && (t = template_load(fd, size_mb, l->key, &why)))
      logs_debug("TMPDIR template for %d MB reused: %s (%.2f ms)", size_mb, path,
                 (double)(util_now_us() - t0) / 1e3);
    else if (fd >= 0)
      logs_info("TMPDIR template %s is not valid (%s): making it again", path, why);
  }
  if (!t && (t = template_make(l, size_mb, name)))
    logs_debug("TMPDIR template for %d MB made: %s (mkfs.ext4, %.2f ms)", size_mb,
               path ? path : "in the run directory, no cache", (double)(util_now_us() - t0) / 1e3);
  free(path);
  if (t) {
    pthread_mutex_lock(&l->mu);
    t->next = l->templates;
    l->templates = t;
    pthread_mutex_unlock(&l->mu);
  }
  return t;
}

/* Fill the new, empty image in fd from t; 0 on success. */
static int image_copy(struct ephemeral_template *t, int fd)
{
  int how = __atomic_load_n(&t->copy, __ATOMIC_RELAXED);
  size_t i;

  if (how == EPH_COPY_CLONE) {
    if (ioctl(fd, FICLONE, t->fd) == 0)
      return 0;
    if (errno != EOPNOTSUPP && errno != EXDEV && errno != EINVAL && errno != ENOTTY &&
        errno != EPERM && errno != ENOSYS)
      return -1;
    __atomic_store_n(&t->copy, how = EPH_COPY_RANGE, __ATOMIC_RELAXED);
  }
  if (ftruncate(fd, (off_t)t->bytes) != 0)
    return -1;
  for (i = 0; i < t->n_ext; i++) {
    off_t in = t->ext[i].off, out = t->ext[i].off, end = t->ext[i].off + t->ext[i].len;
    ssize_t n = 1;
    while (in < end && how == EPH_COPY_RANGE &&
           (n = copy_file_range(t->fd, &in, fd, &out, (size_t)(end - in), 0)) > 0)
      ;
    if (n < 0 && how == EPH_COPY_RANGE) {
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return -1;
      __atomic_store_n(&t->copy, how = EPH_COPY_SENDFILE, __ATOMIC_RELAXED);
    }
    if (in < end && how == EPH_COPY_SENDFILE && lseek(fd, in, SEEK_SET) == in)
      while (in < end && (n = sendfile(fd, t->fd, &in, (size_t)(end - in))) > 0)
        ;
    if (in < end) {
      if (n == 0)
        errno = EIO; /* the template shrank under us */
      return -1;
    }
  }
  return 0;
}

/* A new TMPDIR path (the directory is made too). */
static char *next_dir(struct ephemeral_loop *l)
{
  unsigned long seq;
  char *dir;

  pthread_mutex_lock(&l->mu);
  seq = ++l->seq;
  pthread_mutex_unlock(&l->mu);
  dir = util_asprintf("%s/tmp-%lu", l->base, seq);
  if (dir && mkdir(dir, 0700) != 0) {
    free(dir);
    dir = NULL;
  }
  return dir;
}

/* Copy the template into a new sparse image, attach it to a loop device and mount it at dir.
 * The image is unlinked at once (the loop device holds it), so nothing but the mount is left to
 * clean up, even after a SIGKILL. */
static int fs_mount(struct ephemeral_loop *l, struct ephemeral_template *t, const char *dir)
{
  char *img = util_asprintf("%s.img", dir), label[LO_NAME_SIZE];
  int fd = -1, rc = -1, err;

  if (!img)
    goto out;
  fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || image_copy(t, fd) != 0)
    goto out;
  snprintf(label, sizeof(label), "lemu-%d %s", (int)getpid(), strrchr(dir, '/') + 1);
  rc = loop_mount(l->ctl, fd, label, dir);
out:
  err = errno;
  if (fd >= 0)
    close(fd);
  if (img)
    unlink(img);
  free(img);
  errno = err; /* for the caller's message */
  return rc;
}

/* Empty, unmount and remove a TMPDIR. Deleting the files first drops their dirty pages, so the
 * unmount has nothing to write back. */
static void fs_teardown(const char *dir)
{
  remove_tree(dir);
  umount2(dir, MNT_DETACH);
  remove_tree(dir);
}

static size_t count_spares(const struct ephemeral_loop *l, int size_mb)
{
  const struct eph_slot *s;
  size_t n = 0;

  for (s = l->spare; s; s = s->next)
    n += s->size_mb == size_mb;
  return n;
}

static void *worker_main(void *arg)
{
  struct ephemeral_loop *l = arg;
  uint64_t now_us;
  size_t i;

  pthread_mutex_lock(&l->mu);
  while (!l->stop || l->doomed) {
    struct eph_slot *s = l->doomed;
    struct ephemeral_template *t = NULL;
    if (s) {
      l->doomed = s->next;
      pthread_mutex_unlock(&l->mu);
      fs_teardown(s->dir);
      free(s->dir);
      free(s);
      pthread_mutex_lock(&l->mu);
      continue;
    }
    for (i = 0; i < l->n_sizes && !t; i++)
      if (count_spares(l, l->sizes[i]) == 0)
        t = template_find(l, l->sizes[i]);
    if (!t) {
      pthread_cond_wait(&l->cv, &l->mu);
      continue;
    }
    now_us = util_now_us(); /* read once: a second read could pass refill_after_us, and the
                             * unsigned difference would be a sleep of thousands of years */
    if (!l->stop && l->refill_after_us > now_us) {
      uint64_t wait_us = l->refill_after_us - now_us;
      struct timespec ts = {(time_t)(wait_us / 1000000u), (long)(wait_us % 1000000u) * 1000};

      pthread_mutex_unlock(&l->mu);
      nanosleep(&ts, NULL);
      pthread_mutex_lock(&l->mu);
      continue;
    }
    pthread_mutex_unlock(&l->mu);
    s = calloc(1, sizeof(*s));
    if (s && (s->dir = next_dir(l)) && fs_mount(l, t, s->dir) == 0) {
      s->size_mb = t->size_mb;
      pthread_mutex_lock(&l->mu);
      s->next = l->spare;
      l->spare = s;
      continue;
    }
    if (s && s->dir)
      rmdir(s->dir);
    if (s)
      free(s->dir);
    free(s);
    pthread_mutex_lock(&l->mu);
    for (i = 0; i < l->n_sizes; i++) /* cannot make one now (no loop device?): stop trying */
      if (l->sizes[i] == t->size_mb)
        l->sizes[i] = l->sizes[--l->n_sizes];
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

static void loop_free(struct ephemeral_loop *l)
{
  if (!l)
    return;
  if (l->worker_on) {
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->worker, NULL);
  }
  while (l->spare) {
    struct eph_slot *s = l->spare;
    l->spare = s->next;
    fs_teardown(s->dir);
    free(s->dir);
    free(s);
  }
  while (l->templates) {
    struct ephemeral_template *t = l->templates;
    l->templates = t->next;
    template_free(t);
  }
  if (l->ctl >= 0)
    close(l->ctl);
  free(l->cache);
  free(l->mkfs);
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

/* Start the loop mode: loop-control, mkfs.ext4, the template cache, the default template, the
 * worker. NULL with *why set when the loop mode is not possible here. */
static struct ephemeral_loop *loop_start(const char *base, const char **why)
{
  struct ephemeral_loop *l = calloc(1, sizeof(*l));
  struct stat mkfs, conf;
  sigset_t all, old;

  if (!l)
    return NULL;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  l->base = base;
  l->ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (l->ctl < 0) {
    *why = "no loop devices (/dev/loop-control), and a tmpfs would count against MemorySize";
    goto fail;
  }
  if (!(l->mkfs = find_mkfs(&mkfs))) {
    *why = "no mkfs.ext4 (e2fsprogs), and a tmpfs would count against MemorySize";
    goto fail;
  }
  l->key = ephemeral_template_key(&mkfs, stat("/etc/mke2fs.conf", &conf) == 0 ? &conf : NULL);
  if ((l->cache = cache_dir()))
    cache_sweep(l->cache);
  if (!template_get(l, EPH_DEFAULT_MB)) {
    *why = "cannot format or mount an ext4 image (mkfs.ext4, e2fsprogs), and a tmpfs would count "
           "against MemorySize";
    goto fail;
  }
  l->sizes[l->n_sizes++] = EPH_DEFAULT_MB;
  /* The worker takes no signal: lemu reads its own through a signalfd. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  l->worker_on = pthread_create(&l->worker, NULL, worker_main, l) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return l; /* without the worker, environments mount their own (slower) */
fail:
  loop_free(l);
  return NULL;
}

void ephemeral_memory_cgroups(struct ephemeral *e)
{
  if (e->can_mount)
    e->loop = loop_start(e->base, &e->note);
  e->mode = ephemeral_choose_mode(true, e->can_mount, e->loop != NULL);
}

void ephemeral_describe(const struct ephemeral *e, char *out, size_t n)
{
  switch (e->mode) {
  case EPHEMERAL_TMPFS:
    snprintf(out, n, "TMPDIR a size-limited tmpfs per environment (EphemeralStorage)");
    break;
  case EPHEMERAL_LOOP:
    snprintf(out, n, "TMPDIR a size-limited ext4 file system per environment on a loop device "
                     "(EphemeralStorage, sparse image on disk)");
    break;
  default:
    snprintf(out, n, "TMPDIR a directory per environment on disk, size not enforced (%s)",
             e->note ? e->note : "cannot mount");
  }
}

/* The loop mode: a spare file system of that size if the worker has one, else mount one now. */
static char *create_loop(struct ephemeral *e, int size_mb)
{
  struct ephemeral_loop *l = e->loop;
  struct eph_slot **p, *s = NULL;
  struct ephemeral_template *t;
  char *dir;
  size_t i;

  pthread_mutex_lock(&l->mu);
  for (p = &l->spare; *p; p = &(*p)->next)
    if ((*p)->size_mb == size_mb) {
      s = *p;
      *p = s->next;
      break;
    }
  pthread_mutex_unlock(&l->mu);
  if (s) {
    dir = s->dir;
    free(s);
  } else {
    t = template_get(l, size_mb); /* the first of a new size: from the cache, else mkfs */
    dir = next_dir(l);
    if (!t)
      errno = ENOENT; /* no template: mkfs.ext4 or its mount failed */
    if (dir && (!t || fs_mount(l, t, dir) != 0)) {
      /* Out of loop devices, say: the environment still runs, with an unlimited TMPDIR. */
      if (!e->loop_warned)
        logs_warn("TMPDIR %s: cannot mount a %d MB ext4 image (%s); its size is not enforced", dir,
                  size_mb, strerror(errno));
      e->loop_warned = true;
      chmod(dir, 01777);
    }
  }
  /* Keep a spare of this size from now on (a function's next cold start). After a lone cold
   * start it is made EPH_REFILL_DELAY_US later, not while the new environment starts: copying,
   * LOOP_CONFIGURE and mount take ~2 ms of the CPU the child and lemu need then. In a burst
   * (another take within the delay) it is made at once, as lemu's loop is busy spawning. */
  pthread_mutex_lock(&l->mu);
  {
    uint64_t now = util_now_us();

    l->refill_after_us = now - l->taken_us >= EPH_REFILL_DELAY_US ? now + EPH_REFILL_DELAY_US : 0;
    l->taken_us = now;
  }
  for (i = 0; i < l->n_sizes && l->sizes[i] != size_mb; i++)
    ;
  if (i == l->n_sizes && l->n_sizes < EPH_MAX_SIZES && template_find(l, size_mb))
    l->sizes[l->n_sizes++] = size_mb;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
  return dir;
}

char *ephemeral_create(struct ephemeral *e, unsigned long id, int size_mb)
{
  char *dir, opts[64];

  if (e->mode == EPHEMERAL_LOOP)
    return create_loop(e, size_mb);
  dir = util_asprintf("%s/env-%lu", e->base, id);
  if (!dir || (mkdir(dir, 0777) != 0 && errno != EEXIST)) {
    free(dir);
    return NULL;
  }
  if (e->mode == EPHEMERAL_TMPFS) {
    snprintf(opts, sizeof(opts), "size=%dm,mode=1777", size_mb);
    mount("lemu-tmp", dir, "tmpfs", MS_NOSUID | MS_NODEV, opts);
  }
  return dir;
}

void ephemeral_destroy(struct ephemeral *e, char *path)
{
  struct eph_slot *s;

  if (!path)
    return;
  if (e->mode == EPHEMERAL_LOOP && e->loop->worker_on && (s = calloc(1, sizeof(*s)))) {
    s->dir = path; /* the worker tears it down */
    pthread_mutex_lock(&e->loop->mu);
    s->next = e->loop->doomed;
    e->loop->doomed = s;
    pthread_cond_signal(&e->loop->cv);
    pthread_mutex_unlock(&e->loop->mu);
    return;
  }
  if (e->mode == EPHEMERAL_LOOP)
    fs_teardown(path);
  else {
    if (e->mode == EPHEMERAL_TMPFS)
      umount2(path, MNT_DETACH);
    remove_tree(path);
  }
  free(path);
}

void ephemeral_cleanup(struct ephemeral *e)
{
  loop_free(e->loop); /* the worker tears down what it was given first */
  if (e->base) {
    remove_base(e->base);
    free(e->base);
  }
  memset(e, 0, sizeof(*e));
}
