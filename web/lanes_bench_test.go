package web_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/web"
)

// BenchmarkLanes compares settings of the connection pool's tenant lanes
// (docs/scaling.md) for GET by id over BENCH_TENANTS tenants (default
// 1,000) and over 10: several servers in one process over one seeded
// database, each with its own pool, warmed with three requests per tenant,
// then 8 clients on each server and side in turns. It prints each
// setting's throughput, p99, the p99 ratio of the two sides and what its
// lanes did; the settings are the default, more lanes, a short wait for a
// busy lane and no lanes.
func BenchmarkLanes(b *testing.B) {
	n := benchTenants(b)
	const conc, rounds = 8, 6
	ctx := context.Background()
	_, dsn := benchDB(b)
	tokens, _ := seedScale(b, dsn, n)
	errLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	configs := []struct {
		name string
		opts store.Options
	}{
		{"15 lanes of 30, wait 20 ms (default)", store.Options{}},
		{"30 lanes of 45", store.Options{MaxOpenConns: 45, Lanes: 30}},
		{"15 lanes of 30, wait 2 ms", store.Options{LaneWait: 2 * time.Millisecond}},
		{"no lanes, 30", store.Options{Lanes: -1}},
	}
	type side struct {
		db   *store.DB
		get  func(of int) func() (int, error)
		lane store.LaneStats // over all the tenants
	}
	sides := make([]*side, len(configs))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for k, c := range configs {
		sdb, err := store.Open(ctx, dsn, c.opts)
		if err != nil {
			b.Fatal(err)
		}
		defer sdb.Close()
		srv := web.NewServer(web.Config{DB: sdb, Log: errLog, BaseURL: "http://bench", Spares: -1})
		sctx, stop := context.WithCancel(ctx)
		wait := srv.Start(sctx)
		defer func() { stop(); wait() }()
		hs := httptest.NewServer(srv)
		defer hs.Close()
		sides[k] = &side{db: sdb, get: func(of int) func() (int, error) {
			return func() (int, error) {
				i := 1 + rand.IntN(of)
				req, _ := http.NewRequest("GET", hs.URL+"/tenants/s"+strconv.Itoa(i)+"/scim/v2/Users/"+userID(1+rand.IntN(20)), nil)
				req.Header.Set("Authorization", "Bearer "+tokens[i])
				resp, err := hc.Do(req)
				if err != nil {
					return 0, err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode, nil
			}
		}}
	}
	for k, s := range sides { // three requests per tenant on average
		var sent atomic.Int64
		stopWarm := make(chan struct{})
		var once sync.Once
		r := runLoadUntil(conc, stopWarm, func() (int, error) {
			if sent.Add(1) >= int64(3*n) {
				once.Do(func() { close(stopWarm) })
			}
			return s.get(n)()
		}, 200)
		if r.errors > 0 {
			b.Fatalf("%s: warm-up: %d errors, first: %v", configs[k].name, r.errors, r.firstErr)
		}
	}
	var runs []func(time.Duration, *loadResult) []time.Duration
	for _, s := range sides {
		for _, of := range []int{n, 10} {
			req := s.get(of)
			runs = append(runs, func(d time.Duration, res *loadResult) []time.Duration {
				l0 := s.db.LaneStats()
				all := closedLoad(conc, after(d), req, 200, res)
				if l1 := s.db.LaneStats(); of == n {
					s.lane.Served += l1.Served - l0.Served
					s.lane.Waited += l1.Waited - l0.Waited
					s.lane.Fallbacks += l1.Fallbacks - l0.Fallbacks
				}
				return all
			})
		}
	}
	res := inTurns(rounds, 5*time.Second, runs...)
	fmt.Printf("\n## Tenant lanes: %d tenants\n\nGET /Users/{id}, %d clients, over %d tenants and over 10, %d rounds of 5 s for each server and side in turns:\n\n| pool | GET/s, %d tenants | p99 | GET/s, 10 tenants | p99 | p99 ratio | waited for their lane | fell back |\n|---|---:|---:|---:|---:|---:|---:|---:|\n", n, conc, n, rounds, n)
	for k, s := range sides {
		a, t := res[2*k], res[2*k+1]
		l := s.lane
		all := float64(max(l.Served+l.Fallbacks, 1))
		fmt.Printf("| %s | %.0f | %.2f ms | %.0f | %.2f ms | %.2f | %.1f%% | %.1f%% |\n", configs[k].name, a.rate, ms(a.p99), t.rate, ms(t.p99),
			float64(a.p99)/float64(t.p99), 100*float64(l.Waited)/all, 100*float64(l.Fallbacks)/all)
		if a.errors+t.errors > 0 {
			b.Fatalf("%s: %d errors, first: %v", configs[k].name, a.errors+t.errors, cmp.Or(a.firstErr, t.firstErr))
		}
	}
}
