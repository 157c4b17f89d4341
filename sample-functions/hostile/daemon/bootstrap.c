/*
 * hostile-daemon: on an invoke it starts a daemon the classic way (fork, setsid, fork again,
 * stdio to /dev/null, cwd /), so the grandchild is in neither the handler's process group nor its
 * session: only the environment's cgroup still holds it. The grandchild writes "<pid> <n>\n" to
 * the event's {"marker": "/path"} every 100 ms. What the handler does next comes from
 * {"then": ...}:
 *   "answer" (default) answers {"grandchild": pid}; the environment stays warm, daemon included
 *   "exit"   answers, then the runtime exits (the environment ends between invokes)
 *   "crash"  exits with status 9 without answering (Runtime.ExitError)
 *   "hang"   never answers (Sandbox.Timedout after the Timeout)
 * The daemon must die with its environment. Bounded: it exits by itself after 30 s.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../rapi.h"

#define NAME "hostile-daemon"
#define DAEMON_LIFETIME_S 30.0

/* The daemon: tells the handler its pid through report_fd once the marker has been written
 * the first time (so the handler's next step cannot race it), then keeps writing it. */
static _Noreturn void daemon_loop(const char *marker, int report_fd)
{
  double until = rapi_now() + DAEMON_LIFETIME_S;
  long n = 0;
  int null = open("/dev/null", O_RDWR);

  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2)
      close(null);
  }
  if (chdir("/") != 0)
    _exit(1);
  while (rapi_now() < until) {
    char line[64];
    int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      int len = snprintf(line, sizeof(line), "%d %ld\n", (int)getpid(), n++);
      if (write(fd, line, (size_t)len) != len)
        _exit(1);
      close(fd);
    }
    if (report_fd >= 0) {
      pid_t self = getpid();
      if (write(report_fd, &self, sizeof(self)) != (ssize_t)sizeof(self))
        _exit(1);
      close(report_fd);
      report_fd = -1;
    }
    rapi_sleep(0.1);
  }
  _exit(0);
}

/* Double fork + setsid; returns the daemon's pid (read from a pipe once it has written the
 * marker), or -1. */
static pid_t start_daemon(const char *marker)
{
  int fds[2];
  pid_t child, daemon_pid = -1;

  if (pipe(fds) != 0)
    return -1;
  child = fork();
  if (child == 0) {
    pid_t g;
    close(fds[0]);
    setsid();
    g = fork();
    if (g == 0)
      daemon_loop(marker, fds[1]);
    _exit(g > 0 ? 0 : 1); /* the daemon is now an orphan */
  }
  close(fds[1]);
  if (child > 0) {
    if (read(fds[0], &daemon_pid, sizeof(daemon_pid)) != (ssize_t)sizeof(daemon_pid))
      daemon_pid = -1;
    waitpid(child, NULL, 0);
  }
  close(fds[0]);
  return daemon_pid;
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    struct rapi_resp ev;
    char marker_buf[512], then_buf[16], answer[128];
    const char *marker, *then;
    pid_t d;

    rapi_next(NAME, &ev);
    marker = rapi_json_str(ev.body, "marker", marker_buf, sizeof(marker_buf), "/dev/null");
    then = rapi_json_str(ev.body, "then", then_buf, sizeof(then_buf), "answer");
    d = start_daemon(marker);
    printf("daemon %d started, then %s\n", (int)d, then);
    fflush(stdout);
    snprintf(answer, sizeof(answer), "{\"grandchild\": %d}", (int)d);
    if (!strcmp(then, "crash"))
      exit(9);
    if (!strcmp(then, "hang")) {
      rapi_sleep(30);
      return 0;
    }
    rapi_respond(ev.request_id, answer);
    if (!strcmp(then, "exit"))
      return 0;
    rapi_free(&ev);
  }
}
