/*
 * cpu.c - which kernels the device runtime can use here: the instruction sets compiled in
 * (x86-64: AVX2, AVX-VNNI, AVX-512 VNNI; AArch64: NEON, NEON with the dot-product extension;
 * anything: the portable C kernels) and which of them this CPU and operating system support,
 * read once at run time (CPUID and XGETBV on x86-64, the auxiliary vector on Linux AArch64).
 * The environment variable TD_INFER_ISA=<name> picks a supported one instead of the best (to
 * measure or test the others on one machine).
 */
#include <stdlib.h>
#include <string.h>

#include "infer_internal.h"

#if defined(__linux__) && defined(__aarch64__)
#include <sys/auxv.h>
#endif

static const char *const isa_names[TD_INFER_ISA_COUNT] = {
    "auto", "generic", "avx2", "avx-vnni", "avx512-vnni", "neon", "neon-dotprod"};

const char *td_infer_isa_name(int isa)
{
    return isa >= 0 && isa < TD_INFER_ISA_COUNT ? isa_names[isa] : "unknown";
}

int td_infer_isa_parse(const char *name)
{
    int i;
    if (!name)
        return -1;
    for (i = 0; i < TD_INFER_ISA_COUNT; i++)
        if (strcmp(name, isa_names[i]) == 0)
            return i;
    return -1;
}

#if TDI_X86
/* CPUID leaf/subleaf into r[4] = eax, ebx, ecx, edx. */
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(sub));
    r[0] = a;
    r[1] = b;
    r[2] = c;
    r[3] = d;
}

/* The register state the operating system saves (XCR0): AVX needs bits 1-2, AVX-512 5-7. */
static unsigned long long xcr0(void)
{
    unsigned a, d;
    __asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
    return (unsigned long long)d << 32 | a;
}

static int detect(int isa)
{
    unsigned r[4], max_leaf;
    int avx, avx2, avx512;
    cpuid(0, 0, r);
    max_leaf = r[0];
    if (max_leaf < 7)
        return isa == TD_INFER_ISA_GENERIC;
    cpuid(1, 0, r);
    /* OSXSAVE, AVX, FMA, and the OS saving the AVX registers */
    avx = (r[2] >> 27 & 1) && (r[2] >> 28 & 1) && (r[2] >> 12 & 1) && (xcr0() & 6) == 6;
    cpuid(7, 0, r);
    avx2 = avx && (r[1] >> 5 & 1);
    /* AVX512F, BW, VL and VNNI, and the OS saving the opmask and ZMM state */
    avx512 = avx2 && (r[1] >> 16 & 1) && (r[1] >> 30 & 1) && (r[1] >> 31 & 1) && (r[2] >> 11 & 1) &&
             (xcr0() & 0xe6) == 0xe6;
    switch (isa) {
    case TD_INFER_ISA_GENERIC:
        return 1;
    case TD_INFER_ISA_AVX2:
        return avx2;
    case TD_INFER_ISA_AVX_VNNI:
        cpuid(7, 1, r);
        return avx2 && (r[0] >> 4 & 1);
    case TD_INFER_ISA_AVX512_VNNI:
        return avx512;
    default:
        return 0;
    }
}
#elif TDI_ARM64
static int detect(int isa)
{
    unsigned long hw = 0;
#if defined(__linux__)
    hw = getauxval(AT_HWCAP);
#endif
    switch (isa) {
    case TD_INFER_ISA_GENERIC:
    case TD_INFER_ISA_NEON: /* Advanced SIMD is part of every AArch64 CPU */
        return 1;
    case TD_INFER_ISA_NEON_DOTPROD:
        return (hw >> 20 & 1) != 0; /* HWCAP_ASIMDDP */
    default:
        return 0;
    }
}
#else
static int detect(int isa)
{
    return isa == TD_INFER_ISA_GENERIC;
}
#endif

int td_infer_isa_supported(int isa)
{
    /* Computed once; a benign race: every thread stores the same values. */
    static int known[TD_INFER_ISA_COUNT], value[TD_INFER_ISA_COUNT];
    if (isa <= TD_INFER_ISA_AUTO || isa >= TD_INFER_ISA_COUNT)
        return 0;
    if (!known[isa]) {
        value[isa] = detect(isa);
        known[isa] = 1;
    }
    return value[isa];
}

int td_infer_isa_best(void)
{
    static const int order[] = {TD_INFER_ISA_AVX512_VNNI, TD_INFER_ISA_AVX_VNNI, TD_INFER_ISA_AVX2,
                                TD_INFER_ISA_NEON_DOTPROD, TD_INFER_ISA_NEON};
    const char *env = getenv("TD_INFER_ISA");
    size_t i;
    if (env && *env) {
        int want = td_infer_isa_parse(env);
        if (want > TD_INFER_ISA_AUTO && td_infer_isa_supported(want))
            return want;
    }
    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (td_infer_isa_supported(order[i]))
            return order[i];
    return TD_INFER_ISA_GENERIC;
}

int td_infer_set_isa(td_infer_model *m, int isa)
{
    if (!m)
        return TD_INFER_EINVAL;
    if (isa == TD_INFER_ISA_AUTO)
        isa = td_infer_isa_best();
    if (!td_infer_isa_supported(isa))
        return TD_INFER_EUNSUPPORTED;
    m->isa = isa;
    m->info.isa = isa;
    return 0;
}
