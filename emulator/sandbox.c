/* Spawning handler processes (see include/lemu/sandbox.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "lemu/sandbox.h"

void sandbox_init(void)
{
  prctl(PR_SET_CHILD_SUBREAPER, 1);
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
    int devnull, sig;

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
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(spec->output_fd, STDOUT_FILENO) < 0 ||
        dup2(spec->output_fd, STDERR_FILENO) < 0)
      child_fail(errpipe[1], errno);
    if (chdir(spec->cwd) < 0)
      child_fail(errpipe[1], errno);
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
  if (r == (ssize_t)sizeof(child_err)) {
    /* The child has exited (127); the loop's SIGCHLD reaping collects it. */
    *exec_errno = child_err;
    *pid = p;
    return LEMU_ERR_SPAWN;
  }
  *pid = p;
  return LEMU_ERR_OK;
}
