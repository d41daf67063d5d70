/*
 * A client of DAMON's sysfs interface that watches one process's memory
 * (see damon-sysfs.h for the rules it keeps about other users' kdamonds).
 *
 * The layout used, relative to the root (Linux's
 * Documentation/admin-guide/mm/damon/usage.rst):
 *
 *   kdamonds/nr_kdamonds
 *   kdamonds/0/state, pid
 *   kdamonds/0/contexts/nr_contexts
 *   kdamonds/0/contexts/0/operations
 *   .../0/monitoring_attrs/intervals/{sample_us,aggr_us,update_us}
 *   .../0/monitoring_attrs/nr_regions/{min,max}
 *   .../0/targets/nr_targets, targets/0/pid_target
 *   .../0/targets/0/regions/nr_regions, regions/N/{start,end}
 *   .../0/schemes/nr_schemes, schemes/0/action
 *   .../0/schemes/0/access_pattern/{sz,nr_accesses,age}/{min,max}
 *   .../0/schemes/0/tried_regions/N/{start,end,nr_accesses,age}
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "migration-ext/damon-sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define CONTEXT "kdamonds/0/contexts/0/"
#define SCHEME CONTEXT "schemes/0/"
#define MAX_RANGES 1024
/* DAMON needs at least 3 regions; at most 1000 keeps a read cheap */
#define MIN_REGIONS 10
#define MAX_REGIONS 1000
#define RECORD_MAGIC "qemu-memx damon provider"

GQuark damon_sysfs_error_quark(void)
{
    return g_quark_from_static_string("damon-sysfs-error-quark");
}

static char *path_of(const char *root, const char *rel)
{
    return g_build_filename(root, rel, NULL);
}

/* Read a sysfs file's first line. */
static char *read_line(const char *root, const char *rel, GError **errp)
{
    g_autofree char *path = path_of(root, rel);
    g_autofree char *text = NULL;
    GError *err = NULL;

    if (!g_file_get_contents(path, &text, NULL, &err)) {
        g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_IO,
                    "cannot read %s: %s", path, err->message);
        g_error_free(err);
        return NULL;
    }
    return g_strdup(g_strstrip(text));
}

static bool parse_u64(const char *text, uint64_t *value)
{
    char *end;

    if (!text || !g_ascii_isdigit(text[0])) {
        return false;
    }
    errno = 0;
    *value = g_ascii_strtoull(text, &end, 10);
    return !errno && *end == '\0';
}

static bool read_u64(const char *root, const char *rel, uint64_t *value,
                     GError **errp)
{
    g_autofree char *text = read_line(root, rel, errp);

    if (!text) {
        return false;
    }
    if (!parse_u64(text, value)) {
        g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_IO,
                    "%s/%s holds '%s', not a number", root, rel, text);
        return false;
    }
    return true;
}

/*
 * Write @value to an existing sysfs file: one write(), as sysfs wants,
 * and never create a file.
 */
static bool write_str(const char *root, const char *rel, const char *value,
                      GError **errp)
{
    g_autofree char *path = path_of(root, rel);
    size_t len = strlen(value);
    ssize_t done;
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

    if (fd < 0) {
        g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_IO,
                    "cannot open %s: %s", path, g_strerror(errno));
        return false;
    }
    do {
        done = write(fd, value, len);
    } while (done < 0 && errno == EINTR);
    if (done != (ssize_t)len) {
        int saved = done < 0 ? errno : EIO;

        close(fd);
        g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_IO,
                    "cannot write '%s' to %s: %s", value, path,
                    g_strerror(saved));
        return false;
    }
    close(fd);
    return true;
}

static bool write_u64(const char *root, const char *rel, uint64_t value,
                      GError **errp)
{
    g_autofree char *text = g_strdup_printf("%" G_GUINT64_FORMAT, value);

    return write_str(root, rel, text, errp);
}

/* Field @field (1-based, as in proc(5)) of /proc/@pid/stat, or 0. */
static uint64_t proc_stat_field(pid_t pid, unsigned field)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;
    g_auto(GStrv) fields = NULL;
    const char *after_comm;
    uint64_t value;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return 0;
    }
    /* the command name (field 2) may hold spaces and parentheses */
    after_comm = strrchr(text, ')');
    if (!after_comm || field < 3) {
        return 0;
    }
    /* fields[0] is the empty string before the first space */
    fields = g_strsplit(after_comm + 1, " ", 0);
    if (g_strv_length(fields) < field - 1 ||
        !parse_u64(fields[field - 2], &value)) {
        return 0;
    }
    return value;
}

/* The kernel's start time of process @pid (in clock ticks), or 0. */
static uint64_t process_start_time(pid_t pid)
{
    return proc_stat_field(pid, 22);
}

