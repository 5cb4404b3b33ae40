import Foundation

/// A parsed JSON value. `JSONDecoder` keeps booleans and numbers apart (a `1` never reads as
/// `true`), which `JSONSerialization`'s NSNumber bridging does not guarantee.
public enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// Reads `path` and parses it; the top level must be an object.
    public static func loadObject(path: String) throws -> [String: JSONValue] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FileError.cannotOpen(path: path, reason: "\(error.localizedDescription)")
        }
        let value: JSONValue
        do { value = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw TokenizerError.invalidJSON(path: path, reason: Self.reason(error))
        }
        guard case let .object(object) = value else {
            throw TokenizerError.invalidJSON(path: path, reason: "the top level is not an object")
        }
        return object
    }

    private static func reason(_ error: Error) -> String {
        if case let DecodingError.dataCorrupted(context) = error {
            let underlying = (context.underlyingError as NSError?)?.userInfo["NSDebugDescription"] as? String
            return underlying ?? context.debugDescription
        }
        return "\(error)"
    }

    public var string: String? { if case let .string(s) = self { return s }; return nil }
    public var int: Int? { if case let .int(i) = self { return i }; return nil }
    public var bool: Bool? { if case let .bool(b) = self { return b }; return nil }
    public var array: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
    public var object: [String: JSONValue]? { if case let .object(o) = self { return o }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }

    public subscript(key: String) -> JSONValue? { object?[key] }
}
