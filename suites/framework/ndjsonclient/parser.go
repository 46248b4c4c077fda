// Package ndjsonclient is a strict client for HTTP streams of JSON lines (NDJSON 1.0, JSON
// Lines): it reads a response body byte for byte, splits it into lines terminated by "\n"
// (a "\r" before it is tolerated, as the NDJSON spec allows), and requires every line to be
// one valid JSON value in valid UTF-8. Each line carries its arrival time. Memory is bounded:
// a line longer than Limits.MaxLine is an error naming the limit, never an unbounded buffer.
//
// The Parser works on bytes (and is what the fuzz target FuzzLines drives); the Stream sends
// a request and feeds the response body to a Parser from a background goroutine.
package ndjsonclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Default limits (Limits zero values).
const (
	DefaultMaxLine   = 1 << 20
	DefaultMaxQueued = 4096
)

// Limits bounds what a Parser and a Stream keep.
type Limits struct {
	// MaxLine is the longest line accepted, in bytes without its terminator (default 1 MiB).
	// A longer line ends the stream with a *LimitError.
	MaxLine int
	// MaxQueued is how many lines wait for Next before the reader stops reading the body
	// (TCP back-pressure; lines are never dropped). Default 4096.
	MaxQueued int
	// AllowEmpty makes the Parser skip empty lines (the NDJSON spec lets a parser ignore them
	// if it says so); by default an empty line is an error (JSON Lines: a blank line is not a
	// JSON value).
	AllowEmpty bool
}

func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultMaxLine
	}
	if l.MaxQueued <= 0 {
		l.MaxQueued = DefaultMaxQueued
	}
	return l
}

// Line is one line of the stream.
type Line struct {
	// N is the line number, from 1.
	N int
	// Offset is the byte offset of the line's first byte in the body.
	Offset int64
	// Raw is the line without its terminator ("\n", or "\r\n" then CR is true).
	Raw []byte
	// CR reports that the line ended with "\r\n".
	CR bool
	// At is when the line's terminating "\n" arrived.
	At time.Time
	// Err is what is wrong with the line (not UTF-8, not one JSON value), or nil.
	Err *LineError
}

// Value returns the line as a JSON value (Raw; valid only when Err is nil).
func (l Line) Value() json.RawMessage { return json.RawMessage(l.Raw) }

// LineError says what is wrong with one line.
type LineError struct {
	Line   int   // line number, from 1
	Offset int64 // byte offset of the line in the body
	Msg    string
	Raw    []byte // the line (at most 200 bytes of it)
}

func (e *LineError) Error() string {
	return fmt.Sprintf("ndjson line %d (byte %d): %s: %q", e.Line, e.Offset, e.Msg, e.Raw)
}

// LimitError is a line longer than Limits.MaxLine: the stream ends there.
type LimitError struct {
	Line   int
	Offset int64
	Limit  int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("ndjson line %d (byte %d) is longer than %d bytes (Limits.MaxLine) without a \"\\n\"", e.Line, e.Offset, e.Limit)
}

// UnterminatedError is the end of the body in the middle of a line: the last line has no "\n".
type UnterminatedError struct {
	Line   int
	Offset int64
	Raw    []byte // the unterminated bytes (at most 200)
}

func (e *UnterminatedError) Error() string {
	return fmt.Sprintf("ndjson line %d (byte %d) is not terminated by \"\\n\" at the end of the body: %q", e.Line, e.Offset, e.Raw)
}

// Parser splits bytes into validated lines. Not safe for concurrent use.
type Parser struct {
	l     Limits
	buf   []byte
	off   int64 // body offset of buf[0]
	n     int   // lines completed
	ended error
}

// NewParser returns a Parser with l's defaults applied.
func NewParser(l Limits) *Parser { return &Parser{l: l.withDefaults()} }

// Feed parses p, which arrived at at, and returns the lines it completed. Lines that are not
// UTF-8 or not one JSON value are returned with Err set (parsing goes on); a line over the
// limit returns a *LimitError and the Parser accepts nothing more.
func (p *Parser) Feed(b []byte, at time.Time) ([]Line, error) {
	if p.ended != nil {
		return nil, p.ended
	}
	var out []Line
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			// One byte over the limit may be the "\r" of a "\r\n" still to come.
			if tot := len(p.buf) + len(b); tot > p.l.MaxLine+1 || tot == p.l.MaxLine+1 && b[len(b)-1] != '\r' {
				p.ended = &LimitError{Line: p.n + 1, Offset: p.off, Limit: p.l.MaxLine}
				p.buf = nil
				return out, p.ended
			}
			p.buf = append(p.buf, b...)
			return out, nil
		}
		if len(p.buf)+i > p.l.MaxLine+1 {
			p.ended = &LimitError{Line: p.n + 1, Offset: p.off, Limit: p.l.MaxLine}
			p.buf = nil
			return out, p.ended
		}
		var raw []byte
		if len(p.buf) == 0 {
			raw = append([]byte(nil), b[:i]...)
		} else {
			raw = append(p.buf, b[:i]...)
			p.buf = nil
		}
		b = b[i+1:]
		start := p.off
		p.off += int64(len(raw)) + 1
		ln := Line{Offset: start, At: at}
		if n := len(raw); n > 0 && raw[n-1] == '\r' {
			raw, ln.CR = raw[:n-1], true
		}
		if len(raw) > p.l.MaxLine {
			p.ended = &LimitError{Line: p.n + 1, Offset: start, Limit: p.l.MaxLine}
			return out, p.ended
		}
		if len(raw) == 0 && p.l.AllowEmpty {
			continue
		}
		p.n++
		ln.N, ln.Raw = p.n, raw
		ln.Err = validate(raw, p.n, start)
		out = append(out, ln)
	}
	return out, nil
}

// Pending returns how many bytes of an unterminated line are buffered.
func (p *Parser) Pending() int { return len(p.buf) }

// PendingBytes returns a copy of at most max bytes of the unterminated line buffered.
func (p *Parser) PendingBytes(max int) []byte {
	return append([]byte(nil), p.buf[:min(len(p.buf), max)]...)
}

// Close ends the input: bytes of an unterminated last line are an *UnterminatedError.
func (p *Parser) Close() error {
	if p.ended != nil {
		return p.ended
	}
	if len(p.buf) > 0 {
		p.ended = &UnterminatedError{Line: p.n + 1, Offset: p.off, Raw: clip(p.buf)}
		p.buf = nil
		return p.ended
	}
	return nil
}

// validate says what is wrong with one line, or nil.
func validate(raw []byte, n int, off int64) *LineError {
	fail := func(msg string) *LineError { return &LineError{Line: n, Offset: off, Msg: msg, Raw: clip(raw)} }
	if !utf8.Valid(raw) {
		i := 0
		for i < len(raw) {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			i += size
		}
		return fail(fmt.Sprintf("not valid UTF-8 (byte 0x%02x at column %d)", raw[i], i+1))
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return fail("an empty line is not a JSON value")
	}
	if json.Valid(raw) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return fail("not a JSON value: " + err.Error())
	}
	return fail(fmt.Sprintf("more than one JSON value on the line (the first ends at column %d)", dec.InputOffset()))
}

func clip(b []byte) []byte { return append([]byte(nil), b[:min(len(b), 200)]...) }
