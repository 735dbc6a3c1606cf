import Foundation

/// Where a feed's API key comes from: an environment variable or a file (a Kubernetes/Docker secret mount).
///
/// The configuration holds only the *location* of the key, so printing or logging a configuration never shows the
/// secret. `value` exists for tests and demos (`demo` is Alpha Vantage's public demo key) and is redacted from every
/// description.
public struct APIKeySource: Codable, Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Key `env`. Name of the environment variable that holds the key.
    public var env: String?
    /// Key `file`. Path of a file whose content (trimmed of surrounding whitespace) is the key.
    public var file: String?
    /// Key `value`. The key itself. For tests and demos only; prefer `env` or `file`.
    public var value: String?

    public init(env: String? = nil, file: String? = nil, value: String? = nil) {
        self.env = env
        self.file = file
        self.value = value
    }

    public static func environment(_ name: String) -> APIKeySource { APIKeySource(env: name) }
    public static func file(_ path: String) -> APIKeySource { APIKeySource(file: path) }

    public init(from decoder: any Decoder) throws {
        try ConfigKeys.rejectUnknown(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        env = try container.decodeIfPresent(String.self, forKey: .env)
        file = try container.decodeIfPresent(String.self, forKey: .file)
        value = try container.decodeIfPresent(String.self, forKey: .value)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case env, file, value
    }

    /// Encodes the location; an inline `value` is written as `<redacted>` so that an effective-config report never
    /// carries the secret.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(env, forKey: .env)
        try container.encodeIfPresent(file, forKey: .file)
        if value != nil { try container.encode("<redacted>", forKey: .value) }
    }

    /// Reads the key. `environment` is injectable for tests.
    public func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws(FeedError) -> APIKey {
        let sources = [env != nil, file != nil, value != nil].filter { $0 }.count
        guard sources == 1 else {
            throw FeedError(.configuration, "API key: set exactly one of env, file or value (\(sources) set)")
        }
        if let env {
            guard let key = environment[env]?.trimmingCharacters(in: .whitespacesAndNewlines), !key.isEmpty else {
                throw FeedError(.configuration, "API key: environment variable \(env) is not set or empty")
            }
            return APIKey(key)
        }
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw FeedError(.configuration, "API key: cannot read file \(file)")
            }
            let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !key.isEmpty else { throw FeedError(.configuration, "API key: file \(file) is empty") }
            return APIKey(key)
        }
        guard let value, !value.isEmpty else { throw FeedError(.configuration, "API key: value is empty") }
        return APIKey(value)
    }

    /// Every problem with the values, each prefixed with `path`.
    public func validate(path: String) -> [String] {
        let sources = [env != nil, file != nil, value != nil].filter { $0 }.count
        return sources == 1 ? [] : ["\(path): set exactly one of env, file or value (\(sources) set)"]
    }

    public var description: String {
        if let env { return "APIKeySource(env: \(env))" }
        if let file { return "APIKeySource(file: \(file))" }
        return value == nil ? "APIKeySource(none)" : "APIKeySource(value: <redacted>)"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["env": env as Any, "file": file as Any, "value": value == nil ? "nil" : "<redacted>"])
    }
}

/// A loaded API key. Every textual form of it is `<redacted>`; only `reveal` gives the secret, for building a request.
public struct APIKey: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let secret: String

    public init(_ secret: String) { self.secret = secret }

    /// The key itself. Use it only to build the request, never to log.
    public var reveal: String { secret }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: ["secret": "<redacted>"]) }

    /// `text` with every occurrence of the key replaced by `<redacted>`: for error messages that might echo a URL.
    public func scrub(_ text: String) -> String {
        guard secret.count >= 3 else { return text }
        return text.replacingOccurrences(of: secret, with: "<redacted>")
    }
}

/// Redaction of credentials in URLs before they reach a log line, a span attribute or an error message.
public enum URLRedaction {
    /// Query parameters whose values are secrets (compared case-insensitively).
    public static let secretParameters: Set<String> = ["apikey", "api_key", "token", "access_token", "key"]

    /// `url` with the value of every secret query parameter replaced by `REDACTED`
    /// (`…&apikey=abc123` → `…&apikey=REDACTED`).
    public static func redact(_ url: String) -> String {
        guard let queryStart = url.firstIndex(of: "?") else { return url }
        let fragmentStart = url[queryStart...].firstIndex(of: "#") ?? url.endIndex
        let query = url[url.index(after: queryStart)..<fragmentStart]
        let redacted = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            guard let equals = pair.firstIndex(of: "=") else { return String(pair) }
            let name = pair[..<equals].lowercased()
            return secretParameters.contains(name) ? "\(pair[..<equals])=REDACTED" : String(pair)
        }
        return String(url[...queryStart]) + redacted.joined(separator: "&") + String(url[fragmentStart...])
    }
}
