/* lemu's configuration: lemu.json (design.md §1, AWS's own field names) or, with no file, the
 * embedded default that serves every folder of sample-functions/ that holds a function.json.
 * Loading is all-or-nothing: any unknown key or bad value fails with one message naming the file,
 * the key path and what was expected, and lemu never starts half-configured. */
#ifndef LEMU_CONFIG_H
#define LEMU_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "lemu/err.h"

struct cJSON;

#define CONFIG_DEFAULT_HOST "127.0.0.1"
#define CONFIG_DEFAULT_PORT 9001
#define CONFIG_DEFAULT_REGION "us-east-1"
#define CONFIG_DEFAULT_ACCOUNT "123456789012"
#define CONFIG_DEFAULT_CONCURRENCY 1000
#define CONFIG_DEFAULT_TIMEOUT_S 3
#define CONFIG_MAX_TIMEOUT_S 900
#define CONFIG_DEFAULT_MEMORY_MB 128
#define CONFIG_MIN_MEMORY_MB 128
#define CONFIG_MAX_MEMORY_MB 10240
#define CONFIG_DEFAULT_EPHEMERAL_MB 512
#define CONFIG_MAX_EPHEMERAL_MB 10240
#define CONFIG_MAX_ENV_BYTES 4096
#define CONFIG_MAX_FUNCTION_NAME 64
#define CONFIG_DEFAULT_PENDING_S 1.0 /* Pending / InProgress time of a created or updated function */
#define CONFIG_MAX_PENDING_S 600.0
#define CONFIG_STATE_SUBDIR "lemu"   /* under $XDG_STATE_HOME, or ~/.local/state */
#define CONFIG_MAX_CONTROL_TOKEN 1024 /* Lemu.ControlToken / --control-token, in characters */

enum runtime_kind { RUNTIME_PROVIDED, RUNTIME_PYTHON, RUNTIME_NODE };

struct function_config {
  char *name;
  char *runtime;      /* as configured, e.g. "provided.al2023", "python3.12" */
  enum runtime_kind kind;
  char *handler;      /* "" when not given */
  char *code_dir;     /* absolute, existing directory */
  char *description;
  int timeout_s;
  int memory_mb;
  int ephemeral_mb;
  int reserved_concurrency; /* -1 = not set */
  bool arm64;         /* Architectures ["arm64"]: reported by GetFunction, the code runs natively */
  char **env;         /* "KEY=VALUE" strings from Environment.Variables */
  size_t n_env;
};

struct lemu_config {
  char *listen_host;
  unsigned listen_port;
  char *region;
  char *account_id;
  int account_concurrency;
  struct function_config *functions;
  size_t n_functions;
  char *source;       /* the file it came from, or the samples directory */
  /* lemu extensions (top-level "Lemu" key, or the command line) */
  char *state_dir;    /* where API-created functions persist; NULL = config_default_state_dir() */
  double pending_seconds; /* how long a created/updated function stays Pending / InProgress */
  double time_scale;  /* multiplies every async delay and event age (Lemu.TimeScale, --time-scale) */
  struct cJSON *faults;       /* the "Faults" array as given (validated by the fault engine), or NULL */
  struct cJSON *async;        /* {"name": {"EventInvokeConfig": {...}, "DeadLetterConfig": {...}}} */
  /* API Gateway front (apigw) */
  struct cJSON *api_events;   /* {"name": its "Events" object (Api / HttpApi), validated}, or NULL */
  char *api_listen_host;      /* Lemu.ApiListen or --api-listen; NULL = apigw's default address */
  unsigned api_listen_port;
  double api_timeout_s;       /* Lemu.ApiTimeoutSeconds; 0 = API Gateway's (29 s REST, 30 s HTTP) */
  /* Lemu.ControlToken, LEMU_CONTROL_TOKEN or --control-token: what /lemu/v1/ requires (NULL = no
   * token: loopback callers only). A secret: never logged. */
  char *control_token;
};

/* Load path (NULL = embedded default: the sample functions). On failure returns LEMU_ERR_CONFIG
 * and sets *message (malloc'd, caller frees) to the one-line reason. */
lemu_err_t config_load(const char *path, struct lemu_config *out, char **message);
void config_cleanup(struct lemu_config *cfg);
/* The configuration of no file: default listen address, account and limits, no functions. */
void config_defaults(struct lemu_config *out);
/* Validate and append function entries in lemu.json's shape (the SAM template loader builds
 * them). functions is an array (messages say "Functions[i]") or an object whose member names are
 * the key paths messages use (e.g. "Resources.Hello.Properties"). Relative CodeUri resolves
 * against base_dir; file is shown in messages. A name already in out is an error. On failure
 * returns LEMU_ERR_CONFIG with *message set (malloc'd) and out possibly partly extended: the
 * caller cleans it up. */
lemu_err_t config_load_functions_json(const struct cJSON *functions, const char *file,
                                      const char *base_dir, struct lemu_config *out, char **message);
void function_config_cleanup(struct function_config *fc);
/* Where the default configuration looks for sample functions. */
const char *config_samples_dir(void);
/* "HOST:PORT" (port 0 to 65535) into *host (malloc'd, replacing what it held) and *port. */
bool config_parse_listen(const char *text, char **host, unsigned *port);
/* A usable control token: 1 to CONFIG_MAX_CONTROL_TOKEN visible ASCII characters (no space), so it
 * travels unchanged in an HTTP header. */
bool config_control_token_valid(const char *token);
/* Whether a listen host is a loopback address (127.0.0.0/8 or "localhost"): anything else is
 * reachable from other machines and gets a warning at startup. */
bool config_host_is_loopback(const char *host);
/* $XDG_STATE_HOME/lemu, else $HOME/.local/state/lemu (malloc'd; NULL when neither is set). */
char *config_default_state_dir(void);

/* Pieces of a function definition's validation, shared with the management API (which words its
 * own errors as AWS does). */
bool config_runtime_kind(const char *runtime, enum runtime_kind *kind);
bool config_function_name_valid(const char *name);
/* [a-zA-Z]([a-zA-Z0-9_])+ */
bool config_env_key_valid(const char *key);
/* One of the variables Lambda sets itself and refuses in Environment.Variables. */
bool config_env_key_reserved(const char *key);
/* Deep copy of src into dst (dst is overwritten, not cleaned). LEMU_ERR_NOMEM leaves dst empty. */
lemu_err_t function_config_copy(struct function_config *dst, const struct function_config *src);

#endif
