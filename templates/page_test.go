package templates

import (
	"strings"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/health"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func TestAgo(t *testing.T) {
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		ago  time.Duration
		want string
	}{
		{10 * time.Second, "just now"},
		{time.Minute, "1 minute ago"},
		{45 * time.Minute, "45 minutes ago"},
		{5 * time.Hour, "5 hours ago"},
		{3 * 24 * time.Hour, "3 days ago"},
		{40 * 24 * time.Hour, "19 Feb 2026"},
		{-2 * time.Hour, "in 2 hours"},
	} {
		if got := Ago(now, now.Add(-tt.ago)); got != tt.want {
			t.Errorf("Ago(-%v) = %q, want %q", tt.ago, got, tt.want)
		}
	}
}

func TestNumbers(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Num(0), "0"}, {Num(999), "999"}, {Num(1000), "1,000"}, {Num(1234567), "1,234,567"}, {Num(-4500), "-4,500"},
		{Bytes(512), "512 B"}, {Bytes(1500), "1.5 kB"}, {Bytes(328_000), "328 kB"}, {Bytes(12_300_000), "12.3 MB"},
		{shortNum(6930), "6,930"}, {shortNum(12_500), "12.5k"}, {shortNum(3_000_000), "3M"}, {shortNum(5.5), "5.5"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if Percent(95, 100) != 95 || Percent(5, 0) != 0 || Percent(300, 100) != 100 {
		t.Error("Percent")
	}
}

// TestUntilRounds: a 14-day trial seen seconds after it started ends in 14
// days, not 13; a token created for 30 days expires in 30 days.
func TestUntilRounds(t *testing.T) {
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{14*24*time.Hour - 5*time.Second, "in 14 days"},
		{30*24*time.Hour - time.Minute, "in 30 days"},
		{13*24*time.Hour + 13*time.Hour, "in 14 days"},
		{13*24*time.Hour + 11*time.Hour, "in 13 days"},
		{47*time.Hour + 10*time.Minute, "in 47 hours"},
		{47*time.Hour + 40*time.Minute, "in 2 days"},
		{59*time.Minute + 50*time.Second, "in 1 hour"},
		{90 * time.Second, "in 2 minutes"},
	} {
		if got := Until(now, now.Add(tt.in)); got != tt.want {
			t.Errorf("Until(+%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestNiceScale: the y axis of a chart is labelled with round numbers,
// never 6.2, 12.5, 18.8.
func TestNiceScale(t *testing.T) {
	for _, tt := range []struct {
		peak      float64
		whole     bool
		top, step float64
		labels    string
	}{
		{0, true, 1, 1, "0 1"},
		{3, true, 3, 1, "0 1 2 3"},
		{1, true, 1, 1, "0 1"},
		{7, true, 8, 2, "0 2 4 6 8"},
		{23.4, false, 30, 10, "0 10 20 30"},
		{25, false, 30, 10, "0 10 20 30"},
		{0.8, false, 0.8, 0.2, "0 0.2 0.4 0.6 0.8"},
		{190, true, 200, 50, "0 50 100 150 200"},
		{1100, true, 1500, 500, "0 500 1,000 1,500"},
	} {
		top, step := niceScale(tt.peak, tt.whole)
		var g chartGeometry
		yAxis(&g, top, step, "")
		var labels []string
		for _, l := range g.YLabels {
			labels = append(labels, l.Text)
		}
		if got := strings.Join(labels, " "); got != tt.labels || top != tt.top || step != tt.step {
			t.Errorf("niceScale(%v) = top %v step %v, labels %q; want labels %q", tt.peak, top, step, got, tt.labels)
		}
	}
}

// TestPerDay: 13 requests in 30 days are not "0 a day on average", and a
// tenant created yesterday is averaged over its own days.
func TestPerDay(t *testing.T) {
	today := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	series := func(values ...float64) []insight.Series {
		s := insight.Series{Name: "2xx"}
		for i, v := range values {
			s.Points = append(s.Points, insight.Point{At: today.AddDate(0, 0, i-len(values)+1), Value: v})
		}
		return []insight.Series{s}
	}
	thirty := make([]float64, 30)
	thirty[29] = 13
	for _, tt := range []struct {
		name    string
		perDay  []float64
		created time.Time
		want    string
	}{
		{"FewOverThirtyDays", thirty, today.AddDate(0, -2, 0), "0.4 a day on average"},
		{"CreatedYesterday", thirty, today.AddDate(0, 0, -1).Add(15 * time.Hour), "6.5 a day on average"},
		{"None", make([]float64, 30), today.AddDate(0, -2, 0), "none a day on average"},
		{"Many", []float64{1200, 1300}, today.AddDate(0, -2, 0), "1,250 a day on average"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := &insight.Usage{Days: len(tt.perDay), PerDay: series(tt.perDay...)}
			if got := summarize(u, tt.created).PerDay; got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDayAxisKeepsQuietDays: the users and groups chart shows every daily
// count, also of a day without requests, such as today just after midnight.
func TestDayAxisKeepsQuietDays(t *testing.T) {
	today := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	day := func(i int) time.Time { return today.AddDate(0, 0, i-2) }
	counts := func(v float64) insight.Series {
		var s insight.Series
		for i := range 3 {
			s.Points = append(s.Points, insight.Point{At: day(i), Value: v})
		}
		return s
	}
	u := &insight.Usage{Days: 3, Users: counts(10), Groups: counts(2),
		PerDay: []insight.Series{{Name: "2xx", Points: []insight.Point{{At: day(0), Value: 5}, {At: day(1), Value: 7}}}}}
	axis := dayAxis(u)
	if len(axis) != 3 || !axis[2].Equal(today) {
		t.Errorf("day axis %v, want the three days to today", axis)
	}
}

// TestHeadHealth: a suspended tenant's page says "Suspended" once.
func TestHeadHealth(t *testing.T) {
	sus := &tenant.TenantSummary{Tenant: tenant.Tenant{Status: tenant.StatusSuspended}}
	if _, ok := headHealth(sus, insight.TenantHealth{Level: health.Info, Reasons: []string{"suspended"}}); ok {
		t.Error("a badge beside Suspended that says Suspended again")
	}
	h, ok := headHealth(sus, insight.TenantHealth{Level: health.Fail, Reasons: []string{"suspended", "trial expired"}})
	if !ok || healthLabel(h) != "Trial expired" {
		t.Errorf("badge %q (%v), want Trial expired", healthLabel(h), ok)
	}
}
