package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

// TestTenantSetFlags: tenant create --profile, tenant set and tenant show
// round-trip a tenant's SCIM profile and flags; bad flags and values are
// one line on stderr and a non-zero exit, changing nothing.
func TestTenantSetFlags(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	if code, _, errOut := cliRun(t, "", "tenant", "create", "acme", "--profile", "okta", db); code != 0 {
		t.Fatal(errOut)
	}
	show := func() map[string]any {
		t.Helper()
		code, out, errOut := cliRun(t, "", "tenant", "show", "acme", "--json", db)
		var v struct {
			B map[string]any `json:"scim_behaviour"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Fatalf("show: exit %d %s %s", code, out, errOut)
		}
		return v.B
	}
	if b := show(); b["profile"] != "okta" || b["replace_no_target"] != "error" || b["require_if_match"] != false {
		t.Fatalf("created with okta: %v", show())
	}
	code, out, errOut := cliRun(t, "", "tenant", "set", "acme", "strict_schemas=false", "profile=rfc", "require_if_match=true", db)
	if code != 0 {
		t.Fatalf("set: exit %d %s", code, errOut)
	}
	// The profile applies first, the flags over it; those that differ are marked.
	if !strings.Contains(out, "SCIM profile: rfc") || !strings.Contains(out, "strict_schemas=false  (profile: true)") ||
		!strings.Contains(out, "require_if_match=true  (profile: false)") || !strings.Contains(out, "replace_no_target=error\n") {
		t.Fatalf("set output:\n%s", out)
	}
	if b := show(); b["profile"] != "rfc" || b["strict_schemas"] != false || b["require_if_match"] != true {
		t.Fatalf("after set: %v", b)
	}
	code, out, _ = cliRun(t, "", "tenant", "show", "acme", db)
	if code != 0 || !strings.Contains(out, "SCIM profile: rfc\n  soft_delete=false\n  require_if_match=true  (profile: false)\n") {
		t.Fatalf("show text:\n%s", out)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"UnknownFlag", []string{"soft=true"}, "invalid flag soft: No such flag"},
		{"BadBool", []string{"require_if_match=maybe"}, "invalid flag require_if_match: Must be true or false."},
		{"BadValue", []string{"replace_no_target=ignore"}, "invalid flag replace_no_target: Must be add or error."},
		{"BadProfile", []string{"profile=azure"}, "invalid flag profile: Choose one of the profiles"},
		{"NotPair", []string{"strict_schemas"}, "is not FLAG=VALUE"},
		{"NoPairs", nil, "at least one FLAG=VALUE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := cliRun(t, "", append([]string{"tenant", "set", "acme", db}, tt.args...)...)
			if code == 0 || !strings.Contains(strings.Split(errOut, "\n")[0], tt.want) {
				t.Fatalf("exit %d, stderr %q; want non-zero and %q", code, errOut, tt.want)
			}
		})
	}
	if b := show(); b["profile"] != "rfc" || b["require_if_match"] != true {
		t.Fatalf("a refused set changed the flags: %v", b)
	}
	code, out, errOut = cliRun(t, "", "tenant", "purge-deleted", "acme", "--older-than", "30d", db)
	if code != 0 || out != "Purged 0 soft-deleted users of acme.\n" {
		t.Fatalf("purge-deleted: exit %d, %q %s", code, out, errOut)
	}
	if code, _, _ := cliRun(t, "", "tenant", "purge-deleted", "acme", "--older-than", "soon", db); code != 2 {
		t.Fatalf("purge-deleted --older-than soon: exit %d, want 2", code)
	}
	if code, _, errOut := cliRun(t, "", "tenant", "create", "other", "--profile", "azure", db); code == 0 || !strings.Contains(errOut, "profile") {
		t.Fatalf("create --profile azure: exit %d %s", code, errOut)
	}
}
