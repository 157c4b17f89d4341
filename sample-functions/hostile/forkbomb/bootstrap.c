/*
 * hostile-forkbomb: a fork bomb. On an invoke every process of the bomb forks again and again
 * (children fork too) until fork() fails, then sleeps. The runtime process reports after
 * {"seconds": S} (default 2) how many bomb processes it made and the errno of the first failure on
 * stdout, then, unless the event says {"answer": true}, never answers: the invocation runs into
 * its Timeout and lemu must kill every process of the environment.
 *
 * Bounded for the machine's sake even where lemu's process cap failed: the bomb stops forking
 * after 5000 forks in total (a counter in shared memory) or 5 s, and every bomb process dies of
 * SIGALRM at most 8 s after it was born. The runtime process gives up after 30 s.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "../rapi.h"

#define NAME "hostile-forkbomb"
#define MAX_FORKS 5000
#define MAX_SECONDS 5.0
#define BOMB_LIFETIME_S 8

struct shared {
  atomic_int forks;       /* successful forks, all processes together */
  atomic_int failures;
  atomic_int first_errno; /* 0 until the first failure */
};

static _Noreturn void bomb(struct shared *sh, double until)
{
  alarm(BOMB_LIFETIME_S); /* the backstop: SIGALRM's default action ends the process */
  while (rapi_now() < until && atomic_load(&sh->forks) < MAX_FORKS) {
    pid_t p = fork();
    if (p == 0) {
      alarm(BOMB_LIFETIME_S);
      continue; /* the child is a bomb too */
    }
    if (p > 0) {
      atomic_fetch_add(&sh->forks, 1);
      continue;
    }
    {
      int zero = 0;
      atomic_fetch_add(&sh->failures, 1);
      atomic_compare_exchange_strong(&sh->first_errno, &zero, errno);
    }
    break; /* fork failed: this process stops forking */
  }
  for (;;)
    pause();
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  signal(SIGCHLD, SIG_IGN); /* bomb processes that die are reaped by the kernel */
  for (;;) {
    struct rapi_resp ev;
    struct shared *sh;
    double seconds, start;
    char answer[256];
    const char *err;
    pid_t root;

    rapi_next(NAME, &ev);
    seconds = rapi_json_num(ev.body, "seconds", 2);
    if (seconds > MAX_SECONDS)
      seconds = MAX_SECONDS;
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
      rapi_die(NAME, "mmap: %s", strerror(errno));
    memset(sh, 0, sizeof(*sh));
    start = rapi_now();
    root = fork();
    if (root == 0)
      bomb(sh, start + seconds);
    if (root < 0)
      rapi_die(NAME, "first fork failed: %s", strerror(errno));
    rapi_sleep(start + seconds - rapi_now());
    err = atomic_load(&sh->first_errno) ? strerrorname_np(atomic_load(&sh->first_errno)) : "none";
    snprintf(answer, sizeof(answer), "{\"bomb_processes\": %d, \"failures\": %d, \"first_errno\": \"%s\"}",
             atomic_load(&sh->forks) + 1, atomic_load(&sh->failures), err ? err : "?");
    printf("forkbomb result %s\n", answer);
    fflush(stdout);
    if (strstr(ev.body, "\"answer\": true") || strstr(ev.body, "\"answer\":true")) {
      rapi_respond(ev.request_id, answer);
    } else {
      rapi_sleep(30); /* wait for the timeout; exit on our own if it never comes */
      return 0;
    }
    munmap(sh, sizeof(*sh));
    rapi_free(&ev);
  }
}
