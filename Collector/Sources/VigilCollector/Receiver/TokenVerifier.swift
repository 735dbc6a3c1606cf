import Foundation
import VigilStore

/// Checks agents' bearer tokens against the configured SHA-256 digests.
struct TokenVerifier: Sendable {
    struct Entry: Sendable {
        var name: String
        var digest: [UInt8]
        var agents: Set<String>
    }

    enum Verdict: Equatable {
        case allowed(name: String?)
        case unauthorized(String)
        case forbidden(String)
    }

    let required: Bool
    let entries: [Entry]

    init(required: Bool, entries: [Entry]) {
        self.required = required
        self.entries = entries
    }

    /// Loads digests (hashing token files once; the plain token is not kept).
    init(_ section: AuthSection, readFile: (String) throws -> String) throws {
        var entries: [Entry] = []
        for token in section.tokens {
            let digest: [UInt8]
            if let hex = token.sha256 {
                digest = Self.bytes(fromHex: hex.lowercased()) ?? []
            } else if let file = token.tokenFile {
                let secret = try readFile(file).trimmingCharacters(in: .whitespacesAndNewlines)
                digest = Self.bytes(fromHex: ArtifactDigest.sha256Hex(Array(secret.utf8))) ?? []
            } else {
                continue
            }
            guard digest.count == 32 else { continue }
            entries.append(Entry(name: token.name, digest: digest, agents: Set(token.agents)))
        }
        self.init(required: section.required, entries: entries)
    }

    /// `authorization` is the raw header; `agentID` the identity the request claims.
    func verify(authorization: String?, agentID: String) -> Verdict {
        guard let authorization, !authorization.isEmpty else {
            return required ? .unauthorized("missing bearer token") : .allowed(name: nil)
        }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .unauthorized("Authorization must be a Bearer token") }
        let presented = Self.bytes(fromHex: ArtifactDigest.sha256Hex(Array(parts[1].trimmingCharacters(in: .whitespaces).utf8))) ?? []
        // Compare against every entry without stopping early, each in constant time, so timing reveals nothing.
        var match: Entry?
        for entry in entries where Self.constantTimeEqual(entry.digest, presented) && match == nil { match = entry }
        guard let match else { return required || !entries.isEmpty ? .unauthorized("unknown token") : .allowed(name: nil) }
        guard match.agents.contains("*") || match.agents.contains(agentID) else {
            return .forbidden("token \(match.name) may not send for agent \(agentID)")
        }
        return .allowed(name: match.name)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    static func bytes(fromHex hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let byte = UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        return out
    }
}
