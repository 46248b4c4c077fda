package framework

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rtconform/rtconform/suites/framework/jsonptr"
)

// placeJSON sets value (as a JSON string) at ptr inside the JSON object template ("{}" when
// empty), creating intermediate objects.
func placeJSON(template, ptr, value string) ([]byte, error) {
	if strings.TrimSpace(template) == "" {
		template = "{}"
	}
	var doc any
	if err := json.Unmarshal([]byte(template), &doc); err != nil {
		return nil, fmt.Errorf("template is not JSON: %w", err)
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("template must be a JSON object")
	}
	toks := jsonptr.Tokens(ptr)
	cur := root
	for i, tok := range toks {
		if i == len(toks)-1 {
			cur[tok] = value
			break
		}
		next, ok := cur[tok].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[tok] = next
		}
		cur = next
	}
	return json.Marshal(root)
}
