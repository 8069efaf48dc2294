package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/directory"
	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/webhook"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// loopback is the allow list the tests' receivers need.
var loopback = webhook.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// fixture is a database of its own, so that its dispatchers see only the
// test's endpoints, with tenants that write through the SCIM service.
type fixture struct {
	t       *testing.T
	db      *store.DB
	tenants *tenant.Service
	dir     *directory.Service
	hooks   *webhook.Service
	callers map[string]directory.Caller
}

func newFixture(t *testing.T, tenantIDs ...string) *fixture {
	t.Helper()
	db := storetest.NewDB(t)
	f := &fixture{t: t, db: db, tenants: tenant.NewService(db), dir: directory.NewService(db),
		hooks: webhook.NewService(db, loopback), callers: map[string]directory.Caller{}}
	// The relay that copies the tenants' events into the feed, as every
	// server runs it.
	relay := events.NewService(db, 0, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); relay.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, id := range tenantIDs {
		_, tok, err := f.tenants.CreateTenant(context.Background(), tenant.NewTenant{ID: id, Plan: tenant.PlanEnterprise}, "test")
		if err != nil {
			t.Fatal(err)
		}
		p, err := credential.NewService(f.tenants).Authenticate(context.Background(), tok.Secret)
		if err != nil {
			t.Fatal(err)
		}
		f.callers[id] = directory.Caller{Principal: p, RequestID: "req", ClientAddr: "192.0.2.1", BaseURL: "https://scim.test/scim/v2"}
	}
	return f
}

// write creates n users in the tenant, one event each.
func (f *fixture) write(tenantID string, n int) {
	f.t.Helper()
	for i := range n {
		body := map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": fmt.Sprintf("u%d-%d", time.Now().UnixNano(), i)}
		if _, err := f.dir.Create(context.Background(), f.callers[tenantID], scim.UserResource, body); err != nil {
			f.t.Fatal(err)
		}
	}
}

