/*
 * qemu-memx: the map of guest RAM (memory backends as the system address
 * space shows them) and the introspection of a Linux guest's free pages
 * through it, shared by guest-free page skipping and memdedup.
 *
 * Everything the guest provides is untrusted: the VMCOREINFO note is
 * copied out of guest RAM before it is parsed, and every guest address
 * the cores follow is looked up in this map, which holds system RAM only
 * (no device RAM such as VRAM in a PCI BAR, no MMIO, ROM or hidden
 * SMRAM).  The note is also proven to describe the running kernel
 * before it is used: after kexec, fw_cfg still points at the old
 * kernel's note, whose memory may be intact but stale, so the vCPUs'
 * page tables must agree with the note's (memx_scan_check_live_kernel).
 *
 * The per-CPU free lists are found through the guest's kallsyms and BTF
 * (memdedup/introspect/guest-pcp.h).  Reading those costs a copy of the
 * guest's .BTF section (about 5 MB) and a parse by libbpf, so what they
 * give is kept, under the BQL, for as long as the note is unchanged: the
 * note's symbols carry the kernel's KASLR offsets and its sizes and
 * offsets the build, so the same note means the same kernel image, and
 * the live-kernel check above ties the note to the running kernel.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "qemu/rcu.h"
#include "qemu/timer.h"
#include "exec/address-spaces.h"
#include "exec/memory.h"
#include "exec/ramblock.h"
#include "exec/target_page.h"
#include "system/hostmem.h"
#include "system/memx-guest-scan.h"
#include "system/qtest.h"
#include "hw/boards.h"
#include "hw/misc/vmcoreinfo.h"
#include "memx/trace.h"

/* The per-CPU lists' view of the kernel that wrote @note (BQL) */
static struct {
    GBytes *note;
    bool found;
    GuestPcpView pv;
} memx_pcp_cache;

static bool memx_ram_range_cb(Int128 start, Int128 len,
                              const MemoryRegion *const_mr,
                              hwaddr offset_in_region, void *opaque)
{
    MemoryRegion *mr = (MemoryRegion *)const_mr;
    MemxRamMap *map = opaque;
    uint64_t gpa = int128_get64(start), size = int128_get64(len);
    RAMBlock *block = mr->ram_block;
    MemxRamRange *prev = map->n ? &map->range[map->n - 1] : NULL;
    uint8_t *host;

    /*
     * Plain, writable system RAM only: a memory backend's region (machine
     * RAM, NUMA nodes, DIMMs, virtio-mem), never device RAM such as VRAM,
     * which the guest kernel has no struct pages for; no ROM, ROMD, MMIO
     * or ram_device.
     */
    if (!memory_region_is_ram(mr) || memory_region_is_ram_device(mr) ||
        memory_region_is_romd(mr) || mr->readonly || !block ||
        block->mr != mr ||
        !object_dynamic_cast(memory_region_owner(mr), TYPE_MEMORY_BACKEND) ||
        !QEMU_IS_ALIGNED(gpa | size | offset_in_region, TARGET_PAGE_SIZE) ||
        offset_in_region + size > block->used_length) {
        return false;
    }
    host = block->host + offset_in_region;
    if (prev && prev->end == gpa && prev->block == block &&
        prev->offset + (prev->end - prev->start) == offset_in_region) {
        prev->end += size;
        map->guest[map->n - 1].end = prev->end;
        return false;
    }
    if (map->n == MEMX_MAX_RAM_RANGES) {
        return false;   /* skip less, never more */
    }
    map->range[map->n] = (MemxRamRange) {
        .start = gpa, .end = gpa + size, .host = host,
        .block = block, .offset = offset_in_region,
    };
    map->guest[map->n] = (GuestRamRange) { .start = gpa, .end = gpa + size };
    map->n++;
    return false;
}

void memx_ram_map_build(MemxRamMap *map)
{
    FlatView *view = address_space_to_flatview(&address_space_memory);

    map->n = 0;
    flatview_for_each_range(view, memx_ram_range_cb, map);
}

static const void *memx_ram_map_lookup(void *opaque, uint64_t gpa,
                                       uint64_t len)
{
    const MemxRamMap *map = opaque;

    for (size_t i = 0; i < map->n; i++) {
        const MemxRamRange *r = &map->range[i];

        if (gpa >= r->start && gpa < r->end && len <= r->end - gpa) {
            return r->host + (gpa - r->start);
        }
    }
    return NULL;
}

