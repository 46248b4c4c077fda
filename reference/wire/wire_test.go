package wire

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rtconform/rtconform/reference/eventlog"
)

func TestMarshalDoesNotEscapeHTML(t *testing.T) {
	b, err := Marshal(PollEvent{ID: "e-1", Data: "<a&b>"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"e-1","data":"<a&b>"}`; string(b) != want {
		t.Fatalf("Marshal = %s, want %s", b, want)
	}
}

func TestShapes(t *testing.T) {
	gap := &eventlog.Gap{Reason: eventlog.ReasonUnknown, Requested: "x"}
	ev := eventlog.Event{ID: "e-2", Seq: 2, Data: []byte("hi")}
	for _, tc := range []struct {
		v    any
		want string
	}{
		{NewPoll(nil, nil, "e-0"), `{"events":[],"cursor":"e-0"}`},
		{NewPoll([]eventlog.Event{ev}, gap, "e-2"), `{"events":[{"id":"e-2","data":"hi"}],"cursor":"e-2","reset":{"reason":"unknown","requested":"x"}}`},
		{NewReset(gap), `{"reason":"unknown","requested":"x"}`},
		{NewWSEvent(ev), `{"type":"event","id":"e-2","data":"hi"}`},
		{NewWSReset(gap), `{"type":"reset","reason":"unknown","requested":"x"}`},
	} {
		b, err := Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%#v) = %s, %v; want %s", tc.v, b, err, tc.want)
		}
	}
}

func TestReadLogAndSeqOf(t *testing.T) {
	now := time.Unix(1e9, 0)
	topics := eventlog.NewTopics(eventlog.Options{MaxEvents: 2, MaxAge: time.Minute, Now: func() time.Time { return now }})
	l, _ := topics.Get("t")
	ep := topics.Epoch()
	if evs, gap, next := ReadLog(l, l.Head(), 10); len(evs) != 0 || gap != nil || next != l.Head() {
		t.Fatalf("empty log: %v %v %q", evs, gap, next)
	}
	for _, d := range []string{"a", "b", "c"} {
		l.Append([]byte(d))
	}
	// Up to max events; next is the last one's id.
	if evs, gap, next := ReadLog(l, ep+"-1", 1); len(evs) != 1 || gap != nil || next != ep+"-2" {
		t.Fatalf("batch: %v %v %q", evs, gap, next)
	}
	// Nothing after the head: next is the cursor itself.
	if evs, gap, next := ReadLog(l, ep+"-3", 10); len(evs) != 0 || gap != nil || next != ep+"-3" {
		t.Fatalf("at head: %v %v %q", evs, gap, next)
	}
	// A gap with events: from the oldest retained one.
	if evs, gap, next := ReadLog(l, ep+"-9", 10); len(evs) != 2 || gap == nil || next != ep+"-3" {
		t.Fatalf("ahead: %v %v %q", evs, gap, next)
	}
	// A gap without events (all aged out): next is the head, so that the
	// gap is not signalled again.
	now = now.Add(time.Hour)
	if evs, gap, next := ReadLog(l, ep+"-1", 10); len(evs) != 0 || gap == nil || next != ep+"-3" {
		t.Fatalf("expired: %v %v %q", evs, gap, next)
	}
	if _, gap, _ := ReadLog(l, ep+"-3", 10); gap != nil {
		t.Fatalf("gap at the head: %v", gap)
	}
	if got := SeqOf(ep, ep+"-3"); got != 3 {
		t.Errorf("SeqOf = %d", got)
	}
	if got := SeqOf(ep, "other-3"); got != 0 {
		t.Errorf("SeqOf(other epoch) = %d", got)
	}
}

func TestPollHelpers(t *testing.T) {
	topics := eventlog.NewTopics(eventlog.Options{MaxTopics: 1})
	serve := func(method, target string) *httptest.ResponseRecorder {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /poll/{topic}", func(w http.ResponseWriter, r *http.Request) {
			l, ok := BeginPoll(w, r, topics)
			if !ok {
				return
			}
			WritePoll(w, nil, nil, PollCursor(r, l), time.Second)
		})
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		return rec
	}
	rec := serve(http.MethodGet, "/poll/t?cursor=c-1")
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Type") != "application/json" ||
		rec.Body.String() != `{"events":[],"cursor":"c-1"}`+"\n" {
		t.Errorf("GET: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	l, _ := topics.Get("t")
	if rec := serve(http.MethodGet, "/poll/t"); !strings.Contains(rec.Body.String(), `"cursor":"`+l.Head()+`"`) {
		t.Errorf("no cursor: %q, want the head", rec.Body)
	}
	if rec := serve(http.MethodHead, "/poll/t"); rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("HEAD: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	if rec := serve(http.MethodGet, "/poll/bad%20name"); rec.Code != 400 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("invalid topic: %d %v", rec.Code, rec.Header())
	}
	if rec := serve(http.MethodGet, "/poll/second"); rec.Code != 503 || rec.Header().Get("Retry-After") != "60" {
		t.Errorf("too many topics: %d %v", rec.Code, rec.Header())
	}
}

func TestFollowWS(t *testing.T) {
	topics := eventlog.NewTopics(eventlog.Options{})
	l, _ := topics.Get("t")
	l.Append([]byte("a"))
	l.Append([]byte("b"))
	ctx, cancel := context.WithCancel(context.Background())
	var sent atomic.Uint64
	var stop atomic.Bool
	var msgs []string
	gaps := 0
	done := make(chan error, 1)
	go func() {
		send := func(m any) error {
			b, _ := Marshal(m)
			msgs = append(msgs, string(b))
			if len(msgs) == 3 {
				cancel()
			}
			return nil
		}
		done <- FollowWS(ctx, l, "bogus", 1, &sent, &stop,
			func(gap *eventlog.Gap) error { gaps++; return send(NewWSReset(gap)) },
			func(ev eventlog.Event) error { return send(NewWSEvent(ev)) })
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ep := topics.Epoch()
	want := []string{
		`{"type":"reset","reason":"unknown","requested":"bogus"}`,
		`{"type":"event","id":"` + ep + `-1","data":"a"}`,
		`{"type":"event","id":"` + ep + `-2","data":"b"}`,
	}
	if strings.Join(msgs, "\n") != strings.Join(want, "\n") || gaps != 1 || sent.Load() != 2 {
		t.Fatalf("got %q, %d gaps, sent %d; want %q", msgs, gaps, sent.Load(), want)
	}
}

func TestAppendPollMatchesMarshal(t *testing.T) {
	topics := eventlog.NewTopics(eventlog.Options{})
	l, _ := topics.Get("t")
	for _, p := range []string{"", "plain", `"quoted" <b>&amp;</b>`, "a\nb\r\nc\rd", "\u2028\u2029 \t\x00\x7f", "ünï€😀", "\xff\xfe"} {
		l.Append([]byte(p))
	}
	evs, _ := l.Since(l.Start(), 0)
	gap := &eventlog.Gap{Reason: eventlog.ReasonUnknown, Requested: `<"x">`}
	for _, c := range []struct {
		evs    []eventlog.Event
		gap    *eventlog.Gap
		cursor string
	}{{nil, nil, "e-0"}, {evs[:1], nil, evs[0].ID}, {evs, gap, "<&>"}, {nil, gap, "\u2028"}} {
		want, _ := Marshal(NewPoll(c.evs, c.gap, c.cursor))
		got, err := AppendPoll(nil, c.evs, c.gap, c.cursor)
		if err != nil || string(got) != string(want)+"\n" {
			t.Errorf("AppendPoll = %q, %v; want %q", got, err, string(want)+"\n")
		}
	}
}
