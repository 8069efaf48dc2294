package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
)

// Plans.
const (
	PlanEnterprise = "enterprise"
	PlanStartup    = "startup"
	PlanTrial      = "trial"
)

// Plan is a preset of permissions and limits. Staff may edit a tenant's
// permissions afterwards; the plan only gives the starting point.
type Plan struct {
	Permissions Permissions
	TrialDays   int // days until a trial expires; 0 for no expiry
}

// Plans holds the presets by name.
var Plans = map[string]Plan{
	PlanEnterprise: {Permissions: Permissions{
		CanCreate: true, CanRead: true, CanUpdate: true, CanDelete: true, CanList: true,
		MaxUsers: 1_000_000, MaxGroups: 100_000, RequestsPerMinute: 6000, Burst: 1000, BulkEnabled: true,
	}},
	PlanStartup: {Permissions: Permissions{
		CanCreate: true, CanRead: true, CanUpdate: true, CanDelete: true, CanList: true,
		MaxUsers: 1000, MaxGroups: 100, RequestsPerMinute: 600, Burst: 100, BulkEnabled: false,
	}},
	PlanTrial: {TrialDays: 14, Permissions: Permissions{
		CanCreate: true, CanRead: true, CanUpdate: true, CanDelete: true, CanList: true,
		MaxUsers: 50, MaxGroups: 10, RequestsPerMinute: 60, Burst: 20, BulkEnabled: false,
	}},
}

// Permissions say what a tenant's SCIM clients may do, and how much.
type Permissions struct {
	CanCreate         bool `db:"can_create" json:"can_create"`
	CanRead           bool `db:"can_read" json:"can_read"`
	CanUpdate         bool `db:"can_update" json:"can_update"`
	CanDelete         bool `db:"can_delete" json:"can_delete"`
	CanList           bool `db:"can_list" json:"can_list"`
	MaxUsers          int  `db:"max_users" json:"max_users"`
	MaxGroups         int  `db:"max_groups" json:"max_groups"`
	RequestsPerMinute int  `db:"requests_per_minute" json:"requests_per_minute"`
	Burst             int  `db:"burst" json:"burst"`
	BulkEnabled       bool `db:"bulk_enabled" json:"bulk_enabled"`
}

// MaxLimit is the largest limit a tenant may have: limits are stored as
// 32-bit integers.
const MaxLimit = 2_000_000_000

// Validate returns EINVALID with a message for each limit out of range, by
// its field name (app.FieldErrors), or nil. The console, the admin API and
// the CLI all validate limits here.
func (p Permissions) Validate() error {
	f := app.FieldErrors{}
	p.check(f)
	return f.Err("invalid tenant")
}

// check adds to f what is wrong with each limit.
func (p Permissions) check(f app.FieldErrors) {
	checkLimit(f, "max_users", p.MaxUsers, 0)
	checkLimit(f, "max_groups", p.MaxGroups, 0)
	checkLimit(f, "requests_per_minute", p.RequestsPerMinute, 1)
	checkLimit(f, "burst", p.Burst, 1)
}

// checkLimit adds to f why v is out of range [least, MaxLimit], if it is.
func checkLimit(f app.FieldErrors, field string, v, least int) {
	switch {
	case v < least:
		f[field] = fmt.Sprintf("Must be %d or more.", least)
	case v > MaxLimit:
		f[field] = "Must be at most 2,000,000,000."
	}
}

const permissionColumns = `can_create, can_read, can_update, can_delete, can_list,
	max_users, max_groups, requests_per_minute, burst, bulk_enabled`

func insertPermissions(ctx context.Context, tx *sqlx.Tx, tenantID string, p Permissions) error {
	const q = `INSERT INTO control.tenant_permissions (tenant_id, ` + permissionColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
	_, err := tx.ExecContext(ctx, q, tenantID, p.CanCreate, p.CanRead, p.CanUpdate, p.CanDelete, p.CanList,
		p.MaxUsers, p.MaxGroups, p.RequestsPerMinute, p.Burst, p.BulkEnabled)
	if err != nil {
		return fmt.Errorf("insert permissions of %q: %w", tenantID, err)
	}
	return nil
}

// FindPermissions returns the tenant's permissions, or ENOTFOUND.
func (s *Service) FindPermissions(ctx context.Context, tenantID string) (*Permissions, error) {
	var p Permissions
	err := s.DB.GetContext(ctx, &p, `SELECT `+permissionColumns+` FROM control.tenant_permissions WHERE tenant_id = $1`, tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "tenant %q not found", tenantID)
	}
	if err != nil {
		return nil, fmt.Errorf("find permissions of %q: %w", tenantID, err)
	}
	return &p, nil
}

// UpdatePermissions replaces the tenant's permissions. It returns EINVALID
// for limits out of range and ENOTFOUND for an unknown tenant.
func (s *Service) UpdatePermissions(ctx context.Context, tenantID string, p Permissions, actor string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		const q = `UPDATE control.tenant_permissions SET
			can_create = $2, can_read = $3, can_update = $4, can_delete = $5, can_list = $6,
			max_users = $7, max_groups = $8, requests_per_minute = $9, burst = $10, bulk_enabled = $11,
			updated_at = now()
			WHERE tenant_id = $1`
		res, err := tx.ExecContext(ctx, q, tenantID, p.CanCreate, p.CanRead, p.CanUpdate, p.CanDelete, p.CanList,
			p.MaxUsers, p.MaxGroups, p.RequestsPerMinute, p.Burst, p.BulkEnabled)
		if err != nil {
			return fmt.Errorf("update permissions of %q: %w", tenantID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return app.Errorf(app.ENOTFOUND, "tenant %q not found", tenantID)
		}
		return audit.Record(ctx, tx, actor, "tenant.permissions", tenantID, map[string]any{"permissions": p})
	})
}
