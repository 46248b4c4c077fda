package sseclient

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Default limits, used for every Limits field that is zero or negative.
const (
	DefaultMaxLine  = 1 << 20  // 1 MiB per line
	DefaultMaxEvent = 8 << 20  // 8 MiB of event data
	DefaultMaxBytes = 64 << 20 // 64 MiB per connection
	DefaultMaxRaw   = 1 << 20  // 1 MiB of raw bytes kept
)

// Bounds of the records kept by a Parser.
const (
	// MaxComments is how many comments Parser.Comments keeps (the first ones).
	MaxComments = 1024
	// MaxCommentText is how many bytes of each kept comment's text are stored;
	// Comment.Len always has the full length.
	MaxCommentText = 4096
	// MaxUnknownFields is how many distinct unknown field names WireStats keeps.
	MaxUnknownFields = 32
	// MaxUnknownFieldName is how many bytes of each unknown field name are kept.
	MaxUnknownFieldName = 256
)

// ErrClosed is returned by Parser.Feed after Parser.Close, and by Stream
// methods after Stream.Close.
var ErrClosed = errors.New("sseclient: closed")

// Limits bounds the memory a Parser (and a Stream) may use. A zero or negative
// field means its default.
type Limits struct {
	// MaxLine is the longest line accepted, in bytes of decoded UTF-8,
	// excluding the terminator (default 1 MiB).
	MaxLine int
	// MaxEvent is the largest data buffer accepted, in bytes (default 8 MiB).
	MaxEvent int
	// MaxBytes is the most bytes read from one connection (default 64 MiB).
	MaxBytes int64
	// MaxRaw is how many raw bytes from the start of the stream are kept for
	// wire checks (default 1 MiB).
	MaxRaw int
}

func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultMaxLine
	}
	if l.MaxEvent <= 0 {
		l.MaxEvent = DefaultMaxEvent
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxRaw <= 0 {
		l.MaxRaw = DefaultMaxRaw
	}
	return l
}

// LimitError reports that the server exceeded one of the Limits. The Parser
// (and the Stream) stop at that point: the error is sticky.
type LimitError struct {
	// What names the limit: "line", "event" or "bytes".
	What string
	// Limit is the configured limit, in bytes.
	Limit int64
}

// Error implements error.
func (e *LimitError) Error() string {
	return fmt.Sprintf("sseclient: %s exceeds the limit of %d bytes", e.What, e.Limit)
}

// Event is one dispatched event (WHATWG HTML §9.2.6, dispatch steps).
type Event struct {
	// Type is the event type buffer at dispatch; "" means "message".
	Type string
	// Data is the data buffer at dispatch, without its final LF.
	Data string
	// LastEventID is the last event ID string at dispatch.
	LastEventID string
	// IDSeen reports whether this event's block (the lines since the previous
	// blank line) had an id field that was applied, including an empty one.
	// An id field containing NUL is ignored per spec and does not count.
	IDSeen bool
	// At is the arrival time of the chunk holding the dispatching blank line.
	At time.Time
}

// Comment is one comment line (a line starting with ':').
type Comment struct {
	// Text is everything after the colon, truncated to MaxCommentText bytes.
	Text string
	// Len is the full length of the text, in bytes.
	Len int
	// At is the arrival time of the chunk holding the line's terminator.
	At time.Time
}

// Chunk is one Read from the response body.
type Chunk struct {
	// At is when the Read returned.
	At time.Time
	// Offset is the offset in the body of the chunk's first byte.
	Offset int64
	// Len is the number of bytes read.
	Len int
}

