/*
 * qemu-memx pattern pages: a RAM page holding one repeated 8-byte value
 * (which covers 1-, 2- and 4-byte patterns) travels as that value.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QEMU_MIGRATION_MEMX_PATTERN_PAGE_H
#define QEMU_MIGRATION_MEMX_PATTERN_PAGE_H

#include "multifd.h"

/* Bytes a pattern page costs on the wire besides its page header. */
#define MEMX_PATTERN_VALUE_SIZE 8

bool memx_pattern_pages_caps_check(bool *old_caps, bool *new_caps,
                                   Error **errp);

/*
 * Incoming side, from the stream's configuration section: whether the
 * source sends pattern pages.  Returns false, with the reason reported,
 * when this destination cannot decode what the source sends.
 */
bool memx_pattern_pages_check_incoming(bool source_sends);

/* Incoming side: whether a pattern page in the stream may be decoded. */
bool memx_pattern_pages_accepted(void);

/*
 * If the capability is on and @page (the target page size) is one
 * non-zero 8-byte value repeated, store that value's bytes in @value and
 * return true.  All-zero pages are left to zero-page handling.
 */
bool memx_pattern_page_detect(const void *page, uint8_t *value);

/* Count one page sent as a pattern. */
void memx_pattern_page_sent(void);

/* Fill a target page at @page with the 8 bytes at @value repeated. */
void memx_pattern_page_fill(void *page, const uint8_t *value);

/* Extra bytes each multifd packet carries for pattern values. */
uint32_t memx_multifd_packet_extra_len(void);

/* Multifd send side: move pattern pages after the normal ones. */
void memx_multifd_send_pattern_detect(MultiFDPages_t *pages);
/* Multifd send side: write the pattern values after the offsets. */
void memx_multifd_fill_pattern_values(MultiFDPacket_t *packet,
                                      const MultiFDPages_t *pages);

/* Multifd receive side: validate and read the pattern page count. */
int memx_multifd_unfill_pattern_count(MultiFDRecvParams *p,
                                      const MultiFDPacket_t *packet,
                                      uint32_t pages_per_packet,
                                      Error **errp);
/* Multifd receive side: read pattern offsets and values, bounds-checked. */
int memx_multifd_unfill_pattern_pages(MultiFDRecvParams *p,
                                      const MultiFDPacket_t *packet,
                                      Error **errp);
/* Multifd receive side: fill the pattern pages. */
void memx_multifd_recv_pattern_process(MultiFDRecvParams *p);

#endif
