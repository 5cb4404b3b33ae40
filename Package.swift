// swift-tools-version:6.0
import PackageDescription

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
        .target(
            name: "LlamaConvert",
            dependencies: ["CZlib", "CZstd"]
        ),
        .executableTarget(
            name: "llama-convert",
            dependencies: [
                "LlamaConvert",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "quant-bench",
            dependencies: ["LlamaConvert"]
        ),
        .testTarget(
            name: "LlamaConvertTests",
            dependencies: ["LlamaConvert", "CZlib", "CZstd"]
        ),
    ],
    swiftLanguageModes: [.v5]
)
