/* Spawning handler processes (see include/lemu/sandbox.h). The seccomp deny list below is the one
 * table of what a handler may not do; docs/sandbox.md reproduces it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lemu/sandbox.h"
#include "lemu/util.h"

/* Syscalls a Lambda function cannot make; each returns EPERM inside the handler. */
static const char *const denied_syscalls[] = {
  "mount", "umount2", "pivot_root", "chroot", "reboot", "kexec_load", "kexec_file_load",
  "init_module", "finit_module", "delete_module", "swapon", "swapoff", "bpf", "perf_event_open",
  "keyctl", "add_key", "request_key", "setns", "unshare", "process_vm_readv", "process_vm_writev",
  "open_by_handle_at", "name_to_handle_at", "syslog", "acct", "settimeofday", "clock_settime",
  "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "iopl", "ioperm", "quotactl",
  "lookup_dcookie", "userfaultfd", NULL,
};

static lemu_err_t build_filter(struct sandbox *sb)
{
  scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
  lemu_err_t rc = LEMU_ERR_INVAL;
  size_t i, len;
  int fd = -1;
  struct stat st;

  if (!f)
    return LEMU_ERR_NOMEM;
  /* A binary tree over syscall numbers instead of a chain (same decisions): every spawn installs
   * the filter, and the kernel then runs it once per syscall number to build its action cache;
   * that install took ~70 us with the chain, ~44 us with the tree (a micro-benchmark). */
  seccomp_attr_set(f, SCMP_FLTATR_CTL_OPTIMIZE, 2); /* libseccomp 2.5+; on error the chain stays */
  for (i = 0; denied_syscalls[i]; i++) {
    int nr = seccomp_syscall_resolve_name(denied_syscalls[i]);
    if (nr != __NR_SCMP_ERROR && seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 0) != 0)
      goto out;
  }
  /* ptrace only of itself (PTRACE_TRACEME), as debuggers inside a function may do. */
  if (seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ptrace), 1,
                       SCMP_A0(SCMP_CMP_NE, PTRACE_TRACEME)) != 0)
    goto out;
  /* New namespaces through clone() are unshare() by another name. */
  for (i = 0; i < 7; i++) {
    static const unsigned long ns[] = {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                                       CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};
    if (seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, ns[i], ns[i])) != 0)
      goto out;
  }
  /* clone3 hides its flags in memory the filter cannot read: ENOSYS makes libc use clone(). */
  if (seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) != 0)
    goto out;
  fd = memfd_create("lemu-seccomp", MFD_CLOEXEC);
  if (fd < 0 || seccomp_export_bpf(f, fd) != 0 || fstat(fd, &st) != 0 || st.st_size <= 0)
    goto out;
  len = (size_t)st.st_size;
  sb->prog.filter = malloc(len);
  if (!sb->prog.filter || pread(fd, sb->prog.filter, len, 0) != (ssize_t)len) {
    free(sb->prog.filter);
    sb->prog.filter = NULL;
    goto out;
  }
  sb->prog.len = (unsigned short)(len / sizeof(struct sock_filter));
  rc = LEMU_ERR_OK;
out:
  if (fd >= 0)
    close(fd);
  seccomp_release(f);
  return rc;
}

lemu_err_t sandbox_init(struct sandbox *sb, bool seccomp)
{
  lemu_err_t rc = LEMU_ERR_OK, tmp_rc;

  memset(sb, 0, sizeof(*sb));
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  /* The signals a spawned child must reset: those not at their default now (none of lemu's own;
   * a sanitizer runtime installs some). Read once here rather than 64 calls per spawn. */
  sigemptyset(&sb->sig_reset);
  {
    int sig;
    for (sig = 1; sig < NSIG; sig++) {
      struct sigaction sa;
      if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL)
        sigaddset(&sb->sig_reset, sig);
    }
  }
  if (seccomp) {
    rc = build_filter(sb);
    sb->seccomp_on = rc == LEMU_ERR_OK;
  }
  tmp_rc = ephemeral_init(&sb->eph); /* TMPDIR base and mode (emulator/ephemeral.c) */
  return rc != LEMU_ERR_OK ? rc : tmp_rc;
}

