// swift-tools-version:6.0
// Vigil: market-anomaly surveillance. Layout and dependency rule: ../shared/DESIGN.md and README.md.
//   executables -> Agent / Collector libraries -> Common modules -> swift-server libraries
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil-agent", targets: ["vigil-agent"]),
        .executable(name: "vigil-collector", targets: ["vigil-collector"]),
        .executable(name: "vigil", targets: ["vigil"]),
        .library(name: "VigilDetection", targets: ["VigilDetection"]),
        .library(name: "VigilWire", targets: ["VigilWire"]),
        .library(name: "VigilFeeds", targets: ["VigilFeeds"]),
        .library(name: "VigilSpool", targets: ["VigilSpool"]),
        .library(name: "VigilAgent", targets: ["VigilAgent"]),
        .library(name: "VigilStore", targets: ["VigilStore"]),
        .library(name: "VigilCollector", targets: ["VigilCollector"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.28.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
    ],
    targets: [
        // MARK: Common
        .systemLibrary(
            name: "CCurl",
            path: "Common/CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(name: "CZlib", path: "Common/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "VigilWire",
            dependencies: ["VigilDetection", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Common/Wire",
            exclude: ["Protos"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilDetection",
            path: "Common/Detection",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilTelemetry",
            dependencies: [
                "VigilWire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Common/Telemetry",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilConcurrency",
            path: "Common/Concurrency",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilConfig",
            dependencies: [.product(name: "Yams", package: "Yams")],
            path: "Common/Config",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilHTTP",
            dependencies: [
                "CCurl", "CZlib", "VigilConcurrency",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Common/HTTP",
            swiftSettings: swiftSettings
        ),

        // MARK: Agent
        .target(
            name: "VigilSpool",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Agent/Sources/VigilSpool",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilFeeds",
            dependencies: [
                "VigilDetection", "VigilHTTP", "VigilConfig",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Agent/Sources/VigilFeeds",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilAgent",
            dependencies: [
                "VigilDetection", "VigilWire", "VigilTelemetry", "VigilHTTP", "VigilSpool", "VigilFeeds", "VigilConfig",
                "VigilConcurrency",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Agent/Sources/VigilAgent",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "vigil-agent",
            dependencies: [
                "VigilAgent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Agent/Sources/vigil-agent",
            swiftSettings: swiftSettings
        ),

        // MARK: Collector
        .systemLibrary(
            name: "CPostgres",
            path: "Collector/Sources/CPostgres",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            path: "Collector/Sources/CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "VigilStore",
            dependencies: [
                "CPostgres", "CSQLite", "VigilConcurrency", "VigilDetection",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Collector/Sources/VigilStore",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VigilCollector",
            dependencies: [
                "VigilStore", "VigilWire", "VigilDetection", "VigilTelemetry", "VigilHTTP", "VigilConfig", "VigilConcurrency",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            path: "Collector/Sources/VigilCollector",
            resources: [.copy("Resources/openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "vigil-collector",
            dependencies: [
                "VigilCollector", "VigilConfig", "VigilTelemetry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Collector/Sources/vigil-collector",
            swiftSettings: swiftSettings
        ),

        // MARK: CLI (the pilot runs a collector and agents together, so it may import both sides)
        .executableTarget(
            name: "vigil",
            dependencies: [
                "VigilCollector", "VigilAgent", "VigilConfig", "VigilTelemetry", "VigilDetection", "VigilHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "CLI/Sources/vigil",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        // Helpers the process-level tests share (temporary directories, finding and running the built binaries).
        .target(
            name: "VigilTestSupport",
            dependencies: ["VigilHTTP"],
            path: "Tests/Support",
            swiftSettings: swiftSettings
        ),
        // A process the spool crash test runs and kills with SIGKILL mid-append.
        .executableTarget(
            name: "vigil-spool-crash-writer",
            dependencies: ["VigilSpool"],
            path: "Tests/Tools/spool-crash-writer",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "DetectionTests", dependencies: ["VigilDetection"], path: "Tests/DetectionTests", swiftSettings: swiftSettings),
        .testTarget(
            name: "WireTests", dependencies: ["VigilWire", "VigilDetection"], path: "Tests/WireTests", resources: [.copy("Golden")],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "TelemetryTests",
            dependencies: [
                "VigilTelemetry", "VigilWire",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Tests/TelemetryTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "HTTPTests", dependencies: ["VigilHTTP"], path: "Tests/HTTPTests", swiftSettings: swiftSettings),
        .testTarget(name: "SpoolTests", dependencies: ["VigilSpool"], path: "Tests/SpoolTests", swiftSettings: swiftSettings),
        .testTarget(
            name: "FeedsTests",
            dependencies: ["VigilFeeds", "VigilHTTP"],
            path: "Tests/FeedsTests",
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StoreTests",
            dependencies: [
                "VigilStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            path: "Tests/StoreTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CollectorTests",
            dependencies: [
                "VigilCollector", "VigilStore", "VigilWire", "VigilDetection", "VigilTelemetry", "VigilHTTP", "VigilConfig",
                "VigilTestSupport",
                .product(name: "Yams", package: "Yams"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            path: "Tests/CollectorTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AgentTests",
            dependencies: [
                "VigilAgent", "VigilHTTP", "VigilWire", "VigilTelemetry", "VigilSpool", "VigilDetection", "VigilConfig", "VigilTestSupport",
            ],
            path: "Tests/AgentTests",
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
    ]
)
