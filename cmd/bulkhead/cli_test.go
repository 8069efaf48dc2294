package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

// runIn runs the bulkhead binary in the working directory dir with env
// added to the test's environment, and returns its exit code, stdout and
// stderr.
func runIn(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// TestDataDirectory: without DATABASE_URL, the CLI finds the project's
// .bulkhead from a subfolder, or the running server's from anywhere, and
// prints the base URL the server recorded; from an unrelated folder it
// creates nothing and says how to point it at the database.
func TestDataDirectory(t *testing.T) {
	noServer := "XDG_CACHE_HOME=" + t.TempDir() // where no server registered
	serverCache := "XDG_CACHE_HOME=" + t.TempDir()
	clean := []string{"DATABASE_URL=", "BULKHEAD_DATA=", "BULKHEAD_BASE_URL=", "BULKHEAD_ADDR="}
	env := func(extra ...string) []string { return append(append([]string{}, clean...), extra...) }
	unrelated := t.TempDir()
	refused := func(t *testing.T, cache string, args ...string) {
		t.Helper()
		code, out, errOut := runIn(t, unrelated, env(cache), args...)
		if code != 1 || !strings.Contains(errOut, "DATABASE_URL") || !strings.Contains(errOut, "--data") {
			t.Fatalf("%v from an unrelated folder: exit %d, %q; want 1 and how to point the CLI at the database", args, code, errOut)
		}
		if strings.Contains(strings.Join(args, " "), "--json") {
			var e struct{ Error string }
			if json.Unmarshal([]byte(out), &e) != nil || !strings.Contains(e.Error, "DATABASE_URL") {
				t.Fatalf("--json printed %q", out)
			}
		}
		if entries, _ := os.ReadDir(unrelated); len(entries) != 0 {
			t.Fatalf("%v created %v in the unrelated folder", args, entries[0].Name())
		}
	}
	refused(t, noServer, "tenant", "list")
	refused(t, noServer, "tenant", "show", "acme", "--json")
	refused(t, noServer, "audit", "--data", filepath.Join(unrelated, "nothing"))
	if _, err := os.Stat(filepath.Join(unrelated, "nothing")); err == nil {
		t.Fatal("--data of a folder without a database created it")
	}

	// serve, run deliberately in the project folder, creates .bulkhead there.
	project := t.TempDir()
	sub := filepath.Join(project, "docs", "notes")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startServerIn(t, project, env(serverCache)...)
	if m := regexp.MustCompile(`keeping the cluster in ([^"\s]+)`).FindStringSubmatch(s.stdout.String()); m != nil {
		t.Cleanup(func() { os.RemoveAll(m[1]) }) // as root: see TestServeWithLocalCluster
	}
	if _, err := os.Stat(filepath.Join(project, ".bulkhead")); err != nil {
		t.Fatalf("serve created no .bulkhead in its working directory: %v", err)
	}

	// From a subfolder, with no server registered: the walk up finds it,
	// and the base URL is the one the server recorded, not :8080.
	code, out, errOut := runIn(t, sub, env(noServer), "tenant", "create", "acme", "--json")
	var created struct {
		ScimBaseURL string `json:"scim_base_url"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &created) != nil {
		t.Fatalf("tenant create from a subfolder: exit %d, %s %s", code, out, errOut)
	}
	if want := s.url + "/tenants/acme/scim/v2"; created.ScimBaseURL != want {
		t.Fatalf("scim_base_url %q, want the server's %q", created.ScimBaseURL, want)
	}
	// Its own --base-url wins over the recorded one.
	code, out, _ = runIn(t, sub, env(noServer), "tenant", "show", "acme", "--json", "--base-url", "https://scim.example.com")
	if code != 0 || !strings.Contains(out, `"scim_base_url":"https://scim.example.com/tenants/acme/scim/v2"`) {
		t.Fatalf("show --base-url: exit %d, %s", code, out)
	}

	// From an unrelated folder, the running server's database.
	code, out, errOut = runIn(t, unrelated, env(serverCache), "tenant", "list", "--json")
	if code != 0 || !strings.Contains(out, `"id":"acme"`) {
		t.Fatalf("tenant list beside a running server: exit %d, %s %s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(unrelated); len(entries) != 0 {
		t.Fatalf("created %s in the unrelated folder", entries[0].Name())
	}

	s.stop(t)
	refused(t, serverCache, "tenant", "list") // the server unregistered
}

// TestUsageErrors: a usage error exits 2 with one line and a hint naming
// the command's help, and with --json prints {"error": …} as well.
func TestUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		hint string
	}{
		{"NoCommand", nil, "bulkhead --help"},
		{"UnknownCommand", []string{"tenants"}, "bulkhead --help"},
		{"NoSubcommand", []string{"tenant"}, "bulkhead tenant --help"},
		{"UnknownSubcommand", []string{"tenant", "frob"}, "bulkhead tenant --help"},
		{"MissingArgument", []string{"tenant", "show"}, "bulkhead tenant show --help"},
		{"UnknownFlag", []string{"tenant", "list", "--bogus"}, "bulkhead tenant list --help"},
		{"BadExpiry", []string{"tenant", "token", "create", "acme", "--expires-in", "soon"}, "bulkhead tenant token create --help"},
		{"BadSince", []string{"audit", "--since", "yesterday"}, "bulkhead audit --help"},
		{"StaffNoSubcommand", []string{"staff"}, "bulkhead staff --help"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cliRun(t, "", tt.args...)
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if code != 2 || out != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], "bulkhead: ") || lines[1] != "run '"+tt.hint+"'" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2, one line and the hint %q", code, out, errOut, tt.hint)
			}
			code, out, _ = cliRun(t, "", append(tt.args, "--json")...)
			var e map[string]string
			if code != 2 || json.Unmarshal([]byte(out), &e) != nil || len(e) != 1 || e["error"] == "" {
				t.Fatalf("--json: exit %d, stdout %q; want 2 and {\"error\": …}", code, out)
			}
		})
	}
}

// TestHelp: --help and -h on every command and group of commands in the
// usage print that command's help and exit 0, wherever they stand.
func TestHelp(t *testing.T) {
	paths := map[string]bool{"": true}
	for _, line := range strings.Split(usage, "\n") {
		rest, ok := strings.CutPrefix(line, "  bulkhead ")
		if !ok {
			continue
		}
		var words []string
		for _, w := range strings.Fields(rest) {
			if !regexp.MustCompile(`^[a-z][a-z-]*$`).MatchString(w) {
				break
			}
			words = append(words, w)
			paths[strings.Join(words, " ")] = true
		}
	}
	if !paths["tenant token create"] || !paths["staff"] || !paths["serve"] {
		t.Fatalf("commands read from the usage: %v", paths)
	}
	for path := range paths {
		args := strings.Fields(path)
		for _, flag := range []string{"--help", "-h"} {
			code, out, errOut := cliRun(t, "", append(args, flag)...)
			if code != 0 || errOut != "" || !strings.Contains(out, "bulkhead "+path) || !strings.Contains(out, "--database-url") {
				t.Errorf("bulkhead %s %s: exit %d, stderr %q, stdout:\n%s", path, flag, code, errOut, out)
			}
			if path != "" && strings.Contains(out, "bulkhead migrate") && !strings.HasPrefix(path, "migrate") {
				t.Errorf("bulkhead %s %s printed the whole usage:\n%s", path, flag, out)
			}
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"tenant", "show", "acme", "--help"}, "bulkhead tenant show ID"},
		{[]string{"tenant", "token", "create", "acme", "--name", "okta", "-h"}, "bulkhead tenant token create ID"},
		{[]string{"help", "tenant", "token"}, "bulkhead tenant token revoke"},
	} {
		code, out, _ := cliRun(t, "", tt.args...)
		if code != 0 || !strings.Contains(out, tt.want) {
			t.Errorf("%v: exit %d:\n%s", tt.args, code, out)
		}
	}
}

// TestIdempotentActions: suspending a suspended tenant, resuming an active
// one and revoking a revoked token succeed, say so, and audit nothing more.
func TestIdempotentActions(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	if code, _, errOut := cliRun(t, "", "tenant", "create", "acme", db); code != 0 {
		t.Fatal(errOut)
	}
	code, out, errOut := cliRun(t, "", "tenant", "token", "create", "acme", "--json", db)
	var tok struct {
		TokenID string `json:"token_id"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &tok) != nil {
		t.Fatalf("token create: exit %d, %s %s", code, out, errOut)
	}
	for _, tt := range []struct {
		args         []string
		first, again string
	}{
		{[]string{"tenant", "suspend", "acme"}, "Tenant acme is suspended.", "Tenant acme is already suspended"},
		{[]string{"tenant", "resume", "acme"}, "Tenant acme is active.", "Tenant acme is already active"},
		{[]string{"tenant", "token", "revoke", "acme", tok.TokenID}, "Revoked token", "is already revoked"},
	} {
		for i, want := range []string{tt.first, tt.again} {
			code, out, errOut := cliRun(t, "", append(tt.args, db)...)
			if code != 0 || !strings.Contains(out, want) {
				t.Fatalf("%v #%d: exit %d, %q %q; want 0 and %q", tt.args, i+1, code, out, errOut, want)
			}
		}
	}
	code, out, _ = cliRun(t, "", "tenant", "suspend", "acme", "--json", db)
	if code != 0 || !strings.Contains(out, `"changed":true`) {
		t.Fatalf("suspend --json: %s", out)
	}
	code, out, _ = cliRun(t, "", "tenant", "suspend", "acme", "--json", db)
	if code != 0 || !strings.Contains(out, `"changed":false`) || !strings.Contains(out, `"status":"suspended"`) {
		t.Fatalf("suspend --json again: %s", out)
	}
	code, out, _ = cliRun(t, "", "audit", "--tenant", "acme", "--json", db)
	var trail struct{ Events []struct{ Action string } }
	if code != 0 || json.Unmarshal([]byte(out), &trail) != nil {
		t.Fatalf("audit: %s", out)
	}
	counts := map[string]int{}
	for _, e := range trail.Events {
		counts[e.Action]++
	}
	if counts["tenant.suspend"] != 2 || counts["tenant.resume"] != 1 || counts["token.revoke"] != 1 {
		t.Fatalf("audit trail %v; want 2 suspends (one before, one after a resume), 1 resume, 1 revoke", counts)
	}
}

// TestUnknownTenant: every command naming a tenant that does not exist
// says so and exits 1, the audit trail included.
func TestUnknownTenant(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	for _, args := range [][]string{
		{"tenant", "show", "nosuch"},
		{"tenant", "suspend", "nosuch"},
		{"tenant", "resume", "nosuch"},
		{"tenant", "delete", "nosuch", "--yes"},
		{"tenant", "token", "create", "nosuch"},
		{"tenant", "token", "revoke", "nosuch", "0b7c8f7e-5b7e-4d3c-9d7e-1f2a3b4c5d6e"},
		{"tenant", "jwt", "list", "nosuch"},
		{"tenant", "jwt", "remove", "nosuch", "0b7c8f7e-5b7e-4d3c-9d7e-1f2a3b4c5d6e"},
		{"tenant", "schema", "list", "nosuch"},
		{"tenant", "schema", "remove", "nosuch", "urn:example:x"},
		{"tenant", "export", "nosuch"},
		{"audit", "--tenant", "nosuch"},
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			code, out, errOut := cliRun(t, "", append(args, db)...)
			if code != 1 || !strings.Contains(errOut, `tenant "nosuch" not found`) {
				t.Fatalf("exit %d, %q %q; want 1 and not found", code, out, errOut)
			}
		})
	}
}

