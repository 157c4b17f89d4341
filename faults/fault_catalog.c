/* The fault kinds table (see include/lemu/fault_catalog.h). Messages are AWS's words: the SEED
 * texts of the troubleshooting pages where they exist, the service model's documentation
 * otherwise (marked "model doc" in docs/faults.md). This file and aws_errors.c are the only places
 * that spell AWS error types. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/aws_errors.h"
#include "lemu/buf.h"
#include "lemu/fault_catalog.h"
#include "lemu/http_server.h"
#include "lemu/util.h"

#define FAULT_EFS_AP "arn:aws:elasticfilesystem:us-east-2:123456789012:access-point/fsap-015cxmplb72b405fd"
#define FAULT_IAM_USER "arn:aws:iam::123456789012:user/developer" /* the seed's principal */
#define FAULT_DOC_RESOURCE "my-function"                           /* and its function */
#define FAULT_DEFAULT_ERROR_TYPE "FaultInjected"
#define FAULT_DEFAULT_ERROR_MESSAGE "Injected by lemu"

const struct fault_kind fault_kinds[] = {
  {"throttle", FAULT_THROTTLE, 429, "TooManyRequestsException", true, "Rate Exceeded.", NULL, NULL,
   true, "429 with Params.Reason (default ReservedFunctionConcurrentInvocationLimitExceeded) and Retry-After"},
  {"access-denied", FAULT_ACCESS_DENIED, 403, "AccessDeniedException", false,
   "User: %s is not authorized to perform: lambda:InvokeFunction on resource: %s", "Principal",
   FAULT_IAM_USER, false,
   "the caller lacks lambda:InvokeFunction (seed): 403 for every invocation type, Event and DryRun "
   "too; Params.Principal, the resource is the function as the caller named it"},
  {"pending", FAULT_PENDING, 409, "ResourceConflictException", true,
   "The operation cannot be performed at this time. The function is currently in the following state: Pending",
   NULL, NULL, false, "function reports State Pending; Invoke gets 409 for Params.Seconds or until cleared"},
  {"timeout", FAULT_TIMEOUT, 200, "Sandbox.Timedout", false, NULL, NULL, NULL, false,
   "the invocation is held until its deadline and killed as a real timeout is"},
  {"oom", FAULT_OOM, 200, "Runtime.OutOfMemory", false, NULL, NULL, NULL, false,
   "the environment is killed as at its memory limit"},
  {"crash", FAULT_CRASH, 200, "Runtime.ExitError", false, NULL, NULL, NULL, false,
   "the runtime process is killed mid-invoke"},
  {"latency", FAULT_LATENCY, 200, NULL, false, NULL, NULL, NULL, false,
   "Params.Ms milliseconds added before dispatch"},
  {"function-error", FAULT_FUNCTION_ERROR, 200, NULL, false, NULL, NULL, NULL, false,
   "a handler error (Params.ErrorType, Params.ErrorMessage) without running the handler"},
  {"efs-mount-failure", FAULT_API_ERROR, 403, "EFSMountFailureException", false,
   "The function could not mount the EFS file system with access point %s.", "AccessPointArn",
   FAULT_EFS_AP, false, "EFS mount failure (seed)"},
  {"efs-mount-connectivity", FAULT_API_ERROR, 408, "EFSMountConnectivityException", false,
   "The function couldn't connect to the Amazon EFS file system with access point %s. Check your "
   "network configuration and try again.", "AccessPointArn", FAULT_EFS_AP, false,
   "EFS mount connectivity (seed)"},
  {"efs-mount-timeout", FAULT_API_ERROR, 408, "EFSMountTimeoutException", false,
   "The function could not mount the EFS file system with access point {%s} due to mount time out",
   "AccessPointArn", FAULT_EFS_AP, false, "EFS mount timeout (seed)"},
  {"efs-io", FAULT_API_ERROR, 410, "EFSIOException", false,
   "This function instance was stopped because Lambda detected an IO process that was taking too long.",
   NULL, NULL, false, "EFS IO (seed)"},
  {"kms-disabled", FAULT_API_ERROR, 502, "KMSDisabledException", false,
   "Lambda was unable to decrypt the environment variables because the KMS key used is disabled. "
   "Please check the function's KMS key settings.", NULL, NULL, true, "KMS key disabled (seed)"},
  {"kms-access-denied", FAULT_API_ERROR, 502, "KMSAccessDeniedException", false,
   "Lambda couldn't decrypt the environment variables because KMS access was denied. Check the "
   "function's KMS key settings.", NULL, NULL, true, "KMS access denied (model doc)"},
  {"kms-invalid-state", FAULT_API_ERROR, 502, "KMSInvalidStateException", false,
   "Lambda couldn't decrypt the environment variables because the state of the KMS key used is not "
   "valid for Decrypt. Check the function's KMS key settings.", NULL, NULL, true,
   "KMS key state invalid (model doc)"},
  {"kms-not-found", FAULT_API_ERROR, 502, "KMSNotFoundException", false,
   "Lambda couldn't decrypt the environment variables because the KMS key was not found. Check the "
   "function's KMS key settings.", NULL, NULL, true, "KMS key not found (model doc)"},
  {"eni-limit", FAULT_API_ERROR, 502, "ENILimitReachedException", false,
   "Lambda couldn't create an elastic network interface in the VPC, specified as part of Lambda "
   "function configuration, because the limit for network interfaces has been reached.",
   NULL, NULL, true, "VPC ENI limit (model doc)"},
  {"subnet-ip-limit", FAULT_API_ERROR, 502, "SubnetIPAddressLimitReachedException", false,
   "Lambda couldn't set up VPC access for the Lambda function because one or more configured "
   "subnets has no available IP addresses.", NULL, NULL, true, "subnet out of IPs (model doc)"},
  {"invalid-subnet", FAULT_API_ERROR, 502, "InvalidSubnetIDException", false,
   "The subnet ID provided in the Lambda function VPC configuration is not valid.", NULL, NULL, true,
   "a VPC subnet that does not exist (model doc)"},
  {"invalid-security-group", FAULT_API_ERROR, 502, "InvalidSecurityGroupIDException", false,
   "The security group ID provided in the Lambda function VPC configuration is not valid.", NULL, NULL,
   true, "a VPC security group that does not exist (model doc)"},
  {"ec2-throttled", FAULT_API_ERROR, 502, "EC2ThrottledException", false,
   "Lambda was throttled while using the Lambda Execution Role to set up for the Lambda function.",
   NULL, NULL, true, "EC2 throttled Lambda's VPC set-up (observed text)"},
  {"ec2-access-denied", FAULT_API_ERROR, 502, "EC2AccessDeniedException", false,
   "Need additional permissions to configure VPC settings.", NULL, NULL, true,
   "the execution role lacks the EC2 permissions for VPC set-up (model doc)"},
  {"invalid-zip-file", FAULT_API_ERROR, 502, "InvalidZipFileException", false,
   "Lambda could not unzip the deployment package.", NULL, NULL, true,
   "the deployment package cannot be unzipped (model doc)"},
  {"invalid-runtime", FAULT_API_ERROR, 502, "InvalidRuntimeException", false,
   "The runtime or runtime version specified is not supported.", NULL, NULL, true,
   "the function's runtime is not supported (model doc)"},
  {"service-exception", FAULT_API_ERROR, 500, "ServiceException", false,
   "The Lambda service encountered an internal error.", NULL, NULL, true, "Lambda internal error"},
  {"resource-not-ready", FAULT_API_ERROR, 502, "ResourceNotReadyException", true,
   "The function is inactive and its VPC connection is no longer available. Wait for the VPC "
   "connection to reestablish and try again.", NULL, NULL, true, "inactive function (model doc)"},
  {"request-too-large", FAULT_API_ERROR, 413, "RequestEntityTooLargeException", false,
   "Request must be smaller than 6291456 bytes for the InvokeFunction operation", NULL, NULL, false,
   "413 as for a payload over 6 MB"},
  {"http-integration-response", FAULT_HTTP_RESPONSE, 200, NULL, false, NULL, NULL, NULL, false,
   "the function returns Params.StatusCode with Params.ContentType (FIS invocation-http-integration-response)"},
  {"malformed-proxy-response", FAULT_PROXY, 502, "InternalServerErrorException", true,
   "Internal server error", NULL, NULL, false,
   "through the API Gateway front, the function's answer is replaced by a malformed proxy response "
   "(Params.Variant: BodyNotString (default), None, MissingStatusCode) without running it: REST 502; "
   "no effect on Invoke"},
};
const unsigned fault_kinds_count = sizeof(fault_kinds) / sizeof(fault_kinds[0]);

