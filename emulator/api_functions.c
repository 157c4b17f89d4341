/* Management API handlers (see include/lemu/api_functions.h). */
#include "lemu/api_functions.h"

const struct http_route api_functions_routes[] = {
  {.method = NULL, .pattern = NULL, .fn = NULL, .max_body = 0},
};
const size_t api_functions_n_routes = 0;
