package webhook

import (
	"context"
	"sync"

	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/store"
)

// signals gathers what the dispatcher's subscriptions heard since it last
// looked, so that one pass serves a burst of them.
type signals struct {
	mu   sync.Mutex
	kick chan struct{} // holds one token while something waits
	ids  map[string]bool
	all  bool // every tenant's deliveries may be due
	fed  bool // the feed grew
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
func (s *signals) take() (ids []string, all, fed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.ids {
		ids = append(ids, id)
	}
	all, fed = s.all, s.fed
	s.ids, s.all, s.fed = map[string]bool{}, false, false
	return ids, all, fed
}

// listen follows two channels of the process's LISTEN connection
// (store.DB.Subscribe): the relay copying events into the feed
// (events.FeedChannel) makes the deliveries of their tenants due
// (feedGrew), and an endpoint added, resumed or replayed (Channel) those
// of its tenant. The feed growing in this process (events.Grown) counts
// as the first, so that deliveries need no LISTEN for what this process
// relayed. After a reconnect anything may have been missed, so every
// tenant's are.
func (d *Dispatcher) listen(ctx context.Context) {
	if err := d.db.GetContext(ctx, &d.seen, `SELECT coalesce(max(position), 0) FROM control.events`); err != nil {
		d.seen = 0
	}
	sig := &signals{kick: make(chan struct{}, 1), ids: map[string]bool{}}
	subscribe := func(channel string, notified func(payload string)) {
		err := d.db.Subscribe(ctx, channel, func(ev store.Event) {
			switch ev.Kind {
			case store.Notified:
				sig.note(func() { notified(ev.Payload) })
			case store.Reconnected:
				sig.note(func() { sig.all = true })
			}
		})
		if err != nil && ctx.Err() == nil {
			d.opts.Log.Warn("webhooks: listen", "channel", channel, "error", err.Error())
		}
	}
	subscribe(events.FeedChannel, func(string) { sig.fed = true })
	subscribe(Channel, func(id string) {
		if id == "" {
			sig.all = true
		} else {
			sig.ids[id] = true
		}
	})
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig.kick:
		case <-events.Grown():
			sig.mu.Lock()
			sig.fed = true
			sig.mu.Unlock()
		}
		ids, all, fed := sig.take()
		if fed {
			if err := d.feedGrew(ctx); err != nil && ctx.Err() == nil {
				d.opts.Log.Warn("webhooks", "error", err.Error())
			}
		}
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
