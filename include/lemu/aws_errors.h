/* THE catalog of AWS-facing strings: every error lemu answers with (HTTP status, error type,
 * message format, body shape) and every AWS header name. No other file spells an AWS error type,
 * message or header: they refer to the rows and names here (design.md §3, style.md "one table").
 * Message formats are printf formats; their arguments are documented per row. */
#ifndef LEMU_AWS_ERRORS_H
#define LEMU_AWS_ERRORS_H

#include <stdbool.h>
#include <stddef.h>

struct http_req;

/* ---- header names (reference §1, §4) ---- */
#define AWS_HDR_REQUEST_ID "x-amzn-RequestId"
#define AWS_HDR_ERROR_TYPE "x-amzn-ErrorType"
#define AWS_HDR_EXECUTED_VERSION "X-Amz-Executed-Version"
#define AWS_HDR_FUNCTION_ERROR "X-Amz-Function-Error"
#define AWS_HDR_LOG_RESULT "X-Amz-Log-Result"
#define AWS_HDR_INVOCATION_TYPE "X-Amz-Invocation-Type"
#define AWS_HDR_LOG_TYPE "X-Amz-Log-Type"
#define AWS_HDR_CLIENT_CONTEXT "X-Amz-Client-Context"
#define AWS_HDR_TRACE_ID "X-Amzn-Trace-Id"
#define AWS_HDR_RETRY_AFTER "Retry-After"
#define AWS_HDR_RT_REQUEST_ID "Lambda-Runtime-Aws-Request-Id"
#define AWS_HDR_RT_DEADLINE_MS "Lambda-Runtime-Deadline-Ms"
#define AWS_HDR_RT_FUNCTION_ARN "Lambda-Runtime-Invoked-Function-Arn"
#define AWS_HDR_RT_TRACE_ID "Lambda-Runtime-Trace-Id"
#define AWS_HDR_RT_CLIENT_CONTEXT "Lambda-Runtime-Client-Context"
#define AWS_HDR_RT_COGNITO_IDENTITY "Lambda-Runtime-Cognito-Identity"
#define AWS_HDR_RT_ERROR_TYPE "Lambda-Runtime-Function-Error-Type"
#define AWS_CONTENT_TYPE_JSON "application/json"

/* Values of X-Amz-Invocation-Type / X-Amz-Log-Type / X-Amz-Function-Error. */
#define AWS_INVOCATION_REQUEST_RESPONSE "RequestResponse"
#define AWS_INVOCATION_EVENT "Event"
#define AWS_INVOCATION_DRY_RUN "DryRun"
#define AWS_LOG_TYPE_NONE "None"
#define AWS_LOG_TYPE_TAIL "Tail"
#define AWS_FUNCTION_ERROR_UNHANDLED "Unhandled"
#define AWS_VERSION_LATEST "$LATEST"

/* ---- API errors: restJson shape, x-amzn-ErrorType header + JSON body (reference §1.4) ----
 * XX(id, http status, error type, body flags, message format) */
