import Foundation
import VigilHTTP

/// A fresh directory under /tmp, removed when the value goes away.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init() {
        path = NSTemporaryDirectory() + "vigil-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A built executable of this package: next to the test runner (SwiftPM puts both in `<scratch>/debug/`).
public func packageBinary(_ name: String) -> String? {
    let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    let candidates = [runner.deletingLastPathComponent(), Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        .map { $0.appendingPathComponent(name).path }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// `../shared/data`, when present (CI has it); tests that need it are skipped otherwise.
public let sharedData: String? = {
    if let path = ProcessInfo.processInfo.environment["VIGIL_SHARED_DATA"], FileManager.default.fileExists(atPath: path) { return path }
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<6 {
        url.deleteLastPathComponent()
        let candidate = url.appendingPathComponent("shared/data").path
        if FileManager.default.fileExists(atPath: candidate + "/sp500-daily") { return candidate }
    }
    return nil
}()

/// Runs a process to completion, capturing its output.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public func runProcess(_ path: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(120)) async throws
    -> ProcessResult
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }
    let errData = Task.detached { err.fileHandleForReading.readDataToEndOfFile() }
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        if ContinuousClock.now > deadline {
            process.terminate()
            break
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    process.waitUntilExit()
    return ProcessResult(
        status: process.terminationStatus, stdout: String(decoding: await outData.value, as: UTF8.self),
        stderr: String(decoding: await errData.value, as: UTF8.self))
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
public func eventually(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// GET over loopback; nil when the server does not answer.
public func httpGet(_ url: String) async -> (Int, String)? {
    guard let response = try? await HTTPClient().execute(HTTPRequest(url: url, timeoutSeconds: 2)) else { return nil }
    return (response.status, response.bodyText)
}

/// Errors of the process helpers below.
public struct ProcessLaunchError: Error, CustomStringConvertible {
    public var description: String
}

/// Starts `binary` in the background with its stdout and stderr appended to `logPath` (created when missing), so a
/// restarted process keeps one log.
public func launchLogged(_ binary: String, _ arguments: [String], logPath: String) throws -> Process {
    if !FileManager.default.fileExists(atPath: logPath) { FileManager.default.createFile(atPath: logPath, contents: nil) }
    guard let handle = FileHandle(forWritingAtPath: logPath) else { throw ProcessLaunchError(description: "cannot write \(logPath)") }
    handle.seekToEndOfFile()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    return process
}
