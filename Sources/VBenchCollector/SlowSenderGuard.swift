import NIOCore
import VBenchWire

/// Closes a connection whose frame does not arrive whole within `frameTimeout` of its first
/// byte: the idle timeout alone would let a sender trickle one byte a second forever.
/// It follows frame boundaries from the header's length field; the decoder behind it checks
/// the rest.
final class SlowSenderGuard: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let frameTimeout: TimeAmount
    private var header: [UInt8] = []
    private var payloadLeft = 0
    private var deadline: Scheduled<Void>?

    init(frameTimeout: TimeAmount) { self.frameTimeout = frameTimeout }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        var view = buffer.readableBytesView[...]
        while !view.isEmpty {
            if deadline == nil { arm(context) }
            if header.count < WireFrame.headerBytes {
                let take = min(WireFrame.headerBytes - header.count, view.count)
                header += view.prefix(take)
                view = view.dropFirst(take)
                if header.count == WireFrame.headerBytes {
                    payloadLeft = Int(header[8]) | Int(header[9]) << 8 | Int(header[10]) << 16 | Int(header[11]) << 24
                }
            } else {
                let take = min(payloadLeft, view.count)
                payloadLeft -= take
                view = view.dropFirst(take)
            }
            if header.count == WireFrame.headerBytes && payloadLeft == 0 {
                header.removeAll(keepingCapacity: true)
                deadline?.cancel()
                deadline = nil
            }
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    private func arm(_ context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: frameTimeout) {
            loopBound.value.fireUserInboundEventTriggered(SlowSenderEvent())
        }
    }
}

/// Fired when a frame took longer than the frame timeout.
struct SlowSenderEvent {}
