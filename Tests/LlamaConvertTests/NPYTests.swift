import Foundation
import Testing
@testable import LlamaConvert

@Suite("NPY writer")
struct NPYTests {
    func temporaryPath() -> String {
        NSTemporaryDirectory() + "npy-test-\(UUID().uuidString).npy"
    }

    @Test("header is NumPy 1.0 with descr <f4, C order and the shape, data 64-byte aligned")
    func layout() throws {
        let path = temporaryPath()
        defer { unlink(path) }
        try NPY.write(path: path, rows: [[1, 2, 3], [4, 5, -0.5]])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(Array(bytes[0 ..< 8]) == [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let header = String(decoding: bytes[10 ..< 10 + headerLength], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"))
        #expect(header.hasSuffix("\n"))
        let data = Array(bytes[(10 + headerLength)...])
        #expect(data.count == 24)
        let values = (0 ..< 6).map { i in
            Float(bitPattern: UInt32(data[4 * i]) | UInt32(data[4 * i + 1]) << 8 | UInt32(data[4 * i + 2]) << 16 | UInt32(data[4 * i + 3]) << 24)
        }
        #expect(values == [1, 2, 3, 4, 5, -0.5])
    }

    @Test("rows of different lengths are refused, naming the row")
    func ragged() {
        let path = temporaryPath()
        #expect(throws: NPYError.raggedRows(path: path, row: 1, expected: 2, found: 1)) {
            try NPY.write(path: path, rows: [[1, 2], [3]])
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("an unwritable folder is reported with the path")
    func unwritable() {
        #expect(throws: NPYError.self) { try NPY.write(path: "/nonexistent-dir/x.npy", rows: [[1]]) }
    }
}
