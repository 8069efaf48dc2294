package directory

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app"
)

// FuzzBulkRequest runs arbitrary JSON through the Bulk parser and the
// bulkId resolution: never a panic, and every refusal is a client error.
func FuzzBulkRequest(f *testing.F) {
	for _, seed := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":1,"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"x"}},{"method":"DELETE","path":"/Users/bulkId:a"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"PATCH","path":"/Groups/g","version":"W/\"1\"","data":{"Operations":[]}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":-99999999999999999999,"Operations":[{"method":"put","path":"/Users/bulkId:"}]}`,
		`{"a":{"a":{"a":1}},"a":2}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v map[string]any
		if dec.Decode(&v) != nil {
			return
		}
		ops, _, err := parseBulk(v)
		if err != nil {
			if code := app.ErrorCode(err); code != app.EINVALID && code != app.ETOOLARGE {
				t.Fatalf("parseBulk: %v is neither EINVALID nor ETOOLARGE", err)
			}
			return
		}
		for _, op := range ops {
			if op.invalid != nil && app.ErrorCode(op.invalid) != app.EINVALID {
				t.Fatalf("operation error %v is not EINVALID", op.invalid)
			}
			bulkRefs(op)
			replaceBulkRefs(op.Data, map[string]string{"a": "b"})
			if op.invalid == nil {
				_, _, _ = bulkTarget(op.Method, op.Path)
			}
		}
	})
}
