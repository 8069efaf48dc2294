package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

func TestStaffLifecycleCommands(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	for _, a := range []struct{ email, role string }{{"boss@example.test", "admin"}, {"helper@example.test", "support"}} {
		if code, _, errOut := cliRun(t, "correct horse battery staple\n", "staff", "create", "--email", a.email, "--role", a.role, db); code != 0 {
			t.Fatalf("staff create %s: exit %d: %s", a.email, code, errOut)
		}
	}

	t.Run("List", func(t *testing.T) {
		code, out, errOut := cliRun(t, "", "staff", "list", "--json", db)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got struct {
			Staff []struct {
				Email    string `json:"email"`
				Role     string `json:"role"`
				Failures *int   `json:"failed_sign_ins"`
			} `json:"staff"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		roles := map[string]string{}
		for _, s := range got.Staff {
			roles[s.Email] = s.Role
			if s.Failures == nil {
				t.Errorf("%s: no failed_sign_ins", s.Email)
			}
		}
		if roles["boss@example.test"] != "admin" || roles["helper@example.test"] != "support" {
			t.Errorf("list: %s", out)
		}
		code, out, _ = cliRun(t, "", "staff", "list", db)
		if code != 0 || !strings.Contains(out, "EMAIL") || !strings.Contains(out, "helper@example.test  support") {
			t.Errorf("text list: exit %d\n%s", code, out)
		}
	})

	t.Run("DisableTwice", func(t *testing.T) {
		code, out, _ := cliRun(t, "", "staff", "disable", "--email", "helper@example.test", "--json", db)
		var ch struct {
			Email      string  `json:"email"`
			Changed    bool    `json:"changed"`
			DisabledAt *string `json:"disabled_at"`
		}
		if err := json.Unmarshal([]byte(out), &ch); code != 0 || err != nil || !ch.Changed || ch.DisabledAt == nil {
			t.Fatalf("disable: exit %d: %s", code, out)
		}
		code, out, _ = cliRun(t, "", "staff", "disable", "--email", "helper@example.test", db)
		if code != 0 || out != "helper@example.test is already disabled.\n" {
			t.Errorf("second disable: exit %d: %q", code, out)
		}
		code, out, _ = cliRun(t, "", "audit", "--json", db)
		if n := strings.Count(out, `"action":"staff.disable"`); code != 0 || n != 1 {
			t.Errorf("%d staff.disable events, want 1", n)
		}
		if code, out, _ := cliRun(t, "", "staff", "enable", "--email", "helper@example.test", db); code != 0 || out != "Enabled helper@example.test.\n" {
			t.Errorf("enable: exit %d: %q", code, out)
		}
	})

	t.Run("LastAdmin", func(t *testing.T) {
		code, _, errOut := cliRun(t, "", "staff", "role", "--email", "boss@example.test", "support", db)
		if code != 1 || !strings.Contains(errOut, "last active administrator") {
			t.Errorf("demote the last admin: exit %d: %s", code, errOut)
		}
		if code, _, errOut := cliRun(t, "", "staff", "disable", "--email", "boss@example.test", db); code != 1 {
			t.Errorf("disable the last admin: exit %d: %s", code, errOut)
		}
		if code, out, _ := cliRun(t, "", "staff", "role", "--email", "helper@example.test", "admin", db); code != 0 || out != "helper@example.test is now admin.\n" {
			t.Errorf("promote: exit %d: %q", code, out)
		}
		if code, out, _ := cliRun(t, "", "staff", "role", "--email", "boss@example.test", "support", db); code != 0 || out != "boss@example.test is now support.\n" {
			t.Errorf("demote with another admin: exit %d: %q", code, out)
		}
	})

	t.Run("ResetPassword", func(t *testing.T) {
		code, out, errOut := cliRun(t, "a new long password\n", "staff", "reset-password", "--email", "BOSS@example.test", db)
		if code != 0 || !strings.HasPrefix(out, "New password set for boss@example.test") {
			t.Errorf("reset: exit %d: %q %s", code, out, errOut)
		}
		if code, _, errOut := cliRun(t, "short\n", "staff", "reset-password", "--email", "boss@example.test", db); code != 1 || !strings.Contains(errOut, "at least 12 characters") {
			t.Errorf("short password: exit %d: %s", code, errOut)
		}
		if code, _, _ := cliRun(t, "a new long password\n", "staff", "reset-password", "--email", "nobody@example.test", db); code != 1 {
			t.Errorf("unknown email: exit %d, want 1", code)
		}
	})

	for _, tt := range []struct {
		name string
		args []string
	}{
		{"ErrNoEmail", []string{"staff", "disable"}},
		{"ErrBadRole", []string{"staff", "role", "--email", "boss@example.test", "owner"}},
		{"ErrNoRole", []string{"staff", "role", "--email", "boss@example.test"}},
		{"ErrUnknownSubcommand", []string{"staff", "delete", "--email", "boss@example.test"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, _ := cliRun(t, "", append(tt.args, db)...); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
}
