/*
 * memx-kexec: replace the running test-guest kernel with another, the way
 * kexec-tools does it, for the tests that check the introspection notices
 * (a stale VMCOREINFO note left from the first kernel; tests/e2e/run.py
 * kexec).  Static, for the busybox initramfs.
 *
 *   memx-kexec KERNEL INITRD "COMMAND LINE"
 *
 * Loads KERNEL (a bzImage) and INITRD with kexec_file_load(2) and reboots
 * into them; prints MEMX-ERR and exits non-zero if either step fails.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/reboot.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int kernel, initrd;

    if (argc != 4) {
        fprintf(stderr, "usage: %s KERNEL INITRD CMDLINE\n", argv[0]);
        return 2;
    }
    kernel = open(argv[1], O_RDONLY);
    initrd = open(argv[2], O_RDONLY);
    if (kernel < 0 || initrd < 0) {
        printf("MEMX-ERR kexec cannot open %s or %s\n", argv[1], argv[2]);
        return 1;
    }
    if (syscall(SYS_kexec_file_load, kernel, initrd,
                (unsigned long)strlen(argv[3]) + 1, argv[3], 0UL)) {
        printf("MEMX-ERR kexec load: %m\n");
        return 1;
    }
    fflush(stdout);
    sync();
    reboot(LINUX_REBOOT_CMD_KEXEC);
    printf("MEMX-ERR kexec reboot: %m\n");
    return 1;
}
