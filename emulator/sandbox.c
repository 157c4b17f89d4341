/* Spawning handler processes (see include/lemu/sandbox.h). The seccomp deny list below is the one
 * table of what a handler may not do; docs/sandbox.md reproduces it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
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

lemu_err_t sandbox_spawn(const struct sandbox_spec *spec, pid_t *pid, int *exec_errno)
{
  int errpipe[2], child_err = 0;
  pid_t parent = getpid(), p;
  sigset_t all, old;
  ssize_t r;

  *exec_errno = 0;
  if (pipe2(errpipe, O_CLOEXEC) < 0) {
    *exec_errno = errno;
    return LEMU_ERR_SPAWN;
  }
  /* Block every signal across fork so no handler of ours runs in the child. */
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old);
  p = fork();
  if (p == 0) {
    sigset_t none;
    int devnull, sig, i;
    struct rlimit nofile = {SANDBOX_NOFILE, SANDBOX_NOFILE};

    close(errpipe[0]);
    for (sig = 1; sig < NSIG; sig++)
      if (sig != SIGKILL && sig != SIGSTOP)
        signal(sig, SIG_DFL);
    if (setpgid(0, 0) < 0)
      child_fail(errpipe[1], errno);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
      child_fail(errpipe[1], errno);
    if (getppid() != parent) /* lemu died before prctl took effect */
      _exit(127);
    for (i = 0; spec->cgroup_fds && i < 2; i++) /* join the environment's groups */
      if (spec->cgroup_fds[i] >= 0 && write(spec->cgroup_fds[i], "0", 1) != 1)
        child_fail(errpipe[1], errno);
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(spec->output_fd, STDOUT_FILENO) < 0 ||
        dup2(spec->output_fd, STDERR_FILENO) < 0)
      child_fail(errpipe[1], errno);
    if (chdir(spec->cwd) < 0)
      child_fail(errpipe[1], errno);
    /* Every fd but 0-2 closes at exec, also those lemu inherited without O_CLOEXEC. */
    if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
      int fd;
      for (fd = 3; fd < SANDBOX_NOFILE * 64; fd++)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
      child_fail(errpipe[1], errno);
    if (spec->sb && spec->sb->seccomp_on) {
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
          syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &spec->sb->prog) < 0)
        child_fail(errpipe[1], errno);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(spec->path, spec->argv, spec->envp);
    child_fail(errpipe[1], errno);
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(errpipe[1]);
  if (p < 0) {
    *exec_errno = errno;
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
