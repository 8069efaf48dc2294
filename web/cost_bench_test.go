package web_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/activity"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
	"github.com/bulkhead-dev/bulkhead/web"
	_ "github.com/lib/pq"
)

// BenchmarkRequestCost measures Bulkhead's own cost per request (issue
// #23): GET /Users/{id} over 10 tenants of 100 users from 8 clients, in
// turns with pgbench doing the least SQL that answers it (BEGIN; SET LOCAL
// search_path; SELECT data FROM users WHERE id = …; COMMIT, simple
// protocol) and with pgbench running Bulkhead's own SQL (getByIDSQL), at
// the same concurrency on the same cluster; then a projection, a filter,
// a PATCH, creates and Bulk. The HTTP clients run in a process of their
// own (this test binary again, see loadClient), so that the CPU time of
// this process, which serves, is the server's alone: a change in
// Bulkhead's own cost shows in it even when the machine is noisy. They
// speak HTTP/1.1 themselves (rawClient), as light on the shared machine as
// pgbench's clients, and their own CPU per request is printed too. The
// server is set up as serve sets it up: a buffered JSON request log (to
// /dev/null), usage metering and the activity feed.
//
// Beside them runs the floor of Go's side: a bare net/http server on this
// stack (floorServer) answering the same requests with one query each, so
// that Go CPU per GET can be read against the least that net/http,
// database/sql and lib/pq spend on this machine for one round trip.
//
// With BENCH_CPUPROFILE=file it also writes CPU profiles of the server
// and of the floor, each during 10 s more of GET by id.
func BenchmarkRequestCost(b *testing.B) {
	const tenants, users, conc, rounds = 10, 100, 8, 3
	window := 5 * time.Second
	ctx := context.Background()
	db, dsn := benchDB(b)
	svc := tenant.NewService(db)
	tokens := make([]string, tenants+1)
	for i := 1; i <= tenants; i++ {
		if err := seedTenant(ctx, svc, i, users, tokens); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `UPDATE control.tenant_permissions SET requests_per_minute = 100000000, burst = 10000000`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	out := os.Stdout
	fmt.Fprintf(out, "\n## Cost per request: %d tenants of %d users, %d clients\n\nMachine: %s\n", tenants, users, conc, machine(ctx, db))

	logFile, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	sctx, stop := context.WithCancel(ctx)
	logw := web.NewLogWriter(logFile) // as serve logs
	logw.Buffer()
	go logw.Run(sctx)
	log := slog.New(slog.NewJSONHandler(logw, nil))
	meter := usage.NewMeter(db, usage.Options{Log: log})
	feed := activity.NewRecorder(db, activity.Options{Log: log})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); meter.Run(sctx) }()
	go func() { defer bg.Done(); feed.Run(sctx) }()
	srv := web.NewServer(web.Config{DB: db, Log: log, BaseURL: "http://bench", Meter: meter, Activity: feed, Spares: -1})
	wait := srv.Start(sctx)
	hs := httptest.NewServer(srv)
	defer func() { hs.Close(); stop(); wait(); bg.Wait() }()
	syncWith(b, srv)

	var gets []loadRequest
	for t := 1; t <= tenants; t++ {
		for i := 1; i <= users; i++ {
			gets = append(gets, loadRequest{Method: "GET", Path: "/tenants/s" + strconv.Itoa(t) + "/scim/v2/Users/" + userID(i), Token: tokens[t]})
		}
	}
	with := func(reqs []loadRequest, suffix string) []loadRequest {
		r := slices.Clone(reqs)
		for i := range r {
			r[i].Path += suffix
		}
		return r
	}
	// run sends spec's requests from the client process and measures what
	// the server and PostgreSQL spent meanwhile.
	run := func(spec loadSpec, want int) costResult {
		if spec.URL == "" {
			spec.URL = hs.URL
		}
		spec.Want = want
		cpu0 := processCPU()
		res, err := runLoadClient(spec)
		cpu1 := processCPU()
		if err != nil {
			b.Fatal(err)
		}
		if res.Errors > 0 {
			b.Fatalf("%s: %d errors, first: %s", spec.Requests[0].Path, res.Errors, res.FirstErr)
		}
		n := float64(max(res.Count, 1))
		return costResult{rate: float64(res.Count) / res.Seconds, med: res.Med, p99: res.P99, count: res.Count,
			goCPU: time.Duration(float64(cpu1-cpu0) / n), clientCPU: time.Duration(float64(res.CPU) / n)}
	}
	pgb := func(script string) costResult {
		tps, count, err := pgbenchRun(dsn, script, conc, window)
		if err != nil {
			b.Fatal(err)
		}
		return costResult{rate: tps, count: count}
	}
	pick := `\set t random(1, ` + strconv.Itoa(tenants) + `)` + "\n" + `\set i random(1, ` + strconv.Itoa(users) + `)` + "\n"
	minimal := pick + "BEGIN;\nSET LOCAL search_path TO tenant_s:t;\nSELECT data FROM users WHERE id = md5('u' || :i)::uuid;\nCOMMIT;\n"
	same := pick + getByIDSQL

	// Warm up every side once, then measure them in turns, the order
	// reversing every round, so that drift weighs on all alike.
	getSpec := loadSpec{Conc: conc, Seconds: window.Seconds(), Requests: gets}
	floorURL, closeFloor := floorServer(b, dsn)
	defer closeFloor()
	floorSpec := getSpec
	floorSpec.URL = floorURL
	run(getSpec, 200)
	run(floorSpec, 200)
	pgb(minimal)
	pgb(same)
	sides := []func() costResult{
		func() costResult { return run(getSpec, 200) },
		func() costResult { return run(floorSpec, 200) },
		func() costResult { return pgb(minimal) },
		func() costResult { return pgb(same) },
	}
	results := make([][]costResult, len(sides))
	for r := range rounds {
		for k := range sides {
			i := k
			if r%2 == 1 {
				i = len(sides) - 1 - k
			}
			results[i] = append(results[i], sides[i]())
		}
	}
	get, floor, pgMin, pgSame := medianCost(results[0]), medianCost(results[1]), medianCost(results[2]), medianCost(results[3])
	fmt.Fprintf(out, "\nGET /Users/{id} against pgbench (simple protocol), %d clients each, %d rounds of %s in turns, medians of the rounds:\n\n"+
		"| | requests/s | median | p99 | Go CPU per request | the load client's CPU per request |\n|---|---:|---:|---:|---:|---:|\n", conc, rounds, window)
	fmt.Fprintf(out, "| Bulkhead GET /Users/{id} | %.0f | %.2f ms | %.2f ms | %s | %s |\n", get.rate, ms(get.med), ms(get.p99), us(get.goCPU), us(get.clientCPU))
	fmt.Fprintf(out, "| floor: net/http and one lib/pq query (SELECT data), nothing else | %.0f | %.2f ms | %.2f ms | %s | %s |\n", floor.rate, ms(floor.med), ms(floor.p99), us(floor.goCPU), us(floor.clientCPU))
	fmt.Fprintf(out, "| pgbench, least SQL (BEGIN; SET LOCAL search_path; SELECT data; COMMIT) | %.0f | | | |\n", pgMin.rate)
	fmt.Fprintf(out, "| pgbench, Bulkhead's SQL | %.0f | | | |\n", pgSame.rate)
	fmt.Fprintf(out, "\nBulkhead ÷ pgbench, least SQL: %.2f (goal ≥ 0.6); ÷ pgbench, Bulkhead's SQL: %.2f. Go CPU per GET: %s (goal ≤ 120 µs), %.2f× the floor's %s.\n",
		get.rate/pgMin.rate, get.rate/pgSame.rate, us(get.goCPU), float64(get.goCPU)/float64(max(floor.goCPU, 1)), us(floor.goCPU))

	if path := os.Getenv("BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		run(loadSpec{Conc: conc, Seconds: 10, Requests: gets}, 200)
		pprof.StopCPUProfile()
		f.Close()
		ff, err := os.Create(path + ".floor")
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(ff); err != nil {
			b.Fatal(err)
		}
		longFloor := floorSpec
		longFloor.Seconds = 10
		run(longFloor, 200)
		pprof.StopCPUProfile()
		ff.Close()
		fmt.Fprintf(out, "\nCPU profiles of 10 s of GET /Users/{id} written to %s (Bulkhead) and %s.floor (the floor).\n", path, path)
	}

	bulk := make([]map[string]any, 1000)
	for i := range bulk {
		name := fmt.Sprintf("bulk-{seq}-%04d@example.com", i)
		bulk[i] = map[string]any{"method": "POST", "path": "/Users", "bulkId": strconv.Itoa(i),
			"data": user(name, "name", map[string]any{"givenName": "Bulk", "familyName": strconv.Itoa(i)},
				"emails", []any{map[string]any{"value": name, "type": "work", "primary": true}})}
	}
	bulkJSON, _ := json.Marshal(bulkBody(0, bulk...))
	others := []struct {
		name string
		spec loadSpec
		want int
		per  int // resources per request
	}{
		{"GET /Users/{id}?attributes=userName,emails", loadSpec{Conc: conc, Seconds: window.Seconds(), Requests: with(gets, "?attributes=userName,emails")}, 200, 1},
		{"GET /Users?filter=userName eq …", loadSpec{Conc: conc, Seconds: window.Seconds(), Requests: func() []loadRequest {
			var r []loadRequest
			for t := 1; t <= tenants; t++ {
				for i := 1; i <= users; i += 10 {
					r = append(r, loadRequest{Method: "GET", Path: "/tenants/s" + strconv.Itoa(t) + "/scim/v2/Users?filter=" + q(fmt.Sprintf(`userName eq "user%02d"`, i)), Token: tokens[t]})
				}
			}
			return r
		}()}, 200, 1},
		{"POST /Users", loadSpec{Conc: conc, Seconds: window.Seconds(), Requests: func() []loadRequest {
			var r []loadRequest
			for t := 1; t <= tenants; t++ {
				r = append(r, loadRequest{Method: "POST", Path: "/tenants/s" + strconv.Itoa(t) + "/scim/v2/Users", Token: tokens[t],
					Body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new{seq}@example.com"}`})
			}
			return r
		}()}, 201, 1},
		{"PATCH /Users/{id}, displayName replaced", loadSpec{Conc: conc, Seconds: window.Seconds(), Requests: func() []loadRequest {
			var r []loadRequest
			for t := 1; t <= tenants; t++ {
				for i := 1; i <= users; i += 10 {
					r = append(r, loadRequest{Method: "PATCH", Path: "/tenants/s" + strconv.Itoa(t) + "/scim/v2/Users/" + userID(i), Token: tokens[t],
						Body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"User {seq}"}]}`})
				}
			}
			return r
		}()}, 200, 1},
		{"POST /Bulk, 1,000 user creations", loadSpec{Conc: 1, Max: 3, Seconds: 600, Requests: []loadRequest{
			{Method: "POST", Path: "/tenants/s1/scim/v2/Bulk", Token: tokens[1], Body: string(bulkJSON)},
		}}, 200, 1000},
	}
	fmt.Fprintf(out, "\nOther requests, %s each (Bulk: 3 requests, one at a time):\n\n| request | requests/s | resources/s | median | p99 | Go CPU per resource |\n|---|---:|---:|---:|---:|---:|\n", window)
	for _, o := range others {
		r := run(o.spec, o.want)
		fmt.Fprintf(out, "| %s | %.1f | %.0f | %.2f ms | %.2f ms | %s |\n", o.name, r.rate, r.rate*float64(o.per), ms(r.med), ms(r.p99),
			us(r.goCPU/time.Duration(o.per)))
	}
}

// costResult is what one side of BenchmarkRequestCost did: its rate, the
// clients' latencies, and the CPU time per request of the server (this
// process).
type costResult struct {
	rate      float64
	count     int
	med, p99  time.Duration
	goCPU     time.Duration
	clientCPU time.Duration // the load client's, which shares the machine
}

// medianCost returns the round of rs with the median rate.
func medianCost(rs []costResult) costResult {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b costResult) int {
		switch {
		case a.rate < b.rate:
			return -1
		case a.rate > b.rate:
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

func us(d time.Duration) string {
	if d == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000)
}

// pgbenchRun runs script from conc clients for d, simple protocol, and
// returns its transactions per second (without connection time) and count.
func pgbenchRun(dsn, script string, conc int, d time.Duration) (float64, int, error) {
	bin, err := pgbenchPath()
	if err != nil {
		return 0, 0, err
	}
	f, err := os.CreateTemp("", "bulkhead-pgbench-*.sql")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		return 0, 0, err
	}
	f.Close()
	cmd := exec.Command(bin, "-n", "-M", "simple", "-f", f.Name(), "-c", strconv.Itoa(conc), "-j", "2", "-T", strconv.Itoa(int(d.Seconds())), dsn)
	outb, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("pgbench: %v: %s", err, outb)
	}
	tps := regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`).FindSubmatch(outb)
	n := regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`).FindSubmatch(outb)
	if tps == nil || n == nil {
		return 0, 0, fmt.Errorf("could not read pgbench's output: %s", outb)
	}
	rate, _ := strconv.ParseFloat(string(tps[1]), 64)
	count, _ := strconv.Atoi(string(n[1]))
	return rate, count, nil
}

// loadClientEnv names the file holding a loadSpec: a test binary started
// with it set is a load client (see TestMain), not a test run.
const loadClientEnv = "BULKHEAD_BENCH_LOAD_CLIENT"

// loadSpec is the load a client process sends: requests picked at random
// from Requests, from Conc goroutines each waiting for its answer, for
// Seconds or Max requests. "{seq}" in a body becomes a number unique to
// the request.
type loadSpec struct {
	URL      string
	Conc     int
	Seconds  float64
	Max      int
	Want     int
	Requests []loadRequest
}

type loadRequest struct{ Method, Path, Token, Body string }

// loadReport is what a client process reports.
type loadReport struct {
	Count, Errors int
	FirstErr      string
	Med, P99      time.Duration
	Seconds       float64
	CPU           time.Duration // the client process's own CPU time
}

// runLoadClient runs spec in a client process of its own.
func runLoadClient(spec loadSpec) (loadReport, error) {
	f, err := os.CreateTemp("", "bulkhead-load-*.json")
	if err != nil {
		return loadReport{}, err
	}
	defer os.Remove(f.Name())
	if err := json.NewEncoder(f).Encode(spec); err != nil {
		return loadReport{}, err
	}
	f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), loadClientEnv+"="+f.Name())
	cmd.Stderr = os.Stderr
	outb, err := cmd.Output()
	if err != nil {
		return loadReport{}, fmt.Errorf("load client: %w", err)
	}
	var rep loadReport
	if err := json.Unmarshal(outb, &rep); err != nil {
		return loadReport{}, fmt.Errorf("load client's report %q: %w", outb, err)
	}
	return rep, nil
}

// loadClient is the main of a load client process: it sends the load
// the spec in file names and prints a loadReport as JSON.
func loadClient(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var spec loadSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	host := strings.TrimPrefix(spec.URL, "http://")
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	var seq, sent atomic.Int64
	var mu sync.Mutex
	var rep loadReport
	var all []time.Duration
	deadline := time.Now().Add(time.Duration(spec.Seconds * float64(time.Second)))
	start := time.Now()
	var wg sync.WaitGroup
	for range spec.Conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var durs []time.Duration
			var errs []string
			var rc rawClient
			defer rc.close()
			for time.Now().Before(deadline) && (spec.Max == 0 || sent.Add(1) <= int64(spec.Max)) {
				r := spec.Requests[rand.IntN(len(spec.Requests))]
				body := r.Body
				if body != "" {
					body = strings.ReplaceAll(body, "{seq}", nonce+strconv.FormatInt(seq.Add(1), 10))
				}
				t0 := time.Now()
				status, err := rc.do(host, r, body)
				err = outcome(status, err, spec.Want)
				durs = append(durs, time.Since(t0))
				if err != nil {
					errs = append(errs, err.Error())
				}
			}
			mu.Lock()
			defer mu.Unlock()
			all = append(all, durs...)
			if rep.Errors == 0 && len(errs) > 0 {
				rep.FirstErr = errs[0]
			}
			rep.Errors += len(errs)
		}()
	}
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	rep.CPU = time.Duration(processCPU())
	slices.Sort(all)
	rep.Count = len(all)
	if len(all) > 0 {
		rep.Med, rep.P99 = percentile(all, 50), percentile(all, 99)
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		return 1
	}
	return 0
}

// floorServer serves GET /tenants/{t}/scim/v2/Users/{id} with the least a
// Go server on Bulkhead's stack does to answer it: net/http, no router,
// no authentication, no tenant settings, one simple-protocol query through
// database/sql and lib/pq (schema-qualified, the id inlined: the
// benchmark's own ids), and the stored data written as the body. It
// returns the server's URL and its closer.
func floorServer(b *testing.B, dsn string) (string, func()) {
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxIdleConns(16)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /tenants/s1/scim/v2/Users/<uuid>
		parts := strings.Split(r.URL.Path, "/")
		if len(parts) != 7 || !uuidRE.MatchString(parts[6]) || !tenantRE.MatchString(parts[2]) {
			http.NotFound(w, r)
			return
		}
		var data []byte
		q := "SELECT data FROM tenant_" + parts[2] + ".users WHERE id = '" + parts[6] + "'"
		if err := db.QueryRowContext(r.Context(), q).Scan(&data); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/scim+json")
		_, _ = w.Write(data)
	}))
	return hs.URL, func() { hs.Close(); db.Close() }
}

var (
	uuidRE   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	tenantRE = regexp.MustCompile(`^s[0-9]+$`)
)

// BenchmarkServeGET is one GET /Users/{id} (id), or one search for a user
// by userName as identity providers send before they create one (filter),
// through the whole handler chain, as serve sets it up (buffered JSON request log, usage metering,
// the activity feed), handed to the server in process, one at a time: the
// CPU time and allocations per request of Bulkhead's own code, without
// the network and the scheduler that BenchmarkRequestCost measures with
// them. allocs/op is exact and does not depend on the machine's load: a
// change to the read path shows in it at once.
func BenchmarkServeGET(b *testing.B) {
	ctx := context.Background()
	db, _ := benchDB(b)
	tokens := make([]string, 2)
	if err := seedTenant(ctx, tenant.NewService(db), 1, 100, tokens); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE control.tenant_permissions SET requests_per_minute = 100000000, burst = 10000000`); err != nil {
		b.Fatal(err)
	}
	logFile, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	sctx, stop := context.WithCancel(ctx)
	logw := web.NewLogWriter(logFile)
	logw.Buffer()
	go logw.Run(sctx)
	log := slog.New(slog.NewJSONHandler(logw, nil))
	meter := usage.NewMeter(db, usage.Options{Log: log})
	feed := activity.NewRecorder(db, activity.Options{Log: log})
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); meter.Run(sctx) }()
	go func() { defer bg.Done(); feed.Run(sctx) }()
	srv := web.NewServer(web.Config{DB: db, Log: log, BaseURL: "http://bench", Meter: meter, Activity: feed, Spares: -1})
	wait := srv.Start(sctx)
	defer func() { stop(); wait(); bg.Wait() }()
	syncWith(b, srv)

	for _, bc := range []struct {
		name string
		path func(i int) string
	}{
		{"id", func(i int) string { return "/tenants/s1/scim/v2/Users/" + userID(i) }},
		{"filter", func(i int) string {
			return "/tenants/s1/scim/v2/Users?filter=" + url.QueryEscape(fmt.Sprintf(`userName eq "user%02d"`, i))
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			reqs := make([]*http.Request, 100)
			for i := range reqs {
				reqs[i] = httptest.NewRequest("GET", bc.path(i+1), nil)
				reqs[i].Header.Set("Authorization", "Bearer "+tokens[1])
			}
			serve := func(i int) {
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, reqs[i%len(reqs)])
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"totalResults":1,`) && bc.name == "filter" {
					b.Fatalf("GET %s: %d %s", reqs[i%len(reqs)].URL, w.Code, w.Body)
				}
			}
			for i := range 200 { // every user's lookup prepared, every cache warm
				serve(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				serve(i)
			}
		})
	}
}

// rawClient is the load client's HTTP/1.1 client: one keep-alive
// connection, requests written whole and answers read with no more
// parsing than the status, the body's length and the end of the answer.
// Go's http.Client spends about 70 µs of CPU per request here, as much as
// a third of the server's, on a machine that client, server and
// PostgreSQL share; pgbench, which the benchmark compares with, is a light
// C client, and so was wrk, with which issue #23 measured first.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

// do sends r with body to host and reads the answer, returning its status.
// On an error it drops the connection; the next request dials anew.
func (rc *rawClient) do(host string, r loadRequest, body string) (int, error) {
	if rc.conn == nil {
		c, err := net.Dial("tcp", host)
		if err != nil {
			return 0, err
		}
		rc.conn, rc.r = c, bufio.NewReaderSize(c, 16<<10)
	}
	b := append(rc.buf[:0], r.Method...)
	b = append(append(append(b, ' '), r.Path...), " HTTP/1.1\r\nHost: "...)
	b = append(append(b, host...), "\r\nAuthorization: Bearer "...)
	b = append(append(b, r.Token...), "\r\n"...)
	if body != "" {
		b = append(b, "Content-Type: application/scim+json\r\nContent-Length: "...)
		b = append(strconv.AppendInt(b, int64(len(body)), 10), "\r\n"...)
	}
	b = append(append(b, "\r\n"...), body...)
	rc.buf = b
	status, err := rc.exchange(b)
	if err != nil {
		rc.close()
	}
	return status, err
}

func (rc *rawClient) exchange(req []byte) (int, error) {
	if _, err := rc.conn.Write(req); err != nil {
		return 0, err
	}
	line, err := rc.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		line, err := rc.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h := strings.ToLower(string(bytes.TrimSpace(line)))
		if h == "" {
			break
		}
		switch k, v, _ := strings.Cut(h, ":"); k {
		case "content-length":
			if length, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", v)
			}
		case "transfer-encoding":
			chunked = strings.TrimSpace(v) == "chunked"
		case "connection":
			closing = strings.TrimSpace(v) == "close"
		}
	}
	switch {
	case chunked:
		for {
			line, err := rc.r.ReadSlice('\n')
			if err != nil {
				return 0, err
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("bad chunk size %q", line)
			}
			if _, err := rc.r.Discard(int(size) + 2); err != nil { // the chunk and its CRLF
				return 0, err
			}
			if size == 0 {
				break
			}
		}
	case length >= 0:
		if _, err := rc.r.Discard(length); err != nil {
			return 0, err
		}
	default:
		return 0, errors.New("an answer without Content-Length or chunks")
	}
	if closing {
		rc.close()
	}
	return status, nil
}

func (rc *rawClient) close() {
	if rc.conn != nil {
		rc.conn.Close()
		rc.conn = nil
	}
}
