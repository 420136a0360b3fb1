/* `nsfdsuds layer SUBCOMMAND ...`: the layer tools (docs/layers.md).  One
 * row per subcommand; each gets argv from its own name on. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct
{
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
} layer_commands[] = {
  { "import", "make a layer from an LXC container's delta or an overlay upper", nsfd_cmd_layer_import },
  { "info", "format, lower, size, counts and holder of a layer", nsfd_cmd_layer_info },
  { "diff", "what the layer changes relative to its lower", nsfd_cmd_layer_diff },
  { "export", "the layer as an OCI image layer tarball", nsfd_cmd_layer_export },
  { "check", "verify a layer's structure (--repair: fix what is safe)", nsfd_cmd_layer_check },
  { NULL, NULL, NULL },
};

static void
layer_usage (FILE *out)
{
  fprintf (out, "Usage: nsfdsuds layer SUBCOMMAND [OPTIONS] LAYER\n\n"
                "LAYER is a layer directory (<volume>/.nsfdsuds/<name>) or a volume directory\n"
                "(then the layer \"default\", or --name NAME).\n\n");
  for (size_t i = 0; layer_commands[i].name; i++)
    fprintf (out, "  %-8s %s\n", layer_commands[i].name, layer_commands[i].summary);
  fprintf (out, "\n`nsfdsuds layer SUBCOMMAND --help` describes each; see docs/layers.md.\n");
}

int
nsfd_cmd_layer (int argc, char **argv)
{
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      layer_usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? NSFD_EXIT_USAGE : NSFD_EXIT_OK;
    }
  for (size_t i = 0; layer_commands[i].name; i++)
    if (strcmp (argv[1], layer_commands[i].name) == 0)
      return layer_commands[i].run (argc - 1, argv + 1);
  fprintf (stderr, "nsfdsuds layer: unknown subcommand `%s`\n\n", argv[1]);
  layer_usage (stderr);
  return NSFD_EXIT_USAGE;
}
