package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// cliActor names the CLI in the audit trail.
const cliActor = "cli"

func (c *cli) tenant(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: tenant needs a subcommand", errUsage)
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create":
		return c.tenantCreate(ctx, args)
	case "list":
		return c.tenantList(ctx, args)
	case "show":
		return c.tenantShow(ctx, args)
	case "set":
		return c.tenantSet(ctx, args)
	case "purge-deleted":
		return c.tenantPurgeDeleted(ctx, args)
	case "suspend":
		return c.tenantSetStatus(ctx, args, tenant.StatusSuspended)
	case "resume":
		return c.tenantSetStatus(ctx, args, tenant.StatusActive)
	case "delete":
		return c.tenantDelete(ctx, args)
	case "token":
		return c.token(ctx, args)
	case "jwt":
		return c.jwt(ctx, args)
	case "schema":
		return c.schema(ctx, args)
	case "export":
		return c.tenantExport(ctx, args)
	case "import":
		return c.tenantImport(ctx, args)
	}
	return fmt.Errorf("%w: unknown tenant subcommand %q", errUsage, sub)
}

// withTenants connects and runs fn with a tenant service.
func (c *cli) withTenants(ctx context.Context, fn func(*tenant.Service) error) error {
	_, closeDB, err := c.connect(ctx, func(string, ...any) {})
	if err != nil {
		return err
	}
	defer closeDB()
	return fn(c.tenants)
}

func (c *cli) scimBaseURL(id string) string {
	return c.baseURL() + "/tenants/" + id + "/scim/v2"
}

// optionalInt is a flag that records whether it was set.
type optionalInt struct{ v *int }

func (o *optionalInt) String() string { return "" }
func (o *optionalInt) Set(s string) error {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		return fmt.Errorf("not a number: %q", s)
	}
	o.v = &n
	return nil
}

func (c *cli) tenantCreate(ctx context.Context, args []string) error {
	fs := c.flags("tenant create")
	var nt tenant.NewTenant
	var maxUsers, maxGroups optionalInt
	fs.StringVar(&nt.Name, "name", "", "")
	fs.StringVar(&nt.Plan, "plan", tenant.PlanStartup, "")
	fs.BoolVar(&nt.Strict, "strict", false, "")
	fs.StringVar(&nt.Profile, "profile", tenant.ProfileEntra, "")
	fs.Var(&maxUsers, "max-users", "")
	fs.Var(&maxGroups, "max-groups", "")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	nt.ID, nt.MaxUsers, nt.MaxGroups = pos[0], maxUsers.v, maxGroups.v
	return c.withTenants(ctx, func(s *tenant.Service) error {
		t, tok, err := s.CreateTenant(ctx, nt, cliActor)
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
			fmt.Sprintf("Created tenant %s (%s, plan %s, %s isolation).\n\n  SCIM base URL: %s\n  Token:         %s\n\nThe token is shown only now; store it in your identity provider.\n",
				t.ID, t.Name, t.Plan, t.Isolation, base, tok.Secret))
		return nil
	})
}

func (c *cli) tenantList(ctx context.Context, args []string) error {
	fs := c.flags("tenant list")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	return c.withTenants(ctx, func(s *tenant.Service) error {
		ts, err := s.FindTenants(ctx)
		if err != nil {
			return err
		}
		var b strings.Builder
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPLAN\tSTATUS\tISOLATION\tCREATED")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Plan, t.Status, t.Isolation, t.CreatedAt.Format("2006-01-02 15:04"))
		}
		tw.Flush()
		if ts == nil {
			ts = []*tenant.Tenant{}
		}
		c.print(map[string]any{"tenants": ts}, b.String())
		return nil
	})
}

