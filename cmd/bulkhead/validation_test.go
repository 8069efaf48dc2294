package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

// TestTenantCreateFieldErrors proves the CLI refuses the same bad input as
// the console and the admin API with the same message for each field
// (web's TestCreateTenantFieldErrors): in --json as "fields", on stderr in
// one line, with exit code 1 as any refused command.
func TestTenantCreateFieldErrors(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	if code, _, errOut := cliRun(t, "", "tenant", "create", "taken", db); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	for _, tt := range []struct {
		name string
		args []string
		want map[string]string
	}{
		{"ErrNameTooLong", []string{"ok_name", "--name", strings.Repeat("n", 201)},
			map[string]string{"name": "the tenant's name has 201 characters; at most 200 are allowed"}},
		{"ErrNegativeMaxUsers", []string{"ok_users", "--max-users=-1"},
			map[string]string{"max_users": "Must be 0 or more."}},
		{"ErrUnknownPlan", []string{"ok_plan", "--plan", "gold"},
			map[string]string{"plan": "Choose one of the plans: enterprise, startup or trial."}},
		{"ErrAllAtOnce", []string{"Bad-Id", "--plan", "gold", "--max-groups", "3000000000"},
			map[string]string{
				"id":         "Use a lowercase letter first, then up to 39 lowercase letters, digits or underscores.",
				"plan":       "Choose one of the plans: enterprise, startup or trial.",
				"max_groups": "Must be at most 2,000,000,000.",
			}},
		{"ErrIDTaken", []string{"taken"},
			map[string]string{"id": "A tenant with the id taken already exists. Choose another id."}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"tenant", "create"}, tt.args...), "--json", db)
			code, out, errOut := cliRun(t, "", args...)
			var got struct {
				Error  string
				Fields map[string]string
			}
			if err := json.Unmarshal([]byte(out), &got); code != 1 || err != nil || !reflect.DeepEqual(got.Fields, tt.want) {
				t.Fatalf("exit %d, %s; want exit 1 and fields %v", code, out, tt.want)
			}
			if !strings.Contains(errOut, got.Error) {
				t.Errorf("stderr %q does not say %q", errOut, got.Error)
			}
			if tt.name != "ErrIDTaken" {
				for _, msg := range tt.want {
					if !strings.Contains(errOut, msg) {
						t.Errorf("stderr %q does not say %q", errOut, msg)
					}
				}
			}
		})
	}
}