// WireStats records how the stream looked on the wire.
type WireStats struct {
	// CRLF, LF and CR count the line terminators of each kind. A CR that
	// ends the bytes fed so far is counted once the next byte (or Close)
	// tells whether it is a CRLF.
	CRLF, LF, CR int
	// BOMs is 1 when a leading U+FEFF was stripped at the stream start.
	BOMs int
	// ExtraBOMs counts U+FEFF at the start of a line other than the stripped
	// leading one (such a line has an unknown field name, e.g. "\uFEFFdata").
	ExtraBOMs int
	// InvalidUTF8 reports whether the stream held an ill-formed UTF-8
	// sequence (each is decoded as U+FFFD, as the spec requires).
	InvalidUTF8 bool
	// InvalidUTF8Offset is the stream offset of the first byte of the first
	// ill-formed sequence (valid only when InvalidUTF8).
	InvalidUTF8Offset int64
	// NULInID counts id fields ignored because they contained U+0000.
	NULInID int
	// BadRetry counts retry fields ignored because their value was empty or
	// not only ASCII digits.
	BadRetry int
	// UnknownFields holds the first MaxUnknownFields distinct unknown field
	// names (field names are case-sensitive: "Data" is unknown).
	UnknownFields []string
	// UnknownFieldCount counts every line with an unknown field name.
	UnknownFieldCount int
	// Comments counts every comment line (Parser.Comments keeps the first ones).
	Comments int
	// Events counts dispatched events.
	Events int
	// Bytes is the number of bytes fed.
	Bytes int64
}

// Parser is an incremental, byte-exact event stream parser. It does no I/O.
// All methods are safe for concurrent use.
type Parser struct {
	mu  sync.Mutex
	lim Limits

	// UTF-8 decoder (WHATWG Encoding "UTF-8 decoder").
	needed, seen int
	cp           rune
	lower, upper byte
	seq          [4]byte
	seqStart     int64
	started      bool // first code point decoded (BOM decision made)

	pendingCR bool
	line      []byte
	off       int64 // offset of the byte being processed
	at        time.Time

	data    []byte
	typ     string
	idBuf   string
	idSeen  bool
	lastID  string
	retry   time.Duration
	retryOK bool

	comments  []Comment
	onComment func(Comment)
	stats     WireStats
	unknown   map[string]struct{}
	raw       []byte

	out    []Event
	err    error
	closed bool
}

// NewParser returns a Parser bounded by l (zero fields take defaults).
func NewParser(l Limits) *Parser {
	return &Parser{lim: l.withDefaults(), lower: 0x80, upper: 0xBF}
}

// Limits returns the effective limits.
func (p *Parser) Limits() Limits { return p.lim }

// Feed parses the next bytes of the stream, which arrived at time at, and
// returns the events they dispatched. State is kept across calls: a line, a
// UTF-8 sequence or a CRLF may be split between two calls.
//
// When a limit is exceeded, Feed returns the events dispatched before that
// point together with a *LimitError; the error is sticky (later calls return
// it again and parse nothing). Memory never grows beyond the limits.
func (p *Parser) Feed(b []byte, at time.Time) ([]Event, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	if p.closed {
		return nil, ErrClosed
	}
	p.at = at
	p.out = nil

	var tooMuch error
	if rem := p.lim.MaxBytes - p.stats.Bytes; int64(len(b)) > rem {
		b = b[:rem]
		tooMuch = &LimitError{What: "bytes", Limit: p.lim.MaxBytes}
	}
	if n := p.lim.MaxRaw - len(p.raw); n > 0 {
		p.raw = appendBounded(p.raw, b[:min(n, len(b))], p.lim.MaxRaw)
	}

	base := p.stats.Bytes
	for i := 0; i < len(b); {
		p.off = base + int64(i)
		c := b[i]
		// Fast path: a run of ASCII bytes other than CR and LF.
		if p.needed == 0 && !p.pendingCR && c < 0x80 && c != '\r' && c != '\n' {
			j := i + 1
			for j < len(b) && b[j] < 0x80 && b[j] != '\r' && b[j] != '\n' {
				j++
			}
			p.started = true
			if room := p.lim.MaxLine - len(p.line); j-i > room {
				// Keep what fits so that the state does not depend on
				// how the input was split; the next byte is the offending one.
				p.line = appendBounded(p.line, b[i:i+room], p.lim.MaxLine)
				p.stats.Bytes = base + int64(i+room) + 1
				return p.fail(&LimitError{What: "line", Limit: int64(p.lim.MaxLine)})
			}
			p.line = appendBounded(p.line, b[i:j], p.lim.MaxLine)
			i = j
			continue
		}
		if err := p.byte(c); err != nil {
			p.stats.Bytes = base + int64(i) + 1
			return p.fail(err)
		}
		i++
	}
	p.stats.Bytes = base + int64(len(b))
	if tooMuch != nil {
		return p.fail(tooMuch)
	}
	out := p.out
	p.out = nil
	return out, nil
}

