import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A request as `SimpleHTTPServer` hands it to its handler. Header names are lowercased.
public struct ServerRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [String: String]
    public var headers: [String: String]
    public var body: [UInt8]

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

public struct ServerResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: Int, contentType: String, text: String) {
        self.init(status: status, headers: [("Content-Type", contentType)], body: Array(text.utf8))
    }
}

public struct SimpleHTTPServerError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// A deliberately small HTTP/1.1 server on blocking POSIX sockets: one accept thread, one worker per connection,
/// keep-alive, Content-Length bodies. It serves the agent's admin port (/metrics, /healthz, /readyz) — a handful of
/// requests a minute, where pulling in an event-loop server would double the agent's binary and build time — and the
/// loopback peers of the tests. It is not meant for the collector's data path (that is Hummingbird).
public final class SimpleHTTPServer: Sendable {
    public typealias Handler = @Sendable (ServerRequest) -> ServerResponse

    private let handler: Handler
    private let listenFD: Int32
    public let host: String
    public let port: Int
    public let maxBodyBytes: Int
    private let state = Mutex<State>(State())

    /// Who closes which descriptor: the accept thread closes the listening socket once it has started (else `stop()`
    /// does), and each connection's worker closes its own socket. `stop()` only *shuts down* descriptors, under this
    /// lock, and only while their owner has not closed them yet (listener not closed, connection still in
    /// `connections`): a descriptor number is reused by the next socket the process opens — in a test process that
    /// is another server or an HTTP client — so shutting down or accepting on a number after its close hits an
    /// unrelated socket.
    private struct State {
        var running = false
        var stopped = false
        var listenerClosed = false
        var connections: Set<Int32> = []
    }

