package usage_test

import (
	"context"
	"testing"
	"time"

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
	if err := db.QueryRowContext(ctx, `SELECT day, requests, bytes_out FROM control.usage_daily WHERE tenant_id = 'acme'`).Scan(&day, &n, &bytesOut); err != nil {
		t.Fatal(err)
	}
	if day.Format(time.DateOnly) != "2020-03-01" || n != 3 || bytesOut != 30 {
		t.Fatalf("daily: %s %d %d", day, n, bytesOut)
	}
}
