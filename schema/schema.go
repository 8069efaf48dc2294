// Package schema embeds Bulkhead's SQL migrations: control/NNN_name.sql for
// the control plane (schema control) and tenant/NNN_name.sql for every
// tenant schema. Tenant migrations run with search_path set to the tenant's
// schema and never name a schema; docs/scaling.md gives the compatibility
// rule they follow.
package schema

import "embed"

// FS holds the migration files.
//
//go:embed control/*.sql tenant/*.sql
var FS embed.FS
