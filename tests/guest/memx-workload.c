/*
 * memx-workload: the guest side of qemu-memx's live-migration tests.
 *
 * Runs as the test guest's init payload (static binary, no libc beyond
 * the static glibc).  It puts guest memory into the states the migration
 * features care about and checks, after migration, that every byte the
 * guest owns survived:
 *
 *   fill-random MIB      MIB of pseudo-random pages, per-page checksums
 *   fill-pattern MIB     MIB of uniform pages (0x00, 0xaa bytes,
 *                        0xdeadbeef words, 8-byte patterns, 0xff),
 *                        per-page checksums
 *   free-garbage MIB     allocate MIB, fill with random data, free it:
 *                        the kernel's free lists now hold stale garbage
 *   dirty MIB RATE       keep rewriting MIB at RATE MiB/s (background),
 *                        checksums kept up to date
 *   flip MIB RATE [S]    like dirty, but each page alternates between a
 *                        pattern page and the same pattern with one word
 *                        changed (exercises XBZRLE after pattern pages);
 *                        stops after S seconds if S is given
 *   hot-writer MIB [CORE PCT]
 *                        rewrite a hot set of MIB as fast as the guest can
 *                        (background), PCT% of the writes going to its
 *                        first CORE MiB (default: uniform); each operation
 *                        checks a random page of it,
 *                        changes one word and updates its checksum; a
 *                        reporter prints "MEMX-RATE ops=N" (operations so
 *                        far) every 100 ms, the guest's work rate
 *   churn MIB            keep allocating MIB, writing checksummed data,
 *                        verifying and freeing it (background); any
 *                        mismatch is counted as an error
 *   verify               pause background work, check every checksum,
 *                        print a verdict line, resume
 *   status               print counters
 *   buddyinfo            free blocks per order, summed over all zones of
 *                        /proc/buddyinfo (the oracle for introspection)
 *   kpagebuddy           the free pages as runs of pfns, from
 *                        /proc/kpageflags (the per-page oracle)
 *   pcp                  pages on the per-CPU free lists (sum of the
 *                        pagesets' "count" in /proc/zoneinfo) and MemFree
 *   freeinfo             buddyinfo's blocks per order and the per-CPU
 *                        lists' pages, read as one picture (the oracle
 *                        for the host's count of all free pages)
 *   sleep SECONDS        wait (useful on the kernel command line)
 *   seed N               mix N into the random data the commands after it
 *                        write (the soak varies it per run)
 *   touch PASSES         PASSES passes over the last region: check each
 *                        page's checksum, rewrite it with new random data
 *                        (a region larger than RAM swaps on every page);
 *                        prints pages, bad pages, seconds and pages/s
 *   drop                 unmap every region (their memory, and swap,
 *                        is freed)
 *   sh COMMAND...        run the rest of the line with /bin/sh (the swap
 *                        tests' setup: insmod, mkswap, swapon); replies
 *                        MEMX-OK sh rc=0 or MEMX-ERR sh rc=N
 *
 * Commands come from the command line (each argument "cmd:arg:arg") and
 * then from stdin, one per line.  Every reply is one line starting with
 * "MEMX-" so a host can pick them out of the console stream:
 *   MEMX-READY, MEMX-OK <cmd> ..., MEMX-ERR <cmd> <reason>,
 *   MEMX-VERIFY status=ok|fail pages=N bad=N churn_iters=N churn_live=N
 *               churn_bad=N dirty_bad=N
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE 4096
#define WORDS_PER_PAGE (PAGE_SIZE / 8)
#define MIB (1024 * 1024)
#define MAX_REGIONS 64

typedef struct Region {
    const char *kind;
    uint8_t *mem;
    size_t pages;
    uint64_t *sums;     /* one checksum per page */
} Region;

static Region regions[MAX_REGIONS];
static int nr_regions;

/* Background work is paused while 'verify' runs. */
static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
static bool dirty_running;     /* a dirty/flip thread owns a region */
static volatile uint64_t churn_iters, churn_bad, dirty_pages_written, dirty_bad;

/*
 * The churn thread's live buffer, published under work_lock so that
 * 'verify' also checks the data that was in use at the moment of
 * migration (pages allocated while the host was reading free lists).
 */
