package reference

import "context"

// WSFaults are deliberate deviations from RFC 6455 that the negative-control
// fixtures (package fixtures/wsbugs) switch on, one per fixture, so that each
// fixture is exactly the reference plus one realistic bug. The zero value is
// the reference's conformant behaviour; nothing in the reference sets a
// field. A fixture attaches them to a request with WithWSFaults (a middleware
// in front of GET /ws/{topic} and GET /echo).
type WSFaults struct {
	// Handshake (RFC 6455 §4.2).

	// AnyVersion upgrades whatever Sec-WebSocket-Version says (no 426).
	AnyVersion bool
	// AnyKey upgrades a request whose Sec-WebSocket-Key is missing,
	// repeated or not 16 base64-encoded bytes.
	AnyKey bool
	// WrongAccept computes Sec-WebSocket-Accept from the key without the
	// RFC's GUID.
	WrongAccept bool
	// ExactTokens matches Upgrade and Connection case-sensitively and as
	// whole values ("websocket", "Upgrade"), not as token lists.
	ExactTokens bool
	// NoUpgradeCheck upgrades without looking at the HTTP version and the
	// Upgrade and Connection headers (only key and version are checked).
	NoUpgradeCheck bool
	// NoConnectionHeader leaves "Connection: Upgrade" out of the 101.
	NoConnectionHeader bool
	// AnyOrigin skips the Origin policy.
	AnyOrigin bool
	// SameOriginOnly refuses every cross-origin handshake (AllowedOrigins
	// is not applied to WebSockets).
	SameOriginOnly bool
	// FixedProtocol always answers Sec-WebSocket-Protocol: chat.
	FixedProtocol bool
	// FixedExtension always answers Sec-WebSocket-Extensions:
	// permessage-deflate (without implementing it).
	FixedExtension bool
	// EchoProtocolHeader copies the request's Sec-WebSocket-Protocol value
	// into the response verbatim (the whole offered list).
	EchoProtocolHeader bool
	// EchoExtensionsHeader copies the request's Sec-WebSocket-Extensions
	// value into the response verbatim (accepting unknown extensions).
	EchoExtensionsHeader bool

	// Client-to-server framing (RFC 6455 §5).

	// AcceptUnmasked processes unmasked client frames.
	AcceptUnmasked bool
	// IgnoreRSV ignores the RSV bits.
	IgnoreRSV bool
	// SkipReservedOpcodes skips frames with a reserved opcode.
	SkipReservedOpcodes bool
	// LaxControl accepts control frames over 125 bytes and fragmented ones
	// (a fragmented ping is answered at once).
	LaxControl bool
	// LaxFragments skips a continuation frame without a message to
	// continue, and lets a new data frame inside a fragmented message
	// start a new message.
	LaxFragments bool
	// PongAfterMessage answers a ping received inside a fragmented message
	// only once that message is complete.
	PongAfterMessage bool
	// EmptyPong answers a ping with an empty pong.
	EmptyPong bool
	// RejectNoncharacters also fails text messages containing Unicode
	// noncharacters (U+FDD0..U+FDEF, U+nFFFE, U+nFFFF), which are valid UTF-8.
	RejectNoncharacters bool
	// NoUTF8 never validates text messages.
	NoUTF8 bool
	// UTF8AtEnd validates a text message only once it is complete (no
	// fail-fast).
	UTF8AtEnd bool
	// LaxCloseCode accepts any close status code and treats a 1-byte close
	// payload as an empty one (echoing whatever it parsed).
	LaxCloseCode bool
	// LaxCloseReason does not validate the close reason as UTF-8.
	LaxCloseReason bool
	// NoCloseReply closes the TCP connection on a client close frame
	// without sending a close frame back.
	NoCloseReply bool
	// OpenAfterClose keeps the connection open and processing frames after
	// the close handshake, until the client closes TCP.
	OpenAfterClose bool
	// DropOversize silently discards a message above the read limit
	// instead of closing with 1009.
	DropOversize bool
	// LimitOffByOne rejects a message of exactly the read limit (>= instead
	// of >).
	LimitOffByOne bool

	// Server-to-client framing.

	// NonMinimalLength encodes every payload length below 126 with the
	// 16-bit extended length.
	NonMinimalLength bool
	// EventRSV1 sets RSV1 on event frames (as if permessage-deflate had been
	// negotiated).
	EventRSV1 bool
	// EventMasked masks event frames.
	EventMasked bool
	// EventLatin1 encodes event messages in ISO-8859-1 instead of UTF-8.
	EventLatin1 bool
	// LongCloseReason does not cut the reason of a close frame sent on a
	// protocol error to 123 bytes (the frame exceeds 125 bytes).
	LongCloseReason bool
	// NoShutdownClose drops connections on shutdown without a close frame.
	NoShutdownClose bool

	// Echo endpoint.

	// EchoPerFrame echoes every data frame as a message of its own (the
	// fragments of a message come back as separate messages).
	EchoPerFrame bool
	// EchoAsBinary echoes every message as a binary message.
	EchoAsBinary bool
	// EchoSmallLimit gives the echo endpoint the /ws endpoint's read limit
	// instead of EchoReadLimit.
	EchoSmallLimit bool
}

type wsFaultsKey struct{}

// WithWSFaults returns ctx carrying faults for the WebSocket handlers (see
// WSFaults).
func WithWSFaults(ctx context.Context, f WSFaults) context.Context {
	return context.WithValue(ctx, wsFaultsKey{}, f)
}

func wsFaultsFrom(ctx context.Context) WSFaults {
	f, _ := ctx.Value(wsFaultsKey{}).(WSFaults)
	return f
}
