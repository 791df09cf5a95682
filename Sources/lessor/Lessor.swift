import ArgumentParser

/// The `lessor` command: `serve` runs a front node; later subcommands are SRE tools.
@main
struct Lessor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lessor",
        abstract: "A lease broker: stateless HTTP front nodes over one shared Redis.",
        subcommands: [Serve.self, EnvironmentCommands.self, TokenCommands.self, WorkerCommands.self, WorkCommands.self, LeaseCommands.self, ScriptCommands.self, RedisACLCommand.self, SettingsCommand.self, DenAgent.self, Run.self]
    )
}