func (p *Parser) fail(err error) ([]Event, error) {
	p.err = err
	out := p.out
	p.out = nil
	return out, err
}

// byte runs one byte through the UTF-8 decoder and the line splitter.
func (p *Parser) byte(c byte) error {
	if p.pendingCR {
		p.pendingCR = false
		if c == '\n' {
			p.stats.CRLF++
			return nil
		}
		p.stats.CR++
	}
	if p.needed == 0 {
		switch {
		case c < 0x80:
			return p.ascii(c)
		case c >= 0xC2 && c <= 0xDF:
			p.needed, p.cp = 1, rune(c&0x1F)
		case c >= 0xE0 && c <= 0xEF:
			if c == 0xE0 {
				p.lower = 0xA0
			} else if c == 0xED {
				p.upper = 0x9F
			}
			p.needed, p.cp = 2, rune(c&0x0F)
		case c >= 0xF0 && c <= 0xF4:
			if c == 0xF0 {
				p.lower = 0x90
			} else if c == 0xF4 {
				p.upper = 0x8F
			}
			p.needed, p.cp = 3, rune(c&0x07)
		default:
			p.seqStart = p.off
			return p.invalid()
		}
		p.seq[0] = c
		p.seen = 0
		p.seqStart = p.off
		return nil
	}
	if c < p.lower || c > p.upper {
		// Ill-formed: emit U+FFFD, then reprocess c.
		p.needed, p.seen, p.lower, p.upper = 0, 0, 0x80, 0xBF
		if err := p.invalid(); err != nil {
			return err
		}
		return p.byte(c)
	}
	p.lower, p.upper = 0x80, 0xBF
	p.cp = p.cp<<6 | rune(c&0x3F)
	p.seen++
	p.seq[p.seen] = c
	if p.seen != p.needed {
		return nil
	}
	n := p.needed + 1
	p.needed, p.seen = 0, 0
	return p.emit(p.seq[:n], p.cp)
}

var (
	replacement = []byte("\uFFFD")
	lf          = []byte{'\n'}
)

// invalid records an ill-formed sequence starting at p.seqStart and emits U+FFFD.
func (p *Parser) invalid() error {
	if !p.stats.InvalidUTF8 {
		p.stats.InvalidUTF8 = true
		p.stats.InvalidUTF8Offset = p.seqStart
	}
	return p.emit(replacement, 0xFFFD)
}

// emit appends one decoded non-ASCII code point (its UTF-8 bytes) to the line.
func (p *Parser) emit(enc []byte, cp rune) error {
	if !p.started {
		p.started = true
		if cp == 0xFEFF {
			p.stats.BOMs = 1
			return nil
		}
	}
	if cp == 0xFEFF && len(p.line) == 0 {
		p.stats.ExtraBOMs++
	}
	return p.appendLine(enc)
}

func (p *Parser) ascii(c byte) error {
	p.started = true
	switch c {
	case '\n':
		p.stats.LF++
		return p.endLine()
	case '\r':
		p.pendingCR = true
		return p.endLine()
	}
	return p.appendLine([]byte{c})
}

func (p *Parser) appendLine(b []byte) error {
	if len(p.line)+len(b) > p.lim.MaxLine {
		return &LimitError{What: "line", Limit: int64(p.lim.MaxLine)}
	}
	p.line = appendBounded(p.line, b, p.lim.MaxLine)
	return nil
}

// appendBounded appends b to buf, never giving buf a capacity above limit
// (the caller has checked that len(buf)+len(b) <= limit).
func appendBounded(buf, b []byte, limit int) []byte {
	if n := len(buf) + len(b); n > cap(buf) {
		c := min(max(2*cap(buf), n, 64), limit)
		nb := make([]byte, len(buf), c)
		copy(nb, buf)
		buf = nb
	}
	return append(buf, b...)
}

