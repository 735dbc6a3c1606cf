import ServiceContextModule

/// W3C trace context of one span: what `traceparent` carries (https://www.w3.org/TR/trace-context/).
public struct SpanContext: Sendable, Hashable {
    public var traceIDHigh: UInt64
    public var traceIDLow: UInt64
    public var spanID: UInt64
    public var sampled: Bool

    public init(traceIDHigh: UInt64, traceIDLow: UInt64, spanID: UInt64, sampled: Bool = true) {
        self.traceIDHigh = traceIDHigh
        self.traceIDLow = traceIDLow
        self.spanID = spanID
        self.sampled = sampled
    }

    public var traceIDHex: String { hex(traceIDHigh) + hex(traceIDLow) }
    public var spanIDHex: String { hex(spanID) }

    /// Big-endian bytes, as OTLP carries ids.
    public var traceIDBytes: [UInt8] { bigEndianBytes(traceIDHigh) + bigEndianBytes(traceIDLow) }
    public var spanIDBytes: [UInt8] { bigEndianBytes(spanID) }

    /// `00-<trace id>-<span id>-<flags>`.
    public var traceparent: String { "00-\(traceIDHex)-\(spanIDHex)-\(sampled ? "01" : "00")" }

    /// Parses a `traceparent` header; nil for anything malformed, for version ff, and for all-zero ids, as the
    /// specification requires (the receiver then starts a new trace).
    public init?(traceparent: String) {
        let parts = traceparent.trimmingSpaces().split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
            let version = UInt8(parts[0], radix: 16), version != 0xff,
            parts.allSatisfy({ $0.allSatisfy(\.isHexDigit) && $0 == $0.lowercased() }),
            let high = UInt64(parts[1].prefix(16), radix: 16), let low = UInt64(parts[1].suffix(16), radix: 16),
            let span = UInt64(parts[2], radix: 16), let flags = UInt8(parts[3], radix: 16),
            high != 0 || low != 0, span != 0
        else { return nil }
        if version == 0 && parts.count != 4 { return nil }
        self.init(traceIDHigh: high, traceIDLow: low, spanID: span, sampled: flags & 1 == 1)
    }

    /// Builds a context from OTLP byte ids (16 and 8 bytes).
    public init?(traceID: some Collection<UInt8>, spanID: some Collection<UInt8>) {
        guard traceID.count == 16, spanID.count == 8 else { return nil }
        let trace = Array(traceID)
        let span = Array(spanID)
        self.init(
            traceIDHigh: fromBigEndian(trace[0..<8]), traceIDLow: fromBigEndian(trace[8..<16]), spanID: fromBigEndian(span[0..<8]))
    }
}

private func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

private func bigEndianBytes(_ value: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) }
}

private func fromBigEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 {
    bytes.reduce(0) { $0 << 8 | UInt64($1) }
}

extension StringProtocol {
    fileprivate func trimmingSpaces() -> Substring {
        var result = Substring(self)
        while result.first == " " || result.first == "\t" { result = result.dropFirst() }
        while result.last == " " || result.last == "\t" { result = result.dropLast() }
        return result
    }
}

/// Where the current span's context lives inside a `ServiceContext`.
public enum SpanContextKey: ServiceContextKey {
    public typealias Value = SpanContext
    public static var nameOverride: String? { "vigil.span-context" }
}

extension ServiceContext {
    public var spanContext: SpanContext? {
        get { self[SpanContextKey.self] }
        set { self[SpanContextKey.self] = newValue }
    }
}
