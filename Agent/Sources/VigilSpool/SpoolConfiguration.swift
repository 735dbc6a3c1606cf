// Vigil agent spool: configuration, its defaults and its validation.

/// Where and how the agent's disk spool keeps batches until the collector acknowledges them.
///
/// Every key may be left out of the agent's YAML: decoding falls back to the default of each missing key, so a config
/// written for an older agent keeps working. `validate()` lists every problem at once (as `vector validate` does), and
/// `Spool.init` refuses a configuration that has any.
public struct SpoolConfiguration: Sendable, Codable, Equatable {
    /// When an append is durable. The trade-off is latency per batch against what a power loss can take.
    public enum FsyncPolicy: String, Sendable, Codable, CaseIterable {
        /// `fdatasync` before every append returns: a batch the spool accepted survives a power loss. Default: batches
        /// are few (one every few seconds per agent), so one disk flush per batch is cheap and the agent's promise
        /// "no data lost across outages" holds without footnotes.
        case always
        /// `fdatasync` at most every `fsyncIntervalMilliseconds`, on the append that finds the interval elapsed and from
        /// `Spool.run()`: a power loss can take the last interval's batches. A process crash takes nothing (the data
        /// is already in the kernel's page cache).
        case interval
        /// Never `fdatasync`: the kernel writes back on its own schedule (~30 s on Linux). A process crash takes
        /// nothing, a power loss can take the last half minute. `Spool.flush()` still syncs on demand.
        case never
    }

    /// What an append does when the spool holds `maxTotalBytes`. Named like Vector's `when_full`.
    public enum WhenFull: String, Sendable, Codable, CaseIterable {
        /// Default: the append waits (without spinning) until an acknowledgement frees space. Backpressure reaches the
        /// batcher, which is what "survives collector outages without losing data" needs until the disk budget is
        /// spent.
        case block
        /// Delete the oldest segment (with its unacknowledged records) to make room. Intentional loss: counted in
        /// `vigil_agent_spool_dropped_records_total{reason="full_drop_oldest"}` and logged. For hosts where fresh data
        /// matters more than old data.
        case dropOldest = "drop_oldest"
    }

    /// Defaults, named so that docs, `validate()` messages and tests share one source.
    public static let defaultDirectory = "/var/lib/vigil-agent/spool"
    public static let defaultSegmentMaxBytes = 8 * 1024 * 1024
    public static let defaultMaxTotalBytes = 256 * 1024 * 1024
    public static let defaultFsync = FsyncPolicy.always
    public static let defaultFsyncIntervalMilliseconds = 100
    public static let defaultWhenFull = WhenFull.block

    /// Limits `validate()` enforces. A segment must hold at least one small record and its offsets must fit the
    /// on-disk `u32` length; one second-to-minute bound keeps `interval` meaningful.
    public static let segmentMaxBytesRange = 4096...(1 << 30)
    public static let fsyncIntervalMillisecondsRange = 1...60_000

    /// Key `directory`. Default `/var/lib/vigil-agent/spool`. Created (with parents) when missing. One `Spool` per
    /// directory at a time: a lock file enforces it.
    public var directory: String
    /// Key `segmentMaxBytes`. Default 8 MiB (8388608). A segment file is closed and a new one started when the next
    /// record would not fit. Disk space is reclaimed a whole segment at a time, so smaller segments free space sooner and
    /// larger ones mean fewer files. Also bounds one record: see `maxPayloadBytes`.
    public var segmentMaxBytes: Int
    /// Key `maxTotalBytes`. Default 256 MiB (268435456). The disk budget of all segments together; `whenFull` says
    /// what happens at the limit. Must be at least `segmentMaxBytes`.
    public var maxTotalBytes: Int
    /// Key `fsync`: `always` (default), `interval` or `never`. See `FsyncPolicy`.
    public var fsync: FsyncPolicy
    /// Key `fsyncIntervalMilliseconds`. Default 100. Used by `fsync: interval` only; 1...60000.
    public var fsyncIntervalMilliseconds: Int
    /// Key `whenFull`: `block` (default) or `dropOldest`. See `WhenFull`.
    public var whenFull: WhenFull

