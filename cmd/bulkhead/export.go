package main

import (
	"context"
	"fmt"

	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// tenantExport writes one tenant as JSON to stdout: a consistent snapshot
// of its users, groups, memberships, audit trail and permissions.
func (c *cli) tenantExport(ctx context.Context, args []string) error {
	fs := c.flags("tenant export")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	return c.withTenants(ctx, func(s *tenant.Service) error {
		return s.ExportTenant(ctx, pos[0], c.stdout)
	})
}

// tenantImport creates a tenant from an export read from a file or stdin,
// under --id or the exported id, and prints it with a first token.
func (c *cli) tenantImport(ctx context.Context, args []string) error {
	fs := c.flags("tenant import")
	id := fs.String("id", "", "")
	pos, err := parse(fs, args, 1)
	if err != nil {
		if pos, err = parse(fs, args, 0); err != nil {
			return err
		}
	}
	name := "-"
	if len(pos) == 1 {
		name = pos[0]
	}
	in, err := c.input(name)
	if err != nil {
		return err
	}
	defer in.Close()
	return c.withTenants(ctx, func(s *tenant.Service) error {
		t, tok, err := s.ImportTenant(ctx, in, *id, cliActor)
		if err != nil {
			return err
		}
		base := c.scimBaseURL(t.ID)
		c.print(struct {
			*tenant.Tenant
			ScimBaseURL string `json:"scim_base_url"`
			TokenID     string `json:"token_id"`
			Token       string `json:"token"`
		}{t, base, tok.ID.String(), tok.Secret},
			fmt.Sprintf("Imported tenant %s (%s, schema version %d).\n\n  SCIM base URL: %s\n  Token:         %s\n\nThe token is shown only now; tokens are not exported.\n",
				t.ID, t.Name, t.SchemaVersion, base, tok.Secret))
		return nil
	})
}
