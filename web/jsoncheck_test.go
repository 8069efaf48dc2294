package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bulkhead-dev/bulkhead/app"
)

func TestCheckJSON(t *testing.T) {
	deep := ""
	for i := 0; i < 40; i++ {
		deep = `{"a":` + deep
	}
	for _, tt := range []struct {
		name, body string
		ok         bool
	}{
		{"OK", `{"userName":"a","emails":[{"value":"x","type":"work"},{"value":"y","type":"work"}],"name":{"givenName":"g"}}`, true},
		{"OKSameKeyInSiblings", `{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":2}]}`, true},
		{"OKKeyEqualsValue", `{"userName":"userName","x":["userName","userName"]}`, true},
		{"OKMalformedLeftToDecoder", `{"a":`, true},
		{"ErrDuplicateTopLevel", `{"userName":"a","userName":"b"}`, false},
		{"ErrDuplicateNested", `{"name":{"givenName":"a","givenName":"b"}}`, false},
		{"ErrDuplicateAfterNestedValue", `{"a":{"x":1},"b":[1,2],"a":2}`, false},
		{"ErrDuplicateInArrayElement", `{"emails":[{"value":"a","value":"b"}]}`, false},
		{"ErrNULInValue", `{"userName":"a\u0000b"}`, false},
		{"ErrNULInKey", `{"user\u0000Name":"a"}`, false},
		{"ErrInvalidUTF8", "{\"userName\":\"a\xff\"}", false},
		{"ErrDeep", deep + "1", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkJSON([]byte(tt.body))
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && app.ErrorCode(err) != app.EINVALID {
				t.Fatalf("got %v, want invalidSyntax", err)
			}
		})
	}
}

// FuzzCheckJSONAsTokens holds checkJSON to what it was when it walked the
// body with json.Decoder.Token (checkJSONTokens): the same bodies refused,
// with the same message.
func FuzzCheckJSONAsTokens(f *testing.F) {
	for _, seed := range []string{
		`{"userName":"a","userName":"b"}`, `{"a":{"x":1},"b":[1,2],"a":2}`, `{"a\u0062":1,"ab":2}`, `{"a":1,"a"`,
		`{"k":"\u0000"}`, `["\\u0000"]`, `{"a":01,"a":2}`, `0{"a":1,"a":2}`, `truex{"a":1,"a":2}`, `{"a":1,}`, `[1,]`,
		`{"a":-0.5e+3,"b":[true,false,null],"c":"\ud800\n"}`, `{"a":"x" "a":1}`, `{"a" 1,"a":2}`, `[{"a":[{"b":{}}]}]`,
		"{\"a\":\"\x01\",\"a\":1}", `{"1":1,"2":2,"3":3,"4":4,"5":5,"6":6,"7":7,"8":8,"9":9,"10":1,"11":1,"12":1,"13":1,"14":1,"15":1,"16":1,"17":1,"18":1,"3":1}`,
		strings.Repeat(`[`, 33) + `1`, strings.Repeat(`{"a":`, 31) + `[]`, `1.`, `-`, `.5`, `1e`, `nul`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, want := checkJSON(body), checkJSONTokens(body)
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Fatalf("checkJSON(%q) = %v; with Token: %v", body, got, want)
		}
	})
}

// checkJSONTokens is checkJSON as it was, walking the body with
// json.Decoder.Token: FuzzCheckJSONAsTokens's reference.
func checkJSONTokens(body []byte) error {
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
