import Foundation
import PackagePlugin

/// Embeds every `lua/*.lua` file into the target at build time, byte for byte, so the
/// binary is self-contained while `lua/` stays the only copy of the scripts in the tree.
@main
struct EmbedLuaScripts: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let directory = context.package.directoryURL.appendingPathComponent("lua")
        let scripts = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "lua" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedLua.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(scripts.count) scripts from lua/",
                executable: try context.tool(named: "EmbedLua").url,
                arguments: [output.path] + scripts.map(\.path),
                inputFiles: scripts,
                outputFiles: [output]
            )
        ]
    }
}
