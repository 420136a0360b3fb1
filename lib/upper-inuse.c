#include "upper-inuse.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "safepath.h"

#define MOUNTINFO_MAX (8 * 1024 * 1024)
#define MAX_NAMESPACES 4096

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void
unescape (const char *in, size_t n, char *out, size_t cap)
{
  size_t o = 0;
  for (size_t i = 0; i < n && o + 1 < cap; i++)
    {
      if (in[i] == '\\' && i + 3 < n + 1 && isdigit ((unsigned char) in[i + 1]))
        {
          out[o++] = (char) strtol ((char[4]){ in[i + 1], in[i + 2], in[i + 3], 0 }, NULL, 8);
          i += 3;
        }
      else
        out[o++] = in[i];
    }
  out[o] = '\0';
}

/* One mountinfo line: "... - overlay SOURCE opt,upperdir=X,opt". */
static bool
line_uses (const char *line, const char *upper)
{
  const char *sep = strstr (line, " - overlay "), *opts, *p;
  char dir[PATH_MAX];

  if (sep == NULL)
    return false;
  opts = strchr (sep + 11, ' ');
  if (opts == NULL)
    return false;
  for (p = opts + 1; *p; p++)
    if ((p == opts + 1 || p[-1] == ',') && strncmp (p, "upperdir=", 9) == 0)
      {
        size_t n = strcspn (p + 9, ",\n");
        unescape (p + 9, n, dir, sizeof (dir));
        return strcmp (dir, upper) == 0;
      }
  return false;
}

static bool
mountinfo_uses (int proc_fd, const char *pid, const char *upper)
{
  char rel[NAME_MAX + 16];
  cleanup_free char *buf = NULL;
  size_t len;
  nsfd_error_t err = NULL;
  bool found = false;

  snprintf (rel, sizeof (rel), "%s/mountinfo", pid);
  if (nsfd_read_file_at (proc_fd, rel, MOUNTINFO_MAX, &buf, &len, &err) < 0)
    {
      nsfd_error_free (&err); /* gone, or a kernel thread */
      return false;
    }
  for (char *line = buf, *nl; line && *line && !found; line = nl ? nl + 1 : NULL)
    {
      nl = strchr (line, '\n');
      if (nl)
        *nl = '\0';
      found = line_uses (line, upper);
    }
  return found;
}

int
nsfd_upper_in_use (const char *upper, pid_t *pid, nsfd_error_t *err)
{
  cleanup_close int proc_fd = open ("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  cleanup_dir DIR *d = NULL;
  ino_t seen[MAX_NAMESPACES];
  size_t n_seen = 0;
  struct dirent *de;

  if (proc_fd < 0 || (d = opendir ("/proc")) == NULL)
    return nsfd_make_error (err, errno, "reading /proc");
  while ((de = readdir (d)) != NULL)
    {
      char rel[NAME_MAX + 16];
      struct stat st;
      bool dup = false;

      if (!isdigit ((unsigned char) de->d_name[0]))
        continue;
      snprintf (rel, sizeof (rel), "%s/ns/mnt", de->d_name);
      if (fstatat (proc_fd, rel, &st, 0) < 0)
        continue;
      for (size_t i = 0; i < n_seen && !dup; i++)
        dup = seen[i] == st.st_ino;
      if (dup)
        continue;
      if (n_seen < MAX_NAMESPACES)
        seen[n_seen++] = st.st_ino;
      if (mountinfo_uses (proc_fd, de->d_name, upper))
        {
          *pid = (pid_t) atoi (de->d_name);
          return 1;
        }
    }
  return 0;
}
