package tenant

import (
	"context"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/store"
)

// DefaultSpares is how many spare schemas a server keeps ready by default.
const DefaultSpares = 5

// createSchema gives a new tenant its schema inside tx: a spare schema
// renamed when one matching the migrations is free (a few milliseconds),
// otherwise one created and migrated on the spot. Strict tenants always get
// a new schema, created together with their role and grants. It returns the
// schema's version.
func (s *Service) createSchema(ctx context.Context, tx *sqlx.Tx, sc store.Scope) (int, error) {
	if !sc.Strict {
		ok, err := s.DB.ClaimSpareSchema(ctx, tx, sc.TenantID, s.Migrations)
		if err != nil {
			return 0, err
		}
		if ok {
			s.wakeRefill()
			return store.LatestVersion(s.Migrations), nil
		}
	}
	return s.DB.CreateTenantSchema(ctx, tx, sc, s.Migrations)
}

// wakeRefill tells this process's SparePool, if it runs, that a spare was
// taken.
func (s *Service) wakeRefill() {
	if s.refill == nil {
		return
	}
	select {
	case s.refill <- struct{}{}:
	default:
	}
}

// FillSpares creates spare schemas, one transaction each, until want spares
// match the service's migrations, and returns how many it created. Several
// processes may fill at once: they take turns and do not overshoot.
func (s *Service) FillSpares(ctx context.Context, want int) (created int, err error) {
	for ctx.Err() == nil {
		ok, err := s.DB.CreateSpareSchema(ctx, s.Migrations, want)
		if err != nil || !ok {
			return created, err
		}
		created++
	}
	return created, ctx.Err()
}

// SparePool keeps a number of spare schemas ready in the background, so
// that CreateTenant renames one instead of building a schema.
type SparePool struct {
	svc  *Service
	size int
	log  *slog.Logger
}

// NewSparePool returns a pool keeping size spares for svc; Run it. It
// must be created before svc is shared between goroutines.
func NewSparePool(svc *Service, size int, log *slog.Logger) *SparePool {
	svc.refill = make(chan struct{}, 1)
	return &SparePool{svc: svc, size: size, log: log}
}

// refillEvery is how often the pool checks its spares when nothing in this
// process took one (another instance or the CLI may have).
const refillEvery = time.Second

// Run refills the pool whenever a spare is taken, and every few seconds,
// until ctx ends.
func (p *SparePool) Run(ctx context.Context) {
	if p.size <= 0 {
		return
	}
	t := time.NewTicker(refillEvery)
	defer t.Stop()
	for {
		if n, err := p.svc.FillSpares(ctx, p.size); err != nil && ctx.Err() == nil {
			p.log.Warn("refill spare schemas", "error", err, "created", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.svc.refill:
		case <-t.C:
		}
	}
}
