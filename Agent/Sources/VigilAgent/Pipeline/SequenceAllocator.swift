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
            try StateFile.write(Array((String(newReservation) + "\n").utf8), to: path)
            reserved = newReservation
        }
        defer { next += 1 }
        return next
    }
}
