package web_test

import (
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/web"
)

// BenchmarkScale seeds BENCH_TENANTS tenants (default 1,000) of 20 users and
// a group each in a database of its own, then measures, over real HTTP, the
// requests an identity provider sends spread over random tenants, tenant
// creation and a migration of every tenant, and runs pgbench with the same
// SQL per request on the same database for the database's own limit. It
// prints markdown tables (make bench; docs/benchmarks.md keeps one run).
func BenchmarkScale(b *testing.B) {
	n := benchTenants(b)
	const conc, turns = 8, 4
	dur := 10 * time.Second
	ctx := context.Background()
	db, dsn := benchDB(b)
	out := os.Stdout
	fmt.Fprintf(out, "\n## Scale: %d tenants\n\nMachine: %s\n", n, machine(ctx, db))

	tokens, seedTime := seedScale(b, dsn, n)
	svc := tenant.NewService(db)
	fmt.Fprintf(out, "\nSeeded %d tenants (20 users, 1 group each) in %s, 4 at a time over connections closed after 250 schemas: %.0f tenants/s.\n", n, seedTime.Round(time.Second), float64(n)/seedTime.Seconds())

	// Errors only: the server logs the cause of a 5xx, which its answer leaves out.
	errLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	srv := web.NewServer(web.Config{DB: db, Log: errLog, BaseURL: "http://bench", Spares: 20})
	bctx, stop := context.WithCancel(ctx)
	wait := srv.Start(bctx)
	defer func() { stop(); wait() }()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	do := func(method, tid, path, body string) (int, error) {
		i, _ := strconv.Atoi(tid[1:])
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, hs.URL+"/tenants/"+tid+"/scim/v2"+path, r)
		req.Header.Set("Authorization", "Bearer "+tokens[i])
		if body != "" {
			req.Header.Set("Content-Type", "application/scim+json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	waitPool := func() {
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			var k int
			_ = db.GetContext(ctx, &k, `SELECT count(*) FROM control.spare_schemas`)
			if k >= 20 {
				return
			}
		}
	}
	// Tenant creation: from the spare pool at a sign-up pace, and with the
	// pool empty.
	create := func(spares bool, count int, pause time.Duration) []time.Duration {
		s := svc
		if !spares {
			if _, err := db.DropSpareSchemas(ctx); err != nil {
				b.Fatal(err)
			}
		}
		var durs []time.Duration
		for i := range count {
			id := fmt.Sprintf("new%d_%d", i, rand.IntN(1e9))
			t0 := time.Now()
			if _, _, err := s.CreateTenant(ctx, tenant.NewTenant{ID: id}, "bench"); err != nil {
				b.Fatal(err)
			}
			durs = append(durs, time.Since(t0))
			time.Sleep(pause)
		}
		slices.Sort(durs)
		return durs
	}
	// Let the server's pool fill up first.
	waitPool()
	pooled := create(true, 200, 250*time.Millisecond)
	// The load below runs with the pool full, so refills do not compete.
	waitPool()
	randTenant := func(of int) string { return "s" + strconv.Itoa(1+rand.IntN(of)) }
	getFrom := func(of int) func() (int, error) {
		return func() (int, error) { return do("GET", randTenant(of), "/Users/"+userID(1+rand.IntN(20)), "") }
	}
	var seq atomic.Int64
	scenarios := []struct {
		name    string
		tenants int
		req     func() (int, error)
		want    int
	}{
		{"GET /Users/{id}", n, getFrom(n), 200},
		{`GET /Users?filter=userName eq …`, n, func() (int, error) {
			return do("GET", randTenant(n), "/Users?filter="+q(fmt.Sprintf(`userName eq "user%02d"`, 1+rand.IntN(20))), "")
		}, 200},
		{"POST /Users", n, func() (int, error) {
			return do("POST", randTenant(n), "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new%d@example.com"}`, seq.Add(1)))
		}, 201},
		{"PATCH /Groups/{id} add member", n, func() (int, error) {
			return do("PATCH", randTenant(n), "/Groups/"+groupID, fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"%s"}]}]}`, userID(11+rand.IntN(10))))
		}, 204},
	}
	// Warm-up: a backend pays once for each tenant whose tables it has not
	// touched yet (catalog entries, about 1 ms), so the first seconds after
	// start-up are slower. Measure them, then warm up until the tenants have
	// had three requests each on average (each tenant's lane has then seen
	// about 95% of its share), and for at least as long again; pgbench gets
	// as long a warm-up.
	first := runLoad(conc, dur, scenarios[0].req, scenarios[0].want)
	warmStart := time.Now()
	sent := int64(first.count)
	stopWarm := make(chan struct{})
	var stopOnce sync.Once
	runLoadUntil(conc, stopWarm, func() (int, error) {
		if atomic.AddInt64(&sent, 1) >= int64(3*n) && time.Since(warmStart) >= dur {
			stopOnce.Do(func() { close(stopWarm) })
		}
		return scenarios[0].req()
	}, scenarios[0].want)
	warmup := (dur + time.Since(warmStart)).Round(time.Second)
	fmt.Fprintf(out, "\nHTTP, %d concurrent clients (client, server and PostgreSQL share the machine), after %s of GET requests over all tenants (%d requests) to warm the pool up; GET by id over %d and over 10 tenants in turns, %d rounds of %s each, the others for %s:\n\n| request | tenants | median | p99 | requests/s |\n|---|---:|---:|---:|---:|\n",
		conc, warmup, atomic.LoadInt64(&sent), n, turns, dur/2, dur)
	fmt.Fprintf(out, "| GET /Users/{id}, first %s after start-up | %d | %.2f ms | %.2f ms | %.0f |\n", dur, n, ms(first.med), ms(first.p99), first.rate)
	// Pages read into shared buffers from outside (the OS page cache here):
	// what grows when the tenants' pages outgrow shared_buffers. Backends
	// report their counts within a second.
	blocksRead := func() (read int64) {
		time.Sleep(1100 * time.Millisecond)
		_ = db.GetContext(ctx, &read, `SELECT blks_read FROM pg_stat_database WHERE datname = current_database()`)
		return read
	}
	var reads [2]int64
	last := blocksRead()
	// What the tenant lanes did in each side's turns, and how much of the
	// machine's CPU time was left idle: requests waiting for a lane while
	// the cores had nothing to do would show there.
	var lanes [2]store.LaneStats
	var idle, busy [2]int64
	closed := func(side int, req func() (int, error)) func(time.Duration, *loadResult) []time.Duration {
		return func(d time.Duration, res *loadResult) []time.Duration {
			l0 := db.LaneStats()
			i0, b0 := machineCPU()
			all := closedLoad(conc, after(d), req, 200, res)
			i1, b1 := machineCPU()
			idle[side] += i1 - i0
			busy[side] += b1 - b0
			l1 := db.LaneStats()
			lanes[side].Served += l1.Served - l0.Served
			lanes[side].Waited += l1.Waited - l0.Waited
			lanes[side].Fallbacks += l1.Fallbacks - l0.Fallbacks
			now := blocksRead()
			reads[side] += now - last
			last = now
			return all
		}
	}
	pair := inTurns(turns, dur/2, closed(0, getFrom(n)), closed(1, getFrom(10)))
	get, get10 := pair[0], pair[1]
	// The same at a steady rate well below what the machine can serve: with
	// 8 clients sending back to back, the CPU is always saturated and every
	// latency is mostly queueing (p99 follows 1 / throughput); at a steady
	// rate it is what one request costs. The two sides take turns, after
	// untimed traffic, so that neither gains from going second; and this
	// runs before the writes below, whose vacuuming would go on meanwhile.
	var steadyOut strings.Builder
	const openRate, rounds = 150, 12
	fmt.Fprintf(&steadyOut, "\nGET /Users/{id} at a steady %d requests/s (Poisson arrivals, each timed from its planned start), %d rounds of %s for each side in turns, after %s untimed:\n\n| tenants | median | p99 |\n|---:|---:|---:|\n", openRate, rounds, dur/2, dur)
	open := func(req func() (int, error)) func(time.Duration, *loadResult) []time.Duration {
		return func(d time.Duration, res *loadResult) []time.Duration { return openLoad(openRate, d, req, 200, res) }
	}
	openLoad(openRate, dur, getFrom(n), 200, &loadResult{})
	steady := inTurns(rounds, dur/2, open(getFrom(n)), open(getFrom(10)))
	for i, of := range []int{n, 10} {
		if r := steady[i]; r.errors > 0 {
			b.Fatalf("steady GET over %d tenants: %d errors, first: %v", of, r.errors, r.firstErr)
		}
		fmt.Fprintf(&steadyOut, "| %d | %.2f ms | %.2f ms |\n", of, ms(steady[i].med), ms(steady[i].p99))
	}
	fmt.Fprintf(&steadyOut, "\np99 at a steady rate over %d tenants ÷ over 10 tenants: %.2f (goal ≤ 1.3)\n", n, float64(steady[0].p99)/float64(steady[1].p99))
	for i, r := range []loadResult{get, get10} {
		if r.errors > 0 {
			b.Fatalf("GET by id: %d errors, first: %v", r.errors, r.firstErr)
		}
		fmt.Fprintf(out, "| GET /Users/{id} | %d | %.2f ms | %.2f ms | %.0f |\n", []int{n, 10}[i], ms(r.med), ms(r.p99), r.rate)
	}
	for _, sc := range scenarios[1:] {
		r := runLoad(conc, dur, sc.req, sc.want)
		if r.errors > 0 {
			b.Fatalf("%s: %d errors, first: %v", sc.name, r.errors, r.firstErr)
		}
		fmt.Fprintf(out, "| %s | %d | %.2f ms | %.2f ms | %.0f |\n", sc.name, sc.tenants, ms(r.med), ms(r.p99), r.rate)
	}
	fmt.Fprintf(out, "\np99 of GET by id over %d tenants ÷ over 10 tenants: %.2f (goal ≤ 1.3)\n", n, float64(get.p99)/float64(get10.p99))
	var sharedBuffers string
	_ = db.GetContext(ctx, &sharedBuffers, `SHOW shared_buffers`)
	fmt.Fprintf(out, "\nThe machine's CPU time left idle during GET by id: %.1f%% over %d tenants, %.1f%% over 10.\n",
		100*float64(idle[0])/float64(max(idle[0]+busy[0], 1)), n, 100*float64(idle[1])/float64(max(idle[1]+busy[1], 1)))
	fmt.Fprintf(out, "\nPages read from outside shared buffers (%s) per GET /Users/{id}: %.2f over %d tenants, %.2f over 10.\n",
		sharedBuffers, float64(reads[0])/float64(max(get.count, 1)), n, float64(reads[1])/float64(max(get10.count, 1)))

	fmt.Fprint(out, steadyOut.String())
	if ls := db.LaneStats(); ls.Lanes > 0 {
		fmt.Fprintf(out, "\nTenant lanes (%d) during GET by id, 8 clients (a transaction may wait for its lane and then give up on it):\n\n| tenants | transactions | waited for their busy lane | ran on another connection |\n|---:|---:|---:|---:|\n", ls.Lanes)
		for i, l := range lanes {
			all := float64(max(l.Served+l.Fallbacks, 1))
			fmt.Fprintf(out, "| %d | %d | %.1f%% | %.1f%% |\n", []int{n, 10}[i], l.Served+l.Fallbacks, 100*float64(l.Waited)/all, 100*float64(l.Fallbacks)/all)
		}
	}

	// The database's own limit: pgbench, same SQL, same concurrency; once
	// with a random tenant per transaction, once with each client drawing
	// from its own share of the tenants, which keeps its backend's caches
	// warm as lanes do, and once over 10 tenants, for the database's own
	// p99 ratio: the least a goal on Bulkhead's can ask.
	pgUniform, err := runPgbench(dsn, n, conc, dur, warmup, false)
	var pgOwn, pg10 pgbenchResult
	if err == nil {
		pgOwn, err = runPgbench(dsn, n, conc, dur, warmup, true)
	}
	if err == nil {
		pg10, err = runPgbench(dsn, 10, conc, dur, 2*dur, false)
	}
	if err != nil {
		fmt.Fprintf(out, "\npgbench: not run: %v\n", err)
	} else {
		fmt.Fprintf(out, "\npgbench, %d clients, %s windows, the SQL of GET /Users/{id} per transaction (BEGIN with SET LOCAL search_path, statement_timeout and the tenant lock; the user with its groups; COMMIT), against Bulkhead's GET /Users/{id} over HTTP:\n\n"+
			"| | first %s: transactions/s | mean latency | after %s: transactions/s | mean latency | p99 |\n|---|---:|---:|---:|---:|---:|\n"+
			"| pgbench, a random tenant per transaction | %.0f | %.2f ms | %.0f | %.2f ms | %.2f ms |\n"+
			"| pgbench, each client its own 1/%d of the tenants | %.0f | %.2f ms | %.0f | %.2f ms | %.2f ms |\n"+
			"| pgbench, 10 tenants (after %s) | %.0f | %.2f ms | %.0f | %.2f ms | %.2f ms |\n"+
			"| Bulkhead | %.0f | %.2f ms (median) | %.0f | %.2f ms (median) | %.2f ms |\n\n"+
			"Bulkhead ÷ pgbench (random tenants): %.0f%% in the first %s, %.0f%% after %s (goal ≥ 50%%)\n\n"+
			"Bulkhead ÷ pgbench (own shares): %.0f%% in the first %s, %.0f%% after %s\n\n"+
			"p99 over %d tenants ÷ over 10, the database alone (pgbench): %.2f with each client on its own share, %.2f with random tenants; Bulkhead: %.2f\n",
			conc, dur, dur, warmup,
			pgUniform.cold.tps, pgUniform.cold.latencyMS, pgUniform.warm.tps, pgUniform.warm.latencyMS, ms(pgUniform.warmP99),
			conc, pgOwn.cold.tps, pgOwn.cold.latencyMS, pgOwn.warm.tps, pgOwn.warm.latencyMS, ms(pgOwn.warmP99),
			2*dur, pg10.cold.tps, pg10.cold.latencyMS, pg10.warm.tps, pg10.warm.latencyMS, ms(pg10.warmP99),
			first.rate, ms(first.med), get.rate, ms(get.med), ms(get.p99),
			100*first.rate/pgUniform.cold.tps, dur, 100*get.rate/pgUniform.warm.tps, warmup,
			100*first.rate/pgOwn.cold.tps, dur, 100*get.rate/pgOwn.warm.tps, warmup,
			n, float64(pgOwn.warmP99)/float64(pg10.warmP99), float64(pgUniform.warmP99)/float64(pg10.warmP99), float64(get.p99)/float64(get10.p99))
	}

	stop() // the server's refill would race the empty-pool case
	wait()
	cold := create(false, 20, 0)
	fmt.Fprintf(out, "\nTenant creation (control rows, schema, first token, audit; one transaction), %d tenants present:\n\n| how | tenants | median | p99 | slowest |\n|---|---:|---:|---:|---:|\n", n)
	for _, c := range []struct {
		how  string
		durs []time.Duration
	}{{"spare schema renamed (pool of 20, one sign-up every 250 ms)", pooled}, {"pool empty: schema built", cold}} {
		fmt.Fprintf(out, "| %s | %d | %.1f ms | %.1f ms | %.1f ms |\n", c.how, len(c.durs), ms(percentile(c.durs, 50)), ms(percentile(c.durs, 99)), ms(c.durs[len(c.durs)-1]))
	}

	// Migrate every tenant: a column with a default and an index, while
	// GET requests keep coming.
	svc.Migrations = append(slices.Clone(store.TenantMigrations), store.Migration{
		Version: len(store.TenantMigrations) + 1, Name: "bench",
		SQL: `ALTER TABLE users ADD COLUMN bench_flag boolean NOT NULL DEFAULT false; CREATE INDEX users_bench_flag_idx ON users (bench_flag);`,
	})
	// A server as deployed: its background work runs (and pauses its
	// prepared lookups while the tenants are migrated).
	srv2 := web.NewServer(web.Config{DB: db, Log: errLog, BaseURL: "http://bench", Spares: -1})
	bctx2, stop2 := context.WithCancel(ctx)
	wait2 := srv2.Start(bctx2)
	defer func() { stop2(); wait2() }()
	hs.Config.Handler = srv2
	var during loadResult
	loadDone := make(chan struct{})
	migrating := make(chan struct{})
	go func() {
		defer close(loadDone)
		during = runLoadUntil(2, migrating, scenarios[0].req, 200)
	}()
	total := 0
	for _, w := range []int{4} {
		t0 := time.Now()
		migrated, failed, err := svc.MigrateTenants(ctx, tenant.MigrateOptions{Workers: w})
		el := time.Since(t0)
		close(migrating)
		<-loadDone
		if err != nil || failed > 0 {
			b.Fatalf("migrate: %d failed, %v", failed, err)
		}
		total = migrated
		fmt.Fprintf(out, "\nMigrate all (ADD COLUMN … DEFAULT false and CREATE INDEX, each tenant in its own transaction, %d workers):\n\n| tenants | time | tenants/s |\n|---:|---:|---:|\n| %d | %.1f s | %.0f |\n",
			w, total, el.Seconds(), float64(total)/el.Seconds())
	}
	fmt.Fprintf(out, "\nDuring the migration, GET /Users/{id} from 2 clients: %d requests, %d errors, median %.2f ms, p99 %.2f ms.\n",
		during.count, during.errors, ms(during.med), ms(during.p99))
	if during.errors > 0 {
		b.Fatalf("requests failed during the migration: %v", during.firstErr)
	}
}

