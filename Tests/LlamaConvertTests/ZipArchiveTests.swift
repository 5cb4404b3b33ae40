import Foundation
import Testing
@testable import LlamaConvert

@Suite("Zip archive reader")
struct ZipArchiveTests {
    let folder = TempFolder()

    func open(_ zip: ZipBytes, name: String = "test.zip") throws -> (ZipArchive, String) {
        let path = try folder.write(name, zip.build())
        return (try ZipArchive(path: path), path)
    }

    func expectError(_ path: String, contains parts: [String], _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected an error naming \(parts)")
        } catch {
            let text = String(describing: error)
            #expect(text.contains(path), "\(text)")
            for part in parts { #expect(text.contains(part), "\(text) should mention \(part)") }
        }
    }

    @Test("stored entries are read in place from the mapping, 64-aligned, sizes from the central directory")
    func storedInPlace() throws {
        var zip = ZipBytes()
        zip.add("a/data.pkl", [1, 2, 3])
        zip.add("a/data/0", Array(0 ..< 200))
        let (archive, _) = try open(zip)
        #expect(archive.entries.map(\.name) == ["a/data.pkl", "a/data/0"])
        let entry = try #require(archive.entry(named: "a/data/0"))
        #expect(entry.dataOffset % 64 == 0)
        #expect(entry.flags == 0x0808)
        let data = try archive.verifiedData(of: entry)
        #expect(Array(data.bytes) == Array(0 ..< 200))
        let base = UInt(bitPattern: archive.file.bytes.baseAddress)
        let at = UInt(bitPattern: data.bytes.baseAddress)
        #expect(at == base + UInt(entry.dataOffset)) // no copy
        #expect(data.owner === archive.file)
    }

    @Test("classic end record without zip64 is read")
    func classicEndRecord() throws {
        var zip = ZipBytes()
        zip.zip64EndRecords = false
        zip.add("a/x", [9, 8, 7])
        let (archive, _) = try open(zip)
        #expect(try archive.copyData(of: archive.entries[0]) == [9, 8, 7])
    }

    @Test("sizes and offsets of 0xFFFFFFFF are taken from the zip64 extra field")
    func zip64ExtraField() throws {
        var zip = ZipBytes()
        zip.zip64Fields = true
        zip.add("a/x", [1, 2, 3, 4, 5])
        zip.add("a/y", Array(repeating: 7, count: 100))
        let (archive, _) = try open(zip)
        let y = try #require(archive.entry(named: "a/y"))
        #expect(y.uncompressedSize == 100 && y.compressedSize == 100)
        #expect(try archive.copyData(of: y) == Array(repeating: 7, count: 100))
    }

    @Test("an end comment after the EOCD is skipped when searching back")
    func endComment() throws {
        var zip = ZipBytes()
        zip.add("a/x", [1])
        var bytes = zip.build()
        let comment = Array("hello PK\u{5}\u{6} comment".utf8)
        bytes[bytes.count - 2] = UInt8(comment.count)
        bytes += comment
        let path = try folder.write("comment.zip", bytes)
        #expect(try ZipArchive(path: path).entries.count == 1)
    }

    @Test("deflate (method 8) entries are inflated with raw windowBits and CRC-checked")
    func deflateEntry() throws {
        var zip = ZipBytes()
        let data = (0 ..< 5000).map { UInt8(($0 * 7) % 13) }
        zip.add("a/x", data, method: 8)
        let (archive, _) = try open(zip)
        let entry = archive.entries[0]
        #expect(entry.compressedSize < data.count)
        let out = try archive.data(of: entry)
        #expect(out.crcVerified)
        #expect(out.withBytes { Array($0) } == data)
    }

    @Test("zstd (method 93) entries are decompressed and CRC-checked")
    func zstdEntry() throws {
        var zip = ZipBytes()
        let data = (0 ..< 5000).map { UInt8(($0 * 11) % 17) }
        zip.add("a/x", data, method: 93)
        let (archive, _) = try open(zip)
        #expect(try archive.copyData(of: archive.entries[0]) == data)
    }

    @Test("a CRC mismatch names the file and the entry")
    func badCRC() throws {
        var zip = ZipBytes()
        zip.add("a/x", [1, 2, 3])
        zip.entries[0].crcOverride = 0x1234_5678
        let (archive, path) = try open(zip)
        expectError(path, contains: ["a/x", "CRC-32"]) { _ = try archive.verifiedData(of: archive.entries[0]) }
    }

    @Test("a deflate entry with a bad CRC fails when inflated")
    func badCRCDeflate() throws {
        var zip = ZipBytes()
        zip.add("a/x", Array(repeating: 3, count: 300), method: 8)
        zip.entries[0].crcOverride = 1
        let (archive, path) = try open(zip)
        expectError(path, contains: ["a/x", "CRC-32"]) { _ = try archive.data(of: archive.entries[0]) }
    }

