import Foundation
import Yams

/// One problem found in a configuration file, with where it is.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    /// Dotted path of the offending key (`spool.max_total_bytes`, `feeds[1].symbols`), empty for the whole file.
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// The configuration could not be used; `problems` lists every reason found, not just the first.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var problems: [ConfigProblem]

    public var description: String {
        "\(file): \(problems.count) problem\(problems.count == 1 ? "" : "s")\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// A configuration type that can check itself beyond what decoding checks.
public protocol ValidatableConfig: Codable {
    /// Every semantic problem (ranges, combinations), as `(path, message)` pairs; empty when valid.
    func validationProblems() -> [ConfigProblem]
}

/// Reads YAML configuration into `Codable` types. YAML is parsed to a tree, checked against what the type understands
/// (so a misspelt key is reported instead of silently falling back to a default — Vector's `deny_unknown_fields`),
/// decoded with per-key defaults, then validated. All problems are collected, as `validate-config` must report every
/// one of them (Vector's `check_shape`, Prometheus' `*.bad.yml` fixtures).
public enum ConfigLoader {
    public static func load<Config: ValidatableConfig>(_ type: Config.Type, yaml text: String, file: String) throws(ConfigError) -> Config {
        let tree: Any
        do {
            tree = try Yams.load(yaml: text) ?? [String: Any]()
        } catch {
            throw ConfigError(file: file, problems: [ConfigProblem(path: "", message: "not valid YAML: \(error)")])
        }
        guard tree is [String: Any] else {
            throw ConfigError(file: file, problems: [ConfigProblem(path: "", message: "the top level must be a mapping of keys")])
        }
        // A decoding error names one key. To report errors in every section at once, drop the section that failed and
        // decode again (its defaults stand in for it) until the rest decodes.
        // Files use snake_case keys (as Prometheus, the OpenTelemetry Collector and Vector do); the Swift types use
        // camelCase names, with URL and ID as acronyms.
        var remaining = camelCased(tree) as? [String: Any] ?? [:]
        var problems: [ConfigProblem] = []
        var decoded: Config?
        while decoded == nil {
            let json: Data
            do {
                json = try JSONSerialization.data(withJSONObject: jsonCompatible(remaining), options: [.fragmentsAllowed])
            } catch {
                throw ConfigError(file: file, problems: [ConfigProblem(path: "", message: "cannot read the YAML values: \(error)")])
            }
            do {
                decoded = try JSONDecoder().decode(Config.self, from: json)
            } catch let error as DecodingError {
                problems.append(describe(error))
                guard let section = topLevelKey(of: error), remaining.removeValue(forKey: section) != nil else {
                    throw ConfigError(file: file, problems: problems)
                }
            } catch {
                throw ConfigError(file: file, problems: problems + [ConfigProblem(path: "", message: "\(error)")])
            }
        }
        guard let config = decoded else { throw ConfigError(file: file, problems: problems) }
        problems += unknownKeys(input: remaining, decoded: config)
        problems += config.validationProblems()
        guard problems.isEmpty else { throw ConfigError(file: file, problems: problems) }
        return config
    }

    public static func load<Config: ValidatableConfig>(_ type: Config.Type, path: String) throws(ConfigError) -> Config {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, problems: [ConfigProblem(path: "", message: "cannot read the file")])
        }
        return try load(type, yaml: String(decoding: data, as: UTF8.self), file: path)
    }

    static let acronyms: Set<String> = ["url", "id", "ttl", "dlq"]

    /// `base_url` → `baseURL`, `max_attempts` → `maxAttempts`; keys without underscores are kept as they are.
    public static func camelCase(_ key: String) -> String {
        let words = key.split(separator: "_", omittingEmptySubsequences: true)
        guard words.count > 1 else { return key }
        var result = String(words[0])
        for word in words.dropFirst() {
            let lower = word.lowercased()
            result += acronyms.contains(lower) ? lower.uppercased() : lower.prefix(1).uppercased() + lower.dropFirst()
        }
        return result
    }

    /// `baseURL` → `base_url`, `maxAttempts` → `max_attempts`: how a key is shown to the person editing the file.
    public static func snakeCase(_ key: String) -> String {
        var result = ""
        let characters = Array(key)
        for (index, character) in characters.enumerated() {
            if character.isUppercase, index > 0 {
                let previous = characters[index - 1]
                let nextIsLower = index + 1 < characters.count && characters[index + 1].isLowercase
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && nextIsLower) { result += "_" }
            }
            result += character.lowercased()
        }
        return result
    }

    static func camelCased(_ value: Any) -> Any {
        switch value {
        case let dictionary as [String: Any]:
            return Dictionary(dictionary.map { (camelCase($0.key), camelCased($0.value)) }, uniquingKeysWith: { first, _ in first })
        case let dictionary as [AnyHashable: Any]:
            return Dictionary(dictionary.map { (camelCase("\($0.key)"), camelCased($0.value)) }, uniquingKeysWith: { first, _ in first })
        case let array as [Any]: return array.map(camelCased)
        default: return value
        }
    }

    /// YAML scalars arrive as Swift values JSONSerialization understands, except dates and binary data.
    static func jsonCompatible(_ value: Any) -> Any {
        switch value {
        case let dictionary as [String: Any]: return dictionary.mapValues(jsonCompatible)
        case let dictionary as [AnyHashable: Any]:
            return Dictionary(dictionary.map { ("\($0.key)", jsonCompatible($0.value)) }, uniquingKeysWith: { $1 })
        case let array as [Any]: return array.map(jsonCompatible)
        case let date as Date: return ISO8601DateFormatter().string(from: date)
        case let data as Data: return data.base64EncodedString()
        case is NSNull, is String, is Bool, is Int, is Double: return value
        default: return "\(value)"
        }
    }

    /// Keys present in the file that the decoded value does not carry: re-encoding the decoded config gives exactly the
    /// keys the type knows, so anything else in the input is unknown.
    static func unknownKeys(input: Any, decoded: some Encodable) -> [ConfigProblem] {
        guard let data = try? JSONEncoder().encode(decoded), let known = try? JSONSerialization.jsonObject(with: data) else { return [] }
        var problems: [ConfigProblem] = []
        compare(input, known, path: "", into: &problems)
        return problems
    }

    private static func compare(_ input: Any, _ known: Any, path: String, into problems: inout [ConfigProblem]) {
        if let inputMap = input as? [String: Any], let knownMap = known as? [String: Any] {
            for key in inputMap.keys.sorted() {
                let child = path.isEmpty ? snakeCase(key) : "\(path).\(snakeCase(key))"
                guard let knownValue = knownMap[key] else {
                    if !(inputMap[key] is NSNull) {
                        let hint = knownMap.keys.map(snakeCase).sorted().joined(separator: ", ")
                        problems.append(ConfigProblem(path: child, message: "unknown key (known here: \(hint))"))
                    }
                    continue
                }
                if let value = inputMap[key] { compare(value, knownValue, path: child, into: &problems) }
            }
        } else if let inputArray = input as? [Any], let knownArray = known as? [Any], inputArray.count == knownArray.count {
            for (index, pair) in zip(inputArray, knownArray).enumerated() {
                compare(pair.0, pair.1, path: "\(path)[\(index)]", into: &problems)
            }
        }
    }

    static func topLevelKey(of error: DecodingError) -> String? {
        let path: [any CodingKey]
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): path = context.codingPath
        case .keyNotFound(let key, let context): path = context.codingPath + [key]
        @unknown default: return nil
        }
        return path.first?.stringValue
    }

    static func describe(_ error: DecodingError) -> ConfigProblem {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.reduce("") { result, key in
                if let index = key.intValue { return "\(result)[\(index)]" }
                let name = snakeCase(key.stringValue)
                return result.isEmpty ? name : "\(result).\(name)"
            }
        }
        switch error {
        case .typeMismatch(let type, let context):
            return ConfigProblem(path: path(context.codingPath), message: "expected \(describeType(type)): \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            return ConfigProblem(path: path(context.codingPath), message: "missing value, expected \(describeType(type))")
        case .keyNotFound(let key, let context):
            return ConfigProblem(path: path(context.codingPath + [key]), message: "required key is missing")
        case .dataCorrupted(let context):
            return ConfigProblem(path: path(context.codingPath), message: context.debugDescription)
        @unknown default:
            return ConfigProblem(path: "", message: "\(error)")
        }
    }

    private static func describeType(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default: "\(type)"
        }
    }
}
