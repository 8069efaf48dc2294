package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/bulkhead-dev/bulkhead/app"
)

// maxJSONDepth bounds how deeply request bodies may nest. SCIM resources
// nest three levels; PATCH and Bulk bodies a few more.
const maxJSONDepth = 32

// checkJSON refuses, with 400 invalidSyntax, request bodies that a JSON
// decoder would accept but that no SCIM client means: invalid UTF-8 (the
// decoder would silently replace it), a key given twice in one object (the
// decoder would keep the last), NUL characters (PostgreSQL cannot store
// them), and nesting deeper than maxJSONDepth.
func checkJSON(body []byte) error {
	syntax := func(format string, args ...any) error {
		return app.ScimErrorf(app.EINVALID, app.ScimInvalidSyntax, format, args...)
	}
	if !utf8.Valid(body) {
		return syntax("the request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		keys    map[string]bool // nil for an array
		wantKey bool
	}
	var stack []*frame
	// valueDone notes that a value of the enclosing object has ended.
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // malformed JSON: the decoder that follows says what is wrong
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			valueDone()
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			key, _ := tok.(string)
			if strings.ContainsRune(key, 0) {
				return syntax("keys in the request body cannot contain NUL characters")
			}
			if stack[n-1].keys[key] {
				return syntax("the key %q appears twice in one object", truncateKey(key))
			}
			stack[n-1].keys[key] = true
			stack[n-1].wantKey = false
			continue
		}
		switch t := tok.(type) {
		case json.Delim:
			f := &frame{}
			if t == '{' {
				f.keys, f.wantKey = map[string]bool{}, true
			}
			stack = append(stack, f)
			if len(stack) > maxJSONDepth {
				return syntax("the request body nests deeper than %d levels", maxJSONDepth)
			}
		case string:
			if strings.ContainsRune(t, 0) {
				return syntax("strings in the request body cannot contain NUL characters")
			}
			valueDone()
		default:
			valueDone()
		}
	}
}

func truncateKey(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
