package health

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
)

// MinRequests is the fewest requests in the last hour on which the error
// rate and latency checks judge a tenant; with fewer, one failed request of
// three would read as a 33% error rate.
const MinRequests = 20

// Thresholds of the checks.
const (
	slowProbe        = 250 * time.Millisecond
	staleWrite       = 7 * 24 * time.Hour // no write for longer: the IdP may have stopped syncing
	noisyFactor      = 2                  // times the median tenant
	noisyMinRequests = 100                // fewer requests are never noisy
	noisyMinDBTime   = time.Second
)

var notChecked = "not checked: the tenant's schema is missing"

func (h *Checker) checkSchema(ctx context.Context, t *tenant.Tenant) (Level, string) {
	var exists bool
	err := h.DB.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, store.SchemaName(t.ID))
	switch {
	case err != nil:
		return Fail, "could not look for the schema: " + app.ErrorMessageOrText(err)
	case !exists:
		return Fail, fmt.Sprintf("schema %s does not exist: the tenant's users and groups are gone (dropped or moved outside Bulkhead); restore it from a backup or delete the tenant", store.SchemaName(t.ID))
	}
	return OK, fmt.Sprintf("schema %s is present", store.SchemaName(t.ID))
}

func (h *Checker) checkMigrations(_ context.Context, t *tenant.Tenant, schemaOK bool) (Level, string) {
	latest := store.LatestVersion(h.Tenants.Migrations)
	switch {
	case !schemaOK:
		return Fail, notChecked
	case t.SchemaVersion < latest:
		return Warn, fmt.Sprintf("the schema is at version %d, behind the current %d: run bulkhead migrate", t.SchemaVersion, latest)
	case t.SchemaVersion > latest:
		return Fail, fmt.Sprintf("the schema is at version %d, newer than this binary knows (%d): upgrade Bulkhead", t.SchemaVersion, latest)
	}
	return OK, fmt.Sprintf("the schema is at the current version %d", latest)
}

// errProbeDone rolls the probe's transaction back.
var errProbeDone = errors.New("probe done")

// checkProbe reads and writes a user in a tenant transaction that is always
// rolled back, so the probe leaves nothing behind.
func (h *Checker) checkProbe(ctx context.Context, t *tenant.Tenant, schemaOK bool) (Level, string) {
	if !schemaOK {
		return Fail, notChecked
	}
	start := time.Now()
	scope := t.Scope()
	scope.Timeout = 2 * time.Second
	err := h.DB.InTenant(ctx, scope, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM (SELECT 1 FROM users LIMIT 1) AS one`); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		id := uuid.New()
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, user_name, data) VALUES ($1, $2, '{}')`, id, "bulkhead-probe-"+id.String()); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return errProbeDone
	})
	took := time.Since(start)
	if !errors.Is(err, errProbeDone) {
		return Fail, fmt.Sprintf("the read/write probe failed after %s: %s", round(took), app.ErrorMessageOrText(err))
	}
	if took > slowProbe {
		return Warn, fmt.Sprintf("the read/write probe took %s (slower than %s)", round(took), slowProbe)
	}
	return OK, fmt.Sprintf("a read and a write took %s (rolled back)", round(took))
}

func (h *Checker) checkQuota(ctx context.Context, t *tenant.Tenant, schemaOK bool) (Level, string) {
	if !schemaOK {
		return Fail, notChecked
	}
	res, err := usage.FindResources(ctx, h.Tenants, t)
	if err != nil {
		return Fail, "could not count resources: " + app.ErrorMessageOrText(err)
	}
	st := OK
	var parts []string
	for _, q := range []struct {
		what string
		q    usage.Quota
	}{{"users", res.UsersQuota}, {"groups", res.GroupsQuota}} {
		s := fmt.Sprintf("%d of %d %s (%.0f%%)", q.q.Used, q.q.Limit, q.what, 100*q.q.Utilisation)
		switch {
		case q.q.Utilisation >= 1:
			st = Worse(st, Fail)
			s += ": full, new " + q.what + " are refused"
		case q.q.Warning:
			st = Worse(st, Warn)
			s += fmt.Sprintf(": over %.0f%%", 100*usage.QuotaWarnAt)
		}
		parts = append(parts, s)
	}
	return st, strings.Join(parts, "; ")
}

