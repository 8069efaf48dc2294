package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

// binary is bulkhead built once for the tests that run it as a process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bulkhead-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "bulkhead")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	storetest.Main(m)
}

// cliRun runs one CLI command in-process and returns its exit code, stdout
// and stderr.
func cliRun(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestTenantCommands(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)

	code, out, errOut := cliRun(t, "", "tenant", "create", "acme", "--name", "Acme Inc", "--plan", "enterprise", "--json", db, "--base-url", "https://scim.example.com/")
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	var created struct {
		ID, Name, Plan, Status string
		ScimBaseURL            string `json:"scim_base_url"`
		Token                  string `json:"token"`
		TokenID                string `json:"token_id"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create --json printed %q: %v", out, err)
	}
	if created.ID != "acme" || created.Name != "Acme Inc" || created.Plan != "enterprise" ||
		created.ScimBaseURL != "https://scim.example.com/tenants/acme/scim/v2" || !strings.HasPrefix(created.Token, "bh_") || created.TokenID == "" {
		t.Fatalf("create --json = %+v", created)
	}

	code, out, _ = cliRun(t, "", "tenant", "list", "--json", db)
	if code != 0 || !strings.Contains(out, `"id":"acme"`) {
		t.Fatalf("list: exit %d, %s", code, out)
	}
	code, out, _ = cliRun(t, "", "tenant", "token", "create", "acme", "--name", "okta", "--expires-in", "90d", "--json", db)
	var tok struct {
		TokenID string `json:"token_id"`
		Token   string `json:"token"`
	}
	if err := json.Unmarshal([]byte(out), &tok); code != 0 || err != nil || tok.Token == "" {
		t.Fatalf("token create: exit %d, %s", code, out)
	}
	if code, _, errOut := cliRun(t, "", "tenant", "token", "revoke", "acme", tok.TokenID, db); code != 0 {
		t.Fatalf("token revoke: exit %d: %s", code, errOut)
	}
	code, out, _ = cliRun(t, "", "tenant", "show", "acme", db)
	if code != 0 || !strings.Contains(out, "revoked") || !strings.Contains(out, "okta") {
		t.Fatalf("show: exit %d:\n%s", code, out)
	}
	if code, out, _ := cliRun(t, "", "tenant", "suspend", "acme", db); code != 0 || !strings.Contains(out, "suspended") {
		t.Fatalf("suspend: exit %d, %s", code, out)
	}

	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"ErrDuplicate", []string{"tenant", "create", "acme"}, 1, `tenant "acme" already exists`},
		{"ErrBadID", []string{"tenant", "create", "Acme-1"}, 1, "invalid tenant id"},
		{"ErrDeleteMissing", []string{"tenant", "delete", "nope", "--yes"}, 1, `tenant "nope" not found`},
		{"ErrDeleteUnconfirmed", []string{"tenant", "delete", "acme"}, 2, "confirm with --yes"},
		{"ErrUnknownCommand", []string{"tenants"}, 2, `unknown command "tenants"`},
		{"ErrMissingArgument", []string{"tenant", "show"}, 2, "takes 1 argument"},
		{"ErrBadNumber", []string{"tenant", "create", "x", "--max-users", "lots"}, 2, "not a number"},
		{"ErrBadExpiry", []string{"tenant", "token", "create", "acme", "--expires-in", "soon"}, 2, "--expires-in"},
		{"ErrRevokeUnknownToken", []string{"tenant", "token", "revoke", "acme", "nope"}, 1, "not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := cliRun(t, "", append(tt.args, db)...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errOut, tt.code, tt.stderr)
			}
		})
	}
	// The refused commands changed nothing.
	code, out, _ = cliRun(t, "", "tenant", "list", "--json", db)
	if code != 0 || strings.Count(out, `"id"`) != 1 || !strings.Contains(out, `"status":"suspended"`) {
		t.Fatalf("after refused commands: %s", out)
	}

	if code, _, errOut := cliRun(t, "", "tenant", "delete", "acme", "--yes", db); code != 0 {
		t.Fatalf("delete: exit %d: %s", code, errOut)
	}
}

func TestStaffCreate(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	code, out, errOut := cliRun(t, "correct horse battery\n", "staff", "create", "--email", "ops@example.com", "--role", "support", "--json", db)
	if code != 0 || !strings.Contains(out, `"role":"support"`) {
		t.Fatalf("exit %d, %s %s", code, out, errOut)
	}
	for _, tt := range []struct{ name, stdin, email, role, want string }{
		{"ErrDuplicate", "correct horse battery\n", "OPS@example.com", "admin", "already exists"},
		{"ErrShortPassword", "short\n", "new@example.com", "admin", "at least 12"},
		{"ErrRole", "correct horse battery\n", "new@example.com", "root", "invalid role"},
		{"ErrEmail", "correct horse battery\n", "not an email", "admin", "invalid email"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := cliRun(t, tt.stdin, "staff", "create", "--email", tt.email, "--role", tt.role, db)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, %q; want 1 and %q", code, errOut, tt.want)
			}
		})
	}
}

func TestWrongDatabaseURL(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"postgres://bulkhead@127.0.0.1:1/bulkhead?sslmode=disable&connect_timeout=2", "nothing listens"},
		{"mysql://what", "invalid DATABASE_URL"},
	} {
		code, _, errOut := cliRun(t, "", "tenant", "list", "--database-url", tt.url)
		if code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: exit %d, %q; want 1 and %q", tt.url, code, errOut, tt.want)
		}
	}
}

// server is a bulkhead serve process.
type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
	stdout *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var servingLine = regexp.MustCompile(`serving on (http://\S+)`)

// startServer runs bulkhead serve with env and waits for its URL.
func startServer(t *testing.T, env ...string) *server {
	t.Helper()
	return startServerIn(t, "", env...)
}

// startServerIn runs bulkhead serve in the working directory dir.
func startServerIn(t *testing.T, dir string, env ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, "serve", "--addr", "127.0.0.1:0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &bytes.Buffer{}, stdout: &syncBuffer{}}
	cmd.Stdout = s.stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.stderr.WriteString(sc.Text() + "\n")
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case s.url = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("bulkhead serve did not start within 60s:\n%s", s.stderr)
	}
	return s
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// stopServer sends SIGINT and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop within 40s of SIGINT")
	}
}

// TestTwoServersStartTogether: two instances on an empty database both come
// up; exactly one creates the first administrator.
func TestTwoServersStartTogether(t *testing.T) {
	url := "DATABASE_URL=" + storetest.URL(t)
	servers := make(chan *server, 2)
	for i := 0; i < 2; i++ {
		go func() { servers <- startServer(t, url) }()
	}
	a, b := <-servers, <-servers
	bootstraps := 0
	for _, s := range []*server{a, b} {
		if code, body := get(t, s.url+"/readyz"); code != http.StatusOK {
			t.Fatalf("readyz: %d %s", code, body)
		}
		if strings.Contains(s.stderr.String(), "password:") {
			bootstraps++
		}
	}
	if bootstraps != 1 {
		t.Fatalf("%d servers printed a bootstrap password, want 1", bootstraps)
	}
	a.stop(t)
	b.stop(t)
}

// TestServeWithLocalCluster is `make run` on a fresh machine: no
// DATABASE_URL, a new data directory. The server starts its own PostgreSQL,
// answers /readyz, and on Ctrl-C stops both; killed with SIGKILL, it still
// takes its PostgreSQL down.
func TestServeWithLocalCluster(t *testing.T) {
	data := t.TempDir()
	env := []string{"DATABASE_URL=", "BULKHEAD_DATA=" + data, "XDG_CACHE_HOME=" + t.TempDir()}
	s := startServer(t, env...)
	if code, body := get(t, s.url+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz: %d %s", code, body)
	}
	if code, _ := get(t, s.url+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	if !strings.Contains(s.stderr.String(), "admin@localhost") {
		t.Fatalf("first start printed no bootstrap login:\n%s", s.stderr)
	}
	pid := s.postmasterPID(t)
	// As root, the postgres user cannot enter t.TempDir(), so the cluster
	// lives under /tmp instead: clean that up too.
	if m := regexp.MustCompile(`keeping the cluster in ([^"\s]+)`).FindStringSubmatch(s.stdout.String()); m != nil {
		t.Cleanup(func() { os.RemoveAll(m[1]) })
	}
	s.stop(t)
	waitGone(t, pid)

	// Second start reuses the cluster: no new bootstrap login; SIGKILL.
	s = startServer(t, env...)
	if strings.Contains(s.stderr.String(), "password:") {
		t.Fatal("second start printed a bootstrap password again")
	}
	pid = s.postmasterPID(t)
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	waitGone(t, pid)
}

var startedLine = regexp.MustCompile(`PostgreSQL started \(pid (\d+)`)

// postmasterPID returns the pid of the PostgreSQL the server started, from
// its log.
func (s *server) postmasterPID(t *testing.T) int {
	t.Helper()
	m := startedLine.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("the server started no PostgreSQL:\n%s", s.stdout)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// waitGone waits for process pid to exit.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("PostgreSQL (pid %d) still runs 10s after the server stopped", pid)
}

// TestKillDuringWrites: kill -9 of the server during a stream of writes.
// After a restart every write that got a 2xx is there, and no group exists
// without its member.
func TestKillDuringWrites(t *testing.T) {
	url := storetest.URL(t)
	code, out, errOut := cliRun(t, "", "tenant", "create", "crash", "--plan", "enterprise", "--json", "--database-url", url)
	if code != 0 {
		t.Fatalf("create tenant: %s", errOut)
	}
	var tn struct{ Token string }
	if err := json.Unmarshal([]byte(out), &tn); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "DATABASE_URL="+url)
	base := s.url + "/tenants/crash/scim/v2"
	send := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tn.Token)
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	type write struct{ user, group string }
	var mu sync.Mutex
	var acked []write
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				code, u := send("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"crash-%d-%d"}`, w, i))
				if code != http.StatusCreated {
					return // the server is gone
				}
				uid, _ := u["id"].(string)
				code, g := send("POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"crash-%d-%d","members":[{"value":%q}]}`, w, i, uid))
				gid, _ := g["id"].(string)
				mu.Lock()
				acked = append(acked, write{uid, map[bool]string{true: gid}[code == http.StatusCreated]})
				mu.Unlock()
				if code != http.StatusCreated {
					return
				}
			}
		}()
	}
	// Kill mid-stream, once some writes were acknowledged: a fixed delay
	// killed a server that had answered none yet when the machine was busy.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 10 {
			break
		}
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	wg.Wait()

	s = startServer(t, "DATABASE_URL="+url)
	base = s.url + "/tenants/crash/scim/v2"
	for _, w := range acked {
		if code, _ := send("GET", "/Users/"+w.user, ""); code != http.StatusOK {
			t.Errorf("acknowledged user %s: %d after restart", w.user, code)
		}
		if w.group == "" {
			continue
		}
		code, g := send("GET", "/Groups/"+w.group, "")
		members, _ := g["members"].([]any)
		if code != http.StatusOK || len(members) != 1 {
			t.Errorf("acknowledged group %s: %d, %d members after restart", w.group, code, len(members))
		}
	}
	// No group anywhere lacks its member: every group has exactly one.
	code, list := send("GET", "/Groups?count=1000", "")
	groups, _ := list["Resources"].([]any)
	for _, g := range groups {
		if members, _ := g.(map[string]any)["members"].([]any); len(members) != 1 {
			t.Errorf("group %v has %d members", g.(map[string]any)["displayName"], len(members))
		}
	}
	if code != http.StatusOK || len(acked) == 0 {
		t.Fatalf("list after restart: %d; %d acknowledged writes", code, len(acked))
	}
	t.Logf("%d user+group writes acknowledged before kill -9, all present and whole after restart", len(acked))
	s.stop(t)
}

