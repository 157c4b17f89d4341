/* lemu's one event loop: epoll for fds, a binary heap of timers, signalfd for SIGCHLD and the
 * stop signals. Everything that waits in lemu (an Invoke waiting for its handler, a runtime's
 * /next, a timeout, a child exit) is an event here, never a blocked thread (design.md §2). */
#ifndef LEMU_LOOP_H
#define LEMU_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lemu/err.h"

struct loop;

typedef void (*loop_io_fn)(int fd, uint32_t events, void *cls);
typedef void (*loop_timer_fn)(void *cls);
/* A reaped child: pid, its wait status and its peak resident set size in KB (from wait4). */
typedef void (*loop_child_fn)(pid_t pid, int status, long maxrss_kb, void *cls);
/* Called once per iteration before the loop sleeps (libmicrohttpd resumes run here). Returns
 * true when it still has work buffered, so the loop polls instead of sleeping. */
typedef bool (*loop_prepare_fn)(void *cls);

/* A timer is embedded by its owner (caller-owned memory); the loop only links it. */
struct loop_timer {
  uint64_t due_us;
  size_t heap_index; /* position in the heap, or SIZE_MAX when not armed */
  loop_timer_fn fn;
  void *cls;
};

/* Creates the loop and blocks SIGCHLD, SIGTERM, SIGINT, SIGPIPE for the process (children get
 * their mask reset by sandbox). Returns NULL on failure with errno set. */
struct loop *loop_create(void);
void loop_destroy(struct loop *l);

/* Watch fd for events (EPOLLIN|...); one watcher per fd. */
lemu_err_t loop_watch(struct loop *l, int fd, uint32_t events, loop_io_fn fn, void *cls);
lemu_err_t loop_modify(struct loop *l, int fd, uint32_t events);
/* Stop watching fd (call before closing it). Safe to call from inside a callback. */
void loop_unwatch(struct loop *l, int fd);

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn, void *cls);
/* (Re)arm t to fire after delay_us. */
lemu_err_t loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t delay_us);
void loop_timer_stop(struct loop *l, struct loop_timer *t);
bool loop_timer_armed(const struct loop_timer *t);

void loop_set_child_handler(struct loop *l, loop_child_fn fn, void *cls);
lemu_err_t loop_add_prepare(struct loop *l, loop_prepare_fn fn, void *cls);

/* Make the next iteration poll instead of sleep: something queued work that a prepare callback
 * will pick up (e.g. a connection resumed from another daemon's callback). */
void loop_poke(struct loop *l);

/* Runs until loop_stop() or a stop signal (SIGTERM/SIGINT). Returns the signal number that
 * stopped it, or 0. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
