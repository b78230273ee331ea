// Package reqid carries a request id through a context: API Gateway's request id in
// Lambda, a generated one in the local server.
package reqid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

type ctxKey struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the request id in ctx, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

var (
	prefix  = newPrefix()
	counter atomic.Uint64
)

func newPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// New returns a process-unique id: a random per-process prefix and a counter, so it
// costs no syscall per request.
func New() string {
	return prefix + "-" + strconv.FormatUint(counter.Add(1), 36)
}

// Hex32 returns 32 random lowercase hex digits, the shape of Tencent's requestId.
func Hex32() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
