/*
 * hostile-closedstdout: on its first invoke it prints one line, then closes fds 1 and 2 (the
 * pipe lemu reads the function's log from) and answers normally. Later invokes answer too, with
 * the log already gone. The answer says what a write to fd 1 gives once it is closed (EBADF)
 * and how many invokes this environment has served, so the caller can see the environment was
 * kept (warm) rather than discarded as if it had died.
 */
#define _GNU_SOURCE
#include "../rapi.h"

#define NAME "hostile-closedstdout"

int main(void)
{
  int served = 0, closed = 0;

  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    struct rapi_resp ev;
    char answer[256];
    const char *werr;
    ssize_t w;

    rapi_next(NAME, &ev);
    if (!closed) {
      printf("closing stdout and stderr now\n");
      fflush(stdout);
      close(STDOUT_FILENO);
      close(STDERR_FILENO);
      closed = 1;
    }
    w = write(STDOUT_FILENO, "lost\n", 5);
    werr = w < 0 ? strerrorname_np(errno) : "none";
    served++;
    snprintf(answer, sizeof(answer), "{\"closed\": true, \"write_errno\": \"%s\", \"served\": %d}",
             werr ? werr : "?", served);
    if (rapi_respond(ev.request_id, answer) != 202)
      return 1;
    rapi_free(&ev);
  }
}
