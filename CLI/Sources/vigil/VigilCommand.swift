import ArgumentParser

@main
struct VigilCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Vigil command line: run the pilot (a collector and agents on this machine); admin commands live here too.",
        subcommands: [Pilot.self, LoadGen.self, Models.self, Catalogue.self, Evaluate.self])
}
