package webhook

import (
	"context"
	"time"

	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/events"
)

// listen is the dispatcher's one LISTEN connection: a tenant's write that
// commits events (events.Channel) and an endpoint added, resumed or
// replayed (Channel) make that tenant's deliveries due. After a reconnect
// anything may have been missed, so every tenant's are.
func (d *Dispatcher) listen(ctx context.Context) {
	l := pq.NewListener(d.db.ListenDSN, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, err error) {
		if err != nil && ev != pq.ListenerEventConnected {
			d.opts.Log.Warn("webhooks listener", "error", err.Error())
		}
	})
	defer l.Close()
	for _, ch := range []string{events.Channel, Channel} {
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
			ids, all := map[string]bool{}, false
			for more := true; more; {
				if n == nil || n.Extra == "" {
					all = true
				} else {
					ids[n.Extra] = true
				}
				select {
				case n = <-l.Notify:
				default:
					more = false
				}
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
