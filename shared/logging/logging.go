// Package logging builds the service's slog JSON logger.
package logging

import (
	"io"
	"log/slog"
)

// New returns a JSON logger at level writing to w (stdout in Lambda: CloudWatch picks it
// up as structured JSON).
func New(w io.Writer, level slog.Level, service string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("service", service)
}

// Discard is a logger that drops everything (tests, benchmarks).
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
