import Foundation
import VigilConfig

/// Where and how the shipper sends batches. Keys under `collector:`.
public struct CollectorConfiguration: Codable, Sendable, Equatable, CustomStringConvertible {
    /// Base URL of the collector. Default `http://127.0.0.1:8080`; batches go to `<url>/v1/batches`.
    public var url: String = "http://127.0.0.1:8080"
    /// Bearer token, inline. Prefer `token_file` or `token_env`; never logged.
    public var token: String?
    /// File holding the bearer token (trailing whitespace ignored). Default none.
    public var tokenFile: String?
    /// Environment variable holding the bearer token. Default `VIGIL_AGENT_TOKEN`.
    public var tokenEnv: String = "VIGIL_AGENT_TOKEN"
    /// Whole-request timeout in seconds. Default 10.
    public var timeoutSeconds: Double = 10
    /// `gzip` (default) or `none`. Batches are mostly packed doubles; gzip level 1 saves about 40 % for little CPU.
    public var compression: String = "gzip"
    /// First retry delay bound in milliseconds (full jitter). Default 200.
    public var initialBackoffMs: Int = 200
    /// Largest retry delay in milliseconds, also the cap on a server's Retry-After. Default 30000.
    public var maxBackoffMs: Int = 30_000

    public init() {}

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = CollectorConfiguration()
        url = try container.decodeIfPresent(String.self, forKey: .url) ?? defaults.url
        token = try container.decodeIfPresent(String.self, forKey: .token)
        tokenFile = try container.decodeIfPresent(String.self, forKey: .tokenFile)
        tokenEnv = try container.decodeIfPresent(String.self, forKey: .tokenEnv) ?? defaults.tokenEnv
        timeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .timeoutSeconds) ?? defaults.timeoutSeconds
        compression = try container.decodeIfPresent(String.self, forKey: .compression) ?? defaults.compression
        initialBackoffMs = try container.decodeIfPresent(Int.self, forKey: .initialBackoffMs) ?? defaults.initialBackoffMs
        maxBackoffMs = try container.decodeIfPresent(Int.self, forKey: .maxBackoffMs) ?? defaults.maxBackoffMs
    }

    public var description: String {
        "CollectorConfiguration(url: \(url), token: \(token == nil ? "none" : "<redacted>"), tokenFile: \(tokenFile ?? "none"), "
            + "tokenEnv: \(tokenEnv), timeoutSeconds: \(timeoutSeconds), compression: \(compression))"
    }

    /// The token from (in order) `token`, `token_file`, `token_env`; nil when none is set.
    public func resolveToken(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        if let token, !token.isEmpty { return token }
        if let tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile) else {
                throw AgentError(code: .config, message: "collector.token_file \(tokenFile) cannot be read")
            }
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? nil : text
        }
        if let value = environment[tokenEnv], !value.isEmpty { return value }
        return nil
    }

    public func validationProblems(path: String) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil {
        } else {
            problems.append(ConfigProblem(path: "\(path).url", message: "must be an http:// or https:// URL, got \(url)"))
        }
        if !(timeoutSeconds > 0 && timeoutSeconds <= 600) {
            problems.append(ConfigProblem(path: "\(path).timeout_seconds", message: "must be in (0, 600], got \(timeoutSeconds)"))
        }
        if !["gzip", "none"].contains(compression) {
            problems.append(ConfigProblem(path: "\(path).compression", message: "must be gzip or none, got \(compression)"))
        }
        if initialBackoffMs < 1 || maxBackoffMs < initialBackoffMs {
            problems.append(
                ConfigProblem(path: "\(path).max_backoff_ms", message: "backoff must satisfy 1 <= initial_backoff_ms <= max_backoff_ms"))
        }
        if token != nil && tokenFile != nil {
            problems.append(ConfigProblem(path: "\(path).token_file", message: "set either token or token_file, not both"))
        }
        return problems
    }
}
