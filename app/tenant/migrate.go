package tenant

import (
	"context"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/store"
)

// MigrationResult is the outcome of migrating one tenant.
type MigrationResult struct {
	TenantID string `json:"tenant_id"`
	From     int    `json:"from"`
	To       int    `json:"to"`
	Err      error  `json:"-"`
}

// MigrateOptions tune MigrateTenants.
type MigrateOptions struct {
	Workers     int                   // parallel tenants; default 4
	LockTimeout string                // per tenant, e.g. "5s"; default "5s"
	Start       func(total int)       // called once with the number of tenants behind
	Progress    func(MigrationResult) // called once per tenant, from any goroutine
}

// MigrateTenants brings every tenant behind the latest version up to date,
// each in its own transaction with a lock timeout, several at a time. A
// tenant that fails is reported through Progress and counted; the others go
// on. Running it again resumes with the tenants still behind.
func (s *Service) MigrateTenants(ctx context.Context, opts MigrateOptions) (migrated, failed int, err error) {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.LockTimeout == "" {
		opts.LockTimeout = "5s"
	}
	latest := store.LatestVersion(s.Migrations)
	var behind []*Tenant
	const q = `SELECT ` + tenantColumns + ` FROM control.tenants WHERE schema_version < $1 ORDER BY id`
	if err := s.DB.SelectContext(ctx, &behind, q, latest); err != nil {
		return 0, 0, fmt.Errorf("find tenants to migrate: %w", err)
	}
	if opts.Start != nil {
		opts.Start(len(behind))
	}
	if len(behind) > 0 {
		// Servers stop preparing lookups meanwhile (store.FollowMigrations).
		defer s.DB.AnnounceMigration(ctx)()
	}
	jobs := make(chan *Tenant)
	results := make(chan MigrationResult)
	var wg sync.WaitGroup
	for i := 0; i < opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range jobs {
				results <- s.migrateTenant(ctx, t, opts.LockTimeout)
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, t := range behind {
			select {
			case jobs <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	for r := range results {
		if r.Err != nil {
			failed++
		} else {
			migrated++
		}
		if opts.Progress != nil {
			opts.Progress(r)
		}
	}
	if err := ctx.Err(); err != nil {
		return migrated, failed, err
	}
	// Spare schemas follow, so that tenants created from them start at
	// the latest version.
	if _, _, err := s.DB.MigrateSpareSchemas(ctx, s.Migrations); err != nil {
		return migrated, failed, err
	}
	return migrated, failed, nil
}

func (s *Service) migrateTenant(ctx context.Context, t *Tenant, lockTimeout string) MigrationResult {
	r := MigrationResult{TenantID: t.ID, From: t.SchemaVersion}
	r.Err = s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT set_config('lock_timeout', $1, true)`, lockTimeout); err != nil {
			return err
		}
		// Lock the tenant's row and re-read its version: another migrate
		// may have done this tenant meanwhile.
		if err := tx.GetContext(ctx, &r.From, `SELECT schema_version FROM control.tenants WHERE id = $1 FOR UPDATE`, t.ID); err != nil {
			return err
		}
		to, err := s.DB.MigrateTenantSchema(ctx, tx, t.Scope(), r.From, s.Migrations)
		if err != nil {
			return err
		}
		r.To = to
		_, err = tx.ExecContext(ctx, `UPDATE control.tenants SET schema_version = $2, updated_at = now() WHERE id = $1`, t.ID, to)
		return err
	})
	return r
}

// VersionCount is how many tenants are at one schema version.
type VersionCount struct {
	Version int `db:"schema_version" json:"version"`
	Tenants int `db:"tenants" json:"tenants"`
}

// MigrationStatus counts tenants per schema version, oldest first.
func (s *Service) MigrationStatus(ctx context.Context) ([]VersionCount, error) {
	var vs []VersionCount
	const q = `SELECT schema_version, count(*) AS tenants FROM control.tenants GROUP BY schema_version ORDER BY schema_version`
	if err := s.DB.SelectContext(ctx, &vs, q); err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	return vs, nil
}
