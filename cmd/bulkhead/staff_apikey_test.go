package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

func TestStaffAPIKeyCreate(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	if code, _, errOut := cliRun(t, "correct horse battery staple\n", "staff", "create", "--email", "ops@example.test", "--role", "admin", db); code != 0 {
		t.Fatalf("staff create: exit %d: %s", code, errOut)
	}
	code, out, errOut := cliRun(t, "", "staff", "apikey", "create", "--email", "OPS@example.test", "--name", "pipeline", "--json", db)
	if code != 0 {
		t.Fatalf("apikey create: exit %d: %s", code, errOut)
	}
	var k struct {
		Key    string `json:"key"`
		Name   string `json:"name"`
		Prefix string `json:"prefix"`
	}
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.HasPrefix(k.Key, "bhk_") || k.Name != "pipeline" || !strings.HasPrefix(k.Key, k.Prefix) {
		t.Errorf("key %+v", k)
	}
	if code, _, _ := cliRun(t, "", "staff", "apikey", "create", "--email", "nobody@example.test", db); code != 1 {
		t.Errorf("unknown email: exit %d, want 1", code)
	}
	if code, _, _ := cliRun(t, "", "staff", "apikey", "create", db); code != 2 {
		t.Errorf("no email: exit %d, want 2", code)
	}
}
