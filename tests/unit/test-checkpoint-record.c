/* lib/checkpoint-record.c: the record in a checkpoint's image directory
 * (parse, write/read, matching a restore's layer) and the layer's generation
 * counter it relies on (lib/layer-generation.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint-record.h"
#include "cleanup.h"
#include "layer.h"
#include "tap.h"
#include "testutil.h"

#define GOOD                                                                                                   \
  "{\"format\": 1, \"container\": \"web-0\", \"takenAt\": \"2026-12-01T20:00:00Z\", \"leftRunning\": false, " \
  "\"layerPath\": \"/vol/.nsfdsuds/default\", \"layerName\": \"default\", "                                     \
  "\"layerCreatedAt\": \"2026-11-29T00:30:32Z\", \"lowerId\": \"fnv1a64:3c285d32ced6a5a8\", \"generation\": 4}"

static int
parse (const char *text, struct nsfd_checkpoint_record *r, nsfd_error_t *err)
{
  return nsfd_checkpoint_record_parse (text, strlen (text), r, err);
}

static void
test_parse (void)
{
  struct nsfd_checkpoint_record r;
  nsfd_error_t err = NULL;

  CHECK (parse (GOOD, &r, &err) == 0, "a good record parses (%s)", err ? nsfd_error_text (err) : "");
  CHECK (strcmp (r.container, "web-0") == 0 && strcmp (r.layer.name, "default") == 0
             && strcmp (r.layer.path, "/vol/.nsfdsuds/default") == 0 && r.layer.generation == 4
             && strcmp (r.layer.lower_id, "fnv1a64:3c285d32ced6a5a8") == 0 && !r.left_running,
         "its fields");
  CHECK (!r.layer.marked, "a record without layerMark: the layer is not expected to carry the mark");
  nsfd_error_free (&err);

  static const struct
  {
    const char *text, *want;
  } bad[] = {
    { "{\"format\": 2, \"container\": \"x\"}", "format 2" },
    { "{\"format\": 1, \"container\": \"x\", \"extra\": 1}", "unknown field" },
    { "{\"format\": 1, \"container\": \"x\", \"takenAt\": \"t\", \"layerPath\": \"/p\", \"layerName\": \"n\", "
      "\"layerCreatedAt\": \"c\", \"lowerId\": \"l\"}",
      "\"generation\" missing" },
    { "{\"format\": 1, \"container\": \"x\", \"takenAt\": \"t\", \"layerPath\": \"/p\", \"layerName\": \"n\", "
      "\"layerCreatedAt\": \"c\", \"lowerId\": \"l\", \"generation\": -1}",
      "out of range" },
    { "{\"format\": 1, \"container\": \"x\", \"takenAt\": \"t\", \"layerPath\": \"/p\", \"layerName\": \"\", "
      "\"layerCreatedAt\": \"c\", \"lowerId\": \"l\", \"generation\": 1}",
      "empty" },
    { "{\"format\": 1, \"container\": \"x\", \"takenAt\": \"t\", \"layerPath\": \"/p\", \"layerName\": 7, "
      "\"layerCreatedAt\": \"c\", \"lowerId\": \"l\", \"generation\": 1}",
      "layerName" },
    { "{\"format\": 1, \"container\": \"x\", \"takenAt\": \"t\", \"layerPath\": \"/p\", \"layerName\": \"n\", "
      "\"layerCreatedAt\": \"c\", \"lowerId\": \"l\", \"generation\": 1, \"layerMark\": \"user.x\"}",
      "\"layerMark\" is not" },
    { "{\"format\": 1, \"format\": 1}", "duplicate" },
    { "[1]", "" },
    { "{\"format\": 1", "" },
  };
  for (size_t i = 0; i < sizeof (bad) / sizeof (bad[0]); i++)
    {
      int rc = parse (bad[i].text, &r, &err);
      CHECK (rc < 0 && err != NULL && strstr (nsfd_error_text (err), bad[i].want) != NULL, "bad record %zu: %s", i,
             err ? nsfd_error_text (err) : "accepted");
      nsfd_error_free (&err);
    }
  /* A layer name longer than a layer name can be. */
  {
    char text[1024];
    char name[200];
    memset (name, 'a', sizeof (name) - 1);
    name[sizeof (name) - 1] = '\0';
    snprintf (text, sizeof (text),
              "{\"format\": 1, \"container\": \"x\", \"takenAt\": \"t\", \"layerPath\": \"/p\", \"layerName\": "
              "\"%s\", \"layerCreatedAt\": \"c\", \"lowerId\": \"l\", \"generation\": 1}",
              name);
    CHECK (parse (text, &r, &err) < 0, "an overlong layer name is refused");
    nsfd_error_free (&err);
  }
}