// add registers an endpoint and returns its secret.
func (f *fixture) add(url, tenantID string) *webhook.NewEndpoint {
	f.t.Helper()
	e, err := f.hooks.Add(context.Background(), url, tenantID, "staff:test")
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

// run starts a dispatcher until the test ends.
func (f *fixture) run(policy webhook.Policy, opts webhook.Options) *webhook.Dispatcher {
	if opts.Backoff == 0 {
		opts.Backoff = 20 * time.Millisecond
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Poll == 0 {
		opts.Poll = 500 * time.Millisecond
	}
	d := webhook.NewDispatcher(f.db, policy, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	f.t.Cleanup(func() { cancel(); <-done })
	return d
}

// received is one request a receiver got.
type received struct {
	ID       string `json:"id"`
	Cursor   string `json:"cursor"`
	TenantID string `json:"tenant_id"`
	Sequence int64  `json:"sequence"`
	Type     string `json:"type"`
	Time     string `json:"time"`
	Actor    string `json:"actor"`
	Data     map[string]any
	header   http.Header
}

// receiver records what a webhook endpoint receives, after checking each
// request's signature with the secret as a receiver would (not with
// webhook.Sign), and answers with answer(n) for the n-th request of an
// event (0, 1, …): a status, and how long to wait first.
type receiver struct {
	t      *testing.T
	secret string
	answer func(n int) (status int, wait time.Duration)

	mu       sync.Mutex
	got      []received
	tries    map[string]int
	inFlight map[string]int // per tenant
}

func newReceiver(t *testing.T, answer func(n int) (int, time.Duration)) *receiver {
	return &receiver{t: t, answer: answer, tries: map[string]int{}, inFlight: map[string]int{}}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev received
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("body %q: %v", body, err)
	}
	ev.header = r.Header.Clone()
	rc.mu.Lock()
	secret := rc.secret
	rc.mu.Unlock()
	if !validSignature(secret, r.Header.Get("Bulkhead-Signature"), body) {
		rc.t.Errorf("event %s: signature %q does not verify", ev.ID, r.Header.Get("Bulkhead-Signature"))
	}
	if got := r.Header.Get("Bulkhead-Event-Id"); got != ev.ID || got == "" {
		rc.t.Errorf("Bulkhead-Event-Id %q, body id %q", got, ev.ID)
	}
	rc.mu.Lock()
	n := rc.tries[ev.ID]
	rc.tries[ev.ID]++
	rc.inFlight[ev.TenantID]++
	if rc.inFlight[ev.TenantID] > 1 {
		rc.t.Errorf("tenant %s: two deliveries to one endpoint at once", ev.TenantID)
	}
	rc.mu.Unlock()
	status, wait := rc.answer(n)
	select {
	case <-time.After(wait):
	case <-r.Context().Done(): // the sender gave up: it may send again
	}
	rc.mu.Lock()
	rc.inFlight[ev.TenantID]--
	if status >= 200 && status < 300 && r.Context().Err() == nil {
		rc.got = append(rc.got, ev)
	}
	rc.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprintf(w, "answer %d to try %d", status, n)
}

// validSignature checks a Bulkhead-Signature header as docs/webhooks.md
// tells receivers to.
func validSignature(secret, header string, body []byte) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(m.Sum(nil))
	return ts != "" && hmac.Equal([]byte(sig), []byte(want))
}

// accepted returns the events the receiver answered with 2xx, in arrival
// order.
func (rc *receiver) accepted() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// waitFor waits until the receiver has accepted n distinct events.
func (rc *receiver) waitFor(n int, within time.Duration) []received {
	rc.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := rc.accepted()
		ids := map[string]bool{}
		for _, e := range got {
			ids[e.ID] = true
		}
		if len(ids) >= n {
			return got
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("received %d distinct events within %s, want %d", len(ids), within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkOrder fails unless every tenant's events arrived in sequence order
// 1, 2, … n, counting each first arrival.
func checkOrder(t *testing.T, got []received, perTenant map[string]int) {
	t.Helper()
	seen := map[string]bool{}
	next := map[string]int64{}
	for _, e := range got {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		next[e.TenantID]++
		if e.Sequence != next[e.TenantID] {
			t.Errorf("tenant %s: event %d arrived where %d was due", e.TenantID, e.Sequence, next[e.TenantID])
			next[e.TenantID] = e.Sequence
		}
		if e.Type != "user.created" || e.Data["userName"] == nil || e.Actor == "" || e.Time == "" {
			t.Errorf("event %+v: want a user.created with its user, actor and time", e)
		}
	}
	for id, n := range perTenant {
		if next[id] != int64(n) {
			t.Errorf("tenant %s: %d events arrived, want %d", id, next[id], n)
		}
	}
}

// TestDelivery: whatever the receiver does — answers at once, is down for
// a while, is slow, answers 500 before 200, or lets a request time out —
// every event of every tenant arrives, in order per tenant, signed with the
// endpoint's secret, and its attempts are recorded.
func TestDelivery(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		down   bool // refuses connections for the first half second
		answer func(n int) (int, time.Duration)
	}{
		{"OK", false, func(int) (int, time.Duration) { return 200, 0 }},
		{"Down", true, func(int) (int, time.Duration) { return 204, 0 }},
		{"Slow", false, func(int) (int, time.Duration) { return 200, 150 * time.Millisecond }},
		{"Fail500Then200", false, func(n int) (int, time.Duration) {
			if n < 2 {
				return 500, 0
			}
			return 200, 0
		}},
		{"Timeout", false, func(n int) (int, time.Duration) {
			if n == 0 {
				return 200, 1500 * time.Millisecond // past the dispatcher's 1s
			}
			return 200, 0
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prefix := strings.ToLower(tt.name)
			a, b := prefix+"a", prefix+"b"
			f := newFixture(t, a, b)
			rc := newReceiver(t, tt.answer)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			if tt.down {
				ln.Close()
			}
			e := f.add("http://"+addr+"/hook", "")
			rc.secret = e.Secret
			f.run(loopback, webhook.Options{Timeout: time.Second})
			var wg sync.WaitGroup
			for _, id := range []string{a, b} {
				wg.Add(1)
				go func() { defer wg.Done(); f.write(id, 5) }()
			}
			wg.Wait()
			if tt.down {
				time.Sleep(500 * time.Millisecond)
				ln, err = net.Listen("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
			}
			srv := httptest.NewUnstartedServer(rc)
			srv.Listener.Close()
			srv.Listener = ln
			srv.Start()
			t.Cleanup(srv.Close)

			got := rc.waitFor(10, 30*time.Second)
			checkOrder(t, got, map[string]int{a: 5, b: 5})
			// The last delivery's row may still be committing.
			time.Sleep(100 * time.Millisecond)
			ds, err := f.hooks.Deliveries(context.Background(), e.ID, 100)
			if err != nil {
				t.Fatal(err)
			}
			delivered := 0
			for _, d := range ds {
				if d.State == "delivered" {
					delivered++
				}
			}
			if delivered != 10 {
				t.Errorf("%d deliveries recorded as delivered, want 10: %+v", delivered, ds)
			}
			as, err := f.hooks.Attempts(context.Background(), e.ID, 500)
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "Fail500Then200" && len(as) < 30 {
				t.Errorf("%d attempts recorded, want 3 per event", len(as))
			}
			if tt.name == "Fail500Then200" && !strings.Contains(as[len(as)-1].Response, "answer 500") {
				t.Errorf("first attempt's response %q, want the receiver's body", as[len(as)-1].Response)
			}
		})
	}
}

// TestTwoDispatchers: two instances' dispatchers on one database deliver
// each event once, and never two of one tenant to one endpoint at once
// (the receiver checks), in order per tenant.
func TestTwoDispatchers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "twoa", "twob", "twoc")
	rc := newReceiver(t, func(int) (int, time.Duration) { return 200, 5 * time.Millisecond })
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	e := f.add(srv.URL, "")
	rc.secret = e.Secret
	// A generous timeout: a retry after a slow answer would be a duplicate
	// under conditions this test does not mean.
	f.run(loopback, webhook.Options{Workers: 3, Timeout: 10 * time.Second})
	f.run(loopback, webhook.Options{Workers: 3, Timeout: 10 * time.Second})
	var wg sync.WaitGroup
	for _, id := range []string{"twoa", "twob", "twoc"} {
		wg.Add(1)
		go func() { defer wg.Done(); f.write(id, 15) }()
	}
	wg.Wait()
	rc.waitFor(45, 30*time.Second)
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show
	got := rc.accepted()
	if len(got) != 45 {
		t.Errorf("%d deliveries of 45 events: some were delivered twice", len(got))
	}
	checkOrder(t, got, map[string]int{"twoa": 15, "twob": 15, "twoc": 15})
}

// TestScope: an endpoint of one tenant receives that tenant's events only.
func TestScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "scopea", "scopeb")
	rc := newReceiver(t, func(int) (int, time.Duration) { return 200, 0 })
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	e := f.add(srv.URL, "scopeb")
	rc.secret = e.Secret
	f.run(loopback, webhook.Options{})
	f.write("scopea", 3)
	f.write("scopeb", 2)
	rc.waitFor(2, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	got := rc.accepted()
	checkOrder(t, got, map[string]int{"scopeb": 2})
	if len(got) != 2 {
		t.Errorf("received %d events, want scopeb's 2", len(got))
	}
}

// TestRegistrationSSRF: without an allow list, only https URLs to public
// addresses register; loopback, private, link-local and other special
// addresses are refused, by literal or by a name resolving to them.
func TestRegistrationSSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	strict := webhook.NewService(f.db, webhook.Policy{})
	for _, tt := range []struct{ url, want string }{
		{"http://93.184.215.14/hook", "must use https"},
		{"ftp://93.184.215.14/hook", "https URL"},
		{"https://127.0.0.1/hook", "not a public address"},
		{"https://localhost/hook", "not a public address"},
		{"https://10.1.2.3/hook", "not a public address"},
		{"https://192.168.0.1/hook", "not a public address"},
		{"https://172.16.0.1/hook", "not a public address"},
		{"https://169.254.169.254/latest/meta-data", "not a public address"},
		{"https://[::1]/hook", "not a public address"},
		{"https://[fe80::1]/hook", "not a public address"},
		{"https://[fd00::1]/hook", "not a public address"},
		{"https://[::ffff:127.0.0.1]/hook", "not a public address"},
		{"https://[::127.0.0.1]/hook", "not a public address"},
		{"https://[::a00:1]/hook", "not a public address"},
		{"https://[fec0::1]/hook", "not a public address"},
		{"https://[3fff::1]/hook", "not a public address"},
		{"https://[2001:db8::1]/hook", "not a public address"},
		{"https://0.0.0.0/hook", "not a public address"},
		{"https://224.0.0.1/hook", "not a public address"},
		{"https://100.64.0.1/hook", "not a public address"},
		{"https://user:pw@93.184.215.14/hook", "user name"},
		{"https://93.184.215.14:99999/hook", "port from 1 to 65535"},
		{"https://93.184.215.14:0/hook", "port from 1 to 65535"},
		{"/hook", "absolute URL"},
		{"https://no-such-host.invalid/hook", "does not resolve"},
	} {
		t.Run(tt.url, func(t *testing.T) {
			_, err := strict.Add(context.Background(), tt.url, "", "staff:test")
			var ae *app.Error
			if !errors.As(err, &ae) || ae.Code != app.EINVALID || !strings.Contains(ae.Fields["url"], tt.want) {
				t.Errorf("Add(%q) = %v, want EINVALID about the url saying %q", tt.url, err, tt.want)
			}
		})
	}
	if _, err := strict.Add(context.Background(), "https://93.184.215.14/hook", "", "staff:test"); err != nil {
		t.Errorf("a public https URL: %v", err)
	}
	if _, err := f.hooks.Add(context.Background(), "http://127.0.0.1:9/hook", "", "staff:test"); err != nil {
		t.Errorf("http to an allowed address: %v", err)
	}
	if _, err := strict.Add(context.Background(), "https://93.184.215.14/hook", "nosuch", "staff:test"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("an unknown tenant: %v", err)
	}
}