// TestTenantShowExpiry: tenant show prints each token's expiry and marks
// the one expiring within 14 days.
func TestTenantShowExpiry(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	if code, _, errOut := cliRun(t, "", "tenant", "create", "acme", db); code != 0 {
		t.Fatal(errOut)
	}
	for _, tt := range [][]string{{"soon", "7d"}, {"later", "90d"}} {
		if code, _, errOut := cliRun(t, "", "tenant", "token", "create", "acme", "--name", tt[0], "--expires-in", tt[1], db); code != 0 {
			t.Fatal(errOut)
		}
	}
	code, out, _ := cliRun(t, "", "tenant", "show", "acme", db)
	if code != 0 {
		t.Fatalf("show: exit %d", code)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		for _, name := range []string{"first token", "soon", "later"} {
			if strings.Contains(l, " "+name+" ") {
				lines[name] = l
			}
		}
	}
	if l := lines["first token"]; !strings.Contains(l, "never expires") {
		t.Errorf("first token: %q", l)
	}
	if l := lines["soon"]; !strings.Contains(l, "expires ") || !strings.Contains(l, "! in 7 days") {
		t.Errorf("token expiring in 7 days not marked: %q", l)
	}
	if l := lines["later"]; !strings.Contains(l, "expires ") || strings.Contains(l, "!") {
		t.Errorf("token expiring in 90 days: %q", l)
	}
	if t.Failed() {
		t.Log(out)
	}
}
