package usage_test

import (
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/usage"
)

// TestRedact feeds the inspector each form in which a failed request
// carries personal data, with the details the server really answers, and
// checks that no value survives anywhere in what support staff see, while
// the attribute names and operators they need do.
func TestRedact(t *testing.T) {
	for _, tt := range []struct {
		name   string
		in     usage.Captured
		secret []string // must appear nowhere
		keep   []string // must appear in Path, Body or Detail
	}{
		{"UnquotedFilterValue", usage.Captured{Method: "GET", Path: "/tenants/acme/scim/v2/Users",
			RawQuery: "filter=userName+eq+jdoe%40contoso.com+and+active+eq+true&count=5",
			Detail:   "filter does not parse: userName eq jdoe@contoso.com and active eq true and"},
			[]string{"jdoe", "contoso", "true"}, []string{"/tenants/acme/scim/v2/Users?", `userName eq "…"(16) and active eq <bool>`, "count=…(1)",
				"filter does not parse: userName eq …(16) and active eq <bool> and"}},
		{"NumberAndNull", usage.Captured{Method: "GET", Path: "/scim/v2/Users",
			RawQuery: "filter=" + "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber+eq+701984+or+title+eq+null"},
			[]string{"701984", "eq null"}, []string{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq #(6) or title eq <null>"}},
		{"QuotedValue", usage.Captured{Method: "GET", Path: "/scim/v2/Users",
			RawQuery: "filter=" + `emails%5Btype+eq+%22work%22+and+value+co+%22%40contoso.com%22%5D&sortBy=name.familyName&attributes=userName,Barbara+Jensen`,
			Detail:   `attribute "created" takes a dateTime such as "2011-05-13T04:42:34Z", not "Barbara Jensen"`},
			[]string{"work", "contoso", "Barbara", "Jensen"}, []string{`emails[type eq "…"(4) and value co "…"(12)]`, "sortBy=name.familyName", "attributes=userName,…(14)"}},
		{"UnparseableFilter", usage.Captured{Method: "GET", Path: "/scim/v2/Users",
			RawQuery: "filter=" + `displayName+eq+Barbara+Jensen+or+(x`,
			Detail:   `filter does not parse: displayName eq Barbara Jensen or (x`},
			[]string{"Barbara", "Jensen", "(x"}, []string{"displayName eq …(7) …(12)"}},
		{"SearchBody", usage.Captured{Method: "POST", Path: "/scim/v2/.search",
			Body:   []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName sw \"bjen\" and name.givenName eq \"Barbara\"","attributes":["userName","emails"],"sortOrder":"Jensen","count":10}`),
			Detail: `filter does not parse: userName sw "bjen" and name.givenName eq "Barbara"`},
			[]string{"bjen", "Barbara", "Jensen", "10"}, []string{`/scim/v2/.search`, `"filter":"userName sw \"…\"(4) and name.givenName eq \"…\"(7)"`, `"attributes":["userName","emails"]`, `"count":#(2)`, `"sortOrder":"…"(6)`}},
		{"UniquenessDetail", usage.Captured{Method: "POST", Path: "/tenants/acme/scim/v2/Users",
			Body:   []byte(`{"userName":"bjensen","name":{"givenName":"Barbara"}}`),
			Detail: `userName "bjensen" is already taken`},
			[]string{"bjensen", "Barbara"}, []string{`userName "…"(7) is already taken`, `{"userName":"…"(7),"name":{"givenName":"…"(7)}}`}},
		{"PathSegmentWithName", usage.Captured{Method: "GET", Path: "/tenants/acme/scim/v2/Users/John Smith",
			Detail: `User "John Smith" not found`},
			[]string{"John", "Smith"}, []string{"/tenants/acme/scim/v2/Users/…(10)", `User "…"(10) not found`}},
		{"PathSegmentEmailAndUnknownRoute", usage.Captured{Method: "GET", Path: "/scim/v2/john@example.com/x",
			Detail: "no SCIM endpoint at /scim/v2/john@example.com/x"},
			[]string{"john", "example"}, []string{"/scim/v2/…(16)/…(1)", "no SCIM endpoint at /scim/v2/…(16)/…(1)"}},
		{"AllowListedKeyValues", usage.Captured{Method: "PUT", Path: "/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
			Body: []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:example:secret:Jensen"],"id":"2819c223-7f76-453a-919d-413861904646","active":"False","emails":[{"type":"home of bjensen","primary":true,"value":"b@example.com"}],"bulkId":"bjensen","version":"W/\"bjensen\"","externalId":"Barbara","Barbara Jensen":1}`)},
			[]string{"2819c223", "False", "bjensen", "home", "example", "Barbara", "Jensen"},
			[]string{`"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","…"(25)]`, `"id":"…"(36)`, `"active":"…"(5)`, `"type":"…"(15)`, `"primary":<bool>`, `"…"(14):#(1)`}},
		{"PatchWithValues", usage.Captured{Method: "PATCH", Path: "/scim/v2/Groups/2819c223-7f76-453a-919d-413861904646",
			Body:   []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"members[value eq \"Jane Doe\"].display","value":"Jane"},{"op":"add","value":{"displayName":"Jane's team","path":"Jane"}},{"op":"Jane","path":"Jane Doe"}]}`),
			Detail: `Operations[0]: unknown attribute "members[value eq \"Jane Doe\"].display"`},
			[]string{"Jane", "Doe", "2819c223"}, []string{`"op":"Replace","path":"members[value eq \"…\"(8)].display"`, `"op":"add","value":{"displayName":"…"(11),"path":"…"(4)}`, `{"op":"…"(4),"path":"…(8)"}`}},
		{"Bulk", usage.Captured{Method: "POST", Path: "/scim/v2/Bulk",
			Body: []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST","path":"/Users","bulkId":"jane","data":{"userName":"jane@example.com"}},{"method":"PATCH","path":"/Users/jane@example.com","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"emails[value eq \"jane@example.com\"]"}]}}]}`)},
			[]string{"jane", "example"}, []string{`"method":"POST","path":"/Users","bulkId":"…"(4),"data":{"userName":"…"(16)}`, `"method":"PATCH","path":"/Users/…(16)"`, `"op":"remove","path":"emails[value eq \"…\"(16)]"`}},
		{"LongArray", usage.Captured{Method: "POST", Path: "/scim/v2/Groups",
			Body: []byte(`{"members":[` + strings.Repeat(`{"value":"m"},`, 24) + `{"value":"last-member"}]}`)},
			[]string{"last-member"}, []string{`{"value":"…"(1)},…(+5)]`}},
		{"HostileMethodAndTenant", usage.Captured{Method: "JANE", Path: "/tenants/Jane Doe/scim/v2/Users"},
			[]string{"Jane", "JANE"}, []string{"/tenants/…(8)/scim/v2/Users"}},
		{"NotJSON", usage.Captured{Method: "POST", Path: "/scim/v2/Users", Body: []byte(`{"userName": "bjensen`),
			Detail: "the request body is not valid JSON: unexpected end of input"},
			[]string{"bjensen"}, []string{"<not valid JSON: 21 bytes>"}},
		{"TooLarge", usage.Captured{Method: "POST", Path: "/scim/v2/Users", Body: []byte(`{"userName": "bjensen"}`), Truncated: true},
			[]string{"bjensen"}, []string{"<body larger than 23 bytes: not kept>"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := usage.Redact(tt.in)
			all := strings.Join([]string{f.Method, f.Path, f.Body, f.Detail}, "\n")
			for _, s := range tt.secret {
				if strings.Contains(strings.ToLower(all), strings.ToLower(s)) {
					t.Errorf("%q is shown:\n%s", s, all)
				}
			}
			for _, s := range tt.keep {
				if !strings.Contains(all, s) {
					t.Errorf("%s is not shown:\n%s", s, all)
				}
			}
		})
	}
}

func TestIdentifyIdP(t *testing.T) {
	for _, tt := range []struct{ ua, want string }{
		{"Okta SCIM Client 1.0.0", usage.IdPOkta},
		{"Microsoft Azure AD SCIM provisioning 1.0", usage.IdPEntra},
		{"Microsoft.Identity.Provisioning", usage.IdPEntra},
		{"OneLogin SCIM", usage.IdPOneLogin},
		{"JumpCloud-SCIM/2.0", usage.IdPJumpCloud},
		{"GoogleWorkspace-Provisioning", usage.IdPGoogle},
		{"curl/8.5.0", usage.IdPUnknown},
		{"", usage.IdPUnknown},
	} {
		if got := usage.IdentifyIdP(tt.ua); got != tt.want {
			t.Errorf("IdentifyIdP(%q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
	if strings.TrimSpace(usage.IdPNames[usage.IdPEntra]) == "" {
		t.Error("no name for Entra")
	}
}
