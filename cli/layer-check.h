/* The checks of `nsfdsuds layer check`: each problem has a stable code
 * (docs/layers.md lists them), a path and a message. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "layer-tools.h"

/* Shown per code; the rest are counted. */
#define LC_SHOW_PER_CODE 20

struct lc_problem
{
  char code[24];
  char path[512];
  char message[512];
  bool repairable;
};

struct lc_report
{
  struct lc_problem *v;
  size_t n, cap;
  size_t hidden;              /* problems counted but not kept (over LC_SHOW_PER_CODE) */
  bool work_dirty, holder_stale;
};

void lc_report_free (struct lc_report *r);
/* Runs every check on l; <0 only when the layer could not be checked. */
int lc_check (const struct lt_layer *l, struct lc_report *r, nsfd_error_t *err);
/* Drops the problems with code. */
void lc_drop (struct lc_report *r, const char *code);
