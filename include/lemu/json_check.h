/* Validates an Invoke payload as JSON without building a tree (payloads reach 6 MB and the warm
 * path must stay lean), and words the failure as Lambda's Jackson parser does, e.g.
 * "Unrecognized token 'abc': was expecting ('true', 'false' or 'null')\n at [Source: (byte[])"abc";
 * line: 1, column: 4]" (reference §1.5). An empty or all-whitespace body is valid (no event). */
#ifndef LEMU_JSON_CHECK_H
#define LEMU_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_CHECK_MAX_DEPTH 1000

/* true when p[0..len) is acceptable; otherwise false and, when detail is not NULL, *detail is a
 * malloc'd message the caller frees. */
bool json_check(const char *p, size_t len, char **detail);

#endif