    public init(host: String = "127.0.0.1", port: Int = 0, maxBodyBytes: Int = 64 << 20, handler: @escaping Handler) throws {
        self.handler = handler
        self.host = host
        self.maxBodyBytes = maxBodyBytes
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw SimpleHTTPServerError(message: "socket() failed: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(fd)
            throw SimpleHTTPServerError(message: "invalid IPv4 listen address \(host)")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw SimpleHTTPServerError(message: "cannot listen on \(host):\(port): \(message)")
        }
        guard listen(fd, 128) == 0 else {
            close(fd)
            throw SimpleHTTPServerError(message: "listen() failed")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.listenFD = fd
        self.port = Int(UInt16(bigEndian: actual.sin_port))
    }

    /// Starts accepting on a background thread. Calling it twice is harmless.
    public func start() {
        let shouldStart = state.withLock { state -> Bool in
            guard !state.running, !state.stopped else { return false }
            state.running = true
            return true
        }
        guard shouldStart else { return }
        let thread = DispatchQueue(label: "vigil.http.accept")
        thread.async { self.acceptLoop() }
    }

    /// Stops accepting and closes open connections. Safe to call more than once.
    public func stop() {
        state.withLock { state in
            guard !state.stopped else { return }
            state.stopped = true
            if !state.listenerClosed {
                // Refuses new connections at once and wakes a blocked accept(); the accept thread then closes it.
                shutdown(listenFD, Int32(SHUT_RDWR))
                if !state.running {
                    close(listenFD)
                    state.listenerClosed = true
                }
            }
            // Wakes the workers blocked in recv(); each closes its own socket.
            for fd in state.connections { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    deinit { stop() }

    private func acceptLoop() {
        defer {
            state.withLock { state in
                state.listenerClosed = true
                close(listenFD)
            }
        }
        while true {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                let error = errno
                if state.withLock({ $0.stopped }) { return }  // listening socket shut down by stop()
                // A peer that reset its connection before we accepted it is no reason to stop serving.
                if error == EINTR || error == ECONNABORTED || error == EPROTO { continue }
                return
            }
            let admitted = state.withLock { state -> Bool in
                guard !state.stopped else { return false }
                state.connections.insert(client)
                return true
            }
            guard admitted else {
                close(client)
                return
            }
            var timeout = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var one: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            Thread.detach { self.serve(client) }
        }
    }

    private func serve(_ fd: Int32) {
        defer {
            state.withLock { _ = $0.connections.remove(fd) }
            close(fd)
        }
        var reader = ConnectionReader(fd: fd)
        while true {
            let parsed: ParsedRequest
            switch reader.readRequest(maxBodyBytes: maxBodyBytes) {
            case .closed:
                return
            case .failure(let status, let reason):
                write(fd, response: ServerResponse(status: status, contentType: "text/plain", text: reason + "\n"), keepAlive: false)
                return
            case .request(let request):
                parsed = request
            }
            let response = handler(parsed.request)
            write(fd, response: response, keepAlive: parsed.keepAlive, headOnly: parsed.request.method == "HEAD")
            if !parsed.keepAlive { return }
        }
    }

    private func write(_ fd: Int32, response: ServerResponse, keepAlive: Bool, headOnly: Bool = false) {
        var head = "HTTP/1.1 \(response.status) \(Self.reasonPhrase(response.status))\r\n"
        var hasContentType = false
        for (name, value) in response.headers {
            let lower = name.lowercased()
            if lower == "content-length" || lower == "connection" { continue }
            if lower == "content-type" { hasContentType = true }
            head += "\(name): \(value)\r\n"
        }
        if !hasContentType && !response.body.isEmpty { head += "Content-Type: application/octet-stream\r\n" }
        head += "Content-Length: \(response.body.count)\r\n"
        head += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n"
        var bytes = Array(head.utf8)
        if !headOnly { bytes.append(contentsOf: response.body) }
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                guard let base = buffer.baseAddress else { return }
                let written = send(fd, base + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status"
        }
    }
}

private struct ParsedRequest {
    var request: ServerRequest
    var keepAlive: Bool
}

private enum ReadOutcome {
    case request(ParsedRequest)
    case closed
    case failure(status: Int, reason: String)
}

/// Buffered reads from one connection; the buffer carries over pipelined bytes between requests.
private struct ConnectionReader {
    let fd: Int32
    var buffer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    static let maxHeaderBytes = 64 * 1024

    init(fd: Int32) { self.fd = fd }

    /// Reads more bytes; false when the peer closed or the read failed.
    mutating func fill() -> Bool {
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffer.append(contentsOf: chunk[0..<count])
                return true
            }
            if count < 0 && errno == EINTR { continue }
            return false
        }
    }

    mutating func readRequest(maxBodyBytes: Int) -> ReadOutcome {
        var headerEnd: Int? = Self.findHeaderEnd(buffer)
        while headerEnd == nil {
            if buffer.count > Self.maxHeaderBytes { return .failure(status: 431, reason: "request headers too large") }
            guard fill() else { return .closed }
            headerEnd = Self.findHeaderEnd(buffer)
        }
        guard let end = headerEnd else { return .closed }
        let headText = String(decoding: buffer[0..<end], as: UTF8.self)
        buffer.removeFirst(end + 4)
        var lines = headText.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { return .failure(status: 400, reason: "empty request") }
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else {
            return .failure(status: 400, reason: "malformed request line")
        }
        var headers: [String: String] = [:]
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return .failure(status: 400, reason: "malformed header line") }
            headers[line[..<colon].trimmingWhitespace().lowercased()] = String(line[line.index(after: colon)...].trimmingWhitespace())
        }
        if headers["transfer-encoding"] != nil {
            return .failure(status: 411, reason: "chunked request bodies are not supported; send Content-Length")
        }
        let length: Int
        if let text = headers["content-length"] {
            guard let value = Int(text), value >= 0 else { return .failure(status: 400, reason: "invalid Content-Length") }
            length = value
        } else {
            length = 0
        }
        guard length <= maxBodyBytes else {
            return .failure(status: 413, reason: "request body of \(length) bytes exceeds the limit of \(maxBodyBytes)")
        }
        if headers["expect"]?.lowercased() == "100-continue" {
            let interim = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
            _ = interim.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        while buffer.count < length {
            guard fill() else { return .closed }
        }
        let body = Array(buffer[0..<length])
        buffer.removeFirst(length)

        let target = requestLine[1]
        var path = String(target)
        var query: [String: String] = [:]
        if let mark = target.firstIndex(of: "?") {
            path = String(target[..<mark])
            for pair in target[target.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = percentDecode(parts[0])
                query[key] = parts.count > 1 ? percentDecode(parts[1]) : ""
            }
        }
        let version = requestLine[2]
        let connection = headers["connection"]?.lowercased()
        let keepAlive = version == "HTTP/1.1" ? connection != "close" : connection == "keep-alive"
        let request = ServerRequest(method: String(requestLine[0]), path: path, query: query, headers: headers, body: body)
        return .request(ParsedRequest(request: request, keepAlive: keepAlive))
    }

    static func findHeaderEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// Decodes `%XX` escapes and `+` (form encoding) in a query component.
func percentDecode(_ text: Substring) -> String {
    let input = Array(text.utf8)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(input.count)
    var index = 0
    while index < input.count {
        let byte = input[index]
        if byte == UInt8(ascii: "+") {
            bytes.append(UInt8(ascii: " "))
        } else if byte == UInt8(ascii: "%"), index + 2 < input.count,
            let value = UInt8(String(decoding: input[(index + 1)...(index + 2)], as: UTF8.self), radix: 16)
        {
            bytes.append(value)
            index += 2
        } else {
            bytes.append(byte)  // a stray '%' is kept as it is
        }
        index += 1
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Runs blocking connection work on its own OS thread so a slow peer never occupies a Dispatch or
/// Swift-concurrency worker.
private enum Thread {
    static func detach(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(ThreadBody(body))
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { context in
                guard let context else { return nil }
                let body = Unmanaged<ThreadBody>.fromOpaque(context).takeRetainedValue()
                body.run()
                return nil
            }, box.toOpaque())
        if result == 0 {
            pthread_detach(thread)
        } else {
            box.release()
            DispatchQueue.global().async(execute: body)
        }
    }
}

private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
