package callback

import "errors"

// Sentinels for errors.Is: every error Parse returns matches exactly one of them.
var (
	// ErrMalformed: the body is not a JSON object (Tencent code 70009).
	ErrMalformed = errors.New("callback: body is not a JSON object")
	// ErrInvalid: a parameter or field is missing, of the wrong type or out of range
	// (Tencent code 70001).
	ErrInvalid = errors.New("callback: invalid callback")
)

// FieldError names the offending query parameter or body field and why it was refused.
type FieldError struct {
	Field     string // e.g. "CallId", "EventTime", "command"
	Reason    string
	malformed bool
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// Is lets callers classify with errors.Is(err, ErrInvalid) / errors.Is(err, ErrMalformed).
func (e *FieldError) Is(target error) bool {
	if e.malformed {
		return target == ErrMalformed
	}
	return target == ErrInvalid
}

func invalid(field, reason string) error { return &FieldError{Field: field, Reason: reason} }

func malformed(reason string) error { return &FieldError{Reason: reason, malformed: true} }