#define AWS_BODY_TYPE_LOWER 0   /* {"Type":"User","message":...} */
#define AWS_BODY_TYPE_UPPER 1   /* {"Type":"User","Message":...} */
#define AWS_BODY_UPPER_ONLY 2   /* {"Message":...} (the 413 body AWS sends) */
#define AWS_API_ERROR_MAP(XX)                                                                     \
  /* arg: function ARN (with :qualifier when one was given) */                                   \
  XX(RESOURCE_NOT_FOUND, 404, "ResourceNotFoundException", AWS_BODY_TYPE_UPPER,                   \
     "Function not found: %s")                                                                   \
  XX(QUALIFIER_MISMATCH, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,              \
     "The derived qualifier from the function name does not match the specified qualifier.")     \
  /* arg: free text */                                                                           \
  XX(INVALID_PARAMETER_VALUE, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER, "%s")   \
  /* arg: the JSON parser's detail (Jackson wording, see json_check) */                          \
  XX(INVALID_REQUEST_CONTENT, 400, "InvalidRequestContentException", AWS_BODY_TYPE_LOWER,         \
     "Could not parse request body into json: Could not parse payload into json: %s")            \
  XX(INVALID_CLIENT_CONTEXT, 400, "InvalidRequestContentException", AWS_BODY_TYPE_LOWER,          \
     "Client context must be a valid Base64-encoded JSON object.")                               \
  XX(CLIENT_CONTEXT_TOO_LARGE, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,        \
     "Client context must be smaller than 3583 bytes.")                                          \
  /* args: limit in bytes, operation name */                                                      \
  XX(REQUEST_TOO_LARGE, 413, "RequestEntityTooLargeException", AWS_BODY_UPPER_ONLY,              \
     "Request must be smaller than %zu bytes for the %s operation")                              \
  /* arg: the full "N validation error(s) detected: ..." text */                                 \
  XX(VALIDATION, 400, "ValidationException", AWS_BODY_TYPE_LOWER, "%s")                           \
  XX(UNKNOWN_OPERATION, 404, "UnknownOperationException", AWS_BODY_TYPE_UPPER,                     \
     "Unknown operation")                                                                        \
  XX(SERVICE, 500, "ServiceException", AWS_BODY_TYPE_UPPER,                                        \
     "The Lambda service encountered an internal error.")                                        \
  /* management API */                                                                           \
  /* arg: the state ("Pending") (reference §1.5, seed 002) */                                    \
  XX(FUNCTION_STATE_CONFLICT, 409, "ResourceConflictException", AWS_BODY_TYPE_LOWER,              \
     "The operation cannot be performed at this time. The function is currently in the following state: %s") \
  /* arg: function ARN */                                                                        \
  XX(UPDATE_IN_PROGRESS, 409, "ResourceConflictException", AWS_BODY_TYPE_LOWER,                   \
     "The operation cannot be performed at this time. An update is in progress for resource: %s") \
  /* arg: function name */                                                                       \
  XX(FUNCTION_EXISTS, 409, "ResourceConflictException", AWS_BODY_TYPE_LOWER,                      \
     "Function already exist: %s")                                                               \
  /* arg: the variables as compact JSON (seed 001) */                                            \
  XX(ENV_TOO_LARGE, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,                   \
     "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %s") \
  /* arg: the reserved keys used, comma-separated (seed 001) */                                  \
  XX(ENV_RESERVED, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,                    \
     "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s") \
  /* arg: the unreserved minimum (int) (reference §6) */                                        \
  XX(CONCURRENCY_BELOW_MINIMUM, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,       \
     "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d].") \
  XX(ZIP_CORRUPT, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,                     \
     "Could not unzip uploaded file. Please check your file, then try to upload again.")         \
  /* arg: the limit in bytes (unsigned long long) */                                            \
  XX(UNZIPPED_TOO_LARGE, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,              \
     "Unzipped size must be smaller than %llu bytes")                                            \
  /* arg: runtime */                                                                             \
  XX(RUNTIME_DEPRECATED, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,              \
     "The runtime parameter of %s is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions.") \
  /* arg: runtime (a real Lambda runtime that lemu cannot run; lemu's own text) */              \
  XX(RUNTIME_NOT_EMULATED, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,            \
     "The runtime parameter of %s is not supported by lemu, which runs provided, provided.al2, provided.al2023, python3.8 to python3.14 and nodejs16.x to nodejs24.x.") \
  XX(RUNTIME_HANDLER_REQUIRED, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,        \
     "Runtime and Handler are mandatory parameters for functions created with deployment packages.") \
  XX(CODE_SOURCE_MISSING, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,             \
     "Please provide a source for function code.")                                               \
  XX(S3_NO_SUCH_BUCKET, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,               \
     "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist") \
  XX(S3_NO_SUCH_KEY, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,                  \
     "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist.") \
  /* lemu's own text: container images are not emulated */                                     \
  XX(IMAGE_NOT_SUPPORTED, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,             \
     "lemu does not run container images (PackageType Image): upload a .zip file, or serve a local directory with Code {\"S3Bucket\": \"lemu-local\", \"S3Key\": \"/absolute/path\"}.") \
  XX(REVISION_MISMATCH, 412, "PreconditionFailedException", AWS_BODY_TYPE_LOWER,                  \
     "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id") \
  /* args: given CodeSha256, current CodeSha256 */                                              \
  XX(CODE_SHA_MISMATCH, 412, "PreconditionFailedException", AWS_BODY_TYPE_LOWER,                  \
     "CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the current CodeSHA256.") \
  XX(LATEST_NOT_DELETABLE, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,            \
     "$LATEST version cannot be deleted without deleting the function.")                         \
  /* arg: the TargetArn (""): CreateFunction with DeadLetterConfig {"TargetArn": ""}, which the  \
   * model's pattern lets through ([OBS] 2018 CreateFunction error text) */                      \
  XX(DLQ_ARN_EMPTY, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,                   \
     "Invalid dead letter queue ARN: ARNs must start with 'arn:': %s")                           \
  /* arg: the TargetArn, an ARN of neither SQS nor SNS (lemu's wording after AWS's prefix: the   \
   * exact text for this case is unconfirmed) */                                                 \
  XX(DLQ_ARN_NOT_SQS_SNS, 400, "InvalidParameterValueException", AWS_BODY_TYPE_LOWER,             \
     "Invalid dead letter queue ARN: the target must be an Amazon SQS queue or an Amazon SNS topic: %s") \
  XX(POLICY_NOT_FOUND, 404, "ResourceNotFoundException", AWS_BODY_TYPE_UPPER,                     \
     "The resource you requested does not exist.")                                               \
  /* arg: statement id */                                                                        \
  XX(STATEMENT_NOT_FOUND, 404, "ResourceNotFoundException", AWS_BODY_TYPE_UPPER,                  \
     "Statement %s is not found in resource policy.")                                            \
  /* arg: statement id */                                                                        \
  XX(STATEMENT_EXISTS, 409, "ResourceConflictException", AWS_BODY_TYPE_LOWER,                     \
     "The statement id (%s) provided already exists. Please provide a new statement id, or remove the existing statement.") \
  /* arg: alias ARN */                                                                           \
  XX(ALIAS_NOT_FOUND, 404, "ResourceNotFoundException", AWS_BODY_TYPE_UPPER,                      \
     "Alias not found: %s")                                                                      \
  XX(ALIAS_EXISTS, 409, "ResourceConflictException", AWS_BODY_TYPE_LOWER,                         \
     "Alias already exists: %s")                                                                 \
  /* arg: the JSON parser's detail */                                                            \
  XX(REQUEST_NOT_JSON, 400, "InvalidRequestContentException", AWS_BODY_TYPE_LOWER,                \
     "Could not parse request body into json: %s")                                               \
  /* throttling: sent with aws_throttle_send(), which adds Reason and Retry-After */              \
  XX(TOO_MANY_REQUESTS, 429, "TooManyRequestsException", AWS_BODY_TYPE_LOWER, "Rate Exceeded.")   \
  /* arg: the whole message (e.g. "The function <arn> doesn't have an EventInvokeConfig") */     \
  XX(RESOURCE_NOT_FOUND_TEXT, 404, "ResourceNotFoundException", AWS_BODY_TYPE_UPPER, "%s")  \
  /* lemu's control API (/lemu/v1/) refusing a caller: lemu's own text (docs/security.md) */     \
  XX(CONTROL_TOKEN_MISSING, 401, "UnauthorizedException", AWS_BODY_TYPE_LOWER,                   \
     "This lemu requires a control token for /lemu/v1/: send the header \"Authorization: Bearer TOKEN\" or \"X-Lemu-Control-Token: TOKEN\" with the token lemu serve was given (--control-token, LEMU_CONTROL_TOKEN or Lemu.ControlToken).") \
  XX(CONTROL_TOKEN_WRONG, 401, "UnauthorizedException", AWS_BODY_TYPE_LOWER,                     \
     "The control token does not match the one lemu serve was given (--control-token, LEMU_CONTROL_TOKEN or Lemu.ControlToken).") \
  XX(CONTROL_NOT_LOOPBACK, 403, "AccessDeniedException", AWS_BODY_TYPE_LOWER,                    \
     "lemu's control API (/lemu/v1/) answers only callers on this machine (127.0.0.0/8) unless it has a control token: start lemu serve with --control-token TOKEN (or LEMU_CONTROL_TOKEN) and send \"Authorization: Bearer TOKEN\".")

