// Package webhook delivers directory events (package events) to the
// endpoints an operator registers, one tenant's or every tenant's: each
// event is POSTed as JSON, signed with the endpoint's secret, in order per
// tenant and endpoint, retried with backoff until it is delivered or
// Options.RetryFor passes, when the endpoint is paused. Delivery workers
// (Dispatcher) run in every instance and take turns through row locks in
// PostgreSQL. docs/webhooks.md is the receiver's guide.
package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// SecretPrefix starts every endpoint secret, so that people and secret
// scanners tell it from Bulkhead's other credentials.
const SecretPrefix = "whsec_"

// Channel is the NOTIFY channel that wakes the delivery workers when an
// endpoint is added, resumed or replayed; the payload is the tenant id, ""
// for every tenant. New events wake them through events.Grown, once the
// events relay (which must run in the same process, as serve runs it) has
// copied them into the feed.
const Channel = "bulkhead_webhooks"

// Endpoint is a registered webhook endpoint as listed: never its secret.
type Endpoint struct {
	ID        string     `db:"id" json:"id"`
	URL       string     `db:"url" json:"url"`
	TenantID  *string    `db:"tenant_id" json:"tenant_id"` // nil: every tenant
	CreatedBy string     `db:"created_by" json:"created_by"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	PausedAt  *time.Time `db:"paused_at" json:"paused_at"`
	// PausedReason says why the endpoint was paused ("" when it is not).
	PausedReason string `db:"paused_reason" json:"paused_reason,omitempty"`
}

// Scope is the endpoint's tenant, or "all tenants".
func (e *Endpoint) Scope() string {
	if e.TenantID == nil {
		return "all tenants"
	}
	return *e.TenantID
}

// NewEndpoint is an endpoint just registered, with its secret, which is
// shown only now.
type NewEndpoint struct {
	Endpoint
	Secret string `json:"secret"`
}

const endpointColumns = `id, url, tenant_id, created_by, created_at, paused_at, paused_reason`

// Service registers and lists endpoints and their deliveries.
type Service struct {
	DB     *store.DB
	Policy Policy
}

// NewService returns a service over db that checks URLs against policy.
func NewService(db *store.DB, policy Policy) *Service {
	return &Service{DB: db, Policy: policy}
}

// Add registers an endpoint for the tenant tenantID ("" for every tenant)
// and returns it with its new secret. It receives the events written after
// it is added. It returns EINVALID for a URL the policy refuses and
// ENOTFOUND for an unknown tenant.
func (s *Service) Add(ctx context.Context, url, tenantID, actor string) (*NewEndpoint, error) {
	if err := s.Policy.CheckURL(ctx, url); err != nil {
		return nil, err
	}
	secret, err := app.NewSecret(SecretPrefix)
	if err != nil {
		return nil, err
	}
	e := NewEndpoint{Secret: secret}
	var tid *string
	if tenantID != "" {
		tid = &tenantID
	}
	err = s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		if tid != nil {
			var n int
			if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM control.tenants WHERE id = $1 AND status <> 'deleting'`, tenantID); err != nil {
				return fmt.Errorf("find tenant: %w", err)
			}
			if n == 0 {
				return app.Errorf(app.ENOTFOUND, "tenant %q not found", tenantID)
			}
		}
		const q = `INSERT INTO control.webhook_endpoints (id, url, tenant_id, secret, created_by)
			VALUES ($1, $2, $3, $4, $5) RETURNING ` + endpointColumns
		if err := tx.GetContext(ctx, &e.Endpoint, q, uuid.NewString(), url, tid, e.Secret, actor); err != nil {
			return fmt.Errorf("add webhook: %w", err)
		}
		// The dispatcher adds the endpoint's cursors (ensureCursors); they
		// skip the events written before the endpoint was added (nextEvent).
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify('`+Channel+`', $1)`, tenantID); err != nil {
			return fmt.Errorf("add webhook: %w", err)
		}
		return audit.Record(ctx, tx, actor, "webhook.add", tenantID, map[string]any{"endpoint_id": e.ID, "url": url})
	})
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// List returns the endpoints, of every tenant's and the all-tenants ones
// when tenantID is "", else the tenant's and the all-tenants ones; oldest
// first.
func (s *Service) List(ctx context.Context, tenantID string) ([]*Endpoint, error) {
	var es []*Endpoint
	const q = `SELECT ` + endpointColumns + ` FROM control.webhook_endpoints
		WHERE $1 = '' OR tenant_id IS NULL OR tenant_id = $1 ORDER BY created_at, id`
	if err := s.DB.SelectContext(ctx, &es, q, tenantID); err != nil {
		return nil, fmt.Errorf("list webhooks: %w", store.Unavailable(err))
	}
	return es, nil
}

// Find returns one endpoint. It returns ENOTFOUND for an unknown id.
func (s *Service) Find(ctx context.Context, id string) (*Endpoint, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, app.Errorf(app.ENOTFOUND, "webhook %q not found", id)
	}
	var e Endpoint
	err := s.DB.GetContext(ctx, &e, `SELECT `+endpointColumns+` FROM control.webhook_endpoints WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "webhook %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("find webhook: %w", store.Unavailable(err))
	}
	return &e, nil
}

