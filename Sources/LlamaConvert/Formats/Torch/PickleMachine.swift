/// A restricted pickle machine for the opcodes `torch.save` emits (protocols 2–5; table in
/// formats/torch-zip-pickle.md §3, byte values from CPython `Lib/pickletools.py`). It only builds
/// data: GLOBAL resolves through `PickleGlobal.resolve` (the allow-list) and refuses anything
/// else at the opcode; REDUCE/NEWOBJ emulate the allow-listed constructors. Every length is
/// checked against the bytes left, and stack depth, memo size and object count are capped, so
/// the work and memory are linear in the pickle size whatever it contains.
public struct PickleMachine {
    public struct Limits: Sendable {
        public var maxStackDepth = 1 << 20
        public var maxMemoEntries = 1 << 20
        /// Values pushed in total (every opcode that creates a value counts one).
        public var maxObjects = 1 << 24
        /// Longest module/name line of GLOBAL, and longest string used as a dict key.
        public var maxNameBytes = 4096
        public init() {}
    }

    public let path: String
    /// The record the pickle came from (e.g. `consolidated.00/data.pkl`), for messages.
    public let entry: String
    public let limits: Limits

    public init(path: String, entry: String, limits: Limits = Limits()) {
        self.path = path
        self.entry = entry
        self.limits = limits
    }

    /// Runs the pickle in `bytes` to its STOP and returns the value on top of the stack.
    public func run(_ bytes: UnsafeRawBufferPointer) throws -> PickleValue {
        var state = State(machine: self, reader: ByteReader(path: path, bytes: bytes, baseOffset: 0))
        do {
            return try state.run()
        } catch let error as ReadError {
            switch error {
            case let .truncated(_, offset, needed, remaining), let .outOfBounds(_, offset, needed, remaining):
                throw PickleError.truncated(path: path, entry: entry, offset: offset, needed: needed, remaining: remaining)
            case let .invalidUTF8(_, offset, _):
                throw PickleError.invalidString(path: path, entry: entry, offset: offset)
            }
        }
    }

    private struct State {
        let machine: PickleMachine
        var reader: ByteReader
        var stack: [PickleValue] = []
        var marks: [Int] = []
        var memo: [Int: PickleValue] = [:]
        var objects = 0
        /// Offset of the opcode being run.
        var at = 0
        var opcode: UInt8 = 0

        init(machine: PickleMachine, reader: ByteReader) {
            self.machine = machine
            self.reader = reader
        }

        var limits: Limits { machine.limits }

        func fail(_ problem: String) -> PickleError {
            .badOperand(path: machine.path, entry: machine.entry, offset: at, problem: problem)
        }

        func limit(_ what: String, _ value: Int) -> PickleError {
            .limitExceeded(path: machine.path, entry: machine.entry, offset: at, what: what, limit: value)
        }

        mutating func push(_ value: PickleValue) throws {
            objects += 1
            guard objects <= limits.maxObjects else { throw limit("objects", limits.maxObjects) }
            guard stack.count < limits.maxStackDepth else { throw limit("stack entries", limits.maxStackDepth) }
            stack.append(value)
        }

        mutating func pop() throws -> PickleValue {
            guard let floor = Optional(marks.last ?? 0), stack.count > floor, let value = stack.popLast() else {
                throw PickleError.stackUnderflow(path: machine.path, entry: machine.entry, offset: at, opcode: opcode)
            }
            return value
        }

        func top() throws -> PickleValue {
            guard stack.count > (marks.last ?? 0), let value = stack.last else {
                throw PickleError.stackUnderflow(path: machine.path, entry: machine.entry, offset: at, opcode: opcode)
            }
            return value
        }

        /// Pops everything above the last MARK, and the mark.
        mutating func popMark() throws -> [PickleValue] {
            guard let mark = marks.popLast() else {
                throw PickleError.stackUnderflow(path: machine.path, entry: machine.entry, offset: at, opcode: opcode)
            }
            let items = Array(stack[mark...])
            stack.removeSubrange(mark...)
            return items
        }

        mutating func memoize(_ index: Int) throws {
            let value = try top()
            if memo[index] == nil, memo.count >= limits.maxMemoEntries { throw limit("memo entries", limits.maxMemoEntries) }
            memo[index] = value
        }

        mutating func recall(_ index: Int) throws {
            guard let value = memo[index] else {
                throw PickleError.memoMiss(path: machine.path, entry: machine.entry, offset: at, index: index)
            }
            try push(value)
        }

        /// A length field: must fit in what remains (so nothing is allocated by a lie).
        mutating func length<T: FixedWidthInteger>(_: T.Type) throws -> Int {
            let raw = try reader.read(T.self)
            guard raw >= 0, UInt64(raw) <= UInt64(reader.remaining) else {
                throw PickleError.truncated(path: machine.path, entry: machine.entry, offset: reader.fileOffset,
                                            needed: raw < 0 ? -1 : Int(clamping: UInt64(raw)), remaining: reader.remaining)
            }
            return Int(raw)
        }