// TestDeliverySSRF: the address is checked again when the request is
// made, after DNS: an endpoint registered while loopback was allowed
// (standing for a name that resolved to a public address then) gets
// nothing from a dispatcher that does not allow it, by address or by a
// name resolving to 127.0.0.1, and the attempt says why.
func TestDeliverySSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "ssrf")
	rc := newReceiver(t, func(int) (int, time.Duration) { return 200, 0 })
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	byName := f.add(fmt.Sprintf("http://localhost:%d/hook", port), "ssrf")
	byIP := f.add(srv.URL, "ssrf")
	f.run(webhook.Policy{}, webhook.Options{})
	f.write("ssrf", 1)
	for _, e := range []*webhook.NewEndpoint{byName, byIP} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			as, err := f.hooks.Attempts(context.Background(), e.ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(as) > 0 {
				if !strings.Contains(as[0].Error, "not a public address") || as[0].Status != 0 {
					t.Errorf("%s: attempt %+v, want refused before connecting", e.URL, as[0])
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no attempt recorded", e.URL)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got := rc.accepted(); len(got) != 0 {
		t.Errorf("the receiver got %d requests", len(got))
	}
}

// TestPauseResumeReplay: an endpoint that fails past RetryFor is paused
// with its reason and its event marked failed; resumed, it receives the
// next events; replayed from an event, it receives that one and those
// after it again, with the same ids.
func TestPauseResumeReplay(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "pause")
	var mu sync.Mutex
	failing := true
	rc := newReceiver(t, func(int) (int, time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return 503, 0
		}
		return 200, 0
	})
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	e := f.add(srv.URL, "pause")
	rc.secret = e.Secret
	f.run(loopback, webhook.Options{RetryFor: 300 * time.Millisecond})
	f.write("pause", 1)
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ps, err := f.hooks.Paused(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 1 {
			if ps[0].ID != e.ID || !strings.Contains(ps[0].PausedReason, "status 503") {
				t.Errorf("paused %+v, want %s with its reason", ps[0], e.ID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the endpoint was not paused")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ds, _ := f.hooks.Deliveries(ctx, e.ID, 10)
	if len(ds) != 1 || ds[0].State != "failed" || ds[0].Attempts < 2 || ds[0].Status != 503 {
		t.Errorf("deliveries %+v, want event 1 failed after attempts with 503", ds)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	f.write("pause", 2) // events 2, 3 wait while paused
	time.Sleep(300 * time.Millisecond)
	if n := len(rc.accepted()); n != 0 {
		t.Fatalf("a paused endpoint received %d events", n)
	}
	if err := f.hooks.Resume(ctx, e.ID, "staff:test"); err != nil {
		t.Fatal(err)
	}
	got := rc.waitFor(2, 20*time.Second)
	if got[0].Sequence != 2 || got[1].Sequence != 3 {
		t.Errorf("after resuming: %d, %d; want 2, 3", got[0].Sequence, got[1].Sequence)
	}
	if err := f.hooks.Replay(ctx, e.ID, "pause", 1, "staff:test"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for len(rc.accepted()) < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got = rc.accepted()
	var seqs []int64
	for _, g := range got {
		seqs = append(seqs, g.Sequence)
	}
	if fmt.Sprint(seqs) != "[2 3 1 2 3]" || got[3].ID != got[0].ID {
		t.Errorf("sequences received %v, want [2 3 1 2 3] with the same ids again", seqs)
	}
	for _, tt := range []struct {
		name    string
		id, tid string
		seq     int64
		code    string
	}{
		{"UnknownEndpoint", "nope", "pause", 1, app.ENOTFOUND},
		{"OtherTenant", e.ID, "other", 1, app.ENOTFOUND},
		{"BadSequence", e.ID, "pause", 0, app.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := f.hooks.Replay(ctx, tt.id, tt.tid, tt.seq, "staff:test")
			if app.ErrorCode(err) != tt.code {
				t.Errorf("Replay: %v, want %s", err, tt.code)
			}
		})
	}
}

// TestTenantEvents: staff changes to a tenant reach an all-tenants
// endpoint in the tenant's order, down to tenant.deleted, sent after the
// tenant's schema is gone.
func TestTenantEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "gone")
	rc := newReceiver(t, func(int) (int, time.Duration) { return 200, 0 })
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	e := f.add(srv.URL, "")
	rc.secret = e.Secret
	f.run(loopback, webhook.Options{})
	f.write("gone", 1)
	ctx := context.Background()
	if _, _, err := f.tenants.SetStatus(ctx, "gone", tenant.StatusSuspended, "staff:test"); err != nil {
		t.Fatal(err)
	}
	rc.waitFor(2, 20*time.Second)
	if err := f.tenants.DeleteTenant(ctx, "gone", "staff:test"); err != nil {
		t.Fatal(err)
	}
	got := rc.waitFor(3, 20*time.Second)
	var seen []string
	for _, g := range got {
		seen = append(seen, fmt.Sprintf("%d %s", g.Sequence, g.Type))
		if g.Cursor == "" {
			t.Errorf("event %d has no feed cursor", g.Sequence)
		}
	}
	if want := "[1 user.created 2 tenant.suspended 3 tenant.deleted]"; fmt.Sprint(seen) != want {
		t.Errorf("received %v, want %s", seen, want)
	}
}

// TestDeletedTenantLateSignal: a signal naming a deleted tenant that comes
// after its last event was delivered and the dispatcher's periodic sweep
// ran (the feed's NOTIFY is late under load) sends nothing again: the
// endpoint's cursor for the tenant never starts over while the feed holds
// the tenant's events.
func TestDeletedTenantLateSignal(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "late")
	rc := newReceiver(t, func(int) (int, time.Duration) { return 200, 0 })
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	e := f.add(srv.URL, "")
	rc.secret = e.Secret
	// Not run: the test drives it, a step at a time.
	d := webhook.NewDispatcher(f.db, loopback, webhook.Options{Timeout: 2 * time.Second})
	ctx := context.Background()
	drain := func() {
		t.Helper()
		for {
			claimed, err := d.DeliverOne(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !claimed {
				return
			}
		}
	}
	f.write("late", 1)
	if _, _, err := f.tenants.SetStatus(ctx, "late", tenant.StatusSuspended, "staff:test"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.accepted()) < 2 && time.Now().Before(deadline) {
		if err := d.Wake(ctx, "late"); err != nil { // the relay copies them in a moment
			t.Fatal(err)
		}
		drain()
		time.Sleep(20 * time.Millisecond)
	}
	if err := f.tenants.DeleteTenant(ctx, "late", "staff:test"); err != nil {
		t.Fatal(err)
	}
	if err := d.Wake(ctx); err != nil { // the periodic sweep, before the feed's signal
		t.Fatal(err)
	}
	drain()                                     // tenant.deleted delivered
	d.Prune(ctx)                                // the sweep's pruning, after the delivery
	if err := d.Wake(ctx, "late"); err != nil { // the feed's signal, late
		t.Fatal(err)
	}
	drain()
	if err := d.Wake(ctx); err != nil { // and the next sweep
		t.Fatal(err)
	}
	d.Prune(ctx)
	drain()
	var seen []string
	for _, g := range rc.accepted() {
		seen = append(seen, fmt.Sprintf("%d %s", g.Sequence, g.Type))
	}
	if want := "[1 user.created 2 tenant.suspended 3 tenant.deleted]"; fmt.Sprint(seen) != want {
		t.Errorf("received %v, want %s", seen, want)
	}
}
