package web

import (
	"regexp"
	"testing"
)

// TestNewRequestID: a generated request id is 32 letters [A-Za-z], as
// Echo's were, every letter turns up, and ids do not repeat.
func TestNewRequestID(t *testing.T) {
	t.Parallel()
	letters := regexp.MustCompile(`^[A-Za-z]{32}$`)
	seen := map[string]bool{}
	counts := map[byte]int{}
	for range 1000 {
		id := newRequestID()
		if !letters.MatchString(id) || seen[id] {
			t.Fatalf("request id %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
		for i := range len(id) {
			counts[id[i]]++
		}
	}
	if len(counts) != 52 {
		t.Errorf("%d different letters in 32,000, want all 52", len(counts))
	}
}
