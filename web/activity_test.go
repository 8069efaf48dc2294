package web_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/bulkhead-dev/bulkhead/app/activity"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
	"github.com/bulkhead-dev/bulkhead/web"
)

// activityConsole is a console server wired as serve wires it, with the
// activity feed recorded; tests flush the recorder when they choose.
type activityConsole struct {
	*consoleServer
	web *web.Server
	rec *activity.Recorder
}

// newActivityConsole starts it; the recorder flushes every flushEvery when
// a test runs it.
func newActivityConsole(t testing.TB, flushEvery time.Duration) *activityConsole {
	t.Helper()
	db := storetest.NewDB(t)
	ac := &activityConsole{consoleServer: &consoleServer{db: db, tenants: tenant.NewService(db)}}
	ac.rec = activity.NewRecorder(db, activity.Options{FlushEvery: flushEvery})
	ac.srv = httptest.NewUnstartedServer(nil)
	ac.srv.Start()
	ac.web = web.NewServer(web.Config{DB: db, Log: slog.New(slog.DiscardHandler), BaseURL: ac.srv.URL,
		Meter: usage.NewMeter(db, usage.Options{FlushEvery: time.Hour}), Activity: ac.rec, Console: insight.NewMetered(tenant.NewService(db))})
	ac.srv.Config.Handler = ac.web
	t.Cleanup(ac.srv.Close)
	return ac
}

