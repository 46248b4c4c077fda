package reference

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rtconform/rtconform/reference/eventlog"
)

// An SSE stream served by net/http costs about 26 KiB per idle connection, almost all of it
// net/http's own: its read and write buffers (4 KiB each) and the 2 KiB buffer before
// chunking, the connection, request and response structures, the connection's goroutine (an
// 8 KiB stack) and its background-read goroutine. When nothing can tell the difference,
// handleSSE therefore takes the connection over after the request (http.Hijacker), returns,
// and serves the stream itself, byte for byte what net/http would send: the same status
// line, the handler's headers in net/http's order (sorted, then Date, Connection: close when
// the client asked for it, Transfer-Encoding: chunked), every frame as one chunk (net/http
// sends each flushed write as one), the terminating chunk when the stream ends, then the
// close. What stays per connection is the socket, a timer and two goroutines with small
// stacks: the stream (sseHijacked) and a reader that only waits for the client to close its
// end (watchClose, with a 64-byte buffer). TestSSEHijackedBytesMatchNetHTTP compares both.
//
// net/http keeps the stream (sseHijackable) under Config.Wrap (a wrapper, as the fixtures
// use, sees and may change the ResponseWriter, so the stream stays inside the handler's call
// exactly as before), for a Handler mounted in another http.Server (its settings are not
// ours) and for anything else this would not serve identically: HTTP/1.0 and HTTP/2, a
// request with a body (net/http would read or refuse it), a response header that net/http
// treats specially (Connection, Content-Length, Transfer-Encoding, Trailer, Date) or no
// Content-Type (sniffed), a server already shutting down (net/http would add Connection:
// close) and a failed hijack.

// appendChunk appends p as one HTTP/1.1 chunk (RFC 9112 §7.1), as net/http's chunkWriter
// writes it: lowercase hex length, CRLF, data, CRLF.
func appendChunk(b, p []byte) []byte {
	b = appendChunkHeader(b, len(p))
	b = append(b, p...)
	return append(b, "\r\n"...)
}

// appendChunkHeader appends the size line of a chunk of n bytes.
func appendChunkHeader(b []byte, n int) []byte {
	b = strconv.AppendUint(b, uint64(n), 16)
	return append(b, "\r\n"...)
}

// chunkData returns the data of a chunk built by appendChunk.
func chunkData(chunk []byte) []byte {
	i := bytes.IndexByte(chunk, '\n')
	return chunk[i+1 : len(chunk)-2]
}

// sseLastChunk ends a chunked body without trailers.
var sseLastChunk = []byte("0\r\n\r\n")

// hijackSSE serves the stream of an SSE request on its own connection (see the comment at the
// top of this file) and reports true, or reports false, having changed nothing, when net/http
// must serve it. first is the first chunk (the retry field), sent with the response head.
func (s *Server) hijackSSE(w http.ResponseWriter, r *http.Request, l *eventlog.Log, cursor string, quit <-chan struct{}, first []byte) bool {
	if !s.sseHijackable(w, r, quit) {
		return false
	}
	// Registered before the hijack: from then on http.Server.Shutdown does not wait for this
	// connection, Shutdown's wait for tracked handlers does.
	ch, done := s.track()
	nc, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		done()
		return false
	}
	s.setAbort(ch, func() { nc.Close() })
	s.m.sseClients.Add(1)
	// The head and the first chunk go out in one write, as net/http's first flush sends them.
	head := sseHead(w.Header(), r.Close, first)
	if err := nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err == nil {
		_, err = nc.Write(head)
		if err != nil {
			s.noteWriteErr(err)
		}
	}
	if err != nil {
		s.m.sseClients.Add(-1)
		nc.Close()
		done()
		return true
	}
	go s.sseHijacked(nc, l, cursor, quit, done)
	return true
}

// sseHijackable reports whether the SSE request r can be served on its hijacked connection
// byte for byte as net/http would serve it.
func (s *Server) sseHijackable(w http.ResponseWriter, r *http.Request, quit <-chan struct{}) bool {
	if s.cfg.Wrap != nil || r.Method != http.MethodGet || r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.TLS != nil ||
		r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return false
	}
	// r.Close is net/http's reading of "Connection: close"; anything else mentioning close
	// (a spelling net/http might read differently) is left to net/http.
	if !r.Close {
		for _, v := range r.Header["Connection"] {
			if strings.Contains(strings.ToLower(v), "close") {
				return false
			}
		}
	}
	h := w.Header()
	if _, ok := h["Content-Type"]; !ok {
		return false
	}
	for k := range h {
		switch k {
		case "Connection", "Content-Length", "Transfer-Encoding", "Trailer", "Date":
			return false
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return false
		}
	}
	select {
	case <-quit:
		return false
	default:
	}
	// Only on our own running http.Server (Start): its Shutdown sets s.srv to nil before it
	// begins, so a server that is shutting down (net/http would answer Connection: close) is
	// not ours any more.
	hs, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	s.mu.Lock()
	defer s.mu.Unlock()
	return hs != nil && hs == s.srv
}

// sseHead returns the response head net/http writes for a 200 with header h on an HTTP/1.1
// request (chunkWriter.writeHeader): the status line, h sorted (Header.WriteSubset), Date,
// Connection: close when the client asked for it, Transfer-Encoding: chunked, the blank line;
// then first.
func sseHead(h http.Header, closeAfter bool, first []byte) []byte {
	var b bytes.Buffer
	b.Grow(320 + len(first))
	b.WriteString("HTTP/1.1 200 OK\r\n")
	_ = h.WriteSubset(&b, nil)
	b.WriteString("Date: ")
	b.Write(time.Now().UTC().AppendFormat(make([]byte, 0, len(http.TimeFormat)), http.TimeFormat))
	b.WriteString("\r\n")
	if closeAfter {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	b.Write(first)
	return b.Bytes()
}

// sseHijacked serves a hijacked SSE stream until Shutdown, the client's close or a failed
// write, then ends the chunked body (unless a write failed) and closes the connection, as
// net/http does after the handler returns.
func (s *Server) sseHijacked(nc net.Conn, l *eventlog.Log, cursor string, quit <-chan struct{}, done func()) {
	defer done()
	gone := make(chan struct{})
	go watchClose(nc, gone)
	failed := false
	s.followSSE(l, cursor, quit, gone, func(chunk []byte) bool {
		if err := nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
			failed = true
			return false
		}
		if _, err := nc.Write(chunk); err != nil {
			s.noteWriteErr(err)
			failed = true
			return false
		}
		return true
	})
	s.m.sseClients.Add(-1)
	if !failed {
		// Leave time for the terminating chunk, as the net/http path does.
		if nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)) == nil {
			_, _ = nc.Write(sseLastChunk)
		}
	}
	nc.Close()
}

// watchClose reads and discards what the client sends (nothing, normally) until its end of
// the connection is closed or the connection breaks or is closed, then closes gone: net/http's
// background read cancels the request's context then.
func watchClose(nc net.Conn, gone chan<- struct{}) {
	buf := make([]byte, 64)
	for {
		if _, err := nc.Read(buf); err != nil {
			close(gone)
			return
		}
	}
}
