// Package tenant manages tenants in the control plane: provisioning their
// schemas, plans and permissions, status, and SCIM tokens.
package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// Status of a tenant. Suspended tenants keep their data but SCIM refuses
// them; a tenant being deleted is as unknown to SCIM.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusDeleting  = "deleting"
)

// Isolation levels. Strict tenants run under their own database role.
const (
	IsolationStandard = "standard"
	IsolationStrict   = "strict"
)

// Tenant is one customer, living in schema tenant_<ID>.
type Tenant struct {
	ID            string     `db:"id" json:"id"`
	Name          string     `db:"name" json:"name"`
	Plan          string     `db:"plan" json:"plan"`
	Status        string     `db:"status" json:"status"`
	Isolation     string     `db:"isolation" json:"isolation"`
	TrialEndsAt   *time.Time `db:"trial_ends_at" json:"trial_ends_at,omitempty"`
	SchemaVersion int        `db:"schema_version" json:"schema_version"`
	CreatedAt     time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt     time.Time  `db:"updated_at" json:"updated_at"`
}

// Scope returns what store.InTenant needs to enter the tenant's schema.
func (t *Tenant) Scope() store.Scope {
	return store.Scope{TenantID: t.ID, Strict: t.Isolation == IsolationStrict}
}

// Service manages tenants. Migrations defaults to store.TenantMigrations;
// tests replace it.
type Service struct {
	DB         *store.DB
	Migrations []store.Migration

	refill chan struct{} // wakes this process's SparePool (spare.go)
}

// NewService returns a Service over db with the embedded tenant migrations.
func NewService(db *store.DB) *Service {
	return &Service{DB: db, Migrations: store.TenantMigrations}
}

// MaxNameLength is the most characters a tenant's name may have.
const MaxNameLength = 200

// NewTenant is the input of CreateTenant. Zero limits take the plan's.
type NewTenant struct {
	ID        string
	Name      string
	Plan      string // default PlanStartup
	Strict    bool
	MaxUsers  *int
	MaxGroups *int
}

// Validate returns EINVALID with a message for each field of nt that is
// wrong (app.FieldErrors keyed "id", "name", "plan", "max_users",
// "max_groups"), or nil. CreateTenant calls it; the console calls it too
// when its form has fields it could not even parse, to show every message
// at once.
func (nt NewTenant) Validate() error {
	f := app.FieldErrors{}
	switch {
	case nt.ID == "":
		f["id"] = "Enter an id for the tenant, e.g. acme."
	case !store.ValidTenantID(nt.ID):
		f["id"] = "Use a lowercase letter first, then up to 39 lowercase letters, digits or underscores."
	}
	if err := app.CheckName("the tenant's name", nt.Name, MaxNameLength); err != nil {
		f["name"] = app.ErrorMessage(err)
	}
	if _, ok := Plans[nt.Plan]; !ok && nt.Plan != "" {
		f["plan"] = "Choose one of the plans: enterprise, startup or trial."
	}
	if nt.MaxUsers != nil {
		checkLimit(f, "max_users", *nt.MaxUsers, 0)
	}
	if nt.MaxGroups != nil {
		checkLimit(f, "max_groups", *nt.MaxGroups, 0)
	}
	return f.Err("invalid tenant")
}