enum aws_api_error {
#define AWS_API_ERROR_ENUM(id, status, type, flags, fmt) AWS_ERR_##id,
  AWS_API_ERROR_MAP(AWS_API_ERROR_ENUM)
#undef AWS_API_ERROR_ENUM
  AWS_ERR__COUNT
};

unsigned aws_error_status(enum aws_api_error id);
const char *aws_error_type(enum aws_api_error id);
/* Answer req with the error row id (status, x-amzn-ErrorType, x-amzn-RequestId = request_id,
 * JSON body), the message formatted from the row's format and the arguments. */
void aws_error_send(struct http_req *req, const char *request_id, enum aws_api_error id, ...);

/* An error row that lives in another table (fault_catalog): status, x-amzn-ErrorType, and a body
 * {"Type", "message"|"Message"} (message_only: just {"Message"}). */
void aws_error_send_raw(struct http_req *req, const char *request_id, unsigned status,
                        const char *type, bool lower_message_key, bool message_only,
                        const char *message);

/* TooManyRequestsException Reason values (reference §1.5). */
#define AWS_REASON_RESERVED_CONCURRENCY "ReservedFunctionConcurrentInvocationLimitExceeded"
#define AWS_REASON_ACCOUNT_CONCURRENCY "ConcurrentInvocationLimitExceeded"
#define AWS_REASON_CALLER_RATE "CallerRateLimitExceeded"
#define AWS_MESSAGE_CALLER_RATE "Rate exceeded"
/* Every Reason the model knows, for validating fault rules. */
#define AWS_THROTTLE_REASONS                                                                      \
  {"ConcurrentInvocationLimitExceeded", "FunctionInvocationRateLimitExceeded",                    \
   "ReservedFunctionConcurrentInvocationLimitExceeded", "ReservedFunctionInvocationRateLimitExceeded", \
   "CallerRateLimitExceeded", "ConcurrentSnapshotCreateLimitExceeded", NULL}
