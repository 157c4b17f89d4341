/* FunctionName parsing: every form the Lambda API accepts for a function — name, name:qualifier,
 * partial ARN (123456789012:function:name[:q]) and full ARN
 * (arn:aws:lambda:region:account:function:name[:q]) — checked against the model's pattern. */
#ifndef LEMU_ARN_H
#define LEMU_ARN_H

#include <stdbool.h>
#include <stddef.h>

#define ARN_MAX_FUNCTION_NAME_INPUT 170 /* the Invoke model's FunctionName max length */
#define ARN_MAX_NAME 64
#define ARN_MAX_QUALIFIER 128

struct function_ref {
  char name[ARN_MAX_NAME + 1];
  char qualifier[ARN_MAX_QUALIFIER + 1]; /* "" when none */
  /* "" unless a full ARN named it. The pattern bounds a region only by the input's length, so
   * it gets room for that: a shorter buffer silently cut long ones (found by tests/fuzz). */
  char region[ARN_MAX_FUNCTION_NAME_INPUT + 1];
  char account[13];                      /* "" unless an ARN named it */
};

/* Parse input into ref. false when it does not match the FunctionName pattern. */
bool arn_parse_function(const char *input, struct function_ref *ref);
/* A Qualifier query value: $LATEST, a version number or an alias name. */
bool arn_qualifier_valid(const char *q);

#endif
