package webhook

import "context"

// Prune runs the pruning of the dispatcher's periodic sweep once, as it
// runs while a worker may have just delivered.
func (d *Dispatcher) Prune(ctx context.Context) { d.prune(ctx) }
