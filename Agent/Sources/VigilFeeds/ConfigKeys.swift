import VigilConfig

/// Shared decoding helpers for the feed configuration types.
enum ConfigKeys {
    /// A coding key for whatever keys a container actually holds.
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Keys that an enclosing configuration may put next to a feed's own keys (`FeedConfiguration` adds `type`).
    static let envelopeKeys: Set<String> = ["type"]

    /// Throws when the container holds a key that is not in `known`: a misspelt key (`pollIntervalSecs`) would otherwise
    /// be ignored and silently fall back to its default, which is the worst kind of config error to debug on an edge
    /// host (Vector's `deny_unknown_fields`).
    static func rejectUnknown(in decoder: any Decoder, known: [String]) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        let knownSet = Set(known).union(envelopeKeys)
        let unknown = container.allKeys.map(\.stringValue).filter { !knownSet.contains($0) }.sorted()
        guard unknown.isEmpty else {
            // Named as the YAML file spells them (the loader camel-cases keys before decoding).
            let spelled = { (keys: [String]) in keys.map(ConfigLoader.snakeCase).sorted().joined(separator: ", ") }
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: decoder.codingPath, debugDescription: "unknown key(s) \(spelled(unknown)); known keys: \(spelled(known))")
            )
        }
    }
}