var groupID = userID(1000)

// userID returns the id of user i of every benchmark tenant (group ids
// follow the same rule from 1000 on): a uuid both Go and pgbench compute.
func userID(i int) string {
	return uuidFromMD5("u" + strconv.Itoa(i))
}

// benchTenants is how many tenants BENCH_TENANTS asks the scale
// benchmarks for: 1,000 when unset.
func benchTenants(b *testing.B) int {
	v := os.Getenv("BENCH_TENANTS")
	if v == "" {
		return 1000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 10 {
		b.Fatalf("BENCH_TENANTS=%q: want a number of at least 10", v)
	}
	return n
}

// benchDB opens a pool with the default options on a new database with its
// control plane migrated, closed when the benchmark ends, and returns it
// with the database's URL.
func benchDB(b *testing.B) (*store.DB, string) {
	dsn := storetest.URL(b)
	db, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.MigrateControl(context.Background()); err != nil {
		b.Fatal(err)
	}
	return db, dsn
}

// seedScale creates tenants s1 … sn in the database at dsn, whose
// control plane is migrated, each with 20 users and a group (seedTenant),
// lifts their rate limits (the benchmarks measure the server) and analyzes
// the database. It returns each tenant's token at its index, and how long
// the seeding took.
func seedScale(b *testing.B, dsn string, n int) (tokens []string, took time.Duration) {
	ctx := context.Background()
	// Several at a time over a pool of its own whose connections close
	// after 250 schemas: a backend that has created thousands of schemas
	// holds all their catalog entries, and seeding over long-lived
	// connections once slowed down tenfold by 8,000 tenants
	// (docs/scaling.md).
	db, err := store.Open(ctx, dsn, store.Options{MaxOpenConns: 4, MaxConnSchemas: 250})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	seeder := tenant.NewService(db)
	tokens = make([]string, n+1)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var seedErr error
	var errOnce sync.Once
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				if err := seedTenant(ctx, seeder, i, 20, tokens); err != nil {
					errOnce.Do(func() { seedErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if seedErr != nil {
		b.Fatal(seedErr)
	}
	took = time.Since(start)
	if _, err := db.ExecContext(ctx, `UPDATE control.tenant_permissions SET requests_per_minute = 100000000, burst = 10000000`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	return tokens, took
}

// seedTenant creates tenant s<i> and fills it with users users and a group of
// the first 10, trying each step up to three times (a busy machine may
// time a statement out).
func seedTenant(ctx context.Context, svc *tenant.Service, i, users int, tokens []string) error {
	var tn *tenant.Tenant
	err := retry(func() error {
		var tok *tenant.NewToken
		var err error
		tn, tok, err = svc.CreateTenant(ctx, tenant.NewTenant{ID: "s" + strconv.Itoa(i), Plan: tenant.PlanEnterprise}, "bench")
		if err == nil {
			tokens[i] = tok.Secret
		}
		return err
	})
	if err != nil {
		return err
	}
	return retry(func() error { return seedRows(ctx, svc.DB, tn.Scope(), users) })
}

func retry(fn func() error) (err error) {
	for range 3 {
		if err = fn(); err == nil {
			return nil
		}
	}
	return err
}

// seedRows fills a tenant with users 1 … users, whose ids are userID(i), and
// a group (id groupID) of the first 10.
func seedRows(ctx context.Context, db *store.DB, scope store.Scope, users int) error {
	n := strconv.Itoa(users)
	return db.InTenant(ctx, scope, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO users (id, user_name, display_name, data)
			SELECT md5('u' || i)::uuid, 'user' || lpad(i::text, greatest(length(i::text), 2), '0'), 'User ' || i,
				jsonb_build_object('schemas', jsonb_build_array('urn:ietf:params:scim:schemas:core:2.0:User'),
					'userName', 'user' || lpad(i::text, greatest(length(i::text), 2), '0'), 'displayName', 'User ' || i,
					'emails', jsonb_build_array(jsonb_build_object('value', 'user' || i || '@example.com', 'type', 'work', 'primary', true)))
			FROM generate_series(1, `+n+`) AS i;
			INSERT INTO user_emails (user_id, value, type, is_primary)
			SELECT md5('u' || i)::uuid, 'user' || i || '@example.com', 'work', true FROM generate_series(1, `+n+`) AS i;
			INSERT INTO groups (id, display_name, data)
			VALUES (md5('u1000')::uuid, 'Everyone', '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Everyone"}');
			INSERT INTO group_members (group_id, member_id, member_type)
			SELECT md5('u1000')::uuid, md5('u' || i)::uuid, 'User' FROM generate_series(1, 10) AS i;
			`+scim.Recount)
		return err
	})
}

type loadResult struct {
	count, errors int
	firstErr      error
	med, p99      time.Duration
	rate          float64
}

// outcome is the error of a request that answered status: err itself, or
// a wrong status.
func outcome(status int, err error, want int) error {
	if err == nil && status != want {
		err = fmt.Errorf("status %d, want %d", status, want)
	}
	return err
}

// fail counts a failed request, keeping the first error; the caller holds
// whatever lock guards res.
func (res *loadResult) fail(err error) {
	if res.errors == 0 {
		res.firstErr = err
	}
	res.errors++
}

// summarize fills in the count, median, p99 and rate of the requests that
// took all, sent over el.
func (res *loadResult) summarize(all []time.Duration, el time.Duration) {
	slices.Sort(all)
	res.count = len(all)
	if len(all) > 0 {
		res.med, res.p99 = percentile(all, 50), percentile(all, 99)
	}
	res.rate = float64(len(all)) / el.Seconds()
}

// runLoad sends requests from conc goroutines for d and sums up.
func runLoad(conc int, d time.Duration, req func() (int, error), want int) loadResult {
	return runLoadUntil(conc, after(d), req, want)
}

// after returns a channel closed after d.
func after(d time.Duration) <-chan struct{} {
	stop := make(chan struct{})
	time.AfterFunc(d, func() { close(stop) })
	return stop
}

// runLoadUntil sends requests from conc goroutines until stop closes and
// sums up.
func runLoadUntil(conc int, stop <-chan struct{}, req func() (int, error), want int) loadResult {
	var res loadResult
	start := time.Now()
	all := closedLoad(conc, stop, req, want, &res)
	res.summarize(all, time.Since(start))
	return res
}

// closedLoad sends requests from conc goroutines, each waiting for its
// answer before it sends the next, until stop closes. It counts failures
// in res and returns the times.
func closedLoad(conc int, stop <-chan struct{}, req func() (int, error), want int, res *loadResult) []time.Duration {
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var durs []time.Duration
			for {
				select {
				case <-stop:
					mu.Lock()
					all = append(all, durs...)
					mu.Unlock()
					return
				default:
				}
				t0 := time.Now()
				status, err := req()
				durs = append(durs, time.Since(t0))
				if err := outcome(status, err, want); err != nil {
					mu.Lock()
					res.fail(err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return all
}

// inTurns runs each of runs for d, in turns (0 1 …, then … 1 0, and so on)
// for rounds rounds, so that drift in the machine's speed and the order of
// runs weigh on all of them alike, and sums up each over all its rounds.
func inTurns(rounds int, d time.Duration, runs ...func(time.Duration, *loadResult) []time.Duration) []loadResult {
	res := make([]loadResult, len(runs))
	all := make([][]time.Duration, len(runs))
	for r := range rounds {
		for k := range runs {
			i := k
			if r%2 == 1 {
				i = len(runs) - 1 - k
			}
			all[i] = append(all[i], runs[i](d, &res[i])...)
		}
	}
	for i := range res {
		res[i].summarize(all[i], time.Duration(rounds)*d)
	}
	return res
}

// openLoad sends requests at rate per second for d, each in a goroutine
// of its own, at exponentially distributed gaps (arrivals that do not wait
// for answers, as from many independent clients), and times each from its
// planned start, so that a slow answer cannot hide the requests queued
// behind it. It counts failures in res and returns the times.
func openLoad(rate float64, d time.Duration, req func() (int, error), want int, res *loadResult) []time.Duration {
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	start := time.Now()
	for at := start; at.Sub(start) < d; at = at.Add(time.Duration(rand.ExpFloat64() / rate * float64(time.Second))) {
		time.Sleep(time.Until(at))
		wg.Add(1)
		go func(at time.Time) {
			defer wg.Done()
			status, err := req()
			took := time.Since(at)
			mu.Lock()
			defer mu.Unlock()
			all = append(all, took)
			if err := outcome(status, err, want); err != nil {
				res.fail(err)
			}
		}(at)
	}
	wg.Wait()
	return all
}

type pgbenchWindow struct{ tps, latencyMS float64 }

// pgbenchResult holds pgbench's first window after it connects and its
// last, after the warm-up, with the p99 latency of the last (from
// pgbench's log of every transaction).
type pgbenchResult struct {
	cold, warm pgbenchWindow
	warmP99    time.Duration
}

// runPgbench runs pgbench against dsn with the SQL Bulkhead sends for GET
// /Users/{id}, over random tenants of n, with conc clients, in windows of
// d for warmup and one window more. With own, each client draws from its
// own 1/conc of the tenants.
func runPgbench(dsn string, n, conc int, d, warmup time.Duration, own bool) (pgbenchResult, error) {
	bin, err := pgbenchPath()
	if err != nil {
		return pgbenchResult{}, err
	}
	pick := `\set t random(1, ` + strconv.Itoa(n) + `)`
	if own {
		share := strconv.Itoa(n / conc)
		pick = `\set t :client_id * ` + share + ` + random(1, ` + share + `)`
	}
	script := pick + "\n\\set i random(1, 20)\n" + getByIDSQL
	f, err := os.CreateTemp("", "bulkhead-pgbench-*.sql")
	if err != nil {
		return pgbenchResult{}, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		return pgbenchResult{}, err
	}
	f.Close()
	logs, err := os.MkdirTemp("", "bulkhead-pgbench-log-*")
	if err != nil {
		return pgbenchResult{}, err
	}
	defer os.RemoveAll(logs)
	total := time.Duration((warmup+d-1)/d+1) * d
	cmd := exec.Command(bin, "-n", "-M", "simple", "-f", f.Name(), "-c", strconv.Itoa(conc), "-j", strconv.Itoa(min(conc, runtime.NumCPU())),
		"-T", strconv.Itoa(int(total.Seconds())), "-P", strconv.Itoa(int(d.Seconds())), "-l", "--log-prefix", filepath.Join(logs, "tx"), dsn)
	started := time.Now()
	outb, err := cmd.CombinedOutput()
	if err != nil {
		return pgbenchResult{}, fmt.Errorf("%v: %s", err, outb)
	}
	warm, err := pgbenchLatencies(logs, started.Add(total-d))
	if err != nil {
		return pgbenchResult{}, err
	}
	// progress: 10.0 s, 1234.5 tps, lat 6.481 ms stddev 3.210, 0 failed
	lines := regexp.MustCompile(`progress: [0-9.]+ s, ([0-9.]+) tps, lat ([0-9.]+) ms`).FindAllSubmatch(outb, -1)
	if len(lines) < 2 {
		return pgbenchResult{}, fmt.Errorf("could not read pgbench's progress: %s", outb)
	}
	window := func(m [][]byte) (w pgbenchWindow) {
		w.tps, _ = strconv.ParseFloat(string(m[1]), 64)
		w.latencyMS, _ = strconv.ParseFloat(string(m[2]), 64)
		return w
	}
	return pgbenchResult{cold: window(lines[0]), warm: window(lines[len(lines)-1]), warmP99: percentile(warm, 99)}, nil
}

// pgbenchLatencies reads the latencies of the transactions that pgbench
// logged (-l) into dir and that ended at since or later, sorted.
func pgbenchLatencies(dir string, since time.Time) ([]time.Duration, error) {
	files, err := filepath.Glob(filepath.Join(dir, "tx.*"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("pgbench wrote no transaction log in %s (%v)", dir, err)
	}
	var all []time.Duration
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		// client_id transaction_no latency_us script_no end_epoch_s end_us
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) < 6 {
				continue
			}
			us, err1 := strconv.ParseInt(f[2], 10, 64)
			sec, err2 := strconv.ParseInt(f[4], 10, 64)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("pgbench log %s: unexpected line %q", name, line)
			}
			if time.Unix(sec, 0).Before(since.Truncate(time.Second)) {
				continue
			}
			all = append(all, time.Duration(us)*time.Microsecond)
		}
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("pgbench logged no transaction after %s", since.Format(time.TimeOnly))
	}
	slices.Sort(all)
	return all, nil
}

// getByIDSQL is what Bulkhead sends for GET /Users/{id}, as a pgbench
// script reading tenant_s:t's user md5('u' || :i): BEGIN with SET LOCAL
// search_path, statement_timeout and the tenant lock; the user with its
// groups; COMMIT.
const getByIDSQL = `BEGIN READ WRITE \; SET LOCAL search_path TO tenant_s:t \; SET LOCAL statement_timeout = 10000 \; SELECT pg_advisory_xact_lock_shared(25195, hashtext('s' || :t));
SELECT users.id::text, users.version, users.created, users.last_modified, users.data, (SELECT COALESCE(json_agg(json_build_object('value', m.group_id, 'type', 'direct', 'display', g.display_name) ORDER BY g.display_name, m.group_id), '[]') FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.member_id = users.id) FROM users WHERE id = md5('u' || :i)::uuid;
COMMIT;
`

// pgbenchPath finds pgbench.
func pgbenchPath() (string, error) {
	bin, err := exec.LookPath("pgbench")
	if err == nil {
		return bin, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(found) == 0 {
		return "", fmt.Errorf("pgbench not found (Debian: apt-get install postgresql-client)")
	}
	return found[len(found)-1], nil
}

// machine describes the machine and the PostgreSQL the benchmark runs on.
func machine(ctx context.Context, db *store.DB) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(b); m != nil {
			cpu = string(m[1])
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if m := regexp.MustCompile(`MemTotal:\s*(\d+) kB`).FindSubmatch(b); m != nil {
			kb, _ := strconv.Atoi(string(m[1]))
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/1024/1024)
		}
	}
	var version, fsync string
	_ = db.GetContext(ctx, &version, `SELECT split_part(version(), ' on ', 1)`)
	_ = db.GetContext(ctx, &fsync, `SHOW fsync`)
	return fmt.Sprintf("%d cores (%s)%s, %s, %s, fsync %s (the test cluster)", runtime.NumCPU(), cpu, mem, runtime.Version(), version, fsync)
}

// machineCPU returns the machine's idle and busy CPU time so far, in
// clock ticks of all cores (/proc/stat), or zeros where it cannot be read.
func machineCPU() (idle, busy int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	// cpu user nice system idle iowait irq softirq steal …
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		switch {
		case i == 3 || i == 4:
			idle += v
		case i < 8:
			busy += v
		}
	}
	return idle, busy
}

// uuidFromMD5 is PostgreSQL's md5(s)::uuid.
func uuidFromMD5(s string) string {
	h := fmt.Sprintf("%x", md5.Sum([]byte(s)))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
