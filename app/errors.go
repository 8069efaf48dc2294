// Package app holds Bulkhead's domain: tenants, SCIM resources, storage,
// usage and health. It knows nothing about HTTP; the web package maps the
// errors declared here to status codes.
package app

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error codes. Each maps to one HTTP status in the web package.
const (
	EINVALID      = "invalid"      // the input is wrong: 400
	EUNAUTHORIZED = "unauthorized" // no valid credential: 401
	EFORBIDDEN    = "forbidden"    // valid credential, operation not allowed: 403
	ENOTFOUND     = "not_found"    // 404
	ECONFLICT     = "conflict"     // uniqueness violated: 409
	EPRECONDITION = "precondition" // If-Match did not match: 412
	// EPRECONDITIONREQUIRED: the tenant requires If-Match and the request
	// has none: 428 (RFC 6585 §3).
	EPRECONDITIONREQUIRED = "precondition_required"
	ETOOLARGE             = "too_large" // payload or operation count too large: 413
	ETOOMANY              = "too_many"  // rate limit: 429
	ENOTIMPL              = "not_implemented"
	EUNAVAILABLE          = "unavailable" // the database is unreachable or overloaded: 503
	EINTERNAL             = "internal"    // a bug or an unexpected failure: 500
)

// SCIM error types from RFC 7644 §3.12, carried in Error.ScimType.
const (
	ScimInvalidFilter = "invalidFilter"
	ScimTooMany       = "tooMany"
	ScimUniqueness    = "uniqueness"
	ScimMutability    = "mutability"
	ScimInvalidSyntax = "invalidSyntax"
	ScimInvalidPath   = "invalidPath"
	ScimNoTarget      = "noTarget"
	ScimInvalidValue  = "invalidValue"
	ScimInvalidVers   = "invalidVers"
	ScimSensitive     = "sensitive"
)

// Error is the one error type the domain returns for conditions a caller
// should see. Message is safe to show to a client; it never contains SQL or
// internal details. Any other error is treated as EINTERNAL.
type Error struct {
	Code     string
	ScimType string
	Message  string
	// Reason classifies refusals (EUNAUTHORIZED, EFORBIDDEN, rate limits)
	// for usage metering: one of the Reason constants, or "".
	Reason string
	// Fields says what is wrong with an input by field, so that the console
	// shows each message beside its field, the admin API returns them as
	// "fields" and the CLI prints them, all from this one value.
	Fields FieldErrors
}

// FieldErrors maps a field of an input (its form field and JSON key, such as
// "max_users") to a message, safe to show, saying what is wrong with it.
type FieldErrors map[string]string

// Err returns nil when f is empty, else an EINVALID *Error carrying f. Its
// Message names each field after what ("invalid tenant"), in field order,
// for callers that show one line: "invalid tenant max_users: Must be 0 or
// more."
func (f FieldErrors) Err(what string) error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: f.message(what), Fields: f}
}

func (f FieldErrors) message(what string) string {
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		names[i] = what + " " + name + ": " + f[name]
	}
	return strings.Join(names, "; ")
}

// Reasons for refusing a request, counted per tenant.
const (
	ReasonAuth       = "auth"
	ReasonPermission = "permission"
	ReasonQuota      = "quota"
	ReasonSuspended  = "suspended"
	ReasonRateLimit  = "rate_limit"
)

// Refusef returns an *Error with the given code and refusal reason.
func Refusef(code, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ScimErrorf returns an *Error with the given code, SCIM error type and message.
func ScimErrorf(code, scimType, format string, args ...any) *Error {
	return &Error{Code: code, ScimType: scimType, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain, EINTERNAL for any
// other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the client-safe message of the *Error in err's chain,
// or a generic message for any other error.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "internal error"
	}
}

// ErrorFields returns the field errors of the *Error in err's chain, or nil.
func ErrorFields(err error) FieldErrors {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrorMessageOrText returns the message of the *Error in err's chain, or
// the full text of any other error. It is for operators, such as the CLI's
// user, who may see internal detail that clients must not.
func ErrorMessageOrText(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
