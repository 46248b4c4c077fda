package sseclient

import (
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ev is an Event without its arrival time, for comparisons.
type ev struct {
	Type, Data, ID string
	IDSeen         bool
}

func strip(evs []Event) []ev {
	out := make([]ev, 0, len(evs))
	for _, e := range evs {
		out = append(out, ev{Type: e.Type, Data: e.Data, ID: e.LastEventID, IDSeen: e.IDSeen})
	}
	return out
}

// result is everything observable after parsing a whole stream.
type result struct {
	Events    []ev
	Err       string
	LastID    string
	Retry     time.Duration
	RetryOK   bool
	Comments  []string
	Stats     WireStats
	Discarded bool
}

// parse feeds the parts in order then closes the parser.
func parse(l Limits, parts ...[]byte) result {
	p := NewParser(l)
	var r result
	for _, b := range parts {
		evs, err := p.Feed(b, time.Time{})
		r.Events = append(r.Events, strip(evs)...)
		if err != nil {
			r.Err = err.Error()
			break
		}
	}
	r.Discarded = p.Close()
	r.LastID = p.LastEventID()
	r.Retry, r.RetryOK = p.Retry()
	for _, c := range p.Comments() {
		r.Comments = append(r.Comments, c.Text)
	}
	r.Stats = p.Stats()
	if r.Events == nil {
		r.Events = []ev{}
	}
	return r
}

func msg(data string) ev { return ev{Data: data} }

var longComment = strings.Repeat("x", 2*1024)

// vectors reproduces the web-platform-tests eventsource/format-* streams.
var vectors = []struct {
	name      string
	in        string
	want      []ev
	lastID    string
	retry     time.Duration
	discarded bool
	check     func(t *testing.T, r result)
}{
	{
		name: "format-bom",
		in:   "\uFEFFdata:1\n\n\uFEFFdata:2\n\ndata:3\n\n",
		want: []ev{msg("1"), msg("3")},
		check: func(t *testing.T, r result) {
			if r.Stats.BOMs != 1 || r.Stats.ExtraBOMs != 1 {
				t.Errorf(
					"BOMs=%d ExtraBOMs=%d, want 1 1",
					r.Stats.BOMs, r.Stats.ExtraBOMs)
			}
			if !reflect.DeepEqual(r.Stats.UnknownFields, []string{"\uFEFFdata"}) {
				t.Errorf(
					"UnknownFields=%q",
					r.Stats.UnknownFields)
			}
		},
	},
	{
		name: "format-bom-2",
		in:   "\uFEFF\uFEFFdata:1\n\ndata:2\n\ndata:3\n\n",
		want: []ev{msg("2"), msg("3")},
	},
	{
		name: "format-comments",
		in: "data:1\r:\x00\n:\r\ndata:2\n:" + longComment + "\r\xFF\rdata:3\n:data:fail\r:" +
			longComment + "\ndata:4\n\n",
		want: []ev{msg("1\n2\n3\n4")},
		check: func(t *testing.T, r result) {
			want := []string{"\x00", "", longComment, "data:fail", longComment}
			if !reflect.DeepEqual(r.Comments, want) {
				t.Errorf(
					"comments: got %d %q",
					len(r.Comments), r.Comments)
			}
		},
	},
	{
		name:      "format-data-before-final-empty-line",
		in:        "retry:1000\ndata:test1\n\nid:test\ndata:test2",
		want:      []ev{msg("test1")},
		retry:     time.Second,
		discarded: true,
	},
	{
		name: "format-field-data",
		in:   "data:\n\ndata\ndata\n\ndata:test\n\n",
		want: []ev{msg(""), msg("\n"), msg("test")},
	},
	{
		name: "format-field-event",
		in:   "event:test\ndata:x\n\ndata:x\n\n",
		want: []ev{{Type: "test", Data: "x"}, msg("x")},
	},
	{
		name: "format-field-event-empty",
		in:   "event: \ndata:data\n\n",
		want: []ev{msg("data")},
	},
	{
		name:   "format-field-id",
		in:     "id: 1\ndata: 1\n\n",
		want:   []ev{{Data: "1", ID: "1", IDSeen: true}},
		lastID: "1",
	},
	{
		name:   "format-field-id-2 (non-ASCII)",
		in:     "id: \u2026\ndata: x\n\n",
		want:   []ev{{Data: "x", ID: "\u2026", IDSeen: true}},
		lastID: "\u2026",
	},
	{
		name: "format-field-id-3 persistence and reset",
		in:   "id: 1\ndata: 1\n\ndata: 2\n\nid\ndata: 3\n\ndata: 4\n\nid: 5\ndata: 5\n\nid:\ndata: 6\n\nid: 7\n\n",
		want: []ev{
			{Data: "1", ID: "1", IDSeen: true},
			{Data: "2", ID: "1"},
			{Data: "3", ID: "", IDSeen: true},
			{Data: "4", ID: ""},
			{Data: "5", ID: "5", IDSeen: true},
			{Data: "6", ID: "", IDSeen: true},
		},
		lastID: "7", // an id-only block advances the cursor without an event
	},
	{
		name: "format-field-id-null",
		in: "id:1\x00\ndata:a\n\nid:1\x00x\ndata:b\n\nid:\x00\ndata:c\n\n" +
			"id:x\x00\x00\ndata:d\n\nid:\x001\ndata:e\n\nid:ok\ndata:f\n\nid:2\x00\ndata:g\n\n",
		want: []ev{
			msg("a"), msg("b"), msg("c"), msg("d"), msg("e"),
			{Data: "f", ID: "ok", IDSeen: true},
			{Data: "g", ID: "ok"},
		},
		lastID: "ok",
		check: func(t *testing.T, r result) {
			if r.Stats.NULInID != 6 {
				t.Errorf(
					"NULInID=%d, want 6",
					r.Stats.NULInID)
			}
		},
	},
	{
		name: "format-field-parsing",
		in:   "data:\x00\ndata:  2\rData:1\ndata\x00:2\ndata:1\r\x00data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n",
		want: []ev{msg("\x00\n 2\n1\n3\n\n4")},
		check: func(t *testing.T, r result) {
			want := []string{"Data", "data\x00", "\x00data", "da-ta", "data_5", " data"}
			if !reflect.DeepEqual(r.Stats.UnknownFields, want) {
				t.Errorf(
					"UnknownFields=%q",
					r.Stats.UnknownFields)
			}
		},
	},
	{
		name:  "format-field-retry",
		in:    "retry:03000\ndata:x\n\n",
		want:  []ev{msg("x")},
		retry: 3 * time.Second,
	},
	{
		name:  "format-field-retry-bogus",
		in:    "retry:3000\n\nretry:1000x\ndata:x\n\nretry: 1000\n\nretry:-1\n\nretry:1.5\n\n",
		want:  []ev{msg("x")},
		retry: time.Second, // "retry: 1000": one leading space is stripped
		check: func(t *testing.T, r result) {
			if r.Stats.BadRetry != 3 {
				t.Errorf(
					"BadRetry=%d, want 3",
					r.Stats.BadRetry)
			}
		},
	},
	{
		name: "format-field-retry-empty",
		in:   "retry\ndata:x\n\nretry:\n\n",
		want: []ev{msg("x")},
		check: func(t *testing.T, r result) {
			if r.RetryOK || r.Stats.BadRetry != 2 {
				t.Errorf(
					"RetryOK=%v BadRetry=%d",
					r.RetryOK, r.Stats.BadRetry)
			}
		},
	},
	{
		name: "format-field-unknown",
		in:   "data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n",
		want: []ev{msg("test\n\ntest")},
	},
	{
		name: "format-leading-space",
		in:   "data:\x20test\rdata\ndata:test\n\ndata:  two\n\n",
		want: []ev{msg("test\n\ntest"), msg(" two")},
	},
	{
		name: "format-newlines",
		in:   "data:test\r\ndata\ndata:test\r\n\r",
		want: []ev{msg("test\n\ntest")},
		check: func(t *testing.T, r result) {
			s := r.Stats
			if s.CRLF != 2 || s.LF != 1 || s.CR != 1 {
				t.Errorf(
					"CRLF=%d LF=%d CR=%d, want 2 1 1",
					s.CRLF, s.LF, s.CR)
			}
		},
	},
	{
		name: "format-null-character",
		in:   "data:\x00\n\n",
		want: []ev{msg("\x00")},
	},
	{
		name: "format-utf-8",
		in:   "data:ok\u2026\n\n",
		want: []ev{msg("ok\u2026")},
		check: func(t *testing.T, r result) {
			if r.Stats.InvalidUTF8 {
				t.Error("valid UTF-8 reported invalid")
			}
		},
	},
	{
		name: "invalid utf-8 decoded with U+FFFD (maximal subparts)",
		in:   "data:a\xFFb\n\ndata:\xE2\x82A\n\ndata:\xF0\x80\n\ndata:\xED\xA0\x80\n\ndata:\xC0\xAF\n\n",
		want: []ev{
			msg("a\uFFFDb"),
			msg("\uFFFDA"),
			msg("\uFFFD\uFFFD"),
			msg("\uFFFD\uFFFD\uFFFD"),
			msg("\uFFFD\uFFFD"),
		},
		check: func(t *testing.T, r result) {
			if !r.Stats.InvalidUTF8 || r.Stats.InvalidUTF8Offset != 6 {
				t.Errorf(
					"InvalidUTF8=%v offset=%d, want true 6",
					r.Stats.InvalidUTF8, r.Stats.InvalidUTF8Offset)
			}
		},
	},
	{
		name: "truncated utf-8 before a line end",
		in:   "data:\xE2\x80\ndata:x\n\n",
		want: []ev{msg("\uFFFD\nx")},
		check: func(t *testing.T, r result) {
			if r.Stats.InvalidUTF8Offset != 5 {
				t.Errorf(
					"offset=%d, want 5",
					r.Stats.InvalidUTF8Offset)
			}
		},
	},
	{
		name: "utf-8 BOM only at start; BOM bytes elsewhere kept",
		in:   "data:\uFEFFx\n\n",
		want: []ev{msg("\uFEFFx")},
	},
	{
		name: "event type and id reset/persist rules",
		in:   "event:a\n\nevent:b\ndata:1\n\ndata:2\n\n",
		want: []ev{{Type: "b", Data: "1"}, msg("2")},
	},
	{
		name: "no colon: whole line is the name",
		in:   "data\n\nevent\ndata\n\n",
		want: []ev{msg(""), msg("")},
	},
	{
		name: "only the first colon splits",
		in:   "data:a:b: c\n\n",
		want: []ev{msg("a:b: c")},
	},
	{
		name: "utf-8 at EOF truncated",
		in:   "data:x\n\n\xE2\x82",
		want: []ev{msg("x")},
		check: func(t *testing.T, r result) {
			if !r.Stats.InvalidUTF8 || r.Stats.InvalidUTF8Offset != 8 {
				t.Errorf(
					"InvalidUTF8=%v offset=%d",
					r.Stats.InvalidUTF8, r.Stats.InvalidUTF8Offset)
			}
		},
		discarded: true,
	},
}

func TestWPTVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			r := parse(Limits{}, []byte(v.in))
			if r.Err != "" {
				t.Fatalf(
					"error: %s",
					r.Err)
			}
			if !reflect.DeepEqual(r.Events, v.want) {
				t.Errorf(
					"events:\n got %#v\nwant %#v",
					r.Events, v.want)
			}
			if r.LastID != v.lastID {
				t.Errorf(
					"LastEventID=%q, want %q",
					r.LastID, v.lastID)
			}
			if v.retry != 0 && (!r.RetryOK || r.Retry != v.retry) {
				t.Errorf(
					"retry=%v,%v want %v",
					r.Retry, r.RetryOK, v.retry)
			}
			if r.Discarded != v.discarded {
				t.Errorf(
					"Close()=%v, want %v",
					r.Discarded, v.discarded)
			}
			if v.check != nil {
				v.check(t, r)
			}
		})
	}
}

