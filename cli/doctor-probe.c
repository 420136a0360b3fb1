/* The probe container: does a runtime pivot into the rootfs *path* (then a
 * root a createContainer hook stacks there is what the container gets: hook
 * mode works) or into a root it opened before the hooks ran (the hook's root
 * is ignored: use the wrapper)?  Found by doing it, not from a version table:
 *
 *   <probe_dir>/nsfdsuds-doctor-<pid>/        owner: "<pid> <start time>"
 *       bundle/config.json, bundle/rootfs/    a static busybox, nothing else
 *       rt-<n>/runtime                        the runtime's path (for stale cleanup)
 *       rt-<n>/state/                         its --root: the container's state
 *       rt-<n>/out, rt-<n>/err
 *
 * The createContainer hook (busybox sh, in the container's mount namespace,
 * before pivot_root) bind-mounts the rootfs onto itself, recursively, and puts
 * a tmpfs with a marker file on /nsfdsuds-doctor inside that new mount; the
 * container prints "path" when it sees the marker and "preopened" when not.
 * Container ids are nsfdsuds-doctor-<pid>-<n>; everything is removed by id in
 * every path, and what a killed run left is removed at the next start. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "doctor.h"
#include "layer.h"
#include "safepath.h"

#define DELETE_TIMEOUT_MS 5000

/* Before the marker check the hook makes the rootfs private, so the marker
 * tmpfs cannot propagate back into the mount the runtime opened. */
static const char hook_script[]
  = "set -e; B=$0; R=$1; $B mount --make-rprivate \"$R\"; $B mount --rbind \"$R\" \"$R\"; "
    "$B mount -t tmpfs -o size=16k,mode=0755 nsfdsuds-doctor \"$R/nsfdsuds-doctor\"; "
    "echo probe >\"$R/nsfdsuds-doctor/marker\"";
static const char container_script[]
  = "if [ -e /nsfdsuds-doctor/marker ]; then echo path; else echo preopened; fi";

static int
json_str (char *out, size_t cap, const char *s)
{
  size_t o = 0;
  if (cap < 3)
    return -1;
  out[o++] = '"';
  for (; *s; s++)
    {
      if (o + 8 >= cap)
        return -1;
      if ((unsigned char) *s < 0x20)
        o += (size_t) snprintf (out + o, cap - o, "\\u%04x", (unsigned char) *s);
      else
        {
          if (*s == '"' || *s == '\\')
            out[o++] = '\\';
          out[o++] = *s;
        }
    }
  out[o++] = '"';
  out[o] = '\0';
  return 0;
}

static int
write_spec (int bundle_fd, const char *rootfs, nsfd_error_t *err)
{
  char bb[4200], root[4200], hs[sizeof (hook_script) * 2], cs[sizeof (container_script) * 2], buf[16384];
  char bbpath[4200];
  int n;

  snprintf (bbpath, sizeof (bbpath), "%s/bin/busybox", rootfs);
  if (json_str (bb, sizeof (bb), bbpath) < 0 || json_str (root, sizeof (root), rootfs) < 0
      || json_str (hs, sizeof (hs), hook_script) < 0 || json_str (cs, sizeof (cs), container_script) < 0)
    return nsfd_make_error (err, ENAMETOOLONG, "probe bundle path \"%s\"", rootfs);
  n = snprintf (buf, sizeof (buf),
                "{\"ociVersion\":\"1.0.2\",\n"
                " \"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
                "\"args\":[\"/bin/busybox\",\"sh\",\"-c\",%s],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\","
                "\"noNewPrivileges\":true},\n"
                " \"root\":{\"path\":\"rootfs\",\"readonly\":false},\n"
                " \"hostname\":\"nsfdsuds-doctor\",\n"
                " \"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
                "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
                "\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=64k\"]}],\n"
                " \"hooks\":{\"createContainer\":[{\"path\":%s,\"args\":[\"busybox\",\"sh\",\"-c\",%s,%s,%s],"
                "\"timeout\":5}]},\n"
                " \"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},"
                "{\"type\":\"mount\"},{\"type\":\"network\"}],\"maskedPaths\":[],\"readonlyPaths\":[]}}\n",
                cs, bb, hs, bb, root);
  if (n < 0 || (size_t) n >= sizeof (buf))
    return nsfd_make_error (err, ENAMETOOLONG, "probe bundle config");
  return nsfd_write_file_replace (bundle_fd, "config.json", buf, (size_t) n, 0600, err);
}

