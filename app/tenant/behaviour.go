package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/audit"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// Profiles: named sets of Flags, one per kind of SCIM client. A tenant is
// created with one and may change it, or single flags, later.
const (
	ProfileEntra   = "entra"   // Microsoft Entra ID; today's behaviour and the default for existing tenants
	ProfileOkta    = "okta"    // Okta
	ProfileRFC     = "rfc"     // every MUST and SHOULD of RFC 7643/7644 Bulkhead checks
	ProfileGeneric = "generic" // any other client
)

// Values of Flags.ReplaceNoTarget.
const (
	ReplaceAdd   = "add"   // an unmatched filtered replace adds the value, as Entra ID expects
	ReplaceError = "error" // 400 noTarget, as RFC 7644 §3.5.2.3 says
)

// Flags are what a tenant's SCIM clients need Bulkhead to do differently.
// They ride on the Principal with the permissions, so reading them costs
// no round trip, and a change evicts them from the caches with the
// permissions.
type Flags struct {
	// RequireIfMatch refuses PUT, PATCH and DELETE (Bulk's too) that carry
	// no If-Match version with 428: a lost update is then impossible.
	// If-Match: * does not count, since it prevents no lost update.
	RequireIfMatch bool `db:"require_if_match" json:"require_if_match"`
	// StrictSchemas refuses, with 400 invalidSyntax, a POST or PUT body
	// with an extension URN the tenant does not serve, or one its
	// "schemas" does not declare; otherwise such attributes are ignored.
	StrictSchemas bool `db:"strict_schemas" json:"strict_schemas"`
	// SoftDelete keeps a deleted User, inactive and hidden, instead of
	// deleting it (scim.Rules.SoftDelete); it needs the tenant's schema
	// migrated to have users.deleted_at.
	SoftDelete bool `db:"soft_delete" json:"soft_delete"`
	// ReplaceNoTarget is ReplaceAdd or ReplaceError: what a PATCH replace
	// whose value filter matches nothing does.
	ReplaceNoTarget string `db:"replace_no_target" json:"replace_no_target"`
}

// Behaviour is a tenant's profile and its flags, which may differ from the
// profile's where staff changed them.
type Behaviour struct {
	Profile string `db:"profile" json:"profile"`
	Flags
}

// Profiles holds the flags of each profile by name.
var Profiles = map[string]Flags{
	ProfileEntra:   {ReplaceNoTarget: ReplaceAdd},
	ProfileOkta:    {ReplaceNoTarget: ReplaceError},
	ProfileRFC:     {ReplaceNoTarget: ReplaceError, StrictSchemas: true},
	ProfileGeneric: {ReplaceNoTarget: ReplaceError},
}

// ProfileNames lists the profiles in the order the console and the CLI
// show them.
var ProfileNames = []string{ProfileEntra, ProfileOkta, ProfileRFC, ProfileGeneric}

// FlagNames lists the flags by their names in forms, JSON and the CLI.
var FlagNames = []string{"soft_delete", "require_if_match", "strict_schemas", "replace_no_target"}

// Get returns the value of the flag name as the CLI and the console show
// it, and whether there is such a flag.
func (f Flags) Get(name string) (string, bool) {
	switch name {
	case "require_if_match":
		return strconv.FormatBool(f.RequireIfMatch), true
	case "strict_schemas":
		return strconv.FormatBool(f.StrictSchemas), true
	case "soft_delete":
		return strconv.FormatBool(f.SoftDelete), true
	case "replace_no_target":
		return f.ReplaceNoTarget, true
	}
	return "", false
}

// Set sets the flag name from its text (true/false, or add/error), or sets
// every flag from a profile when name is "profile". It returns EINVALID
// with a field error naming what is wrong.
func (b *Behaviour) Set(name, value string) error {
	f := app.FieldErrors{}
	switch name {
	case "profile":
		flags, ok := Profiles[value]
		if !ok {
			f[name] = "Choose one of the profiles: " + strings.Join(ProfileNames, ", ") + "."
			break
		}
		b.Profile, b.Flags = value, flags
	case "require_if_match", "strict_schemas", "soft_delete":
		v, err := strconv.ParseBool(value)
		if err != nil {
			f[name] = "Must be true or false."
			break
		}
		*map[string]*bool{"require_if_match": &b.RequireIfMatch, "strict_schemas": &b.StrictSchemas, "soft_delete": &b.SoftDelete}[name] = v
	case "replace_no_target":
		b.ReplaceNoTarget = value
		b.check(f)
	default:
		f[name] = "No such flag; the flags are profile, " + strings.Join(FlagNames, ", ") + "."
	}
	return f.Err("invalid flag")
}

// Validate returns EINVALID with a field error for an unknown profile or
// a flag value out of its set, or nil.
func (b Behaviour) Validate() error {
	f := app.FieldErrors{}
	b.check(f)
	return f.Err("invalid flag")
}

func (b Behaviour) check(f app.FieldErrors) {
	if _, ok := Profiles[b.Profile]; !ok {
		f["profile"] = "Choose one of the profiles: " + strings.Join(ProfileNames, ", ") + "."
	}
	if b.ReplaceNoTarget != ReplaceAdd && b.ReplaceNoTarget != ReplaceError {
		f["replace_no_target"] = "Must be add or error."
	}
}

