package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

func TestSchemaCommands(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	if code, _, errOut := cliRun(t, "", "tenant", "create", "acme", db); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	const urn = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	const def = `{"schema": "` + urn + `", "attributes": [{"name": "costCenter", "type": "string", "indexed": true}]}`
	list := func(t *testing.T) []map[string]any {
		t.Helper()
		code, out, errOut := cliRun(t, "", "tenant", "schema", "list", "acme", "--json", db)
		if code != 0 {
			t.Fatalf("list: %s", errOut)
		}
		var got struct{ Extensions []map[string]any }
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("list --json: %v: %s", err, out)
		}
		return got.Extensions
	}

	t.Run("Add", func(t *testing.T) {
		code, out, errOut := cliRun(t, def, "tenant", "schema", "add", "acme", "-", db)
		if code != 0 || !strings.Contains(out, urn) {
			t.Fatalf("add: exit %d, %s %s", code, out, errOut)
		}
		got := list(t)
		if len(got) != 1 || got[0]["removed_at"] != nil {
			t.Fatalf("list after add: %v", got)
		}
		_, out, _ = cliRun(t, "", "tenant", "schema", "list", "acme", db)
		if !strings.Contains(out, "costCenter (string)") || !strings.Contains(out, "in service") {
			t.Errorf("list: %s", out)
		}
	})
	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"bad definition", `{"schema": "` + urn + `", "attributes": [{"name": "a b", "type": "string"}]}`, []string{"add", "acme", "-"}, 1, `"a b"`},
		{"not JSON", `nope`, []string{"add", "acme", "-"}, 1, "extension definition"},
		{"unknown tenant", def, []string{"add", "nosuch", "-"}, 1, "not found"},
		{"missing file", "", []string{"add", "acme", "/nonexistent.json"}, 1, "read the definition"},
		{"remove unknown", "", []string{"remove", "acme", "urn:ietf:params:scim:schemas:extension:x:2.0:User"}, 1, "no schema extension"},
		{"purge without --yes", "", []string{"purge", "acme", urn}, 2, "--yes"},
		{"purge in service", "", []string{"purge", "acme", urn, "--yes"}, 1, "remove it before"},
	} {
		t.Run("Refused/"+tt.name, func(t *testing.T) {
			code, _, errOut := cliRun(t, tt.stdin, append([]string{"tenant", "schema"}, append(tt.args, db)...)...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tt.code, errOut, tt.want)
			}
		})
	}
	t.Run("RemoveAndPurge", func(t *testing.T) {
		if code, _, errOut := cliRun(t, "", "tenant", "schema", "remove", "acme", urn, db); code != 0 {
			t.Fatalf("remove: %s", errOut)
		}
		if got := list(t); len(got) != 1 || got[0]["removed_at"] == nil {
			t.Fatalf("list after remove: %v", got)
		}
		code, out, errOut := cliRun(t, "", "tenant", "schema", "purge", "acme", urn, "--yes", db)
		if code != 0 || !strings.Contains(out, "0 resources") {
			t.Fatalf("purge: exit %d, %s %s", code, out, errOut)
		}
		if got := list(t); len(got) != 0 {
			t.Fatalf("list after purge: %v", got)
		}
		_, out, _ = cliRun(t, "", "audit", "--tenant", "acme", db)
		for _, action := range []string{"schema_extension.add", "schema_extension.remove", "schema_extension.purge"} {
			if !strings.Contains(out, action) {
				t.Errorf("audit lacks %s:\n%s", action, out)
			}
		}
	})
}
