import Foundation

/// A fresh temporary folder for one test, removed on deinit (or earlier by `remove()`).
final class TempFolder {
    let url: URL
    var path: String { url.path }

    /// `inMemory` puts the folder on /dev/shm when there is one (many rewrites of one file).
    init(inMemory: Bool = false) {
        var isFolder: ObjCBool = false
        let shm = inMemory && FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isFolder) && isFolder.boolValue
        let base = shm ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        url = base.appendingPathComponent("llama-convert-test-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { remove() }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = url.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}
