import Foundation

/// Paths of the committed fixtures (written by Scripts/make_fixtures.py).
enum Fixtures {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0 ..< 3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("fixtures").path
    }()

    static func path(_ relative: String) -> String { root + "/" + relative }

    /// The decoded `reference.json` of a model folder.
    static func reference(_ folder: String) throws -> Reference {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(folder + "/reference.json")))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    struct TensorRecord: Decodable {
        let dtype: String
        let shape: [Int]
        let crc32: UInt32
        let sum: Double
        let first: [Double]
    }

    struct Reference: Decodable {
        let tokens: [Int]
        let logits: [[Float]]
        let tensors: [String: TensorRecord]
        let shards: [String: [String: TensorRecord]]?
    }
}
