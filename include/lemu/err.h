/* lemu's one status type. Every function that can fail returns a lemu_err_t; the names and
 * messages come from the single X-macro list below (libuv's UV_ERRNO_MAP pattern), so adding a
 * code is one line and lemu_strerror()/lemu_err_name() can never drift from the enum. */
#ifndef LEMU_ERR_H
#define LEMU_ERR_H

#define LEMU_ERR_MAP(XX)                                                   \
  XX(OK, "success")                                                        \
  XX(NOMEM, "out of memory")                                               \
  XX(IO, "input/output error")                                             \
  XX(INVAL, "invalid argument")                                            \
  XX(TOOBIG, "size limit exceeded")                                        \
  XX(NOTFOUND, "not found")                                                \
  XX(EXISTS, "already exists")                                             \
  XX(CONFIG, "invalid configuration")                                      \
  XX(SPAWN, "could not start the handler process")                         \
  XX(HTTP, "HTTP server error")                                            \
  XX(STATE, "operation not valid in the current state")

typedef enum {
#define LEMU_ERR_ENUM(name, msg) LEMU_ERR_##name,
  LEMU_ERR_MAP(LEMU_ERR_ENUM)
#undef LEMU_ERR_ENUM
  LEMU_ERR__COUNT
} lemu_err_t;

/* Human-readable message of a status; never NULL. */
const char *lemu_strerror(lemu_err_t err);
/* Symbolic name of a status ("NOMEM"); never NULL. */
const char *lemu_err_name(lemu_err_t err);

#endif
