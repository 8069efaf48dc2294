package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/webhook"
	"github.com/bulkhead-dev/bulkhead/web"
)

// consoleServer is a server whose base URL is its own http:// address, so
// that console cookies (Secure only behind https) reach it.
type consoleServer struct {
	db      *store.DB
	srv     *httptest.Server
	web     *web.Server // the server srv runs, for its route tables
	tenants *tenant.Service
}

var consoleEnv struct {
	once sync.Once
	cs   *consoleServer
	n    atomic.Int64
}

// newConsoleServer starts a server over db. data may be nil for the default.
func newConsoleServer(t testing.TB, db *store.DB, data web.ConsoleData, wrap func(http.Handler) http.Handler) *consoleServer {
	t.Helper()
	cs := &consoleServer{db: db, tenants: tenant.NewService(db)}
	cs.srv = httptest.NewUnstartedServer(nil)
	cs.srv.Start()
	base := cs.srv.URL
	cs.web = web.NewServer(web.Config{DB: db, Log: slog.New(slog.DiscardHandler), BaseURL: base, Console: data})
	var h http.Handler = cs.web
	if wrap != nil {
		h = wrap(h)
	}
	cs.srv.Config.Handler = h
	t.Cleanup(cs.srv.Close)
	return cs
}

// sharedConsole is one console server over the shared database.
func sharedConsole(t testing.TB) *consoleServer {
	t.Helper()
	consoleEnv.once.Do(func() {
		db := storetest.SharedDB(t)
		consoleEnv.cs = &consoleServer{db: db, tenants: tenant.NewService(db)}
		consoleEnv.cs.srv = httptest.NewUnstartedServer(nil)
		consoleEnv.cs.srv.Start()
		consoleEnv.cs.web = web.NewServer(web.Config{DB: db, Log: slog.New(slog.DiscardHandler), BaseURL: consoleEnv.cs.srv.URL})
		consoleEnv.cs.srv.Config.Handler = consoleEnv.cs.web
	})
	if consoleEnv.cs == nil {
		t.Fatal("console test server failed to start")
	}
	return consoleEnv.cs
}

// uniq returns a name unique in this test binary.
func uniq(prefix string) string { return fmt.Sprintf("%s%d", prefix, consoleEnv.n.Add(1)) }

// newStaff creates a staff account and returns its email and password.
func (cs *consoleServer) newStaff(t testing.TB, role string) (email, password string) {
	t.Helper()
	email, password = uniq(role)+"@example.test", "correct horse battery staple"
	if _, err := staff.CreateStaff(context.Background(), cs.db, email, role, password, "test"); err != nil {
		t.Fatal(err)
	}
	return email, password
}

// createTenant creates a tenant through the production code path.
func (cs *consoleServer) createTenant(t testing.TB, plan string) (*tenant.Tenant, string) {
	t.Helper()
	tn, tok, err := cs.tenants.CreateTenant(context.Background(), tenant.NewTenant{ID: uniq("c"), Name: "Console Test", Plan: plan}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tn, tok.Secret
}

// browser is a person using the console: a cookie jar and the last CSRF
// token seen. It does not follow redirects, so that tests see them.
type browser struct {
	t    testing.TB
	cs   *consoleServer
	http *http.Client
	csrf string
}

func (cs *consoleServer) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, cs: cs, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is a response with its HTML parsed.
type page struct {
	*http.Response
	Doc  *goquery.Document
	Body string
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	res, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	p := &page{Response: res, Body: string(raw)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		p.Doc, err = goquery.NewDocumentFromReader(strings.NewReader(p.Body))
		if err != nil {
			b.t.Fatal(err)
		}
		if v, ok := p.Doc.Find(`input[name=csrf]`).First().Attr("value"); ok {
			b.csrf = v
		}
	}
	return p
}

func (b *browser) get(path string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.cs.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form with the browser's CSRF token, unless form sets csrf.
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.cs.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signIn signs in and fails the test unless it works.
func (b *browser) signIn(email, password string) {
	b.t.Helper()
	b.get("/admin/signin")
	p := b.post("/admin/signin", url.Values{"email": {email}, "password": {password}})
	if p.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: status %d: %s", email, p.StatusCode, p.Body)
	}
	b.get("/admin/tenants") // picks up the session's new CSRF token
}

func (cs *consoleServer) signedIn(t testing.TB, role string) *browser {
	t.Helper()
	b := cs.browser(t)
	b.signIn(cs.newStaff(t, role))
	return b
}

func (p *page) must(t testing.TB, status int) *page {
	t.Helper()
	if p.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %.600s", p.Request.Method, p.Request.URL.Path, p.StatusCode, status, p.Body)
	}
	return p
}