void sandbox_cleanup(struct sandbox *sb)
{
  free(sb->prog.filter);
  ephemeral_cleanup(&sb->eph);
  memset(sb, 0, sizeof(*sb));
}

void sandbox_tmpdir_on_disk(struct sandbox *sb)
{
  ephemeral_memory_cgroups(&sb->eph);
}

void sandbox_describe(const struct sandbox *sb, char *out, size_t n)
{
  char tmp[200];

  ephemeral_describe(&sb->eph, tmp, sizeof(tmp));
  snprintf(out, n, "seccomp %s; %s", sb->seccomp_on ? "on" : "off (--no-sandbox)", tmp);
}

/* In the child: report errno to the parent and die. Async-signal-safe. */
static void child_fail(int fd, int err)
{
  ssize_t r;

  do {
    r = write(fd, &err, sizeof(err));
  } while (r < 0 && errno == EINTR);
  _exit(127);
}

struct spawn_child {
  const struct sandbox_spec *spec;
  int errfd;          /* write end of the CLOEXEC error pipe */
  pid_t parent;
  bool in_cgroup;     /* clone3 put it into its group already */
};

/* The child between clone and exec. With CLONE_VM it runs on spawn_stack in lemu's memory while
 * lemu is suspended (CLONE_VFORK), so it makes system calls only: no allocation, no stdio, no
 * write to anything of lemu's but errno (which lemu does not read after a successful clone). */
static int child_main(void *arg)
{
  const struct spawn_child *c = arg;
  const struct sandbox_spec *spec = c->spec;
  sigset_t none;
  int devnull, sig, i;
  struct rlimit nofile = {SANDBOX_NOFILE, SANDBOX_NOFILE};

  /* Signals lemu (or a sanitizer runtime) handles or ignores go back to their default; execve
   * resets handled ones itself, but an ignored one would stay ignored in the handler, and a
   * handler must not run here before execve. lemu itself installs none (it uses signalfd). */
  for (sig = 1; spec->sb && sig < NSIG; sig++)
    if (sigismember(&spec->sb->sig_reset, sig) == 1)
      signal(sig, SIG_DFL);
  if (setpgid(0, 0) < 0)
    child_fail(c->errfd, errno);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
    child_fail(c->errfd, errno);
  if (getppid() != c->parent) /* lemu died before prctl took effect */
    _exit(127);
  for (i = 0; !c->in_cgroup && spec->cgroup_fds && i < 2; i++) /* join the environment's groups */
    if (spec->cgroup_fds[i] >= 0 && write(spec->cgroup_fds[i], "0", 1) != 1)
      child_fail(c->errfd, errno);
  devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(spec->output_fd, STDOUT_FILENO) < 0 ||
      dup2(spec->output_fd, STDERR_FILENO) < 0)
    child_fail(c->errfd, errno);
  if (chdir(spec->cwd) < 0)
    child_fail(c->errfd, errno);
  /* Every fd but 0-2 closes at exec, also those lemu inherited without O_CLOEXEC. */
  if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
    int fd;
    for (fd = 3; fd < SANDBOX_NOFILE * 64; fd++)
      fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
    child_fail(c->errfd, errno);
  if (spec->sb && spec->sb->seccomp_on) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &spec->sb->prog) < 0)
      child_fail(c->errfd, errno);
  }
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(spec->path, spec->argv, spec->envp);
  child_fail(c->errfd, errno);
  return 127;
}

/* clone3's arguments up to .cgroup (CLONE_ARGS_SIZE_VER2), spelled out so no kernel header that
 * clashes with <sched.h> is needed. */
