// Package jsonptr evaluates RFC 6901 JSON pointers against documents decoded by encoding/json.
package jsonptr

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Tokens splits a pointer into its unescaped reference tokens ("" => none: the whole document).
func Tokens(ptr string) []string {
	if ptr == "" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return parts
}

// Valid reports whether ptr has pointer syntax ("" or starting with "/").
func Valid(ptr string) bool { return ptr == "" || strings.HasPrefix(ptr, "/") }

// Get returns the value at ptr.
func Get(doc any, ptr string) (any, bool) {
	if !Valid(ptr) {
		return nil, false
	}
	cur := doc
	for _, tok := range Tokens(ptr) {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// Text renders a value as text: a string as itself, a number in its JSON form, null as "",
// anything else as its JSON encoding.
func Text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// GetText is Get followed by Text; a missing value or null is not ok.
func GetText(doc any, ptr string) (string, bool) {
	v, ok := Get(doc, ptr)
	if !ok || v == nil {
		return "", false
	}
	return Text(v), true
}
