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

size_t memx_guest_cpu_roots(uint64_t *roots, size_t max)
{
    size_t n = 0;
#ifdef TARGET_X86_64
    CPUState *cs;

    CPU_FOREACH(cs) {
        CPUX86State *env = &X86_CPU(cs)->env;

        if (n == max) {
            break;
        }
        cpu_synchronize_state(cs);
        /* long mode with paging, not in SMM: the kernel's own tables */
        if ((env->cr[0] & CR0_PG_MASK) && (env->hflags & HF_LMA_MASK) &&
            !(env->hflags & HF_SMM_MASK)) {
            roots[n++] = env->cr[3];
        }
    }
#endif
    return n;
}
