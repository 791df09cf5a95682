import ArgumentParser
import Foundation
import LessorHTTP

/// How a command prints what it did: `--output text|json|table` and `--quiet`.
///
/// * `text` (the default): a command that creates something prints its bare id, or its
///   secret when it has one (shown once), so `ENV=$(lessor env create --name demo)` works;
///   every other command prints a table.
/// * `json`: one JSON object (an array for a list), keys in a fixed order, absent values null.
/// * `table`: aligned `field  value` lines (a list: one row per object under a header), for people.
/// * `--quiet`: only the bare id or secret of what was created or listed, one per line;
///   nothing for the other commands, whose exit status says it all.
///
/// Exit status: 0 done, 1 refused or failed (one line on standard error says why), 64 a usage
/// error (a bad flag or value).
struct OutputOptions: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, table
    }

    @Option(help: "text (what was created as its bare id or secret, the rest as a table), json, or table.")
    var output: Format = .text
    @Flag(name: .shortAndLong, help: "Print only the bare id or secret of what was created or listed.")
    var quiet = false

    /// One object: its fields in order, and the bare value a script wants from it.
    struct Object {
        var fields: [(name: String, value: Value)]
        var bare: String?
    }

    /// A field's value as JSON sees it.
    enum Value: ExpressibleByStringLiteral {
        case string(String), number(Int), bool(Bool)
        /// No value: JSON null, shown to people as `word`.
        case absent(String)
        /// Environment ids, or nil for every environment.
        case ids([String]?)

        init(stringLiteral value: String) { self = .string(value) }
        init(_ text: String?, absent: String = "-") { self = text.map(Value.string) ?? .absent(absent) }
        init(_ number: Int?) { self = number.map(Value.number) ?? .absent("-") }

        var text: String {
            switch self {
            case .string(let text): text
            case .number(let number): String(number)
            case .bool(let flag): String(flag)
            case .absent(let word): word
            case .ids(let ids): ids?.joined(separator: ",") ?? "all"
            }
        }

        var json: String {
            switch self {
            case .string(let text): Self.quoted(text)
            case .absent, .ids(nil): "null"
            case .ids(let ids?): "[" + ids.map(Self.quoted).joined(separator: ",") + "]"
            case .number, .bool: text
            }
        }

        private static func quoted(_ text: String) -> String { String(decoding: OrderedJSONEncoder.quoted(text), as: UTF8.self) }
    }

    /// Prints one object. `created`: the command created it, so `text` prints its bare value.
    func print(_ object: Object, created: Bool = false) {
        if quiet {
            if created, let bare = object.bare { Swift.print(bare) }
            return
        }
        switch output {
        case .json: Swift.print(Self.json(object))
        case .text where created && object.bare != nil: Swift.print(object.bare!)
        case .text, .table:
            let width = object.fields.map(\.name.count).max() ?? 0
            for (name, value) in object.fields {
                Swift.print(name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value.text)
            }
        }
    }

    /// Prints a list of objects of the same fields.
    func print(list objects: [Object], columns: [String]) {
        if quiet {
            for object in objects { if let bare = object.bare { Swift.print(bare) } }
            return
        }
        switch output {
        case .json: Swift.print("[" + objects.map(Self.json).joined(separator: ",") + "]")
        case .text, .table:
            let rows = [columns] + objects.map { $0.fields.map(\.value.text) }
            let widths = columns.indices.map { column in rows.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
            for row in rows {
                let cells = row.enumerated().map { column, cell in
                    column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                }
                Swift.print(cells.joined(separator: "  "))
            }
        }
    }

    static func json(_ object: Object) -> String {
        "{" + object.fields.map { String(decoding: OrderedJSONEncoder.quoted($0.name), as: UTF8.self) + ":" + $0.value.json }.joined(separator: ",") + "}"
    }
}