static void
test_write_read (const char *dir)
{
  struct nsfd_checkpoint_record w = { 0 }, r;
  nsfd_error_t err = NULL;
  cleanup_close int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  snprintf (w.container, sizeof (w.container), "%s", "db-\"quoted\"");
  snprintf (w.layer.path, sizeof (w.layer.path), "%s", "/v/.nsfdsuds/main");
  snprintf (w.layer.name, sizeof (w.layer.name), "%s", "main");
  snprintf (w.layer.created_at, sizeof (w.layer.created_at), "%s", "2026-11-29T00:30:32Z");
  w.layer.generation = 12345678901ULL;
  w.left_running = true;
  w.layer.marked = true;
  CHECK (nsfd_checkpoint_record_write (fd, &w, &err) == 0, "write (%s)", err ? nsfd_error_text (err) : "");
  nsfd_error_free (&err);
  CHECK (nsfd_checkpoint_record_read (fd, &r, &err) == 0, "read back (%s)", err ? nsfd_error_text (err) : "");
  nsfd_error_free (&err);
  CHECK (strcmp (r.container, w.container) == 0 && strcmp (r.layer.name, "main") == 0
             && r.layer.generation == w.layer.generation && r.left_running && r.layer.lower_id[0] == '\0'
             && r.taken_at[0] != '\0' && r.layer.marked,
         "the same record (takenAt filled in)");
  CHECK (unlinkat (fd, NSFD_CHECKPOINT_RECORD, 0) == 0, "remove it");
  CHECK (nsfd_checkpoint_record_read (fd, &r, &err) < 0 && err && err->status == ENOENT, "none: ENOENT");
  nsfd_error_free (&err);
}

