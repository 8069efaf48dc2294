// Package templates holds the console's templ components: one file per page,
// with the shared layout and components, and the parameter structs they take.
// It imports app types only, never web. The generated *_templ.go files are
// committed, so that building needs no templ CLI (make generate refreshes
// them).
package templates

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/health"
	"github.com/bulkhead-dev/bulkhead/app/staff"
)

// Page is what the layout needs on every page.
type Page struct {
	Title string
	Nav   string // the active item of the top navigation: tenants, health, audit, staff, account
	Staff *staff.Staff
	CSRF  string
	Flash string // a message from the previous action, shown once
	Now   time.Time
}

// IsAdmin reports whether the signed-in person may change things. The
// server checks the role again on every action; this only hides controls.
func (p Page) IsAdmin() bool { return p.Staff != nil && p.Staff.Role == staff.RoleAdmin }

// Ago says how long ago t was, in words: "just now", "5 minutes ago",
// "3 days ago", or the date when older than a month.
func Ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "in " + span(-d)
	}
	if d < time.Minute {
		return "just now"
	}
	if d > 30*24*time.Hour {
		return t.UTC().Format("2 Jan 2006")
	}
	return span(d) + " ago"
}

// Until says how long until t.
func Until(now, t time.Time) string {
	if t.Before(now) {
		return Ago(now, t)
	}
	return "in " + span(t.Sub(now))
}

// span writes d in seconds under a minute, else as health.Span does,
// rounded to the nearest unit: a 14-day trial seen a few seconds after it
// started ends "in 14 days", not "in 13 days".
func span(d time.Duration) string {
	if d < time.Minute {
		if n := int64(d / time.Second); n != 1 {
			return strconv.FormatInt(n, 10) + " seconds"
		}
		return "1 second"
	}
	return health.Span(d)
}

// Exact is the full time shown on hover.
func Exact(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006, 15:04:05 UTC") }

// ISO is the machine-readable time of a <time> element.
func ISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Num writes an integer with thousands separators: 12,345.
func Num[T int | int64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Bytes writes a size for people: 12 kB, 3.4 MB.
func Bytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	prec := 1
	if f >= 100 {
		prec = 0
	}
	return strconv.FormatFloat(f, 'f', prec, 64) + " " + [...]string{"B", "kB", "MB", "GB", "TB"}[i]
}

// Percent is part of whole as a whole percentage, capped at 100, for meters.
func Percent(part, whole int) int {
	if whole <= 0 {
		return 0
	}
	return int(math.Min(100, math.Round(float64(part)*100/float64(whole))))
}

// Query returns path with the query parameters, dropping empty ones.
func Query(path string, kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}