const struct fault_kind *fault_kind_find(const char *name)
{
  unsigned i;

  for (i = 0; name && i < fault_kinds_count; i++)
    if (!strcmp(fault_kinds[i].name, name))
      return &fault_kinds[i];
  return NULL;
}

bool fault_kind_answers_call(const struct fault_kind *k)
{
  return k->action == FAULT_API_ERROR || k->action == FAULT_THROTTLE || k->action == FAULT_PENDING ||
         k->action == FAULT_ACCESS_DENIED;
}

bool fault_kind_at_call(const struct fault_kind *k)
{
  return k->action == FAULT_ACCESS_DENIED;
}

static const char *param_string(const cJSON *params, const char *key, const char *dflt)
{
  const cJSON *v = params ? cJSON_GetObjectItemCaseSensitive(params, key) : NULL;

  return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* The kind's message with its parameter (and, for access-denied, the resource) filled in
 * (malloc'd; NULL when out of memory). */
static char *kind_message(const struct fault_kind *k, const cJSON *params, const char *resource)
{
  if (!k->message)
    return util_strdup("");
  if (k->action == FAULT_ACCESS_DENIED)
    return util_asprintf(k->message, param_string(params, k->arn_param, k->arn_default), resource);
  if (k->arn_param)
    return util_asprintf(k->message, param_string(params, k->arn_param, k->arn_default));
  return util_strdup(k->message);
}

void fault_catalog_send(struct http_req *req, const char *request_id, const struct fault_kind *k,
                        const cJSON *params, const char *resource)
{
  char *msg;

  if (k->action == FAULT_THROTTLE) {
    aws_throttle_send(req, request_id, param_string(params, "Reason", AWS_REASON_RESERVED_CONCURRENCY));
    return;
  }
  msg = kind_message(k, params, resource ? resource : "");
  aws_error_send_raw(req, request_id, k->status, k->error_type, k->lower_message_key,
                     !strcmp(k->error_type, "RequestEntityTooLargeException"), msg ? msg : "");
  free(msg);
}

char *fault_catalog_function_error_body(const cJSON *params)
{
  cJSON *o = cJSON_CreateObject();
  char *text;

  if (!o)
    return NULL;
  cJSON_AddStringToObject(o, "errorMessage", param_string(params, "ErrorMessage", FAULT_DEFAULT_ERROR_MESSAGE));
  cJSON_AddStringToObject(o, "errorType", param_string(params, "ErrorType", FAULT_DEFAULT_ERROR_TYPE));
  cJSON_AddItemToObject(o, "stackTrace", cJSON_CreateArray());
  text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return text;
}

char *fault_catalog_http_response_body(const cJSON *params)
{
  const cJSON *sc = params ? cJSON_GetObjectItemCaseSensitive(params, "StatusCode") : NULL;
  cJSON *o = cJSON_CreateObject(), *h;
  char *text;
  int status = 500;

  if (cJSON_IsNumber(sc))
    status = sc->valueint;
  else if (cJSON_IsString(sc))
    status = atoi(sc->valuestring);
  if (!o)
    return NULL;
  cJSON_AddNumberToObject(o, "statusCode", status);
  h = cJSON_AddObjectToObject(o, "headers");
  cJSON_AddStringToObject(h, "Content-Type", param_string(params, "ContentType", "text/plain"));
  cJSON_AddStringToObject(o, "body", "");
  cJSON_AddBoolToObject(o, "isBase64Encoded", 0);
  text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return text;
}

/* The malformed answers of seed 003, each as the handler would have returned it. */
static const char *const proxy_variants[] = {
  FAULT_PROXY_BODY_NOT_STRING, FAULT_PROXY_NONE, FAULT_PROXY_MISSING_STATUS_CODE, NULL,
};

bool fault_catalog_proxy_variant_known(const char *variant)
{
  size_t i;

  for (i = 0; variant && proxy_variants[i]; i++)
    if (!strcmp(proxy_variants[i], variant))
      return true;
  return false;
}

char *fault_catalog_proxy_response_body(const cJSON *params)
{
  const char *variant = param_string(params, "Variant", FAULT_PROXY_BODY_NOT_STRING);
  cJSON *o = NULL, *message = NULL, *h;
  char *text = NULL;

  if (!strcmp(variant, FAULT_PROXY_NONE)) {
    o = cJSON_CreateNull(); /* Python's None, JavaScript's undefined */
    goto out;
  }
  o = cJSON_CreateObject();
  message = cJSON_CreateObject();
  if (!o || !message)
    goto out;
  cJSON_AddStringToObject(message, "message", "ok");
  if (strcmp(variant, FAULT_PROXY_MISSING_STATUS_CODE) != 0)
    cJSON_AddNumberToObject(o, "statusCode", 200);
  h = cJSON_AddObjectToObject(o, "headers");
  cJSON_AddStringToObject(h, "Content-Type", AWS_CONTENT_TYPE_JSON);
  if (!strcmp(variant, FAULT_PROXY_MISSING_STATUS_CODE)) {
    char *inner = cJSON_PrintUnformatted(message);
    cJSON_AddStringToObject(o, "body", inner ? inner : "");
    free(inner);
  } else {
    cJSON_AddItemToObject(o, "body", message); /* the mistake: an object, not a string */
    message = NULL;
  }
out:
  if (o)
    text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  cJSON_Delete(message);
  return text;
}

char *fault_catalog_markdown(void)
{
  struct buf b;
  unsigned i;

  buf_init(&b, 1 << 20);
  buf_append_str(&b, "<!-- Generated from faults/fault_catalog.c by `lemu faults-doc`; do not edit. -->\n"
                     "# Fault catalog\n\n"
                     "Every kind a fault rule can inject (`\"Fault\": \"<kind>\"`), what the caller sees, "
                     "and whether AWS SDKs retry it by default.\n\n"
                     "| Fault | What happens | HTTP | Error type | Message | SDK retries |\n"
                     "|---|---|---|---|---|---|\n");
  for (i = 0; i < fault_kinds_count; i++) {
    const struct fault_kind *k = &fault_kinds[i];
    char *msg = kind_message(k, NULL, FAULT_DOC_RESOURCE);
    char *row = util_asprintf("| `%s` | %s | %u | %s | %s | %s |\n", k->name, k->what, k->status,
                              k->error_type ? k->error_type : "", msg ? msg : "",
                              k->sdk_retries ? "yes" : "no");
    if (row)
      buf_append_str(&b, row);
    free(row);
    free(msg);
  }
  return buf_take(&b, NULL);
}