    @Test("a truncated archive has no end record and the error names the file")
    func truncated() throws {
        var zip = ZipBytes()
        zip.add("a/x", Array(repeating: 1, count: 500))
        let bytes = zip.build()
        let path = try folder.write("cut.zip", Array(bytes[0 ..< 300]))
        expectError(path, contains: ["end-of-central-directory"]) { _ = try ZipArchive(path: path) }
    }

    @Test("encrypted entries are refused by name")
    func encrypted() throws {
        var zip = ZipBytes()
        zip.add("a/secret", [1])
        zip.entries[0].flags = 0x0809
        let path = try folder.write("enc.zip", zip.build())
        expectError(path, contains: ["a/secret", "encrypted"]) { _ = try ZipArchive(path: path) }
    }

    @Test("multi-disk archives are refused")
    func multiDisk() throws {
        var zip = ZipBytes()
        zip.zip64EndRecords = false
        zip.add("a/x", [1])
        var bytes = zip.build()
        bytes[bytes.count - 22 + 4] = 1 // this disk's number
        let path = try folder.write("disk.zip", bytes)
        expectError(path, contains: ["multi-disk"]) { _ = try ZipArchive(path: path) }
    }

    @Test("an unknown compression method is refused naming the entry and method")
    func unsupportedMethod() throws {
        var zip = ZipBytes()
        zip.add("a/x", [1, 2])
        zip.entries[0].method = 14 // LZMA
        let (archive, path) = try open(zip)
        expectError(path, contains: ["a/x", "method 14"]) { _ = try archive.data(of: archive.entries[0]) }
    }

    @Test("a 0xFFFFFFFF size without a zip64 extra field is refused")
    func missingZip64Field() throws {
        var zip = ZipBytes()
        zip.zip64EndRecords = false
        zip.add("a/x", [1, 2])
        zip.entries[0].flags = 0x0800
        var bytes = zip.build()
        let cd = bytes.count - 22 - (46 + 3)
        for i in 0 ..< 4 { bytes[cd + 20 + i] = 0xFF; bytes[cd + 24 + i] = 0xFF }
        let path = try folder.write("z64.zip", bytes)
        expectError(path, contains: ["a/x", "zip64"]) { _ = try ZipArchive(path: path) }
    }

    @Test("a data-descriptor entry whose sizes the central directory leaves unknown is refused")
    func sizesUnknown() throws {
        var zip = ZipBytes()
        zip.zip64EndRecords = false
        zip.add("a/x", [1, 2])
        var bytes = zip.build()
        let cd = bytes.count - 22 - (46 + 3)
        for i in 0 ..< 4 { bytes[cd + 20 + i] = 0xFF; bytes[cd + 24 + i] = 0xFF }
        let path = try folder.write("dd.zip", bytes)
        expectError(path, contains: ["a/x", "data descriptor"]) { _ = try ZipArchive(path: path) }
    }

    @Test("a stored entry with different compressed and uncompressed sizes is refused")
    func storedSizeMismatch() throws {
        var zip = ZipBytes()
        zip.zip64EndRecords = false
        zip.add("a/x", [1, 2, 3, 4])
        var bytes = zip.build()
        let cd = bytes.count - 22 - (46 + 3)
        bytes[cd + 24] = 2 // uncompressed size 2
        let path = try folder.write("size.zip", bytes)
        expectError(path, contains: ["a/x", "compressed size 4"]) { _ = try ZipArchive(path: path) }
    }

    @Test("entry data past the end of the file is refused")
    func dataOutOfBounds() throws {
        var zip = ZipBytes()
        zip.zip64EndRecords = false
        zip.add("a/x", [1, 2, 3, 4])
        var bytes = zip.build()
        let cd = bytes.count - 22 - (46 + 3)
        for i in 0 ..< 3 { bytes[cd + 20 + i] = 0x7F; bytes[cd + 24 + i] = 0x7F }
        let path = try folder.write("oob.zip", bytes)
        expectError(path, contains: ["a/x", "past the end"]) { _ = try ZipArchive(path: path) }
    }

    @Test("a local header whose name differs from the central directory is refused")
    func localHeaderMismatch() throws {
        var zip = ZipBytes()
        zip.add("a/x", [1])
        var bytes = zip.build()
        bytes[30 + 2] = UInt8(ascii: "y")
        let path = try folder.write("local.zip", bytes)
        expectError(path, contains: ["a/x", "name"]) { _ = try ZipArchive(path: path) }
    }

    @Test("a bad central directory signature names the offset")
    func badSignature() throws {
        var zip = ZipBytes()
        zip.zip64EndRecords = false
        zip.add("a/x", [1])
        var bytes = zip.build()
        let cd = bytes.count - 22 - (46 + 3)
        bytes[cd] = 0
        let path = try folder.write("sig.zip", bytes)
        expectError(path, contains: ["offset \(cd)", "central directory header signature"]) { _ = try ZipArchive(path: path) }
    }

