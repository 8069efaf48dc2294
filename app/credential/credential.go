// Package credential turns the credentials a SCIM client presents (opaque
// bh_ tokens, JWTs of a tenant's registered issuers, a trusted gateway's
// tenant header) into a Principal, and manages the JWT issuers. Auth caches
// principals and drops them when the control plane announces a change.
// Tokens are issued with their tenant (package tenant), which this package
// builds on.
package credential

import (
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// Service reads and changes credentials in the control plane. It keeps no
// state of its own: Auth holds the cache.
type Service struct {
	DB      *store.DB
	Tenants *tenant.Service
}

// NewService returns a Service over the tenants' database.
func NewService(tenants *tenant.Service) *Service { return &Service{DB: tenants.DB, Tenants: tenants} }
