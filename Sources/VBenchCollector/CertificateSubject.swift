import NIOSSL

/// A certificate's subject as RFC 4514 text (`CN=guest-7,O=lab`): what `openssl x509 -subject
/// -nameopt RFC2253` prints, the most specific attribute first.
public enum CertificateSubject {
    /// The subject of `certificate`. An attribute NIOSSL does not name (it names CN, O, OU, L,
    /// ST, C, emailAddress and UID) is written `?=value`, so it is not dropped unseen.
    public static func text(of certificate: NIOSSLCertificate) -> String {
        text(certificate.subjectName.map { (label($0.type), $0.value) })
    }

    /// `attributes` in certificate order (least specific first), as RFC 4514 text.
    public static func text(_ attributes: [(type: String, value: String)]) -> String {
        attributes.reversed().map { "\($0.type)=\(escape($0.value))" }.joined(separator: ",")
    }

    static func label(_ type: SSLCertificateNameType) -> String {
        switch type {
        case .commonName: "CN"
        case .organization: "O"
        case .organizationalUnit: "OU"
        case .city: "L"
        case .state: "ST"
        case .country: "C"
        case .emailAddress: "emailAddress"
        case .userId: "UID"
        default: "?"
        }
    }

    /// RFC 4514 section 2.4: `,+"\<>;` escaped anywhere, `#` and a space at the start, a space at
    /// the end, control characters as `\XX`.
    static func escape(_ value: String) -> String {
        let characters = Array(value)
        var out = ""
        for (i, c) in characters.enumerated() {
            if ",+\"\\<>;".contains(c) || (i == 0 && (c == "#" || c == " ")) || (i == characters.count - 1 && c == " ") {
                out += "\\\(c)"
            } else if let ascii = c.asciiValue, ascii < 0x20 || ascii == 0x7f {
                let hex = String(ascii, radix: 16, uppercase: true)
                out += "\\" + (hex.count == 1 ? "0" + hex : hex)
            } else {
                out.append(c)
            }
        }
        return out
    }
}
