/* The functions lemu serves: their configuration, ARN, the environment variables every one of
 * their execution environments starts with, the resolved program to exec, and the lists of their
 * environments. Later: versions, aliases and states (Pending/Active). */
#ifndef LEMU_REGISTRY_H
#define LEMU_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "lemu/config.h"
#include "lemu/err.h"

struct env;

struct function {
  struct function_config cfg; /* owned */
  char *arn;                  /* arn:aws:lambda:<region>:<account>:function:<name> */
  char **base_env;            /* NULL-terminated "K=V" list shared by all its environments */
  size_t n_base_env;
  char *exec_path;            /* program to exec: <code>/bootstrap, or the python3/node binary */
  char *argv[3];              /* argv for exec_path (argv[0] = its name) */
  char *missing_program;      /* set when the runtime's interpreter is not on PATH */
  struct env *idle;           /* environments waiting in GET /next, most recently used first */
  size_t n_envs;
};

struct registry {
  struct function *fns;
  size_t n;
};

/* Build the registry from cfg (takes the function configs out of it). region/account feed the
 * ARNs; runtimes_dir locates lemu's python/node shims. */
lemu_err_t registry_create(struct registry **out, struct lemu_config *cfg, const char *runtimes_dir);
void registry_destroy(struct registry *reg);
struct function *registry_find(struct registry *reg, const char *name);

#endif
