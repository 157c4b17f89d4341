/* Ephemeral storage: each environment's /tmp (TMPDIR), size-limited to EphemeralStorage (see
 * include/lemu/ephemeral.h for the three modes and docs/sandbox.md for what each enforces). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/loop.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lemu/ephemeral.h"
#include "lemu/logs.h"
#include "lemu/util.h"

#define MB (1024ULL * 1024ULL)
#define EPH_DEFAULT_MB 512    /* EphemeralStorage.Size when not set; its template is made at start */
#define EPH_SLACK_MB 4        /* a formatted image may have up to this much more free than asked */
#define EPH_LOOP_TRIES 8      /* LOOP_CTL_GET_FREE races with other loop users */
#define EPH_MOUNT_OPTS "noinit_itable,errors=continue"
#define EPH_MAX_SIZES 8       /* sizes the worker keeps a spare file system of */

/* The allocated blocks of a freshly formatted image (everything else is a hole). Templates are
 * made by the main thread only (mkfs is its child, reaped before lemu's loop could see it), added
 * under the mutex, read by the worker, and freed after it has stopped. */
struct eph_extent {
  off_t off;
  size_t len;
  char *data;
};

struct ephemeral_template {
  struct ephemeral_template *next;
  int size_mb;
  unsigned long long bytes; /* image size */
  struct eph_extent *ext;
  size_t n_ext;
};

enum ephemeral_mode ephemeral_choose_mode(bool memory_cgroups, bool can_mount, bool loop_ready)
{
  if (!can_mount)
    return EPHEMERAL_DIR;
  if (!memory_cgroups)
    return EPHEMERAL_TMPFS;
  return loop_ready ? EPHEMERAL_LOOP : EPHEMERAL_DIR;
}

