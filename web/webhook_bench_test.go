package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/webhook"
)

// BenchmarkWebhookDelay measures the delay from a write's commit to its
// webhook's arrival: 4 clients create users over real HTTP for 10 s in
// three tenants, as fast as the server takes them, with one endpoint for
// every tenant, a loopback receiver answering 204 at once, and the
// default dispatcher (webhook.DefaultWorkers) beside the server's relay. The commit is
// taken as the moment the client has the 201, so the delay includes the
// relay's copy into the feed, the wake-up and the POST.
func BenchmarkWebhookDelay(b *testing.B) {
	setup(b)
	ctx := context.Background()
	var mu sync.Mutex
	committed := map[string]time.Time{} // userName → 201 received
	arrived := map[string]time.Time{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Data struct {
				UserName string `json:"userName"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		if _, ok := arrived[ev.Data.UserName]; !ok {
			arrived[ev.Data.UserName] = now
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	var clients []*client
	for i := range 3 {
		tn, tok, err := env.tenants.CreateTenant(ctx, tenant.NewTenant{ID: fmt.Sprintf("hookbench%d_%d", i, time.Now().UnixNano()%1e6), Plan: tenant.PlanEnterprise}, "bench")
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, &client{t: b, tenant: tn.ID, token: tok.Secret, prefix: "/tenants/" + tn.ID + "/scim/v2"})
	}
	hooks := webhook.NewService(env.db, loopbackHooks)
	e, err := hooks.Add(ctx, recv.URL, "", "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = hooks.Remove(context.Background(), e.ID, "bench") }()
	dctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		webhook.NewDispatcher(env.db, loopbackHooks, webhook.Options{Log: slog.New(slog.DiscardHandler)}).Run(dctx)
	}()
	defer func() { stop(); <-done }()

	fmt.Fprintf(os.Stdout, "\nCommit to webhook delivery over HTTP in %d tenants, one all-tenants endpoint, %d workers:\n\n", len(clients), webhook.DefaultWorkers)
	fmt.Fprintf(os.Stdout, "| writers | writes/s | events | median | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, arm := range []struct {
		name    string
		writers int
		pace    time.Duration // between one writer's writes; 0: as fast as answered
		run     time.Duration
	}{
		{"1, one write per 50 ms", 1, 50 * time.Millisecond, 5 * time.Second},
		{"4, flat out", 4, 0, 10 * time.Second},
	} {
		mu.Lock()
		clear(committed)
		clear(arrived)
		mu.Unlock()
		writers, run := arm.writers, arm.run
		deadline := time.Now().Add(run)
		var wg sync.WaitGroup
		var n int
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; time.Now().Before(deadline); i++ {
					c := clients[(w+i)%len(clients)]
					name := fmt.Sprintf("hb%s%d_%d", arm.name[:1], w, i)
					resp := c.do("POST", "/Users", user(name))
					at := time.Now()
					if resp.Status != http.StatusCreated {
						b.Errorf("create: %d %.200s", resp.Status, resp.Raw)
						return
					}
					mu.Lock()
					committed[name] = at
					n++
					mu.Unlock()
					time.Sleep(arm.pace)
				}
			}()
		}
		wg.Wait()
		wrote := time.Since(deadline.Add(-run))
		for wait := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
			mu.Lock()
			all := len(arrived) >= len(committed)
			mu.Unlock()
			if all {
				break
			}
			if time.Now().After(wait) {
				b.Fatalf("%d of %d events delivered after 2 minutes", len(arrived), len(committed))
			}
		}
		var delays []time.Duration
		for name, at := range committed {
			delays = append(delays, arrived[name].Sub(at))
		}
		slices.Sort(delays)
		pct := func(p float64) time.Duration {
			return delays[int(p*float64(len(delays)-1))].Round(100 * time.Microsecond)
		}
		fmt.Fprintf(os.Stdout, "| %s | %.0f | %d | %s | %s | %s | %s |\n", arm.name, float64(n)/wrote.Seconds(), len(delays), pct(.5), pct(.9), pct(.99), delays[len(delays)-1].Round(100*time.Microsecond))
	}
}
