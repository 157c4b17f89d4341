/* Concurrency accounting (see include/lemu/concurrency.h). Counts live on the function objects and
 * in ctx; the sum of reservations is recomputed per decision (a handful of functions), so it can
 * never go stale when the management API changes a reservation. */
#include "lemu/concurrency.h"
#include "lemu/registry.h"
#include "lemu/server.h"

int concurrency_unreserved_limit(struct lemu_ctx *ctx)
{
  int reserved = 0;
  size_t i;

  for (i = 0; i < ctx->reg->n; i++)
    if (ctx->reg->fns[i]->cfg.reserved_concurrency > 0)
      reserved += ctx->reg->fns[i]->cfg.reserved_concurrency;
  return ctx->cfg.account_concurrency - reserved;
}

enum concurrency_verdict concurrency_acquire(struct lemu_ctx *ctx, struct function *fn, bool *from_pool)
{
  int reserved = fn->cfg.reserved_concurrency;

  *from_pool = false;
  if (reserved >= 0) {
    if (fn->in_flight >= reserved)
      return CONCURRENCY_RESERVED_FULL;
  } else {
    if (ctx->unreserved_in_flight >= concurrency_unreserved_limit(ctx))
      return CONCURRENCY_ACCOUNT_FULL;
    ctx->unreserved_in_flight++;
    *from_pool = true;
  }
  fn->in_flight++;
  return CONCURRENCY_OK;
}

void concurrency_release(struct lemu_ctx *ctx, struct function *fn, bool from_pool)
{
  fn->in_flight--;
  if (from_pool)
    ctx->unreserved_in_flight--;
}