// CreateTenant creates the tenant's control rows and its schema, fully
// migrated, and a first SCIM token, all in one transaction: on any failure
// nothing is left behind. It returns EINVALID with field errors (Validate)
// and ECONFLICT with an "id" field error when the id is taken.
func (s *Service) CreateTenant(ctx context.Context, nt NewTenant, actor string) (*Tenant, *NewToken, error) {
	if err := nt.Validate(); err != nil {
		return nil, nil, err
	}
	if nt.Name == "" {
		nt.Name = nt.ID
	}
	if nt.Plan == "" {
		nt.Plan = PlanStartup
	}
	plan := Plans[nt.Plan]
	perms := plan.Permissions
	if nt.MaxUsers != nil {
		perms.MaxUsers = *nt.MaxUsers
	}
	if nt.MaxGroups != nil {
		perms.MaxGroups = *nt.MaxGroups
	}
	var trialEnds *time.Time
	if plan.TrialDays > 0 {
		t := time.Now().Add(time.Duration(plan.TrialDays) * 24 * time.Hour).UTC().Truncate(time.Second)
		trialEnds = &t
	}
	isolation := IsolationStandard
	if nt.Strict {
		isolation = IsolationStrict
	}

	var t Tenant
	var tok *NewToken
	err := s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		const q = `
			INSERT INTO control.tenants (id, name, plan, isolation, trial_ends_at)
			VALUES ($1, $2, $3, $4, $5)
			RETURNING id, name, plan, status, isolation, trial_ends_at, schema_version, created_at, updated_at`
		if err := tx.GetContext(ctx, &t, q, nt.ID, nt.Name, nt.Plan, isolation, trialEnds); err != nil {
			if isUniqueViolation(err) {
				return idTaken(fmt.Sprintf("tenant %q already exists", nt.ID), nt.ID)
			}
			return fmt.Errorf("insert tenant: %w", err)
		}
		if err := insertPermissions(ctx, tx, t.ID, perms); err != nil {
			return err
		}
		v, err := s.createSchema(ctx, tx, t.Scope())
		if err != nil {
			if isDuplicateSchema(err) {
				return idTaken(fmt.Sprintf("schema %s already exists", store.SchemaName(t.ID)), t.ID)
			}
			return fmt.Errorf("create tenant %s: %w", t.ID, err)
		}
		t.SchemaVersion = v
		if _, err := tx.ExecContext(ctx, `UPDATE control.tenants SET schema_version = $2 WHERE id = $1`, t.ID, v); err != nil {
			return err
		}
		if tok, err = createToken(ctx, tx, t.ID, "first token", nil); err != nil {
			return err
		}
		return audit.Record(ctx, tx, actor, "tenant.create", t.ID, map[string]any{"plan": t.Plan, "isolation": t.Isolation})
	})
	if err != nil {
		return nil, nil, err
	}
	return &t, tok, nil
}

// idTaken is the ECONFLICT of a tenant id in use, with the message for the
// id field that the console shows beside it and the admin API returns.
func idTaken(msg, id string) error {
	return &app.Error{Code: app.ECONFLICT, Message: msg,
		Fields: app.FieldErrors{"id": "A tenant with the id " + id + " already exists. Choose another id."}}
}

// requireTenant returns ENOTFOUND unless the tenant exists, so that an
// action on something of an unknown tenant names the tenant as missing.
func requireTenant(ctx context.Context, q sqlx.QueryerContext, id string) error {
	var exists bool
	if err := sqlx.GetContext(ctx, q, &exists, `SELECT EXISTS (SELECT 1 FROM control.tenants WHERE id = $1)`, id); err != nil {
		return fmt.Errorf("find tenant %q: %w", id, store.Unavailable(err))
	}
	if !exists {
		return app.Errorf(app.ENOTFOUND, "tenant %q not found", id)
	}
	return nil
}

const tenantColumns = `id, name, plan, status, isolation, trial_ends_at, schema_version, created_at, updated_at`