// lastHourAndBaseline returns the tenant's totals over the last hour and
// over the week before it.
func (h *Checker) lastHourAndBaseline(ctx context.Context, tenantID string) (last, base *usage.Totals, err error) {
	lastStart, baseStart := windows(time.Now())
	if last, err = usage.SummarizeTenant(ctx, h.DB, tenantID, lastStart, time.Time{}); err != nil {
		return nil, nil, err
	}
	base, err = usage.SummarizeTenant(ctx, h.DB, tenantID, baseStart, lastStart)
	return last, base, err
}

func (h *Checker) checkErrorRate(ctx context.Context, t *tenant.Tenant, _ bool) (Level, string) {
	last, base, err := h.lastHourAndBaseline(ctx, t.ID)
	if err != nil {
		return Warn, "could not read usage: " + app.ErrorMessageOrText(err)
	}
	if last.Requests < MinRequests {
		return OK, fmt.Sprintf("too few requests in the last hour to judge (%d of at least %d)", last.Requests, MinRequests)
	}
	r, b := last.ErrorRate(), base.ErrorRate()
	reason := fmt.Sprintf("%s of %d requests failed in the last hour, against %s over the week before", pct(r), last.Requests, pct(b))
	if base.Requests == 0 {
		reason = fmt.Sprintf("%s of %d requests failed in the last hour (no baseline yet)", pct(r), last.Requests)
	}
	switch {
	case r >= 0.5:
		return Fail, reason + top(last.Refusals)
	case r >= 0.05 && r > 2*b:
		return Warn, reason + top(last.Refusals)
	}
	return OK, reason
}

