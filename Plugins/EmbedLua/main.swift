// The build tool behind the EmbedLuaScripts plugin: writes a Swift file holding each Lua
// script given, keyed by its file name without `.lua`, as base64 so every byte survives.
//
// Usage: EmbedLua OUTPUT.swift SCRIPT.lua...
import Foundation

let arguments = CommandLine.arguments.dropFirst()
guard let output = arguments.first else {
    FileHandle.standardError.write(Data("usage: EmbedLua OUTPUT.swift SCRIPT.lua...\n".utf8))
    exit(64)
}
var source = """
    // Generated at build time from lua/*.lua by the EmbedLuaScripts plugin. Do not edit.
    import Foundation

    /// Every script of `lua/`, by file name without `.lua`, byte for byte.
    let embeddedLuaSources: [String: String] = [

    """
if arguments.count == 1 { source += ":" }
for path in arguments.dropFirst() {
    let url = URL(fileURLWithPath: path)
    let bytes = try Data(contentsOf: url)
    source += "    \"\(url.deletingPathExtension().lastPathComponent)\": \"\(bytes.base64EncodedString())\",\n"
}
source += "].mapValues { String(decoding: Data(base64Encoded: $0)!, as: UTF8.self) }\n"
try Data(source.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