func (c *cli) tenantShow(ctx context.Context, args []string) error {
	fs := c.flags("tenant show")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	return c.withTenants(ctx, func(s *tenant.Service) error {
		t, err := s.FindTenant(ctx, pos[0])
		if err != nil {
			return err
		}
		p, err := s.FindPermissions(ctx, t.ID)
		if err != nil {
			return err
		}
		toks, err := s.FindTokens(ctx, t.ID)
		if err != nil {
			return err
		}
		bh, err := s.FindBehaviour(ctx, t.ID)
		if err != nil {
			return err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Tenant %s (%s)\n  plan %s, %s, %s isolation, schema version %d\n  SCIM base URL: %s\n",
			t.ID, t.Name, t.Plan, t.Status, t.Isolation, t.SchemaVersion, c.scimBaseURL(t.ID))
		if t.TrialEndsAt != nil {
			fmt.Fprintf(&b, "  trial ends %s\n", t.TrialEndsAt.Format("2006-01-02"))
		}
		fmt.Fprintf(&b, "Permissions: create %v, read %v, update %v, delete %v, list %v, bulk %v\n",
			p.CanCreate, p.CanRead, p.CanUpdate, p.CanDelete, p.CanList, p.BulkEnabled)
		fmt.Fprintf(&b, "Limits: %d users, %d groups, %d requests/minute (burst %d)\n", p.MaxUsers, p.MaxGroups, p.RequestsPerMinute, p.Burst)
		b.WriteString(behaviourText(bh))
		fmt.Fprintf(&b, "Tokens:\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		now := time.Now()
		for _, k := range toks {
			fmt.Fprintf(tw, "  %s\t%s…\t%s\t%s\n", k.ID, k.Prefix, k.Name, tokenState(k, now))
		}
		tw.Flush()
		if toks == nil {
			toks = []*tenant.Token{}
		}
		c.print(struct {
			*tenant.Tenant
			ScimBaseURL string              `json:"scim_base_url"`
			Permissions *tenant.Permissions `json:"permissions"`
			Behaviour   *tenant.Behaviour   `json:"scim_behaviour"`
			Tokens      []*tenant.Token     `json:"tokens"`
		}{t, c.scimBaseURL(t.ID), p, bh, toks}, b.String())
		return nil
	})
}

// tokenState says whether a token works and until when, marking one that
// expires within tenant.TokenExpiryWarning.
func tokenState(k *tenant.Token, now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.Expired(now):
		return "expired " + k.ExpiresAt.Local().Format("2006-01-02 15:04")
	case k.ExpiresSoon(now):
		return fmt.Sprintf("active, expires %s  ! in %s: create a new token and update the identity provider",
			k.ExpiresAt.Local().Format("2006-01-02 15:04"), until(k.ExpiresAt.Sub(now)))
	case k.ExpiresAt != nil:
		return "active, expires " + k.ExpiresAt.Local().Format("2006-01-02")
	}
	return "active, never expires"
}

// until says a duration in days, or hours under two days, rounded to the
// nearest: a token created to expire in 10d reads "10 days", not 9.
func until(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%d hours", max(1, int(d.Round(time.Hour).Hours())))
	}
	return fmt.Sprintf("%d days", int(d.Round(24*time.Hour).Hours()/24))
}

func (c *cli) tenantSetStatus(ctx context.Context, args []string, status string) error {
	fs := c.flags("tenant " + map[string]string{tenant.StatusActive: "resume", tenant.StatusSuspended: "suspend"}[status])
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	return c.withTenants(ctx, func(s *tenant.Service) error {
		t, changed, err := s.SetStatus(ctx, pos[0], status, cliActor)
		if err != nil {
			return err
		}
		text := fmt.Sprintf("Tenant %s is %s.\n", t.ID, t.Status)
		if !changed {
			text = fmt.Sprintf("Tenant %s is already %s; nothing changed.\n", t.ID, t.Status)
		}
		c.print(struct {
			*tenant.Tenant
			Changed bool `json:"changed"`
		}{t, changed}, text)
		return nil
	})
}

func (c *cli) tenantDelete(ctx context.Context, args []string) error {
	fs := c.flags("tenant delete")
	yes := fs.Bool("yes", false, "")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if !*yes {
		return fmt.Errorf("%w: deleting tenant %s drops all its data: confirm with --yes", errUsage, pos[0])
	}
	return c.withTenants(ctx, func(s *tenant.Service) error {
		if err := s.DeleteTenant(ctx, pos[0], cliActor); err != nil {
			return err
		}
		c.print(map[string]any{"id": pos[0], "deleted": true}, fmt.Sprintf("Deleted tenant %s and all its data.\n", pos[0]))
		return nil
	})
}

