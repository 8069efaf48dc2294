package scim

import (
	"encoding/json"
	"testing"
)

// BenchmarkRender compares, for one resource read from the store, the
// general path (decode the jsonb text, Render, Apply, json.Marshal: what
// every GET did before AppendJSON) with the stored renderer.
func BenchmarkRender(b *testing.B) {
	user, _ := testResources()
	user.Members = nil // a GET without groups asked for
	for _, res := range []struct{ name, stored string }{
		// as BenchmarkRequestCost's users are stored
		{"BenchUser", `{"emails": [{"type": "work", "value": "user7@example.com", "primary": true}], "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "user07", "displayName": "User 7"}`},
		{"FullUser", storedUsers[0][:len(storedUsers[0])-1] + `, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m1", "displayName": "Boss"}, "department": "Tour Operations", "employeeNumber": "701984"}}`},
	} {
		for _, pr := range []struct{ name, attributes string }{{"Default", ""}, {"Attributes", "userName,emails"}} {
			p := user.Type.Projection(pr.attributes, "")
			stored := []byte(res.stored)
			b.Run(res.name+"/"+pr.name+"/General", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					var data map[string]any
					if err := json.Unmarshal(stored, &data); err != nil {
						b.Fatal(err)
					}
					if _, err := json.Marshal(p.Apply(user.render(data, testBase))); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(res.name+"/"+pr.name+"/Stored", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r := *user
					r.stored = stored
					if _, err := r.AppendJSON(nil, testBase, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
