import Foundation
import PackagePlugin

/// Embeds files of the repository into a target at build time, byte for byte, so the binary
/// is self-contained while each file keeps one home in the tree: `lua/lessor.lua` and
/// `lua/lessor_acl.lua` (the Redis Functions libraries) into LessorCore (`embeddedLuaSources`), and `docs/openapi.yaml`
/// and the status page's templates (`ui/*.mustache`) into LessorHTTP (`embeddedDocuments`).
@main
struct EmbedFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let root = context.package.directoryURL
        let variable: String
        let files: [URL]
        switch target.name {
        case "LessorCore":
            variable = "embeddedLuaSources"
            files = [root.appendingPathComponent("lua/lessor.lua"), root.appendingPathComponent("lua/lessor_acl.lua")]
        case "LessorHTTP":
            variable = "embeddedDocuments"
            files = [root.appendingPathComponent("docs/openapi.yaml")]
                + ["status", "login", "notice", "style"].map { root.appendingPathComponent("ui/\($0).mustache") }
        default:
            return []
        }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("Embedded.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) file(s) into \(target.name)",
                executable: try context.tool(named: "EmbedFilesTool").url,
                arguments: [output.path, variable] + files.map(\.path),
                inputFiles: files,
                outputFiles: [output]
            )
        ]
    }
}