static uint8_t *churn_mem;
static size_t churn_pages;
static uint64_t *churn_sums;

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t page_sum(const uint8_t *page)
{
    const uint64_t *w = (const uint64_t *)page;
    uint64_t h = 0xcbf29ce484222325ULL;

    for (int i = 0; i < WORDS_PER_PAGE; i++) {
        h = (h ^ w[i]) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h;
}

/* Random content whose first word is never repeated page-wide. */
static void fill_random_page(uint8_t *page, uint64_t *seed)
{
    uint64_t *w = (uint64_t *)page;

    for (int i = 0; i < WORDS_PER_PAGE; i++) {
        w[i] = splitmix64(seed);
    }
}

static const uint64_t pattern_kinds[] = {
    0x0000000000000000ULL,
    0xaaaaaaaaaaaaaaaaULL,
    0xdeadbeefdeadbeefULL,
    0x0123456789abcdefULL,
    0xffffffffffffffffULL,
    0x5a5a5a5aa5a5a5a5ULL,
};

static void fill_pattern_page(uint8_t *page, uint64_t value)
{
    uint64_t *w = (uint64_t *)page;

    for (int i = 0; i < WORDS_PER_PAGE; i++) {
        w[i] = value;
    }
}

static uint8_t *alloc_pages(size_t pages)
{
    void *p = mmap(NULL, pages * PAGE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

static Region *new_region(const char *kind, size_t mib)
{
    Region *r;

    if (nr_regions == MAX_REGIONS || mib == 0) {
        return NULL;
    }
    r = &regions[nr_regions];
    r->pages = mib * MIB / PAGE_SIZE;
    r->mem = alloc_pages(r->pages);
    r->sums = calloc(r->pages, sizeof(uint64_t));
    if (!r->mem || !r->sums) {
        if (r->mem) {
            munmap(r->mem, r->pages * PAGE_SIZE);
        }
        free(r->sums);
        return NULL;
    }
    r->kind = kind;
    nr_regions++;
    return r;
}

/* Mixed into every generator's seed: "seed N" varies the data per run. */
static uint64_t workload_seed;

static bool cmd_fill_random(size_t mib)
{
    static uint64_t seed;
    Region *r = new_region("random", mib);

    if (!seed) {
        seed = 0x6d656d78 ^ workload_seed;
    }

    if (!r) {
        return false;
    }
    for (size_t i = 0; i < r->pages; i++) {
        uint8_t *page = r->mem + i * PAGE_SIZE;

        fill_random_page(page, &seed);
        r->sums[i] = page_sum(page);
    }
    return true;
}

static bool cmd_fill_pattern(size_t mib)
{
    Region *r = new_region("pattern", mib);
    size_t nkinds = sizeof(pattern_kinds) / sizeof(pattern_kinds[0]);

    if (!r) {
        return false;
    }
    for (size_t i = 0; i < r->pages; i++) {
        uint8_t *page = r->mem + i * PAGE_SIZE;

        fill_pattern_page(page, pattern_kinds[i % nkinds]);
        r->sums[i] = page_sum(page);
    }
    return true;
}

static bool cmd_free_garbage(size_t mib)
{
    static uint64_t seed;
    size_t pages = mib * MIB / PAGE_SIZE;
    uint8_t *mem = alloc_pages(pages);

    if (!seed) {
        seed = 0x67617262 ^ workload_seed;
    }
    if (!mem || !pages) {
        return false;
    }
    for (size_t i = 0; i < pages; i++) {
        fill_random_page(mem + i * PAGE_SIZE, &seed);
    }
    return munmap(mem, pages * PAGE_SIZE) == 0;
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct DirtyArgs {
    Region *region;
    double mib_per_s;
    bool flip;          /* alternate pattern / almost-pattern */
    double seconds;     /* stop after this long; 0: never */
} DirtyArgs;

/* Rewrite pages round-robin at a fixed rate, keeping checksums exact. */
static void *dirty_thread(void *opaque)
{
    DirtyArgs *a = opaque;
    Region *r = a->region;
    uint64_t seed = 0x64697274;
    double pages_per_s = a->mib_per_s * MIB / PAGE_SIZE;
    double start = now_seconds();
    uint64_t done = 0;
    size_t i = 0;

    for (;;) {
        double elapsed = now_seconds() - start;
        double due = elapsed * pages_per_s;

        if (a->seconds > 0 && elapsed > a->seconds) {
            return NULL;
        }
        if (done >= due) {
            usleep(1000);
            continue;
        }
        pthread_mutex_lock(&work_lock);
        for (int n = 0; n < 64 && done < due; n++, done++) {
            uint8_t *page = r->mem + i * PAGE_SIZE;

            /*
             * Check before rewriting: a page that came back wrong after
             * migration would otherwise be overwritten (or, for flip,
             * built upon) and its checksum recomputed, hiding the loss.
             */
            if (page_sum(page) != r->sums[i]) {
                dirty_bad++;
            }

            if (a->flip) {
                /*
                 * Page i alternates between one pattern and that pattern
                 * with one fixed word changed.  If a migration forgot that
                 * a page went as a pattern (XBZRLE's cache still holding
                 * the changed version), the next change back would look
                 * like no change at all and never reach the destination.
                 */
                uint64_t *w = (uint64_t *)page;
                size_t k = (i * 7 + 3) % WORDS_PER_PAGE;

                if (w[k] == w[(k + 1) % WORDS_PER_PAGE]) {
                    w[k] ^= 0x5a5a5a5a5a5a5a5aULL;
                } else {
                    fill_pattern_page(page, pattern_kinds[1 + i % 5]);
                }
            } else {
                fill_random_page(page, &seed);
            }
            r->sums[i] = page_sum(page);
            i = (i + 1) % r->pages;
        }
        dirty_pages_written = done;
        pthread_mutex_unlock(&work_lock);
    }
    return NULL;
}

/* Operations of the hot writer so far (read by its reporter). */
static volatile uint64_t hot_ops;

/*
 * Rewrite pages of the hot set in random order, unthrottled: one word
 * per page, so that the guest dirties pages faster than a migration
 * link carries them, and in no order a migration could follow.  The
 * check before each rewrite catches a page that came back wrong, as in
 * dirty_thread().
 */
typedef struct HotWriterArgs {
    Region *region;
    size_t core_pages;      /* the first pages, which get core_pct% */
    unsigned core_pct;
} HotWriterArgs;

static void *hot_writer_thread(void *opaque)
{
    HotWriterArgs *a = opaque;
    Region *r = a->region;
    uint64_t seed = 0x686f7477 ^ workload_seed;

    for (;;) {
        pthread_mutex_lock(&work_lock);
        for (int n = 0; n < 64; n++) {
            uint64_t x = splitmix64(&seed);
            size_t i;

            if (a->core_pages && x % 100 < a->core_pct) {
                i = (x >> 8) % a->core_pages;
            } else if (a->core_pages) {
                i = a->core_pages + (x >> 8) % (r->pages - a->core_pages);
            } else {
                i = x % r->pages;
            }
            uint8_t *page = r->mem + i * PAGE_SIZE;
            uint64_t *w = (uint64_t *)page;

            if (page_sum(page) != r->sums[i]) {
                dirty_bad++;
            }
            w[(i * 7 + hot_ops) % WORDS_PER_PAGE]++;
            r->sums[i] = page_sum(page);
            hot_ops++;
        }
        pthread_mutex_unlock(&work_lock);
    }
    return NULL;
}

/* Every 100 ms: the hot writer's operations so far. */
static void *hot_reporter_thread(void *opaque __attribute__((unused)))
{
    for (;;) {
        usleep(100 * 1000);
        printf("MEMX-RATE ops=%" PRIu64 "\n", hot_ops);
        fflush(stdout);
    }
    return NULL;
}

/*
 * Allocate, write, verify, free, forever.  The kernel hands this loop
 * pages that were free a moment ago: if migration skipped a page the
 * guest had just allocated and written, its content on the destination
 * is wrong and the check below counts it.
 */
static void *churn_thread(void *opaque)
{
    size_t pages = (size_t)(uintptr_t)opaque;
    uint64_t seed = 0x63687572 ^ workload_seed;
    uint64_t *sums = calloc(pages, sizeof(uint64_t));

    for (;;) {
        uint8_t *mem;

        pthread_mutex_lock(&work_lock);
        mem = alloc_pages(pages);
        if (!mem) {
            pthread_mutex_unlock(&work_lock);
            usleep(10000);
            continue;
        }
        for (size_t i = 0; i < pages; i++) {
            fill_random_page(mem + i * PAGE_SIZE, &seed);
            sums[i] = page_sum(mem + i * PAGE_SIZE);
        }
        churn_mem = mem;
        churn_pages = pages;
        churn_sums = sums;
        pthread_mutex_unlock(&work_lock);
        /* Let time (and migration) pass with the data in place. */
        usleep(20000);
        pthread_mutex_lock(&work_lock);
        for (size_t i = 0; i < pages; i++) {
            if (page_sum(mem + i * PAGE_SIZE) != sums[i]) {
                churn_bad++;
            }
        }
        churn_mem = NULL;
        munmap(mem, pages * PAGE_SIZE);
        churn_iters++;
        pthread_mutex_unlock(&work_lock);
    }
    return NULL;
}

static void cmd_verify(void)
{
    uint64_t pages = 0, bad = 0, churn_live = 0;
    int first_bad_region = -1;
    size_t first_bad_page = 0;

    pthread_mutex_lock(&work_lock);
    if (churn_mem) {
        churn_live = churn_pages;
        for (size_t i = 0; i < churn_pages; i++) {
            if (page_sum(churn_mem + i * PAGE_SIZE) != churn_sums[i]) {
                churn_bad++;
            }
        }
    }
    for (int r = 0; r < nr_regions; r++) {
        for (size_t i = 0; i < regions[r].pages; i++) {
            pages++;
            if (page_sum(regions[r].mem + i * PAGE_SIZE) != regions[r].sums[i]) {
                if (!bad) {
                    first_bad_region = r;
                    first_bad_page = i;
                }
                bad++;
            }
        }
    }
    printf("MEMX-VERIFY status=%s pages=%" PRIu64 " bad=%" PRIu64
           " churn_iters=%" PRIu64 " churn_live=%" PRIu64 " churn_bad=%" PRIu64
           " dirty_bad=%" PRIu64,
           bad || churn_bad || dirty_bad ? "fail" : "ok", pages, bad, churn_iters,
           churn_live, churn_bad, dirty_bad);
    if (bad) {
        printf(" first_bad=%s:%zu", regions[first_bad_region].kind, first_bad_page);
    }
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&work_lock);
}

/* Free pages the host cannot see: those on the per-CPU lists. */
static void cmd_pcp(void)
{
    unsigned long long pcp = 0, n, memfree_kib = 0;
    char line[256];
    FILE *f = fopen("/proc/zoneinfo", "r");

    if (!f) {
        printf("MEMX-ERR pcp cannot open /proc/zoneinfo\n");
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, " count: %llu", &n) == 1) {
            pcp += n;
        }
    }
    fclose(f);
    f = fopen("/proc/meminfo", "r");
    while (f && fgets(line, sizeof(line), f)) {
        sscanf(line, "MemFree: %llu kB", &memfree_kib);
    }
    if (f) {
        fclose(f);
    }
    printf("MEMX-OK pcp pages=%llu memfree_pages=%llu\n", pcp, memfree_kib / 4);
    fflush(stdout);
}

/*
 * Add one /proc/buddyinfo line's per-order counts to @sum (32 entries);
 * returns how many orders it had.
 */
static int add_buddyinfo_line(const char *line, unsigned long long *sum)
{
    const char *p = strstr(line, "zone");
    int n = 0;

    if (!p) {
        return 0;
    }
    p += 4;
    while (*p == ' ') {
        p++;
    }
    while (*p && *p != ' ') {   /* zone name */
        p++;
    }
    for (char *end; n < 32; n++, p = end) {
        unsigned long long v = strtoull(p, &end, 10);

        if (end == p) {
            break;
        }
        sum[n] += v;
    }
    return n;
}

/*
 * Sum /proc/buddyinfo's per-order counts over all nodes and zones into
 * @sum (32 entries); returns the number of orders, or -1.
 */
static int read_buddyinfo(unsigned long long *sum)
{
    int orders = 0;
    char line[512];
    FILE *f = fopen("/proc/buddyinfo", "r");

    if (!f) {
        return -1;
    }
    memset(sum, 0, 32 * sizeof(*sum));
    while (fgets(line, sizeof(line), f)) {
        int n = add_buddyinfo_line(line, sum);

        orders = n > orders ? n : orders;
    }
    fclose(f);
    return orders;
}

/* Read all of @fd from its start into @buf (NUL-terminated). */
static bool reread(int fd, char *buf, size_t len)
{
    size_t got = 0;
    ssize_t n = 0;

    if (lseek(fd, 0, SEEK_SET) < 0) {
        return false;
    }
    while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0) {
        got += n;
    }
    buf[got] = 0;
    return n >= 0 && got < len - 1;
}

