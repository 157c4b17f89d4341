/* The epoll event loop (see include/lemu/loop.h). Watchers live in an fd-indexed table and each
 * epoll registration carries the watcher's generation, so an event for an fd that was closed
 * and reused within one batch is dropped instead of reaching the new owner. Timers are a binary
 * min-heap; the nearest one bounds epoll_wait's timeout. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lemu/loop.h"
#include "lemu/util.h"

#define LOOP_MAX_EVENTS 256
#define LOOP_MAX_PREPARE 8

struct watcher {
  loop_io_fn fn;
  void *cls;
  uint32_t gen;
  bool active;
};

struct loop {
  int epfd;
  int sigfd;
  bool stop;
  bool poked;
  int stop_signal;
  struct watcher *watchers;
  size_t n_watchers;
  uint32_t next_gen;
  struct loop_timer **heap;
  size_t heap_len, heap_cap;
  loop_child_fn child_fn;
  void *child_cls;
  struct {
    loop_prepare_fn fn;
    void *cls;
  } prepare[LOOP_MAX_PREPARE];
  size_t n_prepare;
};

struct loop *loop_create(void)
{
  struct loop *l = calloc(1, sizeof(*l));
  sigset_t mask;

  if (!l)
    return NULL;
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGPIPE);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  sigdelset(&mask, SIGPIPE); /* blocked only: writes to closed sockets return EPIPE */
  l->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (l->epfd < 0 || l->sigfd < 0) {
    loop_destroy(l);
    return NULL;
  }
  {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->sigfd, &ev) < 0) {
      loop_destroy(l);
      return NULL;
    }
  }
  return l;
}

void loop_destroy(struct loop *l)
{
  if (!l)
    return;
  if (l->epfd >= 0)
    close(l->epfd);
  if (l->sigfd >= 0)
    close(l->sigfd);
  free(l->watchers);
  free(l->heap);
  free(l);
}

static lemu_err_t watchers_grow(struct loop *l, int fd)
{
  size_t n = l->n_watchers ? l->n_watchers : 64;
  struct watcher *w;

  if ((size_t)fd < l->n_watchers)
    return LEMU_ERR_OK;
  while (n <= (size_t)fd)
    n *= 2;
  w = realloc(l->watchers, n * sizeof(*w));
  if (!w)
    return LEMU_ERR_NOMEM;
  memset(w + l->n_watchers, 0, (n - l->n_watchers) * sizeof(*w));
  l->watchers = w;
  l->n_watchers = n;
  return LEMU_ERR_OK;
}

lemu_err_t loop_watch(struct loop *l, int fd, uint32_t events, loop_io_fn fn, void *cls)
{
  struct epoll_event ev;
  struct watcher *w;
  uint32_t gen;

  if (fd < 0)
    return LEMU_ERR_INVAL;
  if (watchers_grow(l, fd))
    return LEMU_ERR_NOMEM;
  w = &l->watchers[fd];
  if (w->active)
    return LEMU_ERR_EXISTS; /* one watcher per fd: leave the existing one untouched */
  gen = ++l->next_gen;
  if (gen == 0)
    gen = ++l->next_gen; /* 0 marks an unwatched slot */
  ev.events = events;
  ev.data.u64 = ((uint64_t)gen << 32) | (uint32_t)fd;
  if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    return LEMU_ERR_IO;
  w->fn = fn;
  w->cls = cls;
  w->gen = gen;
  w->active = true;
  return LEMU_ERR_OK;
}

lemu_err_t loop_modify(struct loop *l, int fd, uint32_t events)
{
  struct epoll_event ev;

  if (fd < 0 || (size_t)fd >= l->n_watchers || !l->watchers[fd].active)
    return LEMU_ERR_INVAL;
  ev.events = events;
  ev.data.u64 = ((uint64_t)l->watchers[fd].gen << 32) | (uint32_t)fd;
  return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? LEMU_ERR_IO : LEMU_ERR_OK;
}

void loop_unwatch(struct loop *l, int fd)
{
  if (fd < 0 || (size_t)fd >= l->n_watchers || !l->watchers[fd].active)
    return;
  epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
  l->watchers[fd].active = false;
  l->watchers[fd].gen = 0;
}

/* ---- timers: binary min-heap on due_us ---- */

static void heap_swap(struct loop *l, size_t a, size_t b)
{
  struct loop_timer *t = l->heap[a];

  l->heap[a] = l->heap[b];
  l->heap[b] = t;
  l->heap[a]->heap_index = a;
  l->heap[b]->heap_index = b;
}

static void heap_up(struct loop *l, size_t i)
{
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (l->heap[p]->due_us <= l->heap[i]->due_us)
      break;
    heap_swap(l, p, i);
    i = p;
  }
}

