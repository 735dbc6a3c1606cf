// Vigil spool tests: configuration defaults, decoding fallbacks and validation.

import Foundation
import Testing
import VigilSpool

@Suite("Spool configuration")
struct SpoolConfigurationTests {
    @Test("Defaults are the documented ones and valid")
    func defaults() {
        let configuration = SpoolConfiguration.default
        #expect(configuration.directory == "/var/lib/vigil-agent/spool")
        #expect(configuration.segmentMaxBytes == 8 * 1024 * 1024)
        #expect(configuration.maxTotalBytes == 256 * 1024 * 1024)
        #expect(configuration.fsync == .always)
        #expect(configuration.fsyncIntervalMilliseconds == 100)
        #expect(configuration.whenFull == .block)
        #expect(configuration.validate().isEmpty)
        #expect(configuration.maxPayloadBytes == 8 * 1024 * 1024 - Spool.recordHeaderBytes)
    }

    @Test("validate() lists every problem, not just the first")
    func validateListsAllProblems() {
        let configuration = SpoolConfiguration(
            directory: "",
            segmentMaxBytes: 100,
            maxTotalBytes: 50,
            fsync: .interval,
            fsyncIntervalMilliseconds: 0
        )
        let problems = configuration.validate()
        #expect(problems.count == 4, "\(problems)")
        #expect(problems.contains { $0.contains("spool.directory") })
        #expect(problems.contains { $0.contains("spool.segmentMaxBytes is 100") })
        #expect(problems.contains { $0.contains("spool.maxTotalBytes is 50") })
        #expect(problems.contains { $0.contains("spool.fsyncIntervalMilliseconds is 0") })

        let tooLarge = SpoolConfiguration(directory: "/x", segmentMaxBytes: 2 << 30, maxTotalBytes: 4 << 30, fsyncIntervalMilliseconds: 120_000)
        #expect(tooLarge.validate().count == 2, "\(tooLarge.validate())")
    }

    @Test("Spool.init refuses an invalid configuration with all problems in the message")
    func initRejectsInvalidConfiguration() throws {
        let directory = TemporaryDirectory()
        let configuration = SpoolConfiguration(directory: directory.spool, segmentMaxBytes: 10, maxTotalBytes: 5)
        let error = try #require(throws: SpoolError.self) {
            try Spool(configuration: configuration, logger: RecordingLogs().logger)
        }
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains("segmentMaxBytes") && error.message.contains("maxTotalBytes"))
        #expect(!error.isRetryable)
    }

    @Test("Missing keys decode to their defaults")
    func decodingFallsBackToDefaults() throws {
        let empty = try JSONDecoder().decode(SpoolConfiguration.self, from: Data("{}".utf8))
        #expect(empty == .default)

        let partial = try JSONDecoder().decode(
            SpoolConfiguration.self,
            from: Data(#"{"directory": "/data/spool", "fsync": "interval", "whenFull": "drop_oldest"}"#.utf8)
        )
        #expect(partial.directory == "/data/spool")
        #expect(partial.fsync == .interval)
        #expect(partial.whenFull == .dropOldest)
        #expect(partial.segmentMaxBytes == SpoolConfiguration.defaultSegmentMaxBytes)
        #expect(partial.maxTotalBytes == SpoolConfiguration.defaultMaxTotalBytes)
        #expect(partial.fsyncIntervalMilliseconds == SpoolConfiguration.defaultFsyncIntervalMilliseconds)
    }

    @Test("An unknown policy name fails decoding instead of falling back")
    func unknownEnumValueFails() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(SpoolConfiguration.self, from: Data(#"{"fsync": "sometimes"}"#.utf8))
        }
    }

    @Test("Encoding round-trips")
    func roundTrip() throws {
        let configuration = SpoolConfiguration(
            directory: "/d",
            segmentMaxBytes: 65536,
            maxTotalBytes: 1 << 24,
            fsync: .never,
            fsyncIntervalMilliseconds: 250,
            whenFull: .dropOldest
        )
        let decoded = try JSONDecoder().decode(SpoolConfiguration.self, from: JSONEncoder().encode(configuration))
        #expect(decoded == configuration)
    }
}