        mutating func text(_ count: Int) throws -> PickleValue {
            .string(try reader.string(count, what: "pickle string"))
        }

        mutating func data(_ count: Int) throws -> PickleValue {
            .bytes(Array(try reader.bytes(count)))
        }

        /// LONG1 / LONG4 payload: little-endian two's complement.
        mutating func longInteger(_ count: Int) throws -> PickleValue {
            let raw = try reader.bytes(count)
            guard count <= 8 else { return .bigInt(byteCount: count) }
            guard count > 0 else { return .int(0) }
            var value: UInt64 = 0
            for i in (0 ..< count).reversed() { value = value << 8 | UInt64(raw[i]) }
            if count < 8, raw[count - 1] & 0x80 != 0 { value |= ~0 << UInt64(count * 8) } // sign-extend
            return .int(Int(Int64(bitPattern: value)))
        }

        /// A GLOBAL line: printable ASCII up to `\n`, at most `maxNameBytes`.
        mutating func line() throws -> String {
            let start = reader.position
            let window = min(reader.remaining, limits.maxNameBytes + 1)
            for i in 0 ..< window where reader.bytes[start + i] == 0x0A {
                let raw = try reader.bytes(i)
                try reader.skip(1)
                guard raw.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                    throw PickleError.invalidString(path: machine.path, entry: machine.entry, offset: reader.baseOffset + start)
                }
                return String(decoding: raw, as: UTF8.self)
            }
            if window > limits.maxNameBytes { throw limit("bytes in a global name", limits.maxNameBytes) }
            throw PickleError.truncated(path: machine.path, entry: machine.entry, offset: reader.fileOffset,
                                        needed: window + 1, remaining: reader.remaining)
        }

        func resolve(_ module: String, _ name: String) throws -> PickleGlobal {
            guard let global = PickleGlobal.resolve(module: module, name: name) else {
                throw PickleError.forbiddenGlobal(path: machine.path, entry: machine.entry, offset: at, global: module + "." + name)
            }
            return global
        }

