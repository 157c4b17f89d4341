/* AWS SAM / CloudFormation templates as lemu's function configuration (`lemu serve --template`).
 * The template's AWS::Serverless::Function and AWS::Lambda::Function resources are turned into
 * lemu.json's function entries (with CloudFormation intrinsics resolved) and validated by config.c,
 * so a template and a lemu.json mean exactly the same thing. See docs/sam.md. */
#ifndef LEMU_SAM_H
#define LEMU_SAM_H

#include <stddef.h>

#include "lemu/config.h"
#include "lemu/err.h"

struct sam_opts {
  /* --parameter-overrides words as given: "K=V", "K1=V1 K2=V2" or
   * "ParameterKey=K,ParameterValue=V" (sam's two spellings). */
  char *const *overrides;
  size_t n_overrides;
  /* Where inline code (InlineCode, Code.ZipFile) is written: <scratch_dir>/sam-inline/<name>/.
   * NULL: a directory under $TMPDIR (or /tmp). */
  const char *scratch_dir;
  const char *stack_name; /* AWS::StackName; NULL = "lemu" */
};

/* Read the template at path and append its functions (and their EventInvokeConfig, dead-letter
 * queue and Api / HttpApi Events) to cfg, which already holds the defaults or a -c file's
 * settings; AWS::Region and AWS::AccountId come from cfg. A function name already in cfg is an
 * error. On failure returns LEMU_ERR_CONFIG and sets *message (malloc'd, caller frees) to one line
 * "<file>: <key path>: <reason>" naming the resource, the property and the intrinsic. */
lemu_err_t sam_load(const char *path, const struct sam_opts *opts, struct lemu_config *cfg,
                    char **message);

#endif
