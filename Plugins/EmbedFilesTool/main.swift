// The build tool behind the EmbedFiles plugin: writes a Swift file declaring one dictionary,
// each given file keyed by its name without extension, as base64 so every byte survives.
//
// Usage: EmbedFilesTool OUTPUT.swift VARIABLE FILE...
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: EmbedFilesTool OUTPUT.swift VARIABLE FILE...\n".utf8))
    exit(64)
}
let (output, variable, files) = (arguments[0], arguments[1], arguments.dropFirst(2))
var source = """
    // Generated at build time by the EmbedFiles plugin. Do not edit.
    import Foundation

    /// Embedded files, by file name without extension, byte for byte.
    let \(variable): [String: String] = [

    """
if files.isEmpty { source += ":" }
for path in files {
    let url = URL(fileURLWithPath: path)
    let bytes = try Data(contentsOf: url)
    source += "    \"\(url.deletingPathExtension().lastPathComponent)\": \"\(bytes.base64EncodedString())\",\n"
}
source += "].mapValues { String(decoding: Data(base64Encoded: $0)!, as: UTF8.self) }\n"
try Data(source.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
