/* The persistent layer: a directory inside the persistent volume holding the
 * overlay upper and work directories, a versioned metadata file and the record
 * of the container currently using it.  Format: docs/layer-format.md.
 *
 *   <volume>/.nsfdsuds/               0700 root
 *   <volume>/.nsfdsuds/<name>/        0700 root
 *       layer.json                    format, how it is mounted, lower identity
 *       upper/                        overlay upper (owner/mode of the lower's /)
 *       work/                         overlay work dir, 0700 root
 *       holder.json                   present while a container uses the layer
 *       generation                    how many times a container started on it
 */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"
#include "procfs.h"  /* nsfd_proc_start_time, nsfd_boot_id: callers of the holder rule use them */

#define NSFD_LAYER_TOPDIR ".nsfdsuds"
#define NSFD_LAYER_FORMAT 1
#define NSFD_LAYER_META "layer.json"
#define NSFD_LAYER_HOLDER "holder.json"
#define NSFD_LAYER_UPPER "upper"
#define NSFD_LAYER_WORK "work"
#define NSFD_LAYER_GENERATION "generation"
/* Options every mount of a layer uses, so that the same layer is always
 * mounted the same way whatever the kernel's defaults are. */
#define NSFD_LAYER_OVERLAY_OPTIONS "index=off,metacopy=off,redirect_dir=off"

struct nsfd_layer
{
  int dir_fd;        /* the layer directory (O_RDONLY|O_DIRECTORY) */
  int upper_fd;
  int work_fd;
  char *path;        /* canonical host path of the layer directory */
  bool created;      /* made by this call */
  char *lower_id;    /* lower fingerprint recorded in layer.json, or NULL */
  int lower_id_scheme; /* how lower_id was computed (lib/lowerid.h); 1 for old records */
  char *created_at;
  unsigned long long generation; /* after nsfd_layer_acquire: the generation it started */
  bool defer_generation; /* acquire leaves the generation alone (a restore advances it itself) */
};

void nsfd_layer_init (struct nsfd_layer *l);
void nsfd_layer_close (struct nsfd_layer *l);
#define cleanup_layer __attribute__ ((cleanup (nsfd_layer_close)))

/* Opens (creating when missing) the layer called name inside the volume
 * directory volume_fd.  A new upper takes owner and mode from lower_root (the
 * stat of the lower's "/").  Every existing component is checked: real
 * directories (no symlinks, fifos, devices), owned by root, not writable by
 * others, metadata of a known format. */
int nsfd_layer_open (int volume_fd, const char *name, const struct stat *lower_root,
                     struct nsfd_layer *out, nsfd_error_t *err);

/* Records container_id (whose init is pid) as the user of the layer.  If
 * another live container holds it, fails with EBUSY naming the holder.  A new
 * holder (not this container's live record) moves the generation on.  A
 * record whose process is gone, or from an earlier boot, is stale and replaced. */
int nsfd_layer_acquire (struct nsfd_layer *l, const char *container_id, pid_t pid,
                        const char *mode, nsfd_error_t *err);
/* The layer's generation (lib/layer-generation.c): 0 for a layer that never
 * had one.  Bump (the caller holds the layer's lock) adds one and stores it;
 * nsfd_layer_acquire bumps it for every new holder. */
int nsfd_layer_generation_read (int dir_fd, unsigned long long *out, nsfd_error_t *err);
int nsfd_layer_generation_bump (int dir_fd, unsigned long long *out, nsfd_error_t *err);
/* The same taking the layer's lock itself; with expect, only when the
 * generation is *expect (else ESTALE naming both). */
int nsfd_layer_generation_advance (const struct nsfd_layer *l, const unsigned long long *expect,
                                   unsigned long long *out, nsfd_error_t *err);

/* Replaces the pid of our own record (the wrapper learns the container's pid
 * only after the runtime's create). */
int nsfd_layer_update_pid (struct nsfd_layer *l, const char *container_id, pid_t pid, nsfd_error_t *err);
/* Removes the record if it names container_id; 0 when there was nothing. */
int nsfd_layer_release (int layer_dir_fd, const char *container_id, nsfd_error_t *err);

/* Compares the lower's fingerprint (current scheme) with the one recorded in
 * layer.json.  Same: 0.  None recorded yet: records it, 0.  A scheme-1 record
 * of this same lower (the caller checked: scheme1_matches) is rewritten in
 * the current scheme, 0.  Different: with refuse and not accept, fails with
 * ESTALE naming both; otherwise records the new one (keeping the previous)
 * and returns 1 so the caller can log it. */
int nsfd_layer_check_lower (struct nsfd_layer *l, const char *lower_id, bool refuse, bool accept,
                            bool scheme1_matches, nsfd_error_t *err);

/* Writes a new layer.json (format 1, created now, lowerId when lower_id is
 * not NULL) into the layer directory layer_dir_fd: what a layer built by
 * hand (nsfdsuds layer import) records. */
int nsfd_layer_write_meta (int layer_dir_fd, const char *lower_id, nsfd_error_t *err);

/* The record of the container using a layer (holder.json). */
struct nsfd_holder
{
  char container[1100];
  char boot_id[64];
  long long pid;
  unsigned long long start;  /* the pid's start time (/proc/<pid>/stat field 22) */
  char since[32];
  char mode[16];             /* "hook" or "runtime" */
};

/* The layer's lock (flock on the layer directory dir_fd), held only while its
 * records are read and written: one non-blocking flock when nobody holds it,
 * else a blocking one bounded by a 5 s timer (ETIMEDOUT).  Unlock with
 * flock (dir_fd, LOCK_UN). */
int nsfd_layer_lock (int dir_fd, nsfd_error_t *err);

/* Reads holder.json in the layer directory dir_fd (no lock taken): 1 and *h
 * when present, 0 when there is none, 2 when it is not valid JSON (treated as
 * stale), <0 on error. */
int nsfd_layer_read_holder (int dir_fd, struct nsfd_holder *h, nsfd_error_t *err);
/* The rule acquire uses: the record names this boot and a process that still
 * runs with the same start time. */
bool nsfd_holder_alive (const struct nsfd_holder *h);
