package stack

import (
	"context"

	"github.com/callkit-records/callkit-records/internal/lambdaemu"
)

// pool is a function's execution environments: an invoke goes to an idle one, or waits
// for one to become idle (Lambda would start another; the pool size is the cap).
type pool struct {
	fns  []*lambdaemu.Function
	idle chan *lambdaemu.Function
}

func newPool(fns []*lambdaemu.Function) *pool {
	p := &pool{fns: fns, idle: make(chan *lambdaemu.Function, len(fns))}
	for _, fn := range fns {
		p.idle <- fn
	}
	return p
}

// Invoke runs one invocation on an idle environment.
func (p *pool) Invoke(ctx context.Context, payload []byte) (lambdaemu.Result, error) {
	var fn *lambdaemu.Function
	select {
	case fn = <-p.idle:
	case <-ctx.Done():
		return lambdaemu.Result{}, ctx.Err()
	}
	defer func() { p.idle <- fn }()
	return fn.Invoke(ctx, payload)
}
