/// Why the reference forward pass cannot run on a graph or an input.
public enum ForwardError: Error, CustomStringConvertible, Equatable {
    /// The graph has no tensor for a role the forward pass needs.
    case missingTensor(path: String, tensor: String)
    /// A tensor's shape disagrees with the config (shapes in PyTorch order).
    case shapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    /// The config cannot describe a Llama (head counts that do not divide, an odd head size...).
    case invalidConfig(path: String, problem: String)
    /// A tensor is stored in a type the kernels cannot decode yet.
    case unsupportedType(path: String, tensor: String, type: String)
    /// A token id outside `0 ..< vocabSize`.
    case tokenOutOfRange(path: String, index: Int, token: Int, vocabSize: Int)
    /// The sequence would grow past the KV cache.
    case contextFull(path: String, needed: Int, maxContext: Int)

    public var description: String {
        switch self {
        case let .missingTensor(path, tensor):
            return "\(path): tensor \(tensor): missing from the graph"
        case let .shapeMismatch(path, tensor, expected, found):
            return "\(path): tensor \(tensor): shape \(found), expected \(expected) from the config"
        case let .invalidConfig(path, problem):
            return "\(path): config: \(problem)"
        case let .unsupportedType(path, tensor, type):
            return "\(path): tensor \(tensor): the forward pass cannot decode type \(type)"
        case let .tokenOutOfRange(path, index, token, vocabSize):
            return "\(path): token \(index): id \(token) outside the vocabulary of \(vocabSize)"
        case let .contextFull(path, needed, maxContext):
            return "\(path): sequence of \(needed) tokens exceeds the context of \(maxContext)"
        }
    }
}