// TestSplitInvariance feeds every vector one byte at a time and split in two
// at every offset: the result must equal one Feed.
func TestSplitInvariance(t *testing.T) {
	for _, v := range vectors {
		in := []byte(v.in)
		whole := parse(Limits{}, in)
		var bytewise [][]byte
		for i := range in {
			bytewise = append(bytewise, in[i:i+1])
		}
		if got := parse(Limits{}, bytewise...); !reflect.DeepEqual(got, whole) {
			t.Errorf(
				"%s: byte by byte:\n got %+v\nwant %+v",
				v.name, got, whole)
		}
		for i := 0; i <= len(in); i++ {
			if got := parse(Limits{}, in[:i], in[i:]); !reflect.DeepEqual(got, whole) {
				t.Errorf(
					"%s: split at %d:\n got %+v\nwant %+v",
					v.name, i, got, whole)
			}
		}
	}
}

func TestCRLFSplitAcrossFeeds(t *testing.T) {
	p := NewParser(Limits{})
	evs, _ := p.Feed([]byte("data:a\r"), time.Unix(1, 0))
	if len(evs) != 0 {
		t.Fatalf(
			"early dispatch: %v",
			evs)
	}
	evs, _ = p.Feed([]byte("\n\r"), time.Unix(2, 0))
	if len(evs) != 1 || evs[0].Data != "a" || !evs[0].At.Equal(time.Unix(2, 0)) {
		t.Fatalf(
			"got %+v",
			evs)
	}
	// The CR already dispatched; the LF completing it must not dispatch again.
	evs, _ = p.Feed([]byte("\ndata:b\n"), time.Unix(3, 0))
	if len(evs) != 0 {
		t.Fatalf(
			"CR LF split produced an extra line: %v",
			evs)
	}
	p.Close()
	if s := p.Stats(); s.CRLF != 2 || s.LF != 1 || s.CR != 0 {
		t.Errorf(
			"CRLF=%d LF=%d CR=%d",
			s.CRLF, s.LF, s.CR)
	}
}

