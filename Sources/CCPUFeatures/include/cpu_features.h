#ifndef LLAMA_CONVERT_CPU_FEATURES_H
#define LLAMA_CONVERT_CPU_FEATURES_H

/// 1 when the processor and the OS support AVX2, FMA and F16C (the set the AVX2Kernels module is
/// compiled for), else 0. Swift has no cpuid; this is the only C in the kernels.
int llama_convert_cpu_has_avx2_fma_f16c(void);

/// 1 when the processor and the OS support AVX-512 F, VL, BW and DQ (the AVX512Kernels module's
/// set; the library checks it together with the AVX2 set), else 0.
int llama_convert_cpu_has_avx512(void);

#endif
