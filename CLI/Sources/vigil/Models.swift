import ArgumentParser
import Foundation
import VigilCollector
import VigilHTTP

/// `vigil models list|train|promote`: the model registry of a running collector, over its HTTP API.
struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, train and promote the collector's Tier-2 models.", subcommands: [List.self, Train.self, Promote.self])

    struct Connection: ParsableArguments {
        @Option(help: "Collector base URL.")
        var collector: String = "http://127.0.0.1:8080"

        @Option(help: "Bearer token (default: $VIGIL_TOKEN).")
        var token: String?

        func send(_ method: String, _ path: String, body: [UInt8] = [], timeoutSeconds: Double = 60) async throws -> [UInt8] {
            var headers = [("Content-Type", "application/json")]
            if let token = token ?? ProcessInfo.processInfo.environment["VIGIL_TOKEN"] { headers.append(("Authorization", "Bearer \(token)")) }
            let response: HTTPResponse
            do {
                response = try await HTTPClient(userAgent: "vigil-cli").execute(
                    HTTPRequest(method: method, url: collector + path, headers: headers, body: body, timeoutSeconds: timeoutSeconds))
            } catch {
                throw CLIFailure("cannot reach the collector at \(collector): \(error)")
            }
            guard (200..<300).contains(response.status) else {
                throw CLIFailure("\(method) \(path): HTTP \(response.status) \(response.bodyText.prefix(500))")
            }
            return response.body
        }
    }

    static func line(_ model: APIModel) -> String {
        func number(_ key: String) -> String { model.metrics[key].map { String(format: "%.3f", $0) } ?? "-" }
        return
            "#\(model.id)  \(model.kind) v\(model.version)  \(model.status)  trained \(model.trainedFrom.prefix(10))..\(model.trainedTo.prefix(10))  "
            + "F1 \(number("f1"))  ROC-AUC \(number("roc_auc"))  PR-AUC \(number("pr_auc"))  threshold \(number("threshold"))  "
            + "by \(model.createdBy)" + (model.promotedBy.map { "; promoted by \($0)" } ?? "")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Registered models, newest first.")
        @OptionGroup var connection: Connection
        @Option(help: "isolation_forest or gradient_boosted_trees.") var kind: String?
        @Option(help: "challenger, champion or retired.") var status: String?
        @Flag(help: "Print the API's JSON.") var json = false

        func run() async throws {
            var query = ["limit=1000"]
            if let kind { query.append("kind=\(kind)") }
            if let status { query.append("status=\(status)") }
            let body = try await connection.send("GET", "/v1/models?" + query.joined(separator: "&"))
            if json {
                print(String(decoding: body, as: UTF8.self))
                return
            }
            let list = try JSONDecoder().decode(APIModelList.self, from: Data(body))
            if list.items.isEmpty { print("no models registered") }
            for model in list.items { print(Models.line(model)) }
        }
    }

    struct Train: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a training cycle now and print what it registered and promoted.")
        @OptionGroup var connection: Connection
        @Option(help: "Who asks (kept as the models' created_by).") var by: String = NSUserName()

        func run() async throws {
            let body = try await connection.send(
                "POST", "/v1/models/train", body: [UInt8](try JSONEncoder().encode(["by": by])), timeoutSeconds: 1800)
            let run = try JSONDecoder().decode(APITrainingRun.self, from: Data(body))
            print(
                "trained on \(run.rows) feature rows (\(run.trainedFrom.prefix(10))..\(run.trainedTo.prefix(10))), \(run.positiveLabels) labelled anomalies, \(String(format: "%.1f", run.seconds)) s"
            )
            for model in run.registered { print("registered " + Models.line(model)) }
            for promotion in run.promotions { print("promoted #\(promotion.modelID) \(promotion.kind) (\(promotion.how)): \(promotion.reason)") }
            for (key, note) in run.notes.sorted(by: { $0.key < $1.key }) { print("\(key): \(note)") }
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a model its kind's champion (rolls back when the model is retired).")
        @OptionGroup var connection: Connection
        @Argument(help: "Model id (see `vigil models list`).") var id: Int64
        @Option(help: "Who promotes (kept as promoted_by).") var by: String = NSUserName()

        func run() async throws {
            let body = try await connection.send("POST", "/v1/models/\(id)/promote", body: [UInt8](try JSONEncoder().encode(["by": by])))
            print("champion now " + Models.line(try JSONDecoder().decode(APIModel.self, from: Data(body))))
        }
    }
}

/// A CLI failure: the message on stderr and exit code 1 (ArgumentParser prints `Error: …`).
struct CLIFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
