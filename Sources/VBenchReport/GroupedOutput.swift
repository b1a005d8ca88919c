import VBenchCore

/// Output split into sections by `--group-by`: a heading per group in text and Markdown, each
/// group's JSON document wrapped with its group, and CSV documents joined under one header.
public enum GroupedOutput {
    /// `== kernel: 6.1.0 ==` in text, `## kernel: 6.1.0` in Markdown.
    public static func heading(key: String, value: String, markdown: Bool) -> String {
        markdown ? "## \(key): \(value)\n\n" : "== \(key): \(value) ==\n"
    }

    /// `{"group": {"key": …, "value": …}, field: body}`.
    public static func json(key: String, value: String, field: String, _ body: String) -> String {
        "{\"group\": {\"key\": \(JSONText.quote(key)), \"value\": \(JSONText.quote(value))}, \(JSONText.quote(field)): \(body)}"
    }

    /// The groups' JSON documents as one array.
    public static func jsonArray(_ parts: [String]) -> String { "[\n" + parts.joined(separator: ",\n") + "\n]\n" }

    /// CSV documents with the same header as one, with a leading column for the group.
    public static func csv(_ parts: [(value: String, text: String)], key: String) -> String {
        var out = ""
        for (i, part) in parts.enumerated() {
            let lines = part.text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
            guard let header = lines.first else { continue }
            if i == 0 { out += TableRenderer.csvField(key) + "," + header + "\n" }
            for line in lines.dropFirst() { out += TableRenderer.csvField(part.value) + "," + line + "\n" }
        }
        return out
    }
}

/// JSON text written by hand (log lines, wrappers around documents already encoded).
public enum JSONText {
    /// `s` as a JSON string literal, quotes included.
    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
