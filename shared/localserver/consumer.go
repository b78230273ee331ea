package localserver

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/queue/boltqueue"
)

// consumerBatch is how many messages one consumer batch takes (SQS caps Lambda batches
// at 10; locally, bigger batches share one store commit and merge each call once).
const consumerBatch = 250

// Consumer feeds the embedded queue to the persist handler, like the SQS event source
// mapping does in AWS: batches, delete on success, redelivery with backoff on failure,
// dead-letter bucket after the queue's MaxReceiveCount.
type Consumer struct {
	Queue      *boltqueue.Queue
	Handler    *persist.Handler
	Log        *slog.Logger
	Workers    int           // default 2
	BatchSize  int           // default consumerBatch
	Visibility time.Duration // default 60s
	Timeout    time.Duration // per batch, like the Lambda timeout; default 30s

	wg   sync.WaitGroup
	stop context.CancelFunc
}

// Start runs the workers until Stop.
func (c *Consumer) Start() {
	if c.Workers <= 0 {
		c.Workers = 2
	}
	if c.BatchSize <= 0 {
		c.BatchSize = consumerBatch
	}
	if c.Visibility <= 0 {
		c.Visibility = 60 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stop = cancel
	for range c.Workers {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.loop(ctx)
		}()
	}
}

// Stop lets in-flight batches finish and stops the workers.
func (c *Consumer) Stop() {
	if c.stop != nil {
		c.stop()
	}
	c.wg.Wait()
}

func (c *Consumer) loop(ctx context.Context) {
	for ctx.Err() == nil {
		ds, err := c.Queue.Receive(ctx, c.BatchSize, c.Visibility, time.Second)
		if err != nil {
			if ctx.Err() == nil {
				c.Log.Warn("receive failed", slog.String("error", err.Error()))
				time.Sleep(200 * time.Millisecond)
			}
			continue
		}
		if len(ds) > 0 {
			c.process(ds)
		}
	}
}

// process runs one batch; a panic fails the batch instead of killing the server.
func (c *Consumer) process(ds []boltqueue.Delivery) {
	msgs := make([]persist.Message, len(ds))
	for i, d := range ds {
		msgs[i] = persist.Message{ID: boltqueue.MessageID(d.ID), Body: d.Body, ReceiveCount: d.ReceiveCount}
	}
	// A batch gets its own deadline, independent of shutdown, so it completes cleanly.
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	errs := func() (errs []error) {
		defer func() {
			if p := recover(); p != nil {
				c.Log.Error("persist panicked", slog.Any("panic", p))
				errs = make([]error, len(msgs))
				for i := range errs {
					errs[i] = fmt.Errorf("panic: %v", p)
				}
			}
		}()
		return c.Handler.Process(ctx, msgs)
	}()
	var done []uint64
	for i, err := range errs {
		if err == nil {
			done = append(done, ds[i].ID)
			continue
		}
		c.Queue.Fail(ds[i].ID, persist.Classify(err)+": "+err.Error())
	}
	c.Queue.Delete(done...)
}
