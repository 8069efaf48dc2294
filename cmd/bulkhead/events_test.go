package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

// TestEventsKey: events key create prints the key once with its id and
// scope, list shows it without the secret, revoke marks it; an unknown
// tenant, an unknown key and a missing argument are refused.
func TestEventsKey(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	if code, _, errOut := cliRun(t, "", "tenant", "create", "evkeys", db); code != 0 {
		t.Fatalf("tenant create: exit %d: %s", code, errOut)
	}
	code, out, errOut := cliRun(t, "", "events", "key", "create", "--tenants", "evkeys", "--name", "app", "--json", db)
	if code != 0 {
		t.Fatalf("events key create: exit %d: %s", code, errOut)
	}
	var k struct {
		Key     string   `json:"key"`
		ID      string   `json:"id"`
		Name    string   `json:"name"`
		Tenants []string `json:"tenants"`
	}
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.HasPrefix(k.Key, "bhe_") || k.ID == "" || k.Name != "app" || len(k.Tenants) != 1 || k.Tenants[0] != "evkeys" {
		t.Errorf("key %+v", k)
	}
	code, out, _ = cliRun(t, "", "events", "key", "create", "--json", db)
	if code != 0 || !strings.Contains(out, `"tenants":null`) {
		t.Errorf("a key for every tenant: exit %d: %s", code, out)
	}
	if code, out, _ := cliRun(t, "", "events", "key", "list", db); code != 0 || !strings.Contains(out, k.ID) || strings.Contains(out, k.Key) {
		t.Errorf("list: exit %d: %s", code, out)
	}
	if code, _, errOut := cliRun(t, "", "events", "key", "revoke", k.ID, db); code != 0 {
		t.Errorf("revoke: exit %d: %s", code, errOut)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
	}{
		{"unknown tenant", []string{"events", "key", "create", "--tenants", "nosuch"}, 1},
		{"empty tenant list", []string{"events", "key", "create", "--tenants", ""}, 2},
		{"blank tenant list", []string{"events", "key", "create", "--tenants", " , "}, 2},
		{"unknown key", []string{"events", "key", "revoke", "00000000-0000-0000-0000-000000000000"}, 1},
		{"no key id", []string{"events", "key", "revoke"}, 2},
		{"no subcommand", []string{"events"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, _ := cliRun(t, "", append(tt.args, db)...); code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
		})
	}
}
