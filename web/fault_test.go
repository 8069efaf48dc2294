package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/localpg"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/web"
)

// TestDatabaseRestart restarts PostgreSQL under a stream of writes. While it
// is down, requests fail with 503 and Retry-After, never 500; once it is
// back, the server recovers by itself; every write that got 201 is there.
func TestDatabaseRestart(t *testing.T) {
	t.Parallel()
	// A cluster of its own: the shared test cluster must stay up.
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	var moved string
	logf := func(format string, args ...any) {
		if m := regexp.MustCompile(`keeping the cluster in (\S+)`).FindStringSubmatch(fmt.Sprintf(format, args...)); m != nil {
			moved = m[1]
		}
	}
	cluster, err := localpg.Open(dir, localpg.Options{Port: port, Fast: true, Log: logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if moved != "" {
			os.RemoveAll(moved)
		}
	})
	ctx := context.Background()
	db, err := store.Open(ctx, cluster.URL(localpg.Database), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.MigrateControl(ctx); err != nil {
		t.Fatal(err)
	}
	tn, tok, err := tenant.NewService(db).CreateTenant(ctx, tenant.NewTenant{ID: "restart", Plan: tenant.PlanEnterprise}, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := web.NewServer(web.Config{DB: db, Log: slog.New(slog.DiscardHandler), BaseURL: baseURL})
	bg, stop := context.WithCancel(ctx)
	defer stop()
	srv.Start(bg)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c := &client{t: t, tenant: tn.ID, token: tok.Secret, prefix: "/tenants/" + tn.ID + "/scim/v2", server: hs.URL}

	var mu sync.Mutex
	var created []string
	var unavailable, other atomic.Int64
	var n atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				r := c.do("POST", "/Users", user(fmt.Sprintf("restart-%d", n.Add(1))))
				switch {
				case r.Status == http.StatusCreated:
					mu.Lock()
					created = append(created, r.str("id"))
					mu.Unlock()
				case r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") != "" && r.Body["status"] == "503":
					unavailable.Add(1)
					time.Sleep(20 * time.Millisecond)
				default:
					other.Add(1)
					t.Errorf("during the restart: %d %.300s", r.Status, r.Raw)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := cluster.Close(); err != nil { // fast shutdown: in-flight work is cut
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if cluster, err = localpg.Open(dir, localpg.Options{Port: port, Fast: true, Log: logf}); err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	// The server recovers by itself.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if r := c.do("GET", "/Users?count=0", nil); r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not recover within 20s of the database coming back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	close(done)
	wg.Wait()

	if unavailable.Load() == 0 {
		t.Error("no request saw the database down: the restart was too quick to test anything")
	}
	// Every write that got 201 is there.
	missing := 0
	for _, id := range created {
		if r := c.do("GET", "/Users/"+id+"?attributes=id", nil); r.Status != http.StatusOK {
			missing++
		}
	}
	if missing > 0 || other.Load() > 0 {
		t.Fatalf("%d of %d acknowledged users missing; %d answers neither 201 nor 503", missing, len(created), other.Load())
	}
	t.Logf("%d users created, %d requests answered 503 during the restart, 0 lost", len(created), unavailable.Load())
}

// TestPoolExhausted: when every connection is busy, a request gets 503 with
// Retry-After instead of queuing behind them.
func TestPoolExhausted(t *testing.T) {
	t.Parallel()
	setup(t)
	ctx := context.Background()
	db, err := store.Open(ctx, env.db.DSN, store.Options{MaxOpenConns: 2, AcquireTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tn, tok, err := tenant.NewService(db).CreateTenant(ctx, tenant.NewTenant{ID: fmt.Sprintf("busy%d", env.n.Add(1)), Plan: tenant.PlanEnterprise}, "test")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(web.NewServer(web.Config{DB: db, Log: slog.New(slog.DiscardHandler), BaseURL: baseURL}))
	defer hs.Close()
	c := &client{t: t, tenant: tn.ID, token: tok.Secret, prefix: "/tenants/" + tn.ID + "/scim/v2", server: hs.URL}
	c.do("GET", "/Users", nil).must(t, http.StatusOK)

	// Hold both connections until the answer is in.
	var held []interface{ Close() error }
	for i := 0; i < 2; i++ {
		conn, err := db.Hold(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
	}
	answered := make(chan *response, 1)
	go func() { answered <- c.do("GET", "/Users", nil) }()
	select {
	case r := <-answered:
		r.scimError(t, http.StatusServiceUnavailable, "")
		if r.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request queued behind the busy connections")
	}
	for _, h := range held {
		h.Close()
	}
	c.do("GET", "/Users", nil).must(t, http.StatusOK)
}
