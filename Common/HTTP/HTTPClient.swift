import CCurl
import Dispatch
import Synchronization
import VigilConcurrency

/// An HTTP request as the feeds and the shipper build it.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Whole-request timeout (connect + transfer), in seconds.
    public var timeoutSeconds: Double

    public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8] = [], timeoutSeconds: Double = 10) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutSeconds = timeoutSeconds
    }
}

/// A complete HTTP response. Header names are lowercased; a repeated header keeps its last value.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The body as UTF-8 text (lossy), for error messages.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Why a request produced no HTTP response at all. A response with any status is not an error at this layer.
public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case timeout
        case connectionFailed = "connection_failed"
        case transport
        case responseTooLarge = "response_too_large"
        case invalidURL = "invalid_url"
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// A small HTTP/1.1 client over libcurl (the design card's choice: it is on every edge host, speaks TLS with the
/// system's CA store and needs no event loop). `curl_easy_perform` blocks, so each request runs on one of the client's
/// own threads (`BlockingThreadPool`: a Dispatch worker would stall Swift's executor on Linux) and the caller awaits
/// it; easy handles are pooled so connections are kept alive between requests to the same host.
public final class HTTPClient: Sendable {
    public let userAgent: String
    public let maxResponseBytes: Int
    private let pool = Mutex<[HandleBox]>([])
    private let maxPooledHandles: Int
    private let threads: BlockingThreadPool

    public init(userAgent: String = "vigil/0.1", maxResponseBytes: Int = 32 << 20, maxPooledHandles: Int = 8) {
        _ = HTTPClient.globalInit
        self.userAgent = userAgent
        self.maxResponseBytes = maxResponseBytes
        self.maxPooledHandles = maxPooledHandles
        self.threads = BlockingThreadPool(maxThreads: max(maxPooledHandles, 1))
    }

    deinit {
        pool.withLock { handles in
            for box in handles { curl_easy_cleanup(box.handle) }
            handles.removeAll()
        }
    }

    private static let globalInit: Void = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    public func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await threads.run { () throws -> HTTPResponse in try self.performBlocking(request) }
    }

    /// Runs `job` on the client's request threads (for callers that manage their own continuation, e.g. to stop
    /// waiting on cancellation while libcurl finishes the transfer).
    public func submitBlocking(_ job: @escaping @Sendable () -> Void) {
        threads.submit(job)
    }

    /// Runs the request on the calling thread. Useful from threads that are not part of Swift concurrency.
    public func performBlocking(_ request: HTTPRequest) throws -> HTTPResponse {
        let box = try checkoutHandle()
        defer { checkin(box) }
        let handle = box.handle
        curl_easy_reset(handle)

        let accumulator = ResponseAccumulator(limit: maxResponseBytes)
        let context = Unmanaged.passUnretained(accumulator).toOpaque()
        _ = vigil_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = vigil_curl_setopt_string(handle, CURLOPT_URL, request.url)
        _ = vigil_curl_setopt_string(handle, CURLOPT_USERAGENT, userAgent)
        // An empty string asks libcurl to offer every encoding it supports and to decode the response.
        _ = vigil_curl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, "")
        let timeoutMs = max(1, Int(request.timeoutSeconds * 1000))
        _ = vigil_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMs)
        _ = vigil_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, min(timeoutMs, 10_000))
        _ = vigil_curl_setopt_write_function(handle, CURLOPT_WRITEFUNCTION, vigilCurlWriteBody)
        _ = vigil_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = vigil_curl_setopt_write_function(handle, CURLOPT_HEADERFUNCTION, vigilCurlWriteHeader)
        _ = vigil_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
        _ = vigil_curl_setopt_long(handle, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTP | CURLPROTO_HTTPS))

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        // libcurl adds `Expect: 100-continue` to large POSTs and then waits up to a second for the interim response;
        // our peers answer directly, so the round trip is pure latency.
        headerList = curl_slist_append(headerList, "Expect:")
        for (name, value) in request.headers {
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        defer { curl_slist_free_all(headerList) }
        _ = vigil_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)

        let method = request.method.uppercased()
        let code: CURLcode = request.body.withUnsafeBytes { bodyBytes in
            switch method {
            case "GET":
                _ = vigil_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
            case "HEAD":
                _ = vigil_curl_setopt_long(handle, CURLOPT_NOBODY, 1)
            default:
                if method != "POST" { _ = vigil_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method) }
                _ = vigil_curl_setopt_long(handle, CURLOPT_POST, 1)
                _ = vigil_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodyBytes.count))
                // The body buffer outlives curl_easy_perform because perform runs inside this closure.
                let pointer = bodyBytes.baseAddress.map { UnsafeMutableRawPointer(mutating: $0) }
                _ = vigil_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS, pointer ?? emptyBody.pointer)
            }
            return curl_easy_perform(handle)
        }

        guard code == CURLE_OK else {
            box.poisoned = true
            if accumulator.exceeded {
                throw HTTPClientError(code: .responseTooLarge, message: "response body exceeds \(maxResponseBytes) bytes")
            }
            let text = String(cString: curl_easy_strerror(code))
            switch code {
            case CURLE_OPERATION_TIMEDOUT:
                throw HTTPClientError(code: .timeout, message: "\(text) after \(request.timeoutSeconds)s")
            case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
                throw HTTPClientError(code: .connectionFailed, message: text)
            case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
                throw HTTPClientError(code: .invalidURL, message: text)
            default:
                throw HTTPClientError(code: .transport, message: text)
            }
        }
        var status = 0
        _ = vigil_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: accumulator.headers, body: accumulator.body)
    }

    private func checkoutHandle() throws -> HandleBox {
        if let box = pool.withLock({ $0.popLast() }) { return box }
        guard let handle = curl_easy_init() else {
            throw HTTPClientError(code: .transport, message: "curl_easy_init failed")
        }
        return HandleBox(handle: handle)
    }

    private func checkin(_ box: HandleBox) {
        // A handle whose transfer failed may hold a half-dead connection; start the next request on a fresh one.
        let keep =
            !box.poisoned
            && pool.withLock { handles -> Bool in
                guard handles.count < maxPooledHandles else { return false }
                handles.append(box)
                return true
            }
        if !keep { curl_easy_cleanup(box.handle) }
    }
}

