package usage

import (
	"strings"
	"unicode/utf8"
)

// Lengths, in bytes, that each recorded string is cut to. Record applies
// them, whatever the web layer checked before, so that no request can
// queue a value PostgreSQL refuses (invalid UTF-8, NUL) or hold much
// memory while a flush waits: a cut value ends in "…".
const (
	maxNameLen   = 128     // tenant id, request id, resource, operation, refusal, scimType, IdP
	maxMethodLen = 16      // request method
	maxPathLen   = 2 << 10 // request path and query, redacted
	maxDetailLen = 2 << 10 // error detail, redacted
	maxBodyLen   = 16 << 10
)

// Default bounds of what a Meter keeps in memory while the database
// refuses its flushes (Options.MaxPendingRollups, MaxPendingFailures).
const (
	DefaultMaxPendingRollups  = 100_000
	DefaultMaxPendingFailures = 5_000
)

// clean returns s as PostgreSQL accepts it in a text column and cut to at
// most limit bytes: invalid UTF-8 and NUL become U+FFFD.
func clean(s string, limit int) string {
	if len(s) <= limit && strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) <= limit {
		return s
	}
	cut := limit - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// sanitize makes every string of e safe to store and bounded, and its
// status one a smallint holds.
func (e *Event) sanitize() {
	e.TenantID = clean(e.TenantID, maxNameLen)
	e.Resource = clean(e.Resource, maxNameLen)
	e.Operation = clean(e.Operation, maxNameLen)
	e.Refusal = clean(e.Refusal, maxNameLen)
	e.IdP = clean(e.IdP, maxNameLen)
	if e.Status < 0 || e.Status > 999 {
		e.Status = 0
	}
	if e.Failure != nil {
		f := *e.Failure
		f.RequestID = clean(f.RequestID, maxNameLen)
		f.Method = clean(f.Method, maxMethodLen)
		f.Path = clean(f.Path, maxPathLen)
		f.ScimType = clean(f.ScimType, maxNameLen)
		f.Detail = clean(f.Detail, maxDetailLen)
		f.Body = clean(f.Body, maxBodyLen)
		e.Failure = &f
	}
}

// Clean returns s as PostgreSQL accepts it in a text column, cut to at most
// limit bytes, as Record does to every string it keeps: for other records
// of requests (package activity).
func Clean(s string, limit int) string { return clean(s, limit) }