func (p *page) text(sel string) string { return strings.TrimSpace(p.Doc.Find(sel).First().Text()) }

func TestConsoleSignIn(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	email, password := cs.newStaff(t, staff.RoleAdmin)

	t.Run("SignedOutGoesToSignIn", func(t *testing.T) {
		p := cs.browser(t).get("/admin/tenants")
		p.must(t, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/admin/signin?next=%2Fadmin%2Ftenants" {
			t.Errorf("Location = %q", loc)
		}
	})
	t.Run("ErrWrongPassword", func(t *testing.T) {
		b := cs.browser(t)
		b.get("/admin/signin")
		p := b.post("/admin/signin", url.Values{"email": {email}, "password": {"wrong password!"}}).must(t, http.StatusUnauthorized)
		if got := p.text(`[data-testid=signin-error]`); got != "wrong email or password" {
			t.Errorf("message %q", got)
		}
		if v, _ := p.Doc.Find(`#email`).Attr("value"); v != email {
			t.Errorf("the email typed is not kept: %q", v)
		}
	})
	t.Run("ErrUnknownEmail", func(t *testing.T) {
		b := cs.browser(t)
		b.get("/admin/signin")
		p := b.post("/admin/signin", url.Values{"email": {"nobody@example.test"}, "password": {password}}).must(t, http.StatusUnauthorized)
		if got := p.text(`[data-testid=signin-error]`); got != "wrong email or password" {
			t.Errorf("message %q", got)
		}
	})
	t.Run("OK", func(t *testing.T) {
		b := cs.browser(t)
		b.get("/admin/signin")
		before := sessionCookie(t, b)
		p := b.post("/admin/signin", url.Values{"email": {strings.ToUpper(email)}, "password": {password}, "next": {"/admin/health"}}).must(t, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/admin/health" {
			t.Errorf("Location = %q, want the page asked for", loc)
		}
		var set *http.Cookie
		for _, c := range p.Cookies() {
			if c.Name == "bulkhead_session" {
				set = c
			}
		}
		if set == nil {
			t.Fatal("no session cookie set at sign-in")
		}
		if set.Value == before {
			t.Error("the session token was not renewed at sign-in")
		}
		if !set.HttpOnly || set.SameSite != http.SameSiteLaxMode || set.Secure || set.Path != "/admin" {
			t.Errorf("cookie HttpOnly=%v SameSite=%v Secure=%v Path=%q; want HttpOnly, Lax, not Secure over http, /admin", set.HttpOnly, set.SameSite, set.Secure, set.Path)
		}
		home := b.get("/admin/tenants").must(t, http.StatusOK)
		if got := home.text(`[data-testid=role]`); got != "admin" {
			t.Errorf("role shown %q", got)
		}
		events, _ := audit.FindEvents(context.Background(), cs.db, "", 500)
		if !hasEvent(events, "staff:"+email, "staff.sign_in", "client", "request_id") {
			t.Error("sign-in not audited with client and request id")
		}

		b.post("/admin/signout", nil).must(t, http.StatusSeeOther)
		b.get("/admin/tenants").must(t, http.StatusSeeOther)
	})
	t.Run("ErrOpenRedirect", func(t *testing.T) {
		b := cs.browser(t)
		b.get("/admin/signin")
		p := b.post("/admin/signin", url.Values{"email": {email}, "password": {password}, "next": {"//evil.example/x"}}).must(t, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/admin/tenants" {
			t.Errorf("Location = %q, want the console", loc)
		}
	})
}

func sessionCookie(t testing.TB, b *browser) string {
	u, _ := url.Parse(b.cs.srv.URL + "/admin/")
	for _, c := range b.http.Jar.Cookies(u) {
		if c.Name == "bulkhead_session" {
			return c.Value
		}
	}
	return ""
}

