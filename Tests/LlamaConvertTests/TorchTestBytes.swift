import CZlib
import CZstd
import Foundation
@testable import LlamaConvert

/// Hand-built pickle byte strings, opcode by opcode (values from CPython pickletools).
struct PickleBytes {
    var bytes: [UInt8] = []

    mutating func op(_ code: UInt8) { bytes.append(code) }
    mutating func u16(_ v: UInt16) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
    mutating func u32(_ v: UInt32) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
    mutating func u64(_ v: UInt64) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }

    mutating func proto(_ v: UInt8 = 2) { op(0x80); op(v) }
    mutating func stop() { op(0x2E) }
    mutating func mark() { op(0x28) }
    mutating func global(_ module: String, _ name: String) { op(0x63); bytes += Array((module + "\n" + name + "\n").utf8) }
    mutating func binput(_ i: UInt8) { op(0x71); op(i) }
    mutating func longBinput(_ i: UInt32) { op(0x72); u32(i) }
    mutating func binget(_ i: UInt8) { op(0x68); op(i) }
    mutating func longBinget(_ i: UInt32) { op(0x6A); u32(i) }
    mutating func string(_ s: String) { op(0x58); u32(UInt32(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func shortString(_ s: String) { op(0x8C); op(UInt8(s.utf8.count)); bytes += Array(s.utf8) }
    /// The way pickle.py's save_long picks BININT1/BININT2/BININT/LONG1.
    mutating func int(_ v: Int) {
        if v >= 0, v <= 0xFF { op(0x4B); op(UInt8(v)) }
        else if v >= 0, v <= 0xFFFF { op(0x4D); u16(UInt16(v)) }
        else if v >= Int(Int32.min), v <= Int(Int32.max) { op(0x4A); u32(UInt32(bitPattern: Int32(v))) }
        else {
            var raw = withUnsafeBytes(of: Int64(v).littleEndian, Array.init)
            while raw.count > 1, (raw.last == 0 && raw[raw.count - 2] & 0x80 == 0) || (raw.last == 0xFF && raw[raw.count - 2] & 0x80 != 0) {
                raw.removeLast()
            }
            op(0x8A); op(UInt8(raw.count)); bytes += raw
        }
    }
    mutating func intTuple(_ values: [Int]) {
        if values.isEmpty { op(0x29); return }
        if values.count > 3 { mark() }
        for v in values { int(v) }
        switch values.count {
        case 1: op(0x85)
        case 2: op(0x86)
        case 3: op(0x87)
        default: op(0x74)
        }
    }

    struct Tensor {
        var name: String
        var storageClass = "FloatStorage"
        var key: String
        var numel: Int
        var offset = 0
        var size: [Int]
        var stride: [Int]
    }

    /// A state dict as torch.save writes it (protocol 2): OrderedDict, one REDUCE of
    /// _rebuild_tensor_v2 per tensor, SETITEMS batches of at most 1000, the _metadata BUILD.
    static func stateDict(_ tensors: [Tensor], ordered: Bool = true, batch: Int = 1000) -> [UInt8] {
        var p = PickleBytes()
        p.proto()
        if ordered {
            p.global("collections", "OrderedDict"); p.op(0x29); p.op(0x52)
        } else {
            p.op(0x7D)
        }
        var memo: UInt32 = 0
        func put(_ p: inout PickleBytes) { p.longBinput(memo); memo += 1 }
        put(&p)
        var start = 0
        while start < tensors.count {
            p.mark()
            for t in tensors[start ..< min(start + batch, tensors.count)] {
                p.string(t.name)
                p.global("torch._utils", "_rebuild_tensor_v2"); put(&p)
                p.mark()
                p.mark(); p.string("storage"); p.global("torch", t.storageClass); p.string(t.key); p.string("cpu"); p.int(t.numel); p.op(0x74)
                p.op(0x51) // BINPERSID
                p.int(t.offset)
                p.intTuple(t.size)
                p.intTuple(t.stride)
                p.op(0x89) // NEWFALSE
                p.global("collections", "OrderedDict"); p.op(0x29); p.op(0x52)
                p.op(0x74) // args tuple
                p.op(0x52) // REDUCE
                put(&p)
            }
            p.op(0x75) // SETITEMS
            start += batch
        }
        if ordered {
            p.op(0x7D); p.string("_metadata"); p.op(0x7D); p.op(0x73); p.op(0x62) // EMPTY_DICT … BUILD
        }
        p.stop()
        return p.bytes
    }
}

/// A hand-built zip archive laid out the way torch writes one: 64-aligned data (extra field
/// 0x4246 of 'Z' filler), flags 0x0808 with zero sizes in local headers, zip64 end record and
/// locator before the classic EOCD. Options produce the variants the tests need.
struct ZipBytes {
    struct Entry {
        var name: String
        var data: [UInt8]
        var method: UInt16 = 0
        var flags: UInt16 = 0x0808
        var crcOverride: UInt32?
        /// Bytes written as the entry's data instead of compressing `data` (method stays as set).
        var payloadOverride: [UInt8]?
    }

    var entries: [Entry] = []
    var zip64EndRecords = true
    /// Writes 0xFFFFFFFF in the central directory and the real values in a zip64 extra field.
    var zip64Fields = false

    mutating func add(_ name: String, _ data: [UInt8], method: UInt16 = 0) {
        entries.append(Entry(name: name, data: data, method: method))
    }

    static func deflate(_ data: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        _ = deflateInit2_(&stream, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(data.count))) + 16)
        var input = data
        let produced: Int = input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { outp in
                stream.next_in = inp.baseAddress
                stream.avail_in = uInt(inp.count)
                stream.next_out = outp.baseAddress
                stream.avail_out = uInt(outp.count)
                _ = CZlib.deflate(&stream, Z_FINISH)
                return outp.count - Int(stream.avail_out)
            }
        }
        deflateEnd(&stream)
        return Array(out[0 ..< produced])
    }

    static func zstd(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(data.count))
        let n = out.withUnsafeMutableBytes { o in data.withUnsafeBytes { i in ZSTD_compress(o.baseAddress, o.count, i.baseAddress, i.count, 3) } }
        return Array(out[0 ..< n])
    }

    /// A zstd frame whose header omits the content size (as streaming writers produce).
    static func zstdWithoutContentSize(_ data: [UInt8]) -> [UInt8] {
        let context = ZSTD_createCCtx()
        defer { ZSTD_freeCCtx(context) }
        _ = ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 0)
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(data.count))
        let n = out.withUnsafeMutableBytes { o in data.withUnsafeBytes { i in ZSTD_compress2(context, o.baseAddress, o.count, i.baseAddress, i.count) } }
        return Array(out[0 ..< n])
    }

    func build() -> [UInt8] {
        var out: [UInt8] = []
        func u16(_ v: UInt16) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func u32(_ v: UInt32) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func u64(_ v: UInt64) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        var offsets: [Int] = []
        var payloads: [[UInt8]] = []
        for e in entries {
            let payload = e.payloadOverride ?? (e.method == 8 ? Self.deflate(e.data) : e.method == 93 ? Self.zstd(e.data) : e.data)
            payloads.append(payload)
            offsets.append(out.count)
            let name = Array(e.name.utf8)
            // Pad so data starts on a multiple of 64, as torch does (extra field 0x4246).
            var pad = (64 - (out.count + 30 + name.count + 4) % 64) % 64
            if pad < 0 { pad += 64 }
            u32(0x0403_4b50); u16(0); u16(e.flags); u16(e.method); u16(0); u16(0)
            u32(0); u32(0); u32(0)
            u16(UInt16(name.count)); u16(UInt16(4 + pad))
            out += name
            u16(0x4246); u16(UInt16(pad)); out += [UInt8](repeating: 0x5A, count: pad)
            out += payload
            if e.flags & 0x0008 != 0 { // data descriptor, zip64 form
                u32(0x0807_4b50); u32(e.crcOverride ?? CRC32.checksum(e.data)); u64(UInt64(payload.count)); u64(UInt64(e.data.count))
            }
        }
        let cdStart = out.count
        for (i, e) in entries.enumerated() {
            let name = Array(e.name.utf8)
            let crc = e.crcOverride ?? CRC32.checksum(e.data)
            u32(0x0201_4b50); u16(0x031E); u16(0); u16(e.flags); u16(e.method); u16(0); u16(0)
            u32(crc)
            if zip64Fields {
                u32(0xFFFF_FFFF); u32(0xFFFF_FFFF)
            } else {
                u32(UInt32(payloads[i].count)); u32(UInt32(e.data.count))
            }
            u16(UInt16(name.count)); u16(zip64Fields ? 28 : 0); u16(0); u16(0); u16(0); u32(0)
            u32(zip64Fields ? 0xFFFF_FFFF : UInt32(offsets[i]))
            out += name
            if zip64Fields {
                u16(0x0001); u16(24); u64(UInt64(e.data.count)); u64(UInt64(payloads[i].count)); u64(UInt64(offsets[i]))
            }
        }
        let cdSize = out.count - cdStart
        if zip64EndRecords {
            let record = out.count
            u32(0x0606_4b50); u64(44); u16(0x031E); u16(45); u32(0); u32(0)
            u64(UInt64(entries.count)); u64(UInt64(entries.count)); u64(UInt64(cdSize)); u64(UInt64(cdStart))
            u32(0x0706_4b50); u32(0); u64(UInt64(record)); u32(1)
        }
        u32(0x0605_4b50); u16(0); u16(0)
        u16(zip64EndRecords ? 0xFFFF : UInt16(entries.count)); u16(zip64EndRecords ? 0xFFFF : UInt16(entries.count))
        u32(zip64EndRecords ? 0xFFFF_FFFF : UInt32(cdSize)); u32(zip64EndRecords ? 0xFFFF_FFFF : UInt32(cdStart)); u16(0)
        return out
    }
}

extension Array where Element == Float {
    var littleEndianBytes: [UInt8] { withUnsafeBytes(Array<UInt8>.init) }
}

/// A torch-like checkpoint: `archive/data.pkl`, storages `archive/data/<key>`, `byteorder`, `version`.
func torchArchive(folder: String = "archive", pickle: [UInt8], storages: [(String, [UInt8])], method: UInt16 = 0,
                  pickleMethod: UInt16 = 0) -> ZipBytes {
    var zip = ZipBytes()
    zip.add(folder + "/data.pkl", pickle, method: pickleMethod)
    zip.add(folder + "/byteorder", Array("little".utf8))
    for (key, bytes) in storages { zip.add(folder + "/data/" + key, bytes, method: method) }
    zip.add(folder + "/version", Array("3\n".utf8))
    return zip
}
