/// Everything the restricted pickle machine refuses. Each case names the file, the pickle record
/// inside it (`entry`, e.g. `consolidated.00/data.pkl`) and the byte offset within that record.
public enum PickleError: Error, CustomStringConvertible, Equatable {
    /// A GLOBAL / STACK_GLOBAL naming something outside the allow-list. Nothing was resolved or run.
    case forbiddenGlobal(path: String, entry: String, offset: Int, global: String)
    /// An opcode this machine does not implement (or refuses, such as out-of-band buffers).
    case unsupportedOpcode(path: String, entry: String, offset: Int, opcode: UInt8)
    /// The stream ended (or a length ran past its end) inside an opcode.
    case truncated(path: String, entry: String, offset: Int, needed: Int, remaining: Int)
    /// The stream ended without STOP.
    case missingStop(path: String, entry: String, offset: Int)
    /// An opcode needed more stack items (or a MARK) than there were.
    case stackUnderflow(path: String, entry: String, offset: Int, opcode: UInt8)
    /// BINGET / LONG_BINGET of an index never stored.
    case memoMiss(path: String, entry: String, offset: Int, index: Int)
    /// A cap on stack depth, memo size, object count, or a length was exceeded.
    case limitExceeded(path: String, entry: String, offset: Int, what: String, limit: Int)
    /// An opcode got an operand of the wrong kind (e.g. SETITEMS on a list, REDUCE on a non-callable).
    case badOperand(path: String, entry: String, offset: Int, problem: String)
    /// A string operand is not valid UTF-8 (or, for GLOBAL, not a printable line).
    case invalidString(path: String, entry: String, offset: Int)

    public var description: String {
        switch self {
        case let .forbiddenGlobal(path, entry, offset, global):
            return "\(path): \(entry) offset \(offset): refused global \(global): not on the allow-list (nothing was executed)"
        case let .unsupportedOpcode(path, entry, offset, opcode):
            return "\(path): \(entry) offset \(offset): unsupported pickle opcode 0x\(String(opcode, radix: 16))"
        case let .truncated(path, entry, offset, needed, remaining):
            return "\(path): \(entry) offset \(offset): pickle truncated: needed \(needed) bytes, only \(remaining) remain"
        case let .missingStop(path, entry, offset):
            return "\(path): \(entry) offset \(offset): pickle ends without STOP"
        case let .stackUnderflow(path, entry, offset, opcode):
            return "\(path): \(entry) offset \(offset): pickle stack underflow at opcode 0x\(String(opcode, radix: 16))"
        case let .memoMiss(path, entry, offset, index):
            return "\(path): \(entry) offset \(offset): pickle memo has no entry \(index)"
        case let .limitExceeded(path, entry, offset, what, limit):
            return "\(path): \(entry) offset \(offset): pickle exceeds the limit of \(limit) \(what)"
        case let .badOperand(path, entry, offset, problem):
            return "\(path): \(entry) offset \(offset): \(problem)"
        case let .invalidString(path, entry, offset):
            return "\(path): \(entry) offset \(offset): pickle string is not valid UTF-8"
        }
    }
}