func (ac *activityConsole) flush(t testing.TB) {
	t.Helper()
	if err := ac.rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// rawSCIM sends a SCIM request with the given Authorization header and
// returns the response, its body read.
func (ac *activityConsole) rawSCIM(t testing.TB, path, authorization string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ac.srv.URL+path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// TestActivity sends SCIM traffic, good and bad, to a tenant's URLs and
// finds in its activity feed, as support sees it, what is worth a look:
// the write, the refused request and the failed authentications with the
// token's prefix and why it failed, never a secret or personal data.
func TestActivity(t *testing.T) {
	t.Parallel()
	ac := newActivityConsole(t, time.Hour)
	ctx := context.Background()
	tn, tok := ac.createTenant(t, tenant.PlanEnterprise)
	other, otherTok := ac.createTenant(t, tenant.PlanEnterprise)
	revoked, err := ac.tenants.CreateToken(ctx, tn.ID, "old okta", nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.tenants.RevokeToken(ctx, tn.ID, revoked.ID.String(), "test"); err != nil {
		t.Fatal(err)
	}

	person := user("barbara.jensen@example.com", "name", map[string]any{"givenName": "Barbara"})
	for _, r := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/Users", person, 201}, // a write
		{"GET", "/Users", nil, 200},     // a read: not worth a look
		{"POST", "/Users", person, 409}, // refused
	} {
		if status, _ := ac.scim(t, tn.ID, tok, r.method, r.path, r.body); status != r.status {
			t.Fatalf("%s %s: status %d, want %d", r.method, r.path, status, r.status)
		}
	}
	base := "/tenants/" + tn.ID + "/scim/v2/Users"
	for _, auth := range []string{"Bearer " + revoked.Secret, "Bearer " + otherTok, "Basic dXNlcjpwYXNz"} {
		if res, _ := ac.rawSCIM(t, base, auth); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%.12s…: status %d, want 401", auth, res.StatusCode)
		}
	}
	ac.flush(t)

	t.Run("SupportSeesIt", func(t *testing.T) {
		b := ac.signedIn(t, staff.RoleSupport)
		tp := b.get("/admin/tenants/"+tn.ID).must(t, http.StatusOK)
		if href, _ := tp.Doc.Find(`[data-testid=activity-tab]`).Attr("href"); href != "/admin/tenants/"+tn.ID+"/activity" {
			t.Errorf("tenant page links the activity feed as %q", href)
		}
		p := b.get("/admin/tenants/"+tn.ID+"/activity").must(t, http.StatusOK)
		rows := p.Doc.Find(`[data-testid=activity-entry]`)
		var kinds []string
		rows.Each(func(_ int, r *goquery.Selection) { kinds = append(kinds, r.AttrOr("data-kind", "")) })
		if got, want := strings.Join(kinds, ","), "auth,auth,auth,error,write"; got != want {
			t.Fatalf("entries, newest first: %s, want %s", got, want)
		}
		for _, tt := range []struct {
			row                int
			credential, reason string
		}{
			{0, "", "No bearer token sent"},
			{1, otherTok[:11], "A credential of another tenant"},
			{2, revoked.Prefix, "Revoked token"},
			{3, tok[:11], "409"},
			{4, tok[:11], ""},
		} {
			r := rows.Eq(tt.row)
			if got := strings.TrimSpace(r.Find(`[data-testid=activity-credential]`).Text()); got != tt.credential {
				t.Errorf("row %d: credential %q, want %q", tt.row, got, tt.credential)
			}
			if got := r.Text(); !strings.Contains(got, tt.reason) {
				t.Errorf("row %d: %q does not say %q", tt.row, got, tt.reason)
			}
		}
		for _, secret := range []string{revoked.Secret, otherTok, tok, "barbara", "Barbara", revoked.Secret[11:20]} {
			if strings.Contains(p.Body, secret) {
				t.Errorf("the page shows %q", secret)
			}
		}
		if !strings.Contains(p.Body, "/admin/static/activity.js") {
			t.Error("the page does not load its live script")
		}
	})

	t.Run("NoOracle", func(t *testing.T) {
		// The same revoked token on an existing tenant's URL and on one
		// that does not exist: the same answer, byte for byte.
		a, abody := ac.rawSCIM(t, base, "Bearer "+revoked.Secret)
		n, nbody := ac.rawSCIM(t, "/tenants/nosuch"+tn.ID+"/scim/v2/Users", "Bearer "+revoked.Secret)
		if a.StatusCode != 401 || n.StatusCode != 401 || abody != nbody {
			t.Errorf("existing tenant: %d %q; none: %d %q", a.StatusCode, abody, n.StatusCode, nbody)
		}
		for _, h := range []*http.Response{a, n} {
			h.Header.Del("Date")
			h.Header.Del("X-Request-Id")
		}
		if a, n := headerString(a.Header), headerString(n.Header); a != n {
			t.Errorf("headers differ:\n%s\n%s", a, n)
		}
		// And the other tenant, whose token was sent to tn's URL, saw
		// nothing of it: the entry is tn's.
		ac.flush(t)
		es, err := activity.FindLatest(ctx, ac.db, other.ID, 10)
		if err != nil || len(es) != 0 {
			t.Errorf("the token's own tenant has %d entries (%v), want none", len(es), err)
		}
	})

	t.Run("API", func(t *testing.T) {
		key := ac.apiKey(t, staff.RoleSupport)
		status, body := ac.api(t, key, "GET", "/tenants/"+tn.ID+"/activity?limit=2", nil)
		list, _ := body["activity"].([]any)
		if status != 200 || len(list) != 2 {
			t.Fatalf("limit=2: %d %v", status, body)
		}
		last, _ := list[1].(map[string]any)
		if last["kind"] != "auth" || last["credential"] == "" || body["next"] != last["id"] {
			t.Errorf("latest entry %v, next %v", last, body["next"])
		}
		status, body = ac.api(t, key, "GET", "/tenants/"+tn.ID+"/activity?after=0&limit=1", nil)
		if list, _ := body["activity"].([]any); status != 200 || len(list) != 1 || list[0].(map[string]any)["kind"] != "write" {
			t.Errorf("after=0: %d %v", status, body)
		}
		for _, bad := range []string{"limit=abc", "limit=0", "limit=1001", "limit=-1", "after=x", "after=-5"} {
			if status, body := ac.api(t, key, "GET", "/tenants/"+tn.ID+"/activity?"+bad, nil); status != http.StatusBadRequest || body["error"] == nil {
				t.Errorf("%s: %d %v, want 400 with an error", bad, status, body)
			}
		}
		if status, _ := ac.api(t, key, "GET", "/tenants/nosuch/activity", nil); status != http.StatusNotFound {
			t.Errorf("unknown tenant: %d, want 404", status)
		}
	})

	t.Run("Stream", func(t *testing.T) {
		b := ac.signedIn(t, staff.RoleSupport)
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		req, _ := http.NewRequestWithContext(sctx, http.MethodGet, ac.srv.URL+"/admin/tenants/"+tn.ID+"/activity/stream", nil)
		res, err := b.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		lines := make(chan string, 100)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(res.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// The stream starts now: the entries already there are not sent
		// again; a new write is.
		if status, _ := ac.scim(t, tn.ID, tok, "DELETE", "/Users/00000000-0000-0000-0000-000000000000", nil); status != 404 {
			t.Fatalf("delete: %d", status)
		}
		ac.flush(t)
		var got []string
		timeout := time.After(20 * time.Second)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended; got %q", got)
				}
				got = append(got, l)
				if strings.HasPrefix(l, "data: ") {
					break read
				}
			case <-timeout:
				t.Fatalf("no event within 20 s; got %q", got)
			}
		}
		data := got[len(got)-1]
		if !strings.Contains(strings.Join(got, "\n"), "event: activity") || !strings.Contains(data, `"method":"DELETE"`) ||
			!strings.Contains(data, `"status":404`) || !strings.Contains(data, `\u003ctr data-testid=\"activity-entry\"`) {
			t.Errorf("event: %q", got)
		}
		// Shutdown ends the stream, so that it does not hold the drain.
		sd, cancelSD := context.WithTimeout(ctx, 10*time.Second)
		defer cancelSD()
		if err := ac.web.Shutdown(sd); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case _, ok := <-lines:
				if !ok {
					return
				}
			case <-sd.Done():
				t.Fatal("the stream is still open after Shutdown")
			}
		}
	})
}

func headerString(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b)
	return b.String()
}
