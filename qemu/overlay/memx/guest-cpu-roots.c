/*
 * qemu-memx: the top-level page tables a guest's vCPUs use right now, so
 * that the introspection can tell whether the VMCOREINFO note it reads
 * describes the kernel that is running (memx/guest-scan.c).  The only
 * target-specific part of the introspection.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/core/cpu.h"
#include "system/hw_accel.h"
#include "system/memx-guest-scan.h"
#ifdef TARGET_X86_64
#include "cpu.h"
#endif

static gint memx_root_cmp(gconstpointer a, gconstpointer b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

GArray *memx_guest_cpu_roots(void)
{
    GArray *roots = g_array_new(false, false, sizeof(uint64_t));
#ifdef TARGET_X86_64
    CPUState *cs;
    guint kept = 0;

    CPU_FOREACH(cs) {
        CPUX86State *env = &X86_CPU(cs)->env;

        cpu_synchronize_state(cs);
        /* long mode with paging, not in SMM: the kernel's own tables */
        if ((env->cr[0] & CR0_PG_MASK) && (env->hflags & HF_LMA_MASK) &&
            !(env->hflags & HF_SMM_MASK)) {
            g_array_append_val(roots, env->cr[3]);
        }
    }
    /* vCPUs running one process share its tables: check each once */
    g_array_sort(roots, memx_root_cmp);
    for (guint i = 0; i < roots->len; i++) {
        if (!kept || g_array_index(roots, uint64_t, i) !=
                     g_array_index(roots, uint64_t, kept - 1)) {
            g_array_index(roots, uint64_t, kept++) =
                g_array_index(roots, uint64_t, i);
        }
    }
    g_array_set_size(roots, kept);
#endif
    return roots;
}
