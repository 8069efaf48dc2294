package webhook

import (
	"context"
	"sync"

	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// signals gathers the tenants whose endpoints changed since the dispatcher
// last looked, so that one pass serves a burst of them.
type signals struct {
	mu   sync.Mutex
	kick chan struct{} // holds one token while something waits
	ids  map[string]bool
	all  bool // every tenant's deliveries may be due
}

func (s *signals) note(fn func()) {
	s.mu.Lock()
	fn()
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// take returns what was heard and starts gathering anew.
func (s *signals) take() (ids []string, all bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.ids {
		ids = append(ids, id)
	}
	all = s.all
	s.ids, s.all = map[string]bool{}, false
	return ids, all
}

// listen wakes the workers. The feed growing (events.Grown, which the
// events relay of this process signals for its own copies and for other
// instances') makes the deliveries of its new events' tenants due
// (feedGrew); an endpoint added, resumed or replayed (Channel, on the
// process's LISTEN connection) those of its tenant, and after a reconnect,
// when anything may have been missed, every tenant's are.
func (d *Dispatcher) listen(ctx context.Context) {
	if err := d.db.GetContext(ctx, &d.seen, `SELECT coalesce(max(position), 0) FROM control.events`); err != nil {
		d.seen = 0
	}
	sig := &signals{kick: make(chan struct{}, 1), ids: map[string]bool{}}
	err := d.db.Subscribe(ctx, Channel, func(ev store.Event) {
		switch {
		case ev.Kind == store.Reconnected || ev.Kind == store.Notified && ev.Payload == "":
			sig.note(func() { sig.all = true })
		case ev.Kind == store.Notified:
			sig.note(func() { sig.ids[ev.Payload] = true })
		}
	})
	if err != nil && ctx.Err() == nil {
		d.opts.Log.Warn("webhooks: listen", "channel", Channel, "error", err.Error())
	}
	grown := events.Grown()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig.kick:
		case <-grown:
		}
		select {
		case <-grown:
			grown = events.Grown() // before reading, so no growth is missed
			if err := d.feedGrew(ctx); err != nil && ctx.Err() == nil {
				d.opts.Log.Warn("webhooks", "error", err.Error())
			}
		default:
		}
		ids, all := sig.take()
		if !all && len(ids) == 0 {
			continue
		}
		if all {
			ids = nil
		}
		if err := d.Wake(ctx, ids...); err != nil && ctx.Err() == nil {
			d.opts.Log.Warn("webhooks", "error", err.Error())
		}
	}
}
