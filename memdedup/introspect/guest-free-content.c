/*
 * Guest free-page content: init_on_free and page poisoning, read from the
 * guest kernel's static keys (see guest-free-content.h).
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "memdedup/introspect/guest-free-content.h"

#include <glib.h>
#include <string.h>

/* The enabled count of the static key at kernel virtual @key. */
static bool read_key(const GuestKernelView *view, const GuestPcpView *pv,
                     uint64_t key, bool *on)
{
    uint64_t va = key + pv->layout.static_key_enabled, gpa;
    int32_t enabled;

    if (!guest_pgtable_translate(&view->pt, va, &gpa, NULL) ||
        (gpa & 4095) > 4096 - sizeof(enabled) ||
        !guest_read_bytes(view->pt.mem, gpa, &enabled, sizeof(enabled))) {
        return false;
    }
    enabled = GINT32_FROM_LE(enabled);
    if (enabled != 0 && enabled != 1) {
        return false;
    }
    *on = enabled;
    return true;
}

void guest_free_content_read(const GuestKernelView *view,
                             const GuestPcpView *pv, GuestFreeContent *out)
{
    memset(out, 0, sizeof(*out));
    if (!pv || !pv->kallsyms_symbols) {
        /* the keys are found through kallsyms: say why they cannot be */
        out->reason = pv && pv->kallsyms_reason ? pv->kallsyms_reason :
                      "the guest's kallsyms cannot be read, and with them "
                      "whether it zeroes or poisons free pages";
        return;
    }
    if (!pv->init_on_free_key || !pv->page_poisoning_key) {
        out->reason = "the guest's kallsyms lack init_on_free or "
                      "_page_poisoning_enabled";
        return;
    }
    if (!pv->layout.has_static_key) {
        out->reason = "the guest's BTF does not describe struct static_key";
        return;
    }
    if (!read_key(view, pv, pv->init_on_free_key, &out->zeroes) ||
        !read_key(view, pv, pv->page_poisoning_key, &out->poisons)) {
        out->reason = "the guest's init_on_free or _page_poisoning_enabled "
                      "key cannot be read, or is neither on nor off";
        out->zeroes = out->poisons = false;
        return;
    }
    out->known = true;
}