#define AWS_RETRY_AFTER_SECONDS "1"
/* Answer req with 429 TooManyRequestsException: {"Reason":reason,"Type":"User","message":...}
 * and Retry-After. */
void aws_throttle_send(struct http_req *req, const char *request_id, const char *reason);

/* Text of a constraint failure, as AWS words it: "Value 'x' at 'field' failed to satisfy
 * constraint: <constraint>" wrapped in "1 validation error detected: ...". Caller frees. */
char *aws_validation_message(const char *value, const char *field, const char *constraint);
/* Several constraint failures in one message, as AWS words them: "1 validation error detected:
 * <one>" or "N validation errors detected: <one>; <two>". Caller-embedded, zero-initialised.
 * A NULL value is worded "Value null at ...". */
struct aws_validation {
  char *parts; /* "; "-joined failures */
  int n;
};
void aws_validation_add(struct aws_validation *v, const char *value, const char *field,
                        const char *constraint);
/* A failure of a sensitive member (Environment.Variables): AWS leaves the value out. */
void aws_validation_add_sensitive(struct aws_validation *v, const char *field, const char *constraint);
/* The message (caller frees), NULL when nothing was added; resets v. */
char *aws_validation_take(struct aws_validation *v);
#define AWS_CONSTRAINT_FUNCTION_NAME_PATTERN                                                      \
  "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST(\\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
#define AWS_CONSTRAINT_FUNCTION_NAME_LENGTH "Member must have length less than or equal to 170"
#define AWS_CONSTRAINT_QUALIFIER_PATTERN                                                          \
  "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"
#define AWS_CONSTRAINT_INVOCATION_TYPE "Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
#define AWS_CONSTRAINT_LOG_TYPE "Member must satisfy enum value set: [Tail, None]"
#define AWS_OPERATION_INVOKE "InvokeFunction"
#define AWS_OPERATION_INVOKE_ASYNC "InvokeAsync" /* the name in its 413 message: unconfirmed */