    @Test("duplicate entry names are refused")
    func duplicate() throws {
        var zip = ZipBytes()
        zip.add("a/x", [1])
        zip.add("a/x", [2])
        let path = try folder.write("dup.zip", zip.build())
        expectError(path, contains: ["a/x", "twice"]) { _ = try ZipArchive(path: path) }
    }

    @Test("a deflate entry declaring more than 1032x its compressed size is refused before allocation")
    func deflateRatioCap() throws {
        var zip = ZipBytes()
        zip.zip64Fields = true
        zip.zip64EndRecords = true
        zip.add("a/x", Array(repeating: 0, count: 1000), method: 8)
        var bytes = zip.build()
        // Patch the zip64 extra's uncompressed size (first u64 of the extra) to 2^40.
        let cdEntry = bytes.count - 22 - 20 - 56 - (46 + 3 + 28)
        let extraValue = cdEntry + 46 + 3 + 4
        for i in 0 ..< 8 { bytes[extraValue + i] = i == 5 ? 1 : 0 }
        let path = try folder.write("bomb.zip", bytes)
        let archive = try ZipArchive(path: path)
        #expect(archive.entries[0].uncompressedSize == 1 << 40)
        expectError(path, contains: ["a/x", "limit"]) { _ = try archive.data(of: archive.entries[0]) }
    }

    @Test("a deflate entry that inflates to a different size than declared is refused")
    func deflateWrongSize() throws {
        var zip = ZipBytes()
        zip.zip64EndRecords = false
        zip.add("a/x", Array(repeating: 5, count: 100), method: 8)
        var bytes = zip.build()
        let cd = bytes.count - 22 - (46 + 3)
        bytes[cd + 24] = 90
        let path = try folder.write("short.zip", bytes)
        let archive = try ZipArchive(path: path)
        expectError(path, contains: ["a/x", "more than the declared 90"]) { _ = try archive.data(of: archive.entries[0]) }
        bytes[cd + 24] = 110
        let path2 = try folder.write("long.zip", bytes)
        let archive2 = try ZipArchive(path: path2)
        expectError(path2, contains: ["a/x", "inflated 100 bytes, central directory says 110"]) { _ = try archive2.data(of: archive2.entries[0]) }
    }

    @Test("a zstd frame whose content size disagrees with the central directory is refused before allocation")
    func zstdWrongSize() throws {
        var zip = ZipBytes()
        zip.zip64Fields = true
        zip.add("a/x", Array(repeating: 5, count: 100), method: 93)
        var bytes = zip.build()
        let cdEntry = bytes.count - 22 - 20 - 56 - (46 + 3 + 28)
        let extraValue = cdEntry + 46 + 3 + 4
        for i in 0 ..< 8 { bytes[extraValue + i] = i == 4 ? 1 : 0 } // 2^32 bytes declared
        let path = try folder.write("zbomb.zip", bytes)
        let archive = try ZipArchive(path: path)
        expectError(path, contains: ["a/x", "zstd frames declare 100"]) { _ = try archive.data(of: archive.entries[0]) }
    }

    @Test("a zstd frame without a content size is bounded by the declared size")
    func zstdUnknownContentSize() throws {
        let data = (0 ..< 3000).map { UInt8($0 % 5) }
        var zip = ZipBytes()
        zip.zip64EndRecords = false
        zip.add("a/x", data, method: 93)
        zip.entries[0].payloadOverride = ZipBytes.zstdWithoutContentSize(data)
        let (archive, _) = try open(zip, name: "stream.zip")
        let got = try archive.copyData(of: archive.entries[0])
        #expect(got.count == data.count, "\(archive.entries[0])")
        #expect(got == data)
        // Declaring more than the frame holds is caught after decompression.
        var bytes = zip.build()
        let cd = bytes.count - 22 - (46 + 3)
        bytes[cd + 25] = 0x1B // uncompressed size 3000 (0x0BB8) becomes 7096 (0x1BB8)
        let path = try folder.write("stream-long.zip", bytes)
        let long = try ZipArchive(path: path)
        expectError(path, contains: ["a/x", "zstd produced 3000 bytes"]) { _ = try long.data(of: long.entries[0]) }
    }

    @Test("corrupt deflate data gives a decompression error naming the entry")
    func corruptDeflate() throws {
        var zip = ZipBytes()
        zip.add("a/x", (0 ..< 400).map { UInt8($0 % 251) }, method: 8)
        let (archive, path) = try open(zip)
        let entry = archive.entries[0]
        var bytes = zip.build()
        for i in 0 ..< min(8, entry.compressedSize) { bytes[entry.dataOffset + i] = 0xFF }
        let bad = try folder.write("corrupt.zip", bytes)
        let archive2 = try ZipArchive(path: bad)
        _ = path
        expectError(bad, contains: ["a/x", "decompression failed"]) { _ = try archive2.data(of: archive2.entries[0]) }
    }
}
