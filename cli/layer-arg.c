#include "layer-arg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "layer.h"
#include "policy.h"

void
nsfd_layer_arg_free (struct nsfd_layer_arg *a)
{
  free (a->layer_path);
  free (a->volume_path);
  free (a->name);
  memset (a, 0, sizeof (*a));
}

static bool
is_layer_dir (const char *path)
{
  char p[PATH_MAX];
  struct stat st;
  if (snprintf (p, sizeof (p), "%s/%s", path, NSFD_LAYER_META) >= (int) sizeof (p))
    return false;
  return lstat (p, &st) == 0 && S_ISREG (st.st_mode);
}

static int
valid_name (const char *name, nsfd_error_t *err)
{
  size_t n = strlen (name);
  if (n == 0 || n > NSFD_MAX_LAYER_NAME || strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    return nsfd_make_error (err, EINVAL, "invalid layer name \"%s\"", name);
  for (size_t i = 0; i < n; i++)
    if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z')
          || (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_' || name[i] == '.'))
      return nsfd_make_error (err, EINVAL, "invalid layer name \"%s\" (letters, digits, '-', '_', '.')", name);
  return 0;
}

int
nsfd_layer_arg_resolve (const char *arg, const char *name, struct nsfd_layer_arg *out, nsfd_error_t *err)
{
  char real[PATH_MAX];
  const char *base, *slash;

  memset (out, 0, sizeof (*out));
  if (name && valid_name (name, err) < 0)
    return -1;
  if (realpath (arg, real) == NULL)
    return nsfd_make_error (err, errno, "layer or volume \"%s\"", arg);
  if (is_layer_dir (real))
    {
      /* <volume>/.nsfdsuds/<name>: the parent must be the top directory. */
      slash = strrchr (real, '/');
      base = slash + 1;
      if (slash == real || (name && strcmp (name, base) != 0))
        return nsfd_make_error (err, EINVAL, "\"%s\" is the layer \"%s\", not \"%s\"", real, base,
                                name ? name : "?");
      out->layer_path = strdup (real);
      out->name = strdup (base);
      *(char *) slash = '\0';
      slash = strrchr (real, '/');
      if (slash == NULL || strcmp (slash + 1, NSFD_LAYER_TOPDIR) != 0)
        return nsfd_make_error (err, EINVAL, "\"%s\" holds a layer.json but is not inside a %s directory",
                                out->layer_path, NSFD_LAYER_TOPDIR);
      *(char *) slash = '\0';
      out->volume_path = strdup (real[0] ? real : "/");
      out->exists = true;
    }
  else
    {
      struct stat st;
      if (stat (real, &st) < 0 || !S_ISDIR (st.st_mode))
        return nsfd_make_error (err, ENOTDIR, "\"%s\" is neither a layer nor a volume directory", real);
      out->volume_path = strdup (real);
      out->name = strdup (name ? name : NSFD_DEFAULT_LAYER_NAME);
      if (out->name && asprintf (&out->layer_path, "%s/%s/%s", strcmp (real, "/") == 0 ? "" : real,
                                 NSFD_LAYER_TOPDIR, out->name) < 0)
        out->layer_path = NULL;
      out->exists = out->layer_path && lstat (out->layer_path, &st) == 0;
    }
  if (!out->layer_path || !out->volume_path || !out->name)
    return nsfd_make_error (err, ENOMEM, "layer path");
  return 0;
}