typedef struct Record {
    uint64_t pid, start_time, region_start, region_end;
} Record;

static bool parse_record(const char *text, Record *rec)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", 0);
    unsigned seen = 0;

    if (!lines[0] || strcmp(lines[0], RECORD_MAGIC)) {
        return false;
    }
    for (unsigned i = 1; lines[i]; i++) {
        g_auto(GStrv) kv = g_strsplit(lines[i], " ", 0);

        if (!kv[0] || !*kv[0]) {
            continue;
        }
        if (!strcmp(kv[0], "pid") && kv[1] && parse_u64(kv[1], &rec->pid)) {
            seen |= 1;
        } else if (!strcmp(kv[0], "start-time") && kv[1] &&
                   parse_u64(kv[1], &rec->start_time)) {
            seen |= 2;
        } else if (!strcmp(kv[0], "region") && kv[1] && kv[2] &&
                   parse_u64(kv[1], &rec->region_start) &&
                   parse_u64(kv[2], &rec->region_end)) {
            seen |= 4;
        } else {
            return false;
        }
    }
    return seen == 7;
}

static bool write_record(const char *record_path, pid_t pid,
                         const DamonRange *first, GError **errp)
{
    g_autofree char *text = g_strdup_printf(
        RECORD_MAGIC "\npid %d\nstart-time %" G_GUINT64_FORMAT
        "\nregion %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\n",
        (int)pid, process_start_time(pid), first->start, first->end);
    GError *err = NULL;

    if (!g_file_set_contents(record_path, text, -1, &err)) {
        g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_UNAVAILABLE,
                    "cannot write the ownership record: %s", err->message);
        g_error_free(err);
        return false;
    }
    return true;
}

/*
 * Is kdamond 0 one an earlier client left behind?  Everything must hold:
 * our record, its process gone, the kdamond off, one context with one
 * target, and the target and first region those recorded.  Says why not
 * in *@why.
 */
static bool is_our_leftover(const char *root, const char *record_path,
                            char **why)
{
    g_autofree char *text = NULL;
    g_autofree char *state = NULL;
    uint64_t value, start, end;
    Record rec = { 0 };

    if (!g_file_get_contents(record_path, &text, NULL, NULL) ||
        !parse_record(text, &rec)) {
        *why = g_strdup("no qemu-memx ownership record names it");
        return false;
    }
    if (rec.pid && process_start_time(rec.pid) == rec.start_time) {
        *why = g_strdup_printf("it belongs to qemu-memx process %"
                               G_GUINT64_FORMAT ", which still runs",
                               rec.pid);
        return false;
    }
    state = read_line(root, "kdamonds/0/state", NULL);
    if (!state || strcmp(state, "off")) {
        *why = g_strdup_printf("kdamond 0 is %s", state ? state : "unreadable");
        return false;
    }
    if (!read_u64(root, "kdamonds/0/contexts/nr_contexts", &value, NULL) ||
        value != 1 ||
        !read_u64(root, CONTEXT "targets/nr_targets", &value, NULL) ||
        value != 1 ||
        !read_u64(root, CONTEXT "targets/0/pid_target", &value, NULL) ||
        value != rec.pid ||
        !read_u64(root, CONTEXT "targets/0/regions/0/start", &start, NULL) ||
        !read_u64(root, CONTEXT "targets/0/regions/0/end", &end, NULL) ||
        start != rec.region_start || end != rec.region_end) {
        *why = g_strdup("its context differs from the one recorded");
        return false;
    }
    return true;
}

/*
 * May a client start?  Sets *@leftover when kdamond 0 must be removed
 * first (it is ours, left behind).
 */
static bool check_free(const char *root, const char *record_path,
                       bool *leftover, GError **errp)
{
    g_autofree char *nr_path = path_of(root, "kdamonds/nr_kdamonds");
    g_autofree char *why = NULL;
    uint64_t nr;

    *leftover = false;
    if (!g_file_test(nr_path, G_FILE_TEST_EXISTS)) {
        g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_UNAVAILABLE,
                    "this host has no DAMON sysfs interface (%s): its kernel "
                    "lacks CONFIG_DAMON_SYSFS", root);
        return false;
    }
    if (access(nr_path, W_OK)) {
        g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_UNAVAILABLE,
                    "DAMON's sysfs interface is not writable by this "
                    "process (%s): it needs root", g_strerror(errno));
        return false;
    }
    if (!read_u64(root, "kdamonds/nr_kdamonds", &nr, errp)) {
        return false;
    }
    if (nr == 0) {
        return true;
    }
    if (nr == 1 && is_our_leftover(root, record_path, &why)) {
        *leftover = true;
        return true;
    }
    g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BUSY,
                "DAMON already has %" G_GUINT64_FORMAT " kdamond%s that this "
                "QEMU did not create (%s); qemu-memx never stops, changes or "
                "removes another user's kdamond", nr, nr == 1 ? "" : "s",
                why ? why : "more than one");
    return false;
}

