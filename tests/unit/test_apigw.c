/* Pins the API Gateway front's pure parts: the proxy response contract (apigw_response_map) for
 * REST payload 1.0 and HTTP API 2.0 -- what maps to which status, headers and body, and every
 * malformed shape that must become the 502 -- and the Events validation messages config shows. */
#include <cjson/cJSON.h>
#include <strings.h>

#include "unit.h"

#include "lemu/apigw.h"

static const char *header(const struct apigw_response *r, const char *name, size_t nth)
{
  size_t i;

  for (i = 0; i < r->n_headers; i++)
    if (!strcasecmp(r->headers[i].name, name) && nth-- == 0)
      return r->headers[i].value;
  return NULL;
}

static void map_ok(const char *text, bool rest, bool v2, struct apigw_response *r)
{
  const char *why = "unset";

  if (!apigw_response_map(text, strlen(text), rest, v2, r, &why))
    fail_msg("%s: unexpectedly malformed: %s", text, why);
  assert_null(why);
}

static void map_bad(const char *text, bool rest, bool v2)
{
  struct apigw_response r = {0};
  const char *why = NULL;

  if (apigw_response_map(text, text ? strlen(text) : 0, rest, v2, &r, &why))
    fail_msg("%s: unexpectedly accepted (status %u)", text, r.status);
  assert_non_null(why);
  assert_int_equal(r.n_headers, 0);
  assert_null(r.body);
}

static void test_rest_valid(void **state)
{
  struct apigw_response r;

  (void)state;
  map_ok("{\"statusCode\":201,\"headers\":{\"X-A\":\"1\",\"X-N\":2,\"X-B\":false,\"X-M\":\"h\"},"
         "\"multiValueHeaders\":{\"x-m\":[\"m1\",\"m2\"],\"Set-Cookie\":[\"a=1\",\"b=2\"]},"
         "\"body\":\"hi\",\"isBase64Encoded\":false}", true, false, &r);
  assert_int_equal(r.status, 201);
  assert_int_equal(r.body_len, 2);
  assert_memory_equal(r.body, "hi", 2);
  assert_string_equal(header(&r, "X-A", 0), "1");
  assert_string_equal(header(&r, "X-N", 0), "2");
  assert_string_equal(header(&r, "X-B", 0), "false");
  assert_string_equal(header(&r, "X-M", 0), "m1"); /* multiValueHeaders wins for a name in both */
  assert_string_equal(header(&r, "X-M", 1), "m2");
  assert_null(header(&r, "X-M", 2));
  assert_string_equal(header(&r, "Set-Cookie", 1), "b=2");
  assert_string_equal(header(&r, "Content-Type", 0), "application/json");
  apigw_response_cleanup(&r);

  map_ok("{\"statusCode\":\"200\",\"headers\":{\"Content-Type\":\"image/gif\",\"Date\":\"x\","
         "\"Transfer-Encoding\":\"chunked\"},\"body\":\"R0lGAA==\",\"isBase64Encoded\":true}", true, false, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body_len, 4);
  assert_memory_equal(r.body, "GIF\0", 4);
  assert_string_equal(header(&r, "Content-Type", 0), "image/gif");
  assert_string_equal(header(&r, "X-Amzn-Remapped-Date", 0), "x");
  assert_null(header(&r, "Transfer-Encoding", 0));
  apigw_response_cleanup(&r);

  map_ok("{\"statusCode\":204,\"body\":null,\"headers\":null}", true, false, &r);
  assert_int_equal(r.status, 204);
  assert_int_equal(r.body_len, 0);
  apigw_response_cleanup(&r);
}

