package main

import (
	"context"
	"fmt"

	"github.com/bulkhead-dev/bulkhead/app/staff"
)

// staffAPIKeyCreate issues an API key for the admin JSON API to a staff
// account and prints it once.
func (c *cli) staffAPIKeyCreate(ctx context.Context, args []string) error {
	fs := c.flags("staff apikey create")
	email := fs.String("email", "", "")
	name := fs.String("name", "", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("%w: staff apikey create needs --email", errUsage)
	}
	db, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	st, err := staff.FindStaffByEmail(ctx, db, *email)
	if err != nil {
		return err
	}
	k, err := staff.CreateAPIKey(ctx, db, st.ID, *name, cliActor)
	if err != nil {
		return err
	}
	c.print(k, fmt.Sprintf("API key for %s (%s), shown only now:\n  %s\nUse it as: Authorization: Bearer <key> on %s/admin/api/v1/\n", st.Email, st.Role, k.Secret, c.baseURL()))
	return nil
}
