// Vigil spool tests: the CRC-32C implementation against its check value and a bitwise reference.

import Testing
import VigilSpool

@Suite("CRC-32C")
struct CRC32CTests {
    /// The textbook bit-at-a-time CRC-32C, to check the sliced version against.
    static func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 {
                crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
            }
        }
        return ~crc
    }

    @Test("Check value of \"123456789\" is 0xE3069283 (RFC 3720)")
    func checkValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        // RFC 3720 B.4: 32 bytes of zeros.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    @Test("Matches the bitwise reference at every length and alignment, and chains")
    func matchesReference() {
        var generator = SplitMix64(seed: 7)
        let data = (0..<600).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        for start in 0..<9 {
            for length in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 200, 591 - start] {
                let slice = Array(data[start..<(start + length)])
                let expected = Self.reference(slice)
                let actual = data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + length)])) }
                #expect(actual == expected, "start \(start) length \(length)")
                let split = length / 3
                let chained = CRC32C.checksum(Array(slice[split...]), continuing: CRC32C.checksum(Array(slice[..<split])))
                #expect(chained == expected, "chained at \(split) of \(length)")
            }
        }
    }

    @Test("The test payload generator matches the crash writer's copy")
    func crashPayloadCopiesAreIdentical() throws {
        // The crash test recomputes the writer's payloads; the two copies of the generator must not drift.
        let testsFile = #filePath.replacingOccurrences(of: "CRC32CTests.swift", with: "CrashPayload.swift")
        let writerFile = #filePath.replacingOccurrences(of: "SpoolTests/CRC32CTests.swift", with: "Tools/spool-crash-writer/CrashPayload.swift")
        let code = { (path: String) -> [Substring] in
            readFile(path).split(separator: UInt8(ascii: "\n")).dropFirst(2).map { Substring(decoding: $0, as: UTF8.self) }
        }
        let writerCode = code(writerFile)
        try #require(!writerCode.isEmpty, "cannot read \(writerFile)")
        #expect(code(testsFile) == writerCode)
        let payload = CrashPayload.payload(for: 1)
        #expect((CrashPayload.minimumBytes...CrashPayload.maximumBytes).contains(payload.count))
        #expect(payload == CrashPayload.payload(for: 1))
        #expect(payload != CrashPayload.payload(for: 2))
    }
}