        mutating func run() throws -> PickleValue {
            while true {
                at = reader.fileOffset
                guard !reader.isAtEnd else { throw PickleError.missingStop(path: machine.path, entry: machine.entry, offset: at) }
                opcode = try reader.read(UInt8.self)
                switch opcode {
                case 0x80: // PROTO
                    let version = try reader.read(UInt8.self)
                    guard version <= 5 else { throw fail("unsupported pickle protocol \(version)") }
                case 0x95: // FRAME: a framing hint; the frame's opcodes follow inline
                    _ = try reader.read(UInt64.self)
                case 0x2E: // STOP
                    return try pop()

                case 0x63: // GLOBAL
                    let module = try line()
                    let name = try line()
                    try push(.global(try resolve(module, name)))
                case 0x93: // STACK_GLOBAL
                    let name = try pop()
                    let module = try pop()
                    guard case let .string(m) = module, case let .string(n) = name else {
                        throw fail("STACK_GLOBAL needs two strings, got \(module.kind) and \(name.kind)")
                    }
                    try push(.global(try resolve(m, n)))
                case 0x69: // INST: names a class like GLOBAL; refuse it by name if it is not allowed
                    let module = try line()
                    let name = try line()
                    _ = try resolve(module, name)
                    throw PickleError.unsupportedOpcode(path: machine.path, entry: machine.entry, offset: at, opcode: opcode)

                case 0x71: try memoize(Int(try reader.read(UInt8.self)))  // BINPUT
                case 0x72: try memoize(Int(try reader.read(UInt32.self))) // LONG_BINPUT
                case 0x94: try memoize(memo.count)                         // MEMOIZE
                case 0x68: try recall(Int(try reader.read(UInt8.self)))   // BINGET
                case 0x6A: try recall(Int(try reader.read(UInt32.self)))  // LONG_BINGET

                case 0x28: // MARK
                    guard marks.count < limits.maxStackDepth else { throw limit("marks", limits.maxStackDepth) }
                    marks.append(stack.count)
                case 0x30: _ = try pop() // POP
                case 0x31: _ = try popMark() // POP_MARK
                case 0x32: try push(try top()) // DUP

                case 0x7D: try push(.dict(PickleDict()))  // EMPTY_DICT
                case 0x5D: try push(.list(PickleList()))  // EMPTY_LIST
                case 0x29: try push(.tuple([]))           // EMPTY_TUPLE
                case 0x8F: try push(.list(PickleList()))  // EMPTY_SET (kept as a list)
                case 0x74: try push(.tuple(try popMark())) // TUPLE
                case 0x91: try push(.tuple(try popMark())) // FROZENSET (kept as a tuple)
                case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
                    var items: [PickleValue] = []
                    for _ in 0 ..< Int(opcode - 0x84) { items.append(try pop()) }
                    try push(.tuple(items.reversed()))

                case 0x73: // SETITEM
                    let value = try pop()
                    let key = try pop()
                    try setItems(on: try top(), [key, value])
                case 0x75: // SETITEMS
                    let items = try popMark()
                    guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number (\(items.count)) of items") }
                    try setItems(on: try top(), items)
                case 0x61: // APPEND
                    let value = try pop()
                    try append(to: try top(), [value])
                case 0x65, 0x90: // APPENDS, ADDITEMS
                    let items = try popMark()
                    try append(to: try top(), items)

                case 0x4A: try push(.int(Int(try reader.read(Int32.self))))  // BININT (signed)
                case 0x4B: try push(.int(Int(try reader.read(UInt8.self))))  // BININT1
                case 0x4D: try push(.int(Int(try reader.read(UInt16.self)))) // BININT2
                case 0x8A: try push(try longInteger(try length(UInt8.self)))  // LONG1
                case 0x8B: try push(try longInteger(try length(Int32.self)))  // LONG4
                case 0x47: try push(.float(Double(bitPattern: try reader.readBigEndian(UInt64.self)))) // BINFLOAT
                case 0x88: try push(.bool(true))  // NEWTRUE
                case 0x89: try push(.bool(false)) // NEWFALSE
                case 0x4E: try push(.none)        // NONE

                case 0x58: try push(try text(try length(UInt32.self)))  // BINUNICODE
                case 0x8C: try push(try text(try length(UInt8.self)))   // SHORT_BINUNICODE
                case 0x8D: try push(try text(try length(UInt64.self)))  // BINUNICODE8
                case 0x55, 0x54: // SHORT_BINSTRING, BINSTRING (Python 2 str; ASCII decodes to str)
                    let count = opcode == 0x55 ? try length(UInt8.self) : try length(Int32.self)
                    let raw = try reader.bytes(count)
                    try push(raw.allSatisfy { $0 < 0x80 } ? .string(String(decoding: raw, as: UTF8.self)) : .bytes(Array(raw)))
                case 0x42: try push(try data(try length(UInt32.self))) // BINBYTES
                case 0x43: try push(try data(try length(UInt8.self)))  // SHORT_BINBYTES
                case 0x8E: try push(try data(try length(UInt64.self))) // BINBYTES8

                case 0x51: // BINPERSID
                    try push(.storage(try persistentStorage(try pop())))
                case 0x52: // REDUCE
                    let args = try pop()
                    let callable = try pop()
                    try push(try reduce(callable, args))
                case 0x81: // NEWOBJ: cls.__new__(cls, *args); only OrderedDict
                    let args = try pop()
                    let cls = try pop()
                    guard case .global(.orderedDict) = cls, case .tuple = args else {
                        throw fail("NEWOBJ of \(cls.kind) is not supported")
                    }
                    try push(.dict(PickleDict()))
                case 0x62: // BUILD: state for a dict (Module.state_dict() metadata) or a tensor; discarded
                    let state = try pop()
                    let target = try top()
                    switch target {
                    case .dict, .tensor, .list: break
                    default: throw fail("BUILD with \(state.kind) state on \(target.kind)")
                    }
                default:
                    throw PickleError.unsupportedOpcode(path: machine.path, entry: machine.entry, offset: at, opcode: opcode)
                }
            }
        }

        func setItems(on target: PickleValue, _ items: [PickleValue]) throws {
            guard case let .dict(dict) = target else { throw fail("SETITEM(S) on \(target.kind), not a dict") }
            var i = 0
            while i < items.count {
                if case let .string(key) = items[i], key.utf8.count > limits.maxNameBytes {
                    throw limit("bytes in a dict key", limits.maxNameBytes)
                }
                dict.set(items[i], items[i + 1])
                i += 2
            }
        }

        func append(to target: PickleValue, _ items: [PickleValue]) throws {
            guard case let .list(list) = target else { throw fail("APPEND(S) on \(target.kind), not a list") }
            list.items.append(contentsOf: items)
        }

        /// `('storage', storage_type, key, location, numel)` → a storage reference.
        func persistentStorage(_ pid: PickleValue) throws -> PickleStorage {
            guard case let .tuple(items) = pid, items.count == 5, case .string("storage") = items[0] else {
                throw fail("persistent id is \(pid.kind), not a ('storage', type, key, location, numel) tuple")
            }
            let dtype: TorchDType?
            switch items[1] {
            case let .global(.typedStorage(d)): dtype = d
            case .global(.untypedStorage): dtype = nil
            default: throw fail("persistent id names \(items[1].kind), not a storage class")
            }
            guard case let .string(key) = items[2] else { throw fail("storage key is \(items[2].kind), not a string") }
            let location: String
            if case let .string(text) = items[3] { location = text } else { location = "?" }
            guard case let .int(numel) = items[4], numel >= 0 else { throw fail("storage \(key) has numel \(items[4].kind) that is not a count") }
            return PickleStorage(dtype: dtype, key: key, location: location, numel: numel)
        }

