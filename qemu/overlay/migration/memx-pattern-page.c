/*
 * qemu-memx pattern pages in the migration stream.
 *
 * Upstream sends an all-zero page as a page header plus one byte.  Guests
 * hold many other uniform pages: free pages poisoned with 0xaa, buffers
 * filled with 0xff, arrays initialised to one word.  With the capability
 * __org.qemu-memx_pattern-pages, a page that is one 8-byte value repeated
 * (which covers 1-, 2- and 4-byte patterns) is sent as that value:
 *
 *   precopy/postcopy stream: page header with RAM_SAVE_FLAG_MEMX_PATTERN,
 *                            then the 8 bytes as they sit in the page
 *   multifd packet:          'memx_pattern_pages' count in the packet
 *                            header; offsets follow the normal pages'
 *                            (normal | pattern | zero), and the 8-byte
 *                            values follow all offsets
 *
 * The value bytes are copied, not byte-swapped: the destination repeats
 * them, which reproduces the page exactly on any host.  The capability is
 * validated at stream start (savevm.c configuration section), so a
 * destination without it fails early; with it off, the stream and the
 * multifd packet size are exactly upstream's.
 *
 * Classification is memdedup/classify/page-classify.c, shared with the
 * tmem pool and the dedup scanner; the multifd sender's normal | pattern
 * split is migration-ext/pattern-pages.c.  Both are unit-tested on their
 * own.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "exec/ramblock.h"
#include "exec/target_page.h"
#include "memdedup/classify/page-classify.h"
#include "migration-ext/pattern-pages.h"
#include "migration.h"
#include "migration-stats.h"
#include "options.h"
#include "memx-pattern-page.h"
#include "memx/trace.h"

bool memx_pattern_pages_caps_check(bool *old_caps, bool *new_caps,
                                   Error **errp)
{
    const int cap = MIGRATION_CAPABILITY___ORG_QEMU_MEMX_PATTERN_PAGES;

    if (!new_caps[cap]) {
        return true;
    }
    if (new_caps[MIGRATION_CAPABILITY_MAPPED_RAM]) {
        error_setg(errp, "Pattern pages are incompatible with mapped-ram: "
                   "a mapped-ram file has no place for a page's pattern");
        return false;
    }
    return true;
}

/* What the incoming stream's configuration section said; main thread. */
static bool memx_pattern_incoming;

bool memx_pattern_pages_check_incoming(bool source_sends)
{
    bool local = migrate_memx_pattern_pages();

    memx_pattern_incoming = source_sends;
    /*
     * Precopy, postcopy and file streams mark each pattern page with its
     * own flag, so a qemu-memx destination decodes them whether or not
     * its capability is set (as it decodes zero pages).  Multifd packets
     * are sized by the capability before the stream starts, so with
     * multifd both sides must agree.
     */
    if (migrate_multifd() && source_sends != local) {
        error_report("Capability __org.qemu-memx_pattern-pages is %s, but "
                     "the source has it %s: with multifd it sizes packets "
                     "and must match before incoming starts (set it with "
                     "migrate-set-capabilities, or -global "
                     "migration.x-memx-pattern-pages=on)",
                     local ? "on" : "off", source_sends ? "on" : "off");
        return false;
    }
    return true;
}

bool memx_pattern_pages_accepted(void)
{
    return migrate_memx_pattern_pages() || memx_pattern_incoming;
}

bool memx_pattern_page_detect(const void *page, uint8_t *value)
{
    uint64_t pattern;

    if (!migrate_memx_pattern_pages() ||
        page_classify(page, qemu_target_page_size(), &pattern) !=
        PAGE_CLASS_PATTERN) {
        return false;
    }
    memcpy(value, &pattern, MEMX_PATTERN_VALUE_SIZE);
    return true;
}

void memx_pattern_page_sent(void)
{
    stat64_add(&mig_stats.memx_pattern_pages, 1);
}