/*
 * The oracle for the host's count of all free pages: the free blocks per
 * order of /proc/buddyinfo and the per-CPU lists' pages ("count:" of
 * every pageset in /proc/zoneinfo), as one picture.  Reading a seq_file
 * allocates its buffer, which would move the very lists being counted,
 * and closing frees it: so both files stay open from the first call on,
 * and each is read twice, the second time with its buffer in place.
 * Nothing here allocates after that; the process then waits on stdin.
 * Reply: orders=N,N,... pcp=N
 */
static void cmd_freeinfo(void)
{
    static int buddy_fd = -1, zone_fd = -1;
    static char buddy_text[64 << 10], zone_text[1 << 20];
    unsigned long long sum[32] = { 0 }, pcp = 0, n;
    int orders = 0;
    char *line, *save = NULL;

    if (buddy_fd < 0) {
        buddy_fd = open("/proc/buddyinfo", O_RDONLY);
        zone_fd = open("/proc/zoneinfo", O_RDONLY);
    }
    if (buddy_fd < 0 || zone_fd < 0 ||
        !reread(buddy_fd, buddy_text, sizeof(buddy_text)) ||
        !reread(zone_fd, zone_text, sizeof(zone_text)) ||
        !reread(buddy_fd, buddy_text, sizeof(buddy_text)) ||
        !reread(zone_fd, zone_text, sizeof(zone_text))) {
        printf("MEMX-ERR freeinfo cannot read /proc/buddyinfo or "
               "/proc/zoneinfo\n");
        fflush(stdout);
        return;
    }
    for (line = strtok_r(buddy_text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        int k = add_buddyinfo_line(line, sum);

        orders = k > orders ? k : orders;
    }
    for (line = strtok_r(zone_text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (sscanf(line, " count: %llu", &n) == 1) {
            pcp += n;
        }
    }
    printf("MEMX-OK freeinfo orders=");
    for (int i = 0; i < orders; i++) {
        printf("%s%llu", i ? "," : "", sum[i]);
    }
    printf(" pcp=%llu\n", pcp);
    fflush(stdout);
}

static void cmd_buddyinfo(void)
{
    unsigned long long sum[32];
    int orders = read_buddyinfo(sum);

    if (orders < 0) {
        printf("MEMX-ERR buddyinfo cannot open /proc/buddyinfo\n");
        return;
    }
    printf("MEMX-OK buddyinfo orders=");
    for (int i = 0; i < orders; i++) {
        printf("%s%llu", i ? "," : "", sum[i]);
    }
    printf("\n");
    fflush(stdout);
}

#define KPF_BUDDY 10
#define KPF_NOPAGE 20
#define MAX_FREE_RUNS (1 << 20)

typedef struct PfnRun {
    uint64_t start, len;
} PfnRun;

/*
 * The free pages, from the BUDDY bit of /proc/kpageflags (set on every
 * page of a free buddy block since Linux 4.4), as maximal runs of pfns,
 * for a per-page check of the host's introspection.  The read is retried
 * until /proc/buddyinfo is the same before and after it, so the list is
 * one consistent picture.  Reply: runs=N pages=N and the runs as
 * "gap+length" in hex, the gap counted from the end of the previous run.
 */
static void cmd_kpagebuddy(void)
{
    static uint64_t flags[8192];
    static PfnRun runs[MAX_FREE_RUNS];
    unsigned long long before[32], after[32];
    size_t nruns = 0;
    uint64_t pages = 0, prev_end = 0;
    int attempt;

    for (attempt = 0; attempt < 10; attempt++) {
        FILE *f = fopen("/proc/kpageflags", "r");
        uint64_t pfn = 0;
        size_t got;

        if (!f || read_buddyinfo(before) < 0) {
            printf("MEMX-ERR kpagebuddy cannot read /proc/kpageflags or "
                   "/proc/buddyinfo: %s\n", strerror(errno));
            fflush(stdout);
            if (f) {
                fclose(f);
            }
            return;
        }
        nruns = 0;
        pages = 0;
        while ((got = fread(flags, sizeof(flags[0]), 8192, f)) > 0) {
            for (size_t i = 0; i < got; i++, pfn++) {
                if (!(flags[i] >> KPF_BUDDY & 1) || (flags[i] >> KPF_NOPAGE & 1)) {
                    continue;
                }
                pages++;
                if (nruns && runs[nruns - 1].start + runs[nruns - 1].len == pfn) {
                    runs[nruns - 1].len++;
                } else if (nruns < MAX_FREE_RUNS) {
                    runs[nruns++] = (PfnRun) { .start = pfn, .len = 1 };
                }
            }
        }
        fclose(f);
        if (read_buddyinfo(after) >= 0 && !memcmp(before, after, sizeof(before))) {
            break;
        }
    }
    if (attempt == 10) {
        printf("MEMX-ERR kpagebuddy free lists never held still\n");
        fflush(stdout);
        return;
    }
    printf("MEMX-OK kpagebuddy attempts=%d runs=%zu pages=%" PRIu64 " list=",
           attempt + 1, nruns, pages);
    for (size_t i = 0; i < nruns; i++) {
        printf("%s%" PRIx64 "+%" PRIx64, i ? "," : "", runs[i].start - prev_end,
               runs[i].len);
        prev_end = runs[i].start + runs[i].len;
    }
    printf("\n");
    fflush(stdout);
}

static bool start_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;

    return pthread_create(&t, NULL, fn, arg) == 0 && pthread_detach(t) == 0;
}

/* Check and rewrite every page of the last region, PASSES times. */
static bool cmd_touch(size_t passes)
{
    static uint64_t seed = 0x746f7563;
    Region *r = nr_regions ? &regions[nr_regions - 1] : NULL;
    uint64_t bad = 0;
    double t0 = now_seconds(), secs;

    if (!r || passes == 0) {
        printf("MEMX-ERR touch no region or no passes\n");
        return false;
    }
    for (size_t pass = 0; pass < passes; pass++) {
        for (size_t i = 0; i < r->pages; i++) {
            uint8_t *page = r->mem + i * PAGE_SIZE;

            bad += page_sum(page) != r->sums[i];
            fill_random_page(page, &seed);
            r->sums[i] = page_sum(page);
        }
    }
    secs = now_seconds() - t0;
    printf("%s touch pages=%zu bad=%" PRIu64 " seconds=%.3f pps=%.0f\n",
           bad ? "MEMX-ERR" : "MEMX-OK", r->pages * passes, bad, secs,
           r->pages * passes / secs);
    return bad == 0;
}

/* Parse "cmd a b" or "cmd:a:b"; returns false on unknown/bad input. */
static bool run_command(char *line)
{
    char *argv[4] = { 0 };
    int argc = 0;
    char *save = NULL;
    size_t a1, a2;

    if (!strncmp(line, "sh ", 3)) {
        int rc;

        fflush(stdout);
        rc = system(line + 3);
        rc = rc == -1 ? 127 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
        printf("%s sh rc=%d\n", rc ? "MEMX-ERR" : "MEMX-OK", rc);
        return rc == 0;
    }
    for (char *tok = strtok_r(line, " :\t\r\n", &save); tok && argc < 4;
         tok = strtok_r(NULL, " :\t\r\n", &save)) {
        argv[argc++] = tok;
    }
    if (argc == 0) {
        return true;
    }
    a1 = argc > 1 ? strtoul(argv[1], NULL, 0) : 0;
    a2 = argc > 2 ? strtoul(argv[2], NULL, 0) : 0;

#define REPLY(ok, fmt, ...) do { \
        printf((ok) ? "MEMX-OK %s " fmt "\n" : "MEMX-ERR %s " fmt "\n", \
               argv[0], ##__VA_ARGS__); \
        fflush(stdout); \
        return ok; \
    } while (0)

    if (!strcmp(argv[0], "fill-random")) {
        bool ok = cmd_fill_random(a1);
        REPLY(ok, "mib=%zu", a1);
    } else if (!strcmp(argv[0], "fill-pattern")) {
        bool ok = cmd_fill_pattern(a1);
        REPLY(ok, "mib=%zu", a1);
    } else if (!strcmp(argv[0], "free-garbage")) {
        bool ok = cmd_free_garbage(a1);
        REPLY(ok, "mib=%zu", a1);
    } else if (!strcmp(argv[0], "dirty") || !strcmp(argv[0], "flip")) {
        static DirtyArgs args;
        Region *r = args.region ? NULL : new_region(argv[0], a1);
        bool ok = r != NULL && a2 > 0;

        if (ok) {
            for (size_t i = 0; i < r->pages; i++) {
                r->sums[i] = page_sum(r->mem + i * PAGE_SIZE);
            }
            args.region = r;
            args.mib_per_s = a2;
            args.flip = !strcmp(argv[0], "flip");
            args.seconds = argc > 3 ? strtod(argv[3], NULL) : 0;
            ok = start_thread(dirty_thread, &args);
            dirty_running |= ok;
        }
        REPLY(ok, "mib=%zu rate=%zu", a1, a2);
    } else if (!strcmp(argv[0], "hot-writer")) {
        static HotWriterArgs args;
        size_t pct = argc > 3 ? strtoul(argv[3], NULL, 0) : 0;
        bool ok = !dirty_running && a2 < a1 && pct <= 100 && (a2 == 0) == (pct == 0);
        Region *r = ok ? new_region("hot", a1) : NULL;

        ok = r != NULL;
        if (ok) {
            uint64_t seed = 0x686f74 ^ workload_seed;

            for (size_t i = 0; i < r->pages; i++) {
                fill_random_page(r->mem + i * PAGE_SIZE, &seed);
                r->sums[i] = page_sum(r->mem + i * PAGE_SIZE);
            }
            args.region = r;
            args.core_pages = a2 * MIB / PAGE_SIZE;
            args.core_pct = pct;
            ok = start_thread(hot_writer_thread, &args) &&
                 start_thread(hot_reporter_thread, NULL);
            dirty_running |= ok;
        }
        REPLY(ok, "mib=%zu core=%zu pct=%zu", a1, a2, pct);
    } else if (!strcmp(argv[0], "churn")) {
        bool ok = a1 > 0 &&
            start_thread(churn_thread, (void *)(uintptr_t)(a1 * MIB / PAGE_SIZE));
        REPLY(ok, "mib=%zu", a1);
    } else if (!strcmp(argv[0], "verify")) {
        cmd_verify();
        return true;
    } else if (!strcmp(argv[0], "status")) {
        REPLY(true, "regions=%d churn_iters=%" PRIu64 " churn_bad=%" PRIu64
              " dirty_pages=%" PRIu64, nr_regions, churn_iters, churn_bad,
              dirty_pages_written);
    } else if (!strcmp(argv[0], "buddyinfo")) {
        cmd_buddyinfo();
        return true;
    } else if (!strcmp(argv[0], "kpagebuddy")) {
        cmd_kpagebuddy();
        return true;
    } else if (!strcmp(argv[0], "pcp")) {
        cmd_pcp();
        return true;
    } else if (!strcmp(argv[0], "freeinfo")) {
        cmd_freeinfo();
        return true;
    } else if (!strcmp(argv[0], "seed") && argc == 2) {
        workload_seed = strtoull(argv[1], NULL, 0);
        REPLY(true, "seed=%llu", (unsigned long long)workload_seed);
    } else if (!strcmp(argv[0], "drop")) {
        if (dirty_running) {
            REPLY(false, "a dirty/flip thread uses a region");
        }
        pthread_mutex_lock(&work_lock);
        for (int i = 0; i < nr_regions; i++) {
            munmap(regions[i].mem, regions[i].pages * PAGE_SIZE);
            free(regions[i].sums);
        }
        nr_regions = 0;
        pthread_mutex_unlock(&work_lock);
        REPLY(true, "regions=0");
    } else if (!strcmp(argv[0], "touch")) {
        return cmd_touch(a1);
    } else if (!strcmp(argv[0], "sleep")) {
        sleep(a1);
        REPLY(true, "seconds=%zu", a1);
    }
    REPLY(false, "unknown command");
#undef REPLY
}

int main(int argc, char **argv)
{
    char line[1024];

    setvbuf(stdout, NULL, _IOLBF, 0);
    bool all_ok = true;

    for (int i = 1; i < argc; i++) {
        char buf[256];

        snprintf(buf, sizeof(buf), "%s", argv[i]);
        all_ok &= run_command(buf);
    }
    printf("MEMX-READY\n");
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
        run_command(line);
    }
    /* stdin closed: a child (run with 'sh') is done; init stays alive. */
    if (getpid() != 1) {
        return all_ok ? 0 : 1;
    }
    for (;;) {
        pause();
    }
    return 0;
}