// TestDBConns: BULKHEAD_DB_CONNS sizes the pool; a value that is not a
// number of at least 2 is a usage error naming the variable.
func TestDBConns(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	for _, v := range []string{"many", "1", "-5"} {
		t.Setenv("BULKHEAD_DB_CONNS", v)
		code, _, errOut := cliRun(t, "", "tenant", "list", db)
		if code != 2 || !strings.Contains(errOut, "BULKHEAD_DB_CONNS") {
			t.Errorf("BULKHEAD_DB_CONNS=%s: exit %d, %q; want 2 and the variable named", v, code, errOut)
		}
	}
	t.Setenv("BULKHEAD_DB_CONNS", "4")
	if code, _, errOut := cliRun(t, "", "tenant", "list", db); code != 0 {
		t.Fatalf("BULKHEAD_DB_CONNS=4: exit %d, %s", code, errOut)
	}
}

// TestShutdownWithRefusingDatabase: SIGTERM while the database refuses
// every usage flush. The server still exits within seconds, not at the end
// of its 30-second drain bound, and logs how many requests' usage it could
// not save.
func TestShutdownWithRefusingDatabase(t *testing.T) {
	url := storetest.URL(t)
	code, out, errOut := cliRun(t, "", "tenant", "create", "refused", "--plan", "enterprise", "--json", "--database-url", url)
	if code != 0 {
		t.Fatalf("create tenant: %s", errOut)
	}
	var tn struct{ Token string }
	if err := json.Unmarshal([]byte(out), &tn); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), `
		CREATE FUNCTION control.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON control.usage_hourly FOR EACH STATEMENT EXECUTE FUNCTION control.refuse()`); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "DATABASE_URL="+url)
	const requests = 5
	for i := 0; i < requests; i++ {
		req, _ := http.NewRequest("GET", s.url+"/tenants/refused/scim/v2/Users", nil)
		req.Header.Set("Authorization", "Bearer "+tn.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /Users: %d", res.StatusCode)
		}
	}
	began := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v:\n%s", err, s.stdout)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop within 40s of SIGTERM")
	}
	took := time.Since(began)
	if took > 20*time.Second {
		t.Errorf("serve took %v to stop with a refusing database", took)
	}
	m := regexp.MustCompile(`usage not saved at shutdown: (\d+) requests`).FindStringSubmatch(s.stdout.String())
	if m == nil || m[1] != strconv.Itoa(requests) {
		t.Fatalf("the log does not name the %d requests whose usage was lost:\n%s", requests, s.stdout)
	}
	t.Logf("stopped %v after SIGTERM; %s", took.Round(time.Millisecond), m[0])
}
