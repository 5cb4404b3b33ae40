import CCPUFeatures
import Foundation

/// Which kernels this processor can run. The AVX2Kernels module is compiled for AVX2 + FMA + F16C;
/// it is called only when cpuid says those exist, so the one binary still runs on any x86-64.
///
/// `LLAMA_CONVERT_KERNELS=portable` forces the portable Swift paths (to compare the two, or to rule
/// the wide kernels out when chasing a problem).
public enum HostCPU {
    public static let avx2: Bool = {
        if ProcessInfo.processInfo.environment["LLAMA_CONVERT_KERNELS"] == "portable" { return false }
        return llama_convert_cpu_has_avx2_fma_f16c() != 0
    }()

    /// For `--verbose` and benchmark notes.
    public static var kernelName: String { avx2 ? "avx2+fma+f16c" : "portable" }
}