/* Copy the guest's VMCOREINFO note out of guest RAM; NULL with a reason. */
static void *memx_read_vmcoreinfo(const GuestMemory *mem, size_t *len,
                                  const char **why)
{
    VMCoreInfoState *vmci = vmcoreinfo_find();
    uint64_t paddr;
    uint32_t size;
    const void *note;

    if (!vmci) {
        *why = "no vmcoreinfo device (add -device vmcoreinfo)";
        return NULL;
    }
    if (!vmci->has_vmcoreinfo) {
        *why = "the guest has not provided VMCOREINFO (not Linux, or its "
               "qemu_fw_cfg driver is not loaded)";
        return NULL;
    }
    if (le16_to_cpu(vmci->vmcoreinfo.guest_format) !=
        FW_CFG_VMCOREINFO_FORMAT_ELF) {
        *why = "the guest's VMCOREINFO is in an unknown format";
        return NULL;
    }
    size = le32_to_cpu(vmci->vmcoreinfo.size);
    paddr = le64_to_cpu(vmci->vmcoreinfo.paddr);
    if (size == 0 || size > VMCOREINFO_MAX_BYTES) {
        *why = "the guest's VMCOREINFO note has an absurd size";
        return NULL;
    }
    note = mem->map(mem->opaque, paddr, size);
    if (!note) {
        *why = "the guest's VMCOREINFO note is not in guest RAM";
        return NULL;
    }
    /* The guest may rewrite it at any time: parse a private copy. */
    *len = size;
    return g_memdup2(note, size);
}

void memx_bitmap_zeroed(uint64_t **bitmap, uint64_t *words_held,
                        uint64_t nr_bits)
{
    uint64_t words = DIV_ROUND_UP(nr_bits, 64);

    if (*words_held < words) {
        g_free(*bitmap);
        *bitmap = g_new(uint64_t, words);
        *words_held = words;
    }
    memset(*bitmap, 0, words * sizeof(uint64_t));
}

/* Whether the vCPUs' top-level tables @roots agree with @scan's note. */
static bool memx_scan_same_kernel(MemxScan *scan, const GArray *roots)
{
    uint64_t vaddrs[] = { scan->info.init_top_pgt, scan->view.vmemmap };

    if (roots->len == 0) {
        scan->reason = "no vCPU runs the guest kernel (long mode with paging "
                       "on): it is booting, or kexec'ing";
        return false;
    }
    for (guint i = 0; i < roots->len; i++) {
        if (!guest_pgtable_same_kernel(&scan->view.pt,
                                       g_array_index(roots, uint64_t, i),
                                       vaddrs, ARRAY_SIZE(vaddrs),
                                       &scan->reason)) {
            return false;
        }
    }
    return true;
}

/* Find the per-CPU lists of the kernel that wrote @note, once. */
static void memx_scan_find_pcp(MemxScan *scan, const void *note, size_t len)
{
    g_autoptr(GBytes) bytes = g_bytes_new(note, len);

    if (!memx_pcp_cache.note || !g_bytes_equal(memx_pcp_cache.note, bytes)) {
        g_clear_pointer(&memx_pcp_cache.note, g_bytes_unref);
        memx_pcp_cache.found = guest_pcp_view_init(&memx_pcp_cache.pv,
                                                   &scan->view);
        memx_pcp_cache.note = g_steal_pointer(&bytes);
    }
    scan->pcp_tried = &memx_pcp_cache.pv;
    scan->pcp = memx_pcp_cache.found ? &memx_pcp_cache.pv : NULL;
    scan->pcp_reason = memx_pcp_cache.pv.kallsyms_reason ?:
                       memx_pcp_cache.pv.btf_reason;
}

static bool memx_scan_view(const MemxRamMap *map, MemxScan *scan,
                           const void *note, size_t note_len)
{
    if (!guest_kernel_view_init(&scan->view, &scan->info, &scan->mem,
                                map->guest, map->n, &scan->reason)) {
        return false;
    }
    memx_scan_find_pcp(scan, note, note_len);
    return true;
}

