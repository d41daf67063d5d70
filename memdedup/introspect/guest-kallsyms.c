/*
 * Guest kallsyms: copy the guest kernel's symbol table out of guest RAM,
 * check it, and look names up.  See guest-kallsyms.h for the format.
 *
 * Copyright (c) 2026 qemu-memx developers
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <string.h>

#include "memdedup/introspect/guest-kallsyms.h"

#define NAMES_CHUNK (64u << 10)

/* Copy @len bytes at kernel-image address @va out of guest RAM. */
static bool read_kernel(const VmcoreInfo *info, const GuestMemory *mem,
                        uint64_t va, void *buf, size_t len)
{
    if (va < 0xffffffff80000000ULL || len > UINT64_MAX - va) {
        return false;
    }
    return guest_read_bytes(mem, vmcoreinfo_kernel_pa(info, va), buf, len);
}

/* The names copied so far, grown as the decoder walks them. */
typedef struct NamesReader {
    const VmcoreInfo *info;
    const GuestMemory *mem;
    GByteArray *buf;
} NamesReader;

/* Make sure the first @need bytes of kallsyms_names are copied. */
static bool names_have(NamesReader *r, size_t need)
{
    while (r->buf->len < need) {
        size_t have = r->buf->len;
        size_t chunk = MIN(NAMES_CHUNK, GUEST_KALLSYMS_MAX_NAMES - have);

        if (need > GUEST_KALLSYMS_MAX_NAMES) {
            return false;
        }
        g_byte_array_set_size(r->buf, have + chunk);
        if (!read_kernel(r->info, r->mem, r->info->kallsyms_names + have,
                         r->buf->data + have, chunk)) {
            /* near the end of RAM: take exactly what is needed */
            chunk = need - have;
            g_byte_array_set_size(r->buf, have + chunk);
            if (!read_kernel(r->info, r->mem, r->info->kallsyms_names + have,
                             r->buf->data + have, chunk)) {
                g_byte_array_set_size(r->buf, have);
                return false;
            }
        }
    }
    return true;
}

/* The entry at @pos: its token count and where its tokens start. */
static bool entry_at(const uint8_t *names, size_t names_len, size_t pos,
                     size_t *ntokens, size_t *first)
{
    size_t len;

    if (pos >= names_len) {
        return false;
    }
    len = names[pos];
    *first = pos + 1;
    if (len & 0x80) {
        if (pos + 1 >= names_len) {
            return false;
        }
        len = (len & 0x7f) | ((size_t)names[pos + 1] << 7);
        *first = pos + 2;
    }
    *ntokens = len;
    return len > 0 && len <= GUEST_KALLSYMS_NAME_LEN &&
           *first + len <= names_len;
}

/* The length @ntokens tokens at @tok expand to. */
static size_t expanded_len(const GuestKallsyms *ks, const uint8_t *tok,
                           size_t ntokens)
{
    size_t n = 0;

    for (size_t i = 0; i < ntokens; i++) {
        n += ks->token_len[tok[i]];
    }
    return n;
}

/* Expand tokens into @out (@len bytes, NUL-terminated); false if too long. */
static bool expand(const GuestKallsyms *ks, const uint8_t *tok, size_t ntokens,
                   char *out, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < ntokens; i++) {
        size_t tl = ks->token_len[tok[i]];

        if (n + tl >= len) {
            return false;
        }
        memcpy(out + n, ks->tokens + ks->token_index[tok[i]], tl);
        n += tl;
    }
    out[n] = '\0';
    return n > 0;
}

/*
 * Symbol @i's entry: its tokens in *@tok, *@ntokens of them; returns the
 * length they expand to (the type letter included), 0 if the entry is
 * malformed or the name too long.
 */
static size_t entry_of(const GuestKallsyms *ks, uint32_t i, const uint8_t **tok,
                       size_t *ntokens)
{
    size_t first, n;

    if (!entry_at(ks->names, ks->names_len, ks->name_start[i], ntokens,
                  &first)) {
        return 0;
    }
    *tok = ks->names + first;
    n = expanded_len(ks, *tok, *ntokens);
    return n <= GUEST_KALLSYMS_NAME_LEN ? n : 0;
}

/* Addresses wrap modulo 2^64, as the kernel's do. */
static uint64_t address_of(const GuestKallsyms *ks, uint32_t i,
                           GuestKallsymsEncoding enc)
{
    int32_t off = ks->offsets[i];

    switch (enc) {
    case GUEST_KALLSYMS_BASE_RELATIVE:
        return ks->relative_base + (uint32_t)off;
    case GUEST_KALLSYMS_ABSOLUTE_PERCPU:
        return off >= 0 ? (uint64_t)off
                        : ks->relative_base - 1 - (uint64_t)(int64_t)off;
    case GUEST_KALLSYMS_PLACE_RELATIVE:
        return ks->offsets_addr + (uint64_t)i * 4 + (uint64_t)(int64_t)off;
    default:
        return 0;
    }
}

