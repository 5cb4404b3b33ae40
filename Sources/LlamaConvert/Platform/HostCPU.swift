import CCPUFeatures
import Foundation

/// Which kernels this processor can run. The AVX2Kernels module is compiled for AVX2 + FMA + F16C,
/// AVX512Kernels (the batched product's micro-kernel) for AVX-512; each is called only when cpuid
/// says its instructions exist, so the one binary still runs on any x86-64. Both give the same bits.
///
/// `LLAMA_CONVERT_KERNELS=portable` forces the portable Swift paths, `=avx2` the AVX2 kernels alone
/// (to compare them, or to rule the wide kernels out when chasing a problem).
public enum HostCPU {
    public static let avx2: Bool = {
        if ProcessInfo.processInfo.environment["LLAMA_CONVERT_KERNELS"] == "portable" { return false }
        return llama_convert_cpu_has_avx2_fma_f16c() != 0
    }()

    public static let avx512: Bool = {
        avx2 && ProcessInfo.processInfo.environment["LLAMA_CONVERT_KERNELS"] != "avx2" && llama_convert_cpu_has_avx512() != 0
    }()

    /// For `--verbose` and benchmark notes.
    public static var kernelName: String { avx512 ? "avx512+avx2+fma+f16c" : avx2 ? "avx2+fma+f16c" : "portable" }
}
