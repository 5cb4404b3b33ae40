import Foundation
import Testing
@testable import LlamaConvert

@Suite("Restricted pickle machine")
struct PickleMachineTests {
    func run(_ bytes: [UInt8], limits: PickleMachine.Limits = PickleMachine.Limits()) throws -> PickleValue {
        try bytes.withUnsafeBytes { try PickleMachine(path: "/m/x.pth", entry: "x/data.pkl", limits: limits).run($0) }
    }

    func refusal(_ bytes: [UInt8], limits: PickleMachine.Limits = PickleMachine.Limits()) -> PickleError? {
        do {
            _ = try run(bytes, limits: limits)
            return nil
        } catch let error as PickleError {
            #expect(error.description.hasPrefix("/m/x.pth: x/data.pkl offset "), "\(error)")
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    func int(_ value: PickleValue) -> Int? { if case let .int(n) = value { return n } else { return nil } }

    @Test("BININT is signed, BININT1/2 unsigned, LONG1 two's complement, BINFLOAT big-endian")
    func numbers() throws {
        var p = PickleBytes()
        p.proto(); p.mark()
        p.op(0x4A); p.u32(0xFFFF_FFFE)     // -2
        p.op(0x4B); p.op(0xFF)             // 255
        p.op(0x4D); p.u16(0xFFFF)          // 65535
        p.op(0x8A); p.op(5); p.bytes += [0, 0, 0, 0, 1] // 2^32
        p.op(0x8A); p.op(1); p.bytes += [0xFF]          // -1
        p.op(0x8A); p.op(0)                             // 0
        p.op(0x8A); p.op(9); p.bytes += [UInt8](repeating: 1, count: 9) // too wide for Int
        p.op(0x47); p.bytes += [0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18] // pi
        p.op(0x88); p.op(0x89); p.op(0x4E)
        p.op(0x74); p.stop()
        guard case let .tuple(items) = try run(p.bytes) else { Issue.record("not a tuple"); return }
        #expect(items.count == 11)
        #expect(items[0 ..< 6].map(int) == [-2, 255, 65535, 1 << 32, -1, 0])
        if case let .bigInt(n) = items[6] { #expect(n == 9) } else { Issue.record("expected bigInt") }
        if case let .float(x) = items[7] { #expect(x == Double.pi) } else { Issue.record("expected float") }
        if case .bool(true) = items[8], case .bool(false) = items[9], case .none = items[10] {} else { Issue.record("bools/None") }
    }

    @Test("strings and bytes: BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, SHORT_BINSTRING, BINSTRING, BINBYTES*")
    func stringsAndBytes() throws {
        var p = PickleBytes()
        p.proto(4); p.op(0x95); p.u64(100) // FRAME is only a hint
        p.mark()
        p.string("héllo")
        p.shortString("ab")
        p.op(0x8D); p.u64(3); p.bytes += Array("xyz".utf8)
        p.op(0x55); p.op(2); p.bytes += Array("hi".utf8)
        p.op(0x54); p.u32(1); p.bytes += [UInt8(ascii: "q")]
        p.op(0x42); p.u32(2); p.bytes += [0xDE, 0xAD]
        p.op(0x43); p.op(1); p.bytes += [0x01]
        p.op(0x8E); p.u64(1); p.bytes += [0x02]
        p.op(0x74); p.stop()
        guard case let .tuple(items) = try run(p.bytes) else { Issue.record("not a tuple"); return }
        let texts = items.compactMap { if case let .string(s) = $0 { return s } else { return nil } }
        let blobs = items.compactMap { if case let .bytes(b) = $0 { return b } else { return nil } }
        #expect(texts == ["héllo", "ab", "xyz", "hi", "q"])
        #expect(blobs == [[0xDE, 0xAD], [0x01], [0x02]])
    }

    @Test("tuples, lists, dicts: MARK/TUPLE/TUPLE1-3, APPEND(S), SETITEM(S), memo puts and gets")
    func containers() throws {
        var p = PickleBytes()
        p.proto()
        p.op(0x7D); p.binput(0)                     // {}
        p.string("list"); p.op(0x5D); p.longBinput(300)
        p.int(1); p.op(0x61)                        // APPEND
        p.mark(); p.int(2); p.int(3); p.op(0x65)    // APPENDS
        p.op(0x73)                                  // d["list"] = [1,2,3]
        p.mark()
        p.string("t1"); p.int(1); p.op(0x85)
        p.string("t2"); p.int(1); p.int(2); p.op(0x86)
        p.string("t3"); p.int(1); p.int(2); p.int(3); p.op(0x87)
        p.string("same"); p.longBinget(300)         // the same list object
        p.op(0x75)                                  // SETITEMS
        p.binget(0); p.string("late"); p.op(0x94); p.op(0x29); p.op(0x73); p.op(0x30) // memoize, set on memo'd dict, POP
        p.stop()
        guard case let .dict(d) = try run(p.bytes) else { Issue.record("not a dict"); return }
        #expect(d.entries.compactMap { if case let .string(s) = $0.key { return s } else { return nil } } == ["list", "t1", "t2", "t3", "same", "late"])
        guard case let .list(list)? = d["list"], case let .list(same)? = d["same"] else { Issue.record("lists"); return }
        #expect(list === same)
        #expect(list.items.map(int) == [1, 2, 3])
        if case let .tuple(t)? = d["t3"] { #expect(t.map(int) == [1, 2, 3]) } else { Issue.record("t3") }
    }

    @Test("a repeated string key replaces the value and keeps its place")
    func repeatedKey() throws {
        var p = PickleBytes()
        p.proto(); p.op(0x7D); p.mark()
        p.string("a"); p.int(1); p.string("b"); p.int(2); p.string("a"); p.int(3)
        p.op(0x75); p.stop()
        guard case let .dict(d) = try run(p.bytes) else { Issue.record("not a dict"); return }
        #expect(d.entries.count == 2)
        #expect(d["a"].flatMap(int) == 3)
    }

    @Test("SETITEMS in several batches of 1000 builds one dict of 2500 entries")
    func manyBatches() throws {
        let tensors = (0 ..< 2500).map { PickleBytes.Tensor(name: "t\($0)", key: "\($0)", numel: 1, size: [1], stride: [1]) }
        guard case let .dict(d) = try run(PickleBytes.stateDict(tensors)) else { Issue.record("not a dict"); return }
        #expect(d.entries.count == 2500)
        guard case let .tensor(t)? = d["t2499"] else { Issue.record("no tensor"); return }
        #expect(t.storage.key == "2499")
    }

    @Test("a torch state dict gives tensors with storage, offset, size and stride")
    func rebuildTensor() throws {
        let bytes = PickleBytes.stateDict([
            .init(name: "w", storageClass: "BFloat16Storage", key: "0", numel: 24, offset: 12, size: [3, 4], stride: [4, 1]),
            .init(name: "big", storageClass: "HalfStorage", key: "1", numel: 3_000_000_000, offset: 70000, size: [6, 4], stride: [1, 6]),
        ])
        guard case let .dict(d) = try run(bytes), case let .tensor(w)? = d["w"], case let .tensor(big)? = d["big"] else {
            Issue.record("no tensors"); return
        }
        #expect(w.storage == PickleStorage(dtype: TorchDType(name: "bfloat16", elementSize: 2), key: "0", location: "cpu", numel: 24))
        #expect(w.storageOffset == 12 && w.size == [3, 4] && w.stride == [4, 1])
        #expect(big.storage.numel == 3_000_000_000 && big.storageOffset == 70000 && big.stride == [1, 6])
        #expect(big.dtype?.ggmlType == .f16)
    }

    @Test("protocol 4: STACK_GLOBAL, SHORT_BINUNICODE and MEMOIZE resolve allow-listed globals")
    func protocol4() throws {
        var p = PickleBytes()
        p.proto(4)
        p.shortString("collections"); p.op(0x94); p.shortString("OrderedDict"); p.op(0x94); p.op(0x93); p.op(0x94)
        p.op(0x29); p.op(0x52); p.op(0x94)
        p.stop()
        guard case .dict = try run(p.bytes) else { Issue.record("not a dict"); return }
    }

    @Test("_rebuild_parameter and _rebuild_from_type_v2 unwrap to the tensor; NEWOBJ makes an OrderedDict")
    func wrappers() throws {
        func tensorArgs(_ p: inout PickleBytes) {
            p.mark()
            p.mark(); p.string("storage"); p.global("torch", "FloatStorage"); p.string("0"); p.string("cpu"); p.int(4); p.op(0x74)
            p.op(0x51); p.int(0); p.intTuple([4]); p.intTuple([1]); p.op(0x89)
            p.global("collections", "OrderedDict"); p.op(0x29); p.op(0x81) // NEWOBJ
            p.op(0x74)
        }
        var q = PickleBytes()
        q.proto(); q.op(0x7D)
        q.string("param")
        q.global("torch._utils", "_rebuild_parameter")
        q.global("torch._utils", "_rebuild_tensor_v2"); tensorArgs(&q); q.op(0x52)
        q.op(0x88); q.global("collections", "OrderedDict"); q.op(0x29); q.op(0x52); q.op(0x87); q.op(0x52)
        q.op(0x73)
        q.string("sub")
        q.global("torch._tensor", "_rebuild_from_type_v2")
        q.mark(); q.global("torch._utils", "_rebuild_tensor_v2"); q.global("torch", "Tensor"); tensorArgs(&q); q.op(0x7D); q.op(0x74)
        q.op(0x52); q.op(0x73)
        q.stop()
        guard case let .dict(d) = try run(q.bytes), case .tensor? = d["param"], case .tensor? = d["sub"] else {
            Issue.record("wrappers did not unwrap"); return
        }
    }

    @Test("_codecs.encode(str, 'latin1') gives bytes (protocol 2 bytes)")
    func codecsEncode() throws {
        var p = PickleBytes()
        p.proto(); p.global("_codecs", "encode"); p.string("\u{FF}a"); p.string("latin1"); p.op(0x86); p.op(0x52); p.stop()
        guard case let .bytes(b) = try run(p.bytes) else { Issue.record("not bytes"); return }
        #expect(b == [0xFF, 0x61])
    }

    @Test("forbidden globals are refused at the GLOBAL opcode, naming module.name and the offset",
          arguments: [("posix", "system"), ("os", "system"), ("builtins", "eval"), ("nt", "system"), ("torch", "load"), ("collections", "Counter")])
    func forbiddenGlobal(module: String, name: String) {
        var p = PickleBytes()
        p.proto(); p.string("x"); p.global(module, name); p.string("touch /tmp/llama-convert-pwned"); p.op(0x85); p.op(0x52); p.stop()
        let error = refusal(p.bytes)
        #expect(error == .forbiddenGlobal(path: "/m/x.pth", entry: "x/data.pkl", offset: 8, global: "\(module).\(name)"))
        #expect(error?.description.contains("\(module).\(name)") == true)
    }

    @Test("STACK_GLOBAL of a forbidden name and INST are refused by name too")
    func forbiddenStackGlobal() {
        var p = PickleBytes()
        p.proto(4); p.shortString("posix"); p.shortString("system"); p.op(0x93); p.stop()
        #expect(refusal(p.bytes) == .forbiddenGlobal(path: "/m/x.pth", entry: "x/data.pkl", offset: 17, global: "posix.system"))
        var q = PickleBytes()
        q.proto(); q.mark(); q.op(0x69); q.bytes += Array("os\nsystem\n".utf8); q.stop()
        #expect(refusal(q.bytes) == .forbiddenGlobal(path: "/m/x.pth", entry: "x/data.pkl", offset: 3, global: "os.system"))
    }

    @Test("unknown and refused opcodes name the opcode", arguments: [UInt8(0xFF), 0x96, 0x97, 0x92, 0x49, 0x50])
    func unknownOpcode(code: UInt8) {
        #expect(refusal([0x80, 0x02, code, 0x2E]) == .unsupportedOpcode(path: "/m/x.pth", entry: "x/data.pkl", offset: 2, opcode: code))
    }

    @Test("stack underflow: STOP, REDUCE, SETITEM, TUPLE3 on too few items; TUPLE without MARK")
    func underflow() {
        for code: UInt8 in [0x2E, 0x52, 0x73, 0x87, 0x74, 0x75, 0x51, 0x62] {
            #expect(refusal([0x80, 0x02, code, 0x2E]) == .stackUnderflow(path: "/m/x.pth", entry: "x/data.pkl", offset: 2, opcode: code))
        }
        // Items below a MARK are out of reach until the mark is popped.
        #expect(refusal([0x80, 0x02, 0x4E, 0x28, 0x85, 0x2E]) == .stackUnderflow(path: "/m/x.pth", entry: "x/data.pkl", offset: 4, opcode: 0x85))
    }

    @Test("BINGET of an index never put is a memo miss")
    func memoMiss() {
        #expect(refusal([0x80, 0x02, 0x68, 7, 0x2E]) == .memoMiss(path: "/m/x.pth", entry: "x/data.pkl", offset: 2, index: 7))
        #expect(refusal([0x80, 0x02, 0x6A, 0, 1, 0, 0, 0x2E]) == .memoMiss(path: "/m/x.pth", entry: "x/data.pkl", offset: 2, index: 256))
    }

    @Test("huge string and bytes lengths are refused against the bytes left, before allocating")
    func hugeLengths() {
        for prefix: [UInt8] in [[0x58, 0xFF, 0xFF, 0xFF, 0xFF], [0x8D] + [UInt8](repeating: 0xFF, count: 8),
                                [0x8E, 0, 0, 0, 0, 0, 0, 0, 0x80], [0x42, 0, 0, 0, 0x7F], [0x54, 0xFF, 0xFF, 0xFF, 0xFF],
                                [0x8B, 0xFF, 0xFF, 0xFF, 0x7F], [0x8C, 200]] {
            guard case let .truncated(_, _, offset, _, _)? = refusal([0x80, 0x04] + prefix + [0x2E]) else {
                Issue.record("no truncation error for \(prefix)"); continue
            }
            #expect(offset > 2)
        }
    }

    @Test("a pickle without STOP, or cut inside an opcode, is refused")
    func missingStop() {
        #expect(refusal([0x80, 0x02, 0x4E]) == .missingStop(path: "/m/x.pth", entry: "x/data.pkl", offset: 3))
        guard case .truncated? = refusal([0x80, 0x02, 0x4A, 0x01]) else { Issue.record("cut BININT"); return }
        guard case .truncated? = refusal([0x80, 0x02, 0x63] + Array("collections\nOrderedDi".utf8)) else { Issue.record("cut GLOBAL"); return }
    }

    @Test("caps on objects, stack depth and memo size stop a hostile pickle")
    func caps() {
        var limits = PickleMachine.Limits()
        limits.maxObjects = 100
        let many = [0x80, 0x02, 0x28] + [UInt8](repeating: 0x4E, count: 200) + [0x74, 0x2E]
        #expect(refusal(many, limits: limits) == .limitExceeded(path: "/m/x.pth", entry: "x/data.pkl", offset: 103, what: "objects", limit: 100))
        limits = PickleMachine.Limits()
        limits.maxStackDepth = 10
        guard case .limitExceeded(_, _, _, "stack entries", 10)? = refusal(many, limits: limits) else { Issue.record("stack cap"); return }
        limits = PickleMachine.Limits()
        limits.maxMemoEntries = 3
        var p = PickleBytes()
        p.proto(); p.op(0x4E)
        for i in 0 ..< 5 { p.binput(UInt8(i)) }
        p.stop()
        guard case .limitExceeded(_, _, _, "memo entries", 3)? = refusal(p.bytes, limits: limits) else { Issue.record("memo cap"); return }
        // A global name line longer than the cap is refused without scanning further.
        limits = PickleMachine.Limits()
        limits.maxNameBytes = 16
        guard case .limitExceeded? = refusal([0x80, 0x02, 0x63] + [UInt8](repeating: 0x61, count: 100) + [0x0A, 0x2E], limits: limits) else {
            Issue.record("name cap"); return
        }
    }

    @Test("operands of the wrong kind are refused: SETITEM on a list, REDUCE on a string, persistent id not a storage")
    func badOperands() {
        let cases: [[UInt8]] = [
            [0x80, 0x02, 0x5D, 0x4E, 0x4E, 0x73, 0x2E],                    // SETITEM on a list
            [0x80, 0x02, 0x7D, 0x4E, 0x61, 0x2E],                          // APPEND on a dict
            [0x80, 0x02, 0x58, 1, 0, 0, 0, 0x61, 0x29, 0x52, 0x2E],        // REDUCE on a str
            [0x80, 0x02, 0x4B, 1, 0x51, 0x2E],                             // BINPERSID of an int
            [0x80, 0x02, 0x4E, 0x4E, 0x62, 0x2E],                          // BUILD on None
            [0x80, 0x02, 0x28, 0x4E, 0x75, 0x2E],                          // SETITEMS with an odd count (after a dict below)
        ]
        for bytes in cases.dropLast() {
            guard case .badOperand? = refusal(bytes) else { Issue.record("no badOperand for \(bytes)"); continue }
        }
        guard case .badOperand? = refusal([0x80, 0x02, 0x7D, 0x28, 0x4E, 0x75, 0x2E]) else { Issue.record("odd SETITEMS"); return }
        // _rebuild_tensor_v2 with the wrong number of arguments.
        var p = PickleBytes()
        p.proto(); p.global("torch._utils", "_rebuild_tensor_v2"); p.int(1); p.op(0x85); p.op(0x52); p.stop()
        guard case let .badOperand(_, _, _, problem)? = refusal(p.bytes) else { Issue.record("rebuild arity"); return }
        #expect(problem.contains("_rebuild_tensor_v2"))
        // A storage class is not callable.
        var q = PickleBytes()
        q.proto(); q.global("torch", "FloatStorage"); q.op(0x29); q.op(0x52); q.stop()
        guard case .badOperand? = refusal(q.bytes) else { Issue.record("storage call"); return }
    }

    @Test("invalid UTF-8 in BINUNICODE and non-printable GLOBAL lines are refused")
    func invalidStrings() {
        #expect(refusal([0x80, 0x02, 0x58, 2, 0, 0, 0, 0xC3, 0x28, 0x2E]) == .invalidString(path: "/m/x.pth", entry: "x/data.pkl", offset: 7))
        guard case .invalidString? = refusal([0x80, 0x02, 0x63, 0x01, 0x0A, 0x61, 0x0A, 0x2E]) else { Issue.record("GLOBAL"); return }
    }

    @Test("the allow-list resolves only the listed names")
    func allowList() {
        #expect(PickleGlobal.resolve(module: "torch._utils", name: "_rebuild_tensor_v2") == .rebuildTensorV2)
        #expect(PickleGlobal.resolve(module: "torch", name: "BFloat16Storage") == .typedStorage(TorchDType(name: "bfloat16", elementSize: 2)))
        #expect(PickleGlobal.resolve(module: "torch.storage", name: "UntypedStorage") == .untypedStorage)
        #expect(PickleGlobal.resolve(module: "torch", name: "bfloat16") == .dtype(TorchDType(name: "bfloat16", elementSize: 2)))
        #expect(PickleGlobal.resolve(module: "torch.tensor", name: "_rebuild_from_type_v2") == .rebuildFromTypeV2)
        for (m, n) in [("torch", "load"), ("torch", "save"), ("builtins", "getattr"), ("torch._utils", "_rebuild_qtensor"),
                       ("torch.storage", "_load_from_bytes"), ("torch", "_utils"), ("os", "system"), ("subprocess", "Popen")] {
            #expect(PickleGlobal.resolve(module: m, name: n) == nil, "\(m).\(n)")
        }
    }
}
