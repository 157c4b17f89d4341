/* The fault engine: rules {"Function", "Fault", "When", "Times", "Params", "Match"} and the
 * deterministic decision of which rule fires for an invocation (design.md §4). Same rules, same
 * seeds, same request order → the same faults on every run: Probability draws come from a
 * per-rule PRNG seeded by the rule's Seed, one draw per invocation the rule sees. Rules come
 * through three doors (config Faults, control API, CLI) and AWS FIS experiment templates. */
#ifndef LEMU_FAULT_RULES_H
#define LEMU_FAULT_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lemu/err.h"

struct cJSON;
struct fault_engine;
struct fault_kind;

/* What a firing rule hands to the invoke path (borrowed from the engine until the next change). */
struct fault_hit {
  char id[16];
  const struct fault_kind *kind;
  const struct cJSON *params;
};

struct fault_engine *fault_engine_create(void);
void fault_engine_destroy(struct fault_engine *e);

/* Add a rule. On a bad rule returns LEMU_ERR_INVAL with *message (malloc'd) naming the field.
 * *id (malloc'd) is the new rule's id. now_ms: wall clock, for rules that expire. */
lemu_err_t fault_engine_add(struct fault_engine *e, const struct cJSON *rule, uint64_t now_ms,
                            char **id, char **message);
/* Add the Lambda actions of an AWS FIS experiment template; *ids is a JSON array text of the new
 * rule ids (malloc'd). seed makes invocationPercentage deterministic. */
lemu_err_t fault_engine_add_fis(struct fault_engine *e, const struct cJSON *tmpl, uint64_t seed,
                                uint64_t now_ms, char **ids, char **message);
bool fault_engine_remove(struct fault_engine *e, const char *id);
void fault_engine_clear(struct fault_engine *e);
/* JSON text {"Faults":[rule + "Id" + "Fired"...]} (malloc'd). */
char *fault_engine_list(struct fault_engine *e);

/* Which rules a decision considers: a rule outside the scope is neither counted nor fired. An
 * Invoke call of type Event or DryRun considers the at-call kinds (fault_kind_at_call), an async
 * attempt the others, a synchronous call (Invoke, the API Gateway front) all of them; so every
 * rule counts either calls or attempts, never both. */
enum fault_scope { FAULT_SCOPE_ALL, FAULT_SCOPE_CALL, FAULT_SCOPE_ATTEMPT };

/* Decide for one invocation of function (payload = the event bytes, client_context = decoded JSON
 * or NULL). true when a rule fires; *hit says which. Advances counters and PRNGs. */
bool fault_engine_decide(struct fault_engine *e, const char *function, const char *payload,
                         size_t len, const char *client_context, uint64_t now_ms, enum fault_scope scope,
                         struct fault_hit *hit);
/* A pending rule in force for function right now (GetFunction reports State Pending). */
bool fault_engine_pending(struct fault_engine *e, const char *function, uint64_t now_ms);

/* Called with the rule id, the fault kind's name and the function each time a rule fires (the
 * metrics count firings per rule). One observer; NULL removes it. */
typedef void (*fault_fired_fn)(void *cls, const char *rule_id, const char *kind, const char *function);
void fault_engine_set_observer(struct fault_engine *e, fault_fired_fn fn, void *cls);

#endif
