package web

import (
	"testing"

	"github.com/bulkhead-dev/bulkhead/app"
)

// FuzzRequestBody runs arbitrary bytes through the request-body checks:
// never a panic, and every refusal is a client error. The Bulk parser has
// its own (app/directory's FuzzBulkRequest).
func FuzzRequestBody(f *testing.F) {
	for _, seed := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":1,"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"x"}},{"method":"DELETE","path":"/Users/bulkId:a"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"PATCH","path":"/Groups/g","version":"W/\"1\"","data":{"Operations":[]}}]}`,
		`{"a":{"a":{"a":1}},"a":2}`,
		"{\"k\":\"\\u0000\"}",
		`[1,2,{"x":[{"y":{}}]}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := checkJSON(body); err != nil && app.ErrorCode(err) != app.EINVALID {
			t.Fatalf("checkJSON: %v is not EINVALID", err)
		}
	})
}
