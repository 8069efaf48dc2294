package scim

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app"
)

// FuzzNormalize decodes arbitrary JSON as a request body and normalizes it
// as a User and a Group: never a panic; either a result that normalizes to
// itself again, or an EINVALID error.
func FuzzNormalize(f *testing.F) {
	for _, seed := range []string{
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","emails":[{"value":"a@b","primary":true}]}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"b","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"x"}}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g","members":[{"value":"2819c223-7f76-453a-919d-413861904646"}]}`,
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"c","active":"True","name":{"givenName":1}}`,
		`{"SCHEMAS":["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"],"USERNAME":"d","x509Certificates":[{"value":"!!"}]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		dec := json.NewDecoder(bytes.NewReader([]byte(body)))
		dec.UseNumber()
		var v map[string]any
		if dec.Decode(&v) != nil {
			return
		}
		for _, rt := range ResourceTypes {
			out, err := rt.Normalize(v)
			if err != nil {
				if app.ErrorCode(err) != app.EINVALID {
					t.Fatalf("%s: error %v is not EINVALID", rt.Name, err)
				}
				continue
			}
			if _, err := json.Marshal(out); err != nil {
				t.Fatalf("%s: result does not encode: %v", rt.Name, err)
			}
			if _, err := rt.Normalize(out); err != nil {
				t.Fatalf("%s: a normalized resource does not normalize again: %v", rt.Name, err)
			}
		}
	})
}