// endLine interprets the complete line (WHATWG HTML §9.2.6).
func (p *Parser) endLine() error {
	line := p.line
	p.line = p.line[:0]
	if len(line) == 0 {
		p.dispatch()
		return nil
	}
	if line[0] == ':' {
		p.comment(line[1:])
		return nil
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if len(p.data)+len(value)+1 > p.lim.MaxEvent {
			return &LimitError{What: "event", Limit: int64(p.lim.MaxEvent)}
		}
		p.data = appendBounded(p.data, value, p.lim.MaxEvent)
		p.data = appendBounded(p.data, lf, p.lim.MaxEvent)
	case "event":
		p.typ = string(value)
	case "id":
		if bytes.IndexByte(value, 0) >= 0 {
			p.stats.NULInID++
			return nil
		}
		p.idBuf = string(value)
		p.idSeen = true
	case "retry":
		d, ok := parseRetry(value)
		if !ok {
			p.stats.BadRetry++
			return nil
		}
		p.retry, p.retryOK = d, true
	default:
		p.stats.UnknownFieldCount++
		if len(p.stats.UnknownFields) < MaxUnknownFields {
			n := string(name[:min(len(name), MaxUnknownFieldName)])
			if p.unknown == nil {
				p.unknown = make(map[string]struct{})
			}
			if _, dup := p.unknown[n]; !dup {
				p.unknown[n] = struct{}{}
				p.stats.UnknownFields = append(p.stats.UnknownFields, n)
			}
		}
	}
	return nil
}

// parseRetry accepts only a non-empty run of ASCII digits. A value too large
// for a time.Duration saturates at the largest Duration.
func parseRetry(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var ms int64
	sat := false
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms > (math.MaxInt64/int64(time.Millisecond)-9)/10 {
			sat = true
			continue
		}
		ms = ms*10 + int64(c-'0')
	}
	if sat {
		return time.Duration(math.MaxInt64), true
	}
	return time.Duration(ms) * time.Millisecond, true
}

func (p *Parser) comment(text []byte) {
	p.stats.Comments++
	c := Comment{Text: string(text[:min(len(text), MaxCommentText)]), Len: len(text), At: p.at}
	if len(p.comments) < MaxComments {
		p.comments = append(p.comments, c)
	}
	if p.onComment != nil {
		p.onComment(c)
	}
}

// dispatch runs the dispatch steps of §9.2.6.
func (p *Parser) dispatch() {
	p.lastID = p.idBuf
	idSeen := p.idSeen
	p.idSeen = false
	if len(p.data) == 0 {
		p.typ = ""
		return
	}
	d := p.data[:len(p.data)-1]
	p.out = append(p.out, Event{Type: p.typ, Data: string(d), LastEventID: p.lastID, IDSeen: idSeen, At: p.at})
	p.stats.Events++
	p.data = p.data[:0]
	p.typ = ""
}

// Close ends the stream (EOF). Per spec, pending data is discarded: an event
// without its final blank line is never dispatched. Close reports whether
// anything was discarded: a non-empty data buffer, a set event type or id
// buffer not yet dispatched, or an unterminated non-empty line. A UTF-8
// sequence cut by EOF is recorded as invalid UTF-8.
func (p *Parser) Close() (pendingDiscarded bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.closed = true
	if p.pendingCR {
		p.pendingCR = false
		p.stats.CR++
	}
	if p.needed > 0 {
		p.needed = 0
		if !p.stats.InvalidUTF8 {
			p.stats.InvalidUTF8 = true
			p.stats.InvalidUTF8Offset = p.seqStart
		}
		pendingDiscarded = true
	}
	if len(p.line) > 0 || len(p.data) > 0 || p.typ != "" || p.idSeen {
		pendingDiscarded = true
	}
	p.line, p.data, p.typ = nil, nil, ""
	return pendingDiscarded
}

// Comments returns the first MaxComments comments.
func (p *Parser) Comments() []Comment {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Comment(nil), p.comments...)
}

// Retry returns the reconnection time set by the last valid retry field, and
// whether there was one.
func (p *Parser) Retry() (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retry, p.retryOK
}

// LastEventID returns the last event ID string (set at each dispatch from the
// last event ID buffer): what an EventSource would send as Last-Event-ID.
func (p *Parser) LastEventID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastID
}

// Stats returns a copy of the wire statistics.
func (p *Parser) Stats() WireStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.UnknownFields = append([]string(nil), s.UnknownFields...)
	return s
}

// Raw returns a copy of the first MaxRaw bytes fed (before BOM stripping and
// UTF-8 decoding).
func (p *Parser) Raw() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.raw...)
}

// Err returns the sticky error (a *LimitError), or nil.
func (p *Parser) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