// Differs returns the names of the flags whose values are not the
// profile's, in FlagNames order: what the console marks.
func (b Behaviour) Differs() []string {
	want := Profiles[b.Profile]
	var out []string
	for _, name := range FlagNames {
		have, _ := b.Get(name)
		if w, _ := want.Get(name); w != have {
			out = append(out, name)
		}
	}
	return out
}

// DiffersFrom reports whether the flag name differs from the profile's.
func (b Behaviour) DiffersFrom(name string) bool { return slices.Contains(b.Differs(), name) }

const behaviourColumns = `profile, soft_delete, require_if_match, strict_schemas, replace_no_target`

// FindBehaviour returns the tenant's profile and flags, or ENOTFOUND.
func (s *Service) FindBehaviour(ctx context.Context, tenantID string) (*Behaviour, error) {
	var b Behaviour
	err := s.DB.GetContext(ctx, &b, `SELECT `+behaviourColumns+` FROM control.tenant_permissions WHERE tenant_id = $1`, tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "tenant %q not found", tenantID)
	}
	if err != nil {
		return nil, fmt.Errorf("find behaviour of %q: %w", tenantID, err)
	}
	return &b, nil
}

// UpdateBehaviour replaces the tenant's profile and flags and records the
// change, with what it was before, in the audit trail. Servers drop their
// cached principals of the tenant when it commits (the permissions'
// change trigger). It returns EINVALID (Validate) and ENOTFOUND.
func (s *Service) UpdateBehaviour(ctx context.Context, tenantID string, b Behaviour, actor string) error {
	if err := b.Validate(); err != nil {
		return err
	}
	return s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		var before Behaviour
		err := tx.GetContext(ctx, &before, `SELECT `+behaviourColumns+` FROM control.tenant_permissions WHERE tenant_id = $1 FOR UPDATE`, tenantID)
		if errors.Is(err, sql.ErrNoRows) {
			return app.Errorf(app.ENOTFOUND, "tenant %q not found", tenantID)
		}
		if err != nil {
			return fmt.Errorf("find behaviour of %q: %w", tenantID, err)
		}
		if b.SoftDelete && !before.SoftDelete {
			var ok bool
			const q = `SELECT EXISTS (SELECT FROM information_schema.columns
				WHERE table_schema = $1 AND table_name = 'users' AND column_name = 'deleted_at')`
			if err := tx.GetContext(ctx, &ok, q, store.SchemaName(tenantID)); err != nil {
				return fmt.Errorf("check schema of %q: %w", tenantID, err)
			}
			if !ok {
				return app.FieldErrors{"soft_delete": "The tenant's schema is not migrated for it yet: run bulkhead migrate first."}.Err("invalid flag")
			}
		}
		if err := setBehaviour(ctx, tx, tenantID, b); err != nil {
			return err
		}
		return audit.Record(ctx, tx, actor, "tenant.behaviour", tenantID, map[string]any{"behaviour": b, "before": before})
	})
}

func setBehaviour(ctx context.Context, tx *sqlx.Tx, tenantID string, b Behaviour) error {
	const q = `UPDATE control.tenant_permissions SET profile = $2, require_if_match = $3, strict_schemas = $4,
		replace_no_target = $5, soft_delete = $6, updated_at = now() WHERE tenant_id = $1`
	if _, err := tx.ExecContext(ctx, q, tenantID, b.Profile, b.RequireIfMatch, b.StrictSchemas, b.ReplaceNoTarget, b.SoftDelete); err != nil {
		return fmt.Errorf("update behaviour of %q: %w", tenantID, err)
	}
	return nil
}

// PurgeDeletedUsers deletes the tenant's soft-deleted users, those deleted
// longer than olderThan ago (0: all), records the purge in the audit trail
// and returns how many there were. It returns ENOTFOUND for an unknown
// tenant; a tenant that never had soft_delete on has none.
func (s *Service) PurgeDeletedUsers(ctx context.Context, tenantID string, olderThan time.Duration, actor string) (int64, error) {
	t, err := s.FindTenant(ctx, tenantID)
	if err != nil {
		return 0, err
	}
	n, err := s.purgeDeleted(ctx, t, olderThan)
	if err == nil || n > 0 {
		// What went is recorded even when a later batch failed.
		if aerr := audit.Record(ctx, s.DB, actor, "tenant.purge_deleted", tenantID, map[string]any{"users": n, "older_than": olderThan.String()}); err == nil {
			err = aerr
		}
	}
	return n, err
}

// purgeBatch is how many users one purge transaction deletes at most, so
// that a purge of many never holds their locks for long.
const purgeBatch = 500

// purgeDeleted deletes t's users soft-deleted longer than olderThan ago,
// purgeBatch at a time, each batch in its own tenant transaction, and
// returns how many went, also when a later batch failed.
func (s *Service) purgeDeleted(ctx context.Context, t *Tenant, olderThan time.Duration) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.DB.InTenant(ctx, t.Scope(), func(tx *sqlx.Tx) error {
			var has bool
			if err := tx.GetContext(ctx, &has, `SELECT EXISTS (SELECT FROM information_schema.columns
				WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'deleted_at')`); err != nil || !has {
				return err
			}
			var err error
			n, err = scim.PurgeDeletedUsers(ctx, tx, olderThan, purgeBatch)
			return err
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("purge deleted users of %q: %w", t.ID, err)
		}
		if n < purgeBatch {
			return total, nil
		}
	}
}