func hasEvent(events []audit.Event, actor, action string, keys ...string) bool {
	for _, e := range events {
		if e.Actor != actor || e.Action != action {
			continue
		}
		ok := true
		for _, k := range keys {
			if v, _ := e.Details[k].(string); v == "" {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func TestConsoleSecureCookieBehindHTTPS(t *testing.T) {
	t.Parallel()
	setup(t) // the SCIM tests' server, configured with an https base URL
	res, err := http.Get(env.srv.URL + "/admin/signin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "bulkhead_session" && (!c.Secure || !c.HttpOnly) {
			t.Errorf("cookie Secure=%v HttpOnly=%v behind https, want both", c.Secure, c.HttpOnly)
		}
	}
}

func TestConsoleSignInThrottle(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	email, password := cs.newStaff(t, staff.RoleSupport)
	b := cs.browser(t)
	b.get("/admin/signin")
	for i := 0; i < staff.MaxFailures; i++ {
		b.post("/admin/signin", url.Values{"email": {email}, "password": {"not the password"}}).must(t, http.StatusUnauthorized)
	}
	p := b.post("/admin/signin", url.Values{"email": {email}, "password": {password}}).must(t, http.StatusTooManyRequests)
	if got := p.text(`[data-testid=signin-error]`); !strings.Contains(got, "too many failed sign-ins") {
		t.Errorf("message %q", got)
	}
}

// TestConsoleSignInThrottleParallel: guesses sent all at once, through two
// instances with pools of their own on one database, are limited exactly as
// guesses sent one by one: only the limit of them get "wrong email or
// password", and the right password afterwards is refused as well.
func TestConsoleSignInThrottleParallel(t *testing.T) {
	t.Parallel()
	dsn := storetest.URL(t)
	var dbs []*store.DB
	for range 2 {
		db, err := store.Open(context.Background(), dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.MigrateControl(context.Background()); err != nil {
			t.Fatal(err)
		}
		dbs = append(dbs, db)
	}
	for _, tt := range []struct {
		name  string
		limit int
		email func(account string, i int) string // the email of guess i
	}{
		{"OneEmail", staff.MaxFailures, func(account string, _ int) string { return account }},
		{"OneClient", staff.MaxClientFailures, func(_ string, i int) string { return uniq("nobody") + "@example.test" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Every request of this subtest comes from one client address
			// of its own.
			addr := fmt.Sprintf("198.51.100.%d:4321", consoleEnv.n.Add(1)%256)
			from := func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					r.RemoteAddr = addr
					h.ServeHTTP(w, r)
				})
			}
			var servers []*consoleServer
			for _, db := range dbs {
				servers = append(servers, newConsoleServer(t, db, nil, from))
			}
			account, password := servers[0].newStaff(t, staff.RoleAdmin)

			const guesses = 40
			forms := make([]*http.Request, guesses)
			clients := make([]*http.Client, guesses)
			for i := range forms {
				b := servers[i%2].browser(t)
				b.get("/admin/signin").must(t, http.StatusOK)
				form := url.Values{"csrf": {b.csrf}, "email": {tt.email(account, i)}, "password": {"not the password"}}
				forms[i], _ = http.NewRequest(http.MethodPost, b.cs.srv.URL+"/admin/signin", strings.NewReader(form.Encode()))
				forms[i].Header.Set("Content-Type", "application/x-www-form-urlencoded")
				clients[i] = b.http
			}
			statuses := make([]int, guesses)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range forms {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					res, err := clients[i].Do(forms[i])
					if err != nil {
						t.Error(err)
						return
					}
					res.Body.Close()
					statuses[i] = res.StatusCode
				}()
			}
			close(start)
			wg.Wait()
			counts := map[int]int{}
			for _, st := range statuses {
				counts[st]++
			}
			if counts[http.StatusUnauthorized] != tt.limit || counts[http.StatusTooManyRequests] != guesses-tt.limit {
				t.Errorf("%d parallel guesses: statuses %v, want %d × 401 and the rest 429", guesses, counts, tt.limit)
			}

			b := servers[1].browser(t)
			b.get("/admin/signin")
			p := b.post("/admin/signin", url.Values{"email": {account}, "password": {password}}).must(t, http.StatusTooManyRequests)
			if got := p.text(`[data-testid=signin-error]`); !strings.Contains(got, "too many failed sign-ins") {
				t.Errorf("message %q", got)
			}
		})
	}
}

