/*
 * hostile-busyloop: takes an event and spins on the CPU, never answering, with every signal it
 * can ignore ignored (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1/2), so only SIGKILL ends it. With
 * Timeout 2 the caller gets Sandbox.Timedout after 2 s and the environment must be gone.
 * Bounded: it stops spinning and exits by itself after 30 s.
 */
#define _GNU_SOURCE
#include "../rapi.h"

#define NAME "hostile-busyloop"
#define MAX_SPIN_S 30.0

int main(void)
{
  static const int ignored[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE};
  struct rapi_resp ev;
  volatile unsigned long x = 0;
  double until;
  size_t i;

  for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
    signal(ignored[i], SIG_IGN);
  rapi_next(NAME, &ev);
  printf("spinning for %s\n", ev.request_id);
  fflush(stdout);
  until = rapi_now() + MAX_SPIN_S;
  for (;;) {
    x++;
    if ((x & 0xfffff) == 0 && rapi_now() > until)
      return 0;
  }
}