/* A static busybox only: the probe's root holds nothing else. */
static int
check_static (int fd, const char *path, nsfd_error_t *err)
{
  Elf64_Ehdr eh;
  Elf64_Phdr ph;
  if (pread (fd, &eh, sizeof (eh), 0) != (ssize_t) sizeof (eh) || memcmp (eh.e_ident, ELFMAG, SELFMAG) != 0
      || eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof (ph) || eh.e_phnum > 64)
    return nsfd_make_error (err, ENOEXEC, "\"%s\" is not a 64-bit ELF executable", path);
  for (unsigned i = 0; i < eh.e_phnum; i++)
    {
      if (pread (fd, &ph, sizeof (ph), (off_t) (eh.e_phoff + i * sizeof (ph))) != (ssize_t) sizeof (ph))
        return nsfd_make_error (err, EIO, "reading \"%s\"", path);
      if (ph.p_type == PT_INTERP)
        return nsfd_make_error (err, ENOEXEC, "\"%s\" is dynamically linked (install busybox-static)", path);
    }
  return 0;
}

static int
copy_busybox (const char *src, int bin_fd, nsfd_error_t *err)
{
  cleanup_close int in = open (src, O_RDONLY | O_CLOEXEC);
  cleanup_close int out = -1;
  struct stat st;
  char buf[65536];
  ssize_t n;

  if (in < 0)
    return nsfd_make_error (err, errno, "opening \"%s\" (a static busybox, for the probe's root)", src);
  if (fstat (in, &st) < 0 || !S_ISREG (st.st_mode) || st.st_size > 64 * 1024 * 1024)
    return nsfd_make_error (err, EINVAL, "\"%s\" is not a regular file of a sensible size", src);
  if (check_static (in, src, err) < 0)
    return -1;
  out = openat (bin_fd, "busybox", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
  if (out < 0)
    return nsfd_make_error (err, errno, "creating the probe's busybox");
  while ((n = read (in, buf, sizeof (buf))) > 0)
    if (write (out, buf, (size_t) n) != n)
      return nsfd_make_error (err, errno, "copying \"%s\"", src);
  if (n < 0)
    return nsfd_make_error (err, errno, "reading \"%s\"", src);
  return 0;
}

static int
make_bundle (int run_fd, const char *run_path, const char *busybox, nsfd_error_t *err)
{
  static const char *const dirs[] = { "proc", "dev", "nsfdsuds-doctor", "bin" };
  cleanup_close int bfd = -1, rfd = -1, bin = -1;
  char rootfs[4200];

  if (mkdirat (run_fd, "bundle", 0700) < 0 || (bfd = openat (run_fd, "bundle", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    return nsfd_make_error (err, errno, "creating the probe bundle in \"%s\"", run_path);
  if (mkdirat (bfd, "rootfs", 0755) < 0 || (rfd = openat (bfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    return nsfd_make_error (err, errno, "creating the probe rootfs");
  for (size_t i = 0; i < NSFD_ARRAY_SIZE (dirs); i++)
    if (mkdirat (rfd, dirs[i], 0755) < 0)
      return nsfd_make_error (err, errno, "creating the probe rootfs");
  bin = openat (rfd, "bin", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (bin < 0 || copy_busybox (busybox, bin, err) < 0 || symlinkat ("busybox", bin, "sh") < 0)
    return *err ? -1 : nsfd_make_error (err, errno, "preparing the probe rootfs");
  snprintf (rootfs, sizeof (rootfs), "%s/bundle/rootfs", run_path);
  return write_spec (bfd, rootfs, err);
}

struct probe
{
  struct nsfd_doctor_runtime *rt;
  char dir[4200];   /* rt-<n> */
  char id[64];
  pid_t pid;
  int status;
};

/* `RUNTIME --root STATE delete --force ID` when the runtime still has it. */
static void
delete_container (const char *runtime, const char *state, const char *id)
{
  char path[4400];
  struct stat st;
  snprintf (path, sizeof (path), "%s/%s", state, id);
  if (lstat (path, &st) < 0)
    return;
  char *argv[] = { (char *) runtime, "--root", (char *) state, "delete", "--force", (char *) id, NULL };
  (void) nsfd_doctor_run (argv, NULL, NULL, DELETE_TIMEOUT_MS);
}

static void
remove_dir (const char *parent, const char *name)
{
  nsfd_error_t err = NULL;
  cleanup_close int fd = open (parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0)
    (void) nsfd_rm_rf_at (fd, name, &err);
  nsfd_error_free (&err);
}

/* One leftover run directory: its containers (any state dir entry with our
 * prefix), then the files. */
static int
clean_run_dir (const char *probe_dir, const char *name)
{
  char run[4200], rtdir[4400], state[4500], runtime[4096];
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int removed = 0;

  snprintf (run, sizeof (run), "%s/%s", probe_dir, name);
  d = opendir (run);
  while (d && (de = readdir (d)) != NULL)
    {
      cleanup_dir DIR *sd = NULL;
      struct dirent *se;
      if (strncmp (de->d_name, "rt-", 3) != 0)
        continue;
      snprintf (rtdir, sizeof (rtdir), "%s/%s", run, de->d_name);
      snprintf (state, sizeof (state), "%s/state", rtdir);
      snprintf (runtime, sizeof (runtime), "%s/runtime", rtdir);
      nsfd_doctor_file_line (runtime, false, runtime, sizeof (runtime));
      sd = runtime[0] == '/' ? opendir (state) : NULL;
      while (sd && (se = readdir (sd)) != NULL)
        if (strncmp (se->d_name, NSFD_DOCTOR_ID_PREFIX, strlen (NSFD_DOCTOR_ID_PREFIX)) == 0)
          {
            delete_container (runtime, state, se->d_name);
            removed++;
          }
    }
  remove_dir (probe_dir, name);
  return removed;
}

/* The owner file names a live process with the same start time: another
 * doctor is running right now; leave its files alone. */
static bool
owner_alive (const char *probe_dir, const char *name)
{
  char path[4200], line[128];
  long long pid = 0;
  unsigned long long start = 0;
  snprintf (path, sizeof (path), "%s/%s/owner", probe_dir, name);
  nsfd_doctor_file_line (path, false, line, sizeof (line));
  if (sscanf (line, "%lld %llu", &pid, &start) != 2 || pid <= 0 || pid > 4194304)
    return false;
  return nsfd_proc_is ((pid_t) pid, start);
}

/* Doctor runs what it finds in the probe directory (the runtime named in a
 * leftover's rt-<n>/runtime): it must be root's and closed to others. */
static int
probe_dir_check (const char *probe_dir, nsfd_error_t *err)
{
  cleanup_close int fd = open (probe_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : nsfd_make_error (err, errno, "probe directory \"%s\"", probe_dir);
  return nsfd_check_owned (fd, probe_dir, true, 0, err);
}

int
nsfd_doctor_probe_clean_stale (const char *probe_dir, char *what, size_t cap)
{
  nsfd_error_t err = NULL;
  cleanup_dir DIR *d = NULL;
  struct dirent *de;
  int removed = 0, runs = 0;

  what[0] = '\0';
  if (probe_dir_check (probe_dir, &err) < 0)
    {
      snprintf (what, cap, "leftovers not looked at: %s", nsfd_error_text (err));
      nsfd_error_free (&err);
      return -1;
    }
  d = opendir (probe_dir);
  while (d && (de = readdir (d)) != NULL)
    {
      if (strncmp (de->d_name, NSFD_DOCTOR_ID_PREFIX, strlen (NSFD_DOCTOR_ID_PREFIX)) != 0
          || owner_alive (probe_dir, de->d_name))
        continue;
      removed += clean_run_dir (probe_dir, de->d_name);
      runs++;
    }
  if (runs)
    snprintf (what, cap, "removed %d probe container%s and the files of %d earlier doctor run%s that did not finish",
              removed, removed == 1 ? "" : "s", runs, runs == 1 ? "" : "s");
  return removed;
}

static void
start_probe (struct probe *p, const char *run_path, size_t i)
{
  char path[4400], state[4400], bundle[4400];

  snprintf (p->id, sizeof (p->id), NSFD_DOCTOR_ID_PREFIX "%d-%zu", (int) getpid (), i);
  snprintf (p->dir, sizeof (p->dir), "%s/rt-%zu", run_path, i);
  snprintf (state, sizeof (state), "%s/state", p->dir);
  snprintf (bundle, sizeof (bundle), "%s/bundle", run_path);
  p->pid = -1;
  if (mkdir (p->dir, 0700) < 0 || mkdir (state, 0700) < 0)
    {
      snprintf (p->rt->reason, sizeof (p->rt->reason), "creating \"%s\": %s", state, strerror (errno));
      return;
    }
  snprintf (path, sizeof (path), "%s/runtime", p->dir);
  {
    cleanup_close int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || dprintf (fd, "%s\n", p->rt->path) < 0)
      {
        snprintf (p->rt->reason, sizeof (p->rt->reason), "writing \"%s\"", path);
        return;
      }
  }
  char out[4400], errp[4400];
  snprintf (out, sizeof (out), "%s/out", p->dir);
  snprintf (errp, sizeof (errp), "%s/err", p->dir);
  char *argv[] = { p->rt->path, "--root", state, "run", "--bundle", bundle, p->id, NULL };
  p->pid = nsfd_doctor_spawn (argv, out, errp);
  if (p->pid < 0)
    snprintf (p->rt->reason, sizeof (p->rt->reason), "cannot start \"%s\": %s", p->rt->path, strerror (errno));
}

static void
conclude (struct probe *p, bool timed_out)
{
  char path[4400], line[512];
  if (p->rt->reason[0])
    return;
  snprintf (path, sizeof (path), "%s/out", p->dir);
  nsfd_doctor_file_line (path, true, line, sizeof (line));
  if (!timed_out && WIFEXITED (p->status) && WEXITSTATUS (p->status) == 0 && strcmp (line, "path") == 0)
    p->rt->pivot = NSFD_PIVOT_PATH;
  else if (!timed_out && WIFEXITED (p->status) && WEXITSTATUS (p->status) == 0 && strcmp (line, "preopened") == 0)
    p->rt->pivot = NSFD_PIVOT_PREOPENED;
  else
    {
      snprintf (path, sizeof (path), "%s/err", p->dir);
      nsfd_doctor_file_line (path, true, line, sizeof (line));
      if (timed_out)
        snprintf (p->rt->reason, sizeof (p->rt->reason), "the probe container did not finish in time%s%s",
                  line[0] ? "; last message: " : "", line);
      else
        snprintf (p->rt->reason, sizeof (p->rt->reason), "the probe container failed (status %d): %s",
                  WIFEXITED (p->status) ? WEXITSTATUS (p->status) : 128 + WTERMSIG (p->status),
                  line[0] ? line : "no message");
    }
}

static void
run_probes (struct nsfd_doctor *d, const char *run_path)
{
  struct probe probes[NSFD_DOCTOR_MAX_LIST];
  pid_t pids[NSFD_DOCTOR_MAX_LIST];
  int status[NSFD_DOCTOR_MAX_LIST];
  size_t n = 0;

  for (size_t i = 0; i < d->n_runtimes; i++)
    if (d->runtimes[i].usable)
      {
        memset (&probes[n], 0, sizeof (probes[n]));
        probes[n].rt = &d->runtimes[i];
        start_probe (&probes[n], run_path, i);
        pids[n] = probes[n].pid;
        status[n] = -1;
        n++;
      }
  (void) nsfd_doctor_wait (pids, status, n, nsfd_now_ms () + d->probe_timeout_ms, true);
  for (size_t i = 0; i < n; i++)
    {
      char state[4400];
      bool timed_out = pids[i] > 0;
      if (timed_out)
        nsfd_doctor_kill (pids[i]);
      probes[i].status = status[i];
      if (probes[i].pid > 0)
        conclude (&probes[i], timed_out);
      if (nsfd_doctor_signal && timed_out)
        snprintf (probes[i].rt->reason, sizeof (probes[i].rt->reason), "stopped by signal %d",
                  (int) nsfd_doctor_signal);
      /* runc/crun `run` remove the container when it ends; after a timeout or
       * a signal it may still exist. */
      snprintf (state, sizeof (state), "%s/state", probes[i].dir);
      delete_container (probes[i].rt->path, state, probes[i].id);
    }
}

/* The run directory with its owner file: <probe_dir>/nsfdsuds-doctor-<pid>. */
static int
make_run_dir (const char *probe_dir, const char *run_path, nsfd_error_t *err)
{
  unsigned long long start = 0;
  char own[64];
  int n;
  cleanup_close int fd = -1;

  if (mkdir (probe_dir, 0700) < 0 && errno != EEXIST)
    return nsfd_make_error (err, errno, "creating \"%s\"", probe_dir);
  if (probe_dir_check (probe_dir, err) < 0)
    return -1;
  if (mkdir (run_path, 0700) < 0)
    return nsfd_make_error (err, errno, "creating \"%s\"", run_path);
  fd = open (run_path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return nsfd_make_error (err, errno, "opening \"%s\"", run_path);
  n = snprintf (own, sizeof (own), "%d %llu\n", (int) getpid (),
                nsfd_proc_start_time (getpid (), &start) == 0 ? start : 0ULL);
  if (nsfd_write_file_replace (fd, "owner", own, (size_t) n, 0600, err) < 0)
    return -1;
  return nsfd_take_fd (&fd);
}

void
nsfd_doctor_probe_runtimes (struct nsfd_doctor *d)
{
  char run_path[4200], name[64];
  nsfd_error_t err = NULL;
  cleanup_close int run_fd = -1;

  snprintf (name, sizeof (name), NSFD_DOCTOR_ID_PREFIX "%d", (int) getpid ());
  snprintf (run_path, sizeof (run_path), "%s/%s", d->probe_dir, name);
  run_fd = make_run_dir (d->probe_dir, run_path, &err);
  if (run_fd >= 0 && make_bundle (run_fd, run_path, d->busybox, &err) == 0 && !nsfd_doctor_signal)
    run_probes (d, run_path);
  for (size_t i = 0; err && i < d->n_runtimes; i++)
    if (d->runtimes[i].usable && !d->runtimes[i].reason[0])
      snprintf (d->runtimes[i].reason, sizeof (d->runtimes[i].reason), "no probe: %s", nsfd_error_text (err));
  nsfd_error_free (&err);
  if (run_fd >= 0) /* ours: made above */
    remove_dir (d->probe_dir, name);
  (void) rmdir (d->probe_dir); /* only when empty: another doctor may be using it */
}