static void heap_down(struct loop *l, size_t i)
{
  for (;;) {
    size_t c = 2 * i + 1, m = i;
    if (c < l->heap_len && l->heap[c]->due_us < l->heap[m]->due_us)
      m = c;
    if (c + 1 < l->heap_len && l->heap[c + 1]->due_us < l->heap[m]->due_us)
      m = c + 1;
    if (m == i)
      return;
    heap_swap(l, i, m);
    i = m;
  }
}

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn, void *cls)
{
  t->due_us = 0;
  t->heap_index = SIZE_MAX;
  t->fn = fn;
  t->cls = cls;
}

bool loop_timer_armed(const struct loop_timer *t)
{
  return t->heap_index != SIZE_MAX;
}

void loop_timer_stop(struct loop *l, struct loop_timer *t)
{
  size_t i = t->heap_index;

  if (i == SIZE_MAX)
    return;
  t->heap_index = SIZE_MAX;
  l->heap_len--;
  if (i != l->heap_len) {
    l->heap[i] = l->heap[l->heap_len];
    l->heap[i]->heap_index = i;
    heap_down(l, i);
    heap_up(l, i);
  }
}

lemu_err_t loop_timer_start(struct loop *l, struct loop_timer *t, uint64_t delay_us)
{
  loop_timer_stop(l, t);
  if (l->heap_len == l->heap_cap) {
    size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
    struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));
    if (!h)
      return LEMU_ERR_NOMEM;
    l->heap = h;
    l->heap_cap = cap;
  }
  t->due_us = util_now_us() + delay_us;
  t->heap_index = l->heap_len;
  l->heap[l->heap_len++] = t;
  heap_up(l, t->heap_index);
  return LEMU_ERR_OK;
}

void loop_set_child_handler(struct loop *l, loop_child_fn fn, void *cls)
{
  l->child_fn = fn;
  l->child_cls = cls;
}

lemu_err_t loop_add_prepare(struct loop *l, loop_prepare_fn fn, void *cls)
{
  if (l->n_prepare == LOOP_MAX_PREPARE)
    return LEMU_ERR_NOMEM;
  l->prepare[l->n_prepare].fn = fn;
  l->prepare[l->n_prepare].cls = cls;
  l->n_prepare++;
  return LEMU_ERR_OK;
}

void loop_poke(struct loop *l)
{
  l->poked = true;
}

void loop_stop(struct loop *l)
{
  l->stop = true;
}

static void loop_read_signals(struct loop *l)
{
  struct signalfd_siginfo si;
  bool reap = false;

  while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
    if (si.ssi_signo == SIGCHLD) {
      reap = true;
    } else {
      l->stop = true;
      l->stop_signal = (int)si.ssi_signo;
    }
  }
  /* SIGCHLD coalesces: reap every exited child, not one per signal. */
  while (reap) {
    struct rusage ru;
    int status;
    pid_t pid = wait4(-1, &status, WNOHANG, &ru);
    if (pid <= 0)
      break;
    if (l->child_fn)
      l->child_fn(pid, status, ru.ru_maxrss, l->child_cls);
  }
}

static void loop_run_timers(struct loop *l)
{
  uint64_t now = util_now_us();

  while (l->heap_len > 0 && l->heap[0]->due_us <= now) {
    struct loop_timer *t = l->heap[0];
    loop_timer_stop(l, t);
    t->fn(t->cls);
  }
}

int loop_run(struct loop *l)
{
  struct epoll_event events[LOOP_MAX_EVENTS];

  l->stop = false;
  while (!l->stop) {
    int n, i, timeout_ms = -1;
    bool busy = false;
    size_t k;

    l->poked = false;
    for (k = 0; k < l->n_prepare; k++)
      busy |= l->prepare[k].fn(l->prepare[k].cls);
    if (l->stop)
      break;
    busy |= l->poked; /* a later prepare queued work for an earlier one */
    if (busy) {
      timeout_ms = 0;
    } else if (l->heap_len > 0) {
      uint64_t now = util_now_us(), due = l->heap[0]->due_us;
      timeout_ms = due <= now ? 0 : (int)((due - now + 999) / 1000);
    }
    n = epoll_wait(l->epfd, events, LOOP_MAX_EVENTS, timeout_ms);
    if (n < 0 && errno != EINTR)
      break;
    for (i = 0; i < n; i++) {
      uint64_t data = events[i].data.u64;
      int fd = (int)(uint32_t)data;
      uint32_t gen = (uint32_t)(data >> 32);
      struct watcher *w;

      if (data == UINT64_MAX) {
        loop_read_signals(l);
        continue;
      }
      if ((size_t)fd >= l->n_watchers)
        continue;
      w = &l->watchers[fd];
      if (!w->active || w->gen != gen)
        continue; /* unwatched (and maybe reused) during this batch */
      w->fn(fd, events[i].events, w->cls);
    }
    loop_run_timers(l);
  }
  return l->stop_signal;
}
