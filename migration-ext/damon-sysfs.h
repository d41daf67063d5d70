/*
 * A client of DAMON's sysfs interface (Linux's data access monitor,
 * /sys/kernel/mm/damon/admin) that watches one process's memory: the
 * page-activity tracker's "damon" provider runs it on QEMU's own guest
 * RAM, where it sees reads and writes under any accelerator (under KVM
 * through the secondary MMU's accessed bits, which reach DAMON through
 * MMU notifiers).
 *
 * DAMON has one set of kdamonds per host, shared by every user of the
 * sysfs interface, and it cannot add a kdamond while any other runs.  So
 * this client only ever works alone:
 *
 * - It starts only when the host has no kdamond at all, or when every
 *   kdamond there is one that an earlier qemu-memx left behind (it was
 *   killed before it could remove it), identified beyond doubt: the
 *   ownership record this client writes beside it names the process,
 *   that process is gone, the kdamond is off, and its target and first
 *   region are the ones recorded.  Anything else is refused with a
 *   reason, and nothing is written: another user's kdamond is never
 *   stopped, changed or removed.
 * - It creates kdamond 0 with one "fvaddr" context (fixed virtual address
 *   ranges, so DAMON watches the guest RAM ranges given and nothing else
 *   of the process) and one "stat" scheme that matches every region
 *   accessed at least once in an aggregation interval.  Reading asks the
 *   kdamond for the regions that scheme was tried on
 *   (update_schemes_tried_regions), which blocks until the kdamond's next
 *   aggregation: run it on a thread of its own.
 * - It removes the kdamond and the record when stopped.  A kdamond whose
 *   process dies stops by itself; its directory stays until the next
 *   start cleans it up as above.
 *
 * All paths are under a root directory given by the caller, so that the
 * unit tests can run it on a fake tree.  One thread at a time per client.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MIGRATION_EXT_DAMON_SYSFS_H
#define MIGRATION_EXT_DAMON_SYSFS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define DAMON_SYSFS_ROOT "/sys/kernel/mm/damon/admin"
/* the ownership record's name, in the record directory */
#define DAMON_SYSFS_RECORD "damon-kdamond"

#define DAMON_SYSFS_ERROR damon_sysfs_error_quark()
GQuark damon_sysfs_error_quark(void);

typedef enum {
    DAMON_SYSFS_ERROR_UNAVAILABLE,  /* no DAMON sysfs, or not writable */
    DAMON_SYSFS_ERROR_BUSY,         /* a kdamond that is not ours exists */
    DAMON_SYSFS_ERROR_BAD_INPUT,    /* bad ranges or intervals */
    DAMON_SYSFS_ERROR_IO,           /* a read or write failed */
    DAMON_SYSFS_ERROR_STOPPED,      /* the kdamond is not running */
} DamonSysfsErrorCode;

/* A range of virtual addresses, [start, end). */
typedef struct DamonRange {
    uint64_t start, end;
} DamonRange;

typedef struct DamonSysfs {
    char *root;             /* .../damon/admin */
    char *record_path;
    pid_t pid;              /* the process watched */
    unsigned nr_ranges;     /* the ranges as last committed */
    pid_t kdamond_pid;      /* 0: not known */
} DamonSysfs;

/*
 * Whether a client could start under @root now, reading only.  Returns
 * false with the reason in @errp: DAMON missing, not writable by this
 * process, or busy with a kdamond this client cannot remove.
 */
bool damon_sysfs_usable(const char *root, const char *record_dir,
                        GError **errp);

/*
 * Start watching @nr ranges (sorted, disjoint, page-aligned, 1 to 1024
 * of them) of process @pid: every @sample_us microseconds DAMON checks
 * one page per region for an access, and reports per @aggr_us.
 * @record_dir must exist and be private to root (for example
 * /run/qemu-memx).  Returns NULL with the reason in @errp, having
 * written nothing when DAMON is busy.
 */
DamonSysfs *damon_sysfs_start(const char *root, const char *record_dir,
                              pid_t pid, const DamonRange *ranges,
                              unsigned nr, uint64_t sample_us,
                              uint64_t aggr_us, GError **errp);

/* Watch these ranges from now on (same rules as damon_sysfs_start). */
bool damon_sysfs_set_ranges(DamonSysfs *d, const DamonRange *ranges,
                            unsigned nr, GError **errp);

/*
 * Wait for the kdamond's next aggregation interval and append the
 * regions accessed in it (DamonRange) to @accessed.  Blocks for up to
 * one aggregation interval.
 */
bool damon_sysfs_read_accessed(DamonSysfs *d, GArray *accessed,
                               GError **errp);

/* The CPU time the kdamond has used, in clock ticks (0 when unknown). */
uint64_t damon_sysfs_kdamond_cpu_ticks(DamonSysfs *d);

/* Stop and remove the kdamond and the record; frees @d. */
void damon_sysfs_stop(DamonSysfs *d);

#endif
