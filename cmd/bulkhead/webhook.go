package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/webhook"
)

// webhookPolicy is the webhook URL policy from BULKHEAD_WEBHOOK_ALLOW, the
// same for serve, which checks each delivery against it, and for the CLI,
// which checks the URLs it registers.
func webhookPolicy() (webhook.Policy, error) {
	p, err := webhook.ParseAllow(os.Getenv("BULKHEAD_WEBHOOK_ALLOW"))
	if err != nil {
		return p, fmt.Errorf("%w: %w", errUsage, err)
	}
	return p, nil
}

// webhookOptions reads the delivery settings of serve's environment:
// BULKHEAD_WEBHOOK_RETRY_FOR, how long a failing event is retried before
// its endpoint is paused.
func webhookOptions() (webhook.Options, error) {
	var o webhook.Options
	if v := os.Getenv("BULKHEAD_WEBHOOK_RETRY_FOR"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("%w: BULKHEAD_WEBHOOK_RETRY_FOR must be a duration such as 24h or 90m", errUsage)
		}
		o.RetryFor = d
	}
	return o, nil
}

// webhook runs bulkhead webhook add|list|remove.
func (c *cli) webhook(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: webhook needs a subcommand: add, list or remove", errUsage)
	}
	switch args[0] {
	case "add":
		return c.webhookAdd(ctx, args[1:])
	case "list":
		return c.webhookList(ctx, args[1:])
	case "remove":
		return c.webhookRemove(ctx, args[1:])
	}
	return fmt.Errorf("%w: unknown webhook subcommand %q: add, list or remove", errUsage, args[0])
}

// webhookAdd registers an endpoint and prints its secret once.
func (c *cli) webhookAdd(ctx context.Context, args []string) error {
	fs := c.flags("webhook add")
	url := fs.String("url", "", "")
	tenantID := fs.String("tenant", "", "")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *url == "" {
		return fmt.Errorf("%w: webhook add needs --url", errUsage)
	}
	// --tenant "$EMPTY" must not send the endpoint every tenant's events.
	if *tenantID = strings.TrimSpace(*tenantID); given(fs, "tenant") && *tenantID == "" {
		return fmt.Errorf("%w: --tenant names no tenant; leave it out for an endpoint of every tenant", errUsage)
	}
	policy, err := webhookPolicy()
	if err != nil {
		return err
	}
	db, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	e, err := webhook.NewService(db, policy).Add(ctx, *url, *tenantID, cliActor)
	if err != nil {
		return err
	}
	c.print(e, fmt.Sprintf("Webhook %s for %s: %s\nSigning secret, shown only now:\n  %s\n", e.ID, e.Scope(), e.URL, e.Secret))
	return nil
}

// webhookList prints every endpoint.
func (c *cli) webhookList(ctx context.Context, args []string) error {
	fs := c.flags("webhook list")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	db, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	es, err := webhook.NewService(db, webhook.Policy{}).List(ctx, "")
	if err != nil {
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTENANT\tURL\tSTATE")
	for _, e := range es {
		state := "active"
		if e.PausedAt != nil {
			state = "paused: " + e.PausedReason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.ID, e.Scope(), e.URL, state)
	}
	tw.Flush()
	if es == nil {
		es = []*webhook.Endpoint{}
	}
	c.print(map[string]any{"webhooks": es}, b.String())
	return nil
}

// webhookRemove deletes an endpoint.
func (c *cli) webhookRemove(ctx context.Context, args []string) error {
	fs := c.flags("webhook remove")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	db, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	if err := webhook.NewService(db, webhook.Policy{}).Remove(ctx, pos[0], cliActor); err != nil {
		return err
	}
	c.print(map[string]any{"id": pos[0], "removed": true}, fmt.Sprintf("Webhook %s removed.\n", pos[0]))
	return nil
}
