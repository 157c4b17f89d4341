/* Pins the event loop: timers fire in due order (not start order), a stopped timer never fires,
 * even when stopped by a timer of the same batch; loop_stop ends loop_run (returning 0) and a
 * pending SIGTERM ends it returning SIGTERM; fd watchers fire on a pipe, and one unwatched inside
 * a callback gets no further events; SIGCHLD reaps a child and reports its status. */
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

#include "lemu/loop.h"
#include "lemu/util.h"

#define GUARD_US (2 * 1000 * 1000) /* no test waits this long unless the loop is broken */

struct ctx {
  struct loop *l;
  int order[16];
  int n;
  bool guard_fired;
};

static void guard_fn(void *cls)
{
  struct ctx *c = cls;

  c->guard_fired = true;
  loop_stop(c->l);
}

/* A timer that records its id into the shared order. */
struct rec_timer {
  struct loop_timer t;
  struct ctx *c;
  int id;
  bool stop_loop;
  struct rec_timer *to_stop; /* stop this other timer when firing */
  int rearm;                 /* re-arm itself this many more times */
};

static void rec_fn(void *cls)
{
  struct rec_timer *r = cls;

  r->c->order[r->c->n++] = r->id;
  if (r->to_stop)
    loop_timer_stop(r->c->l, &r->to_stop->t);
  if (r->rearm > 0) {
    r->rearm--;
    assert_int_equal(loop_timer_start(r->c->l, &r->t, 1000), LEMU_ERR_OK);
    return;
  }
  if (r->stop_loop)
    loop_stop(r->c->l);
}

static void rec_init(struct rec_timer *r, struct ctx *c, int id)
{
  memset(r, 0, sizeof(*r));
  r->c = c;
  r->id = id;
  loop_timer_init(&r->t, rec_fn, r);
}

static struct loop *new_loop(struct ctx *c, struct loop_timer *guard)
{
  memset(c, 0, sizeof(*c));
  c->l = loop_create();
  assert_non_null(c->l);
  loop_timer_init(guard, guard_fn, c);
  assert_int_equal(loop_timer_start(c->l, guard, GUARD_US), LEMU_ERR_OK);
  return c->l;
}

static void busy_wait_us(uint64_t us)
{
  uint64_t end = util_now_us() + us;

  while (util_now_us() < end)
    ;
}

static void test_timers_fire_in_due_order(void **state)
{
  struct ctx c;
  struct loop_timer guard;
  struct rec_timer r[5];
  uint64_t start;

  (void)state;
  new_loop(&c, &guard);
  rec_init(&r[0], &c, 30);
  rec_init(&r[1], &c, 10);
  rec_init(&r[2], &c, 20);
  rec_init(&r[3], &c, 0);
  rec_init(&r[4], &c, 40);
  r[4].stop_loop = true;
  start = util_now_us();
  assert_int_equal(loop_timer_start(c.l, &r[0].t, 30000), LEMU_ERR_OK);
  assert_int_equal(loop_timer_start(c.l, &r[1].t, 10000), LEMU_ERR_OK);
  assert_int_equal(loop_timer_start(c.l, &r[4].t, 40000), LEMU_ERR_OK);
  assert_int_equal(loop_timer_start(c.l, &r[2].t, 20000), LEMU_ERR_OK);
  assert_int_equal(loop_timer_start(c.l, &r[3].t, 0), LEMU_ERR_OK);
  assert_int_equal(loop_run(c.l), 0);
  assert_true(util_now_us() - start >= 40000); /* not early */
  assert_false(c.guard_fired);
  assert_int_equal(c.n, 5);
  assert_int_equal(c.order[0], 0);
  assert_int_equal(c.order[1], 10);
  assert_int_equal(c.order[2], 20);
  assert_int_equal(c.order[3], 30);
  assert_int_equal(c.order[4], 40);
  assert_false(loop_timer_armed(&r[0].t));
  loop_destroy(c.l);
}

