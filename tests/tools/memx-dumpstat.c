/*
 * memx-dumpstat: what is in a guest's RAM, from a QEMU ELF dump.
 *
 * Reads a dump written by QMP dump-guest-memory (paging off), takes the
 * guest's VMCOREINFO note from it, finds the free pages with the
 * memdedup introspection cores (free buddy blocks, and the per-CPU free
 * lists through the guest's kallsyms and BTF), classifies every page
 * (zero / pattern / other) and prints one JSON object:
 *
 *   ram_pages, free_pages (= buddy_pages + pcp_pages), free_blocks,
 *   rejected_blocks, free_by_order (buddy blocks), pcp_lists_dropped,
 *   pcp_reason (why the per-CPU lists were not walked, or null),
 *   free_uniform_pages, free_other_pages, inuse_zero_pages,
 *   inuse_pattern_pages, inuse_other_pages,
 *   limit_bytes = inuse_other_pages * 4096   (what migration must send)
 *
 * The benchmarks use limit_bytes as the physical floor of a migration;
 * the e2e tests compare free_by_order with the guest's /proc/buddyinfo
 * and pcp_pages with its /proc/zoneinfo.  --buddy-only leaves the
 * per-CPU lists out (the floor as it was before they were read).
 *
 * Usage: memx-dumpstat [--buddy-only] DUMP.elf
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <elf.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memdedup/introspect/guest-freepages.h"
#include "memdedup/introspect/guest-pcp.h"
#include "memdedup/classify/page-classify.h"

#define MAX_SEGMENTS 64

typedef struct Dump {
    const unsigned char *base;
    size_t size;
    GuestRamRange ram[MAX_SEGMENTS];
    uint64_t file_off[MAX_SEGMENTS];
    size_t nram;
    const unsigned char *note;
    size_t note_len;
} Dump;

static const void *dump_map(void *opaque, uint64_t gpa, uint64_t len)
{
    Dump *d = opaque;

    for (size_t i = 0; i < d->nram; i++) {
        if (gpa >= d->ram[i].start && len <= d->ram[i].end - gpa &&
            gpa < d->ram[i].end) {
            return d->base + d->file_off[i] + (gpa - d->ram[i].start);
        }
    }
    return NULL;
}

/* x86 firmware window below 4 GiB: a ROM, not guest-kernel RAM. */
static bool is_firmware_window(uint64_t start)
{
    return start >= 0xfe000000ULL && start < 0x100000000ULL;
}

