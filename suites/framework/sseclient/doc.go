// Package sseclient is a strict, byte-exact Server-Sent Events client for
// conformance checks (WHATWG HTML §9.2.5 "Parsing an event stream" and
// §9.2.6 "Interpreting an event stream").
//
// It is built to judge a server, not to be forgiving: it records what the
// server sent (line terminators, BOMs, invalid UTF-8, NUL in ids, bogus retry
// values, unknown field names, the first raw bytes, the timing of every read)
// and dispatches events exactly as a browser's EventSource would.
//
// Every buffer is bounded by Limits: a line, the event data buffer, the
// whole connection, the raw bytes kept, the comments kept and the read chunks
// kept. A hostile server cannot make the client use unbounded memory, and
// every blocking call of Stream takes a context.
//
// Parser is the pure, incremental part (no I/O). Stream opens an HTTP
// request, reads the body in a background goroutine and feeds a Parser with
// arrival timestamps.
package sseclient
