package pool

import (
	"context"
	"sync/atomic"
	"time"
)

// Prepared lookups and migrations.
//
// PostgreSQL checks every prepared statement of a backend against every
// catalog invalidation it receives, whichever schema changed: a backend
// holding 1,300 prepared lookups (a lane's share of 10,000 tenants, two
// statements each as they were then) spent about 0.8 ms of CPU per tenant
// migrated elsewhere, so the connections of one server doubled the time of
// a migration of every tenant and stalled the requests they served
// meanwhile. While tenants are migrated, connections therefore drop their
// lookups and prepare none (docs/scaling.md): a migration of tenants
// announces itself (Pool.AnnounceMigration) and each server listens for
// that (store.FollowMigrations, which hands it to Pool.MigrationNotice).

// MigrationsChannel carries the announcements of migrations.
const MigrationsChannel = "bulkhead_migrations"

// migrationNotice is how often a running migration announces itself, and
// lookupPause how long each announcement stops the preparing of lookups: a
// migration that ends without saying so (a killed process) holds it up
// only that long.
const (
	migrationNotice = 10 * time.Second
	lookupPause     = 3 * migrationNotice
)

// plans is what the connections of a pool share about prepared lookups.
type plans struct {
	gen   atomic.Int64 // a connection drops its lookups when this moves past its own
	until atomic.Int64 // lookups are not prepared before this time (Unix nanoseconds)
}

// paused reports whether lookups run unprepared now. It runs before every
// lookup, so it reads the clock only while a pause has been set.
func (p *plans) paused() bool {
	u := p.until.Load()
	return u != 0 && time.Now().UnixNano() < u
}

// pause makes every connection drop its lookups on its next transaction
// and prepare none until d has passed or resume is called. When two
// migrations overlap, the end of one resumes until the other's next
// announcement.
func (p *plans) pause(d time.Duration) {
	p.until.Store(time.Now().Add(d).UnixNano())
	p.gen.Add(1)
}

func (p *plans) resume() { p.until.Store(0) }

// AnnounceMigration tells the servers on the database that tenant schemas
// are being migrated, now and every few seconds until the returned function
// is called, which says that the migration ended.
func (p *Pool) AnnounceMigration(ctx context.Context) (end func()) {
	notify := func(what string) {
		// Best effort, also once ctx ended: a server that misses it only
		// serves the migration more slowly.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = p.DB.ExecContext(ctx, `SELECT pg_notify($1, $2)`, MigrationsChannel, what)
	}
	notify("start")
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(migrationNotice)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				notify("start")
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		notify("end")
	}
}

// MigrationNotice takes an announcement of AnnounceMigration, heard on
// MigrationsChannel (store.FollowMigrations listens): "start" pauses
// prepared lookups, "end" resumes them.
func (p *Pool) MigrationNotice(payload string) {
	switch payload {
	case "start":
		p.plans.pause(lookupPause)
	case "end":
		p.plans.resume()
	}
}

// TransactionPooler reports whether the pool goes through a transaction
// pooler (Config.TransactionPooler), where nothing is prepared.
func (p *Pool) TransactionPooler() bool { return p.cfg.TransactionPooler }