static bool load_tokens(GuestKallsyms *ks, const VmcoreInfo *info,
                        const GuestMemory *mem, const char **why)
{
    uint16_t raw[256];
    size_t top = 0;

    if (!read_kernel(info, mem, info->kallsyms_token_index, raw, sizeof(raw))) {
        *why = "kallsyms_token_index is not in guest RAM";
        return false;
    }
    for (int t = 0; t < 256; t++) {
        ks->token_index[t] = GUINT16_FROM_LE(raw[t]);
        top = MAX(top, ks->token_index[t]);
    }
    if (top >= GUEST_KALLSYMS_MAX_TOKENS) {
        *why = "kallsyms_token_index points past any real token table";
        return false;
    }
    /* the last token starts at @top and is at most a name long */
    ks->tokens_len = MIN(top + GUEST_KALLSYMS_NAME_LEN, GUEST_KALLSYMS_MAX_TOKENS);
    ks->tokens = g_malloc(ks->tokens_len + 1);
    while (!read_kernel(info, mem, info->kallsyms_token_table, ks->tokens,
                        ks->tokens_len)) {
        if (ks->tokens_len <= top + 1) {
            *why = "kallsyms_token_table is not in guest RAM";
            return false;
        }
        ks->tokens_len = top + 1 + (ks->tokens_len - top - 1) / 2;
    }
    ks->tokens[ks->tokens_len] = '\0';
    for (int t = 0; t < 256; t++) {
        const char *start = ks->tokens + ks->token_index[t];

        const char *end = memchr(start, '\0',
                                 ks->tokens_len - ks->token_index[t]);

        if (!end || end == start) {
            *why = "a kallsyms token is empty or not terminated";
            return false;
        }
        ks->token_len[t] = end - start;
    }
    return true;
}

static bool load_names(GuestKallsyms *ks, const VmcoreInfo *info,
                       const GuestMemory *mem, const char **why)
{
    NamesReader r = { info, mem, g_byte_array_new() };
    size_t pos = 0;

    ks->name_start = g_new(uint32_t, ks->num_syms);
    for (uint32_t i = 0; i < ks->num_syms; i++) {
        size_t ntokens, first;

        /* the header (two bytes at most), then the tokens */
        if (!names_have(&r, pos + 2) && !names_have(&r, pos + 1)) {
            goto bad;
        }
        if (!entry_at(r.buf->data, r.buf->len, pos, &ntokens, &first)) {
            /* the tokens may not be copied yet */
            size_t len = r.buf->data[pos];

            len = len & 0x80 ? (len & 0x7f) | ((size_t)r.buf->data[pos + 1] << 7)
                             : len;
            if (len > GUEST_KALLSYMS_NAME_LEN ||
                !names_have(&r, pos + 2 + len) ||
                !entry_at(r.buf->data, r.buf->len, pos, &ntokens, &first)) {
                goto bad;
            }
        }
        ks->name_start[i] = pos;
        pos = first + ntokens;
    }
    ks->names_len = pos;
    ks->names = g_byte_array_free(r.buf, false);
    return true;

bad:
    g_byte_array_free(r.buf, true);
    *why = "kallsyms_names is malformed or not in guest RAM";
    return false;
}

