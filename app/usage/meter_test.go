package usage_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/usage"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestHistogramPercentile(t *testing.T) {
	h := make(usage.Histogram, len(usage.LatencyBuckets)+1)
	if h.Percentile(95) != 0 {
		t.Fatal("empty histogram has a percentile")
	}
	h[0], h[3], h[6] = 90, 5, 5 // 90 ≤1ms, 5 ≤10ms, 5 ≤100ms
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, time.Millisecond}, {90, time.Millisecond}, {95, 10 * time.Millisecond}, {96, 100 * time.Millisecond}, {100, 100 * time.Millisecond}} {
		if got := h.Percentile(tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
}

// TestFlushFailureKeepsCounts: a flush that cannot reach the database keeps
// everything for the next one, which writes it once.
func TestFlushFailureKeepsCounts(t *testing.T) {
	db := storetest.NewDB(t)
	m := usage.NewMeter(db, usage.Options{})
	now := time.Now()
	rec := func(n int, status int) {
		for i := 0; i < n; i++ {
			m.Record(usage.Event{TenantID: "acme", At: now, Resource: usage.ResourceUsers, Operation: usage.OpCreate,
				Status: status, Duration: 3 * time.Millisecond, BytesIn: 100, IdP: usage.IdPOkta,
				Failure: failureIf(status)})
		}
	}
	rec(5, 201)
	rec(2, 409)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Flush(cancelled); err == nil {
		t.Fatal("flush with a cancelled context succeeded")
	}
	if s := m.Stats(); s.Pending != 7 || s.FlushErrors != 1 {
		t.Fatalf("after a failed flush: %+v", s)
	}
	rec(1, 201) // recorded between the failure and the retry
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tot, err := usage.SummarizeTenant(ctx, db, "acme", now.Add(-time.Hour), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if tot.Requests != 8 || tot.BytesIn != 800 || tot.Latency.Count() != 8 || tot.Latency.Percentile(50) != 5*time.Millisecond {
		t.Fatalf("totals %+v", tot)
	}
	fs, err := usage.FindFailures(ctx, db, "acme", 10)
	if err != nil || len(fs) != 2 {
		t.Fatalf("%d failures, %v", len(fs), err)
	}
	if s := m.Stats(); s.Pending != 0 {
		t.Fatalf("after the retry: %+v", s)
	}
}

func failureIf(status int) *usage.Failure {
	if status < 400 {
		return nil
	}
	return &usage.Failure{RequestID: "r", Method: "POST", Path: "/Users"}
}

// TestPrune: hourly roll-ups older than the retention become daily totals;
// recent ones stay hourly.
func TestPrune(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	m := usage.NewMeter(db, usage.Options{Retention: 30 * 24 * time.Hour})
	old := time.Date(2020, 3, 1, 10, 30, 0, 0, time.UTC)
	for _, at := range []time.Time{old, old.Add(time.Hour), old.Add(2 * time.Hour), time.Now()} {
		m.Record(usage.Event{TenantID: "acme", At: at, Resource: usage.ResourceUsers, Operation: usage.OpGet, Status: 200, BytesOut: 10})
	}
	if err := m.Flush(ctx); err != nil { // the first flush also prunes
		t.Fatal(err)
	}
	rs, err := usage.FindRollups(ctx, db, usage.RollupFilter{TenantID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Hour.Before(time.Now().Add(-2*time.Hour)) {
		t.Fatalf("hourly roll-ups left: %+v", rs)
	}
	var day time.Time
	var n, bytesOut int64
	if err := db.QueryRowxContext(ctx, `SELECT day, requests, bytes_out FROM control.usage_daily WHERE tenant_id = 'acme'`).Scan(&day, &n, &bytesOut); err != nil {
		t.Fatal(err)
	}
	if day.Format(time.DateOnly) != "2020-03-01" || n != 3 || bytesOut != 30 {
		t.Fatalf("daily: %s %d %d", day, n, bytesOut)
	}
}

// TestRecordSanitizes: whatever reaches Record, however it got past the web
// layer, is stored: invalid UTF-8 and NUL become U+FFFD, long values are
// cut, and the flush succeeds.
func TestRecordSanitizes(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	m := usage.NewMeter(db, usage.Options{})
	now := time.Now()
	m.Record(usage.Event{TenantID: "acme", At: now, Resource: "Users\xff", Operation: usage.OpGet, Status: 404,
		IdP: "okta\x00", Failure: &usage.Failure{
			RequestID: "\xfe" + strings.Repeat("r", 500_000),
			Method:    "G\x00T" + strings.Repeat("X", 20_000),
			Path:      "/Users/%ff/\xff\x00" + strings.Repeat("p", 100_000),
			ScimType:  "invalid\xffValue",
			Detail:    "no user \x00\xc3",
			Body:      strings.Repeat("é", 100_000) + "\x00",
		}})
	m.Record(usage.Event{TenantID: "acme", At: now, Resource: usage.ResourceUsers, Operation: usage.OpGet, Status: 200})
	if err := m.Flush(ctx); err != nil {
		t.Fatalf("flush after a poisoned record: %v", err)
	}
	tot, err := usage.SummarizeTenant(ctx, db, "acme", now.Add(-time.Hour), time.Time{})
	if err != nil || tot.Requests != 2 {
		t.Fatalf("totals %+v, %v; want 2 requests", tot, err)
	}
	fs, err := usage.FindFailures(ctx, db, "acme", 10)
	if err != nil || len(fs) != 1 {
		t.Fatalf("%d failures, %v", len(fs), err)
	}
	f := fs[0]
	for _, tt := range []struct {
		name, v string
		max     int
	}{
		{"request id", f.RequestID, 128}, {"method", f.Method, 16}, {"path", f.Path, 2 << 10},
		{"scim type", f.ScimType, 128}, {"detail", f.Detail, 2 << 10}, {"body", f.Body, 16 << 10}, {"idp", f.IdP, 128},
	} {
		if !utf8.ValidString(tt.v) || strings.ContainsRune(tt.v, 0) || len(tt.v) > tt.max {
			t.Errorf("%s stored as %d bytes, valid UTF-8 %v, %q…", tt.name, len(tt.v), utf8.ValidString(tt.v), tt.v[:min(len(tt.v), 40)])
		}
	}
	if f.Detail != "no user \uFFFD\uFFFD" || !strings.HasPrefix(f.Path, "/Users/%ff/\uFFFD\uFFFDppp") || !strings.HasSuffix(f.Path, "…") {
		t.Errorf("detail %q, path %q…", f.Detail, f.Path[:30])
	}
	if s := m.Stats(); s.DroppedRequests != 0 || s.DroppedFailures != 0 || s.Pending != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestFlushDropsRefusedRows: a row the database refuses is dropped and
// counted; the rest of its batch, and later batches, are written.
func TestFlushDropsRefusedRows(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	// Refusals that pass Record's sanitizing, as a future column
	// constraint or an index limit would.
	for _, q := range []string{
		`ALTER TABLE control.usage_hourly ADD CONSTRAINT refuse CHECK (operation <> 'refuse-me')`,
		`ALTER TABLE control.failed_requests ADD CONSTRAINT refuse CHECK (detail <> 'refuse me')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	m := usage.NewMeter(db, usage.Options{})
	now := time.Now()
	for _, tn := range []string{"acme", "globex"} {
		for i := 0; i < 3; i++ {
			m.Record(usage.Event{TenantID: tn, At: now, Resource: usage.ResourceUsers, Operation: usage.OpCreate, Status: 201})
		}
		m.Record(usage.Event{TenantID: tn, At: now, Resource: usage.ResourceUsers, Operation: usage.OpGet, Status: 404,
			Failure: &usage.Failure{RequestID: "ok", Method: "GET", Path: "/Users/x", Detail: "not found"}})
	}
	m.Record(usage.Event{TenantID: "acme", At: now, Resource: usage.ResourceUsers, Operation: "refuse-me", Status: 200})
	m.Record(usage.Event{TenantID: "globex", At: now, Resource: usage.ResourceUsers, Operation: usage.OpGet, Status: 400,
		Failure: &usage.Failure{RequestID: "bad", Method: "GET", Path: "/Users", Detail: "refuse me"}})
	if err := m.Flush(ctx); err != nil {
		t.Fatalf("flush with a refused row: %v", err)
	}
	if s := m.Stats(); s.DroppedRequests != 1 || s.DroppedFailures != 1 || s.Pending != 0 || s.FlushErrors != 0 {
		t.Fatalf("after the flush: %+v", s)
	}
	want := map[string]int64{"acme": 4, "globex": 5}
	for tn, n := range want {
		tot, err := usage.SummarizeTenant(ctx, db, tn, now.Add(-time.Hour), time.Time{})
		if err != nil || tot.Requests != n {
			t.Errorf("%s: totals %+v, %v; want %d requests", tn, tot, err, n)
		}
		fs, err := usage.FindFailures(ctx, db, tn, 10)
		if err != nil || len(fs) != 1 || fs[0].RequestID != "ok" {
			t.Errorf("%s: failures %+v, %v; want the one not refused", tn, fs, err)
		}
	}
	// The next batch is not held back by the last.
	m.Record(usage.Event{TenantID: "acme", At: now, Resource: usage.ResourceUsers, Operation: usage.OpGet, Status: 200})
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if tot, err := usage.SummarizeTenant(ctx, db, "acme", now.Add(-time.Hour), time.Time{}); err != nil || tot.Requests != 5 {
		t.Errorf("acme after a second flush: %+v, %v", tot, err)
	}
}

// TestPendingIsBounded: while flushes fail, what waits in memory stays
// within its bounds; what does not fit is counted as dropped, and what
// fits is written once the database is back.
func TestPendingIsBounded(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	m := usage.NewMeter(db, usage.Options{MaxPendingRollups: 10, MaxPendingFailures: 5})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	start := time.Now().Truncate(time.Hour).Add(-48 * time.Hour)
	var recorded int64
	for round := 0; round < 4; round++ {
		for i := 0; i < 6; i++ { // a new hour each: a new roll-up row
			at := start.Add(time.Duration(round*6+i) * time.Hour)
			m.Record(usage.Event{TenantID: fmt.Sprintf("t%d", i), At: at, Resource: usage.ResourceUsers, Operation: usage.OpGet,
				Status: 404, Failure: &usage.Failure{RequestID: "r", Method: "GET", Path: "/Users/x"}})
			recorded++
		}
		if err := m.Flush(cancelled); err == nil {
			t.Fatal("flush with a cancelled context succeeded")
		}
		s := m.Stats()
		if s.Pending > 10 || s.Pending+s.DroppedRequests != recorded {
			t.Fatalf("round %d: %+v, %d recorded", round, s, recorded)
		}
	}
	s := m.Stats()
	if s.Pending != 10 || s.DroppedFailures != recorded-5 {
		t.Fatalf("after 4 failed flushes: %+v", s)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var n, failed int64
	if err := db.GetContext(ctx, &n, `SELECT coalesce(sum(requests), 0) FROM control.usage_hourly`); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &failed, `SELECT count(*) FROM control.failed_requests`); err != nil {
		t.Fatal(err)
	}
	if n != 10 || failed != 5 {
		t.Fatalf("written once back: %d requests, %d failures; want 10 and 5", n, failed)
	}
}

// TestCloseWithRefusingDatabase: when the database refuses every flush,
// Close gives up at its deadline, counts what it could not save as dropped
// and says how much in its error.
func TestCloseWithRefusingDatabase(t *testing.T) {
	db := storetest.NewDB(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `
		CREATE FUNCTION control.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON control.usage_hourly FOR EACH STATEMENT EXECUTE FUNCTION control.refuse()`); err != nil {
		t.Fatal(err)
	}
	m := usage.NewMeter(db, usage.Options{})
	now := time.Now()
	for i := 0; i < 7; i++ {
		m.Record(usage.Event{TenantID: "acme", At: now, Resource: usage.ResourceUsers, Operation: usage.OpGet, Status: 404,
			Failure: &usage.Failure{RequestID: "r", Method: "GET", Path: "/Users/x"}})
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	began := time.Now()
	err := m.Close(cctx)
	took := time.Since(began)
	if err == nil || !strings.Contains(err.Error(), "7 requests of 1 tenants and 7 failed requests") {
		t.Fatalf("Close: %v; want the loss named", err)
	}
	if took > 15*time.Second {
		t.Fatalf("Close took %v past its 2s deadline", took)
	}
	if s := m.Stats(); s.Pending != 0 || s.DroppedRequests != 7 || s.DroppedFailures != 7 {
		t.Fatalf("after Close: %+v", s)
	}
	t.Logf("Close gave up after %v: %v", took.Round(time.Millisecond), err)
}
