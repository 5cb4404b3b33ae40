import Foundation

/// Writes float32 matrices as NumPy `.npy` files (format version 1.0), for `verify --save-logits`.
///
/// Layout: magic `\x93NUMPY`, version bytes 1 0, a little-endian UInt16 header length, then an
/// ASCII dict `{'descr': '<f4', 'fortran_order': False, 'shape': (n, m), }` padded with spaces and
/// ended by `\n` so the data starts at a multiple of 64 bytes, then the n·m floats in row order.
public enum NPY {
    public static func write(path: String, rows: [[Float]]) throws {
        let width = rows.first?.count ?? 0
        for (i, row) in rows.enumerated() where row.count != width {
            throw NPYError.raggedRows(path: path, row: i, expected: width, found: row.count)
        }
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows.count), \(width)), }"
        let unpadded = 6 + 2 + 2 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        data.reserveCapacity(data.count + rows.count * width * 4)
        for row in rows {
            for value in row {
                let bits = value.bitPattern.littleEndian
                withUnsafeBytes(of: bits) { data.append(contentsOf: $0) }
            }
        }
        // A sibling temp file renamed into place, so a reader never sees half a file.
        let temp = path + ".tmp-\(getpid())"
        do {
            try data.write(to: URL(fileURLWithPath: temp))
        } catch {
            throw NPYError.cannotWrite(path: path, reason: "\(error.localizedDescription)")
        }
        guard rename(temp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw NPYError.cannotWrite(path: path, reason: reason)
        }
    }
}

/// Why an `.npy` file could not be written.
public enum NPYError: Error, CustomStringConvertible, Equatable {
    /// Rows of different lengths cannot form a matrix.
    case raggedRows(path: String, row: Int, expected: Int, found: Int)
    /// The file system refused the write or the rename.
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .raggedRows(path, row, expected, found):
            return "\(path): row \(row): \(found) values, expected \(expected) like row 0"
        case let .cannotWrite(path, reason):
            return "\(path): cannot write: \(reason)"
        }
    }
}