bool guest_kallsyms_load(GuestKallsyms *ks, const VmcoreInfo *info,
                         const GuestMemory *mem, const char **why)
{
    uint32_t num;
    uint64_t base = 0;
    bool found = false;
    uint32_t stext_idx = 0;
    char name[GUEST_KALLSYMS_NAME_LEN + 1];

    memset(ks, 0, sizeof(*ks));
    if (!info->has_kallsyms) {
        *why = vmcoreinfo_kallsyms_reason(info);
        return false;
    }
    if (!read_kernel(info, mem, info->kallsyms_num_syms, &num, sizeof(num))) {
        *why = "kallsyms_num_syms is not in guest RAM";
        return false;
    }
    if (info->has_kallsyms_relative_base &&
        !read_kernel(info, mem, info->kallsyms_relative_base, &base,
                     sizeof(base))) {
        *why = "kallsyms_relative_base is not in guest RAM";
        return false;
    }
    ks->num_syms = GUINT32_FROM_LE(num);
    ks->relative_base = GUINT64_FROM_LE(base);
    ks->offsets_addr = info->kallsyms_offsets;
    if (ks->num_syms == 0 || ks->num_syms > GUEST_KALLSYMS_MAX_SYMS) {
        *why = "kallsyms_num_syms is out of range";
        goto fail;
    }
    ks->offsets = g_new(int32_t, ks->num_syms);
    if (!read_kernel(info, mem, info->kallsyms_offsets, ks->offsets,
                     (size_t)ks->num_syms * 4)) {
        *why = "kallsyms_offsets is not in guest RAM";
        goto fail;
    }
    for (uint32_t i = 0; i < ks->num_syms; i++) {
        ks->offsets[i] = (int32_t)GUINT32_FROM_LE((uint32_t)ks->offsets[i]);
    }
    if (!load_tokens(ks, info, mem, why) || !load_names(ks, info, mem, why)) {
        goto fail;
    }
    /* every name must expand; find _stext on the way */
    for (uint32_t i = 0; i < ks->num_syms; i++) {
        const uint8_t *tok;
        size_t ntokens, n = entry_of(ks, i, &tok, &ntokens);

        if (!n) {
            *why = "a kallsyms name does not expand";
            goto fail;
        }
        if (!found && n == sizeof("T_stext") - 1 &&
            expand(ks, tok, ntokens, name, sizeof(name)) &&
            !strcmp(name + 1, "_stext")) {
            found = true;
            stext_idx = i;
        }
    }
    if (!found) {
        *why = "kallsyms has no _stext";
        goto fail;
    }
    /*
     * Without kallsyms_relative_base only the place-relative encoding
     * applies; with it, the older two (tried first: a 6.x table could
     * reproduce _stext place-relatively only by accident).
     */
    for (ks->encoding = info->has_kallsyms_relative_base ?
                        GUEST_KALLSYMS_BASE_RELATIVE :
                        GUEST_KALLSYMS_PLACE_RELATIVE;
         ks->encoding < GUEST_KALLSYMS_ENCODINGS; ks->encoding++) {
        if (address_of(ks, stext_idx, ks->encoding) == info->stext) {
            return true;
        }
    }
    *why = info->has_kallsyms_relative_base ?
           "no kallsyms address encoding gives _stext its VMCOREINFO address" :
           "kallsyms_offsets, read relative to themselves (Linux 7.0 and "
           "later, which have no kallsyms_relative_base), do not give "
           "_stext its VMCOREINFO address";

fail:
    guest_kallsyms_clear(ks);
    return false;
}

void guest_kallsyms_clear(GuestKallsyms *ks)
{
    g_free(ks->names);
    g_free(ks->name_start);
    g_free(ks->tokens);
    g_free(ks->offsets);
    memset(ks, 0, sizeof(*ks));
}

char guest_kallsyms_name(const GuestKallsyms *ks, uint32_t i, char *buf,
                         size_t len)
{
    const uint8_t *tok;
    size_t ntokens;
    char full[GUEST_KALLSYMS_NAME_LEN + 1];

    if (i >= ks->num_syms || len == 0 || !entry_of(ks, i, &tok, &ntokens) ||
        !expand(ks, tok, ntokens, full, sizeof(full))) {
        return 0;
    }
    g_strlcpy(buf, full + 1, len);
    return full[0];
}

uint64_t guest_kallsyms_address(const GuestKallsyms *ks, uint32_t i)
{
    return i < ks->num_syms ? address_of(ks, i, ks->encoding) : 0;
}

size_t guest_kallsyms_find(const GuestKallsyms *ks, const char *const *names,
                           size_t n, uint64_t *addrs, bool *found)
{
    char full[GUEST_KALLSYMS_NAME_LEN + 1];
    g_autofree size_t *want_len = g_new(size_t, n);
    size_t left = n;

    for (size_t k = 0; k < n; k++) {
        found[k] = false;
        addrs[k] = 0;
        want_len[k] = strlen(names[k]) + 1;     /* with the type letter */
    }
    /* expand only the names of a length asked for */
    for (uint32_t i = 0; i < ks->num_syms && left; i++) {
        const uint8_t *tok;
        size_t ntokens, len = entry_of(ks, i, &tok, &ntokens);
        bool expanded = false;

        for (size_t k = 0; k < n && len; k++) {
            if (found[k] || want_len[k] != len) {
                continue;
            }
            if (!expanded && !expand(ks, tok, ntokens, full, sizeof(full))) {
                break;
            }
            expanded = true;
            if (!strcmp(full + 1, names[k])) {
                found[k] = true;
                addrs[k] = guest_kallsyms_address(ks, i);
                left--;
            }
        }
    }
    return n - left;
}
