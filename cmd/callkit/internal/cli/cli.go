// Package cli is the operator command `callkit`: dead-letter tooling (list, peek,
// redrive) against SQS or the local server, replay of callbacks against a webhook, and
// UserSig minting. Run takes the arguments and returns the exit code: 0 done, 1 failed
// (the output says what), 2 usage error.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Env is what the command gets from its process.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// AWS loads the SDK configuration (main: the default chain of aws-sdk-go-v2/config;
	// region "" keeps the configured one). Nil: AWS targets are unavailable.
	AWS  func(ctx context.Context, region string) (aws.Config, error)
	HTTP *http.Client // replay's client; nil: a default one
	Now  func() time.Time
}

const usage = `callkit — operator tool for callkit-records

usage:
  callkit dlq list    [target] [--max N] [--json]        dead letters, one line each, with the reason they failed
  callkit dlq peek    [target] [--max N] [--json] [ID…]  dead letters in full (bodies, attributes)
  callkit dlq redrive [target] (--all [--max N] | ID…) [--json]
                                                         move dead letters back to the main queue
  callkit replay [--url URL] [--rate R] [--sdkappid ID] [--callback-token-env VAR] [--max N] [--json] PATH…
                                                         post callbacks (events/ dirs, indexes, captures) to a webhook
  callkit usersig [--sdkappid ID] [--key-env VAR | --key-secret NAME | --key KEY] [--identifier NAME] [--expire 24h]
                  [--json | --print query|usersig]
                                                         mint a UserSig and print the query string for the query API

target (dlq):
  local (default): --data DIR (default $CALLKIT_DATA_DIR or .data) — through the running
                   server's admin socket (DIR/admin.sock), or the queue file when it is stopped
  AWS:             --dlq-url URL [--queue-url URL] [--table NAME] [--region R]
                   (stack outputs DeadLetterQueueUrl, QueueUrl, TableName; credentials from the
                   AWS SDK's default chain; without --queue-url the DLQ's source queue is looked up;
                   without --table no failure reasons are shown)

exit codes: 0 done, 1 failed (see the output), 2 usage error
`

// usageError is a mistake in the command line (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// Run executes one command line.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	err := dispatch(ctx, args, env)
	var ue *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(env.Stdout, usage)
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "callkit: %s\n\n%s", ue.msg, usage)
		return ExitUsage
	case errors.Is(err, errReported):
		return ExitFailure
	default:
		fmt.Fprintf(env.Stderr, "callkit: %s\n", err)
		return ExitFailure
	}
}

// errReported: the command has printed what failed; exit 1 without another message.
var errReported = errors.New("failure reported")

func dispatch(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usagef("no command given")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	case "dlq":
		if len(args) < 2 {
			return usagef("dlq needs a subcommand: list, peek or redrive")
		}
		switch args[1] {
		case "list":
			return dlqList(ctx, args[2:], env, false)
		case "peek":
			return dlqList(ctx, args[2:], env, true)
		case "redrive":
			return dlqRedrive(ctx, args[2:], env)
		}
		return usagef("unknown dlq subcommand %q (list, peek, redrive)", args[1])
	case "replay":
		return replayCmd(ctx, args[1:], env)
	case "usersig":
		return usersigCmd(ctx, args[1:], env)
	}
	return usagef("unknown command %q", args[0])
}

// parse parses flags anywhere among the arguments ("redrive ID --json" works) and returns
// the positional ones; "--" ends the flags.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard) // Run prints the usage once, with the reason
	var rest []string
	for i, a := range args {
		if a == "--" {
			rest = args[i+1:]
			args = args[:i]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return append(pos, rest...), nil
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