/* ---- management API values (reference §6, §7) ---- */
#define AWS_OPERATION_CREATE_FUNCTION "CreateFunction"
#define AWS_OPERATION_UPDATE_FUNCTION_CODE "UpdateFunctionCode"
#define AWS_OPERATION_UPDATE_FUNCTION_CONFIGURATION "UpdateFunctionConfiguration"
#define AWS_MAX_CODE_REQUEST 70167211       /* CreateFunction / UpdateFunctionCode body */
#define AWS_MAX_UPDATE_CONFIG_REQUEST 5120  /* UpdateFunctionConfiguration body (seed 001) */
#define AWS_MAX_ZIPPED 52428800ULL          /* 50 MB direct upload */
#define AWS_MAX_UNZIPPED 262144000ULL       /* 250 MB */
#define AWS_TOTAL_CODE_SIZE 80530636800ULL  /* account code storage, 75 GB */
#define AWS_UNRESERVED_MINIMUM 100
#define AWS_STATE_PENDING "Pending"
#define AWS_STATE_ACTIVE "Active"
#define AWS_UPDATE_IN_PROGRESS "InProgress"
#define AWS_UPDATE_SUCCESSFUL "Successful"
#define AWS_STATE_REASON_CREATING "The function is being created."
#define AWS_STATE_REASON_CODE_CREATING "Creating"
#define AWS_PACKAGE_ZIP "Zip"
#define AWS_PACKAGE_IMAGE "Image"
#define AWS_ARCH_X86_64 "x86_64"
#define AWS_ARCH_ARM64 "arm64"
#define AWS_TRACING_PASS_THROUGH "PassThrough"
#define AWS_TRACING_ACTIVE "Active"
#define AWS_LOG_FORMAT_TEXT "Text"
#define AWS_LOG_FORMAT_JSON "JSON"
#define AWS_CODE_REPOSITORY_S3 "S3"
#define AWS_POLICY_VERSION "2012-10-17"
#define AWS_POLICY_ID "default"
#define AWS_POLICY_EFFECT_ALLOW "Allow"
#define AWS_FUNCTION_VERSION_ALL "ALL"
#define AWS_LEMU_LOCAL_BUCKET "lemu-local" /* lemu's extension: S3Key is a local directory */
/* Model constraints, as ValidationException words them (aws_validation_message). */
#define AWS_CONSTRAINT_MIN_FMT "Member must have value greater than or equal to %d"
#define AWS_CONSTRAINT_MAX_FMT "Member must have value less than or equal to %d"
#define AWS_CONSTRAINT_MAX_LENGTH_FMT "Member must have length less than or equal to %d"
#define AWS_CONSTRAINT_MIN_LENGTH_FMT "Member must have length greater than or equal to %d"
#define AWS_CONSTRAINT_CREATE_NAME_PATTERN                                                        \
  "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
#define AWS_CONSTRAINT_ROLE_PATTERN                                                               \
  "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"
#define AWS_CONSTRAINT_HANDLER_PATTERN "Member must satisfy regular expression pattern: [^\\s]+"
#define AWS_CONSTRAINT_ENV_KEYS                                                                   \
  "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
#define AWS_CONSTRAINT_TRACING_MODE "Member must satisfy enum value set: [Active, PassThrough]"
#define AWS_CONSTRAINT_ARCHITECTURES "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]"
#define AWS_CONSTRAINT_PACKAGE_TYPE "Member must satisfy enum value set: [Zip, Image]"
/* DeadLetterConfig.TargetArn (botocore ResourceArn): "" is allowed by the pattern */
#define AWS_CONSTRAINT_DLQ_TARGET_PATTERN                                                         \
  "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()"
#define AWS_CONSTRAINT_FUNCTION_VERSION "Member must satisfy enum value set: [ALL]"
#define AWS_CONSTRAINT_STATEMENT_ID_PATTERN "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)"
#define AWS_CONSTRAINT_ALIAS_PATTERN "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
#define AWS_CONSTRAINT_NOT_NULL "Member must not be null"
#define AWS_CONSTRAINT_VERSION_PATTERN "Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)"

/* ---- function errors: 200 + X-Amz-Function-Error, body {"errorType","errorMessage"}
 * (reference §2.3, §1.3). XX(id, error type, message format, errorMessage-first?) ---- */
