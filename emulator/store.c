/* The state directory's sqlite store (see include/lemu/store.h). The schema is one table of JSON
 * documents keyed by function name: the management API reads and writes whole functions, and a
 * document keeps the schema stable while the FunctionConfiguration shape grows. */
#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lemu/code_package.h"
#include "lemu/logs.h"
#include "lemu/store.h"
#include "lemu/util.h"

#define STORE_DIR_MODE 0700
#define STORE_BUSY_TIMEOUT_MS 2000
#define STORE_SCHEMA                                                                             \
  "CREATE TABLE IF NOT EXISTS functions (name TEXT PRIMARY KEY, doc TEXT NOT NULL);"

struct store {
  sqlite3 *db;
  char *dir;
  char *code_dir;
};

/* mkdir -p with mode for the parts created. */
static int mkdir_p(const char *path, mode_t mode)
{
  char *copy = util_strdup(path), *p;
  int rc = 0;

  if (!copy)
    return -1;
  for (p = copy + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
      rc = -1;
    *p = '/';
  }
  if (mkdir(copy, mode) < 0 && errno != EEXIST)
    rc = -1;
  free(copy);
  return rc;
}

lemu_err_t store_open(const char *dir, struct store **out, char **message)
{
  struct store *st = calloc(1, sizeof(*st));
  char *db_path = NULL, *err = NULL;
  lemu_err_t rc = LEMU_ERR_NOMEM;

  *out = NULL;
  *message = NULL;
  if (!st)
    goto fail;
  st->dir = util_strdup(dir);
  st->code_dir = util_asprintf("%s/%s", dir, STORE_CODE_SUBDIR);
  db_path = util_asprintf("%s/%s", dir, STORE_DB_FILE);
  if (!st->dir || !st->code_dir || !db_path)
    goto fail;
  rc = LEMU_ERR_IO;
  if (mkdir_p(dir, STORE_DIR_MODE) < 0 || mkdir_p(st->code_dir, STORE_DIR_MODE) < 0) {
    *message = util_asprintf("cannot create the state directory %s: %s", dir, strerror(errno));
    goto fail;
  }
  if (sqlite3_open_v2(db_path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
    *message = util_asprintf("cannot open %s: %s", db_path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
  if (sqlite3_exec(st->db, STORE_SCHEMA, NULL, NULL, &err) != SQLITE_OK) {
    *message = util_asprintf("cannot use %s: %s", db_path, err ? err : "unknown error");
    sqlite3_free(err);
    goto fail;
  }
  free(db_path);
  *out = st;
  return LEMU_ERR_OK;
fail:
  free(db_path);
  store_close(st);
  if (!*message)
    *message = util_asprintf("cannot open the state directory %s", dir);
  return rc;
}

void store_close(struct store *st)
{
  if (!st)
    return;
  if (st->db)
    sqlite3_close(st->db);
  free(st->dir);
  free(st->code_dir);
  free(st);
}

const char *store_dir(const struct store *st)
{
  return st->dir;
}

static lemu_err_t store_exec(struct store *st, const char *sql, const char *a, const char *b)
{
  sqlite3_stmt *stmt = NULL;
  lemu_err_t rc = LEMU_ERR_IO;

  if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    goto out;
  if (a && sqlite3_bind_text(stmt, 1, a, -1, SQLITE_STATIC) != SQLITE_OK)
    goto out;
  if (b && sqlite3_bind_text(stmt, 2, b, -1, SQLITE_STATIC) != SQLITE_OK)
    goto out;
  if (sqlite3_step(stmt) == SQLITE_DONE)
    rc = LEMU_ERR_OK;
out:
  if (rc)
    logs_error("state store %s: %s", st->dir, sqlite3_errmsg(st->db));
  sqlite3_finalize(stmt);
  return rc;
}

lemu_err_t store_put(struct store *st, const char *name, const char *doc)
{
  return store_exec(st, "INSERT OR REPLACE INTO functions (name, doc) VALUES (?1, ?2)", name, doc);
}

lemu_err_t store_delete(struct store *st, const char *name)
{
  return store_exec(st, "DELETE FROM functions WHERE name = ?1", name, NULL);
}

lemu_err_t store_load(struct store *st, void (*fn)(const char *name, const char *doc, void *cls), void *cls)
{
  sqlite3_stmt *stmt = NULL;
  int r;

  if (sqlite3_prepare_v2(st->db, "SELECT name, doc FROM functions ORDER BY name", -1, &stmt, NULL) != SQLITE_OK) {
    logs_error("state store %s: %s", st->dir, sqlite3_errmsg(st->db));
    return LEMU_ERR_IO;
  }
  while ((r = sqlite3_step(stmt)) == SQLITE_ROW)
    fn((const char *)sqlite3_column_text(stmt, 0), (const char *)sqlite3_column_text(stmt, 1), cls);
  sqlite3_finalize(stmt);
  return r == SQLITE_DONE ? LEMU_ERR_OK : LEMU_ERR_IO;
}

char *store_new_code_dir(struct store *st)
{
  char id[LEMU_UUID_LEN + 1];

  util_uuid(id);
  return util_asprintf("%s/%s", st->code_dir, id);
}

int store_owns_code_dir(const struct store *st, const char *path)
{
  size_t n = strlen(st->code_dir);

  return path && strncmp(path, st->code_dir, n) == 0 && path[n] == '/' && path[n + 1] &&
         !strchr(path + n + 1, '/') && strcmp(path + n + 1, "..") != 0 && strcmp(path + n + 1, ".") != 0;
}

void store_remove_code_dir(struct store *st, const char *path)
{
  if (store_owns_code_dir(st, path) && code_package_remove_tree(path) != LEMU_ERR_OK)
    logs_warn("could not remove the old code directory %s", path);
}

void store_gc_code(struct store *st, char *const *keep, size_t n_keep)
{
  DIR *d = opendir(st->code_dir);
  struct dirent *e;

  if (!d)
    return;
  while ((e = readdir(d)) != NULL) {
    char *path;
    size_t i;
    bool kept = false;
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    path = util_asprintf("%s/%s", st->code_dir, e->d_name);
    if (!path)
      continue;
    for (i = 0; i < n_keep && !kept; i++)
      kept = keep[i] && strcmp(keep[i], path) == 0;
    if (!kept)
      store_remove_code_dir(st, path);
    free(path);
  }
  closedir(d);
}
