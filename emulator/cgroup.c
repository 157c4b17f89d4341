/* cgroup v1/v2 memory and pids groups per environment (see include/lemu/cgroup.h). Only plain file
 * operations: the paths are found from /proc/self/cgroup and /proc/self/mountinfo. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lemu/cgroup.h"
#include "lemu/logs.h"
#include "lemu/util.h"

#define CG_KILL_ROUNDS 20
#define CG_RMDIR_TRIES 50
#define CG_RMDIR_WAIT_NS (2 * 1000 * 1000)
#define CG_PARENT_PREFIX "lemu-"  /* lemu-<pid>: one lemu's groups, below the group it started in */
#define CG_STALE_MAX_DEPTH 4      /* lemu-<pid>/env-N (v2: also supervisor): no deeper groups */

static bool write_file(const char *dir, const char *name, const char *value)
{
  char path[4096];
  int fd;
  ssize_t n;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  n = write(fd, value, strlen(value));
  close(fd);
  return n == (ssize_t)strlen(value);
}

static bool read_file(const char *dir, const char *name, char *out, size_t n)
{
  char path[4096];
  ssize_t r;
  int fd;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  r = read(fd, out, n - 1);
  close(fd);
  if (r < 0)
    return false;
  out[r] = '\0';
  return true;
}

/* The mount point of a cgroup hierarchy (fstype "cgroup2", or "cgroup" with option opt) and the
 * hierarchy root it shows. */