func TestEventAtIsDispatchChunk(t *testing.T) {
	p := NewParser(Limits{})
	t1, t2 := time.Unix(10, 0), time.Unix(20, 0)
	if evs, _ := p.Feed([]byte("data: x\n"), t1); len(evs) != 0 {
		t.Fatal("dispatched without a blank line")
	}
	evs, _ := p.Feed([]byte("\n: c\n"), t2)
	if len(evs) != 1 || !evs[0].At.Equal(t2) {
		t.Fatalf(
			"got %+v",
			evs)
	}
	if c := p.Comments(); len(c) != 1 || c[0].Text != " c" || !c[0].At.Equal(t2) {
		t.Fatalf(
			"comments %+v",
			c)
	}
}

func TestRaw(t *testing.T) {
	p := NewParser(Limits{MaxRaw: 5})
	p.Feed([]byte("\xEF\xBB"), time.Time{})
	p.Feed([]byte("\xBFdata:x\n\n"), time.Time{})
	if got := string(p.Raw()); got != "\xEF\xBB\xBFda" {
		t.Errorf(
			"Raw=%q",
			got)
	}
	if s := p.Stats(); s.BOMs != 1 || s.Bytes != 11 {
		t.Errorf(
			"stats %+v",
			s)
	}
}

func TestRetryOverflowSaturates(t *testing.T) {
	r := parse(Limits{}, []byte("retry:99999999999999999999999999\n\n"))
	if !r.RetryOK || r.Retry <= 0 {
		t.Errorf(
			"retry=%v ok=%v",
			r.Retry, r.RetryOK)
	}
}