static void test_timer_stop(void **state)
{
  struct ctx c;
  struct loop_timer guard;
  struct rec_timer a, b;

  (void)state;
  new_loop(&c, &guard);
  rec_init(&a, &c, 1);
  rec_init(&b, &c, 2);
  b.stop_loop = true;
  assert_false(loop_timer_armed(&a.t));
  assert_int_equal(loop_timer_start(c.l, &a.t, 5000), LEMU_ERR_OK);
  assert_true(loop_timer_armed(&a.t));
  assert_int_equal(loop_timer_start(c.l, &b.t, 20000), LEMU_ERR_OK);
  loop_timer_stop(c.l, &a.t);
  assert_false(loop_timer_armed(&a.t));
  loop_timer_stop(c.l, &a.t); /* stopping twice is harmless */
  assert_int_equal(loop_run(c.l), 0);
  assert_int_equal(c.n, 1);
  assert_int_equal(c.order[0], 2);
  assert_false(c.guard_fired);
  loop_destroy(c.l);
}

/* Both timers are due in the same batch; the first one's callback stops the second. */
static void test_timer_stopped_by_earlier_timer_in_same_batch(void **state)
{
  struct ctx c;
  struct loop_timer guard;
  struct rec_timer a, b, end;

  (void)state;
  new_loop(&c, &guard);
  rec_init(&a, &c, 1);
  rec_init(&b, &c, 2);
  rec_init(&end, &c, 3);
  a.to_stop = &b;
  end.stop_loop = true;
  assert_int_equal(loop_timer_start(c.l, &a.t, 1000), LEMU_ERR_OK);
  assert_int_equal(loop_timer_start(c.l, &b.t, 2000), LEMU_ERR_OK);
  assert_int_equal(loop_timer_start(c.l, &end.t, 30000), LEMU_ERR_OK);
  busy_wait_us(5000); /* a and b are both overdue when the loop first looks */
  assert_int_equal(loop_run(c.l), 0);
  assert_int_equal(c.n, 2);
  assert_int_equal(c.order[0], 1);
  assert_int_equal(c.order[1], 3);
  loop_destroy(c.l);
}

/* Re-arming (from its own callback, and restarting an armed timer) moves it, never duplicates it. */
static void test_timer_rearm(void **state)
{
  struct ctx c;
  struct loop_timer guard;
  struct rec_timer r, end;

  (void)state;
  new_loop(&c, &guard);
  rec_init(&r, &c, 7);
  r.rearm = 3;
  rec_init(&end, &c, 9);
  end.stop_loop = true;
  assert_int_equal(loop_timer_start(c.l, &r.t, 1000), LEMU_ERR_OK);
  assert_int_equal(loop_timer_start(c.l, &end.t, 5000), LEMU_ERR_OK);
  assert_int_equal(loop_timer_start(c.l, &end.t, 60000), LEMU_ERR_OK); /* restart: later */
  assert_int_equal(loop_run(c.l), 0);
  assert_int_equal(c.n, 5);
  assert_int_equal(c.order[0], 7);
  assert_int_equal(c.order[3], 7);
  assert_int_equal(c.order[4], 9);
  assert_false(c.guard_fired);
  loop_destroy(c.l);
}

/* loop_stop ends loop_run, and the loop can be run again afterwards. */
static void test_stop_and_run_again(void **state)
{
  struct ctx c;
  struct loop_timer guard;
  struct rec_timer a, b;

  (void)state;
  new_loop(&c, &guard);
  rec_init(&a, &c, 1);
  a.stop_loop = true;
  assert_int_equal(loop_timer_start(c.l, &a.t, 1000), LEMU_ERR_OK);
  assert_int_equal(loop_run(c.l), 0);
  assert_int_equal(c.n, 1);
  rec_init(&b, &c, 2);
  b.stop_loop = true;
  assert_int_equal(loop_timer_start(c.l, &b.t, 1000), LEMU_ERR_OK);
  assert_int_equal(loop_run(c.l), 0);
  assert_int_equal(c.n, 2);
  assert_int_equal(c.order[1], 2);
  assert_false(c.guard_fired);
  loop_destroy(c.l);
}

static void test_sigterm_stops_loop(void **state)
{
  struct ctx c;
  struct loop_timer guard;

  (void)state;
  new_loop(&c, &guard);
  assert_int_equal(raise(SIGTERM), 0); /* blocked by loop_create: stays pending for the signalfd */
  assert_int_equal(loop_run(c.l), SIGTERM);
  assert_false(c.guard_fired);
  loop_destroy(c.l);
}

