/*
 * hostile-seccomp: tries each system call that lemu's seccomp filter refuses (the deny table in
 * emulator/sandbox.c) and answers a JSON object {"<syscall>": "<errno name>" or "OK"}. Under the
 * filter every one must be "EPERM".
 *
 * The arguments are chosen so that each call is harmless even without the filter (lemu
 * --no-sandbox, running as root), and so that it then fails with something other than EPERM
 * where the kernel allows it: a path that does not exist (ENOENT), a bad fd (EBADF), a NULL
 * pointer (EFAULT), a bad flag or magic number (EINVAL), an unknown command (EOPNOTSUPP), or a
 * read-only query (OK). Each probe runs in a child process of its own, so a call that does
 * succeed without the filter (unshare, clone with a namespace flag) changes nothing but that
 * child. Two probes are special:
 *   ptrace_parent  PTRACE_ATTACH to getppid() (lemu itself), from the handler process. Under the
 *                  filter it is EPERM. Should it succeed (no filter), the probe detaches at once.
 *   ptrace_child   PTRACE_ATTACH to a child of ours: the harmless way to see ptrace work.
 *   int80_getpid   (x86-64) getpid through the 32-bit ABI (int 0x80): a filter written for the
 *                  native ABI must not be bypassed that way; under lemu's the process is killed
 *                  with SIGSYS, reported as "KILLED_BY_SIGSYS".
 * A probe whose child dies of a signal is reported as "KILLED_BY_<SIGNAL>".
 * The event {"only": ["unshare", "keyctl", ...]} restricts the run to the named probes.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/wait.h>

#include "../rapi.h"

#define NAME "hostile-seccomp"
#define NOWHERE "/nonexistent-lemu-seccomp-probe"

static long sc(long nr, long a, long b, long c, long d, long e)
{
  return syscall(nr, a, b, c, d, e);
}

/* Each probe returns 0 on success or the errno. */
static int p_mount(void) { return sc(SYS_mount, (long)"none", (long)NOWHERE, (long)"tmpfs", 0, 0) ? errno : 0; }
static int p_umount2(void) { return sc(SYS_umount2, (long)NOWHERE, 0, 0, 0, 0) ? errno : 0; }
static int p_pivot_root(void) { return sc(SYS_pivot_root, (long)NOWHERE, (long)NOWHERE "/old", 0, 0, 0) ? errno : 0; }
static int p_chroot(void) { return sc(SYS_chroot, (long)NOWHERE, 0, 0, 0, 0) ? errno : 0; }
/* Wrong magic numbers: EINVAL once the capability check has passed; never reboots. */
static int p_reboot(void) { return sc(SYS_reboot, 0x1234, 0x5678, 0, 0, 0) ? errno : 0; }
static int p_kexec_load(void) { return sc(SYS_kexec_load, 0, 0, 0, 0x7fff0000, 0) ? errno : 0; }
static int p_kexec_file_load(void) { return sc(SYS_kexec_file_load, -1, -1, 0, 0, 0x7fff0000) ? errno : 0; }
static int p_init_module(void) { return sc(SYS_init_module, 0, 0, (long)"", 0, 0) ? errno : 0; }
static int p_finit_module(void) { return sc(SYS_finit_module, -1, (long)"", 0, 0, 0) ? errno : 0; }
static int p_delete_module(void) { return sc(SYS_delete_module, (long)"lemu_no_such_module", O_NONBLOCK, 0, 0, 0) ? errno : 0; }
static int p_swapon(void) { return sc(SYS_swapon, (long)NOWHERE, 0, 0, 0, 0) ? errno : 0; }
static int p_swapoff(void) { return sc(SYS_swapoff, (long)NOWHERE, 0, 0, 0, 0) ? errno : 0; }
static int p_bpf(void) { return sc(SYS_bpf, 0x7fff, 0, 0, 0, 0) ? errno : 0; }
static int p_perf_event_open(void) { return sc(SYS_perf_event_open, 0, 0, -1, -1, 0) ? errno : 0; }
static int p_keyctl(void) { return sc(SYS_keyctl, 0x7fff, 0, 0, 0, 0) ? errno : 0; }
static int p_add_key(void) { return sc(SYS_add_key, 0, 0, 0, 0, KEY_SPEC_PROCESS_KEYRING) ? errno : 0; }
static int p_request_key(void) { return sc(SYS_request_key, 0, 0, 0, KEY_SPEC_PROCESS_KEYRING, 0) ? errno : 0; }
static int p_setns(void) { return sc(SYS_setns, -1, 0, 0, 0, 0) ? errno : 0; }
/* Succeeds as root without the filter, in this probe's own child process only. */
static int p_unshare(void) { return sc(SYS_unshare, CLONE_NEWUTS, 0, 0, 0, 0) ? errno : 0; }
static int p_clone_newuts(void)
{
  long pid = sc(SYS_clone, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0)
    _exit(0);
  if (pid < 0)
    return errno;
  waitpid((pid_t)pid, NULL, 0);
  return 0;
}
static int p_process_vm_readv(void) { return sc(SYS_process_vm_readv, getpid(), 0, 0, 0, 0) < 0 ? errno : 0; }
static int p_process_vm_writev(void) { return sc(SYS_process_vm_writev, getpid(), 0, 0, 0, 0) < 0 ? errno : 0; }
static int p_open_by_handle_at(void) { return sc(SYS_open_by_handle_at, -1, 0, 0, 0, 0) < 0 ? errno : 0; }
static int p_name_to_handle_at(void) { return sc(SYS_name_to_handle_at, AT_FDCWD, (long)NOWHERE, 0, 0, 0) ? errno : 0; }
static int p_syslog(void) { return sc(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, 0, 0, 0, 0) < 0 ? errno : 0; }
static int p_acct(void) { return sc(SYS_acct, (long)NOWHERE "/acct", 0, 0, 0, 0) ? errno : 0; }
/* Both NULL: sets nothing. */
static int p_settimeofday(void) { return sc(SYS_settimeofday, 0, 0, 0, 0, 0) ? errno : 0; }
/* The monotonic clock cannot be set: EINVAL. */
static int p_clock_settime(void)
{
  struct timespec ts = {1, 0};
  return sc(SYS_clock_settime, CLOCK_MONOTONIC, (long)&ts, 0, 0, 0) ? errno : 0;
}
/* modes 0: a read-only query. */
static int p_clock_adjtime(void)
{
  struct timex tx;
  memset(&tx, 0, sizeof(tx));
  return sc(SYS_clock_adjtime, CLOCK_REALTIME, (long)&tx, 0, 0, 0) < 0 ? errno : 0;
}
static int p_adjtimex(void)
{
  struct timex tx;
  memset(&tx, 0, sizeof(tx));
  return sc(SYS_adjtimex, (long)&tx, 0, 0, 0, 0) < 0 ? errno : 0;
}
/* Negative length: EINVAL before anything is copied. */
static int p_sethostname(void) { return sc(SYS_sethostname, 0, -1, 0, 0, 0) ? errno : 0; }
static int p_setdomainname(void) { return sc(SYS_setdomainname, 0, -1, 0, 0, 0) ? errno : 0; }
static int p_iopl(void) { return sc(SYS_iopl, 4, 0, 0, 0, 0) ? errno : 0; }
static int p_ioperm(void) { return sc(SYS_ioperm, 0xffff0, 0x100, 0, 0, 0) ? errno : 0; }
static int p_quotactl(void) { return sc(SYS_quotactl, 0, 0, 0, 0, 0) ? errno : 0; }
static int p_lookup_dcookie(void) { return sc(SYS_lookup_dcookie, 0, 0, 0, 0, 0) ? errno : 0; }
static int p_userfaultfd(void)
{
  long fd = sc(SYS_userfaultfd, 0x7ffffff0, 0, 0, 0, 0);
  if (fd >= 0)
    close((int)fd);
  return fd < 0 ? errno : 0;
}
static int p_ptrace_child(void)
{
  pid_t kid = fork();
  int rc = 0;
  if (kid == 0) {
    alarm(5);
    for (;;)
      pause();
  }
  if (kid < 0)
    return errno;
  if (ptrace(PTRACE_ATTACH, kid, 0, 0) != 0) {
    rc = errno;
  } else {
    waitpid(kid, NULL, __WALL);
    ptrace(PTRACE_DETACH, kid, 0, 0);
  }
  kill(kid, SIGKILL);
  waitpid(kid, NULL, 0);
  return rc;
}

