/*
 * Guest free-page content: whether the guest kernel zeroes the pages it
 * frees (init_on_free) or fills them with a poison value it checks on
 * allocation (page_poison), read from the kernel's own static keys.
 *
 * Either setting makes a free page's content matter: an init_on_free
 * kernel hands out __GFP_ZERO pages without zeroing them again, and a
 * poisoning kernel reports corruption if the poison is gone.  So free
 * pages of uniform content are migrated unless the guest is known to do
 * neither.  Both are static keys (struct static_key_false or _true),
 * set once at boot from the command line (init_on_free=, page_poison=)
 * or the build's default, and never switched at run time; the keys'
 * addresses come from the guest's kallsyms and the offset of their
 * enabled count from its BTF (guest-pcp.h's view finds both).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef MEMDEDUP_INTROSPECT_GUEST_FREE_CONTENT_H
#define MEMDEDUP_INTROSPECT_GUEST_FREE_CONTENT_H

#include "memdedup/introspect/guest-pcp.h"

typedef struct GuestFreeContent {
    bool known;             /* both keys read */
    bool zeroes;            /* init_on_free is enabled */
    bool poisons;           /* page poisoning is enabled */
    const char *reason;     /* why not known, or NULL */
} GuestFreeContent;

/*
 * Read the two keys now through @view, at the addresses @pv found (its
 * kallsyms and BTF; @pv may be a view whose per-CPU layout was refused,
 * as long as it found the keys).  A key whose enabled count is not 0 or
 * 1 is taken as unknown: a static key in transition, or not a key.
 */
void guest_free_content_read(const GuestKernelView *view,
                             const GuestPcpView *pv, GuestFreeContent *out);

/* Whether free pages of uniform content must be kept for this guest. */
static inline bool guest_free_content_matters(const GuestFreeContent *c)
{
    return !c->known || c->zeroes || c->poisons;
}

#endif
