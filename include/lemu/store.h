/* lemu's state directory: a sqlite database of the functions created through the management API
 * (one JSON document per function: configuration, code location, versions, aliases, reserved
 * concurrency, tags, policy) and the unpacked code of those functions under code/. Each write is
 * one small transaction, so what the API acknowledged survives a crash or a restart. */
#ifndef LEMU_STORE_H
#define LEMU_STORE_H

#include <stddef.h>

#include "lemu/err.h"

#define STORE_DB_FILE "lemu.db"
#define STORE_CODE_SUBDIR "code"

struct store;

/* Open (creating the directory, 0700, and the schema as needed) the store in dir. On failure
 * *message (malloc'd) says why. */
lemu_err_t store_open(const char *dir, struct store **out, char **message);
void store_close(struct store *st);
const char *store_dir(const struct store *st);

/* Insert or replace the document of function name. */
lemu_err_t store_put(struct store *st, const char *name, const char *doc);
lemu_err_t store_delete(struct store *st, const char *name);
/* Call fn for every stored function, in name order. */
lemu_err_t store_load(struct store *st, void (*fn)(const char *name, const char *doc, void *cls), void *cls);

/* A new, not yet existing directory path for unpacked code: <dir>/code/<uuid> (malloc'd). */
char *store_new_code_dir(struct store *st);
/* true when path is a code directory of this store (so lemu may delete it). */
int store_owns_code_dir(const struct store *st, const char *path);
/* Delete path (a code directory of this store; anything else is left alone). */
void store_remove_code_dir(struct store *st, const char *path);
/* Delete every entry of <dir>/code that is not in keep (left over by a crash or a deletion). */
void store_gc_code(struct store *st, char *const *keep, size_t n_keep);

#endif