#if defined(__x86_64__)
static int p_int80_getpid(void)
{
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L /* i386 getpid */) : "memory");
  return r < 0 ? (int)-r : 0;
}
#endif

/* In the handler process itself: the target is lemu. */
static int p_ptrace_parent(void)
{
  pid_t parent = getppid();
  if (ptrace(PTRACE_ATTACH, parent, 0, 0) != 0)
    return errno;
  waitpid(parent, NULL, __WALL); /* it was stopped: let it go at once */
  ptrace(PTRACE_DETACH, parent, 0, 0);
  return 0;
}

static const struct probe {
  const char *name;
  int (*fn)(void);
  int in_child;
} probes[] = {
  {"mount", p_mount, 1}, {"umount2", p_umount2, 1}, {"pivot_root", p_pivot_root, 1},
  {"chroot", p_chroot, 1}, {"reboot", p_reboot, 1}, {"kexec_load", p_kexec_load, 1},
  {"kexec_file_load", p_kexec_file_load, 1}, {"init_module", p_init_module, 1},
  {"finit_module", p_finit_module, 1}, {"delete_module", p_delete_module, 1},
  {"swapon", p_swapon, 1}, {"swapoff", p_swapoff, 1}, {"bpf", p_bpf, 1},
  {"perf_event_open", p_perf_event_open, 1}, {"keyctl", p_keyctl, 1}, {"add_key", p_add_key, 1},
  {"request_key", p_request_key, 1}, {"setns", p_setns, 1}, {"unshare", p_unshare, 1},
  {"clone_newuts", p_clone_newuts, 1}, {"process_vm_readv", p_process_vm_readv, 1},
  {"process_vm_writev", p_process_vm_writev, 1}, {"open_by_handle_at", p_open_by_handle_at, 1},
  {"name_to_handle_at", p_name_to_handle_at, 1}, {"syslog", p_syslog, 1}, {"acct", p_acct, 1},
  {"settimeofday", p_settimeofday, 1}, {"clock_settime", p_clock_settime, 1},
  {"clock_adjtime", p_clock_adjtime, 1}, {"adjtimex", p_adjtimex, 1},
  {"sethostname", p_sethostname, 1}, {"setdomainname", p_setdomainname, 1}, {"iopl", p_iopl, 1},
  {"ioperm", p_ioperm, 1}, {"quotactl", p_quotactl, 1}, {"lookup_dcookie", p_lookup_dcookie, 1},
  {"userfaultfd", p_userfaultfd, 1}, {"ptrace_child", p_ptrace_child, 1},
  {"ptrace_parent", p_ptrace_parent, 0},
#if defined(__x86_64__)
  {"int80_getpid", p_int80_getpid, 1},
#endif
};

