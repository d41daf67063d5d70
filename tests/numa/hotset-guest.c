/*
 * hotset: a tiny freestanding x86 test guest for NUMA page moves.
 *
 * QEMU boots it with "-kernel hotset.elf" through the PVH entry point.
 * It fills a data region of guest RAM with checksummable content, then
 * keeps rewriting only its top part (the hot set) forever, so a test can
 * tell hot pages from cold ones and check that no page was lost, moved to
 * a wrong address or left stale.
 *
 * It also serves as a guest with a known working set (tests/e2e/
 * working_set.py): it touches exactly its hot set, every page of it in
 * every sweep, writing it (the default) or only reading it, and the hot
 * set's size can change at run time.
 *
 * Command line (-append): mem=<MiB> (required: the guest's RAM size),
 * hot=<MiB> (default mem/10, 1..1024), data_start=<MiB> (default 4).
 * Data region: [data_start, min(mem, 3072)) MiB, ending at the last whole
 * MiB of usable RAM if the firmware reserved up to 1 MiB at its top; the
 * hot set is its top hot MiB, the rest is cold and only touched by the
 * initial fill and by 'v'.
 *
 * Serial protocol (COM1, polled, lines end with "\n"):
 *   HOTSET-READY ram_mib=<n> hot_start=0x<hex> hot_pages=<n>
 *                cold_start=0x<hex> cold_pages=<n>   (one line)
 *   HOTSET-TICK sweeps=<n> bad=<n>       every 16 sweeps of the hot set
 *   HOTSET-BAD addr=0x<hex> gen=<n>      a bad page (first 16 only)
 *   HOTSET-ERR <text>                    bad setup; the guest halts
 *   HOTSET-MEMMAP addr= size= type=      memory map, before a memmap ERR
 * Input characters, read between sweeps:
 *   'v'  verify all data pages: HOTSET-VERIFY status=ok|fail pages=<n>
 *        bad=<n> sweeps=<n> (bad: this pass; fail if any bad ever)
 *   'l'  print the HOTSET-READY line again
 *   's'  HOTSET-STATUS sweeps=<n> bad=<n>
 *   'r'  read phase: sweeps check every word of the hot set and write
 *        nothing; HOTSET-PHASE read
 *   'w'  write phase (the default): sweeps check and rewrite the hot set;
 *        HOTSET-PHASE write
 *   'h<MiB>\n'  make the hot set the top <MiB> of the data region (1 to
 *        1024 and at most the region); pages leaving it are rewritten as
 *        cold, pages joining it as hot; HOTSET-READY follows, or
 *        HOTSET-REFUSED <why> (the guest goes on)
 * bad= in TICK/STATUS counts every failed page check since boot.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 qemu-memx developers
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIB                 (1024u * 1024u)
#define PAGE_SHIFT          12
#define PAGE_SIZE           (1u << PAGE_SHIFT)
#define PAGE_WORDS          (PAGE_SIZE / sizeof(uint32_t))
#define PAGES_PER_MIB       (MIB / PAGE_SIZE)

#define DATA_LIMIT_MIB      3072u   /* stay below the PCI hole */
#define HOT_MAX_MIB         1024u
#define DATA_START_DEFAULT  4u
#define NUMBER_MAX          (1u << 20)  /* 1 TiB in MiB: sanity bound */
#define FIRMWARE_TAIL_MAX   (1u * MIB)  /* reserved RAM top we tolerate */

#define FULL_CHECK_INTERVAL 64u     /* every 64th sweep checks whole pages */
#define TICK_INTERVAL       16u
#define MAX_BAD_REPORTS     16u

#define HVM_START_MAGIC     0x336ec578u
#define E820_TYPE_RAM       1u

#define COM1                0x3f8
#define UART_DATA           0
#define UART_IER            1
#define UART_FCR            2
#define UART_LCR            3
#define UART_MCR            4
#define UART_LSR            5
#define UART_LSR_DATA_READY 0x01
#define UART_LSR_THR_EMPTY  0x20

/* Layout of the PVH start info, see Xen's arch-x86/hvm/start_info.h. */
struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;      /* version >= 1 */
    uint32_t memmap_entries;    /* version >= 1 */
    uint32_t reserved;
} __attribute__((packed));

struct hvm_memmap_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
} __attribute__((packed));

/*
 * PVH entry: the ELF note tells QEMU where to jump.  We arrive in 32-bit
 * protected mode with flat segments, paging off and %ebx pointing at the
 * hvm_start_info.  Clear .bss (it holds the stack), then call C.
 */
