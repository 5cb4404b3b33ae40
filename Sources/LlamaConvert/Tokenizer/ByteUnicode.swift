/// GPT-2's reversible byte ↔ character map (`bytes_to_unicode` in openai/gpt-2 `encoder.py`,
/// copied by transformers and llama.cpp): the printable bytes `!`…`~`, `¡`…`¬`, `®`…`ÿ` stand for
/// themselves, and the other 68 bytes map, in byte order, to U+0100, U+0101, …. A space becomes
/// `Ġ` (U+0120) and a newline `Ċ` (U+010A).
public enum ByteUnicode {
    /// `scalar[b]` is the character standing for byte `b`.
    public static let scalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0 ..< 256 {
            let printable = (0x21 ... 0x7E).contains(byte) || (0xA1 ... 0xAC).contains(byte) || (0xAE ... 0xFF).contains(byte)
            let value = printable ? UInt32(byte) : next
            if !printable { next += 1 }
            // Every value is below U+0144, so always a valid scalar.
            table[byte] = Unicode.Scalar(value) ?? " "
        }
        return table
    }()

    /// `utf8[b]`: the UTF-8 bytes of `scalar[b]`.
    public static let utf8: [[UInt8]] = scalar.map { Array(String(Character($0)).utf8) }

    /// The byte a character stands for, or nil for a character outside the map.
    public static let byte: [Unicode.Scalar: UInt8] = {
        var inverse: [Unicode.Scalar: UInt8] = [:]
        for (b, s) in scalar.enumerated() { inverse[s] = UInt8(b) }
        return inverse
    }()

    /// The byte-level text of raw bytes.
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var view = String.UnicodeScalarView()
        for b in bytes { view.append(scalar[Int(b)]) }
        return String(view)
    }

    /// The raw bytes of byte-level text; nil when a character is outside the map.
    public static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.unicodeScalars.count)
        for s in text.unicodeScalars {
            guard let b = byte[s] else { return nil }
            out.append(b)
        }
        return out
    }
}