bool damon_sysfs_usable(const char *root, const char *record_dir,
                        GError **errp)
{
    g_autofree char *record_path =
        g_build_filename(record_dir, DAMON_SYSFS_RECORD, NULL);
    bool leftover;

    return check_free(root, record_path, &leftover, errp);
}

static bool check_ranges(const DamonRange *ranges, unsigned nr, GError **errp)
{
    if (nr < 1 || nr > MAX_RANGES) {
        g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BAD_INPUT,
                    "%u ranges: DAMON watches 1 to %d", nr, MAX_RANGES);
        return false;
    }
    for (unsigned i = 0; i < nr; i++) {
        if (ranges[i].start >= ranges[i].end ||
            (i && ranges[i].start < ranges[i - 1].end)) {
            g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BAD_INPUT,
                        "range %u [0x%" G_GINT64_MODIFIER "x, 0x%"
                        G_GINT64_MODIFIER "x) is empty or not above the "
                        "one before", i, ranges[i].start, ranges[i].end);
            return false;
        }
    }
    return true;
}

static bool write_ranges(const char *root, const DamonRange *ranges,
                         unsigned nr, GError **errp)
{
    if (!write_u64(root, CONTEXT "targets/0/regions/nr_regions", nr, errp)) {
        return false;
    }
    for (unsigned i = 0; i < nr; i++) {
        g_autofree char *start =
            g_strdup_printf(CONTEXT "targets/0/regions/%u/start", i);
        g_autofree char *end =
            g_strdup_printf(CONTEXT "targets/0/regions/%u/end", i);

        /* the end first: a start above the old end would be refused */
        if (!write_u64(root, end, ranges[i].end, errp) ||
            !write_u64(root, start, ranges[i].start, errp) ||
            !write_u64(root, end, ranges[i].end, errp)) {
            return false;
        }
    }
    return true;
}

/* Set up kdamond 0 (just created) and turn it on. */
static bool configure(DamonSysfs *d, const DamonRange *ranges, unsigned nr,
                      uint64_t sample_us, uint64_t aggr_us, GError **errp)
{
    static const char *const patterns[] = { "sz", "nr_accesses", "age" };
    const char *root = d->root;
    g_autofree char *text = NULL;
    uint64_t pid;

    if (!write_str(root, "kdamonds/0/contexts/nr_contexts", "1", errp) ||
        !write_str(root, CONTEXT "operations", "fvaddr", errp) ||
        !write_u64(root, CONTEXT "monitoring_attrs/intervals/sample_us",
                   sample_us, errp) ||
        !write_u64(root, CONTEXT "monitoring_attrs/intervals/aggr_us",
                   aggr_us, errp) ||
        !write_u64(root, CONTEXT "monitoring_attrs/intervals/update_us",
                   aggr_us, errp) ||
        !write_u64(root, CONTEXT "monitoring_attrs/nr_regions/min",
                   MIN_REGIONS, errp) ||
        !write_u64(root, CONTEXT "monitoring_attrs/nr_regions/max",
                   MAX_REGIONS, errp) ||
        !write_str(root, CONTEXT "targets/nr_targets", "1", errp) ||
        !write_u64(root, CONTEXT "targets/0/pid_target", d->pid, errp) ||
        !write_ranges(root, ranges, nr, errp) ||
        !write_str(root, CONTEXT "schemes/nr_schemes", "1", errp) ||
        !write_str(root, SCHEME "action", "stat", errp)) {
        return false;
    }
    /* every region accessed at least once in the aggregation interval */
    for (unsigned i = 0; i < G_N_ELEMENTS(patterns); i++) {
        g_autofree char *max =
            g_strdup_printf(SCHEME "access_pattern/%s/max", patterns[i]);
        g_autofree char *min =
            g_strdup_printf(SCHEME "access_pattern/%s/min", patterns[i]);

        if (!write_u64(root, max, i ? G_MAXUINT32 : G_MAXINT64, errp) ||
            !write_u64(root, min, !strcmp(patterns[i], "nr_accesses"),
                       errp)) {
            return false;
        }
    }
    if (!write_str(root, "kdamonds/0/state", "on", errp)) {
        return false;
    }
    /*
     * Read it now: while a read of the regions waits for the kdamond,
     * DAMON answers other reads with EBUSY.
     */
    text = read_line(root, "kdamonds/0/pid", NULL);
    if (text && parse_u64(text, &pid) && pid <= G_MAXINT32) {
        d->kdamond_pid = pid;
    }
    return true;
}

