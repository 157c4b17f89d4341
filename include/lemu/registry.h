/* The functions lemu serves: their configuration, ARN, the environment variables every one of
 * their execution environments starts with, the resolved program to exec, and their idle
 * environments. Functions can be added, updated and removed while lemu runs (management API), so
 * each is a reference-counted object: the registry holds one reference, and every environment and
 * invocation that points at a function holds one, so a deleted function lives until its last
 * invocation has ended. An update bumps `generation`; environments of an older generation are not
 * reused (they run the old code or configuration). */
#ifndef LEMU_REGISTRY_H
#define LEMU_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lemu/config.h"
#include "lemu/err.h"

struct env;

struct function {
  int refs;
  bool removed;               /* no longer in the registry (deleted) */
  uint64_t generation;        /* bumped by every code or configuration update */
  char version[16];           /* "$LATEST", or a published version number ("1", "2", ...) */
  struct function_config cfg; /* owned */
  char *arn;                  /* arn:aws:lambda:<region>:<account>:function:<name> */
  char **base_env;            /* NULL-terminated "K=V" list shared by all its environments */
  size_t n_base_env;
  char *exec_path;            /* program to exec: <code>/bootstrap, or the python3/node binary */
  char *argv[3];              /* argv for exec_path (argv[0] = its name) */
  char *missing_program;      /* set when the runtime's interpreter is not on PATH */
  struct env *idle;           /* environments waiting in GET /next, most recently used first */
  size_t n_envs;
  int in_flight;              /* invocations holding a concurrency slot of it (concurrency.c) */
  void *ext;                  /* management data (versions, state, tags), owned by its module */
  void (*ext_free)(struct function *fn); /* frees ext when the last reference goes (may be NULL) */
};

struct registry {
  struct function **fns;      /* each holds one reference */
  size_t n, cap;
  char *region;
  char *account_id;
  char *runtimes_dir;
};

/* Build the registry from cfg (takes the function configs out of it). region/account feed the
 * ARNs; runtimes_dir locates lemu's python/node shims. */
lemu_err_t registry_create(struct registry **out, struct lemu_config *cfg, const char *runtimes_dir);
void registry_destroy(struct registry *reg);
struct function *registry_find(struct registry *reg, const char *name);

/* Build a function object that is not in the name index (a published version): the caller owns
 * the returned reference. fc is taken. version is "$LATEST" or a version number. */
lemu_err_t function_create(struct registry *reg, struct function_config *fc, const char *version,
                           struct function **out);
/* Add a function built from fc (taken, cleaned up even on failure). LEMU_ERR_EXISTS when the name
 * is taken. *out is borrowed (the registry's reference). */
lemu_err_t registry_add(struct registry *reg, struct function_config *fc, struct function **out);
/* Replace fn's configuration with fc (taken) and bump its generation. */
lemu_err_t registry_update(struct registry *reg, struct function *fn, struct function_config *fc);
/* Take fn out of the registry; it is freed when its last reference goes. */
void registry_remove(struct registry *reg, struct function *fn);

struct function *function_ref(struct function *fn);
void function_unref(struct function *fn);

#endif