// FindTenant returns the tenant with the given id, or ENOTFOUND.
func (s *Service) FindTenant(ctx context.Context, id string) (*Tenant, error) {
	var t Tenant
	err := s.DB.GetContext(ctx, &t, `SELECT `+tenantColumns+` FROM control.tenants WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "tenant %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("find tenant %q: %w", id, store.Unavailable(err))
	}
	return &t, nil
}

// FindTenants returns all tenants ordered by id.
func (s *Service) FindTenants(ctx context.Context) ([]*Tenant, error) {
	var ts []*Tenant
	if err := s.DB.SelectContext(ctx, &ts, `SELECT `+tenantColumns+` FROM control.tenants ORDER BY id`); err != nil {
		return nil, fmt.Errorf("find tenants: %w", store.Unavailable(err))
	}
	return ts, nil
}

// SetStatus suspends or resumes a tenant. Its data is untouched either way.
// Asking for the status the tenant already has changes nothing and records
// no audit event: changed is false, so that the caller can say "already
// suspended". It returns ENOTFOUND for an unknown tenant, ECONFLICT for one
// being deleted and EINVALID for a bad status.
func (s *Service) SetStatus(ctx context.Context, id, status, actor string) (t *Tenant, changed bool, err error) {
	if status != StatusActive && status != StatusSuspended {
		return nil, false, app.Errorf(app.EINVALID, "invalid status %q", status)
	}
	t = &Tenant{}
	err = s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		// FOR UPDATE: of two requests at once, the second sees the first's
		// status, so one action is audited once.
		err := tx.GetContext(ctx, t, `SELECT `+tenantColumns+` FROM control.tenants WHERE id = $1 FOR UPDATE`, id)
		if errors.Is(err, sql.ErrNoRows) {
			return app.Errorf(app.ENOTFOUND, "tenant %q not found", id)
		} else if err != nil {
			return fmt.Errorf("set status of tenant %q: %w", id, err)
		}
		switch t.Status {
		case status:
			return nil
		case StatusDeleting:
			return app.Errorf(app.ECONFLICT, "tenant %q is being deleted: run the delete again to finish it", id)
		}
		const q = `UPDATE control.tenants SET status = $2, updated_at = now() WHERE id = $1 RETURNING ` + tenantColumns
		if err := tx.GetContext(ctx, t, q, id, status); err != nil {
			return fmt.Errorf("set status of tenant %q: %w", id, err)
		}
		changed = true
		action, event := "tenant.resume", events.TenantResumed
		if status == StatusSuspended {
			action, event = "tenant.suspend", events.TenantSuspended
		}
		if err := events.Enqueue(ctx, tx, id, actor, events.New{Type: event, Data: map[string]string{"id": id, "status": status}}); err != nil {
			return err
		}
		return audit.Record(ctx, tx, actor, action, id, nil)
	})
	if err != nil {
		return nil, false, err
	}
	return t, changed, nil
}

// DeleteTenant drops the tenant's schema, role, tokens and control rows. It
// returns ENOTFOUND for an unknown tenant.
//
// It works in two steps, so that it completes while the tenant's IdP is
// still sending requests: it first marks the tenant deleting, which every
// instance's token cache learns at once, so new requests get 401; then it
// drops the schema, waiting for requests still running and retrying when a
// lock conflict with one of them ends in a deadlock.
func (s *Service) DeleteTenant(ctx context.Context, id, actor string) error {
	const mark = `UPDATE control.tenants SET status = 'deleting', updated_at = now() WHERE id = $1`
	res, err := s.DB.ExecContext(ctx, mark, id)
	if err != nil {
		return fmt.Errorf("delete tenant %q: %w", id, store.Unavailable(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return app.Errorf(app.ENOTFOUND, "tenant %q not found", id)
	}
	for attempt := 1; ; attempt++ {
		err = s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
				return err
			}
			// The tenant's last events, and tenant.deleted, go to the
			// feed before its outbox goes with its schema.
			if err := events.Finish(ctx, s.DB, tx, id, actor); err != nil {
				return err
			}
			if err := s.DB.DropTenantSchema(ctx, tx, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM control.tenants WHERE id = $1`, id); err != nil {
				return err
			}
			return audit.Record(ctx, tx, actor, "tenant.delete", id, nil)
		})
		if err == nil || !isLockConflict(err) || attempt == 5 {
			break
		}
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("delete tenant %q (run the delete again to finish it): %w", id, err)
	}
	return nil
}

// isLockConflict reports a deadlock or a lock timeout.
func isLockConflict(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Code == "40P01" || pqErr.Code == "55P03")
}

func isUniqueViolation(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "23505"
}

func isDuplicateSchema(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "42P06"
}
