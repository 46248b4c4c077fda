package framework

import "strings"

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
