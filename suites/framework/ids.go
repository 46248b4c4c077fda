package framework

import (
	"slices"
	"strings"
)

// FutureID returns an id of the same shape as id that the target has not issued: its trailing
// number replaced by nines, nine digits longer ("42" → "99999999999", "epoch-7" →
// "epoch-9999999999"), larger than any the target issues in a run; "" when id does not end in
// a digit. Resume checks use it for "an id of your own shape beyond your head".
func FutureID(id string) string {
	i := len(id)
	for i > 0 && id[i-1] >= '0' && id[i-1] <= '9' {
		i--
	}
	if i == len(id) {
		return ""
	}
	return id[:i] + strings.Repeat("9", len(id)-i+9)
}

// UnknownIDs returns the ids a check probes a target's loss signal with: a foreign one
// ("rtconform-never-issued-<run>") and, when sample ends in a digit, one of the target's own
// shape beyond its head (FutureID). When the token is rendered into a template (ownShape:
// "offset":{{.ID}} in a JSON connect request) only the second: a foreign token would make a
// malformed request, not name an unknown position.
func UnknownIDs(run, sample string, ownShape bool) []string {
	var out []string
	f := FutureID(sample)
	if !ownShape || f == "" {
		out = append(out, "rtconform-never-issued-"+run)
	}
	if f != "" {
		out = append(out, f)
	}
	return out
}

// ResumeTemplated reports whether transport tr's resume token is rendered into a template
// (sse.resume.path, websocket.resume.path or message or an open message that uses {{.ID}},
// httpstream.resume.body) rather than sent as a header or query value.
func (t *Target) ResumeTemplated(tr Transport) bool {
	switch tr {
	case SSE:
		return t.SSE != nil && t.SSE.Resume.Path != ""
	case WebSocket:
		return t.WebSocket != nil && (t.WebSocket.Resume.Path != "" || t.WebSocket.Resume.Message != "" ||
			slices.ContainsFunc(t.WebSocket.Open, func(m string) bool { return strings.Contains(m, ".ID") }))
	case HTTPStream:
		return t.HTTPStream != nil && t.HTTPStream.Resume.Body != ""
	}
	return false
}
