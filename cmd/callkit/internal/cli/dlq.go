package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/callkit-records/callkit-records/shared/dlq"
	"github.com/callkit-records/callkit-records/shared/dlq/boltdlq"
	"github.com/callkit-records/callkit-records/shared/dlq/dlqsock"
	"github.com/callkit-records/callkit-records/shared/dlq/sqsdlq"
	"github.com/callkit-records/callkit-records/shared/localserver"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
)

// target selects the dead-letter queue: the local server's (default) or an SQS DLQ.
type target struct {
	data, dlqURL, queueURL, table, region string
}

func (t *target) register(fs *flag.FlagSet) {
	fs.StringVar(&t.data, "data", "", "local server data directory (default $CALLKIT_DATA_DIR or .data)")
	fs.StringVar(&t.dlqURL, "dlq-url", "", "SQS dead-letter queue URL (stack output DeadLetterQueueUrl)")
	fs.StringVar(&t.queueURL, "queue-url", "", "SQS main queue URL, where redrive sends (stack output QueueUrl)")
	fs.StringVar(&t.table, "table", "", "DynamoDB table holding the failure reasons (stack output TableName)")
	fs.StringVar(&t.region, "region", "", "AWS region (default: the SDK's configuration)")
}

func (t *target) validate() error {
	if t.dlqURL == "" {
		if t.queueURL != "" || t.table != "" || t.region != "" {
			return usagef("--queue-url, --table and --region need --dlq-url")
		}
		return nil
	}
	if t.data != "" {
		return usagef("--data (local) and --dlq-url (AWS) select different queues; give one")
	}
	return nil
}

// opened is a dead-letter queue ready to use.
type opened struct {
	q     dlq.Queue
	where string
	close func() error
}

func (t *target) open(ctx context.Context, env Env) (opened, error) {
	if t.dlqURL != "" {
		return t.openSQS(ctx, env)
	}
	dir := t.data
	if dir == "" {
		dir = env.Getenv("CALLKIT_DATA_DIR")
	}
	if dir == "" {
		dir = localserver.DefaultData
	}
	// A running server holds queue.db; it answers on its admin socket instead.
	sock := localserver.AdminSocketPath(dir)
	if _, err := os.Lstat(sock); err == nil {
		c := dlqsock.Dial(sock)
		err := c.Ping(ctx)
		if err == nil {
			return opened{q: c, where: "local server " + dir + " (running, via " + sock + ")", close: c.Close}, nil
		}
		_ = c.Close()
		if !errors.Is(err, dlqsock.ErrNoServer) {
			return opened{}, fmt.Errorf("local server admin socket %s: %w", sock, err)
		}
		// A stale socket of a killed server: the queue file is free.
	}
	path := localserver.QueuePath(dir)
	q, err := boltdlq.OpenFile(path)
	switch {
	case errors.Is(err, dlq.ErrNoQueue):
		return opened{}, fmt.Errorf("no local queue at %s (the local server's --data directory; for AWS give --dlq-url)", path)
	case errors.Is(err, dlq.ErrLocked):
		return opened{}, fmt.Errorf("%s is in use by another process and no local server answers on %s; stop that process or check the server's log for the admin socket", path, sock)
	case err != nil:
		return opened{}, err
	}
	return opened{q: q, where: path + " (local server stopped)", close: q.Close}, nil
}

func (t *target) openSQS(ctx context.Context, env Env) (opened, error) {
	if env.AWS == nil {
		return opened{}, errors.New("AWS targets are not available in this build")
	}
	cfg, err := env.AWS(ctx, t.region)
	if err != nil {
		return opened{}, fmt.Errorf("AWS configuration: %w", err)
	}
	opts := sqsdlq.Options{DLQURL: t.dlqURL, QueueURL: t.queueURL}
	if t.table != "" {
		opts.Reasons = dynamostore.New(dynamodb.NewFromConfig(cfg), dynamostore.Options{Table: t.table})
	}
	return opened{q: sqsdlq.New(sqs.NewFromConfig(cfg), opts), where: t.dlqURL, close: func() error { return nil }}, nil
}

