// Package insight gathers what the console shows about tenants beyond their
// control rows: users and groups counts, storage, usage series and health.
// Its types are the seam between the console and the usage metering and
// health checks: Basic computes what can be known from the tables that
// exist, and says plainly what is not recorded yet.
package insight

import (
	"time"

	"github.com/bulkhead-dev/bulkhead/app/health"
)

// TenantStats are the numbers shown beside a tenant in lists.
type TenantStats struct {
	Users        int        `json:"users"`
	Groups       int        `json:"groups"`
	StorageBytes int64      `json:"storage_bytes"`
	Requests24h  *int64     `json:"requests_24h"`            // nil: not recorded
	LastActivity *time.Time `json:"last_activity,omitempty"` // nil: not recorded
	Known        bool       `json:"-"`                       // false when the counts could not be read
}

// Point is one value of a series at one time: the start of its bucket.
type Point struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
}

// Series is a named run of points, oldest first.
type Series struct {
	Name   string  `json:"name"`
	Points []Point `json:"points"`
}

// OperationCount is how many requests of one operation ended with one
// status class ("2xx", "4xx", "5xx").
type OperationCount struct {
	Operation string `json:"operation"`
	Status    string `json:"status"`
	Count     int64  `json:"count"`
}

// Usage is a tenant's activity over the last Days days.
type Usage struct {
	Days int `json:"days"`
	// Recorded is false while nothing meters SCIM requests: the request
	// series are then empty, and the console says so.
	Recorded bool `json:"recorded"`
	// Metered is true when this server meters SCIM requests: Recorded is
	// then false only for a tenant that has made none yet.
	Metered     bool             `json:"metered"`
	PerHour     []Series         `json:"per_hour"` // requests per hour by status class
	PerDay      []Series         `json:"per_day"`  // requests per day by status class
	ByOperation []OperationCount `json:"by_operation"`
	LatencyP50  Series           `json:"latency_p50_ms"` // per day, milliseconds
	LatencyP95  Series           `json:"latency_p95_ms"`
	Users       Series           `json:"users"` // over time; at least today's count
	Groups      Series           `json:"groups"`
	Stats       TenantStats      `json:"stats"`
}

// Check is the outcome of one health check.
type Check struct {
	Name   string        `json:"name"`
	Level  health.Level  `json:"level"`
	Detail string        `json:"detail"`
	Took   time.Duration `json:"took_ns"`
}

// TenantHealth is the badge of one tenant and why.
type TenantHealth struct {
	Level   health.Level `json:"level"`
	Reasons []string     `json:"reasons,omitempty"`
}

// Attention is a tenant that needs a look, with why.
type Attention struct {
	TenantID   string       `json:"tenant_id"`
	TenantName string       `json:"tenant_name"`
	Health     TenantHealth `json:"health"`
}

// HealthReport is the health view: checks and the tenants to look at first.
type HealthReport struct {
	At        time.Time   `json:"at"`
	Checks    []Check     `json:"checks"`
	Attention []Attention `json:"attention"`
}

// Total sums a series.
func (s Series) Total() float64 {
	var t float64
	for _, p := range s.Points {
		t += p.Value
	}
	return t
}
