package events

// Cursor is the cursor of the event at the feed's position: what
// Event.Cursor holds, for readers of control.events outside this package
// (webhook deliveries).
func Cursor(position int64) string { return cursorOf(position) }