#define AWS_FN_ERROR_MAP(XX)                                                                      \
  /* args: request id, configured timeout in seconds (double) */                                 \
  XX(TIMEOUT, "Sandbox.Timedout", "RequestId: %s Error: Task timed out after %.2f seconds", false) \
  /* args: request id, exit reason ("exit status 1", "signal: killed") */                         \
  XX(EXIT, "Runtime.ExitError", "RequestId: %s Error: Runtime exited with error: %s", false)       \
  /* arg: request id */                                                                          \
  XX(EXIT_NO_REASON, "Runtime.ExitError", "RequestId: %s Error: Runtime exited without providing a reason", false) \
  /* args: request id, exit reason; the kernel's OOM killer ended it at the memory limit */       \
  XX(OUT_OF_MEMORY, "Runtime.OutOfMemory", "RequestId: %s Error: Runtime exited with error: %s", false) \
  /* args: request id, path, lowercase errno text */                                             \
  XX(INVALID_ENTRYPOINT, "Runtime.InvalidEntrypoint", "RequestId: %s Error: fork/exec %s: %s", false) \
  /* arg: request id, program name */                                                            \
  XX(RUNTIME_MISSING, "Runtime.InvalidEntrypoint",                                               \
     "RequestId: %s Error: exec: \"%s\": executable file not found in $PATH", false)              \
  XX(RESPONSE_TOO_LARGE, "Function.ResponseSizeTooLarge",                                        \
     "Response payload size exceeded maximum allowed payload size (6291556 bytes).", true)

enum aws_fn_error {
#define AWS_FN_ERROR_ENUM(id, type, fmt, msg_first) AWS_FN_##id,
  AWS_FN_ERROR_MAP(AWS_FN_ERROR_ENUM)
#undef AWS_FN_ERROR_ENUM
  AWS_FN__COUNT
};

const char *aws_fn_error_type(enum aws_fn_error id);
/* JSON body of a function error, formatted from the row. Caller frees; NULL on failure. */
char *aws_fn_error_body(enum aws_fn_error id, ...);

/* Go's wording of a wait status, as Lambda's runtime reports it: "exit status 1",
 * "signal: killed", "signal: aborted (core dumped)". Writes into out. */
void aws_exit_reason(int wait_status, char *out, size_t outlen);
/* Go's (lowercase) wording of an errno, e.g. "no such file or directory". */
void aws_errno_text(int err, char *out, size_t outlen);

/* ---- Runtime API errors: body {"errorMessage","errorType"} (reference §4) ----
 * XX(id, http status, error type, message format) */
#define AWS_RAPI_ERROR_MAP(XX)                                                                    \
  XX(INVALID_REQUEST_ID, 400, "InvalidRequestID", "Invalid request ID")                           \
  /* args: from state, to state, reason */                                                       \
  XX(INVALID_STATE_TRANSITION, 403, "InvalidStateTransition",                                    \
     "State transition from %s to %s failed for runtime. Error: %s")                             \
  XX(PAYLOAD_TOO_LARGE, 413, "RequestEntityTooLarge", "Exceeded maximum allowed payload size (6291556 bytes).") \
  XX(NOT_FOUND, 404, "NotFound", "Not Found")                                                     \
  XX(INTERNAL, 500, "InternalServerError", "Internal Server Error")

enum aws_rapi_error {
#define AWS_RAPI_ERROR_ENUM(id, status, type, fmt) AWS_RAPI_##id,
  AWS_RAPI_ERROR_MAP(AWS_RAPI_ERROR_ENUM)
#undef AWS_RAPI_ERROR_ENUM
  AWS_RAPI__COUNT
};

void aws_rapi_error_send(struct http_req *req, enum aws_rapi_error id, ...);
/* Runtime API states named in InvalidStateTransition messages (the RIE's state names). */
#define AWS_RAPI_STATE_STARTED "Started"
#define AWS_RAPI_STATE_READY "Ready"
#define AWS_RAPI_STATE_RUNNING "Running"
#define AWS_RAPI_STATE_RESPONSE_SENT "RuntimeResponseSentState" /* after /response or /error */
#define AWS_RAPI_STATE_INVOCATION_RESPONSE "InvocationResponse"
#define AWS_RAPI_STATE_INVOCATION_ERROR "InvocationErrorResponse"
#define AWS_RAPI_STATE_INIT_ERROR "InitError"
#define AWS_RAPI_REASON_NOT_ALLOWED "State transition is not allowed"
#define AWS_RAPI_OK_BODY "{\"status\":\"OK\"}"

/* ---- API Gateway (reference §8): the proxy front's gateway responses, headers and the
 * execution-log lines API Gateway writes (emulator/apigw.c) ---- */
