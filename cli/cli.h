/* The nsfdsuds command: the origin's --server/--client forms and the
 * modern serve/connect subcommands.  Each command returns the exit code. */
#pragma once

#include <stdio.h>

/* Exit codes of the modern subcommands (the legacy forms keep the origin's
 * 0/1). */
enum
{
  NSFD_EXIT_OK = 0,
  NSFD_EXIT_FAIL = 1,
  NSFD_EXIT_USAGE = 2,
  NSFD_EXIT_NOEXEC = 126,
  NSFD_EXIT_NOTFOUND = 127,
};

/* Generous bounds for a peer that stops talking; the origin had none. */
#define NSFD_CLI_EXCHANGE_MS 60000u
#define NSFD_CLI_DEFAULT_CONNECT_S 10u

void nsfd_cli_usage (FILE *out, const char *prog);
/* The bound on a peer's exchange: NSFDSUDS_TIMEOUT (seconds) when set and
 * valid, else NSFD_CLI_EXCHANGE_MS.  The legacy forms take no options, so
 * this is how their waits are tuned. */
unsigned nsfd_cli_exchange_ms (void);
/* Parses a non-negative number of seconds (decimals allowed) into ms. */
int nsfd_cli_parse_seconds (const char *s, unsigned *ms);

int nsfd_cmd_legacy_server (const char *prog, const char *socket_path);
int nsfd_cmd_legacy_client (int argc, char **argv);
int nsfd_cmd_serve (int argc, char **argv);
int nsfd_cmd_connect (int argc, char **argv);
/* `nsfdsuds layer ...` (cmd-layer.c dispatches to cmd-layer-*.c). */
int nsfd_cmd_layer (int argc, char **argv);
/* `nsfdsuds doctor` (cmd-doctor.c, doctor-*.c) and `nsfdsuds status`
 * (cmd-status.c, status-*.c). */
int nsfd_cmd_doctor (int argc, char **argv);
int nsfd_cmd_status (int argc, char **argv);
/* The read-only layer tools (cmd-layer-{info,diff,export,check}.c). */
int nsfd_cmd_layer_info (int argc, char **argv);
int nsfd_cmd_layer_diff (int argc, char **argv);
int nsfd_cmd_layer_export (int argc, char **argv);
int nsfd_cmd_layer_check (int argc, char **argv);
int nsfd_cmd_layer_import (int argc, char **argv);
