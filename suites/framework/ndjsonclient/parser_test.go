package ndjsonclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func feedAll(t *testing.T, p *Parser, chunks ...string) ([]Line, error) {
	t.Helper()
	var out []Line
	for _, c := range chunks {
		ls, err := p.Feed([]byte(c), time.Now())
		out = append(out, ls...)
		if err != nil {
			return out, err
		}
	}
	return out, p.Close()
}

func TestParserLines(t *testing.T) {
	p := NewParser(Limits{})
	lines, err := feedAll(t, p, `{"a":1}`+"\n"+`[1,`, `2]`+"\r\n", `"s"`, "\n", "3\n  null  \n")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"a":1}`, `[1,2]`, `"s"`, `3`, `  null  `}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d: %+v", len(lines), len(want), lines)
	}
	var off int64
	for i, l := range lines {
		if string(l.Raw) != want[i] || l.N != i+1 || l.Err != nil || l.Offset != off {
			t.Errorf("line %d = %+v, want %q at %d", i, l, want[i], off)
		}
		off += int64(len(l.Raw)) + 1
		if l.CR {
			off++
		}
	}
	if !lines[1].CR || lines[0].CR {
		t.Errorf("CR flags: %v %v", lines[0].CR, lines[1].CR)
	}
}

func TestParserInvalidLines(t *testing.T) {
	for _, c := range []struct{ in, msg string }{
		{"{a:1}\n", "not a JSON value"},
		{`{"a":1}{"b":2}` + "\n", "more than one JSON value on the line (the first ends at column 7)"},
		{"\n", "an empty line is not a JSON value"},
		{"\"\xff\"\n", "not valid UTF-8 (byte 0xff at column 2)"},
		{`"\x00"` + "\n", "not a JSON value"},
		{"\ufeff{}\n", "not a JSON value"},
	} {
		p := NewParser(Limits{})
		lines, err := feedAll(t, p, c.in, "true\n")
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if len(lines) != 2 || lines[0].Err == nil || !strings.Contains(lines[0].Err.Error(), c.msg) || !strings.Contains(lines[0].Err.Error(), "line 1") {
			t.Errorf("%q: lines %+v, want line 1 invalid with %q", c.in, lines, c.msg)
			continue
		}
		if lines[1].Err != nil || lines[1].N != 2 {
			t.Errorf("%q: the line after an invalid one: %+v", c.in, lines[1])
		}
	}
	// AllowEmpty skips empty lines without numbering them.
	lines, err := feedAll(t, NewParser(Limits{AllowEmpty: true}), "\n\r\n1\n")
	if err != nil || len(lines) != 1 || lines[0].N != 1 {
		t.Errorf("AllowEmpty: %+v %v", lines, err)
	}
}

func TestParserLimitAndUnterminated(t *testing.T) {
	p := NewParser(Limits{MaxLine: 8})
	lines, err := feedAll(t, p, "12345678\n", "123", "456789")
	var le *LimitError
	if !errors.As(err, &le) || le.Line != 2 || le.Limit != 8 || len(lines) != 1 {
		t.Fatalf("lines %+v, err %v: want line 1 then a LimitError for line 2", lines, err)
	}
	if !strings.Contains(err.Error(), "8 bytes (Limits.MaxLine)") {
		t.Errorf("the error does not name the limit: %v", err)
	}
	if p.Pending() != 0 {
		t.Errorf("%d bytes kept after the limit", p.Pending())
	}
	if _, err := p.Feed([]byte("1\n"), time.Now()); !errors.As(err, &le) {
		t.Errorf("Feed after the limit: %v", err)
	}
	// A line at the limit with "\r\n" is accepted.
	if lines, err := feedAll(t, NewParser(Limits{MaxLine: 8}), "12345678\r\n"); err != nil || len(lines) != 1 {
		t.Errorf("a line of 8 bytes with CRLF: %+v %v", lines, err)
	}
	_, err = feedAll(t, NewParser(Limits{}), "1\n", `{"x":`)
	var ue *UnterminatedError
	if !errors.As(err, &ue) || ue.Line != 2 || ue.Offset != 2 || string(ue.Raw) != `{"x":` {
		t.Fatalf("unterminated: %v", err)
	}
}

func TestStreamAgainstServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprint(w, `{"id":"1","data":"a"}`+"\n"+`{"id":`)
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, `"2","data":"b"}`+"\n"+"bad\n"+`{"tail":`)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	s, err := Start(ctx, nil, req, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WaitHeaders(ctx); err != nil || s.Resp.StatusCode != 200 {
		t.Fatalf("headers: %v", err)
	}
	l, err := s.Next(ctx)
	if err != nil || string(l.Raw) != `{"id":"1","data":"a"}` || l.At.Before(s.Start) {
		t.Fatalf("line 1: %+v %v", l, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for string(s.Pending()) != `{"id":` {
		if time.Now().After(deadline) {
			t.Fatalf("pending %q", s.Pending())
		}
		time.Sleep(5 * time.Millisecond)
	}
	short, c2 := context.WithTimeout(ctx, 100*time.Millisecond)
	if _, err := s.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an unterminated line: %v", err)
	}
	c2()
	close(release)
	if l, err := s.Next(ctx); err != nil || l.N != 2 || l.Err != nil {
		t.Fatalf("line 2: %+v %v", l, err)
	}
	if l, err := s.Next(ctx); err != nil || l.Err == nil || l.N != 3 {
		t.Fatalf("line 3 should be invalid: %+v %v", l, err)
	}
	var ue *UnterminatedError
	if _, err := s.Next(ctx); !errors.As(err, &ue) {
		t.Fatalf("end: %v, want an UnterminatedError", err)
	}
	if s.FirstByte().IsZero() || s.Bytes() == 0 {
		t.Error("no first byte recorded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(ctx); err == nil {
		t.Error("Next after the end returned no error")
	}
}

func TestStreamCloseWhileBlocked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 100; i++ {
			fmt.Fprintf(w, "%d\n", i)
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	s, err := Start(ctx, nil, req, Limits{MaxQueued: 2})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the reader fills the queue and waits
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Close blocked behind a full queue")
	}
	// The queued lines are still there, then the end.
	for i := 0; ; i++ {
		l, err := s.Next(ctx)
		if err != nil {
			if !errors.Is(err, ErrClosed) || i > 2 {
				t.Fatalf("after %d lines: %v, want ErrClosed after at most 2", i, err)
			}
			break
		}
		if !bytes.Equal(l.Raw, fmt.Appendf(nil, "%d", i)) {
			t.Fatalf("line %q, want %d", l.Raw, i)
		}
	}
}