    public init(
        directory: String = SpoolConfiguration.defaultDirectory,
        segmentMaxBytes: Int = SpoolConfiguration.defaultSegmentMaxBytes,
        maxTotalBytes: Int = SpoolConfiguration.defaultMaxTotalBytes,
        fsync: FsyncPolicy = SpoolConfiguration.defaultFsync,
        fsyncIntervalMilliseconds: Int = SpoolConfiguration.defaultFsyncIntervalMilliseconds,
        whenFull: WhenFull = SpoolConfiguration.defaultWhenFull
    ) {
        self.directory = directory
        self.segmentMaxBytes = segmentMaxBytes
        self.maxTotalBytes = maxTotalBytes
        self.fsync = fsync
        self.fsyncIntervalMilliseconds = fsyncIntervalMilliseconds
        self.whenFull = whenFull
    }

    /// All defaults.
    public static let `default` = SpoolConfiguration()

    /// The largest payload one record may carry: a record never spans segments, so it is a segment minus the record
    /// header. The batcher should cut batches below this.
    public var maxPayloadBytes: Int {
        segmentMaxBytes - RecordFormat.headerBytes
    }

    /// Every problem with this configuration, as one readable line each; empty when it is usable. Pure: touches no
    /// file (whether the directory is writable is found out by `Spool.init`).
    public func validate() -> [String] {
        var problems: [String] = []
        if directory.isEmpty {
            problems.append("spool.directory must not be empty")
        }
        if directory.utf8.contains(0) {
            problems.append("spool.directory must not contain a NUL byte")
        }
        let segmentRange = Self.segmentMaxBytesRange
        if !segmentRange.contains(segmentMaxBytes) {
            problems.append(
                "spool.segmentMaxBytes is \(segmentMaxBytes); it must be between \(segmentRange.lowerBound) and \(segmentRange.upperBound)"
            )
        }
        if maxTotalBytes < segmentMaxBytes {
            problems.append(
                "spool.maxTotalBytes is \(maxTotalBytes); it must be at least spool.segmentMaxBytes (\(segmentMaxBytes)) so one full segment fits"
            )
        }
        let intervalRange = Self.fsyncIntervalMillisecondsRange
        if !intervalRange.contains(fsyncIntervalMilliseconds) {
            problems.append(
                "spool.fsyncIntervalMilliseconds is \(fsyncIntervalMilliseconds); it must be between \(intervalRange.lowerBound) and \(intervalRange.upperBound)"
            )
        }
        return problems
    }

    // MARK: Codable

    enum CodingKeys: String, CodingKey {
        case directory
        case segmentMaxBytes
        case maxTotalBytes
        case fsync
        case fsyncIntervalMilliseconds
        case whenFull
    }

    /// Decodes each key if present and keeps the default otherwise. Unknown enum values still fail, with the key path in
    /// the error: a typo in `fsync` must not silently become a weaker policy.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        if let value = try container.decodeIfPresent(String.self, forKey: .directory) {
            directory = value
        }
        if let value = try container.decodeIfPresent(Int.self, forKey: .segmentMaxBytes) {
            segmentMaxBytes = value
        }
        if let value = try container.decodeIfPresent(Int.self, forKey: .maxTotalBytes) {
            maxTotalBytes = value
        }
        if let value = try container.decodeIfPresent(FsyncPolicy.self, forKey: .fsync) {
            fsync = value
        }
        if let value = try container.decodeIfPresent(Int.self, forKey: .fsyncIntervalMilliseconds) {
            fsyncIntervalMilliseconds = value
        }
        if let value = try container.decodeIfPresent(WhenFull.self, forKey: .whenFull) {
            whenFull = value
        }
    }
}
