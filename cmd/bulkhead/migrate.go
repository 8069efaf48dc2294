package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func (c *cli) migrate(ctx context.Context, args []string) error {
	fs := c.flags("migrate")
	status := fs.Bool("status", false, "")
	workers := fs.Int("workers", 4, "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	// connect migrates the control plane; run deliberately, migrate may
	// create the local cluster, as serve does.
	c.mayCreate = true
	return c.withTenants(ctx, func(s *tenant.Service) error {
		latest := store.LatestVersion(s.Migrations)
		if *status {
			vs, err := s.MigrationStatus(ctx)
			if err != nil {
				return err
			}
			var b strings.Builder
			fmt.Fprintf(&b, "Latest tenant schema version: %d\n", latest)
			for _, v := range vs {
				mark := ""
				if v.Version < latest {
					mark = "  (behind)"
				}
				fmt.Fprintf(&b, "  version %d: %d tenant(s)%s\n", v.Version, v.Tenants, mark)
			}
			if vs == nil {
				vs = []tenant.VersionCount{}
			}
			c.print(map[string]any{"latest": latest, "versions": vs}, b.String())
			return nil
		}
		var mu sync.Mutex
		var failures []map[string]string
		var bar *progress
		migrated, failed, err := s.MigrateTenants(ctx, tenant.MigrateOptions{
			Workers: *workers,
			Start:   func(total int) { bar = newProgress(c.stderr, "tenants migrated", total) },
			Progress: func(r tenant.MigrationResult) {
				if r.Err == nil {
					bar.add("")
					return
				}
				mu.Lock()
				failures = append(failures, map[string]string{"tenant_id": r.TenantID, "error": r.Err.Error()})
				mu.Unlock()
				bar.add(fmt.Sprintf("tenant %s: FAILED: %v", r.TenantID, r.Err))
			},
		})
		if err != nil {
			return err
		}
		if failures == nil {
			failures = []map[string]string{}
		}
		c.print(map[string]any{"latest": latest, "migrated": migrated, "failed": failed, "failures": failures},
			fmt.Sprintf("Migrated %d tenant(s) to version %d; %d failed.\n", migrated, latest, failed))
		if failed > 0 {
			return fmt.Errorf("%d tenant(s) failed to migrate; run bulkhead migrate again to retry them", failed)
		}
		return nil
	})
}
