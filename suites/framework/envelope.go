package framework

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/rtconform/rtconform/suites/framework/jsonptr"
)

// rawText returns the value at ptr inside the JSON document doc: a JSON string decoded, any
// other value as its raw text, byte for byte as the target sent it. ok is false when doc is
// not JSON, ptr does not resolve, or the value is null.
func rawText(doc []byte, ptr string) (string, bool) {
	cur, ok := rawAt(doc, ptr)
	switch {
	case !ok || string(cur) == "null":
		return "", false
	case cur[0] == '"':
		var s string
		if json.Unmarshal(cur, &s) != nil {
			return "", false
		}
		return s, true
	}
	return string(cur), true
}

// rawAt returns the raw JSON value at ptr inside doc, trimmed; ok is false when doc is not
// JSON or ptr does not resolve.
func rawAt(doc []byte, ptr string) (json.RawMessage, bool) {
	if !jsonptr.Valid(ptr) || !json.Valid(doc) {
		return nil, false
	}
	cur := json.RawMessage(bytes.TrimSpace(doc))
	for _, tok := range jsonptr.Tokens(ptr) {
		switch {
		case len(cur) > 0 && cur[0] == '{':
			var m map[string]json.RawMessage
			if json.Unmarshal(cur, &m) != nil {
				return nil, false
			}
			next, ok := m[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case len(cur) > 0 && cur[0] == '[':
			var a []json.RawMessage
			i, err := strconv.Atoi(tok)
			if json.Unmarshal(cur, &a) != nil || err != nil || i < 0 || i >= len(a) {
				return nil, false
			}
			cur = a[i]
		default:
			return nil, false
		}
	}
	cur = bytes.TrimSpace(cur)
	return cur, len(cur) > 0
}