static bool find_mount(const char *fstype, const char *opt, char *mnt, size_t mnt_n, char *root, size_t root_n)
{
  FILE *f = fopen("/proc/self/mountinfo", "r");
  char line[4096];
  bool found = false;

  if (!f)
    return false;
  while (!found && fgets(line, sizeof(line), f)) {
    char r[2048], m[2048], *sep = strstr(line, " - ");
    char type[64], src[256], opts[1024];
    if (!sep || sscanf(line, "%*s %*s %*s %2047s %2047s", r, m) != 2)
      continue;
    if (sscanf(sep + 3, "%63s %255s %1023s", type, src, opts) != 3)
      continue;
    if (strcmp(type, fstype) != 0)
      continue;
    if (opt) {
      char *tok, *save = NULL;
      bool has = false;
      for (tok = strtok_r(opts, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (!strcmp(tok, opt))
          has = true;
      if (!has)
        continue;
    }
    snprintf(mnt, mnt_n, "%s", m);
    snprintf(root, root_n, "%s", r);
    found = true;
  }
  fclose(f);
  return found;
}

/* lemu's own group path in a hierarchy: the v1 line naming controller, or the v2 "0::" line. */
static bool own_path(const char *controller, char *out, size_t n)
{
  FILE *f = fopen("/proc/self/cgroup", "r");
  char line[4096];
  bool found = false;

  if (!f)
    return false;
  while (!found && fgets(line, sizeof(line), f)) {
    char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL, *nl;
    if (!b)
      continue;
    *b = '\0';
    nl = strchr(b + 1, '\n');
    if (nl)
      *nl = '\0';
    if (controller) {
      char *tok, *save = NULL;
      for (tok = strtok_r(a + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (!strcmp(tok, controller))
          found = true;
    } else {
      found = a == line + 1 && line[0] == '0' && a[1] == '\0';
    }
    if (found)
      snprintf(out, n, "%s", b + 1);
  }
  fclose(f);
  return found;
}

/* Directory of lemu's group in a mounted hierarchy. */
static char *group_dir(const char *mnt, const char *root, const char *own)
{
  size_t rl = strlen(root);

  if (strcmp(root, "/") != 0 && strncmp(own, root, rl) == 0)
    own += rl;
  return util_asprintf("%s%s%s", mnt, own[0] == '/' ? "" : "/", strcmp(own, "/") ? own : "");
}

static int kill_listed(const char *dir);

/* Remove the group dir and every group below it, deepest first, after killing what still runs in
 * them (v2: cgroup.kill; v1: each listed pid). Returns how many groups are left (0: all gone). */
static int remove_group_tree(const char *dir, int depth)
{
  DIR *d = depth < CG_STALE_MAX_DEPTH ? opendir(dir) : NULL;
  struct dirent *de;
  int left = 0, round;

  if (d) {
    while ((de = readdir(d))) {
      char *sub;
      if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
        continue;
      sub = util_asprintf("%s/%s", dir, de->d_name);
      left += sub ? remove_group_tree(sub, depth + 1) : 1;
      free(sub);
    }
    closedir(d);
  }
  if (left)
    return left + 1; /* a group with groups below it cannot go */
  for (round = 0; round < CG_KILL_ROUNDS; round++) {
    struct timespec ts = {0, CG_RMDIR_WAIT_NS};
    if (rmdir(dir) == 0 || errno == ENOENT)
      return 0;
    if (errno != EBUSY || (!write_file(dir, "cgroup.kill", "1") && kill_listed(dir) == 0))
      break;
    nanosleep(&ts, NULL); /* killed processes are still exiting */
  }
  return 1;
}

/* Remove the "lemu-<pid>" groups under dir whose lemu is gone: one killed by SIGKILL (or the OOM
 * killer) had no chance to remove its own. A group whose pid is alive is never touched, even if
 * the pid now belongs to another program. One line says how many were removed. */
static void remove_stale_groups(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  int removed = 0, kept = 0;

  if (!d)
    return;
  while ((de = readdir(d))) {
    char *path;
    if (!util_gone_lemu(de->d_name))
      continue;
    path = util_asprintf("%s/%s", dir, de->d_name);
    if (path && remove_group_tree(path, 0) == 0)
      removed++;
    else
      kept++;
    free(path);
  }
  closedir(d);
  if (removed)
    logs_info("removed the cgroups of %d lemu%s that are gone, under %s", removed, removed == 1 ? "" : "s", dir);
  if (kept) /* still in use (processes exiting): the next start tries again */
    logs_info("kept the cgroups of %d lemu%s that are gone, still in use, under %s", kept, kept == 1 ? "" : "s", dir);
}

static char *make_parent(const char *dir)
{
  char *p;

  remove_stale_groups(dir);
  p = util_asprintf("%s/" CG_PARENT_PREFIX "%d", dir, (int)getpid());
  if (!p)
    return NULL;
  if (mkdir(p, 0755) != 0 && errno != EEXIST) {
    free(p);
    return NULL;
  }
  return p;
}

static bool try_v2(struct cgroup_sys *sys)
{
  char mnt[2048], root[2048], own[2048], ctl[512];
  char *g = NULL, *parent = NULL, *sup = NULL, *self = NULL;
  bool ok = false;

  if (!find_mount("cgroup2", NULL, mnt, sizeof(mnt), root, sizeof(root)) || !own_path(NULL, own, sizeof(own)))
    return false;
  g = group_dir(mnt, root, own);
  if (!g || !read_file(g, "cgroup.controllers", ctl, sizeof(ctl)) || !strstr(ctl, "memory")) {
    snprintf(sys->reason, sizeof(sys->reason), "cgroup v2 has no memory controller for lemu's group");
    goto out;
  }
  /* "No internal processes": lemu moves itself into <g>/lemu-<pid>/supervisor so <g> and
   * lemu-<pid> can delegate memory and pids to the environment groups below them. */
  parent = make_parent(g);
  sup = parent ? util_asprintf("%s/supervisor", parent) : NULL;
  self = util_asprintf("%d", (int)getpid());
  if (!sup || (mkdir(sup, 0755) != 0 && errno != EEXIST) || !write_file(sup, "cgroup.procs", self) ||
      (!write_file(g, "cgroup.subtree_control", "+memory +pids") &&
       !write_file(g, "cgroup.subtree_control", "+memory")) ||
      (!write_file(parent, "cgroup.subtree_control", "+memory +pids") &&
       !write_file(parent, "cgroup.subtree_control", "+memory"))) {
    snprintf(sys->reason, sizeof(sys->reason), "cannot delegate cgroup v2 controllers under %s (%s)",
             g, strerror(errno));
    if (sup) {
      write_file(g, "cgroup.procs", self); /* move back */
      rmdir(sup);
    }
    if (parent)
      rmdir(parent);
    goto out;
  }
  sys->mode = CGROUP_V2;
  sys->mem_base = parent;
  sys->moved_from = g;
  parent = g = NULL;
  ok = true;
out:
  free(self);
  free(sup);
  free(parent);
  free(g);
  return ok;
}

static bool try_v1(struct cgroup_sys *sys)
{
  char mnt[2048], root[2048], own[2048];
  char *g;

  if (!find_mount("cgroup", "memory", mnt, sizeof(mnt), root, sizeof(root)) ||
      !own_path("memory", own, sizeof(own)))
    return false;
  g = group_dir(mnt, root, own);
  sys->mem_base = g ? make_parent(g) : NULL;
  if (!sys->mem_base) {
    snprintf(sys->reason, sizeof(sys->reason), "cannot create a cgroup v1 memory group under %s (%s)",
             g ? g : "?", strerror(errno));
    free(g);
    return false;
  }
  free(g);
  if (find_mount("cgroup", "pids", mnt, sizeof(mnt), root, sizeof(root)) && own_path("pids", own, sizeof(own))) {
    g = group_dir(mnt, root, own);
    sys->pids_base = g ? make_parent(g) : NULL;
    free(g);
  }
  sys->mode = CGROUP_V1;
  return true;
}

void cgroup_sys_init(struct cgroup_sys *sys)
{
  memset(sys, 0, sizeof(*sys));
  sys->spare.attach_fd[0] = sys->spare.attach_fd[1] = sys->spare.dir_fd = sys->spare.peak_fd = -1;
  loop_timer_init(&sys->spare_timer, NULL, NULL);
  snprintf(sys->reason, sizeof(sys->reason), "no writable cgroup hierarchy with a memory controller");
  if (getenv("LEMU_NO_CGROUP"))
    snprintf(sys->reason, sizeof(sys->reason), "disabled by LEMU_NO_CGROUP");
  else if (!try_v2(sys))
    try_v1(sys);
}

const char *cgroup_mode_name(const struct cgroup_sys *sys)
{
  return sys->mode == CGROUP_V2 ? "cgroup v2" : sys->mode == CGROUP_V1 ? "cgroup v1" : "none";
}

void cgroup_sys_cleanup(struct cgroup_sys *sys)
{
  if (sys->spare.mem_dir)
    cgroup_env_destroy(&sys->spare); /* before its parent groups go */
  if (sys->mode == CGROUP_V2 && sys->mem_base && sys->moved_from) {
    char *sup = util_asprintf("%s/supervisor", sys->mem_base), self[16];
    snprintf(self, sizeof(self), "%d", (int)getpid());
    write_file(sys->moved_from, "cgroup.procs", self);
    if (sup)
      rmdir(sup);
    free(sup);
  }
  if (sys->mem_base)
    rmdir(sys->mem_base);
  if (sys->pids_base)
    rmdir(sys->pids_base);
  free(sys->mem_base);
  free(sys->pids_base);
  free(sys->moved_from);
  memset(sys, 0, sizeof(*sys));
}

static int open_in(const char *dir, const char *name, int flags)
{
  char path[4096];

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return open(path, flags | O_CLOEXEC);
}

/* Write the memory limit of an empty group; v1 wants memory.memsw.limit_in_bytes >= the limit at
 * all times, so a raise goes memsw first and a cut limit first (memsw is absent without swap
 * accounting: ignored, as lemu cannot do more there). */
static bool set_memory_limit(enum cgroup_mode mode, struct cgroup_env *env, int memory_mb)
{
  char bytes[32];
  bool ok;

  snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)memory_mb * 1024ull * 1024ull);
  if (mode == CGROUP_V2) {
    ok = write_file(env->mem_dir, "memory.max", bytes);
  } else if (env->memory_mb > 0 && memory_mb > env->memory_mb) {
    write_file(env->mem_dir, "memory.memsw.limit_in_bytes", bytes);
    ok = write_file(env->mem_dir, "memory.limit_in_bytes", bytes);
  } else {
    ok = write_file(env->mem_dir, "memory.limit_in_bytes", bytes);
    write_file(env->mem_dir, "memory.memsw.limit_in_bytes", bytes); /* no escape into swap */
  }
  if (ok)
    env->memory_mb = memory_mb;
  return ok;
}

/* Make the groups named name with their limits (no file of them is left open). */
static lemu_err_t group_make(const struct cgroup_sys *sys, const char *name, int memory_mb,
                             struct cgroup_env *env)
{
  char pids[16];

  env->mem_dir = env->pids_dir = NULL;
  env->attach_fd[0] = env->attach_fd[1] = env->dir_fd = env->peak_fd = -1;
  env->memory_mb = 0;
  snprintf(pids, sizeof(pids), "%d", CGROUP_MAX_PIDS);
  env->mem_dir = util_asprintf("%s/%s", sys->mem_base, name);
  if (!env->mem_dir || mkdir(env->mem_dir, 0755) != 0) {
    free(env->mem_dir);
    env->mem_dir = NULL; /* not ours to remove (EEXIST) */
    return LEMU_ERR_IO;
  }
  if (!set_memory_limit(sys->mode, env, memory_mb))
    goto fail;
  if (sys->mode == CGROUP_V2) {
    write_file(env->mem_dir, "memory.swap.max", "0");
    write_file(env->mem_dir, "pids.max", pids);
  } else if (sys->pids_base) {
    env->pids_dir = util_asprintf("%s/%s", sys->pids_base, name);
    if (env->pids_dir && mkdir(env->pids_dir, 0755) == 0) {
      write_file(env->pids_dir, "pids.max", pids);
    } else {
      free(env->pids_dir);
      env->pids_dir = NULL;
    }
  }
  return LEMU_ERR_OK;
fail:
  {
    int err = errno;
    cgroup_env_destroy(env);
    errno = err;
  }
  return LEMU_ERR_IO;
}

/* Open what the spawn (attach) and the peaks need: at the spawn, not in the spare, so an idle lemu
 * holds no file of a group no environment uses yet. */
static lemu_err_t group_open(enum cgroup_mode mode, struct cgroup_env *env)
{
  if (mode == CGROUP_V2) {
    env->attach_fd[0] = open_in(env->mem_dir, "cgroup.procs", O_WRONLY);
    env->dir_fd = open_in(env->mem_dir, ".", O_RDONLY | O_DIRECTORY);
    env->peak_fd = open_in(env->mem_dir, "memory.peak", O_RDONLY); /* absent before Linux 5.19 */
  } else {
    if (env->pids_dir)
      env->attach_fd[1] = open_in(env->pids_dir, "tasks", O_WRONLY);
    env->attach_fd[0] = open_in(env->mem_dir, "tasks", O_WRONLY);
    env->peak_fd = open_in(env->mem_dir, "memory.max_usage_in_bytes", O_RDONLY);
  }
  return env->attach_fd[0] >= 0 ? LEMU_ERR_OK : LEMU_ERR_IO;
}

void cgroup_make_spare(struct cgroup_sys *sys, int memory_mb)
{
  char name[32];

  if (sys->mode == CGROUP_NONE || sys->spare.mem_dir || memory_mb <= 0)
    return;
  snprintf(name, sizeof(name), "spare-%lu", ++sys->spare_seq);
  if (group_make(sys, name, memory_mb, &sys->spare) != LEMU_ERR_OK)
    sys->spare.mem_dir = NULL;
}

lemu_err_t cgroup_env_create(struct cgroup_sys *sys, unsigned long id, int memory_mb,
                             struct cgroup_env *env)
{
  char name[32];

  env->mem_dir = env->pids_dir = NULL;
  env->attach_fd[0] = env->attach_fd[1] = env->dir_fd = env->peak_fd = -1;
  env->memory_mb = 0;
  if (sys->mode == CGROUP_NONE)
    return LEMU_ERR_OK;
  if (sys->spare.mem_dir) {
    /* Made while idle, never held a process: its peak and OOM counters are still zero. */
    *env = sys->spare;
    sys->spare.mem_dir = sys->spare.pids_dir = NULL;
    sys->spare.attach_fd[0] = sys->spare.attach_fd[1] = sys->spare.dir_fd = sys->spare.peak_fd = -1;
    if ((env->memory_mb == memory_mb || set_memory_limit(sys->mode, env, memory_mb)) &&
        group_open(sys->mode, env) == LEMU_ERR_OK)
      return LEMU_ERR_OK;
    cgroup_env_destroy(env); /* cannot happen in practice; make a fresh one */
  }
  snprintf(name, sizeof(name), "env-%lu", id);
  if (group_make(sys, name, memory_mb, env) == LEMU_ERR_OK) {
    if (group_open(sys->mode, env) == LEMU_ERR_OK)
      return LEMU_ERR_OK;
    {
      int err = errno;
      cgroup_env_destroy(env);
      errno = err;
    }
  }
  logs_warn("cannot create the cgroup for an environment (%s); it runs without memory limit",
            strerror(errno));
  return LEMU_ERR_IO;
}

void cgroup_env_spawned(struct cgroup_env *env)
{
  int i;

  for (i = 0; i < 2; i++)
    if (env->attach_fd[i] >= 0) {
      close(env->attach_fd[i]);
      env->attach_fd[i] = -1;
    }
  if (env->dir_fd >= 0) {
    close(env->dir_fd);
    env->dir_fd = -1;
  }
}

int cgroup_env_peak_mb(const struct cgroup_env *env)
{
  char buf[32];
  ssize_t r;
  long long b;

  if (env->peak_fd < 0)
    return -1;
  r = pread(env->peak_fd, buf, sizeof(buf) - 1, 0);
  if (r <= 0)
    return -1;
  buf[r] = '\0';
  b = strtoll(buf, NULL, 10);
  return (int)((b + 1024 * 1024 - 1) / (1024 * 1024));
}

bool cgroup_env_oom_killed(const struct cgroup_env *env)
{
  char buf[1024], *p;

  if (!env->mem_dir)
    return false;
  if (!read_file(env->mem_dir, "memory.events", buf, sizeof(buf)) &&
      !read_file(env->mem_dir, "memory.oom_control", buf, sizeof(buf)))
    return false;
  p = strstr(buf, "oom_kill ");
  return p && strtol(p + 9, NULL, 10) > 0;
}

/* SIGKILL each pid listed in dir/cgroup.procs; returns how many were listed. */
static int kill_listed(const char *dir)
{
  char path[4096], line[32];
  FILE *f;
  int n = 0;

  snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
  f = fopen(path, "re");
  if (!f)
    return 0;
  while (fgets(line, sizeof(line), f)) {
    pid_t pid = (pid_t)strtol(line, NULL, 10);
    if (pid > 0) {
      kill(pid, SIGKILL);
      n++;
    }
  }
  fclose(f);
  return n;
}

void cgroup_env_kill_all(const struct cgroup_env *env)
{
  int round;

  if (!env->mem_dir)
    return;
  if (write_file(env->mem_dir, "cgroup.kill", "1"))
    return; /* v2 (5.14+): the kernel kills them all, forks included */
  for (round = 0; round < CG_KILL_ROUNDS; round++)
    if (kill_listed(env->mem_dir) + (env->pids_dir ? kill_listed(env->pids_dir) : 0) == 0)
      return;
}

void cgroup_env_destroy(struct cgroup_env *env)
{
  int i;

  cgroup_env_spawned(env);
  if (env->peak_fd >= 0) {
    close(env->peak_fd);
    env->peak_fd = -1;
  }
  for (i = 0; env->mem_dir && i < CG_RMDIR_TRIES; i++) {
    struct timespec ts = {0, CG_RMDIR_WAIT_NS};
    cgroup_env_kill_all(env);
    if (rmdir(env->mem_dir) == 0 || errno == ENOENT)
      break;
    nanosleep(&ts, NULL); /* killed processes are still exiting */
  }
  if (env->pids_dir)
    rmdir(env->pids_dir);
  free(env->mem_dir);
  free(env->pids_dir);
  env->mem_dir = env->pids_dir = NULL;
}
