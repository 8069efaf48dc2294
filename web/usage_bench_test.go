package web_test

import (
	"bytes"
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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/usage"
	"github.com/bulkhead-dev/bulkhead/web"
)

// BenchmarkMetering measures SCIM throughput over real HTTP with the
// observe middleware off, with Prometheus only, and with Prometheus and
// per-tenant usage metering (flushing every second), in interleaved rounds,
// and prints the median of each as a table (make bench). The mix has
// successes, 404s and 409s, so the inspector's capture and redaction run.
func BenchmarkMetering(b *testing.B) {
	setup(b)
	id, prefix, token := meteredTenant(b)
	// Lift the rate limit: the benchmark measures serving, not refusing.
	p, err := env.tenants.FindPermissions(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	p.RequestsPerMinute, p.Burst = 100_000_000, 1_000_000
	if err := env.tenants.UpdatePermissions(context.Background(), id, *p, "bench"); err != nil {
		b.Fatal(err)
	}
	meter := usage.NewMeter(env.db, usage.Options{}) // flushes every 5 s, as in production
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // before the cleanups, which wait for the servers' background work
	go meter.Run(ctx)
	cfg := web.Config{DB: env.db, Log: slog.New(slog.DiscardHandler), BaseURL: baseURL}
	on := cfg
	on.Meter = meter
	// Started as serve starts them, so that tokens are served from the
	// cache and requests cost what they cost in production.
	started := func(s *web.Server) *httptest.Server {
		wait := s.Start(ctx)
		b.Cleanup(wait)
		srv := httptest.NewServer(s)
		b.Cleanup(srv.Close)
		return srv
	}
	variants := []struct {
		name string
		srv  *httptest.Server
	}{
		{"off", started(web.WithoutObservability(web.NewServer(cfg)))},
		{"Prometheus only", started(web.NewServer(cfg))},
		{"Prometheus + usage metering", started(web.NewServer(on))},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var seq, unexpected atomic.Int64
	do := func(url, method, path string, body any, want int) {
		var r io.Reader
		if body != nil {
			j, _ := json.Marshal(body)
			r = bytes.NewReader(j)
		}
		req, _ := http.NewRequest(method, url+prefix+path, r)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		req.Header.Set("User-Agent", "Okta SCIM Client 1.0.0")
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			unexpected.Add(1)
		}
	}
	var known string
	{
		j, _ := json.Marshal(user("bench-known@example.com"))
		req, _ := http.NewRequest("POST", variants[0].srv.URL+prefix+"/Users", bytes.NewReader(j))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var u map[string]any
		json.NewDecoder(res.Body).Decode(&u)
		res.Body.Close()
		known, _ = u["id"].(string)
	}
	// One request of the mix: 50% get, 20% filtered list, 10% create, 10%
	// get of a missing id (404), 10% duplicate create (409).
	one := func(url string, i int64) {
		switch i % 10 {
		case 0, 1, 2, 3, 4:
			do(url, "GET", "/Users/"+known, nil, http.StatusOK)
		case 5, 6:
			do(url, "GET", "/Users?filter="+q(`userName eq "bench-known@example.com"`), nil, http.StatusOK)
		case 7:
			do(url, "POST", "/Users", user(fmt.Sprintf("bench-%d@example.com", seq.Add(1)), "name", map[string]any{"givenName": "Bench"}), http.StatusCreated)
		case 8:
			do(url, "GET", "/Users/2819c223-7f76-453a-919d-413861904646", nil, http.StatusNotFound)
		case 9:
			do(url, "POST", "/Users", user("bench-known@example.com", "name", map[string]any{"givenName": "Bench"}), http.StatusConflict)
		}
	}
	// The machine is shared and its load drifts, so each round runs every
	// variant back to back (in a rotating order) and the cost is the median
	// of the per-round throughput ratios, which drift cancels out of. The
	// Go CPU time per request (this process: clients and server) is the
	// second measure; PostgreSQL's share is the same for every variant.
	const clients, perRound, rounds = 8, 300, 31
	run := func(url string) (perSecond, cpuPerRequest float64) {
		var next atomic.Int64
		var wg sync.WaitGroup
		cpu0 := processCPU()
		start := time.Now()
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1); i <= perRound; i = next.Add(1) {
					one(url, i)
				}
			}()
		}
		wg.Wait()
		return perRound / time.Since(start).Seconds(), float64(processCPU()-cpu0) / perRound
	}
	for _, v := range variants { // warm up connections and caches
		run(v.srv.URL)
	}
	throughput := make([][]float64, len(variants))
	cpu := make([][]float64, len(variants))
	ratios := make([][]float64, len(variants)) // throughput of off / of the variant, per round
	for r := 0; r < rounds; r++ {
		round := make([]float64, len(variants))
		for j := range variants {
			i := (r + j) % len(variants)
			tp, c := run(variants[i].srv.URL)
			round[i] = tp
			throughput[i] = append(throughput[i], tp)
			cpu[i] = append(cpu[i], c)
		}
		for i := range variants {
			ratios[i] = append(ratios[i], round[0]/round[i])
		}
	}
	if n := unexpected.Load(); n > 0 {
		b.Fatalf("%d responses had an unexpected status", n)
	}
	median := func(xs []float64) float64 {
		xs = slices.Clone(xs)
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	fmt.Fprintf(os.Stdout, "\nSCIM throughput over HTTP, %d clients, %d rounds of %d requests per variant, medians:\n\n"+
		"| observability | requests/s | Go CPU per request | throughput cost vs off |\n|---|---:|---:|---:|\n", clients, rounds, perRound)
	for i, v := range variants {
		fmt.Fprintf(os.Stdout, "| %s | %.0f | %.0f µs | %+.1f%% |\n", v.name, median(throughput[i]), median(cpu[i])/1000, 100*(median(ratios[i])-1))
	}
	cost := median(ratios[len(variants)-1]) - 1

	// Meter.Record alone, from 8 goroutines at once (testing.Benchmark would
	// deadlock inside a running benchmark).
	m := usage.NewMeter(env.db, usage.Options{})
	e := usage.Event{TenantID: "bench", At: time.Now(), Resource: usage.ResourceUsers, Operation: usage.OpGet, Status: 200, Duration: time.Millisecond}
	const records = 1_000_000
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < clients; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < records/clients; i++ {
				m.Record(e)
			}
		}()
	}
	wg.Wait()
	fmt.Fprintf(os.Stdout, "\nMeter.Record alone, %d goroutines: %.0f ns per call\n", clients, float64(time.Since(start).Nanoseconds())/records)
	if cost > 0.10 {
		b.Errorf("metering costs %.1f%% of SCIM throughput, more than 10%%", 100*cost)
	}
}

// processCPU returns the CPU time this process has used, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
