// Package usage meters each tenant's SCIM traffic and resources.
//
// A Meter counts requests in memory, cheaply and safely from any goroutine,
// and flushes the counts every few seconds, and at shutdown, in one batched
// transaction into hourly roll-ups in the control plane
// (control.usage_hourly), so that serving a request never writes to the
// database. A flush that fails keeps its counts for the next one, within
// bounds of memory; a row the database refuses is dropped and counted
// rather than holding back the rest (Stats). The same flush records each
// tenant's last successful write and its latest failed requests, redacted
// of personal data, for the request inspector (control.failed_requests).
// Hourly roll-ups older than the retention are folded into daily totals
// (control.usage_daily).
//
// The query functions (FindRollups, Summarize, FindFailures, FindLastWrite,
// ResourceCounts) serve the console, the CLI and package health.
package usage

import "time"

// Resource types as metered. Users and Groups are the SCIM resources;
// ResourceAll is a search across both at the root (POST /.search).
const (
	ResourceUsers     = "Users"
	ResourceGroups    = "Groups"
	ResourceBulk      = "Bulk"
	ResourceAll       = "all"
	ResourceDiscovery = "discovery"
	ResourceOther     = "other"
)

// Operations as metered.
const (
	OpCreate    = "create"
	OpGet       = "get"
	OpList      = "list"
	OpSearch    = "search"
	OpReplace   = "replace"
	OpPatch     = "patch"
	OpDelete    = "delete"
	OpBulk      = "bulk"
	OpDiscovery = "discovery"
	OpOther     = "other"
)

// IsWrite reports whether op changes resources.
func IsWrite(op string) bool {
	switch op {
	case OpCreate, OpReplace, OpPatch, OpDelete, OpBulk:
		return true
	}
	return false
}

// Refusal reasons, the values of Event.Refusal. They match app.Reason*.
const (
	RefusalAuth       = "auth"
	RefusalPermission = "permission"
	RefusalQuota      = "quota"
	RefusalSuspended  = "suspended"
	RefusalRateLimit  = "rate_limit"
)

// Event is one SCIM request, as the web layer saw it after the response was
// written.
type Event struct {
	TenantID  string // empty when no tenant was identified: not metered per tenant
	At        time.Time
	Resource  string // Resource*
	Operation string // Op*
	Status    int
	Refusal   string        // Refusal*, or "" when the request was not refused
	Duration  time.Duration // from the first byte read to the last written
	DBTime    time.Duration // spent in tenant transactions
	BytesIn   int64
	BytesOut  int64
	IdP       string   // IdP* from the User-Agent
	Failure   *Failure // set for failed requests (status >= 400), for the inspector
}

// Failure is one failed request as the request inspector shows it. Path,
// Detail and Body are already redacted of personal data. Meter.Record makes
// its strings valid UTF-8 without NUL and cuts them to bounded lengths.
type Failure struct {
	ID        int64     `db:"id" json:"id"`
	TenantID  string    `db:"tenant_id" json:"tenant_id"`
	At        time.Time `db:"at" json:"at"`
	RequestID string    `db:"request_id" json:"request_id"`
	Method    string    `db:"method" json:"method"`
	Path      string    `db:"path" json:"path"`
	Status    int       `db:"status" json:"status"`
	ScimType  string    `db:"scim_type" json:"scim_type,omitempty"`
	Detail    string    `db:"detail" json:"detail,omitempty"`
	IdP       string    `db:"idp" json:"idp"`
	Body      string    `db:"body" json:"body,omitempty"`
}

// MaxFailures is how many failed requests the inspector keeps per tenant.
const MaxFailures = 200