        func ints(_ value: PickleValue, _ what: String) throws -> [Int] {
            guard case let .tuple(items) = value else { throw fail("tensor \(what) is \(value.kind), not a tuple") }
            return try items.map {
                guard case let .int(n) = $0 else { throw fail("tensor \(what) holds \($0.kind), not an int") }
                return n
            }
        }

        /// Applies an allow-listed constructor to its arguments, as plain data.
        func reduce(_ callable: PickleValue, _ argsValue: PickleValue) throws -> PickleValue {
            guard case let .global(global) = callable else { throw fail("REDUCE on \(callable.kind), not a global") }
            guard case let .tuple(args) = argsValue else { throw fail("REDUCE arguments are \(argsValue.kind), not a tuple") }
            switch global {
            case .orderedDict:
                let dict = PickleDict()
                if let pairs = args.first {
                    let items: [PickleValue]
                    switch pairs {
                    case let .list(list): items = list.items
                    case let .tuple(tuple): items = tuple
                    default: throw fail("OrderedDict of \(pairs.kind)")
                    }
                    for pair in items {
                        guard case let .tuple(kv) = pair, kv.count == 2 else { throw fail("OrderedDict item is not a pair") }
                        try setItems(on: .dict(dict), kv)
                    }
                }
                return .dict(dict)
            case .rebuildTensorV2, .rebuildTensorV3:
                return .tensor(try rebuildTensor(v3: global == .rebuildTensorV3, args))
            case .rebuildParameter, .rebuildParameterWithState:
                guard args.count == (global == .rebuildParameter ? 3 : 4), case .tensor = args[0] else {
                    throw fail("_rebuild_parameter expects (tensor, requires_grad, hooks[, state])")
                }
                return args[0]
            case .rebuildFromTypeV2:
                guard args.count == 4, case let .global(function) = args[0], case .global(.tensorClass) = args[1] else {
                    throw fail("_rebuild_from_type_v2 expects (rebuild function, torch.Tensor, args, state)")
                }
                switch function {
                case .rebuildTensorV2, .rebuildTensorV3, .rebuildParameter, .rebuildParameterWithState:
                    return try reduce(args[0], args[2])
                default: throw fail("_rebuild_from_type_v2 of \(args[0].kind)")
                }
            case .codecsEncode:
                guard args.count == 2, case let .string(text) = args[0], case let .string(encoding) = args[1],
                      encoding == "latin1" || encoding == "latin-1" else {
                    throw fail("_codecs.encode expects (str, 'latin1')")
                }
                var out: [UInt8] = []
                for scalar in text.unicodeScalars {
                    guard scalar.value <= 0xFF else { throw fail("_codecs.encode: character outside latin1") }
                    out.append(UInt8(scalar.value))
                }
                return .bytes(out)
            case .tensorClass, .typedStorage, .untypedStorage, .dtype:
                throw fail("REDUCE on \(callable.kind), which is not a constructor")
            }
        }

        /// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`,
        /// `_rebuild_tensor_v3(…, hooks, dtype[, metadata])`.
        func rebuildTensor(v3: Bool, _ args: [PickleValue]) throws -> PickleTensor {
            let name = v3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2"
            let base = v3 ? 7 : 6
            guard args.count == base || args.count == base + 1 else {
                throw fail("\(name) expects \(base) or \(base + 1) arguments, got \(args.count)")
            }
            guard case let .storage(storage) = args[0] else { throw fail("\(name): argument 0 is \(args[0].kind), not a storage") }
            guard case let .int(offset) = args[1] else { throw fail("\(name): storage offset is \(args[1].kind), not an int") }
            let size = try ints(args[2], "size")
            let stride = try ints(args[3], "stride")
            var dtype = storage.dtype
            if v3 {
                guard case let .global(.dtype(d)) = args[6] else { throw fail("\(name): argument 6 is \(args[6].kind), not a dtype") }
                dtype = d
            }
            if args.count == base + 1 {
                // Metadata carries conj/neg bits; an empty dict (or None) means a plain tensor.
                switch args[base] {
                case .none: break
                case let .dict(dict) where dict.entries.isEmpty: break
                default: throw fail("\(name): tensor metadata (conj/neg bits) is not supported")
                }
            }
            return PickleTensor(storage: storage, dtype: dtype, storageOffset: offset, size: size, stride: stride, pickleOffset: at)
        }
    }
}
