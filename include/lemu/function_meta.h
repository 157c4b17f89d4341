/* What the management API knows about a function beyond what runs it (fn->ext): the fields of
 * FunctionConfiguration that registry's function_config does not hold (Role, CodeSha256,
 * RevisionId, LastModified, ...), the state machine (Pending -> Active after a create,
 * LastUpdateStatus InProgress -> Successful after an update, driven by a loop timer), published
 * versions and aliases, tags and the resource policy. It also turns a function into botocore's
 * FunctionConfiguration shape and into the document the store persists, and back. */
#ifndef LEMU_FUNCTION_META_H
#define LEMU_FUNCTION_META_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "lemu/code_package.h"
#include "lemu/err.h"
#include "lemu/loop.h"
#include "lemu/registry.h"
#include "lemu/util.h"

struct lemu_ctx;

#define FNMETA_TIME_LEN 28 /* "2024-01-01T00:00:00.000+0000" */

struct fnmeta_alias {
  char *name;
  char *version;
  char *description;
  char revision_id[LEMU_UUID_LEN + 1];
};

struct fnmeta {
  struct lemu_ctx *ctx;
  struct function *fn;          /* the function described (borrowed: the function owns this) */
  bool from_config;             /* defined in the config file: changes are not persisted */
  bool local_code;              /* code served in place (config, lemu-local): never deleted */
  char *role;
  char *architecture;
  char *tracing_mode;
  char *log_format;
  char *log_group;
  char *dead_letter_arn;        /* DeadLetterConfig.TargetArn; NULL when none (AWS then omits it) */
  char code_sha256[CODE_PACKAGE_SHA_B64_LEN + 1];
  unsigned long long code_size;
  char last_modified[FNMETA_TIME_LEN + 1];
  char revision_id[LEMU_UUID_LEN + 1];
  bool pending;                 /* State Pending (created, not yet Active) */
  bool updating;                /* LastUpdateStatus InProgress */
  struct loop_timer timer;      /* ends Pending / InProgress */
  cJSON *tags;                  /* object of strings, NULL when none */
  cJSON *policy;                /* array of statements, NULL when none */
  char policy_revision[LEMU_UUID_LEN + 1];
  /* $LATEST only */
  struct function **versions;   /* published versions, oldest first; each holds a reference */
  size_t n_versions;
  unsigned long next_version;
  struct fnmeta_alias *aliases;
  size_t n_aliases;
  /* versions only: $LATEST's RevisionId when it was published */
  char published_from[LEMU_UUID_LEN + 1];
};

/* Attach a fresh record to fn (Active, Successful, role/architecture defaults, now as
 * LastModified, a new RevisionId). NULL on allocation failure. */
struct fnmeta *fnmeta_attach(struct lemu_ctx *ctx, struct function *fn);
/* fn's record (NULL when none is attached). */
static inline struct fnmeta *fnmeta_of(const struct function *fn)
{
  return (struct fnmeta *)fn->ext;
}
/* Set DeadLetterConfig.TargetArn (NULL or "" removes it). The async queue reads it when an event
 * fails for good, so a change applies to events already queued. */
lemu_err_t fnmeta_set_dead_letter(struct fnmeta *m, const char *target_arn);
/* New RevisionId and LastModified = now. */
void fnmeta_touch(struct fnmeta *m);
/* Enter Pending (create = true) or LastUpdateStatus InProgress for ctx's pending time; the loop
 * timer ends it. A pending time of 0 ends it at once. */
void fnmeta_begin_transition(struct fnmeta *m, bool create);

/* A published version ("1", ...) or alias of fn's $LATEST record; NULL when none. */
struct function *fnmeta_find_version(const struct fnmeta *m, const char *version);
struct fnmeta_alias *fnmeta_find_alias(const struct fnmeta *m, const char *name);
/* The function object a qualifier names (NULL/""/$LATEST: fn itself, a version, an alias), or
 * NULL when it names nothing. */
struct function *fnmeta_resolve(struct function *fn, const char *qualifier);

/* Publish fn's current code and configuration as the next version (description NULL = fn's).
 * *out is borrowed (the record holds the reference). */
lemu_err_t fnmeta_publish(struct fnmeta *m, const char *description, struct function **out);
/* Drop version v from the record (its environments are retired by the caller). */
void fnmeta_drop_version(struct fnmeta *m, struct function *v);
/* true when a code directory is still used by fn or one of its versions. */
bool fnmeta_code_dir_in_use(const struct fnmeta *m, const char *dir);

/* botocore's FunctionConfiguration of fn (a $LATEST or version object). NULL on failure. */
cJSON *fnmeta_configuration(const struct function *fn);
/* The alias as AliasConfiguration. */
cJSON *fnmeta_alias_configuration(const struct function *fn, const struct fnmeta_alias *a);

/* Write fn's record to the store (no-op for config functions or without a store). */
void fnmeta_persist(const struct fnmeta *m);
/* Build a function from a stored document: registers it (and its versions) and attaches its
 * record. LEMU_ERR_EXISTS when the name is taken (by the config file). *why explains other
 * failures (malloc'd). */
lemu_err_t fnmeta_load(struct lemu_ctx *ctx, const char *doc, struct function **out, char **why);
/* Append every code directory fn's record uses to *dirs (malloc'd strings). */
void fnmeta_code_dirs(const struct fnmeta *m, char ***dirs, size_t *n);

/* LastModified text of "now". */
void fnmeta_now(char out[FNMETA_TIME_LEN + 1]);

#endif
