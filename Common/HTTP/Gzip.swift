import CZlib

/// gzip (RFC 1952) for HTTP `Content-Encoding: gzip`, over the system zlib.
public enum Gzip {
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public enum Code: String, Sendable {
            case corrupt
            case truncated
            case tooLarge = "too_large"
            case zlib
        }

        public var code: Code
        public var message: String
        public var description: String { "gzip \(code.rawValue): \(message)" }
    }

    /// Compresses `input` into a gzip member. Level 1 is the default: batches are numeric columns where higher levels
    /// buy a few percent of size for several times the CPU, and the edge host's CPU is the scarcer resource.
    public static func compress(_ input: [UInt8], level: Int32 = 1) throws(Gzip.Error) -> [UInt8] {
        var stream = z_stream()
        guard vigil_deflate_init_gzip(&stream, level) == Z_OK else {
            throw Error(code: .zlib, message: "deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count))) + 32
        var output = [UInt8](repeating: 0, count: bound)
        let status: Int32 = input.withUnsafeBytes { inputBytes in
            output.withUnsafeMutableBytes { outputBytes in
                stream.next_in = UnsafeMutablePointer(mutating: inputBytes.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(inputBytes.count)
                stream.next_out = outputBytes.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(outputBytes.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw Error(code: .zlib, message: "deflate returned \(status)") }
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }

    /// Decompresses a gzip (or zlib) stream, refusing to produce more than `maxOutputBytes` — the guard against
    /// decompression bombs on a receiving endpoint.
    public static func decompress(_ input: [UInt8], maxOutputBytes: Int) throws(Gzip.Error) -> [UInt8] {
        var stream = z_stream()
        guard vigil_inflate_init_gzip(&stream) == Z_OK else { throw Error(code: .zlib, message: "inflateInit2 failed") }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(min(maxOutputBytes, max(4096, input.count * 4)))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var finished = false
        let failure: Gzip.Error? = input.withUnsafeBytes { inputBytes -> Gzip.Error? in
            stream.next_in = UnsafeMutablePointer(mutating: inputBytes.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(inputBytes.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBytes { chunkBytes -> (Int32, Int) in
                    stream.next_out = chunkBytes.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = uInt(chunkBytes.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, chunkBytes.count - Int(stream.avail_out))
                }
                if output.count + produced > maxOutputBytes {
                    return Error(code: .tooLarge, message: "decompressed size exceeds \(maxOutputBytes) bytes")
                }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END:
                    finished = true
                    return nil
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    // No progress possible: the input ended before the stream did.
                    return stream.avail_in == 0
                        ? Error(code: .truncated, message: "input ends inside the compressed stream")
                        : Error(code: .corrupt, message: "inflate made no progress")
                default:
                    let text = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                    return Error(code: .corrupt, message: text)
                }
            }
        }
        if let failure { throw failure }
        guard finished else { throw Error(code: .truncated, message: "input ends inside the compressed stream") }
        return output
    }

    /// Whether `bytes` start with the gzip magic number.
    public static func isGzip(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b }
}