func TestConsoleCSRF(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	b := cs.signedIn(t, staff.RoleAdmin)
	tn, _ := cs.createTenant(t, tenant.PlanStartup)
	for _, tt := range []struct {
		name  string
		token string
	}{
		{"ErrMissing", ""},
		{"ErrWrong", "not-the-token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := uniq("csrf")
			p := b.post("/admin/tenants", url.Values{"csrf": {tt.token}, "id": {id}, "plan": {"startup"}}).must(t, http.StatusForbidden)
			if got := p.text(`[data-testid=error-message]`); !strings.Contains(got, "reload the page") {
				t.Errorf("message %q", got)
			}
			if _, err := cs.tenants.FindTenant(context.Background(), id); err == nil {
				t.Error("the tenant was created without a valid CSRF token")
			}
			b.post("/admin/tenants/"+tn.ID+"/suspend", url.Values{"csrf": {tt.token}}).must(t, http.StatusForbidden)
			if got, _ := cs.tenants.FindTenant(context.Background(), tn.ID); got.Status != tenant.StatusActive {
				t.Error("the tenant was suspended without a valid CSRF token")
			}
		})
	}
	t.Run("ErrOtherSession", func(t *testing.T) {
		other := cs.signedIn(t, staff.RoleAdmin)
		b.post("/admin/tenants/"+tn.ID+"/suspend", url.Values{"csrf": {other.csrf}}).must(t, http.StatusForbidden)
	})
	t.Run("ErrSignInWithoutToken", func(t *testing.T) {
		email, password := cs.newStaff(t, staff.RoleAdmin)
		fresh := cs.browser(t)
		fresh.get("/admin/signin")
		fresh.post("/admin/signin", url.Values{"csrf": {""}, "email": {email}, "password": {password}}).must(t, http.StatusForbidden)
	})
	t.Run("ErrQueryString", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, cs.srv.URL+"/admin/tenants/"+tn.ID+"/suspend?csrf="+url.QueryEscape(b.csrf), nil)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		b.do(req).must(t, http.StatusForbidden)
		if got, _ := cs.tenants.FindTenant(context.Background(), tn.ID); got.Status != tenant.StatusActive {
			t.Error("the tenant was suspended with the CSRF token in the query string")
		}
	})
	t.Run("OK", func(t *testing.T) {
		b.post("/admin/tenants/"+tn.ID+"/suspend", nil).must(t, http.StatusSeeOther)
	})
	t.Run("OKHeader", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, cs.srv.URL+"/admin/tenants/"+tn.ID+"/resume", nil)
		req.Header.Set("X-CSRF-Token", b.csrf)
		b.do(req).must(t, http.StatusSeeOther)
		if got, _ := cs.tenants.FindTenant(context.Background(), tn.ID); got.Status != tenant.StatusActive {
			t.Errorf("status %q after resuming with the CSRF token in a header", got.Status)
		}
	})
}

func TestConsoleSupportRole(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	tn, _ := cs.createTenant(t, tenant.PlanStartup)
	b := cs.signedIn(t, staff.RoleSupport)

	hook, err := webhook.NewService(cs.db, webhook.Policy{}).Add(context.Background(), "https://93.184.215.14/support", tn.ID, "test")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ReadsEveryPage", func(t *testing.T) {
		base := "/admin/tenants/" + tn.ID
		var n int
		for _, r := range staffRoutes(t, cs) {
			// The console's root redirects; the activity stream is a stream.
			if r.Method != http.MethodGet || r.Role != "support" || strings.HasPrefix(r.Path, "/admin/api/") || r.Path == "/admin/" || strings.HasSuffix(r.Path, "/stream") {
				continue
			}
			n++
			path := fill(t, r.Path, map[string]string{":id": tn.ID, ":hook": hook.ID})
			p := b.get(path).must(t, http.StatusOK)
			// The only forms that send anything are signing out and
			// changing one's own password.
			p.Doc.Find(`form[method=post]`).Each(func(_ int, f *goquery.Selection) {
				if action, _ := f.Attr("action"); action != "/admin/signout" && action != "/admin/account/password" {
					t.Errorf("%s shows a change control: form to %s", path, action)
				}
			})
			if p.Doc.Find(`[data-testid=new-tenant], [data-testid=delete-tenant], [data-testid=suspend], [data-testid=create-token]`).Length() > 0 {
				t.Errorf("%s shows a change control", path)
			}
		}
		if n < 10 {
			t.Errorf("support read only %d pages", n)
		}
		for _, section := range []string{"", "/tokens", "/permissions", "/schema", "/health", "/audit"} {
			p := b.get(base + section)
			if n := p.Doc.Find(`input:not([type=hidden]), select, textarea`).Length(); n != 0 {
				t.Errorf("the tenant page's %s section shows support %d inputs", section, n)
			}
		}
		p := b.get(base + "/permissions")
		if p.Doc.Find(`[data-testid=permissions-readonly]`).Length() != 1 {
			t.Error("support does not see the permissions")
		}
	})
}