#define AWS_APIGW_HDR_ID "x-amz-apigw-id"                /* REST: the extended request id */
#define AWS_APIGW_HDR_HTTP_REQUEST_ID "Apigw-Requestid"  /* HTTP API: its request id */
#define AWS_APIGW_HDR_REMAPPED_PREFIX "X-Amzn-Remapped-" /* reserved response headers, renamed */
#define AWS_APIGW_STAGE_REST "Prod"                      /* SAM's stage of an implicit REST API */
#define AWS_APIGW_STAGE_HTTP "$default"
#define AWS_APIGW_ROUTE_DEFAULT "$default"
#define AWS_APIGW_DOMAIN_FMT "%s.execute-api.%s.amazonaws.com" /* args: api id, region */
/* Gateway responses, body bytes exactly as API Gateway sends them (spacing included).
 * XX(id, http status, x-amzn-ErrorType (REST) or NULL, body) */
#define AWS_APIGW_RESPONSE_MAP(XX)                                                                \
  /* REST: malformed proxy response, function error or timeout [APIGW, seed 003] */              \
  XX(REST_BAD_GATEWAY, 502, "InternalServerErrorException", "{\"message\": \"Internal server error\"}") \
  /* REST: the Invoke call itself failed (throttled 429, 413, 404...) (unconfirmed) */             \
  XX(REST_INTERNAL, 500, "InternalServerErrorException", "{\"message\": \"Internal server error\"}") \
  XX(REST_NO_ROUTE, 403, "MissingAuthenticationTokenException",                                 \
     "{\"message\":\"Missing Authentication Token\"}")                                          \
  XX(REST_TIMEOUT, 504, NULL, "{\"message\": \"Endpoint request timed out\"}")                     \
  XX(REST_TOO_LARGE, 413, NULL, "{\"message\":\"Request Too Long\"}") /* (unconfirmed) */          \
  /* HTTP API: function error, invalid response, failed Invoke (reference §8.2, unconfirmed) */  \
  XX(HTTP_INTERNAL, 500, NULL, "{\"message\":\"Internal Server Error\"}")                         \
  XX(HTTP_NO_ROUTE, 404, NULL, "{\"message\":\"Not Found\"}")                                     \
  /* HTTP API integration timeout: 503, observed [OBS cortexlabs/cortex#1225] */                 \
  XX(HTTP_TIMEOUT, 503, NULL, "{\"message\":\"Service Unavailable\"}")                            \
  XX(HTTP_TOO_LARGE, 413, NULL, "{\"message\":\"Request Entity Too Large\"}") /* (unconfirmed) */

enum aws_apigw_response {
#define AWS_APIGW_RESPONSE_ENUM(id, status, type, body) AWS_APIGW_##id,
  AWS_APIGW_RESPONSE_MAP(AWS_APIGW_RESPONSE_ENUM)
#undef AWS_APIGW_RESPONSE_ENUM
  AWS_APIGW__COUNT
};

unsigned aws_apigw_status(enum aws_apigw_response id);
/* x-amzn-ErrorType of the row, NULL when API Gateway sends none. */
const char *aws_apigw_error_type(enum aws_apigw_response id);
const char *aws_apigw_body(enum aws_apigw_response id);

/* Execution log lines (each prefixed "(<request id>) " in the log group below) [APIGW]. */
#define AWS_APIGW_LOG_GROUP_FMT "API-Gateway-Execution-Logs_%s/%s" /* args: api id, stage */
#define AWS_APIGW_LOG_BODY_BEFORE "Endpoint response body before transformations: "
#define AWS_APIGW_LOG_MALFORMED "Execution failed due to configuration error: Malformed Lambda proxy response"
/* args: the function's errorMessage, Lambda request id */
#define AWS_APIGW_LOG_FUNCTION_ERROR                                                              \
  "Lambda execution failed with status 200 due to customer function error: %s. Lambda request id: %s"
/* args: Invoke's HTTP status, Lambda request id; then the error type (unconfirmed wording) */
#define AWS_APIGW_LOG_INVOKE_FAILED "Lambda invocation failed with status: %u. Lambda request id: %s"
#define AWS_APIGW_LOG_CONFIG_ERROR "Execution failed due to configuration error: %s"
#define AWS_APIGW_LOG_TRUNCATED " [TRUNCATED]"
#define AWS_APIGW_LOG_TIMEOUT "Execution failed due to a timeout error"
#define AWS_APIGW_LOG_COMPLETED "Method completed with status: %u" /* arg: status */

#endif