bool memx_scan_prepare(const MemxRamMap *map, MemxScan *scan)
{
    g_autoptr(GArray) roots = NULL;
    g_autofree void *note = NULL;
    size_t note_len = 0;

    scan->mem = (GuestMemory) {
        .map = memx_ram_map_lookup, .opaque = (void *)map,
    };
    scan->nr_pfns = 0;
    scan->ram_bytes = 0;
    for (size_t i = 0; i < map->n; i++) {
        scan->ram_bytes += map->range[i].end - map->range[i].start;
        scan->nr_pfns = MAX(scan->nr_pfns,
                            map->range[i].end >> TARGET_PAGE_BITS);
    }
    note = memx_read_vmcoreinfo(&scan->mem, &note_len, &scan->reason);
    if (!note) {
        return false;
    }
    if (!vmcoreinfo_parse_note(note, note_len, &scan->info, &scan->reason)) {
        return false;
    }
    pstrcpy(scan->kernel_release, sizeof(scan->kernel_release),
            scan->info.osrelease);
    if (scan->info.page_size != TARGET_PAGE_SIZE) {
        scan->reason = "the guest's page size is not the target page size";
        return false;
    }
    /*
     * Prove the note is the running kernel's before following any of its
     * pointers: first through the tables the note names, then again with
     * the struct page array the view found; the vCPUs' tables are read
     * once for both.
     */
    scan->view.pt = (GuestPgtable) {
        .mem = &scan->mem,
        .root_gpa = vmcoreinfo_kernel_pa(&scan->info, scan->info.init_top_pgt),
        .levels = scan->info.pgtable_l5_enabled ? 5 : 4,
    };
    scan->view.vmemmap = scan->info.has_vmemmap ? scan->info.vmemmap
                                                : scan->info.init_top_pgt;
    if (qtest_driver()) {
        return memx_scan_view(map, scan, note, note_len);
    }
    roots = memx_guest_cpu_roots();
    return memx_scan_same_kernel(scan, roots) &&
           memx_scan_view(map, scan, note, note_len) &&
           memx_scan_same_kernel(scan, roots);
}

void memx_scan_warm(void)
{
    g_autofree MemxRamMap *map = g_new(MemxRamMap, 1);
    MemxScan scan = { 0 };

    WITH_RCU_READ_LOCK_GUARD() {
        memx_ram_map_build(map);
        memx_scan_prepare(map, &scan);
    }
}

bool memx_scan_ranges(MemxScan *scan, const GuestRamRange *ranges,
                      size_t nranges, uint64_t *bitmap,
                      GuestFreePageStats *stats)
{
    const char *why;

    if (!guest_free_pages_scan(&scan->view, ranges, nranges, bitmap,
                               scan->nr_pfns, stats, &scan->reason)) {
        return false;
    }
    memset(&scan->pcp_stats, 0, sizeof(scan->pcp_stats));
    if (scan->pcp && !scan->skip_pcp) {
        MachineState *ms = MACHINE(qdev_get_machine());
        GuestPcpLimits limits;

        /*
         * What the guest claims is checked against what this VM can have,
         * and the walk's cost against what its RAM can hold.
         */
        guest_pcp_limits_init(&limits, scan->ram_bytes >> TARGET_PAGE_BITS,
                              ms->smp.max_cpus,
                              MAX(ms->numa_state ? ms->numa_state->num_nodes
                                                 : 0, 1));
        if (!guest_pcp_scan(&scan->view, scan->pcp, &limits, ranges, nranges,
                            bitmap, scan->nr_pfns, &scan->pcp_stats, &why)) {
            scan->pcp_reason = why;
            trace_memx_scan_pcp_refused(why);
        }
        trace_memx_scan_pcp(scan->pcp_stats.pages, scan->pcp_stats.entries,
                            scan->pcp_stats.lists_walked,
                            scan->pcp_stats.lists_dropped,
                            scan->pcp_stats.lists_aliased,
                            scan->pcp_stats.scan_us);
    }
    return true;
}

bool memx_scan_check_live_kernel(MemxScan *scan)
{
    g_autoptr(GArray) roots = NULL;

    /*
     * Driven by a qtest, the guest is a test program and the kernel's
     * structures are laid out by hand: no vCPU uses their page tables.
     * tests/e2e/kexec.py checks this proof with real kernels.
     */
    if (qtest_driver()) {
        return true;
    }
    roots = memx_guest_cpu_roots();
    return memx_scan_same_kernel(scan, roots);
}

bool memx_scan_guest(const MemxRamMap *map, MemxScan *scan,
                     uint64_t **bitmap, uint64_t *bitmap_words)
{
    int64_t t0 = get_clock();

    if (!memx_scan_prepare(map, scan)) {
        trace_memx_scan_refused(scan->reason);
        return false;
    }
    memx_bitmap_zeroed(bitmap, bitmap_words, scan->nr_pfns);
    memset(&scan->stats, 0, sizeof(scan->stats));
    if (!memx_scan_ranges(scan, map->guest, map->n, *bitmap, &scan->stats)) {
        trace_memx_scan_refused(scan->reason);
        return false;
    }
    scan->bitmap = *bitmap;
    scan->scan_ns = get_clock() - t0;
    scan->reason = NULL;
    trace_memx_scan_done(scan->ram_bytes, scan->stats.free_pages,
                         scan->pcp_stats.pages, scan->scan_ns);
    return true;
}
