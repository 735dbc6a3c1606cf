/// Errors of the agent runtime. A struct with a code (not an enum) so codes can be added without breaking callers.
public struct AgentError: Error, CustomStringConvertible, Sendable {
    public struct Code: RawRepresentable, Hashable, Sendable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let config = Code(rawValue: "config")
        public static let state = Code(rawValue: "state")
        public static let input = Code(rawValue: "input")
        public static let io = Code(rawValue: "io")
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