/* ---- fd watchers ---- */

struct io_ctx {
  struct ctx *c;
  int fires;
  int last_fd;
  uint32_t last_events;
  int other_fd; /* unwatch this one when firing, or -1 */
  bool stop;
};

static void io_fn(int fd, uint32_t events, void *cls)
{
  struct io_ctx *io = cls;
  char ch;

  io->fires++;
  io->last_fd = fd;
  io->last_events = events;
  if (events & EPOLLIN)
    assert_int_equal(read(fd, &ch, 1), 1);
  if (io->other_fd >= 0)
    loop_unwatch(io->c->l, io->other_fd);
  if (io->stop)
    loop_stop(io->c->l);
}

static int writer_fd;
static void write_byte(void *cls)
{
  (void)cls;
  assert_int_equal(write(writer_fd, "x", 1), 1);
}

static void test_fd_watcher_fires(void **state)
{
  struct ctx c;
  struct loop_timer guard, writer;
  struct io_ctx io = {0};
  int p[2];

  (void)state;
  new_loop(&c, &guard);
  assert_int_equal(pipe(p), 0);
  io.c = &c;
  io.other_fd = -1;
  io.stop = true;
  assert_int_equal(loop_watch(c.l, p[0], EPOLLIN, io_fn, &io), LEMU_ERR_OK);
  writer_fd = p[1];
  loop_timer_init(&writer, write_byte, NULL);
  assert_int_equal(loop_timer_start(c.l, &writer, 5000), LEMU_ERR_OK);
  assert_int_equal(loop_run(c.l), 0);
  assert_false(c.guard_fired);
  assert_int_equal(io.fires, 1);
  assert_int_equal(io.last_fd, p[0]);
  assert_true(io.last_events & EPOLLIN);

  /* after unwatch, data on the fd wakes nobody */
  loop_unwatch(c.l, p[0]);
  io.fires = 0;
  assert_int_equal(write(p[1], "y", 1), 1);
  assert_int_equal(loop_timer_start(c.l, &guard, 20000), LEMU_ERR_OK);
  assert_int_equal(loop_run(c.l), 0);
  assert_true(c.guard_fired);
  assert_int_equal(io.fires, 0);
  loop_unwatch(c.l, p[0]); /* twice: harmless */
  close(p[0]);
  close(p[1]);
  loop_destroy(c.l);
}

/* Two fds ready in the same batch; whichever fires first unwatches the other, which then must not
 * be called (the generation check), even though epoll already returned its event. */
static void test_unwatch_inside_callback(void **state)
{
  struct ctx c;
  struct loop_timer guard;
  struct io_ctx a = {0}, b = {0};
  int p[2], q[2];

  (void)state;
  new_loop(&c, &guard);
  assert_int_equal(pipe(p), 0);
  assert_int_equal(pipe(q), 0);
  a.c = b.c = &c;
  a.other_fd = q[0];
  b.other_fd = p[0];
  assert_int_equal(loop_watch(c.l, p[0], EPOLLIN, io_fn, &a), LEMU_ERR_OK);
  assert_int_equal(loop_watch(c.l, q[0], EPOLLIN, io_fn, &b), LEMU_ERR_OK);
  assert_int_equal(write(p[1], "x", 1), 1);
  assert_int_equal(write(q[1], "x", 1), 1);
  assert_int_equal(loop_timer_start(c.l, &guard, 30000), LEMU_ERR_OK);
  assert_int_equal(loop_run(c.l), 0);
  assert_int_equal(a.fires + b.fires, 1);
  loop_unwatch(c.l, p[0]);
  loop_unwatch(c.l, q[0]);
  close(p[0]);
  close(p[1]);
  close(q[0]);
  close(q[1]);
  loop_destroy(c.l);
}

