/// The Tier-1 detectors. Raw values are the names used on the wire, in configs, in backtest CSVs and in metric labels,
/// so they never change once shipped.
public enum DetectorKind: String, CaseIterable, Sendable, Codable, Hashable {
    /// |return − rolling mean| / rolling std over a fixed window of past returns.
    case rollingZ = "rolling_z"
    /// |return − EWMA mean| / EWMA std: adapts to volatility regimes.
    case ewmaZ = "ewma_z"
    /// |return − median| / (1.4826 · MAD) over a window: immune to earlier outliers inflating the scale.
    case robustZ = "robust_z"
    /// Two-sided CUSUM on standardized returns: a run of moderate moves in one direction (ramping, level shift).
    case cusum = "cusum"
    /// Log volume far above its EWMA baseline.
    case volumeSurge = "volume_surge"
    /// Open far from the previous close, relative to the series' usual gaps.
    case gap = "gap"
    /// Short-horizon realised volatility (returns and high/low range) far above the long-horizon baseline.
    case volatilityBurst = "volatility_burst"

    /// Bit position in `DetectorSet`; the declaration order above, fixed forever.
    @inlinable @inline(__always)
    public var bitIndex: Int {
        switch self {
        case .rollingZ: return 0
        case .ewmaZ: return 1
        case .robustZ: return 2
        case .cusum: return 3
        case .volumeSurge: return 4
        case .gap: return 5
        case .volatilityBurst: return 6
        }
    }

    /// The kind for a bit position of `DetectorSet`, or nil outside 0..<7.
    @inlinable
    public init?(bitIndex: Int) {
        switch bitIndex {
        case 0: self = .rollingZ
        case 1: self = .ewmaZ
        case 2: self = .robustZ
        case 3: self = .cusum
        case 4: self = .volumeSurge
        case 5: self = .gap
        case 6: self = .volatilityBurst
        default: return nil
        }
    }
}

/// A set of detectors as a bitmask: what is enabled, what fired on a bar. A single byte so `BarScore` stays small and
/// the hot path never allocates.
public struct DetectorSet: OptionSet, Sendable, Hashable, Codable {
    public var rawValue: UInt8

    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The set holding exactly `kind`.
    @inlinable
    public init(_ kind: DetectorKind) { self.rawValue = 1 << UInt8(kind.bitIndex) }

    /// The set holding every kind in `kinds`.
    @inlinable
    public init(kinds: some Sequence<DetectorKind>) {
        self.rawValue = 0
        for kind in kinds { insert(DetectorSet(kind)) }
    }

    // Computed and inlinable (not stored `static let`s), so other modules fold them to constants instead of going
    // through a lazy-initialisation accessor on the hot path.
    @inlinable public static var rollingZ: DetectorSet { DetectorSet(rawValue: 1 << 0) }
    @inlinable public static var ewmaZ: DetectorSet { DetectorSet(rawValue: 1 << 1) }
    @inlinable public static var robustZ: DetectorSet { DetectorSet(rawValue: 1 << 2) }
    @inlinable public static var cusum: DetectorSet { DetectorSet(rawValue: 1 << 3) }
    @inlinable public static var volumeSurge: DetectorSet { DetectorSet(rawValue: 1 << 4) }
    @inlinable public static var gap: DetectorSet { DetectorSet(rawValue: 1 << 5) }
    @inlinable public static var volatilityBurst: DetectorSet { DetectorSet(rawValue: 1 << 6) }
    /// Every detector.
    @inlinable public static var all: DetectorSet { DetectorSet(rawValue: 0x7F) }

    /// Whether `kind` is in the set.
    @inlinable @inline(__always)
    public func contains(_ kind: DetectorKind) -> Bool { rawValue & (1 << UInt8(kind.bitIndex)) != 0 }

    /// The kinds in the set, in `DetectorKind.allCases` order.
    public var kinds: [DetectorKind] { DetectorKind.allCases.filter { contains($0) } }

    /// The kinds' raw names joined by ";" (the backtest CSV's `detectors` column); empty for the empty set.
    public var names: String { kinds.map(\.rawValue).joined(separator: ";") }

    /// Parses a `names` string back; unknown or empty names are ignored.
    public init(names: String) {
        self.init(kinds: names.split(separator: ";").compactMap { DetectorKind(rawValue: String($0)) })
    }

    /// Encoded as the list of detector names, which is readable in configs and stable if bits are ever reordered.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let kinds = try container.decode([DetectorKind].self)
        self.init(kinds: kinds)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(kinds)
    }
}

/// How urgent a detection or an alert is.
public enum Severity: Int, Sendable, Codable, Comparable, CaseIterable {
    /// Notable but below the alert line (a detector that only corroborated an alert).
    case info
    /// Over the alert line.
    case warning
    /// At least `DetectorConfig.criticalMultiple` times the alert line.
    case critical

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Lower-case name used on the wire and in logs.
    public var name: String {
        switch self {
        case .info: return "info"
        case .warning: return "warning"
        case .critical: return "critical"
        }
    }

    /// Parses `name`.
    public init?(name: String) {
        switch name {
        case "info": self = .info
        case "warning": self = .warning
        case "critical": self = .critical
        default: return nil
        }
    }
}