func TestConsoleCreateTenant(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	b := cs.signedIn(t, staff.RoleAdmin)
	b.get("/admin/tenants/new").must(t, http.StatusOK)
	taken, _ := cs.createTenant(t, tenant.PlanTrial)

	for _, tt := range []struct {
		name   string
		form   url.Values
		status int
		field  string
		want   string
	}{
		{"ErrIDRequired", url.Values{"id": {""}, "plan": {"startup"}}, 400, "id", "Enter an id"},
		{"ErrBadID", url.Values{"id": {"Acme Inc"}, "plan": {"startup"}}, 400, "id", "lowercase letter first"},
		{"ErrIDTooLong", url.Values{"id": {"a" + strings.Repeat("b", 40)}, "plan": {"startup"}}, 400, "id", "up to 39"},
		{"ErrDuplicateID", url.Values{"id": {taken.ID}, "plan": {"startup"}}, 409, "id", "already exists"},
		{"ErrBadMaxUsers", url.Values{"id": {uniq("v")}, "plan": {"startup"}, "max_users": {"many"}}, 400, "max_users", "whole number"},
		{"ErrNegativeMaxGroups", url.Values{"id": {uniq("v")}, "plan": {"startup"}, "max_groups": {"-1"}}, 400, "max_groups", "0 or more"},
		{"ErrUnknownPlan", url.Values{"id": {uniq("v")}, "plan": {"gold"}}, 400, "plan", "Choose one"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post("/admin/tenants", tt.form).must(t, tt.status)
			got := strings.TrimSpace(p.Doc.Find(`#h-` + tt.field + `.error`).Text())
			if !strings.Contains(got, tt.want) {
				t.Errorf("message beside %s = %q, want it to say %q", tt.field, got, tt.want)
			}
			if v, _ := p.Doc.Find(`#f-id`).Attr("value"); v != tt.form.Get("id") {
				t.Errorf("the id typed is not kept: %q", v)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		id := uniq("new")
		p := b.post("/admin/tenants", url.Values{"id": {id}, "name": {"New Co"}, "plan": {"trial"}, "max_users": {"25"}}).must(t, http.StatusCreated)
		token := p.text(`[data-testid=new-token]`)
		if !strings.HasPrefix(token, tenant.TokenPrefix) {
			t.Fatalf("first token not shown: %q", token)
		}
		if got := p.text(`[data-testid=scim-base-url]`); got != cs.srv.URL+"/tenants/"+id+"/scim/v2" {
			t.Errorf("SCIM base URL %q", got)
		}
		if _, err := credential.NewService(cs.tenants).Authenticate(context.Background(), token); err != nil {
			t.Errorf("the token shown does not work: %v", err)
		}
		if strings.Contains(b.get("/admin/tenants/"+id).Body, token) {
			t.Error("the token is shown again on the next visit")
		}
		perms, _ := cs.tenants.FindPermissions(context.Background(), id)
		if perms.MaxUsers != 25 || perms.MaxGroups != tenant.Plans[tenant.PlanTrial].Permissions.MaxGroups {
			t.Errorf("limits %d/%d, want 25 and the plan's groups", perms.MaxUsers, perms.MaxGroups)
		}
	})
}

func TestConsolePermissions(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	b := cs.signedIn(t, staff.RoleAdmin)
	tn, _ := cs.createTenant(t, tenant.PlanStartup)
	path := "/admin/tenants/" + tn.ID + "/permissions"
	valid := func() url.Values {
		return url.Values{"can_read": {"on"}, "can_list": {"on"}, "can_update": {"on"}, "can_delete": {"on"},
			"max_users": {"1,500"}, "max_groups": {"20"}, "requests_per_minute": {"120"}, "burst": {"10"}}
	}
	for _, tt := range []struct {
		name, field, value, want string
	}{
		{"ErrNotANumber", "max_users", "lots", "Enter a whole number."},
		{"ErrNegative", "max_groups", "-5", "Must be 0 or more."},
		{"ErrZeroRate", "requests_per_minute", "0", "Must be 1 or more."},
		{"ErrTooLarge", "burst", "99999999999", "Must be at most 2,000,000,000."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			form := valid()
			form.Set(tt.field, tt.value)
			p := b.post(path, form).must(t, http.StatusBadRequest)
			if got := p.text(`[data-testid=error-` + tt.field + `]`); got != tt.want {
				t.Errorf("message %q, want %q", got, tt.want)
			}
			if v, _ := p.Doc.Find(`#f-` + tt.field).Attr("value"); v != tt.value {
				t.Errorf("the value typed is not kept: %q", v)
			}
			perms, _ := cs.tenants.FindPermissions(context.Background(), tn.ID)
			if !perms.CanCreate {
				t.Error("something was saved although the form had errors")
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		res := b.post(path, valid()).must(t, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != path {
			t.Errorf("saving lands on %s, want the permissions section %s", loc, path)
		}
		p := b.get(path).must(t, http.StatusOK)
		if p.Doc.Find(`[data-testid=permissions-saved]`).Length() != 1 {
			t.Error("no saved message")
		}
		perms, _ := cs.tenants.FindPermissions(context.Background(), tn.ID)
		want := tenant.Permissions{CanRead: true, CanUpdate: true, CanDelete: true, CanList: true, MaxUsers: 1500, MaxGroups: 20, RequestsPerMinute: 120, Burst: 10}
		if *perms != want {
			t.Errorf("saved %+v, want %+v", *perms, want)
		}
		events, _ := audit.FindEvents(context.Background(), cs.db, tn.ID, 10)
		e := events[0]
		before, _ := e.Details["before"].(map[string]any)
		after, _ := e.Details["permissions"].(map[string]any)
		if e.Action != "tenant.permissions" || before["can_create"] != true || after["can_create"] != false ||
			e.Details["client"] == nil || e.Details["request_id"] == nil || !strings.HasPrefix(e.Actor, "staff:") {
			t.Errorf("audit event %+v", e)
		}
		p = b.get("/admin/tenants/"+tn.ID+"/audit").must(t, http.StatusOK)
		if p.Doc.Find(`.diff`).Length() == 0 || !strings.Contains(p.Doc.Find(`.diff`).Text(), "can_create") {
			t.Error("the audit trail does not show what changed")
		}
	})
}

func TestConsoleDeleteTenant(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	b := cs.signedIn(t, staff.RoleAdmin)
	tn, _ := cs.createTenant(t, tenant.PlanStartup)
	b.get("/admin/tenants/"+tn.ID+"/delete").must(t, http.StatusOK)
	t.Run("ErrWrongConfirmation", func(t *testing.T) {
		p := b.post("/admin/tenants/"+tn.ID+"/delete", url.Values{"confirm": {"yes"}}).must(t, http.StatusBadRequest)
		if got := p.text(`[data-testid=error-confirm]`); !strings.Contains(got, tn.ID) {
			t.Errorf("message %q", got)
		}
		if _, err := cs.tenants.FindTenant(context.Background(), tn.ID); err != nil {
			t.Fatal("the tenant was deleted without the typed id")
		}
	})
	t.Run("OK", func(t *testing.T) {
		b.post("/admin/tenants/"+tn.ID+"/delete", url.Values{"confirm": {tn.ID}}).must(t, http.StatusSeeOther)
		if _, err := cs.tenants.FindTenant(context.Background(), tn.ID); err == nil {
			t.Fatal("the tenant still exists")
		}
		if got := b.get("/admin/tenants").text(`[data-testid=flash]`); !strings.Contains(got, "deleted") {
			t.Errorf("flash %q", got)
		}
		b.get("/admin/tenants/"+tn.ID).must(t, http.StatusNotFound)
	})
}

func TestConsoleTenantsSearch(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	b := cs.signedIn(t, staff.RoleSupport)
	a, _ := cs.createTenant(t, tenant.PlanTrial)
	if _, _, err := cs.tenants.SetStatus(context.Background(), a.ID, tenant.StatusSuspended, "test"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, query string
		found       bool
	}{
		{"ByID", "q=" + a.ID, true},
		{"ByStatusAndPlan", "q=" + a.ID + "&status=suspended&plan=trial", true},
		{"OtherStatus", "q=" + a.ID + "&status=active", false},
		{"OtherPlan", "q=" + a.ID + "&plan=enterprise", false},
		{"LikeIsEscaped", "q=" + url.QueryEscape("%"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := b.get("/admin/tenants?"+tt.query).must(t, http.StatusOK)
			found := p.Doc.Find(`tr[data-tenant=`+a.ID+`]`).Length() == 1
			if found != tt.found {
				t.Errorf("found %v, want %v", found, tt.found)
			}
			if !found && p.Doc.Find(`[data-testid=empty]`).Length() == 0 && !tt.found && p.Doc.Find(`tr[data-tenant]`).Length() == 0 {
				t.Error("no empty state")
			}
		})
	}
}

func TestConsoleErrorPages(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	b := cs.signedIn(t, staff.RoleSupport)
	p := b.get("/admin/tenants/nosuchtenant").must(t, http.StatusNotFound)
	if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") || p.Doc.Find(`[data-testid=error-page]`).Length() != 1 {
		t.Errorf("a console 404 is not an HTML page: %s", p.Header.Get("Content-Type"))
	}
	b.get("/admin/no/such/page").must(t, http.StatusNotFound)
	api := b.get("/admin/api/v1/tenants").must(t, http.StatusUnauthorized)
	if !strings.HasPrefix(api.Header.Get("Content-Type"), "application/json") {
		t.Errorf("an admin API error is not JSON: %s", api.Header.Get("Content-Type"))
	}
}

// TestConsoleStaticFiles: the console's files are served to anyone, and
// their folder is never listed.
func TestConsoleStaticFiles(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/admin/static/console.css", http.StatusOK},
		{"/admin/static/console.js", http.StatusOK},
		{"/admin/static/", http.StatusNotFound},
		{"/admin/static/.", http.StatusNotFound},
		{"/admin/static/nosuch/", http.StatusNotFound},
		{"/admin/static/nosuch.css", http.StatusNotFound},
	} {
		t.Run(tt.path, func(t *testing.T) {
			p := cs.browser(t).get(tt.path).must(t, tt.status)
			if strings.Contains(p.Body, "console.css") {
				t.Errorf("the answer names the folder's files: %.300s", p.Body)
			}
		})
	}
}

// api calls the admin JSON API with a staff API key.
func (cs *consoleServer) api(t testing.TB, key, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, cs.srv.URL+"/admin/api/v1"+path, r)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(res.Body)
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	return res.StatusCode, out
}

