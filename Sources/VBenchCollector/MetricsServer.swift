import FoundationEssentials
import NIOCore
import NIOHTTP1
import NIOPosix
import VBenchWire

/// `GET /metrics` over HTTP/1.1 for Prometheus: OpenMetrics when the scraper asks for it,
/// the text format otherwise. Nothing else is served; the listen address is the operator's
/// choice (127.0.0.1 by default in the CLI).
final class MetricsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let render: @Sendable (MetricsExposition.Format) -> String
    private var head: HTTPRequestHead?

    init(render: @escaping @Sendable (MetricsExposition.Format) -> String) {
        self.render = render
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            head = nil
            respond(to: h, context: context)
        }
    }

    private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        var status = HTTPResponseStatus.ok
        var contentType = "text/plain; charset=utf-8"
        var body: String
        if request.method != .GET && request.method != .HEAD {
            status = .methodNotAllowed
            body = "only GET /metrics\n"
        } else if path == "/metrics" {
            let format = MetricsExposition.Format(accept: request.headers.first(name: "accept"))
            contentType = format.contentType
            body = render(format)
        } else if path == "/" {
            body = "vbench collector: metrics at /metrics\n"
        } else {
            status = .notFound
            body = "not found; metrics are at /metrics\n"
        }
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: contentType)
        headers.add(name: "content-length", value: String(body.utf8.count))
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.whenComplete { _ in loopBound.value.close(promise: nil) }
        }
    }
}

/// `--metrics HOST:PORT`: where the metrics endpoint listens.
public struct MetricsAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `127.0.0.1:9464`, `[::1]:9464`, or `:9464` (127.0.0.1).
    public init(_ text: String) throws {
        let fail = { (why: String) in EndpointError.invalid("--metrics '\(text)': \(why); write HOST:PORT such as 127.0.0.1:9464") }
        var hostPart: Substring
        var portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { throw fail("bad IPv6 address") }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw fail("no port") }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard let port = Int(portPart), (0...65535).contains(port) else { throw fail("the port must be 0…65535") }
        self.init(host: hostPart.isEmpty ? "127.0.0.1" : String(hostPart), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

enum MetricsServer {
    static func bind(_ address: MetricsAddress, group: any EventLoopGroup,
                     render: @escaping @Sendable (MetricsExposition.Format) -> String) throws -> any Channel {
        try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(MetricsHTTPHandler(render: render))
                }
            }
            .bind(host: address.host, port: address.port).wait()
    }
}
