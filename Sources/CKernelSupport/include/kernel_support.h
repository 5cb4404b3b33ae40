#ifndef LLAMA_CONVERT_KERNEL_SUPPORT_H
#define LLAMA_CONVERT_KERNEL_SUPPORT_H

// What the AVX2 kernels need and Swift cannot say reliably: a prefetch, a scheduling fence, and
// vector widenings and conversions that always become one instruction; and the spin-wait hint of
// the forward pass's worker team. All are inline, so they compile into the Swift loops that call
// them.

/// Asks the processor to start loading the cache line at `address` (prefetcht0). The one-token
/// kernels read 2 to 8 weight rows at once, each a short stream, which the hardware prefetchers
/// pick up late. Swift has no prefetch. A prefetch never faults, so reading ahead past the end of
/// a tensor is harmless.
static inline __attribute__((always_inline)) void llama_convert_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// One spin-wait step (`pause` on x86-64: tells the core this is a wait loop, which saves power
/// and leaves a sibling hardware thread its share; a yield hint elsewhere).
static inline __attribute__((always_inline)) void llama_convert_spin_pause(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

typedef float llama_convert_float8 __attribute__((ext_vector_type(8)));
typedef int llama_convert_int32x8 __attribute__((ext_vector_type(8)));
typedef unsigned int llama_convert_uint32x8 __attribute__((ext_vector_type(8)));
typedef unsigned char llama_convert_uint8x8 __attribute__((ext_vector_type(8)));
typedef signed char llama_convert_int8x8 __attribute__((ext_vector_type(8)));

/// Returns `v` after making it the value of a point in the instruction stream that neither memory
/// reads nor other such points cross (it emits no instruction). The 8-row one-token kernels pass
/// each row's accumulator through it: without it LLVM hoists all eight rows' weight loads and
/// decoding to the top of the loop and sinks the multiply-adds to the bottom, more live vectors
/// than the 16 ymm registers, and every decoded vector and accumulator went through the stack.
#if defined(__x86_64__)
static inline __attribute__((always_inline, target("avx"))) llama_convert_float8 llama_convert_settle(llama_convert_float8 v) {
    __asm__ __volatile__("" : "+x"(v) : : "memory");
    return v;
}
#else
static inline __attribute__((always_inline)) llama_convert_float8 llama_convert_settle(llama_convert_float8 v) {
    __asm__ __volatile__("" : : : "memory");
    return v;
}
#endif

// The Swift standard library's generic SIMD conversions (`SIMD8<Float>(SIMD8<Int32>)`,
// `SIMD8<UInt32>(truncatingIfNeeded: SIMD8<UInt8>)`) are left as out-of-line per-lane loops when
// the inliner's budget for a large kernel runs out, four times slower; these cannot be.

/// Eight bytes at `p` zero-extended to 32-bit lanes (vpmovzxbd).
static inline __attribute__((always_inline)) llama_convert_uint32x8 llama_convert_widen_u8(const void *p) {
    llama_convert_uint8x8 b;
    __builtin_memcpy(&b, p, 8);
    return __builtin_convertvector(b, llama_convert_uint32x8);
}

/// `llama_convert_widen_u8` whose result LLVM cannot look through: otherwise a mask applied to
/// the widened lanes is moved onto the eight bytes before widening, and a kernel that uses both
/// the masked and the whole lanes then widens twice (one more lane-crossing shuffle per 8 weights).
#if defined(__x86_64__)
static inline __attribute__((always_inline, target("avx"))) llama_convert_uint32x8 llama_convert_widen_u8_opaque(const void *p) {
    llama_convert_uint32x8 v = llama_convert_widen_u8(p);
    __asm__("" : "+x"(v));
    return v;
}
#else
static inline __attribute__((always_inline)) llama_convert_uint32x8 llama_convert_widen_u8_opaque(const void *p) {
    return llama_convert_widen_u8(p);
}
#endif

/// Eight signed bytes at `p` sign-extended to 32-bit lanes (vpmovsxbd).
static inline __attribute__((always_inline)) llama_convert_int32x8 llama_convert_widen_i8(const void *p) {
    llama_convert_int8x8 b;
    __builtin_memcpy(&b, p, 8);
    return __builtin_convertvector(b, llama_convert_int32x8);
}

/// Eight bytes zero-extended to 32-bit lanes.
static inline __attribute__((always_inline)) llama_convert_uint32x8 llama_convert_zext_u8(llama_convert_uint8x8 b) {
    return __builtin_convertvector(b, llama_convert_uint32x8);
}

/// Eight signed bytes sign-extended to 32-bit lanes.
static inline __attribute__((always_inline)) llama_convert_int32x8 llama_convert_sext_i8(llama_convert_int8x8 b) {
    return __builtin_convertvector(b, llama_convert_int32x8);
}

/// Signed 32-bit lanes to float (vcvtdq2ps).
static inline __attribute__((always_inline)) llama_convert_float8 llama_convert_float_i32(llama_convert_int32x8 v) {
    return __builtin_convertvector(v, llama_convert_float8);
}

/// a·b + c rounded once, lane by lane (vfmadd). `SIMD8.addingProduct` is a per-lane loop that
/// LLVM usually vectorizes, but not always: in a fully unrolled K-quant kernel it became 32
/// scalar FMAs per vector.
static inline __attribute__((always_inline)) llama_convert_float8 llama_convert_fma(llama_convert_float8 a, llama_convert_float8 b, llama_convert_float8 c) {
    return __builtin_elementwise_fma(a, b, c);
}

#endif
