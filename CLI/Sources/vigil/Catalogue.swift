import ArgumentParser
import Foundation
import VigilCollector

/// `vigil catalogue`: the metric and span catalogue as Markdown, from the code; `--write` puts it into a file's marked
/// section (the README's), which a test keeps equal to the code.
struct Catalogue: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the metric and span catalogue (Markdown, from the code), or rewrite the marked section of a file with it.")

    @Option(help: "Rewrite the catalogue section of this file (e.g. README.md) instead of printing.")
    var write: String?

    func run() throws {
        guard let write else {
            print(TelemetryCatalogueDocument.markdown())
            return
        }
        guard let text = try? String(contentsOfFile: write, encoding: .utf8) else { throw ValidationError("cannot read \(write)") }
        do {
            let updated = try TelemetryCatalogueDocument.replacingSection(in: text)
            if updated != text { try updated.write(toFile: write, atomically: true, encoding: .utf8) }
            FileHandle.standardError.write(Data("\(write): catalogue \(updated == text ? "already current" : "rewritten")\n".utf8))
        } catch let error as TelemetryCatalogueDocument.MissingMarkers {
            throw ValidationError("\(write): \(error)")
        }
    }
}
