/* The live page (GET /lemu/ui): static files from the ui/ folder (no build step, nothing from a
 * CDN), a JSON snapshot of the server (GET /lemu/v1/state: functions with state and limits,
 * environments warm or starting, the async queue, fault rules and kinds), and the stream of what
 * happens (GET /lemu/v1/events: server-sent events from the metrics' event ring). */
#ifndef LEMU_UI_H
#define LEMU_UI_H

#include "lemu/err.h"
#include "lemu/http_server.h"

struct lemu_ctx;
struct ui;

#define UI_MAX_FILE (1024 * 1024)
#define UI_EVENTS_HOLD_US (2u * 1000u * 1000u) /* an events request waits this long for news */

/* Create the page's state for ctx (after ctx->metrics); NULL on allocation failure. */
struct ui *ui_create(struct lemu_ctx *ctx);
/* Answers every waiting events request, then frees ui. */
void ui_destroy(struct ui *ui);

/* Route handlers (cls is the ctx), registered in api_control's table. */
void ui_page(struct http_req *req, void *cls);
void ui_asset(struct http_req *req, void *cls);
void ui_state(struct http_req *req, void *cls);
void ui_events(struct http_req *req, void *cls);

#endif
