import Foundation

/// The agent's small state files (sequence reservation, resume checkpoint, detector state), replaced atomically.
enum StateFile {
    /// Writes via a temporary file, fsync and rename, so the file holds either the old or the new content, never a torn
    /// mix. `sync: false` skips both fsyncs where the caller's durability policy does.
    static func write(_ bytes: [UInt8], to path: String, sync: Bool = true) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw AgentError(code: .state, message: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        let synced = sync ? fsync(fd) : 0
        close(fd)
        guard written == bytes.count, synced == 0 else {
            throw AgentError(code: .state, message: "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, path) == 0 else {
            throw AgentError(code: .state, message: "cannot rename \(temporary): \(String(cString: strerror(errno)))")
        }
        // The rename itself must reach the disk: fsync the directory.
        guard sync else { return }
        let directory = open((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent, O_RDONLY)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }
}
