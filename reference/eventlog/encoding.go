package eventlog

import (
	"sync"
	"sync/atomic"
)

// MaxEncodings is how many Encodings a program may create (one per transport).
const MaxEncodings = 4

// Encoding is one wire encoding of events, for example the SSE frame of an event or its
// WebSocket frame. Encoding.Of builds an event's bytes at most once and shares them with
// every reader of that event: a fan-out to many subscribers encodes each event once per
// transport, not once per subscriber. The bytes live as long as the event is retained, and
// only the encodings that some reader asked for are ever built.
type Encoding struct {
	slot  int
	build func(Event) []byte
}

var encodings atomic.Int32

// NewEncoding returns the Encoding built by build, which must be deterministic (a pure
// function of the event). Create Encodings once, at package initialization: at most
// MaxEncodings per program (NewEncoding panics beyond).
func NewEncoding(build func(Event) []byte) *Encoding {
	n := int(encodings.Add(1)) - 1
	if n >= MaxEncodings {
		panic("eventlog: more than MaxEncodings encodings")
	}
	return &Encoding{slot: n, build: build}
}

// Of returns the encoding of ev, built on the first call for the event and shared afterwards
// by every copy of ev returned by its Log. The bytes are shared: callers must not modify
// them. An Event that did not come from a Log is encoded at every call.
func (e *Encoding) Of(ev Event) []byte {
	if ev.encoded == nil {
		return e.build(ev)
	}
	slot := &ev.encoded[e.slot]
	slot.once.Do(func() { slot.b = e.build(ev) })
	return slot.b
}

// encoded holds the lazily built encodings of one event, shared by all its copies.
type encoded [MaxEncodings]struct {
	once sync.Once
	b    []byte
}