#define KILLED_BY(sig) (1000 + (sig))

/* Run fn in a child; its exit status carries the errno (0 = success), KILLED_BY(sig) when it
 * died of a signal. */
static int run(const struct probe *p)
{
  pid_t kid;
  int st;

  if (!p->in_child)
    return p->fn();
  kid = fork();
  if (kid == 0)
    _exit(p->fn() & 0xff);
  if (kid < 0)
    return errno;
  if (waitpid(kid, &st, 0) != kid)
    return 255;
  if (WIFSIGNALED(st))
    return KILLED_BY(WTERMSIG(st));
  return WEXITSTATUS(st);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    struct rapi_resp ev;
    char *out = NULL, pat[64];
    size_t len = 0, cap = 0, i;
    int only, first = 1;

    rapi_next(NAME, &ev);
    only = strstr(ev.body, "\"only\"") != NULL;
    rapi_append(&out, &len, &cap, "{", 0);
    for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
      int e;
      const char *name;
      char killed[64];
      snprintf(pat, sizeof(pat), "\"%s\"", probes[i].name);
      if (only && !strstr(ev.body, pat))
        continue;
      e = run(&probes[i]);
      if (e >= KILLED_BY(1)) {
        snprintf(killed, sizeof(killed), "KILLED_BY_SIG%s", sigabbrev_np(e - KILLED_BY(0)));
        name = killed;
      } else {
        name = e == 0 ? "OK" : e == 255 ? "CRASHED" : strerrorname_np(e);
      }
      rapi_appendf(&out, &len, &cap, "%s\"%s\": \"%s\"", first ? "" : ", ", probes[i].name,
                   name ? name : "?");
      first = 0;
    }
    rapi_append(&out, &len, &cap, "}", 0);
    if (rapi_respond(ev.request_id, out) != 202)
      rapi_die(NAME, "the /response was refused");
    free(out);
    rapi_free(&ev);
  }
}