// top names the commonest refusal reason, if any.
func top(refusals map[string]int64) string {
	best, n := "", int64(0)
	for k, v := range refusals {
		if v > n || (v == n && k < best) {
			best, n = k, v
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; most refusals: %s (%d)", best, n)
}

func (h *Checker) checkLatency(ctx context.Context, t *tenant.Tenant, _ bool) (Level, string) {
	last, base, err := h.lastHourAndBaseline(ctx, t.ID)
	if err != nil {
		return Warn, "could not read usage: " + app.ErrorMessageOrText(err)
	}
	if last.Requests < MinRequests {
		return OK, fmt.Sprintf("too few requests in the last hour to judge (%d of at least %d)", last.Requests, MinRequests)
	}
	p, b := last.Latency.Percentile(95), base.Latency.Percentile(95)
	if base.Requests < MinRequests {
		reason := fmt.Sprintf("p95 latency %s in the last hour (no baseline yet)", p)
		if p >= 5*time.Second {
			return Fail, reason
		}
		if p >= time.Second {
			return Warn, reason
		}
		return OK, reason
	}
	reason := fmt.Sprintf("p95 latency %s in the last hour, against %s over the week before", p, b)
	switch {
	case p >= 5*time.Second || (p > 4*b && p >= time.Second):
		return Fail, reason
	case p > 2*b && p >= 100*time.Millisecond:
		return Warn, reason
	}
	return OK, reason
}

func (h *Checker) checkTokens(ctx context.Context, t *tenant.Tenant, _ bool) (Level, string) {
	toks, err := h.Tenants.FindTokens(ctx, t.ID)
	if err != nil {
		return Warn, "could not read tokens: " + app.ErrorMessageOrText(err)
	}
	now := time.Now()
	var active int
	var expiring []string
	for _, k := range toks {
		if !k.Usable(now) {
			continue
		}
		active++
		if k.ExpiresSoon(now) {
			expiring = append(expiring, fmt.Sprintf("%q (%s…) expires in %s, on %s", k.Name, k.Prefix, span(k.ExpiresAt.Sub(now)), k.ExpiresAt.UTC().Format("2 Jan 2006 15:04 UTC")))
		}
	}
	tokens := func(n int) string {
		if n == 1 {
			return "1 active token"
		}
		return fmt.Sprintf("%d active tokens", n)
	}
	days := int(tenant.TokenExpiryWarning / (24 * time.Hour))
	switch {
	case active == 0:
		return Fail, "no active token: the identity provider cannot connect; issue one with bulkhead tenant token create"
	case len(expiring) > 0:
		return Warn, "token " + strings.Join(expiring, "; token ") + ": issue a new one and update the identity provider"
	}
	return OK, fmt.Sprintf("%s, none expiring within %d days", tokens(active), days)
}

func (h *Checker) checkLastWrite(ctx context.Context, t *tenant.Tenant, _ bool) (Level, string) {
	lw, err := usage.FindLastWrite(ctx, h.DB, t.ID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return OK, "no successful SCIM write yet"
	}
	if err != nil {
		return Warn, "could not read the last write: " + app.ErrorMessageOrText(err)
	}
	ago := time.Since(lw.At)
	reason := fmt.Sprintf("last successful SCIM write %s ago, by %s", span(ago), usage.IdPNames[lw.IdP])
	if ago > staleWrite {
		return Warn, reason + ": the identity provider may have stopped syncing"
	}
	return OK, reason
}

// fleetNow returns the fleet's last-hour totals, cached for TTL.
func (h *Checker) fleetNow(ctx context.Context) (*fleet, error) {
	h.mu.Lock()
	f := h.fleet
	h.mu.Unlock()
	if f != nil && time.Since(f.at) < h.TTL {
		return f, nil
	}
	lastStart, _ := windows(time.Now())
	ts, err := usage.Summarize(ctx, h.DB, usage.RollupFilter{Since: lastStart})
	if err != nil {
		return nil, err
	}
	f = &fleet{at: time.Now(), byTenant: map[string]*usage.Totals{}, activeTenantsCount: len(ts)}
	var reqs []float64
	var dbs []time.Duration
	for _, t := range ts {
		f.byTenant[t.TenantID] = t
		reqs = append(reqs, float64(t.Requests))
		dbs = append(dbs, t.DBTime)
	}
	f.medianRequests, f.medianDBTime = median(reqs), median(dbs)
	h.mu.Lock()
	h.fleet = f
	h.mu.Unlock()
	return f, nil
}

func (h *Checker) checkNoisy(ctx context.Context, t *tenant.Tenant, _ bool) (Level, string) {
	f, err := h.fleetNow(ctx)
	if err != nil {
		return Warn, "could not read usage: " + app.ErrorMessageOrText(err)
	}
	mine := f.byTenant[t.ID]
	if mine == nil {
		return OK, "no SCIM traffic in the last hour"
	}
	var noisy []string
	if float64(mine.Requests) > noisyFactor*f.medianRequests && mine.Requests >= noisyMinRequests {
		noisy = append(noisy, fmt.Sprintf("%d requests, %.1f× the median tenant's %.0f", mine.Requests, float64(mine.Requests)/f.medianRequests, f.medianRequests))
	}
	if mine.DBTime > noisyFactor*f.medianDBTime && mine.DBTime >= noisyMinDBTime {
		noisy = append(noisy, fmt.Sprintf("%s of database time, %.1f× the median tenant's %s", round(mine.DBTime), float64(mine.DBTime)/float64(f.medianDBTime), round(f.medianDBTime)))
	}
	if len(noisy) > 0 {
		return Warn, "noisy neighbour in the last hour: " + strings.Join(noisy, "; ")
	}
	return OK, fmt.Sprintf("%d requests in the last hour, within twice the median of %d active tenants", mine.Requests, f.activeTenantsCount)
}

func median[T float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}

// span writes a duration the way people say it: "under a minute", else
// as Span does.
func span(d time.Duration) string {
	if d < time.Minute {
		return "under a minute"
	}
	return Span(d)
}

// Span writes a duration of a minute or more in the largest unit that reads
// well, rounded to the nearest: "1 minute", "5 hours", "14 days" (a token
// that expires in 13 days and 23 hours expires in 14 days, not 13). Callers
// say shorter durations their own way.
func Span(d time.Duration) string {
	round := func(unit time.Duration) int { return int((d + unit/2) / unit) }
	n, unit := 0, ""
	switch {
	case round(time.Minute) < 60:
		n, unit = round(time.Minute), "minute"
	case round(time.Hour) < 48:
		n, unit = round(time.Hour), "hour"
	default:
		n, unit = round(24*time.Hour), "day"
	}
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