static void test_rest_malformed(void **state)
{
  static const char *const bad[] = {
    "null", "\"a string\"", "42", "[1]", "true", "{", "not json", "",
    "{\"body\":\"no status\"}",
    "{\"statusCode\":200.5}", "{\"statusCode\":99}", "{\"statusCode\":600}", "{\"statusCode\":\"2x0\"}",
    "{\"statusCode\":200,\"body\":{\"message\":\"ok\"}}", "{\"statusCode\":200,\"body\":5}",
    "{\"statusCode\":200,\"headers\":[]}", "{\"statusCode\":200,\"headers\":{\"X\":{}}}",
    "{\"statusCode\":200,\"headers\":{\"X\":\"a\\r\\nY: b\"}}", "{\"statusCode\":200,\"headers\":{\"A B\":\"v\"}}",
    "{\"statusCode\":200,\"headers\":{\"\":\"v\"}}",
    "{\"statusCode\":200,\"multiValueHeaders\":{\"X\":\"v\"}}",
    "{\"statusCode\":200,\"multiValueHeaders\":{\"X\":[[1]]}}",
    "{\"statusCode\":200,\"isBase64Encoded\":\"true\",\"body\":\"\"}",
    "{\"statusCode\":200,\"isBase64Encoded\":true,\"body\":\"***\"}",
    "{\"statusCode\":200,\"cookies\":[\"a=1\"]}", /* REST: no key beyond the five */
    NULL,
  };
  size_t i;

  (void)state;
  for (i = 0; bad[i]; i++)
    map_bad(bad[i], true, false);
  map_bad(NULL, true, false);
}

