import Foundation
import VigilDetection
import VigilSpool

/// Persists the Tier-1 state of every series, so a restarted agent does not warm up again: on daily bars a fresh
/// series needs weeks before it alerts at full sensitivity.
///
/// `SeriesDetector` is a fixed-size value with no references (512 bytes), so its bytes are the state. Those bytes are
/// only meaningful to the same build, so the file carries a fingerprint of the executable (size and modification
/// time) and the layout size; any mismatch, a bad CRC or a truncated file means "start fresh", never an error.
/// The pipeline writes it right after a seal (every processed bar is then in a durable batch, so the state matches the
/// resume checkpoint) at most every `agent.detector_snapshot_seconds`, and at shutdown.
enum DetectorSnapshot {
    static let magic: [UInt8] = Array("VGDS".utf8)
    static let version: UInt32 = 2

    /// Identifies a detector configuration, so restored series are re-parameterised only when it changed (a
    /// reconfigure recomputes the window sums, which moves scores in the last bits).
    static func fingerprint(_ configuration: DetectorConfig) -> UInt64 {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(configuration)) ?? Data()
        return bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    /// Identifies the running executable: a rebuilt or upgraded agent starts fresh instead of misreading bytes.
    static let buildFingerprint: UInt64 = {
        var info = stat()
        guard stat("/proc/self/exe", &info) == 0 else { return 0 }
        return UInt64(truncatingIfNeeded: info.st_size) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: info.st_mtim.tv_sec)
    }()

    static var isSupported: Bool { _isPOD(SeriesDetector.self) && buildFingerprint != 0 }

    static func encode(_ states: [(symbol: String, interval: Int32, detector: SeriesDetector)], configuration: DetectorConfig) -> [UInt8] {
        var out = magic
        append(version, to: &out)
        append(UInt32(MemoryLayout<SeriesDetector>.size), to: &out)
        append(buildFingerprint, to: &out)
        append(fingerprint(configuration), to: &out)
        append(UInt32(states.count), to: &out)
        for state in states {
            let symbol = Array(state.symbol.utf8.prefix(255))
            out.append(UInt8(symbol.count))
            out.append(contentsOf: symbol)
            append(UInt32(bitPattern: state.interval), to: &out)
            withUnsafeBytes(of: state.detector) { out.append(contentsOf: $0) }
        }
        append(CRC32C.checksum(out), to: &out)
        return out
    }

    /// The states in `bytes`, or nil when the file is from another build, damaged or not a snapshot.
    static func decode(_ bytes: [UInt8], configuration: DetectorConfig) -> [(symbol: String, interval: Int32, detector: SeriesDetector)]? {
        guard isSupported, bytes.count >= 36, Array(bytes[0..<4]) == magic else { return nil }
        let body = bytes[0..<(bytes.count - 4)]
        guard CRC32C.checksum(Array(body)) == read(UInt32.self, bytes, at: bytes.count - 4) else { return nil }
        guard read(UInt32.self, bytes, at: 4) == version, read(UInt32.self, bytes, at: 8) == UInt32(MemoryLayout<SeriesDetector>.size),
            read(UInt64.self, bytes, at: 12) == buildFingerprint
        else { return nil }
        let sameConfiguration = read(UInt64.self, bytes, at: 20) == fingerprint(configuration)
        let count = Int(read(UInt32.self, bytes, at: 28))
        var offset = 32
        var states: [(symbol: String, interval: Int32, detector: SeriesDetector)] = []
        states.reserveCapacity(min(count, 1_000_000))
        let size = MemoryLayout<SeriesDetector>.size
        for _ in 0..<count {
            guard offset < body.count else { return nil }
            let length = Int(bytes[offset])
            offset += 1
            guard offset + length + 4 + size <= body.count else { return nil }
            let symbol = String(decoding: bytes[offset..<(offset + length)], as: UTF8.self)
            offset += length
            let interval = Int32(bitPattern: read(UInt32.self, bytes, at: offset))
            offset += 4
            var detector = SeriesDetector(config: configuration)
            withUnsafeMutableBytes(of: &detector) { target in
                bytes.withUnsafeBytes { source in
                    target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + size)]))
                }
            }
            offset += size
            // Thresholds come from the running configuration, not from the file.
            if !sameConfiguration { detector.reconfigure(configuration) }
            states.append((symbol, interval, detector))
        }
        return offset == body.count ? states : nil
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func read<T: FixedWidthInteger>(_ type: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { target in
            bytes.withUnsafeBytes { target.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + MemoryLayout<T>.size)])) }
        }
        return T(littleEndian: value)
    }
}
