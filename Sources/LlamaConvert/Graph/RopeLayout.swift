/// The two row orders in which checkpoints store the Q and K projections.
///
/// Meta's code rotates adjacent pairs (x[2i], x[2i+1]) of each head; Hugging Face's rotates
/// x[i] against x[i + d/2]. Converters reorder the rows of wq and wk so each rule computes the same
/// attention. llama.cpp's arch `llama` uses Meta's order. The reorder is per head, so K must be
/// reordered with the KV head count, not the query head count.
public enum RopeOrder: String, Codable, Sendable {
    /// Meta's interleaved pairs: the order GGUF arch `llama` expects.
    case interleaved
    /// Hugging Face's rotate-half: each head's even rows first, then its odd rows.
    case rotateHalf = "rotate_half"
}

public enum RopeLayout {
    /// Row order that turns HF rotate-half rows into Meta interleaved rows:
    /// `meta[h·d + 2i + j] = hf[h·d + j·(d/2) + i]`. Returned as "row r of the result is row
    /// order[r] of the input".
    public static func rotateHalfToInterleaved(rows: Int, heads: Int) -> [Int] {
        precondition(heads > 0 && rows % heads == 0 && (rows / heads) % 2 == 0)
        let d = rows / heads
        var order = [Int](repeating: 0, count: rows)
        for h in 0 ..< heads {
            for i in 0 ..< d / 2 {
                for j in 0 ..< 2 {
                    order[h * d + 2 * i + j] = h * d + j * (d / 2) + i
                }
            }
        }
        return order
    }

    /// The inverse: Meta interleaved rows to HF rotate-half rows,
    /// `hf[h·d + j·(d/2) + i] = meta[h·d + 2i + j]`.
    public static func interleavedToRotateHalf(rows: Int, heads: Int) -> [Int] {
        let forward = rotateHalfToInterleaved(rows: rows, heads: heads)
        var inverse = [Int](repeating: 0, count: rows)
        for (r, source) in forward.enumerated() { inverse[source] = r }
        return inverse
    }

    /// Whether a projection with `rows` rows can be split into `heads` heads of even size.
    public static func fits(rows: Int, heads: Int) -> Bool {
        heads > 0 && rows % heads == 0 && (rows / heads) % 2 == 0
    }
}
