package templates

import (
	"strconv"
	"strings"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/insight"
)

func joinReasons(h insight.TenantHealth) string {
	if len(h.Reasons) == 0 {
		return "nothing needs attention"
	}
	return strings.Join(h.Reasons, "; ")
}

func healthLabel(h insight.TenantHealth) string {
	switch h.Level {
	case insight.LevelOK:
		return "Healthy"
	case insight.LevelInfo:
		if len(h.Reasons) > 0 {
			return capitalize(h.Reasons[0])
		}
		return "Note"
	}
	if len(h.Reasons) > 0 {
		return capitalize(h.Reasons[0])
	}
	return levelLabel(h.Level)
}

func levelLabel(level string) string {
	switch level {
	case insight.LevelOK:
		return "OK"
	case insight.LevelWarn:
		return "Warning"
	case insight.LevelFailing:
		return "Failing"
	}
	return "Not measured"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func filteredNote(filtered bool) string {
	if filtered {
		return " match"
	}
	return ""
}

// lastActivity is the last SCIM activity of a tenant: from usage metering
// when it is on, else the last use of any of its tokens.
func lastActivity(r TenantRow) *time.Time {
	if r.Stats.LastActivity != nil {
		return r.Stats.LastActivity
	}
	return r.Tenant.LastTokenUse
}

// overall is the worst level of the report's checks.
func overall(r *insight.HealthReport) string {
	level := insight.LevelOK
	rank := map[string]int{insight.LevelOK: 0, insight.LevelInfo: 0, insight.LevelWarn: 1, insight.LevelFailing: 2}
	for _, c := range r.Checks {
		if rank[c.Level] > rank[level] {
			level = c.Level
		}
	}
	return level
}

func took(c insight.Check) string {
	if c.Took == 0 {
		return "—"
	}
	if c.Took < time.Millisecond {
		return strconv.FormatFloat(float64(c.Took.Microseconds())/1000, 'f', 2, 64) + " ms"
	}
	return strconv.FormatFloat(float64(c.Took.Microseconds())/1000, 'f', 1, 64) + " ms"
}
