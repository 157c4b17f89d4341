/* The fault kinds: one table row per kind says what it does, what the caller sees (HTTP status,
 * error type, message with AWS's wording, from the seeds and the reference) and whether AWS SDKs
 * retry it by default. The engine (fault_rules) decides when a rule fires; this module knows what
 * firing means. docs/faults.md is generated from this table by the build (lemu faults-doc). */
#ifndef LEMU_FAULT_CATALOG_H
#define LEMU_FAULT_CATALOG_H

#include <stdbool.h>

struct http_req;
struct cJSON;

enum fault_action {
  FAULT_API_ERROR,      /* the Invoke call fails with an AWS API error (status, type, message) */
  FAULT_THROTTLE,       /* 429 TooManyRequestsException with Params.Reason */
  FAULT_PENDING,        /* the function is Pending: ResourceConflictException */
  FAULT_TIMEOUT,        /* the invocation runs and is killed at its deadline */
  FAULT_OOM,            /* the environment is killed as at its memory limit */
  FAULT_CRASH,          /* the runtime dies mid-invoke: Runtime.ExitError */
  FAULT_LATENCY,        /* Params.Ms added before dispatch */
  FAULT_FUNCTION_ERROR, /* a handler error with Params.ErrorType / ErrorMessage, without running */
  FAULT_HTTP_RESPONSE,  /* the function answers an HTTP integration response (FIS) */
  FAULT_PROXY,          /* malformed API Gateway proxy response (consumed by the API front) */
  FAULT_ACCESS_DENIED,  /* the caller may not invoke: 403 AccessDeniedException, for every
                         * invocation type (IAM answers the call itself, before any queue) */
};

struct fault_kind {
  const char *name;           /* "throttle", "efs-io", ... */
  enum fault_action action;
  unsigned status;            /* HTTP status the caller sees */
  const char *error_type;     /* x-amzn-ErrorType or errorType */
  bool lower_message_key;     /* "message" (else "Message") in the error body */
  const char *message;        /* printf format; %s = the ARN parameter when arn_param is set
                               * (access-denied: then the resource) */
  const char *arn_param;      /* Params key filling %s, or NULL */
  const char *arn_default;    /* realistic default for it */
  bool sdk_retries;           /* AWS SDKs retry it by default (reference §10) */
  const char *what;           /* one line for docs/faults.md */
};

extern const struct fault_kind fault_kinds[];
extern const unsigned fault_kinds_count;

const struct fault_kind *fault_kind_find(const char *name);
/* The Invoke call is answered with the kind's error instead of running the function. */
bool fault_kind_answers_call(const struct fault_kind *k);
/* Decided when the Invoke call arrives, whatever its type (Event and DryRun too), not per attempt. */
bool fault_kind_at_call(const struct fault_kind *k);
/* Answer req for a kind that answers the call (params may be NULL). resource: the function as the
 * caller named it, for the messages that quote it. */
void fault_catalog_send(struct http_req *req, const char *request_id, const struct fault_kind *k,
                        const struct cJSON *params, const char *resource);
/* Body of a FAULT_FUNCTION_ERROR (caller frees). */
char *fault_catalog_function_error_body(const struct cJSON *params);
/* Body of a FAULT_HTTP_RESPONSE: an API Gateway proxy response with the status and content type. */
char *fault_catalog_http_response_body(const struct cJSON *params);
/* FAULT_PROXY: the malformed proxy response Params.Variant names (seed 003's three mistakes),
 * as the function's answer would be posted (caller frees). Unknown or absent: BodyNotString. */
#define FAULT_PROXY_BODY_NOT_STRING "BodyNotString"
#define FAULT_PROXY_NONE "None"
#define FAULT_PROXY_MISSING_STATUS_CODE "MissingStatusCode"
char *fault_catalog_proxy_response_body(const struct cJSON *params);
bool fault_catalog_proxy_variant_known(const char *variant);
/* docs/faults.md, generated from the table (caller frees). */
char *fault_catalog_markdown(void);

#endif