asm(
    ".pushsection .note.Xen, \"a\", @note\n"
    "    .balign 4\n"
    "    .long 4\n"                     /* name size: "Xen\0" */
    "    .long 4\n"                     /* descriptor size */
    "    .long 18\n"                    /* XEN_ELFNOTE_PHYS32_ENTRY */
    "    .asciz \"Xen\"\n"
    "    .balign 4\n"
    "    .long hotset_entry\n"
    ".popsection\n"
    ".pushsection .text.entry, \"ax\", @progbits\n"
    ".globl hotset_entry\n"
    "hotset_entry:\n"
    "    cli\n"
    "    cld\n"
    "    movl %ebx, %esi\n"
    "    movl $__bss_start, %edi\n"
    "    movl $__bss_end, %ecx\n"
    "    subl %edi, %ecx\n"
    "    xorl %eax, %eax\n"
    "    rep stosb\n"
    "    movl $hotset_stack_top, %esp\n"
    "    pushl %esi\n"
    "    call hotset_main\n"
    "1:  cli\n"
    "    hlt\n"
    "    jmp 1b\n"
    ".popsection\n");

extern char __image_end[];

/* The stack: 8 KiB in .bss, plenty for this program. */
asm(".pushsection .bss.stack, \"aw\", @nobits\n"
    "    .balign 16\n"
    "    .skip 8192\n"
    "hotset_stack_top:\n"
    ".popsection\n");

/* Everything the main loop needs, filled in by parse_and_check(). */
struct hotset_layout {
    uint32_t ram_mib;
    uint32_t hot_mib;
    uint32_t data_start_mib;
    uint32_t data_end_mib;
    uint32_t cold_first_pfn;
    uint32_t hot_first_pfn;
    uint32_t data_end_pfn;      /* exclusive */
};

static struct hotset_layout layout;
static uint32_t sweeps;         /* sweeps of the hot set since boot */
static uint32_t hot_gen;        /* hot pages hold generation == hot_gen */
static bool read_phase;         /* sweeps read the hot set, never write */
static uint32_t bad_total;      /* bad page checks since boot */
static uint32_t bad_reports;

/* ---- serial port ---------------------------------------------------- */

