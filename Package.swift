// swift-tools-version:6.0
import PackageDescription

// The hot loops exist twice: portable Swift in LlamaConvert, and AVX2Kernels compiled for
// AVX2 + FMA + F16C (`-target-cpu haswell`), chosen at run time by `HostCPU` (cpuid), so one
// binary runs on any x86-64 and uses the wide instructions where they exist.
#if arch(x86_64)
let avx2Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
// The batched product's micro-kernel again for AVX-512 (F, VL, BW, DQ), used where cpuid has it.
let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512"])]
#else
let avx2Flags: [SwiftSetting] = []
let avx512Flags: [SwiftSetting] = []
#endif

let package = Package(
    name: "llama-convert",
    products: [
        .library(name: "LlamaConvert", targets: ["LlamaConvert"]),
        .executable(name: "llama-convert", targets: ["llama-convert"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd"),
        .target(name: "CCPUFeatures"),
        .target(name: "CDirectIO"),
        .target(name: "CKernelSupport"),
        .target(name: "AVX2Kernels", dependencies: ["CKernelSupport"], swiftSettings: avx2Flags),
        .target(name: "AVX512Kernels", dependencies: ["AVX2Kernels"], swiftSettings: avx512Flags),
        .target(
            name: "LlamaConvert",
            dependencies: ["CZlib", "CZstd", "CCPUFeatures", "CDirectIO", "CKernelSupport", "AVX2Kernels", "AVX512Kernels"]
        ),
        .executableTarget(
            name: "llama-convert",
            dependencies: [
                "LlamaConvert",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "kernel-bench",
            dependencies: ["AVX2Kernels"],
            swiftSettings: avx2Flags
        ),
        .executableTarget(
            name: "quant-bench",
            dependencies: ["LlamaConvert"]
        ),
        .testTarget(
            name: "LlamaConvertTests",
            dependencies: ["LlamaConvert", "AVX2Kernels", "AVX512Kernels", "CZlib", "CZstd"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