DamonSysfs *damon_sysfs_start(const char *root, const char *record_dir,
                              pid_t pid, const DamonRange *ranges,
                              unsigned nr, uint64_t sample_us,
                              uint64_t aggr_us, GError **errp)
{
    g_autofree char *record_path =
        g_build_filename(record_dir, DAMON_SYSFS_RECORD, NULL);
    DamonSysfs *d;
    bool leftover;

    if (!check_ranges(ranges, nr, errp)) {
        return NULL;
    }
    if (sample_us < 1000 || aggr_us < sample_us ||
        aggr_us > 60 * G_USEC_PER_SEC) {
        g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_BAD_INPUT,
                    "intervals: sample %" G_GUINT64_FORMAT " us, aggregation "
                    "%" G_GUINT64_FORMAT " us (want 1 ms <= sample <= "
                    "aggregation <= 60 s)", sample_us, aggr_us);
        return NULL;
    }
    if (!check_free(root, record_path, &leftover, errp)) {
        return NULL;
    }
    if (leftover && !write_str(root, "kdamonds/nr_kdamonds", "0", errp)) {
        return NULL;
    }
    /* the record first: a kdamond is never there without one */
    if (!write_record(record_path, pid, &ranges[0], errp)) {
        return NULL;
    }
    d = g_new0(DamonSysfs, 1);
    d->root = g_strdup(root);
    d->record_path = g_steal_pointer(&record_path);
    d->pid = pid;
    d->nr_ranges = nr;
    if (!write_str(root, "kdamonds/nr_kdamonds", "1", errp)) {
        unlink(d->record_path);
        g_free(d->root);
        g_free(d->record_path);
        g_free(d);
        return NULL;
    }
    if (!configure(d, ranges, nr, sample_us, aggr_us, errp)) {
        damon_sysfs_stop(d);
        return NULL;
    }
    return d;
}

bool damon_sysfs_set_ranges(DamonSysfs *d, const DamonRange *ranges,
                            unsigned nr, GError **errp)
{
    if (!check_ranges(ranges, nr, errp) ||
        !write_record(d->record_path, d->pid, &ranges[0], errp) ||
        !write_ranges(d->root, ranges, nr, errp)) {
        return false;
    }
    d->nr_ranges = nr;
    return write_str(d->root, "kdamonds/0/state", "commit", errp);
}

static bool kdamond_running(DamonSysfs *d)
{
    g_autofree char *state = read_line(d->root, "kdamonds/0/state", NULL);

    return state && !strcmp(state, "on");
}

bool damon_sysfs_read_accessed(DamonSysfs *d, GArray *accessed,
                               GError **errp)
{
    g_autofree char *dir_path = path_of(d->root, SCHEME "tried_regions");
    g_autoptr(GDir) dir = NULL;
    GError *err = NULL;
    const char *name;

    if (!write_str(d->root, "kdamonds/0/state",
                   "update_schemes_tried_regions", &err)) {
        if (!kdamond_running(d)) {
            g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_STOPPED,
                        "the kdamond stopped (%s)", err->message);
            g_error_free(err);
            return false;
        }
        g_propagate_error(errp, err);
        return false;
    }
    dir = g_dir_open(dir_path, 0, &err);
    if (!dir) {
        g_set_error(errp, DAMON_SYSFS_ERROR, DAMON_SYSFS_ERROR_IO,
                    "cannot list %s: %s", dir_path, err->message);
        g_error_free(err);
        return false;
    }
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *start =
            g_strdup_printf(SCHEME "tried_regions/%s/start", name);
        g_autofree char *end =
            g_strdup_printf(SCHEME "tried_regions/%s/end", name);
        DamonRange range;
        uint64_t index;

        /* region directories are numbered; total_bytes is a file */
        if (!parse_u64(name, &index)) {
            continue;
        }
        if (!read_u64(d->root, start, &range.start, errp) ||
            !read_u64(d->root, end, &range.end, errp)) {
            return false;
        }
        if (range.start < range.end) {
            g_array_append_val(accessed, range);
        }
    }
    return true;
}

uint64_t damon_sysfs_kdamond_cpu_ticks(DamonSysfs *d)
{
    /* utime and stime */
    return d->kdamond_pid ? proc_stat_field(d->kdamond_pid, 14) +
                            proc_stat_field(d->kdamond_pid, 15) : 0;
}

void damon_sysfs_stop(DamonSysfs *d)
{
    if (!d) {
        return;
    }
    /* either may fail when the kdamond already stopped: remove it anyway */
    write_str(d->root, "kdamonds/0/state", "off", NULL);
    if (write_str(d->root, "kdamonds/nr_kdamonds", "0", NULL)) {
        unlink(d->record_path);
    }
    g_free(d->root);
    g_free(d->record_path);
    g_free(d);
}
