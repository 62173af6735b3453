#include "cpu.h"

#include "autograd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const isa_names[SLT_ISA_COUNT] = {"portable", "avx2", "avx512"};

#if defined(__x86_64__) || defined(__i386__)
#define X86 1
/* __builtin_cpu_supports also checks that the OS saves the wide registers (XGETBV). */
static bool has(const char *f) {
  __builtin_cpu_init();
  if (!strcmp(f, "avx2")) return __builtin_cpu_supports("avx2");
  if (!strcmp(f, "fma")) return __builtin_cpu_supports("fma");
  if (!strcmp(f, "avx512f")) return __builtin_cpu_supports("avx512f");
  if (!strcmp(f, "avx512bw")) return __builtin_cpu_supports("avx512bw");
  if (!strcmp(f, "avx512vl")) return __builtin_cpu_supports("avx512vl");
  if (!strcmp(f, "avx512vnni")) return __builtin_cpu_supports("avx512vnni");
  if (!strcmp(f, "avx512bf16")) return __builtin_cpu_supports("avx512bf16");
#if !defined(__clang__) /* clang 14 does not know these two names; they are only reported */
  if (!strcmp(f, "avxvnni")) return __builtin_cpu_supports("avxvnni");
  if (!strcmp(f, "amx-int8")) return __builtin_cpu_supports("amx-int8");
#endif
  return false;
}
#else
#define X86 0
static bool has(const char *f) {
  (void)f;
  return false;
}
#endif

bool slt_cpu_supports(slt_isa isa) {
  switch (isa) {
  case SLT_ISA_PORTABLE:
    return true;
  case SLT_ISA_AVX2:
    return X86 && has("avx2");
  case SLT_ISA_AVX512:
    return X86 && has("avx512f") && has("avx512bw") && has("avx512vnni");
  default:
    return false;
  }
}

slt_isa slt_cpu_best(void) {
  for (int i = SLT_ISA_COUNT - 1; i > 0; i--)
    if (slt_cpu_supports((slt_isa)i)) return (slt_isa)i;
  return SLT_ISA_PORTABLE;
}

const char *slt_cpu_isa_name(slt_isa isa) {
  return (unsigned)isa < SLT_ISA_COUNT ? isa_names[isa] : "?";
}

int slt_cpu_isa_parse(const char *name, slt_isa *isa) {
  for (int i = 0; i < SLT_ISA_COUNT; i++)
    if (name && !strcmp(name, isa_names[i])) {
      *isa = (slt_isa)i;
      return 0;
    }
  slt_err_set("kernel path '%s': expected avx512, avx2 or portable", name ? name : "(null)");
  return -1;
}

int slt_cpu_isa_env(slt_isa *isa) {
  *isa = slt_cpu_best();
  const char *env = getenv("SLT_ISA");
  if (!env || !*env) return 0;
  slt_isa want;
  if (slt_cpu_isa_parse(env, &want)) {
    slt_err_set("SLT_ISA=%s: expected avx512, avx2 or portable", env);
    return -1;
  }
  if (!slt_cpu_supports(want)) {
    slt_err_set("SLT_ISA=%s: this CPU cannot run it (best: %s)", env, slt_cpu_isa_name(*isa));
    return -1;
  }
  *isa = want;
  return 0;
}

slt_isa slt_cpu_isa(void) {
  /* Every thread computes the same value, so a racing first call is harmless. */
  static int cached = -1;
  int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (v < 0) {
    slt_isa isa;
    slt_cpu_isa_env(&isa);
    v = (int)isa;
    __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
  }
  return (slt_isa)v;
}

const char *slt_cpu_model(void) {
  static char model[256];
  if (model[0]) return model;
  snprintf(model, sizeof model, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return model;
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    const char *colon = strchr(line, ':');
    if (strncmp(line, "model name", 10) || !colon) continue;
    colon++;
    while (*colon == ' ' || *colon == '\t') colon++;
    snprintf(model, sizeof model, "%s", colon);
    model[strcspn(model, "\n")] = '\0';
    break;
  }
  fclose(f);
  return model;
}

void slt_cpu_flags(char *buf, size_t len) {
  static const char *const flags[] = {"avx2",       "fma",     "avx512f",    "avx512bw", "avx512vl",
                                      "avx512vnni", "avxvnni", "avx512bf16", "amx-int8"};
  size_t used = 0;
  if (len) buf[0] = '\0';
  for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) {
    if (!has(flags[i])) continue;
    int n = snprintf(buf + used, len > used ? len - used : 0, "%s%s", used ? " " : "", flags[i]);
    if (n > 0) used += (size_t)n;
  }
}
