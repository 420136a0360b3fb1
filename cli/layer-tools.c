#include "layer-tools.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cleanup.h"
#include "layer-scan.h"
#include "safepath.h"
#include <yajl/yajl_tree.h>

static const struct
{
  const char *name;
  unsigned flag;
  bool takes_value;
} option_table[] = {
  { "--lower", LT_OPT_LOWER, true }, { "--json", LT_OPT_JSON, false },   { "--quiet", LT_OPT_QUIET, false },
  { "-o", LT_OPT_OUTPUT, true },     { "--output", LT_OPT_OUTPUT, true }, { "--gzip", LT_OPT_GZIP, false },
  { "--repair", LT_OPT_REPAIR, false }, { "--name", 0, true },
};

static void
set_option (struct lt_opts *o, unsigned flag, const char *name, const char *value)
{
  if (strcmp (name, "--name") == 0)
    o->name = value;
  else if (flag == LT_OPT_LOWER)
    o->lower = value;
  else if (flag == LT_OPT_OUTPUT)
    o->output = value;
  else if (flag == LT_OPT_JSON)
    o->json = true;
  else if (flag == LT_OPT_QUIET)
    o->quiet = true;
  else if (flag == LT_OPT_GZIP)
    o->gzip = true;
  else if (flag == LT_OPT_REPAIR)
    o->repair = true;
}

int
lt_parse (const char *cmd, int argc, char **argv, unsigned allowed, struct lt_opts *o)
{
  memset (o, 0, sizeof (*o));
  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      size_t k;
      if (strcmp (a, "--help") == 0 || strcmp (a, "-h") == 0)
        return (o->help = true), 0;
      for (k = 0; k < NSFD_ARRAY_SIZE (option_table); k++)
        if (strcmp (a, option_table[k].name) == 0 && (option_table[k].flag == 0 || (allowed & option_table[k].flag)))
          break;
      if (k < NSFD_ARRAY_SIZE (option_table))
        {
          if (option_table[k].takes_value && i + 1 >= argc)
            {
              fprintf (stderr, "nsfdsuds layer %s: %s needs a value\n", cmd, a);
              return -1;
            }
          set_option (o, option_table[k].flag, a, option_table[k].takes_value ? argv[++i] : NULL);
        }
      else if (a[0] == '-' && a[1] != '\0')
        {
          fprintf (stderr, "nsfdsuds layer %s: unknown option `%s`\n", cmd, a);
          return -1;
        }
      else if (o->layer == NULL)
        o->layer = a;
      else
        {
          fprintf (stderr, "nsfdsuds layer %s: unexpected argument `%s`\n", cmd, a);
          return -1;
        }
    }
  if (o->layer == NULL)
    {
      fprintf (stderr, "nsfdsuds layer %s: missing LAYER (see --help)\n", cmd);
      return -1;
    }
  return 0;
}

void
lt_layer_close (struct lt_layer *l)
{
  nsfd_layer_arg_free (&l->arg);
  nsfd_closep (&l->dir_fd);
  nsfd_closep (&l->upper_fd);
  nsfd_closep (&l->lower_fd);
}

