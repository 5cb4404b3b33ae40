import ArgumentParser
import Foundation
import LlamaConvert

struct CommonOptions: ParsableArguments {
    @Flag(help: "Print one JSON object (for scripts) instead of text.")
    var json = false

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Flag(help: "No progress line.")
    var quiet = false

    var resolvedThreads: Int { max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount) }

    /// Progress is drawn only for a person watching a terminal.
    var showsProgress: Bool { !quiet && !json && isatty(2) != 0 }

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}
