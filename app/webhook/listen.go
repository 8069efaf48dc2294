package webhook

import (
	"context"
	"time"

	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/events"
)

// listen is the dispatcher's one LISTEN connection: the relay copying
// events into the feed (events.FeedChannel) makes the deliveries of their
// tenants due (feedGrew), and an endpoint added, resumed or replayed
// (Channel) those of its tenant. After a reconnect anything may have been
// missed, so every tenant's are.
func (d *Dispatcher) listen(ctx context.Context) {
	l := pq.NewListener(d.db.ListenDSN, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, err error) {
		if err != nil && ev != pq.ListenerEventConnected {
			d.opts.Log.Warn("webhooks listener", "error", err.Error())
		}
	})
	defer l.Close()
	if err := d.db.GetContext(ctx, &d.seen, `SELECT coalesce(max(position), 0) FROM control.events`); err != nil {
		d.seen = 0
	}
	for _, ch := range []string{events.FeedChannel, Channel} {
		if err := l.Listen(ch); err != nil {
			d.opts.Log.Warn("webhooks: listen", "channel", ch, "error", err.Error())
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case n := <-l.Notify:
			// Take the signals that queued meanwhile too: one Wake for
			// them all keeps up with a busy database.
			ids, all, fed := map[string]bool{}, false, false
			for more := true; more; {
				switch {
				case n == nil || n.Channel == Channel && n.Extra == "":
					all = true
				case n.Channel == events.FeedChannel:
					fed = true
				default:
					ids[n.Extra] = true
				}
				select {
				case n = <-l.Notify:
				default:
					more = false
				}
			}
			if fed {
				if err := d.feedGrew(ctx); err != nil && ctx.Err() == nil {
					d.opts.Log.Warn("webhooks", "error", err.Error())
				}
			}
			if !all && len(ids) == 0 {
				continue
			}
			var list []string
			if !all {
				for id := range ids {
					list = append(list, id)
				}
			}
			if err := d.Wake(ctx, list...); err != nil && ctx.Err() == nil {
				d.opts.Log.Warn("webhooks", "error", err.Error())
			}
		}
	}
}
