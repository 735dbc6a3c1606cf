// The data files both sides of the peer comparison read (`peers/peers.py` documents them): `X.f64` (row-major
// float64, little-endian), `y.u8` (1 = anomaly), `meta.json` (shape, splits, a name for the table).
import Foundation

struct Meta: Codable {
    var rows: Int
    var features: Int
    /// The first `train` rows train, the next `validation` rows validate (early stopping), the rest are the test rows.
    var train: Int
    var validation: Int
    var name: String?
    var seed: UInt64?
    var outliers: Int?
    var featureSetVersion: Int?
    var featureNames: [String]?
    /// What `build-sp500` records about its input (nil for the synthetic data set).
    var source: SourceSummary?

    enum CodingKeys: String, CodingKey {
        case rows, features, train, validation, name, seed, outliers, source
        case featureSetVersion = "feature_set_version"
        case featureNames = "feature_names"
    }
}

/// How a data set built from real bars came about: what was read, dropped, injected, and where the splits fall.
struct SourceSummary: Codable {
    var directory: String
    var symbols: Int
    var barsRead: Int
    /// Bars the Normalizer would dead-letter (non-finite or non-positive prices, high < low, open or close outside
    /// [low, high], negative volume): never scored, as in the product.
    var deadLettered: Int
    var injectedSpikes: Int
    var injectedGaps: Int
    var injectedVolumeSurges: Int
    var firstDate: String
    var validationFrom: String
    var testFrom: String
    var lastDate: String

    enum CodingKeys: String, CodingKey {
        case directory, symbols
        case barsRead = "bars_read"
        case deadLettered = "dead_lettered"
        case injectedSpikes = "injected_spikes"
        case injectedGaps = "injected_gaps"
        case injectedVolumeSurges = "injected_volume_surges"
        case firstDate = "first_date"
        case validationFrom = "validation_from"
        case testFrom = "test_from"
        case lastDate = "last_date"
    }
}

struct Dataset {
    var meta: Meta
    /// rows × features values, row-major.
    var x: [Double]
    var y: [UInt8]

    static func read(from directory: String) -> Dataset {
        guard let metaData = FileManager.default.contents(atPath: directory + "/meta.json"),
            let meta = try? JSONDecoder().decode(Meta.self, from: metaData)
        else { fail("cannot read \(directory)/meta.json") }
        guard let xData = FileManager.default.contents(atPath: directory + "/X.f64"), xData.count == meta.rows * meta.features * 8,
            let yData = FileManager.default.contents(atPath: directory + "/y.u8"), yData.count == meta.rows
        else { fail("X.f64 / y.u8 do not match meta.json") }
        // Little-endian float64, as numpy's "<f8" writes them.
        let x: [Double] = xData.withUnsafeBytes { raw in
            (0..<(meta.rows * meta.features)).map {
                Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))
            }
        }
        return Dataset(meta: meta, x: x, y: [UInt8](yData))
    }

    func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var bytes = Data(capacity: x.count * 8)
        for value in x { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        try bytes.write(to: URL(fileURLWithPath: directory + "/X.f64"))
        try Data(y).write(to: URL(fileURLWithPath: directory + "/y.u8"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(meta).write(to: URL(fileURLWithPath: directory + "/meta.json"))
    }
}

func argument(_ name: String, default value: String? = nil) -> String? {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return value }
    return arguments[index + 1]
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ModelPeers: \(message)\n".utf8))
    exit(2)
}

func note(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    let (s, atto) = start.duration(to: .now).components
    return Double(s) + Double(atto) / 1e18
}
