/// Constants of the agent ↔ collector contract (paths, media types, limits), shared so both sides agree by
/// construction.
public enum WireContract {
    /// Version of the `vigil.v1` contract.
    public static let version = "v1"
    public static let batchesPath = "/v1/batches"
    public static let ingestPath = "/v1/ingest"
    public static let otlpTracesPath = "/v1/traces"
    public static let protobufContentType = "application/x-protobuf"
    public static let jsonContentType = "application/json"
    /// Largest batch body the collector accepts by default (compressed or not); agents seal batches well below it.
    public static let defaultMaxBatchBytes = 16 << 20
    /// Largest decompressed batch body, the guard against gzip bombs.
    public static let defaultMaxDecompressedBytes = 64 << 20
    /// HTTP statuses an agent retries (with Retry-After when present); every other 4xx is permanent.
    public static let retryableStatuses: Set<Int> = [408, 429, 502, 503, 504]
}