static void test_header_limit(void **state)
{
  cJSON *o = cJSON_CreateObject(), *h = cJSON_AddObjectToObject(o, "headers");
  char *text, big[APIGW_MAX_RESPONSE_HEADERS + 1];

  (void)state;
  cJSON_AddNumberToObject(o, "statusCode", 200);
  memset(big, 'v', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  cJSON_AddStringToObject(h, "X-Big", big);
  text = cJSON_PrintUnformatted(o);
  map_bad(text, true, false);
  free(text);
  cJSON_Delete(o);
}

static void test_http_api_v2(void **state)
{
  struct apigw_response r;

  (void)state;
  /* inference without statusCode */
  map_ok("{\"a\":1}", false, true, &r);
  assert_int_equal(r.status, 200);
  assert_memory_equal(r.body, "{\"a\":1}", r.body_len);
  assert_string_equal(header(&r, "Content-Type", 0), "application/json");
  apigw_response_cleanup(&r);
  map_ok("\"hello\"", false, true, &r);
  assert_int_equal(r.body_len, 5);
  assert_memory_equal(r.body, "hello", 5);
  apigw_response_cleanup(&r);
  map_ok("null", false, true, &r);
  assert_memory_equal(r.body, "null", 4);
  apigw_response_cleanup(&r);
  /* with statusCode: the 1.0 shape plus cookies; unknown keys are ignored */
  map_ok("{\"statusCode\":302,\"cookies\":[\"c=1\",\"d=2\"],\"headers\":{\"Location\":\"/x\"},\"extra\":1}",
         false, true, &r);
  assert_int_equal(r.status, 302);
  assert_string_equal(header(&r, "Set-Cookie", 0), "c=1");
  assert_string_equal(header(&r, "Set-Cookie", 1), "d=2");
  assert_string_equal(header(&r, "Location", 0), "/x");
  apigw_response_cleanup(&r);
  map_bad("{\"statusCode\":200,\"body\":{}}", false, true);
  map_bad("{\"statusCode\":200,\"cookies\":\"c=1\"}", false, true);
  map_bad("{\"statusCode\":200,\"cookies\":[1]}", false, true);
  map_bad("not json", false, true);
  /* payload 1.0 on an HTTP API: statusCode required, unknown keys ignored */
  map_bad("{\"body\":\"x\"}", false, false);
  map_ok("{\"statusCode\":200,\"extra\":1}", false, false, &r);
  apigw_response_cleanup(&r);
}

static void expect_events(const char *json, bool ok, const char *sub, const char *message)
{
  cJSON *ev = cJSON_Parse(json);
  char *s = NULL, *m = NULL;

  assert_non_null(ev);
  assert_int_equal(apigw_events_check(ev, &s, &m), ok);
  if (!ok) {
    print_message("%s -> %s: %s\n", json, s, m);
    assert_string_equal(s, sub);
    assert_non_null(strstr(m, message));
  }
  free(s);
  free(m);
  cJSON_Delete(ev);
}

static void test_events_check(void **state)
{
  (void)state;
  expect_events("{\"A\":{\"Type\":\"Api\",\"Properties\":{\"Path\":\"/items/{id}\",\"Method\":\"get\"}},"
                "\"B\":{\"Type\":\"HttpApi\",\"Properties\":{\"Path\":\"/{proxy+}\",\"Method\":\"ANY\","
                "\"PayloadFormatVersion\":\"1.0\",\"TimeoutInMillis\":30000}},\"C\":{\"Type\":\"HttpApi\"},"
                "\"D\":{\"Type\":\"Api\",\"Properties\":{\"Path\":\"/\",\"Method\":\"x-amazon-apigateway-any-method\"}}}",
                true, NULL, NULL);
  expect_events("[]", false, "", "expected an object of events");
  expect_events("{\"A\":1}", false, "A", "expected an event");
  expect_events("{\"A\":{\"Type\":\"Api\",\"Nope\":1}}", false, "A.Nope", "unknown key (expected one of: Type, Properties)");
  expect_events("{\"A\":{\"Type\":\"SQS\"}}", false, "A.Type", "expected \"Api\" or \"HttpApi\"");
  expect_events("{\"A\":{\"Type\":\"Api\"}}", false, "A.Properties", "got nothing");
  expect_events("{\"A\":{\"Type\":\"Api\",\"Properties\":{\"Method\":\"get\"}}}", false, "A.Properties.Path",
                "got nothing");
  expect_events("{\"A\":{\"Type\":\"Api\",\"Properties\":{\"Path\":\"/a//b\",\"Method\":\"get\"}}}", false,
                "A.Properties.Path", "expected a path such as");
  expect_events("{\"A\":{\"Type\":\"Api\",\"Properties\":{\"Path\":\"/a/{x\",\"Method\":\"get\"}}}", false,
                "A.Properties.Path", "got \"/a/{x\"");
  expect_events("{\"A\":{\"Type\":\"Api\",\"Properties\":{\"Path\":\"/a/b{x}\",\"Method\":\"get\"}}}", false,
                "A.Properties.Path", "expected a path");
  expect_events("{\"A\":{\"Type\":\"Api\",\"Properties\":{\"Path\":\"/{p+}/x\",\"Method\":\"get\"}}}", false,
                "A.Properties.Path", "expected a path");
  expect_events("{\"A\":{\"Type\":\"Api\",\"Properties\":{\"Path\":\"/a/\",\"Method\":\"get\"}}}", false,
                "A.Properties.Path", "expected a path");
  expect_events("{\"A\":{\"Type\":\"Api\",\"Properties\":{\"Path\":\"/a\",\"Method\":\"TRACE\"}}}", false,
                "A.Properties.Method", "expected an HTTP method");
  expect_events("{\"A\":{\"Type\":\"HttpApi\",\"Properties\":{\"Path\":\"/a\"}}}", false,
                "A.Properties.Method", "got nothing");
  expect_events("{\"A\":{\"Type\":\"Api\",\"Properties\":{\"Path\":\"/a\",\"Method\":\"get\","
                "\"PayloadFormatVersion\":\"2.0\"}}}", false, "A.Properties.PayloadFormatVersion",
                "no PayloadFormatVersion for Type Api");
  expect_events("{\"A\":{\"Type\":\"Api\",\"Properties\":{\"Path\":\"/a\",\"Method\":\"get\","
                "\"TimeoutInMillis\":49}}}", false, "A.Properties.TimeoutInMillis", "from 50 to 29000");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rest_valid),
    cmocka_unit_test(test_rest_malformed),
    cmocka_unit_test(test_header_limit),
    cmocka_unit_test(test_http_api_v2),
    cmocka_unit_test(test_events_check),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
