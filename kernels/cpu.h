/* CPU features in one place: which packed-kernel path (ISA) this machine can run, which one the
 * kernels use (the best available, or the one SLT_ISA=avx512|avx2|portable forces), and the CPU's
 * model name and flags for benchmark reports. ISA-specific code is compiled with target
 * attributes and chosen here at run time, so one binary runs on any x86-64 (or other) CPU. */
#ifndef SLT_KERNELS_CPU_H
#define SLT_KERNELS_CPU_H

#include <stdbool.h>
#include <stddef.h>

/* Kernel paths, ordered: a higher value needs more of the instruction set. */
typedef enum {
  SLT_ISA_PORTABLE = 0, /* plain C */
  SLT_ISA_AVX2 = 1,     /* AVX2 (maddubs / sign) */
  SLT_ISA_AVX512 = 2,   /* AVX-512 F + BW + VNNI (vpdpbusd, byte masks) */
  SLT_ISA_COUNT
} slt_isa;

/* Whether this CPU (and OS) can run path isa. */
bool slt_cpu_supports(slt_isa isa);
/* The best path this CPU supports. */
slt_isa slt_cpu_best(void);
/* The path the kernels use: SLT_ISA when set, valid and supported, else the best. Read once. */
slt_isa slt_cpu_isa(void);
/* Check the SLT_ISA variable: 0 when unset or usable (the path in *isa), -1 with a message when it
 * names no path or one this CPU cannot run (the kernels then use the best path). */
int slt_cpu_isa_env(slt_isa *isa);
/* "avx512", "avx2" or "portable". */
const char *slt_cpu_isa_name(slt_isa isa);
/* Parse a path name; 0 or -1 with a message. */
int slt_cpu_isa_parse(const char *name, slt_isa *isa);
/* The "model name" line of /proc/cpuinfo, or "unknown". Static storage. */
const char *slt_cpu_model(void);
/* The supported flags that matter to the kernels ("avx2 fma avx512f ..."), into buf. */
void slt_cpu_flags(char *buf, size_t len);

#endif
