/* What happens between clone and exec of a handler process: its own process group, death with
 * lemu (PR_SET_PDEATHSIG), its environment's cgroups, Lambda's rlimits, a seccomp filter refusing
 * what Lambda refuses, a clean signal mask, stdin from /dev/null, stdout+stderr into one pipe
 * (Lambda merges them into one log stream), cwd at the code directory, Lambda's environment.
 * Only async-signal-safe calls run in the child (the seccomp program is compiled by libseccomp in
 * the parent, once); an exec failure comes back as an errno through a CLOEXEC pipe (libuv's
 * uv_spawn pattern). The per-environment TMPDIR is emulator/ephemeral.c's (struct sandbox
 * holds its state). */
#ifndef LEMU_SANDBOX_H
#define LEMU_SANDBOX_H

#include <linux/filter.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "lemu/ephemeral.h"
#include "lemu/err.h"

#define SANDBOX_NOFILE 1024 /* Lambda's file descriptor limit */

/* Process-wide sandbox state, built once at start. */
struct sandbox {
  bool seccomp_on;
  struct sock_fprog prog;   /* the compiled filter (owned) */
  sigset_t sig_reset;       /* signals not at SIG_DFL when lemu started: reset in each child */
  struct ephemeral eph;     /* per-environment TMPDIRs (emulator/ephemeral.c) */
};

struct sandbox_spec {
  const char *path;        /* program to exec */
  char *const *argv;
  char *const *envp;
  const char *cwd;
  int output_fd;           /* becomes the child's stdout and stderr */
  const int *cgroup_fds;   /* 2 fds to write "0" into to join the groups (-1 = none), or NULL */
  int cgroup_dir_fd;       /* cgroup v2 group to start in with clone3(CLONE_INTO_CGROUP), or -1 */
  const struct sandbox *sb;
};

/* Build the sandbox: seccomp (unless disabled), TMPDIR base. Makes lemu the reaper of its
 * handlers' orphans. Logs nothing; sandbox_describe() says what is in force. */
lemu_err_t sandbox_init(struct sandbox *sb, bool seccomp);
void sandbox_cleanup(struct sandbox *sb);
/* Environments are in memory cgroups: a tmpfs TMPDIR would be charged to the handler's memory
 * (Lambda's /tmp is disk), so TMPDIRs move to disk (ephemeral_memory_cgroups()). */
void sandbox_tmpdir_on_disk(struct sandbox *sb);
/* One line for the startup log. */
void sandbox_describe(const struct sandbox *sb, char *out, size_t n);

/* Start the process: clone(CLONE_VM | CLONE_VFORK) (fork() in an ASan build), or on cgroup v2
 * clone3(CLONE_INTO_CGROUP) with the attach through cgroup_fds as the fallback. On success *pid is its pid (also its process group id). LEMU_ERR_SPAWN with
 * *exec_errno set when fork or exec failed (ENOENT for a missing bootstrap, EACCES when it is not
 * executable, ...). */
lemu_err_t sandbox_spawn(const struct sandbox_spec *spec, pid_t *pid, int *exec_errno);

#endif
