package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/bulkhead-dev/bulkhead/app/events"
)

// eventsCmd runs bulkhead events key create|list|revoke: the credentials
// of the events API (GET /events).
func (c *cli) eventsCmd(ctx context.Context, args []string) error {
	if len(args) < 2 || args[0] != "key" {
		return fmt.Errorf("%w: events needs a subcommand: key create, key list or key revoke", errUsage)
	}
	switch args[1] {
	case "create":
		return c.eventsKeyCreate(ctx, args[2:])
	case "list":
		return c.eventsKeyList(ctx, args[2:])
	case "revoke":
		return c.eventsKeyRevoke(ctx, args[2:])
	}
	return fmt.Errorf("%w: unknown events key subcommand %q", errUsage, args[1])
}

func (c *cli) eventsKeyCreate(ctx context.Context, args []string) error {
	fs := c.flags("events key create")
	name := fs.String("name", "", "")
	list := fs.String("tenants", "", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	var tenants []string
	for _, id := range strings.Split(*list, ",") {
		if id = strings.TrimSpace(id); id != "" {
			tenants = append(tenants, id)
		}
	}
	// --tenants "$EMPTY" must not make a key for every tenant.
	if given(fs, "tenants") && len(tenants) == 0 {
		return fmt.Errorf("%w: --tenants names no tenant; leave it out for a key to every tenant", errUsage)
	}
	db, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	k, err := events.CreateKey(ctx, db, *name, tenants, cliActor)
	if err != nil {
		return err
	}
	scope := "every tenant"
	if len(tenants) > 0 {
		scope = "tenants " + strings.Join(tenants, ", ")
	}
	c.print(k, fmt.Sprintf("Events key %s for %s, shown only now:\n  %s\nUse it as: Authorization: Bearer <key> on %s/events\n", k.ID, scope, k.Secret, c.baseURL()))
	return nil
}

func (c *cli) eventsKeyList(ctx context.Context, args []string) error {
	fs := c.flags("events key list")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	db, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	keys, err := events.FindKeys(ctx, db)
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tTENANTS\tCREATED\tREVOKED")
	for _, k := range keys {
		tenants, revoked := "all", ""
		if k.Tenants != nil {
			tenants = strings.Join(k.Tenants, ",")
		}
		if k.RevokedAt != nil {
			revoked = k.RevokedAt.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, tenants, k.CreatedAt.Format("2006-01-02 15:04"), revoked)
	}
	tw.Flush()
	if keys == nil {
		keys = []*events.Key{}
	}
	c.print(map[string]any{"keys": keys}, b.String())
	return nil
}

func (c *cli) eventsKeyRevoke(ctx context.Context, args []string) error {
	fs := c.flags("events key revoke")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	db, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	if err := events.RevokeKey(ctx, db, pos[0], cliActor); err != nil {
		return err
	}
	c.print(map[string]any{"id": pos[0], "revoked": true}, fmt.Sprintf("Events key %s revoked.\n", pos[0]))
	return nil
}