void memx_pattern_page_fill(void *page, const uint8_t *value)
{
    uint64_t pattern;

    memcpy(&pattern, value, sizeof(pattern));
    trace_memx_pattern_page_fill(page, pattern);
    page_fill_pattern(page, qemu_target_page_size(), pattern);
}

uint32_t memx_multifd_packet_extra_len(void)
{
    return migrate_memx_pattern_pages() ?
           sizeof(uint64_t) * multifd_ram_page_count() : 0;
}

/* pattern_pages_partition() takes the offsets as uintptr_t */
QEMU_BUILD_BUG_ON(sizeof(ram_addr_t) != sizeof(uintptr_t));

void memx_multifd_send_pattern_detect(MultiFDPages_t *pages)
{
    uint32_t normal;

    pages->memx_pattern_num = 0;
    if (!migrate_memx_pattern_pages()) {
        return;
    }
    normal = pattern_pages_partition(pages->block->host, pages->offset,
                                     pages->normal_num,
                                     multifd_ram_page_size(),
                                     pages->memx_pattern_value);
    pages->memx_pattern_num = pages->normal_num - normal;
    pages->normal_num = normal;
    stat64_add(&mig_stats.memx_pattern_pages, pages->memx_pattern_num);
    trace_memx_pattern_multifd_send(pages->block->idstr,
                                    pages->memx_pattern_num, normal);
}

void memx_multifd_fill_pattern_values(MultiFDPacket_t *packet,
                                      const MultiFDPages_t *pages)
{
    packet->memx_pattern_pages = cpu_to_be32(pages->memx_pattern_num);
    /* raw page bytes, not byte-swapped: see the comment at the top */
    memcpy(&packet->offset[pages->num], pages->memx_pattern_value,
           pages->memx_pattern_num * sizeof(uint64_t));
}

int memx_multifd_unfill_pattern_count(MultiFDRecvParams *p,
                                      const MultiFDPacket_t *packet,
                                      uint32_t pages_per_packet,
                                      Error **errp)
{
    p->memx_pattern_num = be32_to_cpu(packet->memx_pattern_pages);
    if (p->memx_pattern_num && !migrate_memx_pattern_pages()) {
        error_setg(errp, "multifd: received pattern pages, but capability "
                   "__org.qemu-memx_pattern-pages is off");
        return -1;
    }
    if (p->memx_pattern_num > pages_per_packet - p->normal_num) {
        error_setg(errp, "multifd: received packet with %u pattern pages, "
                   "expected maximum %u", p->memx_pattern_num,
                   pages_per_packet - p->normal_num);
        return -1;
    }
    return 0;
}

int memx_multifd_unfill_pattern_pages(MultiFDRecvParams *p,
                                      const MultiFDPacket_t *packet,
                                      Error **errp)
{
    uint32_t page_size = multifd_ram_page_size();
    /* values follow every offset: normal, pattern and zero */
    uint32_t values = p->normal_num + p->memx_pattern_num + p->zero_num;

    for (uint32_t i = 0; i < p->memx_pattern_num; i++) {
        uint64_t offset = be64_to_cpu(packet->offset[p->normal_num + i]);

        if (offset > p->block->used_length - page_size) {
            error_setg(errp, "multifd: pattern page offset too long %" PRIu64
                       " (max " RAM_ADDR_FMT ")", offset,
                       p->block->used_length);
            return -1;
        }
        p->memx_pattern[i] = offset;
        memcpy(&p->memx_pattern_value[i], &packet->offset[values + i],
               sizeof(uint64_t));
    }
    return 0;
}

void memx_multifd_recv_pattern_process(MultiFDRecvParams *p)
{
    uint32_t page_size = multifd_ram_page_size();

    for (uint32_t i = 0; i < p->memx_pattern_num; i++) {
        page_fill_pattern(p->host + p->memx_pattern[i], page_size,
                          p->memx_pattern_value[i]);
        ramblock_recv_bitmap_set_offset(p->block, p->memx_pattern[i]);
    }
    if (p->memx_pattern_num) {
        trace_memx_pattern_multifd_recv(p->block->idstr,
                                        p->memx_pattern_num);
    }
}
