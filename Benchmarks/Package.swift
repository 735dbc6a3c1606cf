// swift-tools-version:6.1
// Vigil benchmarks: a separate package (like swift-nio's Benchmarks/), so the main build never compiles the benchmark
// framework. Run from this directory: `swift package --disable-sandbox benchmark` (or ./run.sh). See ../BENCHMARKS.md.
import PackageDescription

let package = Package(
    name: "vigil-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "vigil", path: ".."),
        // MallocInterposer: malloc counts per benchmark (the metric swift-nio's benchmarks gate on).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
    ],
    targets: [
        // Where ../shared/data is, and the sp500-daily CSVs parsed into bars (shared by the suites below).
        .target(
            name: "BenchmarkSupport",
            dependencies: [.product(name: "VigilDetection", package: "vigil")],
            path: "Benchmarks/BenchmarkSupport",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Tier-1 kernel: bar-updates/s/core, detector state size.
        .executableTarget(
            name: "DetectionBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "VigilDetection", package: "vigil"),
            ],
            path: "Benchmarks/DetectionBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Agent pipeline: Normalizer → Tier-1 → Batcher → seal → Spool, per bar and per batch. VigilFeeds and
        // VigilSpool are not products of the main package; they are imported as modules VigilAgent is built from.
        .executableTarget(
            name: "PipelineBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "VigilAgent", package: "vigil"),
                .product(name: "VigilDetection", package: "vigil"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/PipelineBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Collector receive path (issue 3 §11 a): decode in process; decode → dedupe → partitions through an in-process
        // collector over loopback HTTP (SQLite on /dev/shm); the store alone. VigilHTTP and VigilTelemetry are not
        // products of the main package; they are imported as modules VigilCollector is built from.
        .executableTarget(
            name: "CollectorBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "VigilCollector", package: "vigil"),
                .product(name: "VigilStore", package: "vigil"),
                .product(name: "VigilWire", package: "vigil"),
                .product(name: "VigilDetection", package: "vigil"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Benchmarks/CollectorBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Tier-2 models against scikit-learn and xgboost on the same files (peers/run-peers.sh); a plain executable,
        // timed by itself, because the peers' side is timed the same way in Python. Also builds dataset (b), the feature
        // rows of sp500-daily, so both sides read identical rows.
        .executableTarget(
            name: "ModelPeers",
            dependencies: ["BenchmarkSupport", .product(name: "VigilDetection", package: "vigil")],
            path: "Benchmarks/ModelPeers",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