func (cs *consoleServer) apiKey(t testing.TB, role string) string {
	t.Helper()
	email, _ := cs.newStaff(t, role)
	st, err := staff.FindStaffByEmail(context.Background(), cs.db, email)
	if err != nil {
		t.Fatal(err)
	}
	k, err := staff.CreateAPIKey(context.Background(), cs.db, st.ID, "test", "test")
	if err != nil {
		t.Fatal(err)
	}
	return k.Secret
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	key := cs.apiKey(t, staff.RoleAdmin)
	id := uniq("api")

	status, body := cs.api(t, key, "POST", "/tenants", map[string]any{"id": id, "name": "API Co", "plan": "startup", "max_users": 7})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, body)
	}
	token, _ := body["token"].(string)
	if !strings.HasPrefix(token, tenant.TokenPrefix) || body["scim_base_url"] != cs.srv.URL+"/tenants/"+id+"/scim/v2" {
		t.Fatalf("create answered %v", body)
	}
	if status, _ := cs.api(t, key, "POST", "/tenants", map[string]any{"id": id}); status != http.StatusConflict {
		t.Errorf("duplicate: %d, want 409", status)
	}
	if status, body := cs.api(t, key, "POST", "/tenants", map[string]any{"id": "Bad Id"}); status != http.StatusBadRequest || body["error"] == nil {
		t.Errorf("bad id: %d %v", status, body)
	}
	status, body = cs.api(t, key, "GET", "/tenants?q="+id, nil)
	if list, _ := body["tenants"].([]any); status != 200 || len(list) != 1 {
		t.Fatalf("list: %d %v", status, body)
	}
	status, body = cs.api(t, key, "PUT", "/tenants/"+id+"/permissions", map[string]any{"can_create": false})
	if status != 200 || body["can_create"] != false || body["max_users"] != float64(7) {
		t.Errorf("permissions: %d %v", status, body)
	}
	if status, body := cs.api(t, key, "PUT", "/tenants/"+id+"/permissions", map[string]any{"burst": 0}); status != 400 || body["fields"] == nil {
		t.Errorf("bad permissions: %d %v", status, body)
	}
	status, body = cs.api(t, key, "POST", "/tenants/"+id+"/tokens", map[string]any{"name": "second"})
	if status != http.StatusCreated || body["token"] == nil {
		t.Fatalf("token: %d %v", status, body)
	}
	tokenID, _ := body["token_id"].(string)
	if status, _ := cs.api(t, key, "DELETE", "/tenants/"+id+"/tokens/"+tokenID, nil); status != http.StatusNoContent {
		t.Errorf("revoke: %d", status)
	}
	if status, body := cs.api(t, key, "POST", "/tenants/"+id+"/suspend", nil); status != 200 || body["status"] != "suspended" {
		t.Errorf("suspend: %d %v", status, body)
	}
	status, body = cs.api(t, key, "GET", "/tenants/"+id, nil)
	if status != 200 || body["permissions"] == nil || len(body["tokens"].([]any)) != 2 {
		t.Errorf("show: %d %v", status, body)
	}
	status, body = cs.api(t, key, "GET", "/tenants/"+id+"/audit", nil)
	if events, _ := body["events"].([]any); status != 200 || len(events) < 4 {
		t.Errorf("audit: %d %v", status, body)
	}
	for _, path := range []string{"/health", "/tenants/" + id + "/usage"} {
		if status, body := cs.api(t, key, "GET", path, nil); status != 200 {
			t.Errorf("%s: %d %v", path, status, body)
		}
	}

	// Support's refusals, and a missing key's: TestConsoleRouteRoles.
	t.Run("SupportReads", func(t *testing.T) {
		if status, _ := cs.api(t, cs.apiKey(t, staff.RoleSupport), "GET", "/tenants/"+id, nil); status != 200 {
			t.Errorf("support read: %d", status)
		}
	})
	t.Run("ErrUnknownKey", func(t *testing.T) {
		if status, _ := cs.api(t, "bhk_guess", "GET", "/tenants", nil); status != http.StatusUnauthorized {
			t.Errorf("%d, want 401", status)
		}
	})
	t.Run("ErrRevokedKey", func(t *testing.T) {
		email, _ := cs.newStaff(t, staff.RoleAdmin)
		st, _ := staff.FindStaffByEmail(context.Background(), cs.db, email)
		k, _ := staff.CreateAPIKey(context.Background(), cs.db, st.ID, "x", "test")
		if err := staff.RevokeAPIKey(context.Background(), cs.db, st.ID, k.ID.String(), "test"); err != nil {
			t.Fatal(err)
		}
		if status, _ := cs.api(t, k.Secret, "GET", "/tenants", nil); status != http.StatusUnauthorized {
			t.Errorf("%d, want 401", status)
		}
	})
	if status, _ := cs.api(t, key, "DELETE", "/tenants/"+id, nil); status != http.StatusNoContent {
		t.Errorf("delete: %d", status)
	}
}