static bool parse_elf(Dump *d, const char **why)
{
    Elf64_Ehdr eh;

    if (d->size < sizeof(eh)) {
        *why = "file too short for an ELF header";
        return false;
    }
    memcpy(&eh, d->base, sizeof(eh));
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_type != ET_CORE || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phoff > d->size || eh.e_phnum > (d->size - eh.e_phoff) / sizeof(Elf64_Phdr)) {
        *why = "not a 64-bit ELF core dump";
        return false;
    }
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;

        memcpy(&ph, d->base + eh.e_phoff + i * sizeof(ph), sizeof(ph));
        if (ph.p_offset > d->size || ph.p_filesz > d->size - ph.p_offset) {
            *why = "segment runs past the end of the file";
            return false;
        }
        if (ph.p_type == PT_LOAD && ph.p_filesz == ph.p_memsz && ph.p_filesz &&
            !is_firmware_window(ph.p_paddr) && d->nram < MAX_SEGMENTS) {
            d->ram[d->nram].start = ph.p_paddr;
            d->ram[d->nram].end = ph.p_paddr + ph.p_filesz;
            d->file_off[d->nram++] = ph.p_offset;
        } else if (ph.p_type == PT_NOTE) {
            /* Walk the notes for the VMCOREINFO one. */
            const unsigned char *p = d->base + ph.p_offset;
            uint64_t left = ph.p_filesz;

            while (left >= 12) {
                uint32_t namesz, descsz;
                uint64_t len;

                memcpy(&namesz, p, 4);
                memcpy(&descsz, p + 4, 4);
                len = 12 + (((uint64_t)namesz + 3) & ~3ULL) +
                      (((uint64_t)descsz + 3) & ~3ULL);
                if (len > left) {
                    break;
                }
                if (namesz == 11 && !memcmp(p + 12, "VMCOREINFO", 11)) {
                    d->note = p;
                    d->note_len = len;
                }
                p += len;
                left -= len;
            }
        }
    }
    if (!d->nram) {
        *why = "no RAM segments in the dump";
        return false;
    }
    if (!d->note) {
        *why = "the dump has no VMCOREINFO note (was -device vmcoreinfo given "
               "and qemu_fw_cfg loaded in the guest?)";
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    Dump d = { 0 };
    GuestMemory mem = { .map = dump_map, .opaque = &d };
    GuestKernelView view;
    GuestFreePageStats st = { 0 };
    GuestPcpStats pcp = { 0 };
    GuestPcpView pv;
    const char *pcp_reason = NULL;
    bool buddy_only = argc == 3 && !strcmp(argv[1], "--buddy-only");
    VmcoreInfo info;
    const char *why = NULL;
    struct stat sb;
    uint64_t nr_pfns = 0, free_uniform = 0, free_other = 0;
    uint64_t used_zero = 0, used_pattern = 0, used_other = 0, ram_pages = 0;
    g_autofree uint64_t *bitmap = NULL;
    gint64 t0;
    double scan_ms;
    int fd;

    if (argc != 2 && !buddy_only) {
        fprintf(stderr, "usage: %s [--buddy-only] DUMP.elf\n", argv[0]);
        return 2;
    }
    fd = open(argv[argc - 1], O_RDONLY);
    if (fd < 0 || fstat(fd, &sb) < 0) {
        perror(argv[argc - 1]);
        return 1;
    }
    d.size = sb.st_size;
    d.base = mmap(NULL, d.size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (d.base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    if (!parse_elf(&d, &why) ||
        !vmcoreinfo_parse_note(d.note, d.note_len, &info, &why) ||
        !guest_kernel_view_init(&view, &info, &mem, d.ram, d.nram, &why)) {
        fprintf(stderr, "memx-dumpstat: %s: %s\n", argv[argc - 1], why);
        return 1;
    }
    for (size_t i = 0; i < d.nram; i++) {
        nr_pfns = MAX(nr_pfns, d.ram[i].end >> 12);
    }
    bitmap = g_new0(uint64_t, (nr_pfns + 63) / 64);
    t0 = g_get_monotonic_time();
    if (!guest_free_pages_scan(&view, d.ram, d.nram, bitmap, nr_pfns, &st, &why)) {
        fprintf(stderr, "memx-dumpstat: scan failed: %s\n", why);
        return 1;
    }
    if (buddy_only) {
        pcp_reason = "left out (--buddy-only)";
    } else if (!guest_pcp_view_init(&pv, &view)) {
        pcp_reason = pv.kallsyms_reason ? pv.kallsyms_reason : pv.btf_reason;
    } else if (!guest_pcp_scan(&view, &pv, NULL, d.ram, d.nram, bitmap,
                               nr_pfns, &pcp, &why)) {
        pcp_reason = why;
    }
    scan_ms = (g_get_monotonic_time() - t0) / 1000.0;

    for (size_t i = 0; i < d.nram; i++) {
        for (uint64_t pfn = (d.ram[i].start + 4095) >> 12; pfn < d.ram[i].end >> 12; pfn++) {
            const void *page = dump_map(&d, pfn << 12, 4096);
            PageClass cls = page_classify(page, 4096, NULL);
            bool is_free = bitmap[pfn / 64] >> (pfn % 64) & 1;

            ram_pages++;
            if (is_free) {
                cls == PAGE_CLASS_OTHER ? free_other++ : free_uniform++;
            } else if (cls == PAGE_CLASS_ZERO) {
                used_zero++;
            } else if (cls == PAGE_CLASS_PATTERN) {
                used_pattern++;
            } else {
                used_other++;
            }
        }
    }

    printf("{\"osrelease\": \"%s\", \"vmemmap\": \"0x%" PRIx64 "\", "
           "\"vmemmap_source\": \"%s\", \"paging_levels\": %d, "
           "\"ram_pages\": %" PRIu64 ", \"free_pages\": %" PRIu64 ", "
           "\"buddy_pages\": %" PRIu64 ", \"pcp_pages\": %" PRIu64 ", "
           "\"pcp_lists_dropped\": %" PRIu64 ", \"pcp_reason\": ",
           info.osrelease, view.vmemmap,
           info.has_vmemmap ? "SYMBOL(vmemmap)" : "mem_section",
           view.pt.levels, ram_pages, st.free_pages + pcp.pages,
           st.free_pages, pcp.pages, pcp.lists_dropped);
    if (pcp_reason) {
        printf("\"%s\"", pcp_reason);     /* our own static strings */
    } else {
        printf("null");
    }
    printf(", \"free_blocks\": %" PRIu64 ", \"rejected_blocks\": %" PRIu64
           ", \"free_by_order\": [", st.free_blocks, st.rejected_blocks);
    for (uint32_t o = 0; o <= info.max_order; o++) {
        printf("%s%" PRIu64, o ? ", " : "", st.blocks_by_order[o]);
    }
    printf("], \"free_uniform_pages\": %" PRIu64 ", \"free_other_pages\": %" PRIu64
           ", \"inuse_zero_pages\": %" PRIu64 ", \"inuse_pattern_pages\": %" PRIu64
           ", \"inuse_other_pages\": %" PRIu64 ", \"limit_bytes\": %" PRIu64
           ", \"scan_ms\": %.3f}\n",
           free_uniform, free_other, used_zero, used_pattern, used_other,
           used_other * 4096, scan_ms);
    return 0;
}