static void
test_match (void)
{
  struct nsfd_checkpoint_record r;
  struct nsfd_checkpoint_layer now;
  nsfd_error_t err = NULL;

  CHECK (parse (GOOD, &r, &err) == 0, "record");
  now = r.layer;
  snprintf (now.path, sizeof (now.path), "%s", "/node2/vol/.nsfdsuds/default");
  CHECK (nsfd_checkpoint_match (&r, &now, &err) == 0, "the same layer on another path matches");
  nsfd_error_free (&err);

  now = r.layer;
  snprintf (now.name, sizeof (now.name), "%s", "other");
  CHECK (nsfd_checkpoint_match (&r, &now, &err) < 0 && err->status == ESTALE, "another name: ESTALE");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "layer \"default\"", "names the checkpoint's layer");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "layer \"other\"", "names the layer found");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "nsfdsuds.io/restore-any-layer", "names the override");
  nsfd_error_free (&err);

  now = r.layer;
  snprintf (now.created_at, sizeof (now.created_at), "%s", "2026-12-01T00:00:00Z");
  CHECK (nsfd_checkpoint_match (&r, &now, &err) < 0, "another layer of the same name is refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "another layer of the same name", "and says so");
  nsfd_error_free (&err);

  now = r.layer;
  now.generation = 0;
  CHECK (nsfd_checkpoint_match (&r, &now, &err) < 0, "a layer that never ran is refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "never run", "and says so");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "copied without its \"generation\" file", "and names the copy");
  nsfd_error_free (&err);

  now = r.layer;
  snprintf (now.lower_id, sizeof (now.lower_id), "%s", "fnv1a64:0000000000000001");
  CHECK (nsfd_checkpoint_match (&r, &now, &err) < 0, "a changed image is refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "fnv1a64:3c285d32ced6a5a8", "naming the checkpoint's image");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "fnv1a64:0000000000000001", "and the layer's");
  nsfd_error_free (&err);

  now = r.layer;
  now.generation = 5;
  CHECK (nsfd_checkpoint_match (&r, &now, &err) < 0, "a layer used since is refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "generation 5", "naming its generation");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "generation 4", "and the checkpoint's");
  nsfd_error_free (&err);

  r.layer.marked = true;
  now = r.layer;
  now.marked = false;
  CHECK (nsfd_checkpoint_match (&r, &now, &err) < 0 && err->status == ESTALE, "a copy that lost the mark is refused");
  CHECK_STR_CONTAINS (nsfd_error_text (err), NSFD_CHECKPOINT_MARK, "naming the mark");
  CHECK_STR_CONTAINS (nsfd_error_text (err), "opaque directories", "and what else went with it");
  nsfd_error_free (&err);
  now.marked = true;
  CHECK (nsfd_checkpoint_match (&r, &now, &err) == 0, "a copy that kept it matches");
  r.layer.marked = false;
  now.marked = false;
  CHECK (nsfd_checkpoint_match (&r, &now, &err) == 0, "a record from before the mark asks for none");
}

static void
test_mark (const char *dir)
{
  nsfd_error_t err = NULL;
  cleanup_close int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  CHECK (nsfd_checkpoint_mark_present (fd, &err) == 0, "no mark yet");
  if (geteuid () != 0)
    return; /* a trusted.* xattr needs root */
  CHECK (nsfd_checkpoint_mark_set (fd, 7, &err) == 0, "set (%s)", err ? nsfd_error_text (err) : "");
  nsfd_error_free (&err);
  CHECK (nsfd_checkpoint_mark_present (fd, &err) == 1, "present");
}

static void
test_generation (const char *dir)
{
  struct nsfd_layer l;
  unsigned long long g = 99, four = 4, two = 2;
  nsfd_error_t err = NULL;
  char path[512];

  nsfd_layer_init (&l);
  l.dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  l.path = strdup (dir);
  CHECK (nsfd_layer_generation_read (l.dir_fd, &g, &err) == 0 && g == 0, "no file: generation 0");
  CHECK (nsfd_layer_generation_bump (l.dir_fd, &g, &err) == 0 && g == 1, "bump: 1");
  CHECK (nsfd_layer_generation_advance (&l, NULL, &g, &err) == 0 && g == 2, "advance without expectation: 2");
  CHECK (nsfd_layer_generation_advance (&l, &four, &g, &err) < 0 && err->status == ESTALE,
         "advance expecting 4 at 2: ESTALE");
  nsfd_error_free (&err);
  CHECK (nsfd_layer_generation_advance (&l, &two, &g, &err) == 0 && g == 3, "advance expecting 2: 3");
  CHECK (nsfd_layer_generation_read (l.dir_fd, &g, &err) == 0 && g == 3, "read: 3");
  snprintf (path, sizeof (path), "%s/%s", dir, NSFD_LAYER_GENERATION);
  tu_write_file (path, "x1\n");
  CHECK (nsfd_layer_generation_read (l.dir_fd, &g, &err) < 0 && err->status == EINVAL, "garbage is refused");
  nsfd_error_free (&err);
  tu_write_file (path, "18446744073709551616\n");
  CHECK (nsfd_layer_generation_read (l.dir_fd, &g, &err) < 0, "overflow is refused");
  nsfd_error_free (&err);
  nsfd_layer_close (&l);
}

int
main (void)
{
  char dir[] = "/tmp/nsfd-test-ckpt-XXXXXX";

  test_parse ();
  test_match ();
  if (mkdtemp (dir) == NULL)
    {
      CHECK (0, "mkdtemp: %s", strerror (errno));
      TAP_DONE ();
    }
  test_write_read (dir);
  test_mark (dir);
  test_generation (dir);
  tu_rm_tree (dir);
  TAP_DONE ();
}
