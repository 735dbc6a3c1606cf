/// What the agent keeps in its spool for one batch: the encoded `vigil.v1.Batch` plus the little the shipper needs
/// without decoding it (bar count for metrics, the traceparent for the HTTP header).
///
/// Layout: `0x56 'V'`, version `1`, u8 traceparent length, traceparent bytes, u32 little-endian bar count, batch bytes.
public struct SpooledBatch: Sendable, Equatable {
    public var traceparent: String
    public var barCount: Int
    public var batch: [UInt8]

    public init(traceparent: String, barCount: Int, batch: [UInt8]) {
        self.traceparent = traceparent
        self.barCount = barCount
        self.batch = batch
    }

    static let magic: UInt8 = 0x56
    static let version: UInt8 = 1

    public func encoded() -> [UInt8] {
        let traceBytes = Array(traceparent.utf8.prefix(255))
        var out: [UInt8] = []
        out.reserveCapacity(batch.count + traceBytes.count + 7)
        out.append(Self.magic)
        out.append(Self.version)
        out.append(UInt8(traceBytes.count))
        out.append(contentsOf: traceBytes)
        let count = UInt32(clamping: barCount)
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: count >> UInt32(shift))) }
        out.append(contentsOf: batch)
        return out
    }

    public init(decoding bytes: [UInt8]) throws {
        guard bytes.count >= 7, bytes[0] == Self.magic, bytes[1] == Self.version else {
            throw AgentError(code: .input, message: "spool record is not a Vigil batch envelope (version \(bytes.count > 1 ? Int(bytes[1]) : -1))")
        }
        let traceLength = Int(bytes[2])
        let countOffset = 3 + traceLength
        guard bytes.count >= countOffset + 4 else { throw AgentError(code: .input, message: "spool record envelope is truncated") }
        traceparent = String(decoding: bytes[3..<countOffset], as: UTF8.self)
        var count: UInt32 = 0
        for index in 0..<4 { count |= UInt32(bytes[countOffset + index]) << UInt32(8 * index) }
        barCount = Int(count)
        batch = Array(bytes[(countOffset + 4)...])
    }
}
