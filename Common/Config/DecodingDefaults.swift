extension KeyedDecodingContainer {
    /// The value at `key`, or `fallback` when the file left the key out (every configuration key is optional).
    public func value<T: Decodable>(_ key: Key, or fallback: @autoclosure () -> T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback()
    }
}
