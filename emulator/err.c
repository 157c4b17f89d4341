/* Names and messages of lemu_err_t, generated from LEMU_ERR_MAP so they cannot drift. */
#include "lemu/err.h"

static const char *const err_messages[] = {
#define LEMU_ERR_MSG(name, msg) msg,
  LEMU_ERR_MAP(LEMU_ERR_MSG)
#undef LEMU_ERR_MSG
};

static const char *const err_names[] = {
#define LEMU_ERR_NAME(name, msg) #name,
  LEMU_ERR_MAP(LEMU_ERR_NAME)
#undef LEMU_ERR_NAME
};

const char *lemu_strerror(lemu_err_t err)
{
  if ((unsigned)err >= LEMU_ERR__COUNT)
    return "unknown error";
  return err_messages[err];
}

const char *lemu_err_name(lemu_err_t err)
{
  if ((unsigned)err >= LEMU_ERR__COUNT)
    return "UNKNOWN";
  return err_names[err];
}