func dlqList(ctx context.Context, args []string, env Env, peek bool) error {
	name := "dlq list"
	if peek {
		name = "dlq peek"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var t target
	t.register(fs)
	max := fs.Int("max", dlq.DefaultMax, "how many dead letters to read (1–1000)")
	asJSON := fs.Bool("json", false, "one JSON object per message")
	ids, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := t.validate(); err != nil {
		return err
	}
	if *max < 1 || *max > dlq.MaxMax {
		return usagef("--max must be between 1 and %d", dlq.MaxMax)
	}
	if !peek && len(ids) > 0 {
		return usagef("dlq list takes no message ids (use dlq peek ID…)")
	}
	o, err := t.open(ctx, env)
	if err != nil {
		return err
	}
	defer o.close()
	if t.dlqURL != "" && t.table == "" {
		fmt.Fprintln(env.Stderr, "callkit: no --table: failure reasons are not looked up")
	}
	page, err := o.q.List(ctx, *max)
	if err != nil {
		return fmt.Errorf("listing %s: %w", o.where, err)
	}
	for _, w := range page.Warnings {
		fmt.Fprintln(env.Stderr, "callkit: warning:", w)
	}
	msgs, missing := page.Messages, []string(nil)
	if len(ids) > 0 {
		msgs, missing = pick(page.Messages, ids)
	}
	switch {
	case *asJSON:
		enc := json.NewEncoder(env.Stdout)
		for _, m := range msgs {
			if err := enc.Encode(m); err != nil {
				return err
			}
		}
	case peek:
		for i, m := range msgs {
			if i > 0 {
				fmt.Fprintln(env.Stdout)
			}
			printMessage(env.Stdout, m)
		}
	default:
		printTable(env.Stdout, msgs)
	}
	if !*asJSON {
		printCount(env.Stdout, len(msgs), page, o.where)
	}
	for _, id := range missing {
		fmt.Fprintf(env.Stderr, "callkit: %s: not among the first %d dead letters\n", id, *max)
	}
	if len(missing) > 0 {
		return errReported
	}
	return nil
}

func pick(ms []dlq.Message, ids []string) (found []dlq.Message, missing []string) {
	byID := map[string]dlq.Message{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	for _, id := range ids {
		if m, ok := byID[id]; ok {
			found = append(found, m)
		} else {
			missing = append(missing, id)
		}
	}
	return found, missing
}

func printCount(w io.Writer, shown int, p dlq.Page, where string) {
	if p.Total == 0 && shown == 0 {
		fmt.Fprintf(w, "no dead letters in %s\n", where)
		return
	}
	approx := ""
	if p.Approximate {
		approx = "~"
	}
	fmt.Fprintf(w, "%d shown of %s%d dead letters in %s\n", shown, approx, p.Total, where)
}

func printTable(w io.Writer, ms []dlq.Message) {
	if len(ms) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVES\tFAILED AT\tEVENT\tREASON")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", m.ID, m.ReceiveCount, stamp(m.FailedAt), truncate(event(m), 72), truncate(reason(m), 120))
	}
	_ = tw.Flush()
}

func printMessage(w io.Writer, m dlq.Message) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\n", m.ID)
	fmt.Fprintf(tw, "receives\t%d\n", m.ReceiveCount)
	fmt.Fprintf(tw, "sent at\t%s\n", stamp(m.SentAt))
	fmt.Fprintf(tw, "failed at\t%s\n", stamp(m.FailedAt))
	fmt.Fprintf(tw, "reason\t%s\n", reason(m))
	if m.EventKey != "" {
		fmt.Fprintf(tw, "event\t%s\n", m.EventKey)
	}
	if len(m.Attributes) > 0 {
		keys := make([]string, 0, len(m.Attributes))
		for k := range m.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "attribute\t%s=%s\n", k, m.Attributes[k])
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "body:")
	if m.Body != nil {
		var b bytes.Buffer
		if err := json.Indent(&b, m.Body, "  ", "  "); err == nil {
			fmt.Fprintf(w, "  %s\n", b.String())
			return
		}
	}
	fmt.Fprintf(w, "  %q\n", m.Bytes())
}

func event(m dlq.Message) string {
	switch {
	case m.EventKey != "":
		return m.EventKey
	case m.CallID != "":
		return m.CallID
	}
	return "(not an envelope)"
}

func reason(m dlq.Message) string {
	switch {
	case m.Reason != "":
		return m.Reason
	case m.ReasonError != "":
		return "(reason not looked up: " + m.ReasonError + ")"
	}
	return "(no reason recorded)"
}

func stamp(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05Z")
}

func dlqRedrive(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("dlq redrive", flag.ContinueOnError)
	var t target
	t.register(fs)
	all := fs.Bool("all", false, "redrive every dead letter (at most --max)")
	max := fs.Int("max", 0, "with --all: at most this many (default 100); with ids: messages to scan on SQS (default 1000)")
	asJSON := fs.Bool("json", false, "one JSON object per outcome")
	ids, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := t.validate(); err != nil {
		return err
	}
	sel := dlq.Selection{IDs: ids, All: *all, Max: *max}
	if err := sel.Validate(); err != nil {
		return usagef("dlq redrive: %s", strings.TrimPrefix(err.Error(), dlq.ErrBadRequest.Error()+": "))
	}
	o, err := t.open(ctx, env)
	if err != nil {
		return err
	}
	defer o.close()
	outs, err := o.q.Redrive(ctx, sel)
	counts := map[dlq.Status]int{}
	enc := json.NewEncoder(env.Stdout)
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	for _, oc := range outs {
		counts[oc.Status]++
		if *asJSON {
			_ = enc.Encode(oc)
			continue
		}
		line := oc.ID
		if oc.NewID != "" && oc.NewID != oc.ID {
			line += " → " + oc.NewID
		}
		if oc.Error != "" {
			line += ": " + oc.Error
		}
		fmt.Fprintf(tw, "%s\t%s\n", oc.Status, line)
	}
	_ = tw.Flush()
	if err != nil {
		return fmt.Errorf("redrive from %s stopped after %d messages: %w", o.where, len(outs), err)
	}
	failed := len(outs) - counts[dlq.Redriven]
	if !*asJSON {
		switch {
		case len(outs) == 0:
			fmt.Fprintf(env.Stdout, "nothing to redrive in %s\n", o.where)
		default:
			fmt.Fprintf(env.Stdout, "%d redriven, %d not redriven, from %s\n", counts[dlq.Redriven], failed, o.where)
		}
		if counts[dlq.Redriven] > 0 && strings.HasSuffix(o.where, "(local server stopped)") {
			fmt.Fprintln(env.Stdout, "the local server persists them when it starts")
		}
	}
	if failed > 0 {
		return errReported
	}
	return nil
}