func TestUnknownFieldsBounded(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 100; i++ {
		b.WriteString("f")
		b.WriteString(strings.Repeat("y", i))
		b.WriteString(":1\n")
	}
	r := parse(Limits{}, []byte(b.String()))
	if len(r.Stats.UnknownFields) != MaxUnknownFields || r.Stats.UnknownFieldCount != 100 {
		t.Errorf(
			"kept %d, count %d",
			len(r.Stats.UnknownFields), r.Stats.UnknownFieldCount)
	}
}

func TestCommentsBounded(t *testing.T) {
	p := NewParser(Limits{})
	big := ":" + strings.Repeat("z", 10000) + "\n"
	for i := 0; i < MaxComments+10; i++ {
		p.Feed([]byte(big), time.Time{})
	}
	c := p.Comments()
	if len(c) != MaxComments || len(c[0].Text) != MaxCommentText || c[0].Len != 10000 {
		t.Errorf(
			"kept %d, text %d, len %d",
			len(c), len(c[0].Text), c[0].Len)
	}
	if p.Stats().Comments != MaxComments+10 {
		t.Errorf(
			"count %d",
			p.Stats().Comments)
	}
}

func asLimit(t *testing.T, err error, what string) {
	t.Helper()
	var le *LimitError
	if !errors.As(err, &le) || le.What != what {
		t.Fatalf(
			"got %v, want a *LimitError on %s",
			err, what)
	}
}

