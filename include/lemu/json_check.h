/* Validates an Invoke payload as JSON without building a tree (payloads reach 6 MB and the warm
 * path must stay lean), and words the failure as Lambda's Jackson parser does (ObjectMapper
 * .readTree(byte[]); the version is JSON_CHECK_JACKSON below), message and position alike, e.g.
 * "Unrecognized token 'abc': was expecting ('true', 'false' or 'null')\n at [Source: (byte[])"abc";
 * line: 1, column: 4]" (reference §1.5).
 * An empty or all-whitespace body is valid (no event). */
#ifndef LEMU_JSON_CHECK_H
#define LEMU_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* Jackson 2.9 has no nesting limit (its tree builder recurses until the JVM stack runs out); this
 * bound only keeps a hostile payload from costing unbounded memory. Deeper payloads fail with
 * "Document nesting depth (N) exceeds the maximum allowed (JSON_CHECK_MAX_DEPTH)". */
#define JSON_CHECK_MAX_DEPTH 100000

/* Which Jackson json_check reproduces (checked byte for byte against each version named):
 * 209: jackson-core/databind 2.9.10, the default.
 * 212: 2.10 to 2.12 (2.12.7): valid values listed as "(JSON String, Number, Array, Object or
 *      token 'null', 'true' or 'false')", end-of-input reported at the end, a BOM counts in columns.
 * 213: 2.13 (2.13.5): as 212, and control characters in the source snippet written as \uXXXX.
 * 2.14 rewords '+' and NaN errors and 2.15 adds StreamReadConstraints limits: not modelled. */
#ifndef JSON_CHECK_JACKSON
#define JSON_CHECK_JACKSON 209
#endif
/* jackson-core#455: 2.9.x puts end-of-input positions past the end. The lead's reference
 * (lambda-reference.md §1.5, observed on Lambda) shows the 2.9 wording with the true column
 * ("abc" → column 4), so lemu models 2.9's words without that bug unless this is set to 1. */
#ifndef JSON_CHECK_EOF_COLUMN_BUG
#define JSON_CHECK_EOF_COLUMN_BUG 0
#endif

/* true when p[0..len) is acceptable; otherwise false and, when detail is not NULL, *detail is a
 * malloc'd message the caller frees (NULL if memory ran out). */
bool json_check(const char *p, size_t len, char **detail);

#endif