int
lt_layer_open (const struct lt_opts *o, bool need_upper, struct lt_layer *l, nsfd_error_t *err)
{
  memset (l, 0, sizeof (*l));
  l->dir_fd = l->upper_fd = l->lower_fd = -1;
  if (nsfd_layer_arg_resolve (o->layer, o->name, &l->arg, err) < 0)
    return -1;
  if (!l->arg.exists)
    return nsfd_make_error (err, ENOENT, "there is no layer \"%s\" (looked for \"%s\")", l->arg.name,
                            l->arg.layer_path);
  /* The path is canonical (realpath) and given by the admin. */
  l->dir_fd = open (l->arg.layer_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (l->dir_fd < 0)
    return nsfd_make_error (err, errno, "opening the layer \"%s\"", l->arg.layer_path);
  l->upper_fd = openat (l->dir_fd, NSFD_LAYER_UPPER, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (l->upper_fd < 0 && need_upper)
    return nsfd_make_error (err, errno, "opening \"%s/%s\"", l->arg.layer_path, NSFD_LAYER_UPPER);
  if (o->lower)
    {
      l->lower_fd = open (o->lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (l->lower_fd < 0)
        return nsfd_make_error (err, errno, "opening the lower \"%s\"", o->lower);
    }
  l->holder_state = nsfd_layer_read_holder (l->dir_fd, &l->holder, NULL);
  l->live = l->holder_state == 1 && nsfd_holder_alive (&l->holder);
  lt_raise_nofile ();
  return 0;
}

void
lt_note_in_use (const char *cmd, const struct lt_layer *l)
{
  char c[256];
  if (!l->live)
    return;
  fprintf (stderr,
           "nsfdsuds layer %s: note: the layer \"%s\" is in use by container \"%s\" (%s mode, since %s); "
           "what follows is a view of a tree that may be changing\n",
           cmd, l->arg.layer_path, lt_human (l->holder.container, c, sizeof (c)), l->holder.mode, l->holder.since);
}

static double
elapsed (const struct timespec *a, const struct timespec *b)
{
  return (double) (b->tv_sec - a->tv_sec) + (double) (b->tv_nsec - a->tv_nsec) / 1e9;
}

void
lt_progress_init (struct lt_progress *p, const char *what, bool quiet)
{
  memset (p, 0, sizeof (*p));
  p->on = !quiet && isatty (STDERR_FILENO);
  p->what = what;
  clock_gettime (CLOCK_MONOTONIC, &p->start);
  p->last = p->start;
}

static void
progress_print (struct lt_progress *p, const struct timespec *now)
{
  double t = elapsed (&p->start, now), mib = (double) p->bytes / 1048576.0;
  fprintf (stderr, "\r%s: %llu files, %.1f MiB, %.1f MiB/s   ", p->what, (unsigned long long) p->files, mib,
           t > 0 ? mib / t : 0.0);
}

void
lt_progress_tick (struct lt_progress *p, uint64_t files, uint64_t bytes)
{
  struct timespec now;
  p->files += files;
  p->bytes += bytes;
  if (!p->on || (p->files & 63) != 0)
    return;
  clock_gettime (CLOCK_MONOTONIC, &now);
  if (elapsed (&p->last, &now) < 0.25)
    return;
  p->last = now;
  progress_print (p, &now);
}

void
lt_progress_done (struct lt_progress *p)
{
  struct timespec now;
  if (!p->on)
    return;
  clock_gettime (CLOCK_MONOTONIC, &now);
  progress_print (p, &now);
  fputc ('\n', stderr);
}

/* Length of the UTF-8 sequence at s (1..4), or 0 when it is not valid. */
static size_t
utf8_len (const unsigned char *s)
{
  size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
  if (n == 0 || (n == 2 && s[0] < 0xc2))
    return 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

void
lt_json_string (FILE *out, const char *s)
{
  fputc ('"', out);
  lt_json_chars (out, s);
  fputc ('"', out);
}

void
lt_json_chars (FILE *out, const char *s)
{
  const unsigned char *p = (const unsigned char *) s;
  while (*p)
    {
      size_t n = utf8_len (p);
      if (*p == '"' || *p == '\\')
        fprintf (out, "\\%c", *p);
      else if (*p == '\n')
        fputs ("\\n", out);
      else if (*p == '\t')
        fputs ("\\t", out);
      else if (*p < 0x20 || *p == 0x7f || n == 0)
        fprintf (out, "\\u%04x", *p);
      else
        {
          fwrite (p, 1, n, out);
          p += n;
          continue;
        }
      p++;
    }
}

const char *
lt_human (const char *s, char *buf, size_t cap)
{
  return nsfd_escape_name (s, buf, cap);
}

void
lt_raise_nofile (void)
{
  struct rlimit rl;
  rlim_t want = NSFD_SCAN_MAX_DEPTH + 256;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
    {
      rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
      (void) setrlimit (RLIMIT_NOFILE, &rl);
    }
}

static void
copy_str (yajl_val tree, const char *key, char *out, size_t cap)
{
  const char *path[] = { key, NULL };
  yajl_val v = yajl_tree_get (tree, path, yajl_t_string);
  const char *s = v ? YAJL_GET_STRING (v) : NULL;
  snprintf (out, cap, "%s", s ? s : "");
}

void
lt_read_meta (int dir_fd, struct lt_meta *m)
{
  cleanup_free char *buf = NULL;
  nsfd_error_t e = NULL;
  const char *fmt[] = { "format", NULL };
  yajl_val tree, v;
  size_t len;

  memset (m, 0, sizeof (*m));
  if (nsfd_read_file_at (dir_fd, NSFD_LAYER_META, 64 * 1024, &buf, &len, &e) < 0)
    {
      snprintf (m->problem, sizeof (m->problem), "%s: %s", NSFD_LAYER_META, nsfd_error_text (e));
      nsfd_error_free (&e);
      return;
    }
  m->present = true;
  tree = yajl_tree_parse (buf, NULL, 0);
  if (tree == NULL || !YAJL_IS_OBJECT (tree))
    {
      snprintf (m->problem, sizeof (m->problem), "%s is not a JSON object", NSFD_LAYER_META);
      if (tree)
        yajl_tree_free (tree);
      return;
    }
  m->valid_json = true;
  v = yajl_tree_get (tree, fmt, yajl_t_number);
  m->format = v && YAJL_IS_INTEGER (v) ? YAJL_GET_INTEGER (v) : -1;
  copy_str (tree, "xattrs", m->xattrs, sizeof (m->xattrs));
  copy_str (tree, "createdAt", m->created_at, sizeof (m->created_at));
  copy_str (tree, "createdBy", m->created_by, sizeof (m->created_by));
  copy_str (tree, "lowerId", m->lower_id, sizeof (m->lower_id));
  copy_str (tree, "previousLowerId", m->previous_lower_id, sizeof (m->previous_lower_id));
  yajl_tree_free (tree);
  if (m->format != NSFD_LAYER_FORMAT)
    snprintf (m->problem, sizeof (m->problem), "format %lld is not one this nsfdsuds reads (%d)", m->format,
              NSFD_LAYER_FORMAT);
  else if (strcmp (m->xattrs, "trusted") != 0)
    snprintf (m->problem, sizeof (m->problem), "\"xattrs\" is \"%s\", not \"trusted\"", m->xattrs);
  else
    m->known_format = true;
}
