import Foundation
import Testing

@testable import VigilHTTP

@Suite("HTTP client and loopback server")
struct HTTPTests {
    @Test func getAndPostRoundTripOverLoopback() async throws {
        let server = try SimpleHTTPServer { request in
            let echo =
                "\(request.method) \(request.path) q=\(request.query["q"] ?? "-") len=\(request.body.count) auth=\(request.header("authorization") ?? "-")"
            return ServerResponse(status: request.path == "/missing" ? 404 : 200, contentType: "text/plain", text: echo)
        }
        server.start()
        defer { server.stop() }
        let client = HTTPClient()
        let base = "http://127.0.0.1:\(server.port)"

        let get = try await client.execute(HTTPRequest(url: "\(base)/a/b?q=x%20y"))
        #expect(get.status == 200)
        #expect(get.bodyText == "GET /a/b q=x y len=0 auth=-")
        #expect(get.header("Content-Type") == "text/plain")

        let body = [UInt8](repeating: 7, count: 3 << 20)
        let post = try await client.execute(
            HTTPRequest(method: "POST", url: "\(base)/upload", headers: [("Authorization", "Bearer t")], body: body))
        #expect(post.bodyText == "POST /upload q=- len=\(3 << 20) auth=Bearer t")

        let empty = try await client.execute(HTTPRequest(method: "POST", url: "\(base)/e"))
        #expect(empty.bodyText == "POST /e q=- len=0 auth=-")

        let missing = try await client.execute(HTTPRequest(url: "\(base)/missing"))
        #expect(missing.status == 404)
    }

    @Test func connectionRefusedIsAConnectionError() async throws {
        // Port 1 is privileged and nothing listens there: the connection is refused. (Stopping a server to free a
        // port would race with other tests' servers, which may be given that port.)
        let port = 1
        await #expect(throws: HTTPClientError.self) {
            _ = try await HTTPClient().execute(HTTPRequest(url: "http://127.0.0.1:\(port)/", timeoutSeconds: 2))
        }
        do {
            _ = try await HTTPClient().execute(HTTPRequest(url: "http://127.0.0.1:\(port)/", timeoutSeconds: 2))
        } catch let error as HTTPClientError {
            #expect(error.code == .connectionFailed)
        }
    }

    @Test func timeoutIsReported() async throws {
        let server = try SimpleHTTPServer { _ in
            usleep(1_500_000)
            return ServerResponse(status: 200)
        }
        server.start()
        defer { server.stop() }
        do {
            _ = try await HTTPClient().execute(HTTPRequest(url: "http://127.0.0.1:\(server.port)/slow", timeoutSeconds: 0.3))
            Issue.record("expected a timeout")
        } catch let error as HTTPClientError {
            #expect(error.code == .timeout)
        }
    }

    @Test func responseSizeLimitIsEnforced() async throws {
        let server = try SimpleHTTPServer { _ in ServerResponse(status: 200, body: [UInt8](repeating: 1, count: 100_000)) }
        server.start()
        defer { server.stop() }
        do {
            _ = try await HTTPClient(maxResponseBytes: 10_000).execute(HTTPRequest(url: "http://127.0.0.1:\(server.port)/big"))
            Issue.record("expected responseTooLarge")
        } catch let error as HTTPClientError {
            #expect(error.code == .responseTooLarge)
        }
    }

    @Test func serverRejectsOversizedBodiesWith413() async throws {
        let server = try SimpleHTTPServer(maxBodyBytes: 1000) { _ in ServerResponse(status: 200) }
        server.start()
        defer { server.stop() }
        let response = try await HTTPClient().execute(
            HTTPRequest(method: "POST", url: "http://127.0.0.1:\(server.port)/", body: [UInt8](repeating: 0, count: 5000)))
        #expect(response.status == 413)
    }

    @Test func gzipRoundTripAndBadInput() throws {
        let input = Array((0..<200_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
        let compressed = try Gzip.compress(input)
        #expect(Gzip.isGzip(compressed))
        #expect(compressed.count < input.count / 4)
        #expect(try Gzip.decompress(compressed, maxOutputBytes: 1 << 20) == input)
        #expect(throws: Gzip.Error.self) { try Gzip.decompress(Array(compressed.prefix(compressed.count / 2)), maxOutputBytes: 1 << 20) }
        #expect(throws: Gzip.Error.self) { try Gzip.decompress(compressed, maxOutputBytes: 1000) }
        #expect(throws: Gzip.Error.self) { try Gzip.decompress([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9], maxOutputBytes: 1000) }
        #expect(try Gzip.decompress(try Gzip.compress([]), maxOutputBytes: 10) == [])
    }

    @Test func percentDecoding() {
        #expect(percentDecode("a%2Fb+c") == "a/b c")
        #expect(percentDecode("%zz") == "%zz")
        #expect(percentDecode("100%") == "100%")
    }
}
