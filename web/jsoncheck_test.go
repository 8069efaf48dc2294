package web

import (
	"testing"

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
