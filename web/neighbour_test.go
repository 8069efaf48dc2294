package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/scim/scimtest"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/web"
)

// neighbours is a server of its own, with a pool of its own, serving a
// noisy tenant of many users and a quiet one.
type neighbours struct {
	noisy, quiet *client
	quietID      string // a user of the quiet tenant
	opts         store.Options
}

func newNeighbours(tb testing.TB, opts store.Options, users int) *neighbours {
	tb.Helper()
	setup(tb)
	ctx := context.Background()
	db, err := store.Open(ctx, env.db.DSN, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	svc := tenant.NewService(db)
	var cs [2]*client
	for i := range cs {
		tn, tok, err := svc.CreateTenant(ctx, tenant.NewTenant{ID: fmt.Sprintf("nb%d", env.n.Add(1)), Plan: tenant.PlanEnterprise}, "test")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = svc.DeleteTenant(context.Background(), tn.ID, "test") })
		cs[i] = &client{t: tb, tenant: tn.ID, token: tok.Secret, prefix: "/tenants/" + tn.ID + "/scim/v2"}
		if err := scimtest.SeedUsers(ctx, db, tn.Scope(), users); err != nil {
			tb.Fatal(err)
		}
	}
	hs := httptest.NewServer(web.NewServer(web.Config{DB: db, Log: slog.New(slog.DiscardHandler), BaseURL: baseURL}))
	tb.Cleanup(hs.Close)
	n := &neighbours{noisy: cs[0], quiet: cs[1], opts: opts}
	for _, c := range cs {
		c.server = hs.URL
	}
	r := n.quiet.do("GET", "/Users?count=1&attributes=id", nil).must(tb, http.StatusOK)
	n.quietID = r.resources()[0]["id"].(string)
	return n
}

// valueFilterChain is the filter that cost the most before filters were
// bounded by cost: n value filters with a substring match, or'ed.
func valueFilterChain(n int) string {
	terms := make([]string, n)
	for i := range terms {
		terms[i] = fmt.Sprintf(`emails[value co "%d"]`, i)
	}
	return strings.Join(terms, " or ")
}

// worstFilter returns the longest value-filter chain the server accepts
// (of 64, 32, … terms), the most expensive legal filter of that kind.
func (n *neighbours) worstFilter(tb testing.TB) string {
	tb.Helper()
	for terms := 64; terms >= 1; terms /= 2 {
		f := valueFilterChain(terms)
		if n.noisy.do("GET", "/Users?count=100&filter="+q(f), nil).Status == http.StatusOK {
			return f
		}
	}
	tb.Fatal("no value filter accepted")
	return ""
}

// floodResult is what a flood did and what the quiet tenant saw.
type floodResult struct {
	flood    map[int]int     // flooding requests by status
	longest  time.Duration   // the slowest flooding request
	quietDur []time.Duration // the quiet tenant's request times, sorted
	quietBad []string        // the quiet tenant's failed requests
}

// flood sends the filter from conc clients of the noisy tenant until
// stop, while the quiet tenant reads one request at a time.
func (n *neighbours) flood(conc int, filter string, d time.Duration) floodResult {
	res := floodResult{flood: map[int]int{}}
	var mu sync.Mutex
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				start := time.Now()
				r := n.noisy.do("GET", "/Users?count=100&filter="+q(filter), nil)
				took := time.Since(start)
				mu.Lock()
				res.flood[r.Status]++
				res.longest = max(res.longest, took)
				mu.Unlock()
				if r.Status == http.StatusTooManyRequests {
					time.Sleep(100 * time.Millisecond) // as a client honouring Retry-After would, sooner
				}
			}
		}()
	}
	res.quietDur, res.quietBad = n.read(stop)
	wg.Wait()
	return res
}

// read sends the quiet tenant's requests, a list and a read by id in
// turns, until stop, and returns their times, sorted, and the failures.
func (n *neighbours) read(stop time.Time) (durs []time.Duration, bad []string) {
	paths := []string{"/Users?count=5", "/Users/" + n.quietID}
	for i := 0; time.Now().Before(stop); i++ {
		start := time.Now()
		r := n.quiet.do("GET", paths[i%2], nil)
		durs = append(durs, time.Since(start))
		if r.Status != http.StatusOK {
			bad = append(bad, fmt.Sprintf("%s: %d %.200s", paths[i%2], r.Status, r.Raw))
		}
	}
	slices.Sort(durs)
	return durs, bad
}

// TestNoisyNeighbour: one tenant floods the most expensive filter it may
// send, from more clients than its share of the pool; another tenant's
// reads stay error-free, and every flooding request ends within its
// deadline (the transaction's timeout, plus the wait for a place in the
// tenant's share, plus slack for a loaded machine). make bench reports the
// latencies (BenchmarkNoisyNeighbour).
func TestNoisyNeighbour(t *testing.T) {
	t.Parallel()
	opts := store.Options{MaxOpenConns: 8, StatementTimeout: 2 * time.Second}
	n := newNeighbours(t, opts, 5000)
	res := n.flood(16, n.worstFilter(t), 4*time.Second)
	if len(res.quietBad) > 0 {
		t.Errorf("%d of the quiet tenant's %d requests failed under the flood, e.g. %s", len(res.quietBad), len(res.quietDur), res.quietBad[0])
	}
	for status, count := range res.flood {
		switch status {
		case http.StatusOK, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		default:
			t.Errorf("%d flooding requests answered %d", count, status)
		}
	}
	if limit := opts.StatementTimeout + time.Second + 5*time.Second; res.longest > limit {
		t.Errorf("a flooding request took %s, past its deadline (%s with slack)", res.longest, limit)
	}
	t.Logf("flood: %v, longest %s; quiet tenant: %d requests, median %s", res.flood, res.longest, len(res.quietDur), percentile(res.quietDur, 50))
}

// BenchmarkNoisyNeighbour prints the quiet tenant's latency alone and
// under a flood of the noisy tenant's most expensive filter, with the
// default pool, each tenant holding 20,000 users.
func BenchmarkNoisyNeighbour(b *testing.B) {
	n := newNeighbours(b, store.Options{}, 20000)
	f := n.worstFilter(b)
	alone, _ := n.read(time.Now().Add(5 * time.Second))
	res := n.flood(32, f, 15*time.Second)
	fmt.Fprintf(os.Stdout, "\nNoisy neighbour: 32 clients of one tenant send a chain of %d value filters (the longest accepted) over 20,000 users for 15 s; another tenant reads one request at a time:\n\n", strings.Count(f, "emails["))
	fmt.Fprintf(os.Stdout, "| quiet tenant | requests | failed | median | p99 |\n|---|---:|---:|---:|---:|\n")
	fmt.Fprintf(os.Stdout, "| alone | %d | 0 | %.2f ms | %.2f ms |\n", len(alone), ms(percentile(alone, 50)), ms(percentile(alone, 99)))
	fmt.Fprintf(os.Stdout, "| under the flood | %d | %d | %.2f ms | %.2f ms |\n", len(res.quietDur), len(res.quietBad), ms(percentile(res.quietDur, 50)), ms(percentile(res.quietDur, 99)))
	fmt.Fprintf(os.Stdout, "\nMedian under the flood / alone: %.2f×. Flooding requests by status: %v; the slowest took %s.\n",
		float64(percentile(res.quietDur, 50))/float64(percentile(alone, 50)), res.flood, res.longest.Round(time.Millisecond))
}