static void test_modify(void **state)
{
  struct ctx c;
  struct loop_timer guard;
  struct io_ctx io = {0};
  int p[2];

  (void)state;
  new_loop(&c, &guard);
  assert_int_equal(pipe(p), 0);
  io.c = &c;
  io.other_fd = -1;
  io.stop = true;
  /* the write end never becomes readable ... */
  assert_int_equal(loop_watch(c.l, p[1], EPOLLIN, io_fn, &io), LEMU_ERR_OK);
  /* ... but it is writable */
  assert_int_equal(loop_modify(c.l, p[1], EPOLLOUT), LEMU_ERR_OK);
  assert_int_equal(loop_run(c.l), 0);
  assert_false(c.guard_fired);
  assert_int_equal(io.fires, 1);
  assert_true(io.last_events & EPOLLOUT);
  loop_unwatch(c.l, p[1]);
  assert_int_equal(loop_modify(c.l, p[1], EPOLLOUT), LEMU_ERR_INVAL);
  assert_int_equal(loop_modify(c.l, 100000, EPOLLOUT), LEMU_ERR_INVAL);
  assert_int_equal(loop_modify(c.l, -1, EPOLLOUT), LEMU_ERR_INVAL);
  close(p[0]);
  close(p[1]);
  loop_destroy(c.l);
}

/* ---- children ---- */

struct child_ctx {
  struct loop *l;
  pid_t pid;
  int status;
  long maxrss_kb;
  int calls;
};

static void child_fn(pid_t pid, int status, long maxrss_kb, void *cls)
{
  struct child_ctx *cc = cls;

  cc->calls++;
  cc->pid = pid;
  cc->status = status;
  cc->maxrss_kb = maxrss_kb;
  loop_stop(cc->l);
}

static void test_child_reaped(void **state)
{
  struct ctx c;
  struct loop_timer guard;
  struct child_ctx cc = {0};
  pid_t pid;

  (void)state;
  new_loop(&c, &guard);
  cc.l = c.l;
  loop_set_child_handler(c.l, child_fn, &cc);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(7);
  assert_int_equal(loop_run(c.l), 0);
  assert_false(c.guard_fired);
  assert_int_equal(cc.calls, 1);
  assert_int_equal(cc.pid, pid);
  assert_true(WIFEXITED(cc.status));
  assert_int_equal(WEXITSTATUS(cc.status), 7);
  assert_true(cc.maxrss_kb > 0);
  loop_destroy(c.l);
}

/* A second watch on an fd that is already watched is refused, and must leave the first watcher
 * working. Today it overwrites fn/cls and bumps the generation before epoll_ctl(ADD) fails with
 * EEXIST, so the original registration's events are dropped forever. */
static void test_known_bug_double_watch_breaks_first(void **state)
{
  struct ctx c;
  struct loop_timer guard;
  struct io_ctx first = {0}, second = {0};
  int p[2];

  (void)state;
  new_loop(&c, &guard);
  assert_int_equal(pipe(p), 0);
  first.c = second.c = &c;
  first.other_fd = second.other_fd = -1;
  first.stop = second.stop = true;
  assert_int_equal(loop_watch(c.l, p[0], EPOLLIN, io_fn, &first), LEMU_ERR_OK);
  assert_int_not_equal(loop_watch(c.l, p[0], EPOLLIN, io_fn, &second), LEMU_ERR_OK);
  assert_int_equal(write(p[1], "x", 1), 1);
  assert_int_equal(loop_timer_start(c.l, &guard, 50000), LEMU_ERR_OK);
  assert_int_equal(loop_run(c.l), 0);
  assert_int_equal(second.fires, 0);
  assert_int_equal(first.fires, 1);
  loop_unwatch(c.l, p[0]);
  close(p[0]);
  close(p[1]);
  loop_destroy(c.l);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_timers_fire_in_due_order),
    cmocka_unit_test(test_timer_stop),
    cmocka_unit_test(test_timer_stopped_by_earlier_timer_in_same_batch),
    cmocka_unit_test(test_timer_rearm),
    cmocka_unit_test(test_stop_and_run_again),
    cmocka_unit_test(test_sigterm_stops_loop),
    cmocka_unit_test(test_fd_watcher_fires),
    cmocka_unit_test(test_unwatch_inside_callback),
    cmocka_unit_test(test_modify),
    cmocka_unit_test(test_child_reaped),
    cmocka_unit_test(test_known_bug_double_watch_breaks_first),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
