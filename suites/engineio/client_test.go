package engineio

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePayload(t *testing.T) {
	got, err := parsePayload([]byte("4hello\x1e2\x1e4world\x1ebAQIDBA==\x1e6"))
	if err != nil {
		t.Fatal(err)
	}
	want := []packet{{Type: pMessage, Data: "hello"}, {Type: pPing}, {Type: pMessage, Data: "world"},
		{Type: pMessage, Data: "\x01\x02\x03\x04", Binary: true}, {Type: pNoop}}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", "4a\x1e", "7x", " 2", "4a\x1e\x1e2", "b!!"} {
		if ps, err := parsePayload([]byte(bad)); err == nil {
			t.Errorf("%q parsed as %v, want an error", bad, ps)
		}
	}
	if s := encodePayload(packet{Type: pPong}, packet{Type: pMessage, Data: "x"}); s != "3\x1e4x" {
		t.Errorf("encodePayload: %q", s)
	}
}

func TestParseOpen(t *testing.T) {
	h, probs := parseOpen(`{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)
	if len(probs) > 0 || h.SID != "lv_VI97HAXpY6yYWAAAC" || h.PingInterval != 25*time.Second || h.PingTimeout != 20*time.Second ||
		h.MaxPayload != 1000000 || !slices.Equal(h.Upgrades, []string{"websocket"}) {
		t.Errorf("%+v %v", h, probs)
	}
	for _, c := range []struct{ in, want string }{
		{`{"sid":"a","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}`, "maxPayload is not a positive integer (absent)"},
		{`{"sid":"","upgrades":[],"pingInterval":1,"pingTimeout":1,"maxPayload":1}`, "sid is not a non-empty string"},
		{`{"sid":"a","upgrades":"websocket","pingInterval":1,"pingTimeout":1,"maxPayload":1}`, "upgrades is not an array of strings"},
		{`{"sid":"a","upgrades":[],"pingInterval":"25000","pingTimeout":1,"maxPayload":1}`, "pingInterval is not a positive integer"},
		{`{"sid":"a","upgrades":[],"pingInterval":1.5,"pingTimeout":1,"maxPayload":1}`, "pingInterval is not a positive integer"},
		{`{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":0,"maxPayload":1}`, "pingTimeout is not a positive integer"},
		{`[1]`, "not a JSON object"},
	} {
		_, probs := parseOpen(c.in)
		if !strings.Contains(strings.Join(probs, "; "), c.want) {
			t.Errorf("%s: problems %q, want %q", c.in, probs, c.want)
		}
	}
}

func TestSeqOf(t *testing.T) {
	plain := `{"run":"abcd1234","check":"FB-EIO-004","seq":17}`
	if n, ok := seqOf("abcd1234", plain); !ok || n != 17 {
		t.Errorf("plain: %d %v", n, ok)
	}
	// Socket.IO's event array carries the body as a JSON string.
	if n, ok := seqOf("abcd1234", `2["message","{\"run\":\"abcd1234\",\"check\":\"FB-EIO-004\",\"seq\":3}"]`); !ok || n != 3 {
		t.Errorf("escaped: %d %v", n, ok)
	}
	if _, ok := seqOf("otherrun", plain); ok {
		t.Error("another run's message counted")
	}
	if s := compact([]int{1, 2, 3, 5, 7, 8}); s != "[1-3,5,7-8]" {
		t.Errorf("compact: %s", s)
	}
}
