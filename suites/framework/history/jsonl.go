package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Format is the format version in the header line of a saved history.
const Format = "rtconform-history/1"

// HistoriesDir is the folder of a report directory that SaveReport writes into.
const HistoriesDir = "histories"

// maxLine bounds one line of a history file when loading.
const maxLine = 1 << 20

// header is the first line of a history file. Meta and Slow are never omitted, so that nil and
// empty read back as they were written.
type header struct {
	Format string            `json:"format"`
	Meta   map[string]string `json:"meta"`
	Rules  Rules             `json:"rules"`
	Ops    int               `json:"ops"`
}

// Save writes h to path as JSONL: a header line (format, meta, rules, op count) and then one
// op per line. Durations are written as Go duration strings ("1.203456789s"). The file is
// written to a temporary name and renamed, so a reader never sees half a history.
func (h History) Save(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".history-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	w := bufio.NewWriter(tmp)
	if err := h.Encode(w); err != nil {
		tmp.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Encode writes h to w in the Save format.
func (h History) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(header{Format: Format, Meta: h.Meta, Rules: h.Rules, Ops: len(h.Ops)}); err != nil {
		return err
	}
	for _, op := range h.Ops {
		if err := enc.Encode(op); err != nil {
			return err
		}
	}
	return nil
}

// FileName is the stable file name of the history of a check cell: "<checkID>[-<cell>].jsonl",
// with every character outside [A-Za-z0-9._-] replaced by '_'.
func FileName(checkID, cell string) string {
	name := safe(checkID)
	if cell != "" {
		name += "-" + safe(cell)
	}
	return name + ".jsonl"
}

func safe(s string) string {
	if s == "" {
		return "history"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// SaveReport saves h as reportDir/histories/FileName(checkID, cell), creating the folder, and
// returns the path written.
func (h History) SaveReport(reportDir, checkID, cell string) (string, error) {
	dir := filepath.Join(reportDir, HistoriesDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, FileName(checkID, cell))
	return path, h.Save(path)
}

// Load reads a history written by Save. An error names the file and line ("h.jsonl:7: …").
func Load(path string) (History, error) {
	f, err := os.Open(path)
	if err != nil {
		return History{}, err
	}
	defer f.Close()
	return Decode(f, path)
}

// Decode reads a history in the Save format from r; name prefixes error positions.
func Decode(r io.Reader, name string) (History, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	line := 0
	fail := func(err error) (History, error) { return History{}, fmt.Errorf("%s:%d: %w", name, line, err) }
	var h History
	var hd header
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			if err := strict(b, &hd); err != nil {
				return fail(fmt.Errorf("bad header: %w", err))
			}
			if hd.Format != Format {
				return fail(fmt.Errorf("format %q, want %q", hd.Format, Format))
			}
			if hd.Ops < 0 {
				return fail(fmt.Errorf("negative op count %d", hd.Ops))
			}
			h.Meta, h.Rules = hd.Meta, hd.Rules
			continue
		}
		var op Op
		if err := strict(b, &op); err != nil {
			return fail(err)
		}
		h.Ops = append(h.Ops, op)
	}
	if err := sc.Err(); err != nil {
		line++
		return fail(err)
	}
	if line == 0 {
		line = 1
		return fail(errors.New("empty file: missing header"))
	}
	if len(h.Ops) != hd.Ops {
		return fail(fmt.Errorf("header announces %d ops, file has %d (truncated?)", hd.Ops, len(h.Ops)))
	}
	return h, nil
}

// strict decodes one JSON value from b into v, refusing unknown fields and trailing data.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// opWire is the JSON form of an Op: durations as strings, Seq present for the kinds that use
// it, Retry present exactly when the op carries one.
type opWire struct {
	T         string `json:"t"`
	Kind      Kind   `json:"kind"`
	Client    string `json:"client,omitempty"`
	Publisher string `json:"publisher,omitempty"`
	Transport string `json:"transport,omitempty"`
	Topic     string `json:"topic,omitempty"`
	Token     string `json:"token,omitempty"`
	Start     string `json:"start,omitempty"`
	Err       string `json:"err,omitempty"`
	ID        string `json:"id,omitempty"`
	Seq       *int64 `json:"seq,omitempty"`
	Retry     string `json:"retry,omitempty"`
	Cause     string `json:"cause,omitempty"`
	Name      string `json:"name,omitempty"`
	Detail    string `json:"detail,omitempty"`
}

// MarshalJSON encodes the op as one JSON object (the line format of Save).
func (o Op) MarshalJSON() ([]byte, error) {
	w := opWire{T: o.T.String(), Kind: o.Kind, Client: o.Client, Publisher: o.Publisher,
		Transport: o.Transport, Topic: o.Topic, Token: o.Token, Err: o.Err, ID: o.ID,
		Cause: o.Cause, Name: o.Name, Detail: o.Detail}
	if o.Start != 0 {
		w.Start = o.Start.String()
	}
	if o.Kind.hasSeq() || o.Seq != 0 {
		seq := o.Seq
		w.Seq = &seq
	}
	if o.HasRetry || o.Retry != 0 {
		w.Retry = o.Retry.String()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// UnmarshalJSON decodes an op written by MarshalJSON; unknown fields and kinds are errors.
func (o *Op) UnmarshalJSON(b []byte) error {
	var w opWire
	if err := strict(b, &w); err != nil {
		return err
	}
	if !w.Kind.Valid() {
		return fmt.Errorf("unknown op kind %q", w.Kind)
	}
	op := Op{Kind: w.Kind, Client: w.Client, Publisher: w.Publisher, Transport: w.Transport,
		Topic: w.Topic, Token: w.Token, Err: w.Err, ID: w.ID, Cause: w.Cause, Name: w.Name,
		Detail: w.Detail}
	var err error
	if op.T, err = parseDur("t", w.T, true); err != nil {
		return err
	}
	if op.Start, err = parseDur("start", w.Start, false); err != nil {
		return err
	}
	if w.Seq != nil {
		op.Seq = *w.Seq
	}
	if w.Retry != "" {
		if op.Retry, err = parseDur("retry", w.Retry, true); err != nil {
			return err
		}
		op.HasRetry = true
	}
	*o = op
	return nil
}

// rulesWire is the JSON form of Rules, durations as strings.
type rulesWire struct {
	Ordered         bool     `json:"ordered"`
	Unique          bool     `json:"unique"`
	NoLoss          bool     `json:"no_loss"`
	Settle          string   `json:"settle"`
	Resumable       bool     `json:"resumable"`
	RetryHonoured   bool     `json:"retry_honoured"`
	RetryTolerance  string   `json:"retry_tolerance"`
	ReconnectWithin string   `json:"reconnect_within"`
	DetectWithin    string   `json:"detect_within"`
	BlackHole       string   `json:"black_hole"`
	MaxLag          string   `json:"max_lag"`
	Slow            []string `json:"slow"`
	PublishWithin   string   `json:"publish_within,omitempty"`
}

// MarshalJSON encodes the rules with durations as strings.
func (r Rules) MarshalJSON() ([]byte, error) {
	return json.Marshal(rulesWire{Ordered: r.Ordered, Unique: r.Unique, NoLoss: r.NoLoss,
		Settle: r.Settle.String(), Resumable: r.Resumable, RetryHonoured: r.RetryHonoured,
		RetryTolerance: r.RetryTolerance.String(), ReconnectWithin: r.ReconnectWithin.String(),
		DetectWithin: r.DetectWithin.String(), BlackHole: r.BlackHole, MaxLag: r.MaxLag.String(),
		Slow: r.Slow, PublishWithin: durString(r.PublishWithin)})
}

// UnmarshalJSON decodes rules written by MarshalJSON; unknown fields are errors.
func (r *Rules) UnmarshalJSON(b []byte) error {
	var w rulesWire
	if err := strict(b, &w); err != nil {
		return err
	}
	out := Rules{Ordered: w.Ordered, Unique: w.Unique, NoLoss: w.NoLoss, Resumable: w.Resumable,
		RetryHonoured: w.RetryHonoured, BlackHole: w.BlackHole, Slow: w.Slow}
	for _, f := range []struct {
		name string
		s    string
		d    *time.Duration
	}{{"settle", w.Settle, &out.Settle}, {"retry_tolerance", w.RetryTolerance, &out.RetryTolerance},
		{"reconnect_within", w.ReconnectWithin, &out.ReconnectWithin},
		{"detect_within", w.DetectWithin, &out.DetectWithin}, {"max_lag", w.MaxLag, &out.MaxLag},
		{"publish_within", w.PublishWithin, &out.PublishWithin}} {
		var err error
		if *f.d, err = parseDur(f.name, f.s, false); err != nil {
			return err
		}
	}
	*r = out
	return nil
}

// durString is d as a string, "" for 0 (an optional rule that is off).
func durString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func parseDur(field, s string, required bool) (time.Duration, error) {
	if s == "" {
		if required {
			return 0, fmt.Errorf("missing %q", field)
		}
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("field %q: %w", field, err)
	}
	return d, nil
}