pid_t ephemeral_base_pid(const char *name)
{
  const char *p;
  long v = 0;

  if (strncmp(name, "lemu-", 5) != 0 || !name[5])
    return 0;
  for (p = name + 5; *p; p++) {
    if (*p < '0' || *p > '9' || v > 99999999)
      return 0;
    v = v * 10 + (*p - '0');
  }
  return (pid_t)v;
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
    pid_t pid = ephemeral_base_pid(de->d_name);
    char *path;
    if (pid <= 0 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
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

/* Run mkfs.ext4 on an image file; 0 on success. Once per size, at start or at the first
 * environment of that size: shelling out is simpler and safer than writing ext4 ourselves, and
 * environments never wait for it again (they copy the template). */
static int run_mkfs(const char *img)
{
  static const char *const paths[] = {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4", "/usr/bin/mkfs.ext4"};
  char *const argv[] = {"mkfs.ext4", "-q", "-F", "-b", "4096", "-m", "0", "-O", "^has_journal",
                        "-E", "lazy_itable_init=1,nodiscard", "-L", "lemu-tmp", (char *)img, NULL};
  int status;
  pid_t pid = fork();
  size_t i;

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
    execvp(argv[0], argv);
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
      execv(paths[i], argv);
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

static void template_free(struct ephemeral_template *t)
{
  size_t i;

  if (!t)
    return;
  for (i = 0; i < t->n_ext; i++)
    free(t->ext[i].data);
  free(t->ext);
  free(t);
}

/* Read the allocated extents of img into t. */
static int template_read(struct ephemeral_template *t, int fd)
{
  off_t end = (off_t)t->bytes, data = 0, hole;

  while (data < end && (data = lseek(fd, data, SEEK_DATA)) >= 0 && data < end) {
    struct eph_extent *x;
    hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0)
      return -1;
    x = realloc(t->ext, (t->n_ext + 1) * sizeof(*t->ext));
    if (!x)
      return -1;
    t->ext = x;
    x = &t->ext[t->n_ext];
    x->off = data;
    x->len = (size_t)(hole - data);
    if (!(x->data = malloc(x->len)))
      return -1;
    t->n_ext++;
    if (pread(fd, x->data, x->len, data) != (ssize_t)x->len)
      return -1;
    data = hole;
  }
  return data < 0 && errno != ENXIO ? -1 : 0;
}

/* Format an image for size_mb (at least size_mb MB free, at most EPH_SLACK_MB more), fix its
 * root (mode 1777, no lost+found, as Lambda's empty /tmp) and keep its allocated blocks. */
static struct ephemeral_template *template_make(int ctl, const char *base, int size_mb)
{
  struct ephemeral_template *t = calloc(1, sizeof(*t));
  char *img = util_asprintf("%s/template-%d.img", base, size_mb);
  char *mnt = util_asprintf("%s/template-%d", base, size_mb);
  unsigned long long want = (unsigned long long)size_mb * MB;
  int fd = -1, tries, ok = 0;

  if (!t || !img || !mnt || mkdir(mnt, 0700) != 0)
    goto fail;
  t->size_mb = size_mb;
  t->bytes = ephemeral_image_bytes(size_mb);
  for (tries = 0; tries < 4 && !ok; tries++) {
    struct statvfs sv;
    unsigned long long avail;
    if (fd >= 0)
      close(fd);
    unlink(img);
    fd = open(img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)t->bytes) != 0 || run_mkfs(img) != 0 ||
        loop_mount(ctl, fd, "lemu template", mnt) != 0)
      goto fail;
    if (statvfs(mnt, &sv) != 0) {
      umount2(mnt, 0);
      goto fail;
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
      t->bytes = (t->bytes + want + MB - avail + 4095) & ~4095ULL;
  }
  if (!ok || template_read(t, fd) != 0)
    goto fail;
  close(fd);
  unlink(img);
  rmdir(mnt);
  free(img);
  free(mnt);
  return t;
fail:
  if (fd >= 0)
    close(fd);
  if (img)
    unlink(img);
  if (mnt)
    rmdir(mnt);
  free(img);
  free(mnt);
  template_free(t);
  return NULL;
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
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t worker;
  bool worker_on, stop;
  struct ephemeral_template *templates;
  struct eph_slot *spare, *doomed;
  int sizes[EPH_MAX_SIZES]; /* keep a spare of these */
  size_t n_sizes;
  unsigned long seq; /* names tmp-<seq> */
};

static struct ephemeral_template *template_find(struct ephemeral_loop *l, int size_mb)
{
  struct ephemeral_template *t;

  for (t = l->templates; t; t = t->next)
    if (t->size_mb == size_mb)
      return t;
  return NULL;
}

/* Main thread only (see struct ephemeral_template). */
static struct ephemeral_template *template_get(struct ephemeral_loop *l, int size_mb)
{
  struct ephemeral_template *t;

  pthread_mutex_lock(&l->mu);
  t = template_find(l, size_mb);
  pthread_mutex_unlock(&l->mu);
  if (t)
    return t;
  t = template_make(l->ctl, l->base, size_mb);
  if (t) {
    pthread_mutex_lock(&l->mu);
    t->next = l->templates;
    l->templates = t;
    pthread_mutex_unlock(&l->mu);
  }
  return t;
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

/* Write the template's blocks into a new sparse image, attach it to a loop device and mount it at
 * dir. The image is unlinked at once (the loop device holds it), so nothing but the mount is left
 * to clean up, even after a SIGKILL. */
static int fs_mount(struct ephemeral_loop *l, const struct ephemeral_template *t, const char *dir)
{
  char *img = util_asprintf("%s.img", dir), label[LO_NAME_SIZE];
  int fd = -1, rc = -1, err;
  size_t i;

  if (!img)
    goto out;
  fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ftruncate(fd, (off_t)t->bytes) != 0)
    goto out;
  for (i = 0; i < t->n_ext; i++)
    if (pwrite(fd, t->ext[i].data, t->ext[i].len, t->ext[i].off) != (ssize_t)t->ext[i].len)
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
  size_t i;

  pthread_mutex_lock(&l->mu);
  while (!l->stop || l->doomed) {
    struct eph_slot *s = l->doomed;
    const struct ephemeral_template *t = NULL;
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
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->mu);
  free(l);
}

/* Start the loop mode: loop-control, the default template, the worker. NULL with *why set when
 * the loop mode is not possible here. */
static struct ephemeral_loop *loop_start(const char *base, const char **why)
{
  struct ephemeral_loop *l = calloc(1, sizeof(*l));
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
  const struct ephemeral_template *t;
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
    t = template_get(l, size_mb); /* the first of a new size formats one: ~20 ms, once */
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
  /* Keep a spare of this size from now on (a function's next cold start). */
  pthread_mutex_lock(&l->mu);
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
