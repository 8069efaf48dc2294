package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

func TestAuditCommand(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	for _, id := range []string{"acme", "globex"} {
		if code, _, errOut := cliRun(t, "", "tenant", "create", id, db); code != 0 {
			t.Fatalf("create %s: %s", id, errOut)
		}
	}
	if code, _, errOut := cliRun(t, "", "tenant", "suspend", "acme", db); code != 0 {
		t.Fatal(errOut)
	}
	for _, tt := range []struct {
		name    string
		args    []string
		code    int
		actions []string
	}{
		{"AllTenants", []string{"audit", "--json"}, 0, []string{"tenant.create", "tenant.create", "tenant.suspend"}},
		{"OneTenant", []string{"audit", "--tenant", "acme", "--since", "7d", "--json"}, 0, []string{"tenant.create", "tenant.suspend"}},
		{"NoneSince", []string{"audit", "--tenant", "acme", "--since", "1ns", "--json"}, 0, nil},
		{"ErrBadSince", []string{"audit", "--since", "yesterday"}, 2, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cliRun(t, "", append(tt.args, db)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errOut)
			}
			if code != 0 {
				return
			}
			var got struct {
				Events []struct{ Action, Actor string }
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not one JSON object: %s", out)
			}
			counts := map[string]int{}
			for _, e := range got.Events {
				counts[e.Action]++
				if e.Actor != "cli" {
					t.Errorf("actor %q", e.Actor)
				}
			}
			want := map[string]int{}
			for _, a := range tt.actions {
				want[a]++
			}
			if len(got.Events) != len(tt.actions) || fmt.Sprint(counts) != fmt.Sprint(want) {
				t.Errorf("events %v, want %v", counts, want)
			}
		})
	}
}
