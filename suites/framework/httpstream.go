package framework

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// HTTPStreamRequest builds the request that opens the target's HTTP stream (target.httpstream)
// for topic at base: the declared method, the body template of a POST ({topic} substituted),
// and the resume token when token is not empty (the resume query parameter, or the resume
// body template with {{.ID}} and the connect-reply fields). It also returns "METHOD URL" for
// messages. A stream that is not declared, or a resume that is not, ends the check as
// NOT_SUPPORTED; a URL that cannot be built is a harness error.
func (t *T) HTTPStreamRequest(ctx context.Context, base, topic, token string) (*http.Request, string) {
	c := t.Target().HTTPStream
	if c == nil {
		t.NotSupported("the profile declares capability httpstream but no target.httpstream")
	}
	u := base + Path(c.Path, topic)
	if token != "" {
		switch {
		case c.Resume.Query != "":
			pu, err := url.Parse(u)
			if err != nil {
				t.Harness("target.httpstream.path gives the URL %q: %v", u, err)
			}
			q := pu.Query()
			q.Set(c.Resume.Query, token)
			pu.RawQuery = q.Encode()
			u = pu.String()
		case c.Resume.Body != "":
			// Request renders it.
		default:
			t.NotSupported("target.httpstream.resume declares neither query nor body")
		}
	}
	req, err := c.Request(ctx, u, topic, token, t.ResumeState().Fields(topic))
	if err != nil {
		t.Harness("%v", err)
	}
	return req, req.Method + " " + u
}

// Request builds the stream request at u (its resume query, when used, already set): the
// declared method, and for a POST the body template ({topic} substituted) or, resuming from
// token with resume.body declared, that template rendered with the token and fields.
func (c *HTTPStreamConfig) Request(ctx context.Context, u, topic, token string, fields map[string]string) (*http.Request, error) {
	body := strings.ReplaceAll(c.Body, "{topic}", topic)
	if token != "" && c.Resume.Query == "" && c.Resume.Body != "" {
		var err error
		if body, err = RenderToken(c.Resume.Body, topic, token, fields); err != nil {
			return nil, fmt.Errorf("target.httpstream.resume.body: %w", err)
		}
	}
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	var rd io.Reader
	if method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("building the request for %s: %w", u, err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// HTTPStreamEnvelope returns the pointers to the id and payload inside a line of the HTTP
// stream: target.httpstream.envelope, else target.envelope.
func (tg *Target) HTTPStreamEnvelope() Envelope {
	if c := tg.HTTPStream; c != nil && c.Envelope != nil && c.Envelope.Data != "" {
		return *c.Envelope
	}
	return tg.Envelope
}