// TestConsoleNoLiteralComponents: a templ component written after text on
// one line renders as its own source ("last used @TimeOr(…)"); no page may
// show one.
func TestConsoleNoLiteralComponents(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	tn, _ := cs.createTenant(t, tenant.PlanStartup)
	b := cs.signedIn(t, staff.RoleAdmin)
	literal := regexp.MustCompile(`@[A-Z][A-Za-z]+\(`)
	base := "/admin/tenants/" + tn.ID
	for _, path := range []string{"/admin/tenants", base, base + "/tokens", base + "/permissions", base + "/schema", base + "/health", base + "/audit",
		base + "/usage", base + "/requests", "/admin/tenants/new", "/admin/health", "/admin/audit", "/admin/account"} {
		p := b.get(path).must(t, http.StatusOK)
		if m := literal.FindString(p.Doc.Text()); m != "" {
			t.Errorf("%s shows template source %q", path, m)
		}
	}
	p := b.get(base + "/tokens")
	if got := strings.Join(strings.Fields(p.text(`[data-testid=tokens-accepted]`)), " "); got != "1 active token, last used never" {
		t.Errorf("credentials line %q", got)
	}
}

// TestBackgroundWorkEnds: the console's removal of expired sessions runs
// with the server's other background work and ends with it. It used to
// start with NewServer and end only with Shutdown, so a server that was
// started and stopped without serving left it running, and every ten
// minutes it logged "sql: database is closed".
func TestBackgroundWorkEnds(t *testing.T) {
	db := storetest.NewDB(t)
	before := sessionCleanups()
	srv := web.NewServer(web.Config{DB: db, Log: slog.New(slog.DiscardHandler), BaseURL: "http://bench", Spares: -1})
	if n := sessionCleanups(); n != before {
		t.Fatalf("NewServer started %d session cleanups", n-before)
	}
	ctx, stop := context.WithCancel(context.Background())
	wait := srv.Start(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for sessionCleanups() != before+1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := sessionCleanups(); n != before+1 {
		t.Fatalf("Start runs %d session cleanups, want 1", n-before)
	}
	stop()
	wait()
	if n := sessionCleanups(); n != before {
		t.Fatalf("%d session cleanups still run after the background work ended", n-before)
	}
}

// sessionCleanups counts the goroutines removing expired console sessions.
func sessionCleanups() int {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "postgresstore.(*PostgresStore).startCleanup(")
		}
		buf = make([]byte, 2*len(buf))
	}
}
