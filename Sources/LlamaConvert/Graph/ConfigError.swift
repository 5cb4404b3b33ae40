/// Errors in a model's configuration files, or between the configuration and the tensors.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    /// The file is not a JSON object.
    case notJSONObject(path: String, reason: String)
    /// A required key is absent.
    case missingKey(path: String, key: String)
    /// A key holds a value of the wrong kind or out of range.
    case badValue(path: String, key: String, problem: String)
    /// The model is not a Llama this tool converts (architecture, rope type, biases, activation).
    case unsupported(path: String, what: String)
    /// A tensor's shape disagrees with the configuration or with its partner tensors.
    case shapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    /// A tensor the model needs is absent.
    case missingTensor(path: String, tensor: String)
    /// A tensor whose name no importer knows.
    case unexpectedTensor(path: String, tensor: String)
    /// The folder holds no model this tool recognises.
    case unrecognisedInput(path: String, problem: String)
    /// Model-parallel shards that cannot be merged.
    case inconsistentShards(path: String, tensor: String, problem: String)

    public var description: String {
        switch self {
        case let .notJSONObject(path, reason): return "\(path): not a JSON object: \(reason)"
        case let .missingKey(path, key): return "\(path): missing key \"\(key)\""
        case let .badValue(path, key, problem): return "\(path): key \"\(key)\": \(problem)"
        case let .unsupported(path, what): return "\(path): unsupported: \(what)"
        case let .shapeMismatch(path, tensor, expected, found):
            return "\(path): tensor \(tensor): shape \(found), expected \(expected)"
        case let .missingTensor(path, tensor): return "\(path): missing tensor \(tensor)"
        case let .unexpectedTensor(path, tensor): return "\(path): tensor \(tensor): not a tensor of a Llama model"
        case let .unrecognisedInput(path, problem): return "\(path): \(problem)"
        case let .inconsistentShards(path, tensor, problem): return "\(path): tensor \(tensor): \(problem)"
        }
    }
}

/// Typed access to a decoded JSON object, with errors naming the file and key.
struct JSONObject {
    let path: String
    let values: [String: Any]

    init(path: String, data: [UInt8]) throws {
        self.path = path
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(data), options: [])
        } catch {
            throw ConfigError.notJSONObject(path: path, reason: "invalid JSON")
        }
        guard let dict = object as? [String: Any] else {
            throw ConfigError.notJSONObject(path: path, reason: "top level is not an object")
        }
        values = dict
    }

    init(path: String, values: [String: Any]) {
        self.path = path
        self.values = values
    }

    static func read(_ path: String, maxBytes: Int = 16 << 20) throws -> JSONObject {
        let file = try MappedFile(path: path)
        guard file.count <= maxBytes else {
            throw ConfigError.badValue(path: path, key: "", problem: "file of \(file.count) bytes is larger than \(maxBytes)")
        }
        return try JSONObject(path: path, data: Array(file.bytes))
    }

    /// Foundation's JSON numbers also cast to Bool; only a decoded `true`/`false` has this class.
    static func isBool(_ value: Any) -> Bool {
        String(describing: type(of: value)).contains("Boolean") || type(of: value) == Bool.self
    }

    func has(_ key: String) -> Bool { values[key] != nil && !(values[key] is NSNull) }

    func object(_ key: String) throws -> JSONObject? {
        guard has(key) else { return nil }
        guard let dict = values[key] as? [String: Any] else {
            throw ConfigError.badValue(path: path, key: key, problem: "expected an object")
        }
        return JSONObject(path: path, values: dict)
    }

    func int(_ key: String) throws -> Int? {
        guard has(key) else { return nil }
        guard let number = values[key] as? NSNumber, !JSONObject.isBool(values[key]!),
              let value = Int(exactly: number.doubleValue), Double(value) == number.doubleValue else {
            throw ConfigError.badValue(path: path, key: key, problem: "expected an integer, found \(values[key]!)")
        }
        return value
    }

    func requiredInt(_ key: String, atLeast minimum: Int = 1) throws -> Int {
        guard let value = try int(key) else { throw ConfigError.missingKey(path: path, key: key) }
        guard value >= minimum, value <= 1 << 40 else {
            throw ConfigError.badValue(path: path, key: key, problem: "\(value) is out of range")
        }
        return value
    }

    func double(_ key: String) throws -> Double? {
        guard has(key) else { return nil }
        guard let number = values[key] as? NSNumber, !JSONObject.isBool(values[key]!), number.doubleValue.isFinite else {
            throw ConfigError.badValue(path: path, key: key, problem: "expected a number, found \(values[key]!)")
        }
        return number.doubleValue
    }

    func bool(_ key: String) throws -> Bool? {
        guard has(key) else { return nil }
        guard JSONObject.isBool(values[key]!), let value = values[key] as? Bool else {
            throw ConfigError.badValue(path: path, key: key, problem: "expected true or false")
        }
        return value
    }

    func string(_ key: String) throws -> String? {
        guard has(key) else { return nil }
        guard let value = values[key] as? String else {
            throw ConfigError.badValue(path: path, key: key, problem: "expected a string")
        }
        return value
    }
}

import Foundation
