import Foundation

/// Hands out the agent's batch sequence numbers so that they keep increasing across restarts, crashes included.
///
/// Writing the counter on every batch would add an fsync per batch. Instead the allocator persists a reservation
/// (`reserved`, a block of `blockSize` numbers ahead) and hands numbers out of it from memory; after a crash the next
/// process starts above the reservation. Numbers may skip (the collector only needs them to increase: it keeps a
/// high-water mark), but they never repeat, which is what exactly-once needs.
public struct SequenceAllocator {
    public let path: String
    public let blockSize: UInt64
    private var next: UInt64
    private var reserved: UInt64

    /// - Parameters:
    ///   - path: the state file (`<data_dir>/sequence`).
    ///   - floor: the highest sequence known to be used elsewhere (the spool's last record), so a lost state file
    ///     still cannot make numbers repeat.
    public init(path: String, floor: UInt64 = 0, blockSize: UInt64 = 1024) throws {
        self.path = path
        self.blockSize = max(1, blockSize)
        var persisted: UInt64 = 0
        if let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let value = UInt64(text) else {
                throw AgentError(code: .state, message: "sequence state file \(path) is not a number: \(text.prefix(40))")
            }
            persisted = value
        }
        next = max(persisted, floor) + 1
        reserved = next - 1
    }

    /// The next sequence number; persists a new reservation first when the current block is used up.
    public mutating func allocate() throws -> UInt64 {
        if next > reserved {
            let newReservation = next + blockSize - 1
            try Self.writeDurably(String(newReservation) + "\n", to: path)
            reserved = newReservation
        }
        defer { next += 1 }
        return next
    }

    /// Writes via a temporary file, fsync and rename, so the file is either the old or the new number, never torn.
    static func writeDurably(_ text: String, to path: String, sync: Bool = true) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw AgentError(code: .state, message: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
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