struct spawn_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
    set_tid_size, cgroup;
};
#define SPAWN_CLONE_INTO_CGROUP 0x200000000ULL

/* cgroup v2: a fork-like clone3 that starts the child inside its group, so nothing is attached
 * (an attach takes cgroup_threadgroup_rwsem for writing: an RCU grace period per cold start).
 * Returns the pid, 0 in the child, or -1 when the kernel cannot (then the child attaches itself
 * through cgroup.procs as before). Not CLONE_VM: clone3 has no libc wrapper that switches stacks.
 * Runs only on a cgroup v2 host: the machine the test suite was written on is cgroup v1 (hybrid),
 * where the child attaches itself through the v1 `tasks` files instead. */
static pid_t clone_into_cgroup(int dir_fd)
{
#ifdef SYS_clone3
  static bool unusable;
  struct spawn_clone_args args;
  long p;

  if (unusable)
    return -1;
  memset(&args, 0, sizeof(args));
  args.flags = SPAWN_CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = (uint64_t)dir_fd;
  p = syscall(SYS_clone3, &args, sizeof(args));
  if (p < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL || errno == EPERM))
    unusable = true; /* kernel older than 5.7, or clone3 filtered: do not try again */
  return (pid_t)p;
#else
  (void)dir_fd;
  return -1;
#endif
}

#if defined(__SANITIZE_ADDRESS__)
#define SPAWN_USE_FORK 1 /* ASan's shadow and fake stacks do not expect a CLONE_VM child */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPAWN_USE_FORK 1
#endif
#endif

#ifndef SPAWN_USE_FORK
/* The CLONE_VM child's stack: one at a time (lemu is one thread, and suspended while it runs). */
#define SPAWN_STACK_SIZE (64 * 1024)
static char spawn_stack[SPAWN_STACK_SIZE] __attribute__((aligned(64)));
#endif

lemu_err_t sandbox_spawn(const struct sandbox_spec *spec, pid_t *pid, int *exec_errno)
{
  int errpipe[2], child_err = 0, clone_errno = 0;
  struct spawn_child c = {.spec = spec, .parent = getpid()};
  pid_t p = -1;
  sigset_t all, old;
  ssize_t r;

  *exec_errno = 0;
  if (pipe2(errpipe, O_CLOEXEC) < 0) {
    *exec_errno = errno;
    return LEMU_ERR_SPAWN;
  }
  c.errfd = errpipe[1];
  /* Block every signal across the clone so no handler runs in the child. */
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  if (spec->cgroup_dir_fd >= 0) {
    p = clone_into_cgroup(spec->cgroup_dir_fd);
    if (p == 0) {
      c.in_cgroup = true;
      child_main(&c); /* does not return */
      _exit(127);
    }
  }
  if (p < 0) {
#ifdef SPAWN_USE_FORK
    p = fork();
    if (p == 0) {
      child_main(&c); /* does not return */
      _exit(127);
    }
#else
    /* Like posix_spawn: the child borrows lemu's memory until it execs (no page tables copied),
     * and clone returns once it has exec'd or died. */
    p = clone(child_main, spawn_stack + SPAWN_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
#endif
  }
  clone_errno = errno;
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(errpipe[1]);
  if (p < 0) {
    *exec_errno = clone_errno;
    close(errpipe[0]);
    return LEMU_ERR_SPAWN;
  }
  /* EOF = exec succeeded (the CLOEXEC pipe closed); 4 bytes = the child's errno. */
  do {
    r = read(errpipe[0], &child_err, sizeof(child_err));
  } while (r < 0 && errno == EINTR);
  close(errpipe[0]);
  *pid = p;
  if (r == (ssize_t)sizeof(child_err)) {
    /* The child has exited (127); the loop's SIGCHLD reaping collects it. */
    *exec_errno = child_err;
    return LEMU_ERR_SPAWN;
  }
  return LEMU_ERR_OK;
}