// Remove deletes an endpoint with its deliveries; a delivery in flight
// ends first. It returns ENOTFOUND for an unknown id.
func (s *Service) Remove(ctx context.Context, id, actor string) error {
	if _, err := uuid.Parse(id); err != nil {
		return app.Errorf(app.ENOTFOUND, "webhook %q not found", id)
	}
	return s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		var url string
		err := tx.GetContext(ctx, &url, `DELETE FROM control.webhook_endpoints WHERE id = $1 RETURNING url`, id)
		if errors.Is(err, sql.ErrNoRows) {
			return app.Errorf(app.ENOTFOUND, "webhook %q not found", id)
		} else if err != nil {
			return fmt.Errorf("remove webhook: %w", err)
		}
		return audit.Record(ctx, tx, actor, "webhook.remove", "", map[string]any{"endpoint_id": id, "url": url})
	})
}

// Resume lets a paused endpoint receive again, from the event after the
// one it gave up on. It returns ENOTFOUND for an unknown id.
func (s *Service) Resume(ctx context.Context, id, actor string) error {
	e, err := s.Find(ctx, id)
	if err != nil {
		return err
	}
	return s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE control.webhook_endpoints SET paused_at = NULL, paused_reason = '' WHERE id = $1`, e.ID); err != nil {
			return fmt.Errorf("resume webhook: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE control.webhook_cursors SET due_at = now() WHERE endpoint_id = $1`, e.ID); err != nil {
			return fmt.Errorf("resume webhook: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify('`+Channel+`', '')`); err != nil {
			return fmt.Errorf("resume webhook: %w", err)
		}
		return audit.Record(ctx, tx, actor, "webhook.resume", "", map[string]any{"endpoint_id": e.ID})
	})
}