/// A valid pointer for zero-length bodies: with a NULL POSTFIELDS libcurl would read the body from stdin.
private let emptyBody = EmptyBody()
private final class EmptyBody: Sendable {
    nonisolated(unsafe) let pointer = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)
}

/// An easy handle is used by one request at a time (checked out of the pool), which is what makes it safe to send.
private final class HandleBox: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    var poisoned = false
    init(handle: UnsafeMutableRawPointer) { self.handle = handle }
}

/// Collects one response; touched only by the thread inside curl_easy_perform.
private final class ResponseAccumulator {
    let limit: Int
    var body: [UInt8] = []
    var headers: [String: String] = [:]
    var exceeded = false

    init(limit: Int) { self.limit = limit }

    func appendHeaderLine(_ line: Substring) {
        // A new status line (after a redirect or an interim 1xx) starts a new header block.
        if line.hasPrefix("HTTP/") {
            headers.removeAll()
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = line[..<colon].trimmingWhitespace().lowercased()
        let value = line[line.index(after: colon)...].trimmingWhitespace()
        headers[name] = String(value)
    }
}

private func vigilCurlWriteBody(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ userdata: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let userdata else { return 0 }
    let accumulator = Unmanaged<ResponseAccumulator>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    if accumulator.body.count + length > accumulator.limit {
        accumulator.exceeded = true
        return 0  // makes libcurl abort with CURLE_WRITE_ERROR
    }
    ptr.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
        accumulator.body.append(contentsOf: UnsafeBufferPointer(start: bytes, count: length))
    }
    return length
}

private func vigilCurlWriteHeader(_ ptr: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ userdata: UnsafeMutableRawPointer?) -> Int {
    guard let ptr, let userdata else { return 0 }
    let accumulator = Unmanaged<ResponseAccumulator>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    let line = ptr.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
        String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self)
    }
    accumulator.appendHeaderLine(Substring(line))
    return length
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var result = self
        while let first = result.first, first.isWhitespace { result = result.dropFirst() }
        while let last = result.last, last.isWhitespace { result = result.dropLast() }
        return result
    }
}
