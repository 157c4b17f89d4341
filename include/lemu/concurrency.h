/* Account and reserved concurrency: the throttle decision (reference §6). A function with
 * ReservedConcurrentExecutions N runs at most N invocations and does not draw on the account's
 * unreserved pool; every other function shares the pool, which is the account limit minus the sum
 * of all reservations. A slot is held from the moment an invocation is accepted until it ends, on
 * every path (success, error, timeout, crash, init failure, client gone). */
#ifndef LEMU_CONCURRENCY_H
#define LEMU_CONCURRENCY_H

struct lemu_ctx;
struct function;

enum concurrency_verdict {
  CONCURRENCY_OK,
  CONCURRENCY_RESERVED_FULL,  /* ReservedFunctionConcurrentInvocationLimitExceeded */
  CONCURRENCY_ACCOUNT_FULL,   /* ConcurrentInvocationLimitExceeded */
};

/* Take a slot for an invocation of fn (the function object that carries the reservation: the
 * $LATEST object of the name). */
#include <stdbool.h>

/* *from_pool says whether the slot came from the unreserved pool; give it back to release, so a
 * reservation changed in between cannot skew the counts. */
enum concurrency_verdict concurrency_acquire(struct lemu_ctx *ctx, struct function *fn, bool *from_pool);
void concurrency_release(struct lemu_ctx *ctx, struct function *fn, bool from_pool);
/* The account's unreserved pool: limit minus the sum of reservations. */
int concurrency_unreserved_limit(struct lemu_ctx *ctx);

#endif