// Replay sends the tenant's events to the endpoint again from the one
// numbered sequence on, in order, after the delivery in flight if any;
// it resumes a paused endpoint. It returns ENOTFOUND for an unknown
// endpoint or one that does not receive the tenant's events, and EINVALID
// for a sequence below 1.
func (s *Service) Replay(ctx context.Context, id, tenantID string, sequence int64, actor string) error {
	e, err := s.Find(ctx, id)
	if err != nil {
		return err
	}
	if e.TenantID != nil && *e.TenantID != tenantID {
		return app.Errorf(app.ENOTFOUND, "webhook %s does not receive tenant %q's events", id, tenantID)
	}
	if sequence < 1 {
		return app.FieldErrors{"sequence": "Must be 1 or more."}.Err("replay")
	}
	return s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM control.tenants WHERE id = $1`, tenantID); err != nil {
			return fmt.Errorf("find tenant: %w", err)
		}
		if n == 0 {
			return app.Errorf(app.ENOTFOUND, "tenant %q not found", tenantID)
		}
		// Waits for a delivery in flight, whose worker holds the row.
		const q = `INSERT INTO control.webhook_cursors (endpoint_id, tenant_id, delivered, due_at) VALUES ($1, $2, $3, now())
			ON CONFLICT (endpoint_id, tenant_id) DO UPDATE SET delivered = EXCLUDED.delivered, due_at = now(), attempts = 0, failing_since = NULL`
		if _, err := tx.ExecContext(ctx, q, e.ID, tenantID, sequence-1); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE control.webhook_endpoints SET paused_at = NULL, paused_reason = '' WHERE id = $1`, e.ID); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_notify('`+Channel+`', $1)`, tenantID); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		return audit.Record(ctx, tx, actor, "webhook.replay", tenantID, map[string]any{"endpoint_id": e.ID, "from_sequence": sequence})
	})
}

// Delivery is an event sent, or being sent, to an endpoint, with its latest
// outcome. State is "retrying", "delivered" or "failed" (given up).
type Delivery struct {
	EndpointID string    `db:"endpoint_id" json:"endpoint_id"`
	TenantID   string    `db:"tenant_id" json:"tenant_id"`
	Sequence   int64     `db:"sequence" json:"sequence"`
	EventID    string    `db:"event_id" json:"event_id"`
	Type       string    `db:"type" json:"type"`
	State      string    `db:"state" json:"state"`
	Attempts   int       `db:"attempts" json:"attempts"`
	Status     int       `db:"status" json:"status"` // of the last attempt; 0: no response
	DurationMS int       `db:"duration_ms" json:"duration_ms"`
	FirstAt    time.Time `db:"first_at" json:"first_at"`
	LastAt     time.Time `db:"last_at" json:"last_at"`
}

// Attempt is one request to an endpoint. Response is the start of the
// response body (at most MaxExcerpt bytes): customer data may echo in it,
// so support staff are not shown it.
type Attempt struct {
	N          int64     `db:"n" json:"n"`
	TenantID   string    `db:"tenant_id" json:"tenant_id"`
	Sequence   int64     `db:"sequence" json:"sequence"`
	EventID    string    `db:"event_id" json:"event_id"`
	At         time.Time `db:"at" json:"at"`
	Status     int       `db:"status" json:"status"`
	DurationMS int       `db:"duration_ms" json:"duration_ms"`
	Error      string    `db:"error" json:"error,omitempty"`
	Response   string    `db:"response" json:"response,omitempty"`
}

// Deliveries returns the endpoint's latest deliveries, newest first, at
// most limit (1 to 500).
func (s *Service) Deliveries(ctx context.Context, endpointID string, limit int) ([]*Delivery, error) {
	if _, err := s.Find(ctx, endpointID); err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), 500)
	var ds []*Delivery
	const q = `SELECT endpoint_id, tenant_id, sequence, event_id, type, state, attempts, status, duration_ms, first_at, last_at
		FROM control.webhook_deliveries WHERE endpoint_id = $1 ORDER BY last_at DESC, tenant_id, sequence DESC LIMIT $2`
	if err := s.DB.SelectContext(ctx, &ds, q, endpointID, limit); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", store.Unavailable(err))
	}
	return ds, nil
}

// Attempts returns the endpoint's latest attempts, newest first, at most
// limit (1 to 500).
func (s *Service) Attempts(ctx context.Context, endpointID string, limit int) ([]*Attempt, error) {
	if _, err := s.Find(ctx, endpointID); err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), 500)
	var as []*Attempt
	const q = `SELECT n, tenant_id, sequence, event_id, at, status, duration_ms, error, response
		FROM control.webhook_attempts WHERE endpoint_id = $1 ORDER BY n DESC LIMIT $2`
	if err := s.DB.SelectContext(ctx, &as, q, endpointID, limit); err != nil {
		return nil, fmt.Errorf("list attempts: %w", store.Unavailable(err))
	}
	return as, nil
}

// Paused returns the paused endpoints, for Health.
func (s *Service) Paused(ctx context.Context) ([]*Endpoint, error) {
	var es []*Endpoint
	const q = `SELECT ` + endpointColumns + ` FROM control.webhook_endpoints WHERE paused_at IS NOT NULL ORDER BY paused_at`
	if err := s.DB.SelectContext(ctx, &es, q); err != nil {
		return nil, fmt.Errorf("list paused webhooks: %w", store.Unavailable(err))
	}
	return es, nil
}