static inline void port_write8(uint16_t port, uint8_t value)
{
    asm volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint8_t port_read8(uint16_t port)
{
    uint8_t value;

    asm volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

static void serial_init(void)
{
    port_write8(COM1 + UART_IER, 0x00);     /* no interrupts */
    port_write8(COM1 + UART_LCR, 0x80);     /* divisor latch access */
    port_write8(COM1 + UART_DATA, 0x01);    /* 115200 baud */
    port_write8(COM1 + UART_IER, 0x00);
    port_write8(COM1 + UART_LCR, 0x03);     /* 8N1 */
    port_write8(COM1 + UART_FCR, 0xc7);     /* FIFOs on and cleared */
    port_write8(COM1 + UART_MCR, 0x03);     /* DTR, RTS */
}

static void put_char(char c)
{
    while (!(port_read8(COM1 + UART_LSR) & UART_LSR_THR_EMPTY)) {
        /* wait */
    }
    port_write8(COM1 + UART_DATA, (uint8_t)c);
}

static void put_str(const char *s)
{
    while (*s) {
        put_char(*s++);
    }
}

static void put_dec(uint32_t value)
{
    char digits[10];
    int count = 0;

    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (count) {
        put_char(digits[--count]);
    }
}

static void put_hex(uint64_t value)
{
    int shift = 60;

    put_str("0x");
    while (shift > 0 && !((value >> shift) & 0xf)) {
        shift -= 4;
    }
    for (; shift >= 0; shift -= 4) {
        put_char("0123456789abcdef"[(value >> shift) & 0xf]);
    }
}

static bool serial_poll(char *c)
{
    if (!(port_read8(COM1 + UART_LSR) & UART_LSR_DATA_READY)) {
        return false;
    }
    *c = (char)port_read8(COM1 + UART_DATA);
    return true;
}

static void __attribute__((noreturn)) halt_forever(void)
{
    for (;;) {
        asm volatile("cli; hlt");
    }
}

static void __attribute__((noreturn)) fail(const char *what)
{
    put_str("HOTSET-ERR ");
    put_str(what);
    put_char('\n');
    halt_forever();
}

/* ---- page content --------------------------------------------------- */

/*
 * Word i of page pfn at generation gen is
 *     x = page_seed(pfn, gen) + i * WORD_STEP;  word = x ^ (x >> 13)
 * The seed mixes pfn and gen well, so a page copied to another address or
 * left at an older generation fails; the per-word step keeps the page from
 * being a single repeated value.
 */
#define WORD_STEP 0x9e3779b9u

static uint32_t page_seed(uint32_t pfn, uint32_t gen)
{
    uint32_t x = pfn * 0x85ebca77u ^ gen * 0xc2b2ae3du ^ 0x27d4eb2fu;

    x ^= x >> 15;
    x *= 0x2c1b3c6du;
    x ^= x >> 12;
    x *= 0x297a2d39u;
    x ^= x >> 15;
    return x;
}

static inline uint32_t word_value(uint32_t seed, uint32_t index)
{
    uint32_t x = seed + index * WORD_STEP;

    return x ^ (x >> 13);
}

static inline uint32_t *page_address(uint32_t pfn)
{
    return (uint32_t *)(uintptr_t)(pfn << PAGE_SHIFT);
}

static void fill_page(uint32_t pfn, uint32_t gen)
{
    uint32_t *word = page_address(pfn);
    uint32_t x = page_seed(pfn, gen);
    uint32_t i;

    for (i = 0; i < PAGE_WORDS; i++) {
        word[i] = x ^ (x >> 13);
        x += WORD_STEP;
    }
}

static bool page_ok_full(uint32_t pfn, uint32_t gen)
{
    const uint32_t *word = page_address(pfn);
    uint32_t x = page_seed(pfn, gen);
    uint32_t mismatch = 0;
    uint32_t i;

    for (i = 0; i < PAGE_WORDS; i++) {
        mismatch |= word[i] ^ x ^ (x >> 13);
        x += WORD_STEP;
    }
    return mismatch == 0;
}

static bool page_ok_quick(uint32_t pfn, uint32_t gen)
{
    const uint32_t *word = page_address(pfn);
    uint32_t seed = page_seed(pfn, gen);

    return word[0] == word_value(seed, 0) &&
           word[PAGE_WORDS / 2] == word_value(seed, PAGE_WORDS / 2) &&
           word[PAGE_WORDS - 1] == word_value(seed, PAGE_WORDS - 1);
}

static void note_bad_page(uint32_t pfn, uint32_t gen)
{
    bad_total++;
    if (bad_reports < MAX_BAD_REPORTS) {
        bad_reports++;
        put_str("HOTSET-BAD addr=");
        put_hex((uint64_t)pfn << PAGE_SHIFT);
        put_str(" gen=");
        put_dec(gen);
        put_char('\n');
    }
}

/* ---- command line and memory map ------------------------------------ */

static bool token_is(const char *token, const char *key, const char **value)
{
    while (*key) {
        if (*token++ != *key++) {
            return false;
        }
    }
    *value = token;
    return true;
}

/* Parse a decimal number ending at a space or NUL; false if malformed. */
static bool parse_number(const char *text, uint32_t *out)
{
    uint32_t value = 0;

    if (*text < '0' || *text > '9') {
        return false;
    }
    while (*text >= '0' && *text <= '9') {
        value = value * 10 + (uint32_t)(*text++ - '0');
        if (value > NUMBER_MAX) {
            return false;
        }
    }
    if (*text != '\0' && *text != ' ') {
        return false;
    }
    *out = value;
    return true;
}

static void parse_option(const char *token, const char *key,
                         uint32_t *value, bool *seen)
{
    const char *text;

    if (!token_is(token, key, &text)) {
        return;
    }
    if (!parse_number(text, value)) {
        put_str("HOTSET-ERR bad value for ");
        put_str(key);
        put_str(" (want a decimal number of MiB)\n");
        halt_forever();
    }
    *seen = true;
}

static void print_memmap(const struct hvm_start_info *info)
{
    const struct hvm_memmap_entry *map =
        (const struct hvm_memmap_entry *)(uintptr_t)info->memmap_paddr;
    uint32_t i;

    for (i = 0; i < info->memmap_entries; i++) {
        put_str("HOTSET-MEMMAP addr=");
        put_hex(map[i].addr);
        put_str(" size=");
        put_hex(map[i].size);
        put_str(" type=");
        put_dec(map[i].type);
        put_char('\n');
    }
}

/*
 * Follow the PVH memory map from start through adjacent or overlapping
 * usable RAM entries; return the first address that is not usable RAM
 * (or end, if everything up to end is).
 */
static uint64_t usable_ram_end(const struct hvm_start_info *info,
                               uint64_t start, uint64_t end)
{
    const struct hvm_memmap_entry *map =
        (const struct hvm_memmap_entry *)(uintptr_t)info->memmap_paddr;
    uint64_t cursor = start;
    bool advanced = true;
    uint32_t i;

    while (cursor < end && advanced) {
        advanced = false;
        for (i = 0; i < info->memmap_entries; i++) {
            uint64_t entry_end = map[i].addr + map[i].size;

            if (map[i].type == E820_TYPE_RAM && map[i].addr <= cursor &&
                cursor < entry_end) {
                cursor = entry_end;
                advanced = true;
            }
        }
    }
    return cursor < end ? cursor : end;
}

/*
 * Clip the data region's end to usable RAM.  The firmware (SeaBIOS runs
 * the PVH option ROM) reserves a little RAM at the very top for its
 * tables, so allow a reserved tail of at most FIRMWARE_TAIL_MAX and end
 * the region at the last whole MiB below it; anything more means mem= is
 * larger than the guest's RAM (or crosses a hole), and we refuse.
 */
static void check_memmap(const struct hvm_start_info *info,
                         uint32_t data_start_mib)
{
    uint64_t start = (uint64_t)data_start_mib * MIB;
    uint64_t end = (uint64_t)layout.data_end_mib * MIB;
    uint64_t usable_end;

    if (info->version < 1 || info->memmap_entries == 0 || start >= end) {
        return;     /* nothing to check against, or caught by the caller */
    }
    usable_end = usable_ram_end(info, start, end);
    if (end - usable_end > FIRMWARE_TAIL_MAX) {
        print_memmap(info);
        put_str("HOTSET-ERR memmap: address ");
        put_hex(usable_end);
        put_str(" of the data region [");
        put_hex(start);
        put_str(", ");
        put_hex(end);
        put_str(") is not usable RAM (mem= larger than -m?)\n");
        halt_forever();
    }
    layout.data_end_mib = (uint32_t)(usable_end / MIB);
}

static void parse_and_check(const struct hvm_start_info *info)
{
    const char *cmdline = "";
    bool have_mem = false, have_hot = false, have_start = false;
    uint32_t mem = 0, hot = 0, data_start = DATA_START_DEFAULT;
    uint32_t image_end_mib, data_mib;
    const char *p;

    if (info->magic != HVM_START_MAGIC) {
        fail("bad hvm_start_info magic (not booted through PVH?)");
    }
    if (info->cmdline_paddr) {
        cmdline = (const char *)(uintptr_t)info->cmdline_paddr;
    }

    for (p = cmdline; *p; ) {
        while (*p == ' ') {
            p++;
        }
        parse_option(p, "mem=", &mem, &have_mem);
        parse_option(p, "hot=", &hot, &have_hot);
        parse_option(p, "data_start=", &data_start, &have_start);
        while (*p && *p != ' ') {
            p++;
        }
    }

    if (!have_mem) {
        fail("mem=<MiB> missing from the kernel command line");
    }
    layout.ram_mib = mem;
    layout.data_end_mib = mem < DATA_LIMIT_MIB ? mem : DATA_LIMIT_MIB;

    image_end_mib = ((uint32_t)(uintptr_t)__image_end + MIB - 1) / MIB;
    if (data_start < image_end_mib) {
        put_str("HOTSET-ERR data_start must be >= ");
        put_dec(image_end_mib);
        put_str(" (end of the guest image)\n");
        halt_forever();
    }
    check_memmap(info, data_start);
    if (data_start >= layout.data_end_mib) {
        fail("data region is empty (data_start must be below mem, 3072 "
             "and the end of usable RAM)");
    }
    data_mib = layout.data_end_mib - data_start;

    if (!have_hot) {
        hot = mem / 10;
        hot = hot < 1 ? 1 : hot;
        hot = hot > HOT_MAX_MIB ? HOT_MAX_MIB : hot;
        hot = hot > data_mib ? data_mib : hot;
    }
    if (hot < 1 || hot > HOT_MAX_MIB) {
        fail("hot must be between 1 and 1024 MiB");
    }
    if (hot > data_mib) {
        fail("hot is larger than the data region [data_start, mem)");
    }

    layout.hot_mib = hot;
    layout.data_start_mib = data_start;
    layout.cold_first_pfn = data_start * PAGES_PER_MIB;
    layout.hot_first_pfn = (layout.data_end_mib - hot) * PAGES_PER_MIB;
    layout.data_end_pfn = layout.data_end_mib * PAGES_PER_MIB;
}

/* ---- the test itself ------------------------------------------------ */

static void print_layout(void)
{
    put_str("HOTSET-READY ram_mib=");
    put_dec(layout.ram_mib);
    put_str(" hot_start=");
    put_hex((uint64_t)layout.hot_first_pfn << PAGE_SHIFT);
    put_str(" hot_pages=");
    put_dec(layout.data_end_pfn - layout.hot_first_pfn);
    put_str(" cold_start=");
    put_hex((uint64_t)layout.cold_first_pfn << PAGE_SHIFT);
    put_str(" cold_pages=");
    put_dec(layout.hot_first_pfn - layout.cold_first_pfn);
    put_char('\n');
}

static void print_counters(const char *prefix)
{
    put_str(prefix);
    put_str(" sweeps=");
    put_dec(sweeps);
    put_str(" bad=");
    put_dec(bad_total);
    put_char('\n');
}

static void sweep_hot_set(void)
{
    uint32_t gen = hot_gen;
    bool full = read_phase || (sweeps + 1) % FULL_CHECK_INTERVAL == 0;
    uint32_t pfn;

    for (pfn = layout.hot_first_pfn; pfn < layout.data_end_pfn; pfn++) {
        bool ok = full ? page_ok_full(pfn, gen) : page_ok_quick(pfn, gen);

        if (!ok) {
            note_bad_page(pfn, gen);
        }
        if (!read_phase) {
            fill_page(pfn, gen + 1);
        }
    }
    if (!read_phase) {
        hot_gen++;
    }
    sweeps++;
}

/* Move the hot set's start: pages leaving it go cold, joining it hot. */
static void resize_hot_set(uint32_t hot_mib)
{
    uint32_t first, pfn;

    if (hot_mib < 1 || hot_mib > HOT_MAX_MIB ||
        hot_mib > layout.data_end_mib - layout.data_start_mib) {
        put_str("HOTSET-REFUSED hot must be 1 to 1024 MiB and fit the "
                "data region\n");
        return;
    }
    first = (layout.data_end_mib - hot_mib) * PAGES_PER_MIB;
    for (pfn = layout.hot_first_pfn; pfn < first; pfn++) {
        fill_page(pfn, 0);
    }
    for (pfn = first; pfn < layout.hot_first_pfn; pfn++) {
        fill_page(pfn, hot_gen);
    }
    layout.hot_mib = hot_mib;
    layout.hot_first_pfn = first;
    print_layout();
}

static void verify_everything(void)
{
    uint32_t bad_now = 0;
    uint32_t pfn;

    for (pfn = layout.cold_first_pfn; pfn < layout.data_end_pfn; pfn++) {
        uint32_t gen = pfn < layout.hot_first_pfn ? 0 : hot_gen;

        if (!page_ok_full(pfn, gen)) {
            note_bad_page(pfn, gen);
            bad_now++;
        }
    }
    put_str("HOTSET-VERIFY status=");
    put_str(bad_total ? "fail" : "ok");
    put_str(" pages=");
    put_dec(layout.data_end_pfn - layout.cold_first_pfn);
    put_str(" bad=");
    put_dec(bad_now);
    put_str(" sweeps=");
    put_dec(sweeps);
    put_char('\n');
}

/* Digits of an 'h' command, up to its newline. */
static char number_text[12];
static uint32_t number_len;
static bool reading_number;

static void handle_number_char(char c)
{
    uint32_t value;

    if (c != '\n' && number_len < sizeof(number_text) - 1) {
        number_text[number_len++] = c;
        return;
    }
    number_text[number_len] = '\0';
    reading_number = false;
    if (c != '\n' || !parse_number(number_text, &value)) {
        put_str("HOTSET-REFUSED bad hot size\n");
        return;
    }
    resize_hot_set(value);
}

static void handle_command(char command)
{
    if (reading_number) {
        handle_number_char(command);
        return;
    }
    switch (command) {
    case 'h':
        reading_number = true;
        number_len = 0;
        break;
    case 'r':
        read_phase = true;
        put_str("HOTSET-PHASE read\n");
        break;
    case 'w':
        read_phase = false;
        put_str("HOTSET-PHASE write\n");
        break;
    case 'v':
        verify_everything();
        break;
    case 'l':
        print_layout();
        break;
    case 's':
        print_counters("HOTSET-STATUS");
        break;
    default:
        break;
    }
}

void __attribute__((noreturn, used))
hotset_main(const struct hvm_start_info *info);

void hotset_main(const struct hvm_start_info *info)
{
    uint32_t pfn;
    char command;

    serial_init();
    parse_and_check(info);

    for (pfn = layout.cold_first_pfn; pfn < layout.data_end_pfn; pfn++) {
        fill_page(pfn, 0);
    }
    print_layout();

    for (;;) {
        sweep_hot_set();
        if (sweeps % TICK_INTERVAL == 0) {
            print_counters("HOTSET-TICK");
        }
        while (serial_poll(&command)) {
            handle_command(command);
        }
    }
}
