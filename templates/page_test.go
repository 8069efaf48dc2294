package templates

import (
	"testing"
	"time"
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
	for _, tt := range []struct{ in, want float64 }{{0, 1}, {7, 10}, {190, 200}, {230, 250}, {480, 500}, {1100, 2000}} {
		if got := niceMax(tt.in); got != tt.want {
			t.Errorf("niceMax(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if Percent(95, 100) != 95 || Percent(5, 0) != 0 || Percent(300, 100) != 100 {
		t.Error("Percent")
	}
}
