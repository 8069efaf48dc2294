package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/web"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestMain(m *testing.M) {
	if file := os.Getenv(loadClientEnv); file != "" {
		os.Exit(loadClient(file)) // a benchmark's load client (see BenchmarkRequestCost)
	}
	storetest.Main(m)
}

// baseURL is the public URL the test server is configured with, so that
// locations in golden files do not depend on the listener's port.
const baseURL = "https://scim.example.test"

// env is one server over one database, shared by the tests of the package;
// each test works in tenants of its own.
var env struct {
	once    sync.Once
	db      *store.DB
	web     *web.Server
	srv     *httptest.Server
	tenants *tenant.Service
	n       atomic.Int64
}

func setup(t testing.TB) {
	t.Helper()
	env.once.Do(func() {
		db := storetest.SharedDB(t)
		srv := web.NewServer(web.Config{DB: db, Log: slog.New(slog.DiscardHandler), BaseURL: baseURL})
		srv.Start(context.Background()) // runs until the test binary exits
		// Tests change tenants and expect the next request to see it;
		// with the listener up, that goes through the token cache.
		waitListening(t, srv)
		env.db, env.web, env.tenants = db, srv, tenant.NewService(db)
		env.srv = httptest.NewServer(srv)
	})
	if env.db == nil {
		t.Fatal("test environment failed to start")
	}
}

// waitListening returns once srv's change listener has confirmed that
// notifications arrive, which turns its token cache on. Behind PgBouncer
// (make test-pgbouncer) LISTEN hears nothing and the cache stays off, so
// there is nothing to wait for.
func waitListening(t testing.TB, srv *web.Server) {
	t.Helper()
	if os.Getenv("BULKHEAD_TEST_PGBOUNCER") != "" {
		return
	}
	select {
	case <-web.AuthOf(srv).Listening():
	case <-time.After(10 * time.Second): // a safety net, not the mechanism
		t.Fatal("the tenant change listener did not confirm it listens within 10 s")
	}
}

// synced returns once every change committed so far is in force in the
// shared server, so that the next request sees it.
func synced(t testing.TB) { syncWith(t, env.web) }

// syncWith is synced for srv.
func syncWith(t testing.TB, srv *web.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a safety net
	defer cancel()
	if err := web.AuthOf(srv).Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// client talks SCIM to one tenant.
type client struct {
	t      testing.TB
	tenant string
	token  string
	prefix string // path prefix of the SCIM base: /tenants/{id}/scim/v2
	server string // the server's URL; the shared one when empty
	host   string // the Host header, when not the server's
}

// newTenant creates a tenant and returns a client holding its first token.
func newTenant(t testing.TB, opts ...func(*tenant.NewTenant)) *client {
	t.Helper()
	setup(t)
	nt := tenant.NewTenant{ID: fmt.Sprintf("t%d", env.n.Add(1)), Plan: tenant.PlanEnterprise}
	for _, o := range opts {
		o(&nt)
	}
	tn, tok, err := env.tenants.CreateTenant(context.Background(), nt, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, tenant: tn.ID, token: tok.Secret, prefix: "/tenants/" + tn.ID + "/scim/v2"}
}

// response is an answer of the server, its body decoded when it is JSON.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// do sends a request to path, taken relative to the client's SCIM base
// unless it starts with /tenants/ or /scim/. body is JSON-encoded unless it
// is a string, sent as is. headers are name, value pairs.
func (c *client) do(method, path string, body any, headers ...string) *response {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	if !strings.HasPrefix(path, "/tenants/") && !strings.HasPrefix(path, "/scim/") {
		path = c.prefix + path
	}
	server := c.server
	if server == "" {
		server = env.srv.URL
	}
	req, err := http.NewRequest(method, server+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.host != "" {
		req.Host = c.host
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	out := &response{Status: res.StatusCode, Header: res.Header}
	out.Raw, _ = io.ReadAll(res.Body)
	if len(out.Raw) > 0 {
		if err := json.Unmarshal(out.Raw, &out.Body); err != nil {
			c.t.Fatalf("%s %s: body is not a JSON object: %s", method, path, out.Raw)
		}
	}
	return out
}

// must fails the test unless the response has the given status.
func (r *response) must(t testing.TB, status int) *response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %.500s", r.Status, status, r.Raw)
	}
	return r
}

// scimError asserts a SCIM error response with status and scimType.
func (r *response) scimError(t testing.TB, status int, scimType string) {
	t.Helper()
	r.must(t, status)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
		t.Errorf("Content-Type %q, want application/scim+json", ct)
	}
	schemas, _ := r.Body["schemas"].([]any)
	if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Errorf("schemas = %v, want the Error schema", r.Body["schemas"])
	}
	if r.Body["status"] != fmt.Sprint(status) {
		t.Errorf("status member = %v, want the string %q", r.Body["status"], fmt.Sprint(status))
	}
	if got, _ := r.Body["scimType"].(string); got != scimType {
		t.Errorf("scimType = %q, want %q (detail %v)", got, scimType, r.Body["detail"])
	}
	if d, _ := r.Body["detail"].(string); d == "" {
		t.Error("no detail")
	}
}

func (r *response) str(key string) string { s, _ := r.Body[key].(string); return s }

func (r *response) resources() []map[string]any {
	list, _ := r.Body["Resources"].([]any)
	out := make([]map[string]any, len(list))
	for i, e := range list {
		out[i], _ = e.(map[string]any)
	}
	return out
}

const (
	userSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupSchema = "urn:ietf:params:scim:schemas:core:2.0:Group"
	entSchema   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

func user(userName string, more ...any) map[string]any {
	u := map[string]any{"schemas": []string{userSchema}, "userName": userName}
	for i := 0; i+1 < len(more); i += 2 {
		u[more[i].(string)] = more[i+1]
	}
	return u
}

func (c *client) createUser(userName string, more ...any) string {
	c.t.Helper()
	return c.do("POST", "/Users", user(userName, more...)).must(c.t, http.StatusCreated).str("id")
}

func (c *client) createGroup(name string, memberIDs ...string) string {
	c.t.Helper()
	var members []map[string]string
	for _, id := range memberIDs {
		members = append(members, map[string]string{"value": id})
	}
	body := map[string]any{"schemas": []string{groupSchema}, "displayName": name, "members": members}
	return c.do("POST", "/Groups", body).must(c.t, http.StatusCreated).str("id")
}

// golden compares got with testdata/golden/name.json, after replacing what
// changes from run to run (ids, times, tenant ids) with placeholders.
func golden(t *testing.T, name string, got []byte, replace map[string]string) {
	t.Helper()
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatal(err)
	}
	pretty, _ := json.MarshalIndent(v, "", "  ")
	s := string(pretty)
	for from, to := range replace {
		s = strings.ReplaceAll(s, from, to)
	}
	s = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`).ReplaceAllString(s, "<time>")
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(s+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./web -update to create it)", err)
	}
	if strings.TrimSpace(string(want)) != s {
		t.Errorf("%s differs from the golden file (go test ./web -run %s -update rewrites it):\n%s", path, t.Name(), s)
	}
}

func q(s string) string { return url.QueryEscape(s) }