func TestLimitLine(t *testing.T) {
	p := NewParser(Limits{MaxLine: 1024})
	chunk := []byte(strings.Repeat("x", 64<<10))
	_, err := p.Feed([]byte("data:"), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && err == nil; i++ {
		_, err = p.Feed(chunk, time.Time{})
	}
	asLimit(t, err, "line")
	if cap(p.line) > 1024 {
		t.Errorf(
			"line buffer grew to %d",
			cap(p.line))
	}
	// Sticky.
	_, err2 := p.Feed([]byte("\n\n"), time.Time{})
	if err2 != err {
		t.Errorf(
			"not sticky: %v",
			err2)
	}
	// Exactly MaxLine is accepted.
	q := NewParser(Limits{MaxLine: 10})
	evs, err := q.Feed([]byte("data:12345\n\n"), time.Time{})
	if err != nil || len(evs) != 1 {
		t.Errorf(
			"line of exactly MaxLine: %v %v",
			evs, err)
	}
}

func TestLimitEvent(t *testing.T) {
	p := NewParser(Limits{MaxEvent: 4096})
	line := []byte("data:" + strings.Repeat("d", 100) + "\n")
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = p.Feed(line, time.Time{})
	}
	asLimit(t, err, "event")
	if cap(p.data) > 4096 {
		t.Errorf(
			"data buffer grew to %d",
			cap(p.data))
	}
}

func TestLimitBytes(t *testing.T) {
	p := NewParser(Limits{MaxBytes: 20})
	evs, err := p.Feed([]byte("data:a\n\ndata:b\n\ndata:c\n\n"), time.Time{})
	asLimit(t, err, "bytes")
	if len(evs) != 2 || evs[1].Data != "b" {
		t.Errorf(
			"events before the limit: %+v",
			evs)
	}
	if p.Stats().Bytes != 20 {
		t.Errorf(
			"Bytes=%d",
			p.Stats().Bytes)
	}
}

func TestLimitDoesNotAllocate(t *testing.T) {
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = 'x'
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 4 {
		p := NewParser(Limits{MaxLine: 4096, MaxRaw: 1024})
		if _, err := p.Feed(chunk, time.Time{}); err == nil {
			t.Fatal("no error on a 1 MiB line")
		}
		q := NewParser(Limits{MaxEvent: 4096, MaxRaw: 1024})
		line := []byte("data:" + string(chunk[:1000]) + "\n")
		var err error
		for err == nil {
			_, err = q.Feed(line, time.Time{})
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 256<<10 {
		t.Errorf(
			"allocated %d bytes",
			d)
	}
}

func TestFeedAfterClose(t *testing.T) {
	p := NewParser(Limits{})
	p.Close()
	if _, err := p.Feed([]byte("x"), time.Time{}); !errors.Is(err, ErrClosed) {
		t.Errorf(
			"got %v",
			err)
	}
}
