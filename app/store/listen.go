package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/store/pool"
)

// EventKind says what an Event reports.
type EventKind int

const (
	// Notified: a notification arrived on the channel, with its payload.
	Notified EventKind = iota
	// Reconnected: the connection was lost and is back, listening again;
	// notifications sent meanwhile are lost, so anything may have changed.
	Reconnected
	// Lost: the connection dropped (Err says why); nothing arrives until
	// Reconnected.
	Lost
)

// Event is what a subscriber of a channel hears (Subscribe).
type Event struct {
	Kind    EventKind
	Payload string // for Notified
	Err     error  // for Lost, when known
}

// listener is the process's one LISTEN connection, on ListenDSN (a direct
// connection: LISTEN does not work through a transaction pooler). It is
// open while anything subscribes and dispatches each notification to the
// subscribers of its channel, in the order PostgreSQL delivers them.
type listener struct {
	dsn string

	mu   sync.Mutex
	pql  *pq.Listener                          // nil while nothing subscribes
	subs map[string]map[*subscription]struct{} // by channel
}

type subscription struct{ fn func(Event) }

// Subscribe calls fn with every notification on channel (NOTIFY, or
// pg_notify through the pool) until ctx ends, and tells it when the
// connection is lost and back. It returns once the LISTEN is in place, so
// that a notification sent after it returns arrives (a later subscriber of
// the same channel may return while the first one's LISTEN is still on its
// way), or when ctx ends first. fn is called from the connection's
// goroutines, shared by every subscriber, notifications in the order they
// arrive: it must be safe for concurrent use and return quickly.
//
// Behind a transaction pooler, set Options.ListenDSN to a direct
// connection; otherwise nothing arrives. A subscriber that must know that
// notifications arrive sends itself one through the pool and waits for it
// (credential.Auth does, to turn its cache on).
func (db *DB) Subscribe(ctx context.Context, channel string, fn func(Event)) error {
	l := db.listen
	s := &subscription{fn: fn}
	l.mu.Lock()
	if l.pql == nil {
		l.open()
	}
	pql := l.pql
	first := len(l.subs[channel]) == 0
	if first {
		l.subs[channel] = map[*subscription]struct{}{}
	}
	l.subs[channel][s] = struct{}{}
	l.mu.Unlock()
	context.AfterFunc(ctx, func() { l.unsubscribe(channel, s) })
	if !first {
		return nil
	}
	// Blocks until connected; ends with net.ErrClosed when the last
	// subscriber leaves meanwhile.
	if err := pql.Listen(channel); err != nil && !errors.Is(err, pq.ErrChannelAlreadyOpen) && ctx.Err() == nil {
		return err
	}
	return ctx.Err()
}

// open starts the connection and its dispatcher; l.mu is held.
func (l *listener) open() {
	var pql *pq.Listener
	pql = pq.NewListener(l.dsn, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
			// A failed first attempt may call back before NewListener
			// returns: read pql under l.mu, which open's caller holds
			// until pql is set.
			l.mu.Lock()
			self := pql
			l.mu.Unlock()
			l.broadcast(self, Event{Kind: Lost, Err: err})
		}
	})
	l.pql = pql
	go func() {
		for n := range pql.Notify {
			if n == nil {
				l.broadcast(pql, Event{Kind: Reconnected})
				continue
			}
			for _, s := range l.subscribers(pql, n.Channel) {
				s.fn(Event{Kind: Notified, Payload: n.Extra})
			}
		}
	}()
}

// subscribers returns the subscribers of channel, or of every channel
// when channel is "", while pql is still the connection.
func (l *listener) subscribers(pql *pq.Listener, channel string) []*subscription {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pql != pql {
		return nil
	}
	var out []*subscription
	for ch, subs := range l.subs {
		if channel == "" || ch == channel {
			for s := range subs {
				out = append(out, s)
			}
		}
	}
	return out
}

func (l *listener) broadcast(pql *pq.Listener, e Event) {
	for _, s := range l.subscribers(pql, "") {
		s.fn(e)
	}
}

// unsubscribe removes s; the channel's LISTEN ends with its last
// subscriber, and the connection with the last of all.
func (l *listener) unsubscribe(channel string, s *subscription) {
	l.mu.Lock()
	delete(l.subs[channel], s)
	pql := l.pql
	last := len(l.subs[channel]) == 0
	if last {
		delete(l.subs, channel)
	}
	closing := len(l.subs) == 0
	if closing {
		l.pql = nil
	}
	l.mu.Unlock()
	switch {
	case closing:
		_ = pql.Close()
	case last:
		_ = pql.Unlisten(channel)
	}
}

// FollowMigrations listens, until ctx ends, for migrations announced by
// AnnounceMigration, in this process or another, and pauses prepared
// lookups while one runs (see package pool). It shares the process's one
// LISTEN connection (Subscribe). Behind a transaction pooler nothing is
// prepared, and it only waits for ctx.
func (db *DB) FollowMigrations(ctx context.Context, log *slog.Logger) {
	if db.pool.TransactionPooler() {
		<-ctx.Done()
		return
	}
	err := db.Subscribe(ctx, pool.MigrationsChannel, func(e Event) {
		switch e.Kind {
		case Notified:
			db.pool.MigrationNotice(e.Payload)
		case Lost:
			if e.Err != nil {
				log.Warn("migration listener", "error", e.Err)
			}
		}
		// Reconnected: a migration that started meanwhile says so again
		// within a few seconds.
	})
	if err != nil && ctx.Err() == nil {
		log.Warn("listen for migrations", "error", err)
	}
	<-ctx.Done()
}