func (c *cli) token(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: tenant token needs create or revoke", errUsage)
	}
	var fs *flag.FlagSet
	switch args[0] {
	case "create":
		fs = c.flags("tenant token create")
		name := fs.String("name", "", "")
		expiresIn := fs.String("expires-in", "", "")
		pos, err := parse(fs, args[1:], 1)
		if err != nil {
			return err
		}
		var expires *time.Time
		if *expiresIn != "" {
			d, err := parseDays(*expiresIn)
			if err != nil || d <= 0 {
				return fmt.Errorf("%w: --expires-in takes a duration such as 90d or 12h", errUsage)
			}
			t := time.Now().Add(d)
			expires = &t
		}
		return c.withTenants(ctx, func(s *tenant.Service) error {
			tok, err := s.CreateToken(ctx, pos[0], *name, expires, cliActor)
			if err != nil {
				return err
			}
			c.print(tok, fmt.Sprintf("Token %s for tenant %s:\n\n  %s\n\nThe token is shown only now.\n", tok.ID, pos[0], tok.Secret))
			return nil
		})
	case "revoke":
		fs = c.flags("tenant token revoke")
		pos, err := parse(fs, args[1:], 2)
		if err != nil {
			return err
		}
		return c.withTenants(ctx, func(s *tenant.Service) error {
			revoked, err := s.RevokeToken(ctx, pos[0], pos[1], cliActor)
			if err != nil {
				return err
			}
			text := fmt.Sprintf("Revoked token %s of tenant %s.\n", pos[1], pos[0])
			if !revoked {
				text = fmt.Sprintf("Token %s of tenant %s is already revoked; nothing changed.\n", pos[1], pos[0])
			}
			c.print(map[string]any{"tenant_id": pos[0], "token_id": pos[1], "revoked": true, "changed": revoked}, text)
			return nil
		})
	}
	return fmt.Errorf("%w: unknown token subcommand %q", errUsage, args[0])
}

// parseDays parses a Go duration, or a whole number of days such as "90d".
func parseDays(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		return time.Duration(n) * 24 * time.Hour, err
	}
	return time.ParseDuration(s)
}

// behaviourText lists the tenant's SCIM profile and flags, marking those
// that differ from the profile.
func behaviourText(bh *tenant.Behaviour) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SCIM profile: %s\n", bh.Profile)
	for _, name := range tenant.FlagNames {
		v, _ := bh.Get(name)
		mark := ""
		if bh.DiffersFrom(name) {
			w, _ := tenant.Profiles[bh.Profile].Get(name)
			mark = "  (profile: " + w + ")"
		}
		fmt.Fprintf(&b, "  %s=%s%s\n", name, v, mark)
	}
	return b.String()
}

// tenantSet changes a tenant's SCIM profile and flags: bulkhead tenant set
// ID FLAG=VALUE... A profile=P among them sets every flag from P first, so
// that "profile=rfc strict_schemas=false" reads as it is written.
func (c *cli) tenantSet(ctx context.Context, args []string) error {
	fs := c.flags("tenant set")
	pos, err := parse(fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return fmt.Errorf("%w: tenant set takes an id and at least one FLAG=VALUE", errUsage)
	}
	id, pairs := pos[0], pos[1:]
	for _, kv := range pairs {
		if !strings.Contains(kv, "=") {
			return fmt.Errorf("%w: tenant set: %q is not FLAG=VALUE", errUsage, kv)
		}
	}
	return c.withTenants(ctx, func(s *tenant.Service) error {
		bh, err := s.FindBehaviour(ctx, id)
		if err != nil {
			return err
		}
		// The profile first, then the flags over it.
		for _, first := range []bool{true, false} {
			for _, kv := range pairs {
				name, value, _ := strings.Cut(kv, "=")
				if (name == "profile") != first {
					continue
				}
				if err := bh.Set(name, value); err != nil {
					return err
				}
			}
		}
		if err := s.UpdateBehaviour(ctx, id, *bh, cliActor); err != nil {
			return err
		}
		c.print(struct {
			TenantID string `json:"tenant_id"`
			*tenant.Behaviour
		}{id, bh}, "Tenant "+id+": "+behaviourText(bh))
		return nil
	})
}

// tenantPurgeDeleted deletes a tenant's soft-deleted users for good: all of
// them, or those deleted longer than --older-than ago.
func (c *cli) tenantPurgeDeleted(ctx context.Context, args []string) error {
	fs := c.flags("tenant purge-deleted")
	olderThan := fs.String("older-than", "", "")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	var age time.Duration
	if *olderThan != "" {
		if age, err = parseDays(*olderThan); err != nil || age < 0 {
			return fmt.Errorf("%w: --older-than takes a duration such as 30d or 12h", errUsage)
		}
	}
	return c.withTenants(ctx, func(s *tenant.Service) error {
		n, err := s.PurgeDeletedUsers(ctx, pos[0], age, cliActor)
		if err != nil {
			return err
		}
		c.print(map[string]any{"tenant_id": pos[0], "purged_users": n}, fmt.Sprintf("Purged %d soft-deleted users of %s.\n", n, pos[0]))
		return nil
	})
}
